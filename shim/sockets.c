/*
 * Socket interposition: listen(), bind(), accept() and epoll_ctl(). listen()
 * marks a listener that counts and makes the owner look at once (listeners
 * are found by scanning, see procfs.c); bind() gives the health port up to
 * the program; accept() hands out what the drain holds for a stopped
 * listener and counts what it accepts.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conns.h"
#include "drain.h"
#include "fdtab.h"
#include "health.h"
#include "procfs.h"
#include "real.h"
#include "shim.h"
#include "sockets.h"
#include "tree.h"

LD_EXPORT int
listen(int fd, int backlog)
{
	uint16_t port;
	int r, saved;

	r = ld_real.listen(fd, backlog);
	saved = errno;
	if (r == 0 && atomic_load(&ld_role) != LD_ROLE_NONE && ld_listener_port(fd, &port) == 0 &&
	    ld_port_counts(port, ld_cfg.ports, ld_cfg.nports)) {
		ld_fd_set(fd, LD_FD_LISTEN | LD_FD_MADE);
		ld_holds_listeners = 1;
		ld_on_listen();
	}
	errno = saved;
	return r;
}

LD_EXPORT int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	int r;

	if (atomic_load(&ld_role) == LD_ROLE_OWNER)
		ld_health_yield(fd, addr, len);
	r = ld_real.bind(fd, addr, len);
	/* A member's clash with the owner's health port: the program wins it too. */
	if (r == -1 && errno == EADDRINUSE && atomic_load(&ld_role) == LD_ROLE_MEMBER &&
	    ld_health_ask(fd, addr, len) == 0)
		r = ld_real.bind(fd, addr, len);
	return r;
}

static _Atomic int accepted_here;

int
ld_accepted_here(void)
{
	return atomic_load_explicit(&accepted_here, memory_order_relaxed);
}

/* During a drain, on a listener the program accepts from in blocking mode. */
static int
stopping(int fd)
{
	uint8_t v = ld_fd_get(fd);

	if ((v & LD_FD_TYPE) != LD_FD_LISTEN || (v & LD_FD_NBLOCK) || !(v & LD_FD_ACCEPTS))
		return 0;
	return (v & LD_FD_STOPPED) || (ld_tree != NULL && atomic_load(&ld_tree->stop) > 0);
}

/* A connection from a stopped listener's queue, as accept4 would have made it. */
static int
hand_over(int c, struct sockaddr *addr, socklen_t *alen, int flags)
{
	if (addr != NULL && alen != NULL)
		(void)getpeername(c, addr, alen);
	if (!(flags & SOCK_CLOEXEC))
		(void)ld_real.fcntl(c, F_SETFD, 0);
	if (flags & SOCK_NONBLOCK)
		(void)ld_real.fcntl(c, F_SETFL, ld_real.fcntl(c, F_GETFL) | O_NONBLOCK);
	return c;
}

