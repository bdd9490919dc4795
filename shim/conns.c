/*
 * Retiring accepted connections from the lame-duck signal on.
 *
 * A keep-alive connection stays where an L4 balancer put it until one side
 * closes it, whatever /readyz says. From the signal on, the first request
 * the program reads on a connection between two requests tells whether it
 * speaks HTTP/1.x; if it does, the next final response carries
 * "Connection: close" (retire.c), the client closes after reading it, and
 * its next request opens a connection the balancer sends elsewhere. What
 * is not HTTP/1.x (TLS, redis, anything else) passes untouched.
 *
 * An HTTP/2 cleartext connection (its first bytes read are the client
 * preface, looked at once per connection, before the signal too) has the
 * frames the program writes on it followed from the first byte (h2.c):
 * from the signal on, one GOAWAY goes between two of them, in the
 * program's next write or, if it is not writing, from here at once. A
 * counter in the connection's state keeps the two from interleaving. The
 * client's frames are followed too, as the program reads them, so that
 * the connection's open streams are known: with none, it is idle.
 * Before delivery, with nothing left in flight, every idle connection gets
 * a FIN (shutdown SHUT_WR): the client closes, the program reads EOF and
 * closes as it always does. Its writes on such a connection go out with
 * MSG_NOSIGNAL, so a late one fails with EPIPE instead of raising SIGPIPE.
 *
 * The state of each connection is in a table by descriptor, made page by
 * page on demand, where every thread of the program sees it.
 */
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <linux/sockios.h>
#else
#define SIOCINQ		FIONREAD	/* <linux/sockios.h>: musl-gcc has no kernel headers */
#define SIOCOUTQ	TIOCOUTQ
#endif
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "conns.h"
#include "drain.h"
#include "fdtab.h"
#include "h2.h"
#include "procfs.h"
#include "real.h"
#include "retire.h"
#include "tree.h"

#define CONN_SHIFT	12
#define CONN_PAGES	4096	/* as far as the descriptor table goes */

#define INJECTING	0x80000000U	/* writers: the shim sends a GOAWAY itself */

struct conn {
	struct ld_rt	rt;
	struct ld_h2	h2;		/* the program's frames (HTTP/2) */
	struct ld_h2	in;		/* the client's frames, after its preface */
	struct ld_h2_streams streams;	/* the streams open, as both see them */
	_Atomic unsigned writers;	/* the program's writes under way (HTTP/2) */
	uint8_t		shut;		/* our FIN went out: no SIGPIPE for the program */
	uint8_t		counted;	/* its close went out and was counted */
	uint8_t		npeek;		/* a request's first bytes, while too few to tell */
	char		peek[LD_RETIRE_PEEK];
};

_Atomic int ld_retiring;
static _Atomic(struct conn *) pages[CONN_PAGES];

static struct conn *
conn_of(int fd, int make)
{
	unsigned u = (unsigned)fd, i = u >> CONN_SHIFT;
	struct conn *p, *expected = NULL;

	if (i >= CONN_PAGES)
		return NULL;
	p = atomic_load_explicit(&pages[i], memory_order_acquire);
	if (p == NULL && make) {
		size_t size = sizeof(struct conn) << CONN_SHIFT;
		int e = errno;

		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		errno = e;
		if (p == MAP_FAILED)
			return NULL;
		if (!atomic_compare_exchange_strong(&pages[i], &expected, p)) {
			munmap(p, size);	/* another thread was first */
			p = expected;
		}
	}
	return p != NULL ? &p[u & ((1U << CONN_SHIFT) - 1)] : NULL;
}

struct out {
	int			fd;
	int			send;
	int			flags;
	const struct sockaddr	*name;
	socklen_t		namelen;
};

static ssize_t
out_send(void *ctx, const struct iovec *iov, int cnt)
{
	const struct out *o = ctx;
	struct msghdr m;

	if (!o->send)
		return ld_real.writev(o->fd, iov, cnt);
	memset(&m, 0, sizeof(m));
	m.msg_name = (void *)o->name;
	m.msg_namelen = o->namelen;
	m.msg_iov = (struct iovec *)iov;
	m.msg_iovlen = (size_t)cnt;
	return ld_real.sendmsg(o->fd, &m, o->flags);
}

/* The program writes on an HTTP/2 connection: waits while the shim sends. */
static void
take(struct conn *c)
{
	unsigned w = atomic_load_explicit(&c->writers, memory_order_relaxed);

	for (;;) {
		if (w & INJECTING)
			w = atomic_load_explicit(&c->writers, memory_order_relaxed);
		else if (atomic_compare_exchange_weak_explicit(&c->writers, &w, w + 1,
		    memory_order_acquire, memory_order_relaxed))
			return;
	}
}

