/*
 * The health port. Runs on the shim's thread, in its epoll loop: every
 * socket is non-blocking, a client is cut 2 s after its current request
 * began (slowloris gains nothing by trickling bytes), at most 64 clients are
 * held and the rest are closed at once, requests over 8 KiB are refused.
 * Its answers come from the owner's state through a function the owner
 * hands in (ld_health_start). When the program binds an address that
 * overlaps the port, the program wins it: the port is closed (README,
 * "Health port").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fdtab.h"
#include "health.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "procfs.h"
#include "real.h"
#include "tree.h"

struct client {
	int		closing;
	size_t		discarded;	/* bytes thrown away after a final answer */	/* answered with close: discard until EOF */
	long long	deadline;
	size_t		len;
	char		buf[LD_HTTP_MAX_REQUEST];
};

static struct client clients[LD_HEALTH_MAX_CLIENTS];

static struct {
	ld_health_status_fn status;
	char		desc[80];	/* the address, for log lines */
	_Atomic int	yielded;	/* the program took the port: the thread closes it */
	_Atomic int	gave_up;
} health;
#define CFD(c)	ld_own(LD_OWN_CLIENT0 + (int)((c) - clients))

const char *
ld_health_desc(void)
{
	return health.desc;
}

int
ld_health_listen(const struct ld_config *cfg)
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
	ld_format_sockaddr((struct sockaddr *)&ss, health.desc, sizeof(health.desc));
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

	(void)ld_real.epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_MOD, ld_own(LD_OWN_HEALTH), &ev);
}

void
ld_health_start(uint64_t listen_tag, ld_health_status_fn status)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = listen_tag };

	health.status = status;
	acc.tag = listen_tag;
	acc.tokens = LD_HEALTH_ACCEPT_BURST * 1000LL;
	acc.at = ld_now_ms();
	acc.paused = 0;
	if (ld_own(LD_OWN_HEALTH) >= 0)
		(void)ld_real.epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_ADD, ld_own(LD_OWN_HEALTH), &ev);
}

static void
drop(struct client *c)
{
	/* Explicitly: a forked child may still hold a copy of the descriptor. */
	(void)ld_real.epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_DEL, CFD(c), NULL);
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
		if (ld_real.epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_ADD, fd, &ev) == -1)
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
	return ld_real.send(CFD(c), out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n ? 0 : -1;
}

/* After a final answer: stop sending, let the client read, then close. */
static void
finish(struct client *c)
{
	(void)shutdown(CFD(c), SHUT_WR);
	c->closing = 1;
	c->len = 0;
}

/* ---- the answers ---- */

