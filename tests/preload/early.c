/*
 * early.so: a library preloaded beside the shim whose constructor runs
 * before the shim's (ld.so runs the later-listed one first) and calls every
 * wrapped function that has a fallback before the shim resolves libc:
 * dup, dup2, dup3, read, write, readv, writev, fcntl, close, epoll_ctl,
 * bind, listen, sigaction, send, recv, sendto, recvfrom, sendmsg, recvmsg,
 * sendfile, accept, accept4, fork, execv, execvp, execvpe, fexecve,
 * execve, execveat (the exec calls on a path that does not exist, so they
 * return). Prints one line to stderr:
 *   early: threads=N ok=1|0 [failed: CALL ...]
 * threads is how many threads the process had: 1 means the shim's own
 * constructor (which starts one in the owner) had not run yet.
 * With EARLY_ATFORK set, it also registers a fork child handler (before the
 * shim's) that installs a SIGTERM handler printing "early: SIGTERM
 * handled" and exiting 42.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static char failed[512];

static void
expect(int ok, const char *what)
{
	if (!ok && strlen(failed) + strlen(what) + 2 < sizeof(failed)) {
		strcat(failed, " ");
		strcat(failed, what);
	}
}

static int
threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
early_term(int sig)
{
	static const char msg[] = "early: SIGTERM handled\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(42);
}

/* Registered before the shim's handlers, so it runs first in the child. */
static void
early_child(void)
{
	(void)signal(SIGTERM, early_term);
}

__attribute__((constructor)) static void
early(void)
{
	char *argv[] = { "nothing", NULL }, *envp[] = { NULL };
	char buf[8] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int n = threads(), sv[2], fd, l, st;
	pid_t pid;

	fd = dup(2);
	expect(fd > 2, "dup");
	expect(dup2(fd, fd) == fd, "dup2-same");
	expect(dup2(2, fd) == fd, "dup2");
	expect(dup3(2, fd, O_CLOEXEC) == fd, "dup3");
	close(fd);

	expect(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	expect(send(sv[0], "a", 1, 0) == 1 && recv(sv[1], buf, 1, 0) == 1, "send/recv");
	expect(sendto(sv[0], "b", 1, 0, NULL, 0) == 1 &&
	    recvfrom(sv[1], buf, 1, 0, NULL, NULL) == 1, "sendto/recvfrom");
	iov.iov_len = 1;
	buf[0] = 'c';
	expect(sendmsg(sv[0], &mh, 0) == 1 && recvmsg(sv[1], &mh, 0) == 1 && buf[0] == 'c',
	    "sendmsg/recvmsg");
	expect(writev(sv[0], &iov, 1) == 1 && readv(sv[1], &iov, 1) == 1, "writev/readv");
	expect(write(sv[0], "d", 1) == 1 && read(sv[1], buf, 1) == 1, "write/read");
	fd = fcntl(sv[0], F_DUPFD_CLOEXEC, 3);
	expect(fd >= 3 && close(fd) == 0, "fcntl/close");
	fd = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN };

		expect(fd >= 0 && epoll_ctl(fd, EPOLL_CTL_ADD, sv[1], &ev) == 0, "epoll_ctl");
	}
	if (fd >= 0)
		close(fd);
	fd = open("/proc/self/exe", O_RDONLY);	/* a regular file: /proc's own have no sendfile */
	expect(fd >= 0 && sendfile(sv[0], fd, NULL, 1) == 1, "sendfile");
	if (fd >= 0)
		close(fd);
	close(sv[0]);
	close(sv[1]);

	l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	{
		struct sockaddr_in sin = { .sin_family = AF_INET };
		struct sigaction q;

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		expect(l >= 0 && bind(l, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind");
		expect(sigaction(SIGUSR1, NULL, &q) == 0 && q.sa_handler == SIG_DFL, "sigaction");
	}
	expect(l >= 0 && listen(l, 1) == 0, "listen");
	expect(accept(l, NULL, NULL) == -1 && errno == EAGAIN, "accept");
	expect(accept4(l, NULL, NULL, SOCK_CLOEXEC) == -1 && errno == EAGAIN, "accept4");
	close(l);

	expect(execv("/nonexistent/early", argv) == -1 && errno == ENOENT, "execv");
	expect(execve("/nonexistent/early", argv, envp) == -1 && errno == ENOENT, "execve");
	expect(execveat(AT_FDCWD, "/nonexistent/early", argv, envp, 0) == -1 && errno == ENOENT,
	    "execveat");
	expect(execvp("lameduck-early-nonexistent", argv) == -1 && errno == ENOENT, "execvp");
	expect(execvpe("lameduck-early-nonexistent", argv, envp) == -1 && errno == ENOENT,
	    "execvpe");
	fd = open("/proc/self/stat", O_RDONLY);
	expect(fd >= 0 && fexecve(fd, argv, envp) == -1, "fexecve");
	if (fd >= 0)
		close(fd);

	pid = fork();
	if (pid == 0)
		_exit(7);
	expect(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7,
	    "fork");

	if (getenv("EARLY_ATFORK") != NULL)
		expect(pthread_atfork(NULL, NULL, early_child) == 0, "pthread_atfork");
	dprintf(2, "early: threads=%d ok=%d%s%s\n", n, failed[0] == 0, failed[0] ? " failed:" : "",
	    failed);
}