static void
give(struct conn *c)
{
	atomic_fetch_sub_explicit(&c->writers, 1, memory_order_release);
}

/*
 * The GOAWAY on an HTTP/2 connection where the program is not writing.
 * Returns 1 if it is out in full, 0 if not, -1 if the program is writing
 * (its write path sends it); *now says whether this call finished it.
 */
static int
inject(int fd, struct conn *c, int *now)
{
	struct out o = { fd, 1, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0 };
	unsigned none = 0;
	int sent;

	*now = 0;
	if (!atomic_compare_exchange_strong_explicit(&c->writers, &none, INJECTING,
	    memory_order_acquire, memory_order_relaxed))
		return -1;
	c->h2.want = 1;
	sent = ld_h2_sent(&c->h2);
	if (!sent && ld_h2_flush(&c->h2, out_send, &o) == 1) {
		ld_tree_count_retired(LD_RETIRED_GOAWAY);
		*now = sent = 1;
	}
	/* Not sent (inside a frame, or a full buffer): the program's next write sends it. */
	atomic_store_explicit(&c->writers, 0, memory_order_release);
	return sent;
}

/* At the signal: the GOAWAY on each HTTP/2 connection. */
static void
goaway_one(int fd, uint8_t v, void *arg)
{
	struct conn *c;
	int *n = arg, now;

	if (!(v & LD_FD_H2) || (c = conn_of(fd, 0)) == NULL)
		return;
	(void)inject(fd, c, &now);
	*n += now;
}

void
ld_retire_begin(void)
{
	int n = 0, e = errno;

	atomic_store(&ld_retiring, 1);
	ld_fd_each(LD_FD_CONN, goaway_one, &n);
	errno = e;
}

void
ld_conn_reset(int fd)
{
	struct conn *c = conn_of(fd, 0);

	if (c != NULL)
		memset(c, 0, sizeof(*c));
}

/* A request's (or a preface's) first bytes, kept while too few to tell. */
static void
keep(struct conn *c, const void *buf, size_t n)
{
	size_t k = n < sizeof(c->peek) - c->npeek ? n : sizeof(c->peek) - c->npeek;

	memcpy(c->peek + c->npeek, buf, k);
	c->npeek = (uint8_t)(c->npeek + k);
}

/* The same from the n bytes read into an iovec. */
static void
keep_iov(struct conn *c, const struct iovec *iov, int cnt, size_t n)
{
	for (int i = 0; i < cnt && n > 0 && c->npeek < sizeof(c->peek); i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;

		keep(c, iov[i].iov_base, k);
		n -= k;
	}
}

/* From the signal on: is the request kept HTTP/1.x, to retire by its response? */
static void
tell_http1(struct conn *c)
{
	int yes = ld_rt_is_request(c->peek, c->npeek);

	if (yes == -1 && c->npeek < sizeof(c->peek))
		return;
	c->npeek = 0;
	if (yes == 1)
		ld_rt_arm(&c->rt);
	else
		c->rt.phase = LD_RT_OFF;	/* not HTTP/1.x: never touched */
}

/* From the signal on, a read on a connection that is not HTTP/2; v: its entry before. */
static void
http1_read(int fd, uint8_t v, const void *buf, size_t n)
{
	struct conn *c = conn_of(fd, (v & LD_FD_READ) == 0);

	/*
	 * A connection between two requests (the program wrote since it last
	 * read), or one whose request's first bytes were too few to tell.
	 */
	if (c == NULL || c->rt.phase != LD_RT_NONE || ((v & LD_FD_READ) && c->npeek == 0))
		return;
	if (!(v & LD_FD_READ))
		c->npeek = 0;	/* a new request: nothing kept of another connection's */
	keep(c, buf, n);
	tell_http1(c);
}

/*
 * The first bytes read on a connection: is it HTTP/2? buf, len: those of
 * the first iovec with any, of n read into iov.
 */
