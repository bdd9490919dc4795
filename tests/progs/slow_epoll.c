/*
 * A single-threaded epoll server with no signal handling: non-blocking
 * listener, HTTP/1.1 keep-alive, each request answered argv[2] ms after it
 * arrived (without blocking the loop, so many are served at once).
 * usage: slow_epoll PORT DELAY_MS
 */
#include <sys/epoll.h>

#include "http.h"

#define MAXC 4096

struct conn {
	int		used;
	long long	due;	/* 0: no request waiting */
	int		close_after;
	size_t		len;
	char		buf[2048];
};

static struct conn conns[MAXC];

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
	c->due = prog_now_ms() + atoi(getenv("SLOW_MS") ? getenv("SLOW_MS") : "0");
}

int
main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	int s, ep;

	if (argc != 3)
		return 2;
	setenv("SLOW_MS", argv[2], 1);
	alarm(300);
	s = http_listen_loopback(argv[1], SOCK_NONBLOCK, 1024);
	ep = epoll_create1(0);
	ev.data.fd = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	prog_ready();
	for (;;) {
		long long now = prog_now_ms(), next = -1;
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
		now = prog_now_ms();
		for (int fd = 0; fd < MAXC; fd++)
			if (conns[fd].used && conns[fd].due && conns[fd].due <= now) {
				answer(ep, fd);
				if (conns[fd].used)
					check_request(fd);
			}
	}
}
