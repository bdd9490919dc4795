/*
 * The health port. Runs on the shim's thread, in its epoll loop: every
 * socket is non-blocking, a client is cut 2 s after its current request
 * began (slowloris gains nothing by trickling bytes), at most 64 clients are
 * held and the rest are closed at once, requests over 8 KiB are refused.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdtab.h"
#include "health.h"
#include "real.h"
#include "http.h"
#include "shim.h"
#include "sockets.h"

struct client {
	int		closing;
	size_t		discarded;	/* bytes thrown away after a final answer */	/* answered with close: discard until EOF */
	long long	deadline;
	size_t		len;
	char		buf[LD_HTTP_MAX_REQUEST];
};

static struct client clients[LD_HEALTH_MAX_CLIENTS];
#define CFD(c)	ld_own(LD_OWN_CLIENT0 + (int)((c) - clients))

int
ld_health_listen(const struct ld_config *cfg, char *desc, size_t desclen)
{
	struct sockaddr_storage ss = cfg->health_addr;
	socklen_t len = cfg->health_addrlen;
	int fd, one = 1, zero = 0, saved;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && cfg->health_any && errno == EAFNOSUPPORT) {
		/* No IPv6 in this kernel: every IPv4 address instead. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_port = htons(cfg->health_port);
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*s4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	ld_format_addr((struct sockaddr *)&ss, desc, desclen);
	if (fd == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && cfg->health_any)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* Our own bind must not go through the wrapper's port-clash check. */
	if (ld_real.bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    ld_real.listen(fd, LD_HEALTH_BACKLOG) == -1) {
		saved = errno;
		ld_close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * New connections are taken at most LD_HEALTH_ACCEPT_RATE a second, in
 * bursts of up to LD_HEALTH_ACCEPT_BURST. Probes come a few a second; a
 * client that reconnects as fast as it can would otherwise cost the program
 * most of a core of kernel and shim time (README, "Benchmark"). Over the
 * rate the listener leaves the epoll set until a connection may be taken
 * again, and newcomers wait in its backlog, in order.
 *
 * The backlog is deep and a burst empties it: when the queue is full the
 * kernel drops a newcomer's SYN, and the client tries again only a second
 * later, which is a kubelet probe's whole default timeout. A thousand
 * connections opened at once are therefore all taken (the oldest cut) in
 * a few milliseconds, and a probe queued behind them waits no longer. A
 * sustained flood faster than the rate keeps any queue full, and then a
 * probe may still wait for its SYN's retry.
 */
static struct {
	uint64_t	tag;
	long long	tokens;		/* thousandths of a connection */
	long long	at;		/* when they were counted, ms */
	int		paused;
} acc;

static void
refill(long long now)
{
	if (now > acc.at) {
		acc.tokens += (now - acc.at) * LD_HEALTH_ACCEPT_RATE;
		if (acc.tokens > LD_HEALTH_ACCEPT_BURST * 1000LL)
			acc.tokens = LD_HEALTH_ACCEPT_BURST * 1000LL;
	}
	acc.at = now;
}

static void
listening_for(uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = acc.tag };

	(void)epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_MOD, ld_own(LD_OWN_HEALTH), &ev);
}

void
ld_health_start(uint64_t listen_tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = listen_tag };

	acc.tag = listen_tag;
	acc.tokens = LD_HEALTH_ACCEPT_BURST * 1000LL;
	acc.at = ld_now_ms();
	acc.paused = 0;
	if (ld_own(LD_OWN_HEALTH) >= 0)
		(void)epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_ADD, ld_own(LD_OWN_HEALTH), &ev);
}

static void
drop(struct client *c)
{
	/* Explicitly: a forked child may still hold a copy of the descriptor. */
	(void)epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_DEL, CFD(c), NULL);
	ld_own_close(LD_OWN_CLIENT0 + (int)(c - clients));
	c->len = 0;
	c->closing = 0;
	c->discarded = 0;
}