/* Everything but the plain case below; saved is the caller's errno. */
static int
accept_slow(int fd, struct sockaddr *addr, socklen_t *alen, int flags, int four, int saved)
{
	/* Bounded: a stop that never comes must not hold the program here. */
	for (int waits = 0;; waits++) {
		uint8_t v = ld_fd_get(fd);
		int r;

		if (v & LD_FD_STOPPED) {
			r = ld_drain_take(fd);
			if (r >= 0) {
				if (ld_conn_retiring())
					ld_conn_reset(r);
				errno = saved;
				return hand_over(r, addr, alen, flags);
			}
		}
		r = four ? ld_real.accept4(fd, addr, alen, flags) : ld_real.accept(fd, addr, alen);
		if (r >= 0 && (ld_fd_get(fd) & LD_FD_STOPPED) && ld_drain_placeholder(fd)) {
			/*
			 * The doorbell that woke the program for the queue
			 * we hold (taken above first): never the program's.
			 */
			ld_close(r);
			continue;
		}
		if (r >= 0) {
			if ((v & LD_FD_TYPE) == LD_FD_LISTEN) {
				ld_fd_set(r, ld_conn_entry());
				if (ld_conn_retiring())
					ld_conn_reset(r);
				ld_tree_count_accept();
				if (!(v & LD_FD_ACCEPTS)) {
					/* First accept here: a worker now, if it is one. */
					int nb = ld_real.fcntl(fd, F_GETFL) & O_NONBLOCK;

					ld_fd_or(fd, LD_FD_ACCEPTS | (nb ? LD_FD_NBLOCK : 0));
					atomic_store(&accepted_here, 1);
					ld_on_accept();
				}
			}
			errno = saved;
			return r;
		}
		if (errno == EAGAIN && waits < 1000 && stopping(fd)) {
			/*
			 * Another process of the tree is taking the shared
			 * queue, with the socket briefly non-blocking: a
			 * program that accepts blocking waits, as it would.
			 */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			(void)poll(&pfd, 1, 10);
			continue;
		}
		if (errno == EINVAL && waits < 1000 && (v & LD_FD_TYPE) == LD_FD_LISTEN &&
		    !(v & LD_FD_STOPPED) && ld_tree != NULL && atomic_load(&ld_tree->stop) > 0 &&
		    atomic_load(&ld_role) == LD_ROLE_MEMBER) {
			/*
			 * A worker that never accepted before the drain: the
			 * owner shut the shared socket down. Its thread stops
			 * this process's copy; wait for it, as below.
			 */
			struct timespec ts = { 0, 1000 * 1000 };

			ld_on_accept();
			nanosleep(&ts, NULL);
			continue;
		}
		if (errno == EINVAL && waits < 1000 && (ld_fd_get(fd) & LD_FD_STOPPED)) {
			/*
			 * Shut down under us by the drain, between its shutdown
			 * and the placeholder taking the number (at once, or
			 * within a drain tick when it could not move the epoll
			 * registrations): the queue it took, or the placeholder.
			 */
			struct timespec ts = { 0, 1000 * 1000 };

			nanosleep(&ts, NULL);
			continue;
		}
		return r;
	}
}

/*
 * The plain case, on the hot path: a listener that counts, that this process
 * has accepted from before, and that the drain has not stopped. Anything
 * else, and any error but a non-blocking listener's EAGAIN or a plain
 * failure, goes to accept_slow, which looks again.
 */
static inline int
accept_one(int fd, struct sockaddr *addr, socklen_t *alen, int flags, int four)
{
	_Atomic uint8_t *e = ld_fd_slot(fd), *ce;
	int r;
	uint8_t v;

	v = e != 0 ? atomic_load_explicit(e, memory_order_acquire) : 0;
	if ((v & (LD_FD_TYPE | LD_FD_ACCEPTS | LD_FD_STOPPED)) != (LD_FD_LISTEN | LD_FD_ACCEPTS))
		return accept_slow(fd, addr, alen, flags, four, errno);
	r = four ? ld_real.accept4(fd, addr, alen, flags) : ld_real.accept(fd, addr, alen);
	if (r < 0) {
		/* errno is the failure's now: a later success may leave it so, as libc may. */
		if (errno == EINVAL || (errno == EAGAIN && !(v & LD_FD_NBLOCK)))
			return accept_slow(fd, addr, alen, flags, four, errno);
		return r;
	}
	if ((atomic_load_explicit(e, memory_order_acquire) & LD_FD_STOPPED) &&
	    ld_drain_placeholder(fd)) {
		/* Stopped meanwhile, and this is the placeholder's doorbell. */
		ld_close(r);
		return accept_slow(fd, addr, alen, flags, four, errno);
	}
	ce = ld_fd_slot(r);
	if (ce != 0)
		atomic_store_explicit(ce, ld_conn_entry(), memory_order_release);
	else {
		int saved = errno;

		ld_fd_set(r, ld_conn_entry());	/* a new page of the table */
		errno = saved;
	}
	if (ld_conn_retiring())
		ld_conn_reset(r);	/* the number's last connection was retired */
	ld_tree_count_accept();
	return r;
}

LD_EXPORT int
accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return accept_one(fd, addr, alen, 0, 0);
}

LD_EXPORT int
accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	return accept_one(fd, addr, alen, flags, 1);
}

/* The drain may be moving this number's registrations: see drain.c. */
LD_EXPORT int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return ld_drain_epoll_ctl(epfd, op, fd, ev);
}
