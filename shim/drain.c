/*
 * Stopping new connections without losing the ones already sent.
 *
 * For each listener that counts, on the shim's thread: a private duplicate
 * keeps the socket while the shim takes every connection already queued on
 * it (they are handed to the program's next accept() calls on that number,
 * see ld_drain_take), then shuts it down, so new connection attempts are
 * refused at once (RST) and threads blocked in accept() wake. At once an
 * idle listener on a loopback port nobody knows (the placeholder) takes its
 * descriptor number: poll() never finds that readable, and a blocking
 * accept() parks on it.
 *
 * A shut-down socket reports EPOLLHUP to every epoll set that holds it,
 * level-triggered and even to a set that asked for no events, until its last
 * reference goes (lighttpd, its listener paused, logs "strange event" in a
 * loop; memcached wakes, finds nothing to accept, and logs it). So before the
 * shutdown the shim reads the program's registrations of the socket under
 * that number from /proc/self/fdinfo of each of its epoll descriptors, takes
 * them out (EPOLL_CTL_DEL), and after the swap adds the placeholder in their
 * place with the same events and data: the program's epoll sets never see
 * the dying socket, and its later EPOLL_CTL_MOD and DEL on the number find
 * what they expect. Its own epoll_ctl calls on the number wait meanwhile
 * (hold, below).
 *
 * When connections were queued, something must wake the program to accept
 * them: the placeholder is rung first, with a connection of ours to its own
 * port (a doorbell), so epoll, poll() and select() see the number readable.
 * accept() serves the queue first; whoever takes the last queued connection
 * takes the doorbell out too (unring), so the program is not woken again for
 * nothing, and an accept() that meets a doorbell closes it and goes on.
 *
 * When /proc cannot be read, or ringing fails (or 8 placeholders are rung
 * already), the old way: the socket keeps its number until its queue is
 * handed over, and its EPOLLIN | EPOLLHUP (shut_listener) is what wakes the
 * program. A listener this process did not
 * make (socket activation, a hand-over to a successor), or made and accepts
 * from with raw system calls (Go), is never shut down: this process only
 * stops accepting on it (its number and registrations move all the same).
 */
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <linux/sockios.h>
#else
#define SIOCINQ		FIONREAD	/* <linux/sockios.h>: musl-gcc has no kernel headers */
#define SIOCOUTQ	TIOCOUTQ
#endif
#include <stdatomic.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conns.h"
#include "drain.h"
#include "fdtab.h"
#include "procfs.h"
#include "rawconn.h"
#include "real.h"

#define LD_MAX_STOPPED	64
#define LD_STASH_MAX	4096

static struct {
	int	fd;		/* the program's number */
	int	priv;		/* our duplicate of the real socket, -1 once swapped */
	int	nonblock;	/* the placeholder copies the program's mode */
	int	deferred;	/* made here but never accepted from: shut down later */
	_Atomic int rung;	/* its placeholder holds a doorbell */
	int	bell;		/* then our own reference to it is in LD_OWN_BELL0 + bell */
	uint16_t port;		/* where it listened */
} stopped[LD_MAX_STOPPED];
static int nstopped;

static struct {
	int		listener;
	_Atomic int	conn;	/* -1 once handed over */
} stash[LD_STASH_MAX];
static _Atomic int nstash;

/*
 * A program that serves one connection at a time and waits on it for the
 * next request (uWSGI's --http11-socket workers, each blocked in poll() on a
 * keep-alive connection the balancer no longer uses) never comes back to
 * accept() the connections queued for it. When nothing was taken from the
 * stash for LD_STASH_WAIT_MS, its idle connections (not in flight, see
 * count_one) are shut down for reading: it reads end-of-file, closes them
 * and accepts.
 */
#define LD_STASH_WAIT_MS	100
static _Atomic long long stash_moved_ms;	/* the last hand-over, or the taking */

static int	stash_left(int listener);
static void	unring(int i);

/*
 * While the drain moves a listener's registrations to its placeholder, the
 * program's epoll_ctl calls on that number wait: one between our reading of
 * the registrations and our EPOLL_CTL_DEL would be lost, one between the DEL
 * and the ADD would fail with ENOENT. Each call counts itself busy in a
 * bucket of its number before looking (ld_drain_epoll_ctl), and the drain,
 * having named the number (hold), waits for the bucket to empty: one of the
 * two always sees the other.
 */
