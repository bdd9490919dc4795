/*
 * A daemon-style server that closes (or overwrites) every descriptor it did
 * not open itself, the way many daemons do at start.
 *
 * usage: closeall PORT MODE [FILE]
 *   MODE closefrom    closefrom(3)
 *        close_range  close_range(3, ~0U, 0)
 *        loop         close() on every number from 3 to the soft RLIMIT_NOFILE
 *        cloexec      close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) (closes nothing)
 *        dup2         opens FILE (O_APPEND) and dup2()s it onto every number
 *                     from 3 to 1100, then writes "fd=N\n" through each one
 *        dup2each     opens FILE (O_APPEND) and, for every number from 3 to
 *                     the soft RLIMIT_NOFILE but its own, dup2()s it there,
 *                     writes "fd=N\n" through it and closes it again (a
 *                     daemon redirecting one number at a time)
 *
 * It listens on 127.0.0.1:PORT first (so the shim is ready and its health
 * port is up) and prints "listening"; it then waits for a line on stdin, so
 * the test can check the health port before anything is closed. Then it does
 * MODE, which also closes its own listener, listens on PORT again, prints
 * "ready" (with "writes=N failed=M" for dup2 and dup2each first) and serves one request per
 * connection with 200 "ok\n", from one thread with a blocking accept().
 * No signal handling. Ends by itself after PROG_ALARM_S.
 */
#include <fcntl.h>
#ifdef __GLIBC__
#include <linux/close_range.h>
#endif
#include <sys/resource.h>
#include <sys/syscall.h>

#include "progs.h"

#define DUP2_LAST	1100

static void
serve(int s)
{
	static const char ok[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n"
	    "Connection: close\r\n\r\nok\n";

	for (;;) {
		char buf[4096];
		ssize_t n, got = 0;
		int c = accept(s, NULL, NULL);

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("accept");
			exit(3);
		}
		while ((n = read(c, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0) {
			got += n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL || (size_t)got >= sizeof(buf) - 1)
				break;
		}
		if (got > 0)
			(void)!write(c, ok, sizeof(ok) - 1);
		close(c);
	}
}

int
main(int argc, char **argv)
{
	const char *mode;
	char line[64];
	int s;

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: closeall PORT closefrom|close_range|loop|cloexec|dup2|dup2each [FILE]");
	mode = argv[2];
	if (strncmp(mode, "dup2", 4) == 0 && argc < 4)
		prog_fail("%s needs a FILE", mode);

	s = prog_listen(argv[1]);
	printf("listening\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		prog_fail("stdin closed before the go line");

#ifdef __GLIBC__	/* musl has neither closefrom nor close_range: loop and dup2 only */
	if (strcmp(mode, "closefrom") == 0) {
		closefrom(3);
	} else if (strcmp(mode, "close_range") == 0) {
		if (close_range(3, ~0U, 0) == -1)
			prog_fail("close_range: %s", strerror(errno));
	} else if (strcmp(mode, "cloexec") == 0) {
		if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
			prog_fail("close_range(CLOEXEC): %s", strerror(errno));
		close(s);	/* so that PORT can be bound again */
	} else
#endif
	if (strcmp(mode, "loop") == 0) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			prog_fail("getrlimit: %s", strerror(errno));
		for (rlim_t fd = 3; fd < rl.rlim_cur; fd++)
			close((int)fd);
	} else if (strcmp(mode, "dup2") == 0) {
		int f = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int writes = 0, failed = 0;

		if (f == -1)
			prog_fail("open %s: %s", argv[3], strerror(errno));
		for (int fd = 3; fd <= DUP2_LAST; fd++)
			if (fd != f && dup2(f, fd) == -1)
				prog_fail("dup2(%d, %d): %s", f, fd, strerror(errno));
		for (int fd = 3; fd <= DUP2_LAST; fd++) {
			char msg[32];
			int len = snprintf(msg, sizeof(msg), "fd=%d\n", fd);

			if (write(fd, msg, (size_t)len) == len)
				writes++;
			else
				failed++;
		}
		/* Free the numbers again, as a daemon would after redirecting. */
		for (int fd = 3; fd <= DUP2_LAST; fd++)
			close(fd);
		printf("writes=%d failed=%d\n", writes, failed);
	} else if (strcmp(mode, "dup2each") == 0) {
		int f = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int writes = 0, failed = 0;
		struct rlimit rl;

		if (f == -1)
			prog_fail("open %s: %s", argv[3], strerror(errno));
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			prog_fail("getrlimit: %s", strerror(errno));
		for (rlim_t n = 3; n < rl.rlim_cur; n++) {
			int fd = (int)n, len;
			char msg[32];

			if (fd == f)
				continue;
			if (dup2(f, fd) == -1) {
				fprintf(stderr, "closeall: dup2(%d, %d): %s\n", f, fd, strerror(errno));
				failed++;
				continue;
			}
			len = snprintf(msg, sizeof(msg), "fd=%d\n", fd);
			if (write(fd, msg, (size_t)len) == len)
				writes++;
			else
				failed++;
			close(fd);
		}
		close(f);
		printf("writes=%d failed=%d\n", writes, failed);
	} else {
		prog_fail("%s: unknown mode", mode);
	}

	s = prog_listen(argv[1]);
	prog_ready();
	serve(s);
	return 0;
}