static void __attribute__((format(printf, 4, 5)))
out(char *b, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(b + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n = (size_t)w < cap - *n ? *n + (size_t)w : cap - 1;
}

static size_t
metrics(char *b, size_t cap, const struct ld_health_status *st, long long now)
{
	const struct ld_lifecycle *lc = st->lc;
	size_t n = 0;

	out(b, cap, &n, "# HELP lameduck_state 1 for the lifecycle state the process is in.\n"
	    "# TYPE lameduck_state gauge\n");
	for (int s = 0; s < LD_ST_COUNT; s++)
		out(b, cap, &n, "lameduck_state{state=\"%s\"} %d\n", ld_lc_state_name(s),
		    lc->state == (enum ld_state)s);
	out(b, cap, &n, "# HELP lameduck_ready 1 while /readyz answers 200.\n"
	    "# TYPE lameduck_ready gauge\n"
	    "lameduck_ready %d\n", ld_lc_is_ready(lc));
	out(b, cap, &n, "# HELP lameduck_listeners TCP listeners that count for readiness.\n"
	    "# TYPE lameduck_listeners gauge\n"
	    "lameduck_listeners %d\n", st->listeners);
	out(b, cap, &n, "# HELP lameduck_connections_active Accepted connections open now.\n"
	    "# TYPE lameduck_connections_active gauge\n"
	    "lameduck_connections_active %ld\n", st->connections);
	if (st->counted) {
		out(b, cap, &n, "# HELP lameduck_connections_accepted_total Connections accepted.\n"
		    "# TYPE lameduck_connections_accepted_total counter\n"
		    "lameduck_connections_accepted_total %llu\n", st->accepted);
		out(b, cap, &n, "# HELP lameduck_connections_retired_total Connections retired "
		    "from the lame-duck signal on: by a \"Connection: close\" in their next "
		    "response, by an HTTP/2 GOAWAY, or closed idle before delivery.\n"
		    "# TYPE lameduck_connections_retired_total counter\n"
		    "lameduck_connections_retired_total{how=\"header\"} %llu\n"
		    "lameduck_connections_retired_total{how=\"goaway\"} %llu\n"
		    "lameduck_connections_retired_total{how=\"idle\"} %llu\n",
		    st->retired_header, st->retired_goaway, st->retired_idle);
	}
	out(b, cap, &n, "# HELP lameduck_in_flight Requests in flight (counted while draining).\n"
	    "# TYPE lameduck_in_flight gauge\n"
	    "lameduck_in_flight %ld\n", st->in_flight);
	out(b, cap, &n, "# HELP lameduck_signals_received_total Lame-duck signals received.\n"
	    "# TYPE lameduck_signals_received_total counter\n"
	    "lameduck_signals_received_total %llu\n", lc->signals);
	out(b, cap, &n, "# HELP lameduck_phase_seconds Seconds spent in each lifecycle phase.\n"
	    "# TYPE lameduck_phase_seconds gauge\n");
	for (int s = 0; s < LD_ST_COUNT; s++)
		out(b, cap, &n, "lameduck_phase_seconds{phase=\"%s\"} %.3f\n",
		    ld_lc_state_name(s), ld_lc_seconds_in(lc, s, now));
	out(b, cap, &n, "# HELP lameduck_build_info The shim's version.\n"
	    "# TYPE lameduck_build_info gauge\n"
	    "lameduck_build_info{version=\"%s\"} 1\n", LD_VERSION);
	return n;
}

/* The answer to a health request; returns the status code. */
static int
render(int path, char *body, size_t cap, size_t *len)
{
	struct ld_health_status st;
	long long now = ld_now_ms();
	int n;

	health.status(&st, path == LD_P_METRICS);
	switch (path) {
	case LD_P_READYZ:
	case LD_P_HEALTHZ:
		if (ld_lc_is_ready(st.lc)) {
			n = snprintf(body, cap, "ok\n");
			*len = (size_t)n;
			return 200;
		}
		n = snprintf(body, cap, "%s\n", ld_lc_state_name(st.lc->state));
		*len = (size_t)n;
		return 503;
	case LD_P_METRICS:
		*len = metrics(body, cap, &st, now);
		return 200;
	case LD_P_LIVEZ:
	default:
		n = snprintf(body, cap, "ok\n");
		*len = (size_t)n;
		return 200;
	}
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
			status = render(req.path, body, sizeof(body), &blen);
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
			n = ld_real.recv(CFD(c), sink, sizeof(sink), MSG_DONTWAIT);
		else if (c->len < sizeof(c->buf))
			n = ld_real.recv(CFD(c), c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
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

static int
is_v4_any(const struct in_addr *a)
{
	return a->s_addr == htonl(INADDR_ANY);
}

/* Does the program's bind of addr on fd collide with the health address? */
static int
overlaps(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_storage *hp = &ld_cfg.health_addr;
	int health_any = ld_cfg.health_any;
	uint16_t port = ld_cfg.health_port;
	struct sockaddr_storage ss;
	socklen_t tlen = sizeof(int);
	int type = 0, v6only = 0;
	uint16_t p;

	if (addr == NULL || len < sizeof(sa_family_t) || len > sizeof(ss))
		return 0;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, len);
	if (ld_addr_port(&ss, &p) == -1 || p != port)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 || type != SOCK_STREAM)
		return 0;
	if (health_any)
		return 1;	/* [::] dual stack overlaps every address */
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		if (hp->ss_family == AF_INET6) {
			const struct in6_addr *h = &((const struct sockaddr_in6 *)hp)->sin6_addr;

			return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_UNSPECIFIED(h) ||
			    IN6_ARE_ADDR_EQUAL(a, h);
		}
		tlen = sizeof(v6only);
		(void)getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &tlen);
		if (IN6_IS_ADDR_UNSPECIFIED(a))
			return !v6only;
		return IN6_IS_ADDR_V4MAPPED(a) && memcmp(&a->s6_addr[12],
		    &((const struct sockaddr_in *)hp)->sin_addr, 4) == 0;
	}
	if (ss.ss_family == AF_INET && hp->ss_family == AF_INET6) {
		const struct in_addr *a = &((struct sockaddr_in *)&ss)->sin_addr;
		const struct in6_addr *h = &((const struct sockaddr_in6 *)hp)->sin6_addr;

		/* [::] is dual stack (the shim leaves IPV6_V6ONLY to the kernel's default). */
		if (IN6_IS_ADDR_UNSPECIFIED(h))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(h) &&
		    (is_v4_any(a) || memcmp(&h->s6_addr[12], a, 4) == 0);
	}
	if (ss.ss_family == AF_INET && hp->ss_family == AF_INET) {
		const struct in_addr *a = &((struct sockaddr_in *)&ss)->sin_addr;

		return is_v4_any(a) || is_v4_any(&((const struct sockaddr_in *)hp)->sin_addr) ||
		    a->s_addr == ((const struct sockaddr_in *)hp)->sin_addr.s_addr;
	}
	return 0;
}


