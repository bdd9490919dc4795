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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOW_MS 1000	/* GET /slow */

static long delay_ms;

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *
serve(void *arg)
{
	static const char ka[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ndaemon\n";
	static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	    "Connection: close\r\n\r\ndaemon\n";
	int fd = (int)(long)arg;
	char buf[8192];
	size_t len = 0;

	for (;;) {
		char *end;
		ssize_t r;

		buf[len] = '\0';
		while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			size_t used = (size_t)(end + 4 - buf);
			int close_after;

			*end = '\0';
			close_after = strcasestr(buf, "Connection: close") != NULL ||
			    strstr(buf, "HTTP/1.0") != NULL;
			if (strncmp(buf, "GET /slow ", 10) == 0)
				sleep_ms(SLOW_MS);
			else if (delay_ms > 0)
				sleep_ms(delay_ms);
			if (write_all(fd, close_after ? cl : ka,
			    close_after ? sizeof(cl) - 1 : sizeof(ka) - 1) == -1 || close_after)
				goto out;
			memmove(buf, buf + used, len - used);
			len -= used;
			buf[len] = '\0';
		}
		if (len >= sizeof(buf) - 1)
			goto out;
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto out;
		len += (size_t)r;
	}
out:
	close(fd);
	return NULL;
}

/*
 * An accept() error the program should never see under the shim: said once
 * per errno on stderr (the test looks for "accept: "), then retried after
 * 10 ms, as a tolerant server would, so that the rest of the shutdown can
 * still be observed. -1: an error that no retry can mend (EBADF, ENOTSOCK).
 */
static int
accept_error(const char *who, int err)
{
	static int said[256];
	struct timespec ts = { 0, 10 * 1000000L };

	if (err > 0 && err < 256 && !said[err]++)
		fprintf(stderr, "%s %d: accept: %s\n", who, (int)getpid(), strerror(err));
	if (err == EBADF || err == ENOTSOCK)
		return -1;
	nanosleep(&ts, NULL);
	return 0;
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
	struct sockaddr_in sin = { .sin_family = AF_INET };
	pthread_attr_t attr;
	char tmp[4096];
	FILE *f;
	int ls, one = 1;
	pid_t pid;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: tree_daemon PORT DELAY_MS PIDFILE LISTEN_DELAY_MS [ADDR]\n");
		return 2;
	}
	delay_ms = atol(argv[2]);
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	if (inet_pton(AF_INET, argc == 6 ? argv[5] : "127.0.0.1", &sin.sin_addr) != 1)
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
	sleep_ms(atol(argv[4]));

	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(ls, 512) == -1) {
		perror("tree_daemon: bind/listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t th;
		int c = accept(ls, NULL, NULL);

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (accept_error("tree_daemon", errno) == -1)
				return 3;
			continue;
		}
		if (pthread_create(&th, &attr, serve, (void *)(long)c) != 0)
			close(c);
	}
}