static void
first_read(int fd, uint8_t v, const char *buf, size_t len, const struct iovec *iov, int cnt,
    size_t n)
{
	struct conn *c;
	size_t before;
	int h2;

	if (!(v & LD_FD_HELD) && *buf != 'P') {
		/* Not HTTP/2 from its first byte (ld_fd_read did not see it). */
		ld_fd_andnot(fd, LD_FD_UNREAD);
		if (ld_conn_retiring())
			http1_read(fd, v & (uint8_t)~LD_FD_READ, buf, len);
		return;
	}
	if ((c = conn_of(fd, 1)) == NULL) {
		ld_fd_andnot(fd, LD_FD_UNREAD);
		return;
	}
	if (!(v & LD_FD_HELD))
		memset(c, 0, sizeof(*c));
	before = c->npeek;
	keep_iov(c, iov, cnt, n);
	h2 = ld_h2_is_preface(c->peek, c->npeek);
	if (h2 == -1) {
		/* A preface read bit by bit: its next read comes here too. */
		ld_fd_or(fd, LD_FD_HELD);
		return;
	}
	if (h2 == 1) {
		/* The client's frames follow its preface, in this read already maybe. */
		c->npeek = 0;
		ld_fd_mark(fd, LD_FD_HELD | LD_FD_H2, LD_FD_UNREAD);
		ld_h2_advance(&c->in, &c->streams, LD_H2_CLIENT, iov, cnt,
		    LD_H2_PREFACE_LEN - before, n - (LD_H2_PREFACE_LEN - before));
		return;
	}
	/* Not HTTP/2: what was followed of the program's writes is of no use. */
	memset(&c->h2, 0, sizeof(c->h2));
	ld_fd_mark(fd, LD_FD_HELD, LD_FD_UNREAD);
	if (ld_conn_retiring() && c->rt.phase == LD_RT_NONE)
		tell_http1(c);
	else
		c->npeek = 0;
}

void
ld_conn_read(int fd, const struct iovec *iov, int cnt, size_t n, int first)
{
	uint8_t v = ld_fd_get(fd);
	const char *buf = NULL;
	size_t len = 0;
	struct conn *c;

	if ((v & LD_FD_TYPE) != LD_FD_CONN)
		return;
	if (v & LD_FD_H2) {
		/* The client's frames, every one: which streams it opens, ends, resets. */
		if (first && (c = conn_of(fd, 0)) != NULL)
			ld_h2_advance(&c->in, &c->streams, LD_H2_CLIENT, iov, cnt, 0, n);
		return;
	}
	for (int i = 0; i < cnt && buf == NULL; i++)
		if (iov[i].iov_len > 0) {
			buf = iov[i].iov_base;
			len = iov[i].iov_len < n ? iov[i].iov_len : n;
		}
	if (buf == NULL)
		return;
	if (first)
		first_read(fd, v, buf, len, iov, cnt, n);
	else if (!(v & LD_FD_UNREAD) || (!(v & LD_FD_HELD) && *buf != 'P'))
		http1_read(fd, v, buf, len);	/* a possible HTTP/2 preface: first_read looks */
}

/*
 * The program writes on an HTTP/2 connection, or on one it has not read
 * from yet (a server may send its SETTINGS first): the frames are followed
 * from the first byte, and from the signal on the GOAWAY goes at the next
 * boundary.
 */
static ssize_t
h2_write(int fd, uint8_t v, struct out *o, const struct iovec *iov, int cnt, int flags)
{
	struct conn *c = conn_of(fd, 1);
	int blocking = 0, sent;
	ssize_t r;

	if (c == NULL)
		return out_send(o, iov, cnt);
	if (!(v & LD_FD_HELD)) {
		memset(c, 0, sizeof(*c));
		ld_fd_or(fd, LD_FD_HELD);
	}
	if (c->shut) {
		o->send = 1;
		o->flags |= MSG_NOSIGNAL;
	}
	take(c);
	if ((v & LD_FD_H2) && ld_conn_retiring())
		c->h2.want = 1;
	sent = ld_h2_sent(&c->h2);
	if (c->h2.want && !sent && !c->h2.off)
		blocking = !(flags & MSG_DONTWAIT) && !(ld_real.fcntl(fd, F_GETFL) & O_NONBLOCK);
	r = ld_h2_write(&c->h2, &c->streams, iov, cnt, blocking, out_send, o);
	if (!sent && ld_h2_sent(&c->h2))
		ld_tree_count_retired(LD_RETIRED_GOAWAY);
	give(c);
	return r;
}

