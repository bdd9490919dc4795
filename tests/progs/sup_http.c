/*
 * The server of the `lameduck --supervise` tests (tests/integration/
 * test_supervise.py), built twice: as every program here (dynamically
 * linked, build/progs/sup_http) and with `gcc -static`
 * (build/supervise/sup_http_static), which no preload can enter.
 *
 * HTTP/1.1 keep-alive on 127.0.0.1:PORT, a thread per connection, "static"
 * for every path, after 1 s for GET /slow. No signal handling unless asked.
 * When its listener is shut down from outside (the supervisor does it at the
 * drain through a copy taken with pidfd_getfd), accept() fails with EINVAL
 * for good: it says so once on stderr ("accept stopped: ...") and keeps
 * serving the connections it has, accepting no more.
 *
 * usage: sup_http PORT [ORPHAN_MS [TERM_EXIT]]
 *   ORPHAN_MS > 0: before listening, fork a child that forks a grandchild
 *     and exits at once; the grandchild (an orphan, reparented to the
 *     nearest subreaper or to PID 1) says "orphan PID" (its pid as it sees
 *     it), lives ORPHAN_MS and exits 0.
 *   TERM_EXIT: on SIGTERM, exit with this status (otherwise SIGTERM's
 *     default action ends it).
 * stdout: "ready" once listening.
 */
#include "http.h"

static int
answer(int fd, char *req, int close_after)
{
	return http_answer_delayed(fd, req, close_after, "static\n", 0);
}

static int term_exit = -1;

static void
on_term(int sig)
{
	(void)sig;
	_exit(term_exit);
}

static void
make_orphan(long ms)
{
	pid_t mid, got;
	int st;

	fflush(stdout);
	if ((mid = fork()) == -1)
		prog_fail("fork: %s", strerror(errno));
	if (mid == 0) {
		pid_t orphan = fork();

		if (orphan == -1)
			_exit(1);
		if (orphan > 0)
			_exit(0);
		/* The grandchild: its parent is gone by the time it wakes. */
		http_sleep_ms(50);
		printf("orphan %d\n", (int)getpid());
		fflush(stdout);
		http_sleep_ms(ms);
		_exit(0);
	}
	while ((got = waitpid(mid, &st, 0)) == -1 && errno == EINTR)
		;
	if (got != mid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		prog_fail("the orphan's parent did not exit 0");
}

int
main(int argc, char **argv)
{
	pthread_attr_t attr;
	int ls;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: sup_http PORT [ORPHAN_MS [TERM_EXIT]]\n");
		return 2;
	}
	alarm(120);
	if (argc > 3) {
		struct sigaction sa;

		term_exit = (int)prog_num(argv[3], 0, 255, "exit status");
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGTERM, &sa, NULL) == -1)
			prog_fail("sigaction: %s", strerror(errno));
	}
	if (argc > 2 && prog_num(argv[2], 0, 600000, "orphan ms") > 0)
		make_orphan(prog_num(argv[2], 0, 600000, "orphan ms"));

	ls = http_listen_loopback(argv[1], SOCK_CLOEXEC, 512);
	http_answer = answer;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	prog_ready();
	for (;;) {
		pthread_t th;
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EINVAL) {
				/* Shut down from outside: nothing more to accept, ever. */
				fprintf(stderr, "sup_http %d: accept stopped: %s; serving the open "
				    "connections\n", (int)getpid(), strerror(errno));
				for (;;)
					pause();
			}
			fprintf(stderr, "sup_http %d: accept: %s\n", (int)getpid(), strerror(errno));
			return 3;
		}
		if (pthread_create(&th, &attr, http_serve, (void *)(long)c) != 0)
			close(c);
	}
}