void
ld_health_accept(long long now)
{
	refill(now);
	for (int n = 0; n < LD_HEALTH_MAX_CLIENTS; n++) {
		struct epoll_event ev;
		struct client *c = NULL;
		int lfd = ld_own(LD_OWN_HEALTH), fd;

		if (lfd < 0)
			return;
		if (acc.tokens < 1000) {
			if (!acc.paused) {
				acc.paused = 1;
				listening_for(0);
			}
			return;
		}
		fd = ld_real.accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;		/* EAGAIN, or the listener was given up */
		for (int i = 0; i < LD_HEALTH_MAX_CLIENTS; i++)
			if (ld_own(LD_OWN_CLIENT0 + i) < 0) {
				c = &clients[i];
				break;
			}
		if (c == NULL) {
			/*
			 * Full. Refusing every newcomer would let 64 idle
			 * connections keep the probes out: the client that has
			 * waited longest for its request goes instead. (Each
			 * client is read as soon as it is accepted, so a probe
			 * whose request came with its connection is answered
			 * before any newcomer can push it out.)
			 */
			c = &clients[0];
			for (int i = 1; i < LD_HEALTH_MAX_CLIENTS; i++)
				if (clients[i].deadline < c->deadline)
					c = &clients[i];
			drop(c);
		}
		acc.tokens -= 1000;
		fd = ld_own_hide(fd);
		ld_own_set(LD_OWN_CLIENT0 + (int)(c - clients), fd);
		c->len = 0;
		c->closing = 0;
		c->discarded = 0;
		c->deadline = now + LD_HEALTH_TIMEOUT_MS;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.u64 = LD_TAG_CLIENT + (uint64_t)(c - clients);
		if (epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_ADD, fd, &ev) == -1)
			drop(c);
		else
			ld_health_event((int)(c - clients), EPOLLIN, now);
	}
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* Returns 0 when the whole response went out. */
static int
respond(struct client *c, int status, const char *body, size_t blen, int head,
    int keep, const char *ctype)
{
	char out[LD_HTTP_MAX_REQUEST];
	int n;

	n = snprintf(out, sizeof(out),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s"
	    "Connection: %s\r\n\r\n",
	    status, reason(status), ctype, blen,
	    status == 405 ? "Allow: GET, HEAD\r\n" : "",
	    keep ? "keep-alive" : "close");
	if (n < 0 || (size_t)n >= sizeof(out))
		return -1;
	if (!head) {
		if (blen > sizeof(out) - (size_t)n)
			blen = sizeof(out) - (size_t)n;
		memcpy(out + n, body, blen);
		n += (int)blen;
	}
	/* Answers are small: they fit in the socket buffer, or the client is cut. */
	return send(CFD(c), out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n ? 0 : -1;
}

/* After a final answer: stop sending, let the client read, then close. */
static void
finish(struct client *c)
{
	(void)shutdown(CFD(c), SHUT_WR);
	c->closing = 1;
	c->len = 0;
}

static void
serve(struct client *c, long long now)
{
	for (;;) {
		struct ld_http_req req;
		enum ld_http_status st = ld_http_parse(c->buf, c->len, &req);
		char body[LD_HTTP_MAX_REQUEST / 2];
		size_t blen = 0;
		int status, keep;
		const char *ctype = "text/plain; charset=utf-8";

		if (st == LD_HTTP_INCOMPLETE)
			return;
		if (st != LD_HTTP_OK) {
			static const char bad[] = "bad request\n";

			(void)respond(c, st == LD_HTTP_TOO_BIG ? 431 : 400, bad,
			    sizeof(bad) - 1, 0, 0, ctype);
			finish(c);
			return;
		}
		keep = req.keep_alive;
		if (req.method == LD_M_OTHER) {
			static const char m[] = "method not allowed\n";

			status = 405;
			memcpy(body, m, blen = sizeof(m) - 1);
		} else if (req.path == LD_P_OTHER) {
			static const char m[] = "not found\n";

			status = 404;
			memcpy(body, m, blen = sizeof(m) - 1);
		} else {
			status = ld_render(req.path, body, sizeof(body), &blen);
			if (req.path == LD_P_METRICS)
				ctype = "text/plain; version=0.0.4; charset=utf-8";
		}
		if (respond(c, status, body, blen, req.method == LD_M_HEAD, keep, ctype) == -1) {
			drop(c);
			return;
		}
		memmove(c->buf, c->buf + req.length, c->len - req.length);
		c->len -= req.length;
		c->deadline = now + LD_HEALTH_TIMEOUT_MS;
		if (!keep) {
			finish(c);
			return;
		}
	}
}

void
ld_health_event(int slot, uint32_t events, long long now)
{
	struct client *c;
	ssize_t n;

	if (slot < 0 || slot >= LD_HEALTH_MAX_CLIENTS || ld_own(LD_OWN_CLIENT0 + slot) < 0)
		return;
	c = &clients[slot];
	(void)events;	/* errors and hang-ups show up as recv() results */
	for (;;) {
		static char sink[LD_HEALTH_DISCARD_MAX];	/* the health thread's alone */

		if (c->closing && c->discarded > LD_HEALTH_DISCARD_MAX) {
			drop(c);	/* it keeps sending after a final answer */
			return;
		}
		if (c->closing)
			n = recv(CFD(c), sink, sizeof(sink), MSG_DONTWAIT);
		else if (c->len < sizeof(c->buf))
			n = recv(CFD(c), c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
		else {
			drop(c);	/* cannot happen: the parser refuses a full buffer */
			return;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			drop(c);
			return;
		}
		if (c->closing)
			c->discarded += (size_t)n;
		else {
			c->len += (size_t)n;
			serve(c, now);
			if (CFD(c) < 0)
				return;
		}
	}
}

long long
ld_health_timeout(long long now)
{
	long long best = -1, left;

	for (int i = 0; i < LD_HEALTH_MAX_CLIENTS; i++) {

		if (ld_own(LD_OWN_CLIENT0 + i) < 0)
			continue;
		left = clients[i].deadline > now ? clients[i].deadline - now : 0;
		if (best == -1 || left < best)
			best = left;
	}
	if (acc.paused) {
		/* Until the bucket holds one connection again. */
		refill(now);
		left = acc.tokens >= 1000 ? 0 :
		    (1000 - acc.tokens + LD_HEALTH_ACCEPT_RATE - 1) / LD_HEALTH_ACCEPT_RATE;
		if (best == -1 || left < best)
			best = left;
	}
	return best;
}

void
ld_health_expire(long long now)
{
	for (int i = 0; i < LD_HEALTH_MAX_CLIENTS; i++)
		if (ld_own(LD_OWN_CLIENT0 + i) >= 0 && clients[i].deadline <= now)
			drop(&clients[i]);
	if (acc.paused) {
		refill(now);
		if (acc.tokens >= 1000 && ld_own(LD_OWN_HEALTH) >= 0) {
			acc.paused = 0;
			listening_for(EPOLLIN);
			ld_health_accept(now);
		}
	}
}

void
ld_health_close_all(void)
{
	for (int i = 0; i < LD_HEALTH_MAX_CLIENTS; i++)
		ld_own_close(LD_OWN_CLIENT0 + i);
	ld_own_close(LD_OWN_HEALTH);
}
