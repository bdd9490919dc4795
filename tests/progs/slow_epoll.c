/*
 * A single-threaded epoll server with no signal handling: non-blocking
 * listener, HTTP/1.1 keep-alive, each request answered argv[2] ms after it
 * arrived (without blocking the loop, so many are served at once).
 * usage: slow_epoll PORT DELAY_MS
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 4096

struct conn {
	int		used;
	long long	due;	/* 0: no request waiting */
	int		close_after;
	size_t		len;
	char		buf[2048];
};

static struct conn conns[MAXC];

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
drop(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	memset(&conns[fd], 0, sizeof(conns[fd]));
}

static void
answer(int ep, int fd)
{
	static const char ka[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ndone\n";
	static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ndone\n";
	struct conn *c = &conns[fd];
	char *end = strstr(c->buf, "\r\n\r\n");
	size_t used = end ? (size_t)(end + 4 - c->buf) : c->len;

	if (c->close_after)
		(void)!write(fd, cl, sizeof(cl) - 1);
	else
		(void)!write(fd, ka, sizeof(ka) - 1);
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	c->buf[c->len] = '\0';
	c->due = 0;
	if (c->close_after)
		drop(ep, fd);
}

static void
check_request(int fd)
{
	struct conn *c = &conns[fd];
	char *end;

	if (c->due || (end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return;
	*end = '\0';
	c->close_after = strstr(c->buf, "Connection: close") != NULL ||
	    strstr(c->buf, "HTTP/1.0") != NULL;
	*end = '\r';
	c->due = now_ms() + atoi(getenv("SLOW_MS") ? getenv("SLOW_MS") : "0");
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	int s, ep, one = 1;

	if (argc != 3)
		return 2;
	setenv("SLOW_MS", argv[2], 1);
	alarm(300);
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(s, 1024) == -1) {
		perror("bind/listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.data.fd = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		long long now = now_ms(), next = -1;
		int n;

		for (int fd = 0; fd < MAXC; fd++)
			if (conns[fd].used && conns[fd].due && (next < 0 || conns[fd].due - now < next))
				next = conns[fd].due > now ? conns[fd].due - now : 0;
		n = epoll_wait(ep, evs, 64, (int)next);
		if (n == -1 && errno != EINTR) {
			perror("epoll_wait");
			return 3;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == s) {
				int c;

				while ((c = accept4(s, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (c >= MAXC) {
						close(c);
						continue;
					}
					conns[c].used = 1;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				if (errno != EAGAIN && errno != EINTR) {
					perror("accept4");
					return 3;
				}
				continue;
			}
			for (;;) {
				struct conn *c = &conns[fd];
				ssize_t r = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

				if (r > 0) {
					c->len += (size_t)r;
					c->buf[c->len] = '\0';
					if (c->len >= sizeof(c->buf) - 1) {
						drop(ep, fd);
						break;
					}
					continue;
				}
				if (r == 0 || errno != EAGAIN)
					drop(ep, fd);
				else
					check_request(fd);
				break;
			}
		}
		now = now_ms();
		for (int fd = 0; fd < MAXC; fd++)
			if (conns[fd].used && conns[fd].due && conns[fd].due <= now) {
				answer(ep, fd);
				if (conns[fd].used)
					check_request(fd);
			}
	}
}