ssize_t
ld_conn_write(int fd, const struct iovec *iov, int cnt, int send, int flags,
    const struct sockaddr *name, socklen_t namelen)
{
	struct out o = { fd, send, flags, name, namelen };
	uint8_t v = ld_fd_get(fd);
	struct conn *c;
	int blocking;
	ssize_t r;

	if ((v & LD_FD_TYPE) != LD_FD_CONN)
		return out_send(&o, iov, cnt);
	if (v & (LD_FD_H2 | LD_FD_UNREAD))
		return h2_write(fd, v, &o, iov, cnt, flags);
	if ((c = conn_of(fd, 0)) == NULL)
		return out_send(&o, iov, cnt);
	if (c->shut) {
		o.send = 1;
		o.flags |= MSG_NOSIGNAL;
	}
	if (!ld_rt_active(&c->rt))
		return out_send(&o, iov, cnt);
	blocking = !(flags & MSG_DONTWAIT) && !(ld_real.fcntl(fd, F_GETFL) & O_NONBLOCK);
	r = ld_rt_write(&c->rt, iov, cnt, blocking, out_send, &o);
	if (!c->counted && c->rt.inserting && !ld_rt_pending(&c->rt)) {
		c->counted = 1;
		ld_tree_count_retired(LD_RETIRED_HEADER);
	}
	return r;
}

void
ld_conn_unseen(int fd)
{
	uint8_t v = ld_fd_get(fd);
	struct conn *c;

	if ((v & LD_FD_TYPE) != LD_FD_CONN || !(v & (LD_FD_H2 | LD_FD_UNREAD)) ||
	    (c = conn_of(fd, 1)) == NULL)
		return;
	if (!(v & LD_FD_HELD)) {
		memset(c, 0, sizeof(*c));
		ld_fd_or(fd, LD_FD_HELD);
	}
	take(c);
	c->h2.off = 1;		/* its frames can no longer be told apart */
	ld_h2_lose(&c->streams);	/* nor its streams: in flight until it closes */
	give(c);
}

int
ld_conn_before_sendfile(int fd)
{
	uint8_t v = ld_fd_get(fd);
	struct out o = { fd, 1, MSG_NOSIGNAL, NULL, 0 };
	struct conn *c;

	if ((v & LD_FD_TYPE) != LD_FD_CONN)
		return 0;
	ld_conn_unseen(fd);	/* bytes from a file: no HTTP/2 frames to follow */
	if ((c = conn_of(fd, 0)) == NULL)
		return 0;
	if (c->shut) {
		errno = EPIPE;	/* sendfile would raise SIGPIPE: as if the client had gone */
		return -1;
	}
	while (ld_rt_pending(&c->rt)) {
		struct iovec iov = { (char *)LD_RETIRE_HEADER + c->rt.ours,
			LD_RETIRE_HEADER_LEN - c->rt.ours };
		ssize_t r = out_send(&o, &iov, 1);

		if (r <= 0)
			return -1;
		c->rt.ours = (uint8_t)(c->rt.ours + r);
	}
	if (ld_rt_active(&c->rt))
		c->rt.phase = LD_RT_OFF;	/* a head sent from a file: not read, not changed */
	return 0;
}

static void
close_if_idle(int fd, uint8_t v, void *arg)
{
	int *n = arg, q = 0, now;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conn *c;
	uint16_t port;

	if ((v & (LD_FD_READ | LD_FD_H2)) == LD_FD_READ)
		return;		/* a request in flight (HTTP/2: a stream open, below) */
	if ((ioctl(fd, SIOCINQ, &q) == 0 && q > 0) || (ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0))
		return;
	/*
	 * Only a connection accepted from a listener the drain stopped: an
	 * entry the program closed behind our back (fclose) may name another
	 * socket by now, a connection of its own to a database, say.
	 */
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 || ld_addr_port(&ss, &port) == -1 ||
	    !ld_drain_stopped_port(port))
		return;
	c = conn_of(fd, 1);
	if (c == NULL || c->shut || (ld_rt_active(&c->rt) && c->rt.phase != LD_RT_STATUS))
		return;
	if ((v & LD_FD_H2) && ld_h2_busy(&c->streams))
		return;		/* a stream open, or a frame cut */
	if ((v & LD_FD_H2) && inject(fd, c, &now) != 1)
		return;		/* our GOAWAY not out (cut, or not yet): a FIN now would cut a frame */
	if (shutdown(fd, SHUT_WR) == 0) {
		c->shut = 1;
		(*n)++;
		ld_tree_count_retired(LD_RETIRED_IDLE);
	}
}

int
ld_conn_h2_busy(int fd)
{
	struct conn *c = conn_of(fd, 0);

	return c == NULL || ld_h2_busy(&c->streams);
}

int
ld_conn_close_idle(void)
{
	int n = 0, e = errno;

	ld_fd_each(LD_FD_CONN, close_if_idle, &n);
	errno = e;
	return n;
}
