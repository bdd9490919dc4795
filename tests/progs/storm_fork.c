/*
 * storm_fork PORT plain [MB] | conn [QUICK]: fork() in a tight loop around
 * the lame-duck signal.
 *
 * plain: a counting SIGTERM handler, MB megabytes of memory touched (0 by
 * default: the more, the longer each fork), then fork in a tight loop from "ready"
 * until 200 ms after the handler ran (at most 60 s). Each child checks that
 * sigaction(SIGTERM) reads the program's handler (else exits 3); one in 64
 * checks that it holds none of the parent's lifecycle: no descriptor but
 * the program's, the tree's memfd, the owner's eventfd and the log's copy
 * of stderr (else exits 4; the first stray is printed as "first stray: fd N
 * -> TARGET"; exits 5 instead, counted in scan_fds= and printed as "scan
 * handle: ...", for the shim's transient handle on /proc/PID/fd); one in
 * 16 lives 5 ms; they end with exit(0) or _exit(0) in turn. The parent
 * reaps each child by its pid (ECHILD would mean someone else reaped it);
 * a child still there 2 s later is SIGKILLed and counted as hung (alarm()
 * cannot end one that spins with every signal blocked). Then it checks that
 * no child is left, prints "reaped forks=N", waits 300 ms (the test looks
 * for zombies meanwhile) and prints
 * "count= child_runs= forks= fork_err= reap_err= bad_query= stray_fds=
 * scan_fds= hung= bad_status= leftover=", exiting 0 when the handler ran
 * once, in the parent only, and all is clean (scan_fds aside).
 *
 * conn: accepts one connection (which makes every later child one that
 * holds a connection, in flight until it ends), forks QUICK children
 * (default 1000) that end at once, reaping each, then a slow child that
 * ends after 1500 ms; prints "slow child" and waits for both the slow
 * child's end and the handler, then prints
 * "order=child_first|signal_first child_ms= signal_ms= quick=N" (times from
 * the slow child's fork) and exits 0.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "progs.h"

static volatile sig_atomic_t count;
static pid_t parent;
static int lfd;

/* Shared with the children. */
static struct shared {
	_Atomic int	child_runs;	/* the handler ran in a child */
	atomic_flag	noted, noted_query;
	char		stray[192];	/* the first descriptor a child should not hold */
	char		query[192];	/* the first wrong sigaction() answer in a child */
	char		scan[192];	/* the first /proc/PID/fd handle a child inherited */
} *sh;
#define child_runs (&sh->child_runs)

static size_t
cat(char *b, size_t n, size_t cap, const char *s)
{
	while (*s && n + 1 < cap)
		b[n++] = *s++;
	b[n] = '\0';
	return n;
}

/*
 * In a child (async-signal-safe calls only): every descriptor must be the
 * program's (0-2, its listener) or one the shim keeps in children on
 * purpose (the process tree's memfd, the owner's eventfd through which a
 * worker wakes it, the log's duplicate of stderr). The parent's lifecycle
 * (the health port, its clients, the signal pipe, the epoll, the signalfd)
 * must not come along. Returns 0, or 4 after noting the stray.
 */
static int
check_fds(void)
{
	char buf[4096], path[64], link[128], err[128];
	ssize_t errlen;
	long n;
	int dir;

	errlen = readlink("/proc/self/fd/2", err, sizeof(err) - 1);
	err[errlen > 0 ? errlen : 0] = '\0';
	dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir == -1)
		return 0;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
			int fd = 0;
			ssize_t l;

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			for (const char *c = d->d_name; *c; c++)
				fd = fd * 10 + (*c - '0');
			if (fd <= 2 || fd == lfd || fd == dir)
				continue;
			path[cat(path, cat(path, 0, sizeof(path), "/proc/self/fd/"), sizeof(path),
			    d->d_name)] = '\0';
			l = readlink(path, link, sizeof(link) - 1);
			link[l > 0 ? l : 0] = '\0';
			if (strncmp(link, "/memfd:lameduck-tree", 20) == 0 ||
			    strcmp(link, "anon_inode:[eventfd]") == 0 ||
			    (errlen > 0 && strcmp(link, err) == 0))
				continue;
			if (strncmp(link, "/proc/", 6) == 0 && l > 3 &&
			    strcmp(link + l - 3, "/fd") == 0) {
				/* The shim's scan of the parent's descriptors, caught open. */
				size_t k = cat(sh->scan, 0, sizeof(sh->scan), "fd ");

				k = cat(sh->scan, k, sizeof(sh->scan), d->d_name);
				k = cat(sh->scan, k, sizeof(sh->scan), " -> ");
				(void)cat(sh->scan, k, sizeof(sh->scan), link);
				close(dir);
				return 5;
			}
			if (!atomic_flag_test_and_set(&sh->noted)) {
				size_t k = cat(sh->stray, 0, sizeof(sh->stray), "fd ");

				k = cat(sh->stray, k, sizeof(sh->stray), d->d_name);
				k = cat(sh->stray, k, sizeof(sh->stray), " -> ");
				(void)cat(sh->stray, k, sizeof(sh->stray), link);
			}
			close(dir);
			return 4;
		}
	}
	close(dir);
	return 0;
}

static void
handler(int sig)
{
	(void)sig;
	if (getpid() != parent)
		atomic_fetch_add(child_runs, 1);
	else
		count++;
}

