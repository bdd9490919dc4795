/*
 * sig_vfork PORT MODE: children the shim's fork handlers never see.
 *   vfork   installs a SIGTERM handler, then a vfork() child (sharing the
 *           parent's memory) sets SIGTERM to SIG_DFL and _exit()s. The
 *           parent's query must still read its handler, and SIGTERM (sent
 *           by the test) must run it once after the delay.
 *   _Fork   a _Fork() child (no atfork handlers: a copy of the owner's
 *           state) prints "child PID" and waits with SIGTERM at SIG_DFL;
 *           the test sends SIGTERM to the child, which must die of it at
 *           once, while the parent stays ready (not in lame duck).
 *           The parent prints "child_status=..." when the child has ended.
 *   fork    the same with fork(): the child prints its query of SIGTERM
 *           too (query=DFL|IGN|HANDLER), for a fork handler that set it.
 *   fork_closed  fork() after listening; the child closes its copy of
 *           the listener (it serves nothing) and waits as above.
 *   vfork_exec  SIGTERM ignored; a vfork() child sets SIG_DFL and execs
 *           `grep SigIgn /proc/self/status` (no LD_PRELOAD), then a second
 *           child execs it without changing anything: the first must
 *           start without SIGTERM ignored, the second with it (as without
 *           the shim). Prints their two SigIgn lines, then "done".
 * Prints: handler_after=HANDLER|DFL|OTHER count= (vfork), child PID and
 * child_status=signal:N|exit:N (_Fork).
 */
#include "progs.h"

static volatile sig_atomic_t count;

static void
handler(int sig)
{
	(void)sig;
	count++;
}

static const char *
which(void)
{
	struct sigaction q;

	memset(&q, 0, sizeof(q));
	if (sigaction(SIGTERM, NULL, &q) == -1)
		prog_fail("sigaction query: %s", strerror(errno));
	return q.sa_handler == handler ? "HANDLER" : q.sa_handler == SIG_DFL ? "DFL" : "OTHER";
}

static int
with_vfork(const char *port)
{
	pid_t pid;
	int st;

	if (signal(SIGTERM, handler) == SIG_ERR)
		prog_fail("signal: %s", strerror(errno));
	pid = vfork();
	if (pid == -1)
		prog_fail("vfork: %s", strerror(errno));
	if (pid == 0) {
		/* As a child about to exec would, with the parent's memory. */
		(void)signal(SIGTERM, SIG_DFL);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		prog_fail("waitpid: %s", strerror(errno));
	if (strcmp(which(), "HANDLER") != 0)
		prog_fail("after the vfork child set SIG_DFL, the parent's query reads %s", which());
	(void)prog_listen(port);
	prog_ready();
	prog_wait_flag(&count);
	prog_sleep_ms(300);
	printf("handler_after=%s count=%d\n", which(), (int)count);
	fflush(stdout);
	return 0;
}

static int
with_fork(const char *port, int handlers, int listen_first)
{
	pid_t pid;
	int st, lfd = -1;

	/* Forked before the listener, or closing its copy: not a worker. */
	if (listen_first)
		lfd = prog_listen(port);
	pid = handlers ? fork() : _Fork();
	if (pid == -1)
		prog_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct sigaction q;

		if (lfd >= 0)
			close(lfd);

		memset(&q, 0, sizeof(q));
		(void)sigaction(SIGTERM, NULL, &q);
		printf("child %d query=%s\n", (int)getpid(), q.sa_handler == SIG_DFL ? "DFL" :
		    q.sa_handler == SIG_IGN ? "IGN" : "HANDLER");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!listen_first)
		(void)prog_listen(port);
	prog_ready();
	if (waitpid(pid, &st, 0) != pid)
		prog_fail("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(st))
		printf("child_status=signal:%d\n", WTERMSIG(st));
	else
		printf("child_status=exit:%d\n", WEXITSTATUS(st));
	fflush(stdout);
	/* Then as any program without a handler: SIGTERM ends it. */
	for (;;)
		pause();
}

static void
exec_grep(int reset)
{
	char *argv[] = { "grep", "SigIgn", "/proc/self/status", NULL }, *envp[] = { NULL };
	pid_t pid;
	int st;

	pid = vfork();
	if (pid == -1)
		prog_fail("vfork: %s", strerror(errno));
	if (pid == 0) {
		if (reset)
			(void)signal(SIGTERM, SIG_DFL);
		execve("/bin/grep", argv, envp);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		prog_fail("grep in the vfork child failed (status %#x)", st);
}

static int
with_vfork_exec(const char *port)
{
	if (signal(SIGTERM, SIG_IGN) == SIG_ERR)
		prog_fail("signal: %s", strerror(errno));
	(void)prog_listen(port);
	fflush(stdout);
	exec_grep(1);
	exec_grep(0);
	printf("done\n");
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: sig_vfork PORT vfork|_Fork|fork|fork_closed|vfork_exec");
	if (strcmp(argv[2], "vfork") == 0)
		return with_vfork(argv[1]);
	if (strcmp(argv[2], "_Fork") == 0)
		return with_fork(argv[1], 0, 0);
	if (strcmp(argv[2], "fork") == 0)
		return with_fork(argv[1], 1, 0);
	if (strcmp(argv[2], "fork_closed") == 0)
		return with_fork(argv[1], 1, 1);
	if (strcmp(argv[2], "vfork_exec") == 0)
		return with_vfork_exec(argv[1]);
	prog_fail("%s: mode is vfork, _Fork, fork, fork_closed or vfork_exec", argv[2]);
}
