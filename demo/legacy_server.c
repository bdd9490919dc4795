/*
 * A legacy-style HTTP server, the kind lameduck is for: it binds ADDR:PORT,
 * accepts in a blocking loop in the main thread, serves each connection in a
 * thread of its own (HTTP/1.1 keep-alive), spends WORK_MS on every request
 * (a backend call it waits for), and has no signal handling at all: SIGTERM
 * ends it at once, with whatever requests it was working on.
 *
 * usage: legacy_server ADDR:PORT [WORK_MS]     (WORK_MS: 0-1000, default 4)
 *
 * Every answer is "200 OK" with a body naming the pod (its address), so a
 * client can tell the backends apart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX		8192

static struct timespec work;
static char pod[INET_ADDRSTRLEN + 8];

static long parse_num(const char *, long, long, const char *);
static int listen_on(const char *);
static void *serve(void *);
static int serve_one(int, char *, size_t *);
static const char *header(const char *, const char *);
static int write_all(int, const char *, size_t);

static long
parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "legacy_server: %s \"%s\" is not a number from %ld to %ld\n",
		    what, s, lo, hi);
		exit(2);
	}
	return v;
}

static int
listen_on(const char *spec)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(spec, ':');
	int s, one = 1;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		fprintf(stderr, "legacy_server: \"%s\" is not ADDR:PORT (try 127.0.0.31:8080)\n", spec);
		exit(2);
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "legacy_server: \"%s\" is not a numeric IPv4 address\n", host);
		exit(2);
	}
	sin.sin_port = htons((unsigned short)parse_num(colon + 1, 1, 65535, "port"));
	snprintf(pod, sizeof(pod), "%s", host);

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(s, 128) == -1) {
		fprintf(stderr, "legacy_server: listen on %s: %s\n", spec, strerror(errno));
		exit(1);
	}
	return s;
}

/* Finds a header's value in a request whose header block ends in CRLF CRLF. */
static const char *
header(const char *req, const char *name)
{
	size_t len = strlen(name);
	const char *p = strstr(req, "\r\n");

	while (p != NULL && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
			p += len + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

static int
write_all(int c, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(c, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Reads one request (buf holds *got bytes already read), works, answers.
 * Returns 1 to keep the connection, 0 to close it.
 */
static int
serve_one(int c, char *buf, size_t *got)
{
	char out[256], *end;
	const char *v;
	size_t head, body = 0, used;
	ssize_t n;
	int keep, len;

	while ((end = memmem(buf, *got, "\r\n\r\n", 4)) == NULL) {
		if (*got >= REQ_MAX - 1)
			return 0;
		n = read(c, buf + *got, REQ_MAX - 1 - *got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		*got += (size_t)n;
	}
	head = (size_t)(end - buf) + 4;
	buf[head - 2] = '\0';	/* the header block, for header() */

	if ((v = header(buf, "Content-Length")) != NULL)
		body = strtoul(v, NULL, 10);
	keep = strstr(buf, "HTTP/1.1\r\n") != NULL;	/* 1.1 keeps, 1.0 closes */
	if ((v = header(buf, "Connection")) != NULL)
		keep = strncasecmp(v, "close", 5) != 0 &&
		    (keep || strncasecmp(v, "keep-alive", 10) == 0);

	/* Drop the body (nobody sends one here), keep what follows it. */
	if (*got - head >= body)
		used = head + body;
	else {
		body -= *got - head;
		while (body > 0) {
			n = read(c, buf + head, body < REQ_MAX - 1 - head ? body : REQ_MAX - 1 - head);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0;
			body -= (size_t)n;
		}
		*got = used = head;
	}

	/* The work: a backend call, a few milliseconds. */
	while (nanosleep(&work, NULL) == -1 && errno == EINTR)
		;

	len = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n%s\r\n%s\n", strlen(pod) + 1,
	    keep ? "" : "Connection: close\r\n", pod);
	if (write_all(c, out, (size_t)len) == -1)
		return 0;

	memmove(buf, buf + used, *got - used);
	*got -= used;
	return keep;
}

static void *
serve(void *arg)
{
	int c = (int)(long)arg;
	char buf[REQ_MAX];
	size_t got = 0;

	while (serve_one(c, buf, &got))
		;
	close(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_attr_t attr;
	long ms = 4;
	int s;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: legacy_server ADDR:PORT [WORK_MS]\n");
		return 2;
	}
	if (argc == 3)
		ms = parse_num(argv[2], 0, 1000, "WORK_MS");
	work.tv_sec = ms / 1000;
	work.tv_nsec = (ms % 1000) * 1000000L;
	s = listen_on(argv[1]);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		pthread_t th;
		int c = accept(s, NULL, NULL), one = 1;

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* A legacy server: any other accept error is the end. */
			fprintf(stderr, "legacy_server: accept: %s\n", strerror(errno));
			return 1;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&th, &attr, serve, (void *)(long)c) != 0)
			close(c);
	}
}