#define LD_CTL_BUCKETS	64
static _Atomic int held_fd = -1;
static _Atomic int ctl_busy[LD_CTL_BUCKETS];

static void
hold(int fd)
{
	struct timespec ts = { 0, 20 * 1000 };

	atomic_store(&held_fd, fd);
	/* Bounded: a call interrupted by a handler that waits on us must not hang. */
	for (int i = 0; i < 1000 && atomic_load(&ctl_busy[(unsigned)fd % LD_CTL_BUCKETS]) > 0; i++)
		nanosleep(&ts, NULL);
}

static void
release(void)
{
	atomic_store(&held_fd, -1);
}

/*
 * The program's epoll_ctl. A stopped listener's number holds the
 * placeholder, registered where the real socket was. When the drain could
 * not move the registrations (no /proc), the placeholder is in no epoll set
 * and the real socket left them by itself: the program's EPOLL_CTL_DEL
 * (nginx closing its listeners at a graceful stop) finds nothing, and
 * succeeds.
 */
/* Out of the hot path: the drain holds fd; wait until it lets go (bounded). */
static void __attribute__((noinline, cold))
wait_unheld(_Atomic int *busy, int fd)
{
	int saved = errno;

	for (int waits = 0; atomic_load(&held_fd) == fd && waits < 5000; waits++) {
		struct timespec ts = { 0, 20 * 1000 };

		atomic_fetch_sub(busy, 1);
		nanosleep(&ts, NULL);
		atomic_fetch_add(busy, 1);
	}
	errno = saved;
}

int
ld_drain_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	_Atomic int *busy = &ctl_busy[(unsigned)fd % LD_CTL_BUCKETS];
	int saved, r;

	atomic_fetch_add(busy, 1);
	if (atomic_load(&held_fd) == fd)
		wait_unheld(busy, fd);
	if (op != EPOLL_CTL_DEL) {
		r = ld_real.epoll_ctl(epfd, op, fd, ev);
		atomic_fetch_sub(busy, 1);
		return r;
	}
	saved = errno;
	r = ld_real.epoll_ctl(epfd, op, fd, ev);
	atomic_fetch_sub(busy, 1);
	if (r == -1 && errno == ENOENT && (ld_fd_get(fd) & LD_FD_STOPPED)) {
		errno = saved;
		return 0;
	}
	return r;
}


/*
 * What takes a stopped listener's number: a TCP listener of the same family
 * on a loopback port nobody knows, so it never becomes readable and looks
 * like what the program had (gunicorn unlinks AF_UNIX listeners by name).
 */
static int
placeholder(int like, int nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (getsockname(like, (struct sockaddr *)&ss, &len) == -1)
		ss.ss_family = AF_INET;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		memset(s4, 0, sizeof(*s4));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd == -1)
		return -1;
	if (ld_real.bind(fd, (struct sockaddr *)&ss, len) == -1 || ld_real.listen(fd, 1) == -1) {
		ld_close(fd);
		return -1;
	}
	return fd;
}

/*
 * The inodes of every placeholder made here, so that accept() knows one
 * (ld_drain_placeholder). Kept across fork: a child shares its parent's.
 */
static _Atomic unsigned long ph_inos[LD_MAX_STOPPED];
static _Atomic int nph;

static void
remember_placeholder(int ph)
{
	struct stat st;
	int n = atomic_load(&nph);

	if (ld_fstat(ph, &st) == -1)
		return;
	if (n == LD_MAX_STOPPED)
		n = 0;	/* full (a child's drains after its parent's): reuse the oldest */
	atomic_store(&ph_inos[n], (unsigned long)st.st_ino);
	atomic_store(&nph, n + 1);
}

int
ld_drain_placeholder(int fd)
{
	struct stat st;
	int e = errno;

	if (ld_fstat(fd, &st) == -1) {
		errno = e;
		return 0;
	}
	for (int i = 0; i < LD_MAX_STOPPED; i++)
		if (atomic_load(&ph_inos[i]) == (unsigned long)st.st_ino)
			return 1;
	return 0;
}

/*
 * Rings the placeholder: one connection of ours waits in its queue, so that
 * the program's epoll set, poll() or select() sees its number readable and
 * calls accept(), which hands out the queue we hold for it (the accept
 * wrappers close the doorbell itself). Bounded: loopback answers at once.
 */
