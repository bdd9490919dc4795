/*
 * A classic daemonizing server, with no signal handling at all: fork (the
 * parent exits 0), setsid, fork again (the session leader exits 0), write
 * the survivor's pid to PIDFILE (atomically: a temporary file renamed), wait
 * LISTEN_DELAY_MS, then bind ADDR:PORT, listen, and serve HTTP/1.1
 * keep-alive (DELAY_MS a request, 1 s for GET /slow) with a blocking accept() loop and a thread
 * per connection. stdin, stdout and stderr are kept (the test reads them).
 *
 * usage: tree_daemon PORT DELAY_MS PIDFILE LISTEN_DELAY_MS [ADDR]
 * stdout: "pid N" from each of the three stages, "ready" once listening.
 */
#include "http.h"

static long delay_ms;

static int
answer(int fd, char *req, int close_after)
{
	return http_answer_delayed(fd, req, close_after, "daemon\n", delay_ms);
}

static void
say_pid(void)
{
	printf("pid %d\n", (int)getpid());
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	char tmp[4096];
	FILE *f;
	int ls;
	pid_t pid;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: tree_daemon PORT DELAY_MS PIDFILE LISTEN_DELAY_MS [ADDR]\n");
		return 2;
	}
	delay_ms = atol(argv[2]);
	if (http_addr(&sin, argv[1], argc == 6 ? argv[5] : "127.0.0.1") == -1)
		return 2;

	say_pid();
	if ((pid = fork()) == -1) {
		perror("tree_daemon: fork");
		return 1;
	}
	if (pid > 0)
		_exit(0);
	if (setsid() == -1) {
		perror("tree_daemon: setsid");
		_exit(1);
	}
	say_pid();
	if ((pid = fork()) == -1) {
		perror("tree_daemon: fork");
		_exit(1);
	}
	if (pid > 0)
		_exit(0);
	say_pid();
	alarm(120);

	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 ||
	    fclose(f) != 0 || rename(tmp, argv[3]) == -1) {
		perror("tree_daemon: pidfile");
		return 1;
	}
	http_sleep_ms(atol(argv[4]));

	ls = http_listen(&sin, 0, 512, "tree_daemon: bind/listen");
	prog_ready();
	http_accept_loop(ls, 0, "tree_daemon", answer);
	return 3;
}