/*
 * mb megabytes of private memory, touched: fork() then spends milliseconds
 * copying page tables, after its copy of the signal actions and before its
 * copy of the memory where the shim keeps its own view of them.
 */
static void
touch(long mb)
{
	char *big;

	if (mb <= 0)
		return;
	big = mmap(NULL, (size_t)mb << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (big == MAP_FAILED)
		prog_fail("mmap %ld MB: %s", mb, strerror(errno));
	memset(big, 1, (size_t)mb << 20);
}

static int
plain(void)
{
	long forks = 0, fork_err = 0, reap_err = 0, bad_query = 0, hung = 0, bad_status = 0;
	long stray_fds = 0, scan_fds = 0;
	long long until = -1;
	int leftover, st, h;

	while (until < 0 || prog_now_ms() < until) {
		pid_t pid;

		if (count && until < 0)
			until = prog_now_ms() + 200;
		if (forks >= 200000)
			break;
		pid = fork();
		if (pid == -1) {
			fork_err++;
			prog_sleep_ms(1);
			continue;
		}
		if (pid == 0) {
			struct sigaction q;

			int r;

			alarm(2);
			memset(&q, 0, sizeof(q));
			r = sigaction(SIGTERM, NULL, &q);
			if (r == -1 || q.sa_handler != handler) {
				if (!atomic_flag_test_and_set(&sh->noted_query))
					snprintf(sh->query, sizeof(sh->query),
					    "child %ld: sigaction() = %d, handler %p (the program's %p),"
					    " flags %#x", forks, r, (void *)q.sa_handler,
					    (void *)handler, (unsigned)q.sa_flags);
				_exit(3);
			}
			if (forks % 64 == 0 && (r = check_fds()) != 0)
				_exit(r);
			if (forks % 16 == 0)
				prog_sleep_ms(5);
			if (forks % 2)
				exit(0);
			_exit(0);
		}
		forks++;
		if (prog_reap(pid, &st, &h, NULL) != pid) {
			reap_err++;
			continue;
		}
		if (h || (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM))
			hung++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
			bad_query++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 4)
			stray_fds++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 5)
			scan_fds++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad_status++;
	}
	leftover = !(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD);
	printf("reaped forks=%ld\n", forks);
	fflush(stdout);
	prog_sleep_ms(300);
	printf("count=%d child_runs=%d forks=%ld fork_err=%ld reap_err=%ld bad_query=%ld "
	    "stray_fds=%ld scan_fds=%ld hung=%ld bad_status=%ld leftover=%d\n", (int)count,
	    atomic_load(child_runs), forks, fork_err, reap_err, bad_query, stray_fds, scan_fds,
	    hung, bad_status, leftover);
	if (sh->stray[0])
		printf("first stray: %s\n", sh->stray);
	if (sh->query[0])
		printf("first bad query: %s\n", sh->query);
	if (sh->scan[0])
		printf("scan handle: %s\n", sh->scan);
	fflush(stdout);
	return !(count == 1 && atomic_load(child_runs) == 0 && reap_err == 0 &&
	    bad_query == 0 && stray_fds == 0 && hung == 0 && bad_status == 0 && !leftover);
}

static int
conn(long quick)
{
	long long t0, child_t = -1, sig_t = -1;
	pid_t slow;
	int c, st, h;

	c = accept(lfd, NULL, NULL);
	if (c == -1)
		prog_fail("accept: %s", strerror(errno));
	close(c);
	printf("accepted\n");
	fflush(stdout);
	for (long i = 0; i < quick; i++) {
		pid_t pid = fork();

		if (pid == -1)
			prog_fail("fork: %s", strerror(errno));
		if (pid == 0)
			_exit(0);
		if (prog_reap(pid, &st, &h, NULL) != pid || h)
			prog_fail("waitpid(%d): %s", (int)pid, h ? "hung: killed" : strerror(errno));
	}
	t0 = prog_now_ms();
	slow = fork();
	if (slow == -1)
		prog_fail("fork: %s", strerror(errno));
	if (slow == 0) {
		prog_sleep_ms(1500);
		_exit(0);
	}
	printf("slow child\n");
	fflush(stdout);
	while (child_t < 0 || sig_t < 0) {
		if (child_t < 0 && waitpid(slow, &st, WNOHANG) == slow)
			child_t = prog_now_ms() - t0;
		if (sig_t < 0 && count)
			sig_t = prog_now_ms() - t0;
		prog_sleep_ms(2);
	}
	printf("order=%s child_ms=%lld signal_ms=%lld quick=%ld\n",
	    child_t <= sig_t ? "child_first" : "signal_first", child_t, sig_t, quick);
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: storm_fork PORT plain [MB] | conn [QUICK]");
	parent = getpid();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		prog_fail("mmap: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) == -1)
		prog_fail("sigaction: %s", strerror(errno));
	if (strcmp(argv[2], "plain") == 0 && argc > 3)
		touch(prog_num(argv[3], 0, 4096, "megabytes"));
	lfd = prog_listen(argv[1]);
	prog_ready();
	if (strcmp(argv[2], "plain") == 0)
		return plain();
	if (strcmp(argv[2], "conn") == 0)
		return conn(argc > 3 ? prog_num(argv[3], 0, 100000, "count") : 1000);
	prog_fail("unknown mode %s", argv[2]);
}