static int
ring(int ph)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), elen = sizeof(int);
	struct pollfd pfd;
	int c, err = 0, ok = 0;

	if (getsockname(ph, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c < 0)
		return -1;
	if (connect(c, (struct sockaddr *)&ss, len) == 0 || errno == EINPROGRESS) {
		pfd.fd = c;
		pfd.events = POLLOUT;
		ok = poll(&pfd, 1, 200) == 1 &&
		    getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0;
	}
	if (ok) {
		/* In its queue before the program can look. */
		pfd.fd = ph;
		pfd.events = POLLIN;
		ok = poll(&pfd, 1, 200) == 1;
	}
	ld_close(c);
	return ok ? 0 : -1;
}

/*
 * The placeholder takes the stopped listener's number. With ringing, it is
 * made readable first (the program has queued connections to accept). It
 * is made and rung before the number is looked at, so that the program has
 * the least time to close and reuse the number in between. If it cannot be
 * made or rung, nothing changes (the socket keeps its number, and swap_out
 * tries again) and -1 tells the caller; -1 too, with priv closed, if the
 * program closed the number meanwhile.
 */
static int
swap_in(int i, int ringing)
{
	int fd = stopped[i].fd, ph, cloexec, bell = -1;

	if (stopped[i].priv < 0)
		return 0;
	if (ringing) {
		/*
		 * A rung placeholder is kept in a slot of ours until its
		 * doorbell is out (unring accepts from that reference, never
		 * from the program's number, which it may have closed and
		 * reused). Only this thread takes slots.
		 */
		for (int b = 0; b < LD_OWN_CLIENT0 - LD_OWN_BELL0 && bell < 0; b++)
			if (ld_own(LD_OWN_BELL0 + b) < 0)
				bell = b;
		if (bell < 0)
			return -1;	/* the old way */
	}
	ph = placeholder(stopped[i].priv, stopped[i].nonblock);
	if (ph < 0)
		return -1;
	if (ringing && ring(ph) == -1) {
		ld_close(ph);
		return -1;
	}
	if (!(ld_fd_get(fd) & LD_FD_STOPPED)) {
		/* The program closed it meanwhile: the number may be another's now. */
		ld_close(ph);
		ld_close(stopped[i].priv);
		stopped[i].priv = -1;
		return -1;
	}
	remember_placeholder(ph);
	cloexec = ld_real.fcntl(fd, F_GETFD) & FD_CLOEXEC;
	ld_dup3(ph, fd, cloexec ? O_CLOEXEC : 0);
	if (ringing) {
		stopped[i].bell = bell;
		ld_own_set(LD_OWN_BELL0 + bell, ld_own_hide(ph));
	} else {
		ld_close(ph);
	}
	if (ringing) {
		/*
		 * The program may have taken the whole queue already;
		 * ld_drain_take looks at rung after emptying the queue, we
		 * at the queue after setting rung: one of the two takes the
		 * doorbell out.
		 */
		atomic_store(&stopped[i].rung, 1);
		if (stash_left(fd) == 0)
			unring(i);
	}
	ld_close(stopped[i].priv);
	stopped[i].priv = -1;
	return 0;
}

