/*
 * Shared by the HTTP servers in this directory (tree_*, slow_*, iterative):
 * listener set-up, reading a request head, and the blocking accept() loop
 * with a thread per connection that serves HTTP/1.1 keep-alive.
 *
 * Each program is compiled alone, so everything here is static inline.
 */
#ifndef LD_TEST_HTTP_H
#define LD_TEST_HTTP_H

#include <pthread.h>
#include <sys/types.h>

#include "progs.h"

#define HTTP_SLOW_MS	1000	/* GET /slow on the keep-alive servers */

/* Sleeps ms milliseconds, resuming with the time left after a signal. */
static inline void
http_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static inline int
http_write_all(int fd, const char *p, size_t n)
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

/* sin := addr:port (port taken as atoi takes it). -1: addr is no IPv4 address. */
static inline int
http_addr(struct sockaddr_in *sin, const char *port, const char *addr)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)atoi(port));
	return inet_pton(AF_INET, addr, &sin->sin_addr) == 1 ? 0 : -1;
}

/* Set by a program before http_listen: SO_REUSEPORT too (several sockets, one port). */
static int http_reuseport;
/* Set by a program before http_accept_loop: a pause after each accept, ms. */
static long http_accept_pause_ms;

/*
 * A socket (SOCK_STREAM | sock_flags) with SO_REUSEADDR, bound to sin and
 * listening with backlog. On failure: perror(what) and exit 1.
 */
static inline int
http_listen(const struct sockaddr_in *sin, int sock_flags, int backlog, const char *what)
{
	int ls = socket(AF_INET, SOCK_STREAM | sock_flags, 0), one = 1;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (http_reuseport)
		setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(ls, (const struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    listen(ls, backlog) == -1) {
		perror(what);
		exit(1);
	}
	return ls;
}

/* http_listen on 127.0.0.1:port, saying "bind/listen" on failure. */
static inline int
http_listen_loopback(const char *port, int sock_flags, int backlog)
{
	struct sockaddr_in sin;

	(void)http_addr(&sin, port, "127.0.0.1");
	return http_listen(&sin, sock_flags, backlog, "bind/listen");
}

/*
 * The start of the one-request-per-connection servers (usage: NAME PORT
 * DELAY_MS): exits 2 unless given exactly those two arguments, then sets a
 * 120 s alarm, listens on 127.0.0.1:PORT (backlog 128), says "ready" and
 * returns the listener. *delay_ms := DELAY_MS.
 */
static inline int
http_simple_start(int argc, char **argv, int *delay_ms)
{
	int s;

	if (argc != 3)
		exit(2);
	*delay_ms = atoi(argv[2]);
	alarm(120);
	s = http_listen_loopback(argv[1], 0, 128);
	prog_ready();
	return s;
}

/*
 * Reads from c into buf (NUL-terminated) until the end of a request head,
 * a full buffer, EOF or an error. Returns how many bytes it got.
 */
static inline ssize_t
http_read_head(int c, char *buf, size_t size)
{
	ssize_t n, got = 0;

	while ((n = read(c, buf + got, size - 1 - (size_t)got)) > 0) {
		got += n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || (size_t)got >= size - 1)
			break;
	}
	return got;
}

/* An HTTP/1.1 response head into buf; returns its length (as snprintf). */
static inline int
http_head(char *buf, size_t size, const char *status, size_t len, int close_after)
{
	return snprintf(buf, size, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n",
	    status, len, close_after ? "Connection: close\r\n" : "");
}

/*
 * Answers 200 with body, in one write, after delay_ms (HTTP_SLOW_MS for
 * GET /slow). -1: the write failed.
 */
static inline int
http_answer_delayed(int fd, const char *req, int close_after, const char *body,
    long delay_ms)
{
	char resp[512];
	int n;

	if (strncmp(req, "GET /slow ", 10) == 0)
		http_sleep_ms(HTTP_SLOW_MS);
	else if (delay_ms > 0)
		http_sleep_ms(delay_ms);
	n = http_head(resp, sizeof(resp), "200 OK", strlen(body), close_after);
	n += snprintf(resp + n, sizeof(resp) - (size_t)n, "%s", body);
	return http_write_all(fd, resp, (size_t)n);
}

/*
 * Answers one request: req is its head, NUL-terminated in place of the blank
 * line; close_after says the client asked for the connection to be closed
 * (or spoke HTTP/1.0). -1: close the connection now.
 */
typedef int (*http_answer_fn)(int fd, char *req, int close_after);

static http_answer_fn http_answer __attribute__((unused));

/* A connection's thread: HTTP/1.1 keep-alive, every request to http_answer. */
static inline void *
http_serve(void *arg)
{
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
			if (http_answer(fd, buf, close_after) == -1 || close_after)
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
static inline int
http_accept_error(const char *who, int err)
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

/*
 * Accepts on ls with a blocking accept() (accept4 with accept_flags unless
 * they are 0) and serves each connection with answer on a detached thread
 * of its own. Returns only on an accept error no retry can mend.
 */
static inline void
http_accept_loop(int ls, int accept_flags, const char *who, http_answer_fn answer)
{
	pthread_attr_t attr;

	http_answer = answer;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t th;
		int c = accept_flags ? accept4(ls, NULL, NULL, accept_flags)
		    : accept(ls, NULL, NULL);

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (http_accept_error(who, errno) == -1)
				return;
			continue;
		}
		if (pthread_create(&th, &attr, http_serve, (void *)(long)c) != 0)
			close(c);
		if (http_accept_pause_ms > 0)
			prog_sleep_ms(http_accept_pause_ms);
	}
}

#endif
