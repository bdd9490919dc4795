/*
 * bind_health PORT ADDR: binds ADDR first (`0.0.0.0:P`, `[::]:P`,
 * `127.0.0.1:P`, `[::1]:P`), with SO_REUSEADDR, then 127.0.0.1:PORT unless
 * PORT is 0, listens on both and answers every connection with
 * `HTTP/1.0 200 OK` and the body `program`. For "the program always wins a
 * port clash" with the shim's health port. Prints "ready" once listening.
 */
#include <poll.h>

#include "progs.h"

static int
listen_addr(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[128];
	const char *colon;
	long port;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (close == NULL || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
			prog_fail("%s: bad address", spec);
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		port = prog_num(close + 2, 1, 65535, "port");
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			prog_fail("%s: bad IPv6 address", spec);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if ((colon = strrchr(spec, ':')) == NULL || (size_t)(colon - spec) >= sizeof(host))
			prog_fail("%s: bad address", spec);
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = prog_num(colon + 1, 1, 65535, "port");
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			prog_fail("%s: bad IPv4 address", spec);
		len = sizeof(*s4);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		prog_fail("socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		prog_fail("setsockopt(SO_REUSEADDR): %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		prog_fail("bind %s: %s", spec, strerror(errno));
	if (listen(fd, 16) == -1)
		prog_fail("listen %s: %s", spec, strerror(errno));
	return fd;
}

static void
answer(int lfd)
{
	static const char resp[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 7\r\nConnection: close\r\n\r\nprogram";
	char buf[4096];
	size_t got = 0;
	int c;

	if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	/* Read the request head (for at most 2 s), then answer and close. */
	for (;;) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 2000) < 1)
			break;
		n = read(c, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || got == sizeof(buf) - 1)
			break;
	}
	(void)!write(c, resp, sizeof(resp) - 1);
	close(c);
}

int
main(int argc, char **argv)
{
	struct pollfd p[2];
	int n = 0;

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: bind_health PORT ADDR");
	p[n].fd = listen_addr(argv[2]);
	p[n++].events = POLLIN;
	if (strcmp(argv[1], "0") != 0) {
		p[n].fd = prog_listen(argv[1]);
		p[n++].events = POLLIN;
	}
	prog_ready();
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 1)
			continue;
		for (int i = 0; i < n; i++)
			if (p[i].revents & POLLIN)
				answer(p[i].fd);
	}
}