/* Is fd still what stop_listener left there: the placeholder, or the socket itself? */
static int
still_there(int i, int swapped)
{
	struct stat a, b;

	if (swapped)
		return ld_drain_placeholder(stopped[i].fd);
	return stopped[i].priv >= 0 && ld_fstat(stopped[i].fd, &a) == 0 &&
	    ld_fstat(stopped[i].priv, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/*
 * Takes the doorbell out of stopped listener i's placeholder, if it still
 * has it: without it the placeholder is never readable, and the program,
 * having had the whole queue, is not woken again for nothing (memcached
 * logs every accept() that finds nothing). It is taken through our own
 * reference to the placeholder, so whatever the program has done with the
 * number since (closed it, put another file there, locked that file), only
 * the doorbell can be taken. The placeholder's mode is the program's: a
 * blocking one is made non-blocking for the instant (an accept() that meets
 * that EAGAIN waits and tries again, see sockets.c).
 */
static void
unring(int i)
{
	int slot = LD_OWN_BELL0 + stopped[i].bell, ph, fl, c, e = errno;

	if (!atomic_exchange(&stopped[i].rung, 0))
		return;
	ph = ld_own(slot);
	if (ph >= 0) {
		fl = ld_real.fcntl(ph, F_GETFL);
		if (fl != -1 && !(fl & O_NONBLOCK))
			(void)ld_real.fcntl(ph, F_SETFL, fl | O_NONBLOCK);
		c = ld_real.accept4(ph, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			ld_close(c);
		if (fl != -1 && !(fl & O_NONBLOCK)) {
			/* Only our bit: the program may have set others meanwhile. */
			int now = ld_real.fcntl(ph, F_GETFL);

			if (now != -1)
				(void)ld_real.fcntl(ph, F_SETFL, now & ~O_NONBLOCK);
		}
	}
	ld_own_close(slot);
	errno = e;
}

static void
swap_out(int i)
{
	(void)swap_in(i, 0);
}

/*
 * Shuts a listener down: Linux resets its queue and refuses new connection
 * attempts. The first shutdown(SHUT_RD) only closes it, which polls as
 * EPOLLHUP alone, and some event loops never call accept() on that
 * (lighttpd: "strange event for server socket", in a loop, with the queue
 * we hold for it never taken). The second one, on the closed socket, fails
 * with ENOTCONN but marks its reading side shut, which polls as EPOLLIN |
 * EPOLLHUP: every loop then calls accept() and gets what we hold for it,
 * then the placeholder's EAGAIN.
 */
static void
shut_listener(int priv)
{
	int e = errno;

	(void)shutdown(priv, SHUT_RD);
	(void)shutdown(priv, SHUT_RD);
	errno = e;
}

static int
stash_left(int listener)
{
	int n = atomic_load(&nstash), left = 0;

	for (int i = 0; i < n; i++)
		if (atomic_load(&stash[i].conn) >= 0 && (listener < 0 || stash[i].listener == listener))
			left++;
	return left;
}

static int
take_queue(int fd, int priv)
{
	int n = 0, c, slot, fl = ld_real.fcntl(priv, F_GETFL);

	/*
	 * The mode belongs to the socket's open file, which other processes
	 * of the tree share: set it only while taking the queue (their
	 * accept() wrappers wait out an EAGAIN meanwhile).
	 */
	(void)ld_real.fcntl(priv, F_SETFL, fl | O_NONBLOCK);
	while ((slot = atomic_load(&nstash)) < LD_STASH_MAX &&
	    (c = ld_real.accept4(priv, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		stash[slot].listener = fd;
		atomic_store(&stash[slot].conn, c);
		atomic_store(&nstash, slot + 1);
		n++;
	}
	if (n > 0)
		atomic_store(&stash_moved_ms, ld_now_ms());
	(void)ld_real.fcntl(priv, F_SETFL, fl);
	return n;
}

struct known {
	int	*fds;
	int	n;
};

static void
add_known(int fd, uint8_t v, void *arg)
{
	struct known *k = arg;

	(void)v;
	for (int i = 0; i < k->n; i++)
		if (k->fds[i] == fd)
			return;
	if (k->n < LD_MAX_STOPPED)
		k->fds[k->n++] = fd;
}

static uint16_t
local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint16_t port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 || ld_addr_port(&ss, &port) == -1)
		return 0;
	return port;
}

static int
listening(int fd)
{
	socklen_t len = sizeof(int);
	int acc = 0;

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc;
}

#define LD_MAX_REGS	256
#define LD_MAX_EPFDS	256

/*
 * Stops listener i and swaps the placeholder in at once, in the program's
 * epoll sets too: its registrations under that number leave before the
 * shutdown (a shut-down socket reports EPOLLHUP to every set that holds it,
 * even to one that asked for no events) and the placeholder comes back in
 * their place with the same events and data, so the program's later
 * EPOLL_CTL_MOD and DEL on the number find it. When the registrations
 * cannot be read (no /proc) or moving fails, the old way: the socket stays
 * on its number (and in the sets) until its queue is handed over.
 */
static int
stop_listener(int i, int take, int shut)
{
	struct ld_epoll_reg regs[LD_MAX_REGS];
	int epfds[LD_MAX_EPFDS], nep;
	int fd = stopped[i].fd, nregs, queued = 0, swapped;
	int e = errno;

	/*
	 * The epoll descriptors are listed before the program's epoll_ctl
	 * calls on fd are held: that takes a look at every descriptor.
	 */
	nep = ld_epoll_fds(epfds, LD_MAX_EPFDS);
	hold(fd);
	nregs = ld_epoll_regs(fd, epfds, nep, regs, LD_MAX_REGS);
	for (int r = 0; r < nregs; r++)
		(void)ld_real.epoll_ctl(regs[r].epfd, EPOLL_CTL_DEL, fd, NULL);
	if (take)
		queued = take_queue(fd, stopped[i].priv);
	if (shut)
		shut_listener(stopped[i].priv);
	if (nregs < 0 && stash_left(fd) > 0)
		swapped = 0;	/* the old way: a shut-down socket wakes the program */
	else
		swapped = swap_in(i, stash_left(fd) > 0) == 0;
	/*
	 * Where it was: the placeholder, or (not swapped) the socket itself,
	 * unless the program closed the number meanwhile (it may be another
	 * descriptor of the program's now).
	 */
	if (still_there(i, swapped))
		for (int r = 0; r < nregs; r++) {
			struct epoll_event ev;

			memset(&ev, 0, sizeof(ev));
			ev.events = regs[r].events;
			ev.data.u64 = regs[r].data;
			(void)ld_real.epoll_ctl(regs[r].epfd, EPOLL_CTL_ADD, fd, &ev);
		}
	release();
	errno = e;
	return queued;
}

void
ld_drain_begin(const uint16_t *ports, int nports, int skip, int defer,
    struct ld_drain_start *out)
{
	int fds[LD_MAX_STOPPED];
	struct known kn = { fds, 0 };

	out->listeners = out->queued = out->inherited = 0;
	kn.n = ld_listener_fds(ports, nports, skip, fds, LD_MAX_STOPPED);
	/* Listeners another process of the tree has shut down no longer show as such. */
	ld_fd_each(LD_FD_LISTEN, add_known, &kn);
	for (int i = 0; i < kn.n && nstopped < LD_MAX_STOPPED; i++) {
		int fd = fds[i], k = nstopped;
		uint8_t v = ld_fd_get(fd);
		/*
		 * Not in the table: made and accepted from with raw system
		 * calls (Go). Shut down, it would make Go's Serve() return an
		 * error that most programs treat as fatal; taking its number
		 * instead parks its accept loop, and the socket closes with
		 * its last reference.
		 */
		int made = (v & LD_FD_MADE) != 0;
		int accepts = (v & LD_FD_ACCEPTS) != 0;

		if (v & LD_FD_STOPPED)
			continue;
		if (!accepts)
			ld_raw_note_listener(fd);
		stopped[k].fd = fd;
		stopped[k].nonblock = (ld_real.fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
		stopped[k].priv = ld_real.fcntl(fd, F_DUPFD_CLOEXEC, 3);
		stopped[k].port = local_port(fd);
		stopped[k].deferred = 0;
		if (stopped[k].priv < 0)
			continue;
		ld_fd_set(fd, (uint8_t)((v & ~LD_FD_TYPE & 0xff) | LD_FD_LISTEN | LD_FD_STOPPED));
		nstopped++;
		out->listeners++;
		if (!listening(fd)) {
			/* Shut down already (by another process of the tree): only the number to take. */
			(void)stop_listener(k, 0, 0);
			continue;
		}
		if (!made) {
			out->inherited++;
			(void)stop_listener(k, 0, 0);
			continue;
		}
		if (!accepts && defer == LD_DRAIN_OWNER) {
			/*
			 * A master that never accepts (its workers do): they take
			 * the queue first; the owner shuts the socket down after.
			 */
			stopped[k].deferred = 1;
			continue;
		}
		if (!accepts && defer == LD_DRAIN_MEMBER) {
			/*
			 * A worker's copy of a socket it never accepted from (a
			 * sibling's, as with nginx's reuseport): shutting it down
			 * would reset the queue its sibling is about to take.
			 * Only this process stops; the owner shuts it down.
			 */
			(void)stop_listener(k, 0, 0);
			continue;
		}
		out->queued += stop_listener(k, accepts, 1);
	}
}

void
ld_drain_shutdown_deferred(void)
{
	for (int i = 0; i < nstopped; i++)
		if (stopped[i].deferred && stopped[i].priv >= 0) {
			stopped[i].deferred = 0;
			(void)stop_listener(i, 0, 1);
			swap_out(i);	/* even if the program closed it meanwhile */
		}
}

struct count {
	long	n[2];	/* in flight, open */
	int	nudge;	/* shut idle ones down for reading (LD_STASH_WAIT_MS) */
	int	(*h2_busy)(int fd);
};

static void
count_one(int fd, uint8_t v, void *arg)
{
	struct count *c = arg;
	int q = 0, type = 0;
	socklen_t len = sizeof(type);

	/* Closed behind our back (fclose() closes inside libc): forget it. */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 || type != SOCK_STREAM) {
		ld_fd_set(fd, 0);
		return;
	}

	/*
	 * An HTTP/2 connection is in flight while a stream is open on it (or a
	 * frame is cut): its reads and writes say nothing of requests. Since
	 * its GOAWAY its client opens no stream on it.
	 */
	if (((v & LD_FD_H2) ? c->h2_busy(fd) : (v & LD_FD_READ) != 0) ||
	    (ioctl(fd, SIOCINQ, &q) == 0 && q > 0) ||
	    (ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0))
		c->n[0]++;
	else if (c->nudge)
		(void)shutdown(fd, SHUT_RD);
	c->n[1]++;
}

long
ld_drain_in_flight(long *connections, int (*h2_busy)(int fd))
{
	struct count c = { { 0, 0 }, 0, h2_busy };
	long raw, raw_open;
	int left;

	for (int i = 0; i < nstopped; i++)
		if (stopped[i].priv >= 0 && !stopped[i].deferred && stash_left(stopped[i].fd) == 0)
			swap_out(i);
	/* Queued connections the program has not taken yet are in flight too. */
	left = stash_left(-1);
	c.nudge = left > 0 && ld_now_ms() - atomic_load(&stash_moved_ms) >= LD_STASH_WAIT_MS;
	ld_fd_each(LD_FD_CONN, count_one, &c);
	raw = ld_raw_in_flight(&raw_open, ld_drain_stashed);
	if (connections != NULL)
		*connections = c.n[1] + raw_open + left;
	return c.n[0] + raw + left;
}

/* Queued connections nobody took: close them, so their clients hear of it. */
static void
close_stash(void)
{
	int n = atomic_load(&nstash);

	for (int i = 0; i < n; i++) {
		int c = atomic_exchange(&stash[i].conn, -1);

		if (c >= 0)
			ld_close(c);
	}
	for (int i = 0; i < nstopped; i++)
		unring(i);
}

void
ld_drain_end(void)
{
	ld_drain_shutdown_deferred();
	for (int i = 0; i < nstopped; i++) {
		swap_out(i);
		if (stopped[i].priv >= 0) {
			/* No placeholder could be made: the program keeps the socket. */
			ld_close(stopped[i].priv);
			stopped[i].priv = -1;
		}
	}
	close_stash();
}

void
ld_drain_after_fork(void)
{
	/*
	 * The parent's: a child must neither hand them out nor keep them open,
	 * nor take a doorbell out of a placeholder it shares with its parent.
	 */
	atomic_store(&held_fd, -1);
	for (int i = 0; i < LD_CTL_BUCKETS; i++)
		atomic_store(&ctl_busy[i], 0);
	ld_raw_forget();
	for (int i = 0; i < LD_MAX_STOPPED; i++)
		atomic_store(&stopped[i].rung, 0);
	for (int b = LD_OWN_BELL0; b < LD_OWN_CLIENT0; b++)
		ld_own_close(b);
	close_stash();
	atomic_store(&nstash, 0);
	for (int i = 0; i < nstopped; i++)
		if (stopped[i].priv >= 0)
			ld_close(stopped[i].priv);
	nstopped = 0;
}

int
ld_drain_stopped_port(uint16_t port)
{
	for (int i = 0; i < nstopped; i++)
		if (port != 0 && stopped[i].port == port)
			return 1;
	return 0;
}

int
ld_drain_stashed(int fd)
{
	int n = atomic_load(&nstash);

	for (int i = 0; i < n; i++)
		if (atomic_load(&stash[i].conn) == fd)
			return 1;
	return 0;
}

int
ld_drain_take(int listener)
{
	int n = atomic_load(&nstash);

	for (int i = 0; i < n; i++) {
		int c;

		if (stash[i].listener != listener || atomic_load(&stash[i].conn) < 0)
			continue;
		c = atomic_exchange(&stash[i].conn, -1);
		if (c >= 0) {
			ld_fd_set(c, ld_conn_entry());
			atomic_store(&stash_moved_ms, ld_now_ms());
			if (stash_left(listener) == 0)
				/* The last: the program needs no more waking for it. */
				for (int k = 0; k < LD_MAX_STOPPED; k++)
					if (atomic_load(&stopped[k].rung) && stopped[k].fd == listener)
						unring(k);
			return c;
		}
	}
	return -1;
}