/* ---- the program wins the port ---- */

void
ld_health_yield(int fd, const struct sockaddr *addr, socklen_t len)
{
	int hfd = ld_own(LD_OWN_HEALTH);
	char a[80];

	if (hfd < 0 || !overlaps(fd, addr, len))
		return;
	if (atomic_exchange(&health.gave_up, 1))
		return;
	/*
	 * Free the port now, but keep the number taken until the shim's thread
	 * lets go of it: another descriptor of ours goes over it, and the
	 * thread closes that.
	 */
	if (ld_dup3(ld_own(LD_OWN_EVENT), hfd, O_CLOEXEC) == -1)
		return;
	atomic_store(&health.yielded, 1);
	ld_own_wake();
	ld_format_sockaddr(addr, a, sizeof(a));
	ld_warn("the program binds %s, which overlaps the health port %s: the health port "
	    "is closed, so /readyz will not answer", a, health.desc);
}

/*
 * The owner's thread: a member asked for the port (ld_health_ask). It was
 * woken by the member's connection to the port, or by anything else.
 */
static void
yield_to_member(void)
{
	int pid = atomic_load(&ld_tree->yield_pid);

	if (ld_own(LD_OWN_HEALTH) >= 0 && !atomic_exchange(&health.gave_up, 1)) {
		ld_own_close(LD_OWN_HEALTH);
		ld_warn("pid %d of this tree binds an address that overlaps the health port %s: "
		    "the health port is closed, so /readyz will not answer", pid, health.desc);
	}
	atomic_store(&ld_tree->yield_done, (int)getpid());
}

/* Wakes the owner's thread: a connection to the health port itself. */
static void
knock(void)
{
	struct sockaddr_storage ss = ld_cfg.health_addr;
	socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	int c;

	if (ld_cfg.health_any) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;	/* the dual-stack socket takes it too */
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(ld_cfg.health_port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons(ld_cfg.health_port);
	c = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c < 0)
		return;
	(void)connect(c, (struct sockaddr *)&ss, len);
	ld_close(c);
}

int
ld_health_ask(int fd, const struct sockaddr *addr, socklen_t len)
{
	int owner, e = errno, done;

	if (ld_tree == NULL || ld_cfg.health_off ||
	    !overlaps(fd, addr, len))
		return -1;
	owner = atomic_load(&ld_tree->owner);
	if (owner <= 0 || !ld_pid_alive(owner))
		return -1;
	/* The request names the owner: a later one (after a take-over) is asked anew. */
	if (atomic_load(&ld_tree->yield_done) != owner) {
		atomic_store(&ld_tree->yield_pid, (int)getpid());
		atomic_store(&ld_tree->yield_to, owner);
	}
	/* Bounded: an owner whose thread is stuck, or that ends, never answers. */
	for (int i = 0; i < 200 && atomic_load(&ld_tree->yield_done) != owner; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		if (i % 20 == 0) {
			if (i > 0 && !ld_pid_alive(owner))
				break;
			knock();
		}
		nanosleep(&ts, NULL);
	}
	done = atomic_load(&ld_tree->yield_done) == owner;
	if (!done) {
		/* Given up: no owner is to close its port later for nothing. */
		int want = owner;

		(void)atomic_compare_exchange_strong(&ld_tree->yield_to, &want, 0);
	}
	errno = e;
	return done ? 0 : -1;
}

void
ld_health_handover(void)
{
	int me = (int)getpid();

	if (atomic_exchange(&health.yielded, 0))
		ld_own_close(LD_OWN_HEALTH);
	if (ld_tree != NULL && atomic_load(&ld_tree->yield_to) == me &&
	    atomic_load(&ld_tree->yield_done) != me)
		yield_to_member();
}
