/*
 * A single-threaded, level-triggered epoll server that serves one connection
 * at a time, as lighttpd does at server.max-connections: while a connection
 * is open its listener stays registered with no events (EPOLL_CTL_MOD,
 * events 0), and others wait in the listen queue. Each request is answered
 * argv[2] ms after it arrived, then the connection is closed and the
 * listener resumed (EPOLLIN). With "open" as argv[3], the listener is never
 * paused (several connections at once, as memcached); with "open,child",
 * it also starts a child with an empty environment (no shim) that inherits
 * a copy of the listener and sleeps 5 s, so that the socket outlives the
 * drain's swap of its number (as a CGI child's stray copy, or a pre-fork
 * sibling's, makes it).
 *
 * It reports on stderr, once each, what a drain must never show it: an
 * event for its listener with EPOLLHUP or EPOLLERR, an event carrying data
 * other than the listener's, and a wake-up for the listener with nothing
 * to accept (EAGAIN at the first accept4()). No signal handling.
 * usage: epoll_pause PORT DELAY_MS [open|open,child]
 */
#include <fcntl.h>
#include <sys/epoll.h>

#include "http.h"

#define MAXC		1024
#define LISTENER_TAG	0x4c44000000000000ULL	/* data.u64 of the listener */

struct conn {
	int		used;
	long long	due;	/* 0: no request complete yet */
	size_t		len;
	char		buf[2048];
};

static struct conn conns[MAXC];
static int ep, ls, open_mode, active, paused;

static void
listener_events(uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = LISTENER_TAG | (uint64_t)ls };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, ls, &ev) == -1) {
		perror("epoll_ctl(MOD listener)");
		exit(3);
	}
	paused = events == 0;
}

static void
drop(int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	memset(&conns[fd], 0, sizeof(conns[fd]));
	active--;
	if (paused && !open_mode)
		listener_events(EPOLLIN);
}

static void
on_listener(uint32_t events)
{
	static int hup_told, eagain_told;
	int c, n = 0;

	if ((events & (EPOLLHUP | EPOLLERR)) && !hup_told++)
		fprintf(stderr, "epoll_pause: listener event %#x (EPOLLHUP/EPOLLERR)\n", events);
	if (!(events & EPOLLIN))
		return;
	while ((open_mode || active == 0) && (c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = c };

		n++;
		if (c >= MAXC) {
			close(c);
			continue;
		}
		conns[c].used = 1;
		active++;
		epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
	}
	if (active > 0 && !open_mode) {
		if (!paused)
			listener_events(0);
		return;
	}
	if (errno != EAGAIN) {
		perror("accept4");
		exit(3);
	}
	if (n == 0 && !eagain_told++)
		fprintf(stderr, "epoll_pause: woken for the listener with nothing to accept\n");
}

static void
on_conn(int fd)
{
	struct conn *c = &conns[fd];

	for (;;) {
		ssize_t r = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

		if (r > 0) {
			c->len += (size_t)r;
			c->buf[c->len] = '\0';
			if (c->len >= sizeof(c->buf) - 1) {
				drop(fd);
				return;
			}
			continue;
		}
		if (r == 0 || errno != EAGAIN) {
			drop(fd);
			return;
		}
		break;
	}
	if (!c->due && strstr(c->buf, "\r\n\r\n") != NULL)
		c->due = prog_now_ms() + atoi(getenv("EPOLL_PAUSE_MS"));
}

int
main(int argc, char **argv)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ndone\n";
	struct epoll_event ev, evs[64];

	if (argc < 3 || argc > 4)
		return 2;
	setenv("EPOLL_PAUSE_MS", argv[2], 1);
	open_mode = argc == 4 && strncmp(argv[3], "open", 4) == 0;
	alarm(300);
	ls = http_listen_loopback(argv[1], SOCK_NONBLOCK, 16);
	if (argc == 4 && strstr(argv[3], "child") != NULL) {
		char *sleep_argv[] = { "sleep", "5", NULL }, *no_env[] = { NULL };
		pid_t pid = fork();

		if (pid == -1) {
			perror("fork");
			return 3;
		}
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);

			/* Not holding the test's pipes: only the listener. */
			for (int fd = 0; fd <= 2; fd++)
				(void)dup2(null, fd);
			(void)fcntl(ls, F_SETFD, 0);
			execve("/bin/sleep", sleep_argv, no_env);
			_exit(127);
		}
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.u64 = LISTENER_TAG | (uint64_t)ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
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
			uint64_t d = evs[i].data.u64;

			if (d == (LISTENER_TAG | (uint64_t)ls)) {
				on_listener(evs[i].events);
			} else if (d >= MAXC || !conns[d].used) {
				static int told;

				if (!told++)
					fprintf(stderr, "epoll_pause: event %#x with unknown data %#llx\n",
					    evs[i].events, (unsigned long long)d);
			} else {
				on_conn((int)d);
			}
		}
		now = prog_now_ms();
		for (int fd = 0; fd < MAXC; fd++)
			if (conns[fd].used && conns[fd].due && conns[fd].due <= now) {
				(void)!write(fd, ok, sizeof(ok) - 1);
				drop(fd);
			}
	}
}
