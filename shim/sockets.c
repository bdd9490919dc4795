/*
 * Socket interposition: listen() and bind(). Listeners are counted by
 * scanning descriptors rather than by remembering listen() calls, so that
 * sockets inherited already listening (socket activation) and sockets made
 * with raw system calls (Go) count the same way; listen() only makes the
 * scan happen at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <time.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

#include "drain.h"
#include "fdtab.h"
#include "real.h"
#include "shim.h"
#include "sockets.h"
#include "tree.h"

static int
port_of(const struct sockaddr_storage *ss, uint16_t *port)
{
	if (ss->ss_family == AF_INET)
		*port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		*port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else
		return -1;
	return 0;
}

static int
tcp_listener_port(int fd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int), slen = sizeof(ss);
	int acc = 0, type = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 || !acc)
		return -1;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 || type != SOCK_STREAM)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &slen) == -1)
		return -1;
	return port_of(&ss, port);
}

static int
counts(uint16_t port, const uint16_t *ports, int nports)
{
	if (nports == 0)
		return 1;
	for (int i = 0; i < nports; i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

/*
 * /proc/self/fd, opened once per process and kept at a high number:
 * opendir() at every scan would take the lowest free descriptor, the one
 * the program's next open() expects.
 */
static int
procfd_dir(void)
{
	static pid_t opened_by;
	int fd = ld_own(LD_OWN_PROCFD);

	if (fd >= 0 && opened_by == getpid())
		return fd;
	ld_own_close(LD_OWN_PROCFD);	/* a forked child's copy is its parent's */
	fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	fd = ld_own_hide(fd);
	ld_own_set(LD_OWN_PROCFD, fd);
	opened_by = getpid();
	return fd;
}

struct dirent64_raw {
	uint64_t	d_ino;
	int64_t		d_off;
	unsigned short	d_reclen;
	unsigned char	d_type;
	char		d_name[];
};

/*
 * Calls fn for every descriptor of the process (but the directory's own);
 * stops when fn returns 1. Returns -1 if /proc/self/fd cannot be read.
 */
int
ld_each_fd(int (*fn)(int fd, void *arg), void *arg)
{
	char buf[4096] __attribute__((aligned(8)));
	int dfd = procfd_dir();
	long n;

	if (dfd < 0 || lseek(dfd, 0, SEEK_SET) == -1)
		return -1;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
			const char *errstr;
			int fd = (int)strtonum(d->d_name, 0, INT32_MAX, &errstr);

			off += d->d_reclen;
			if (errstr == NULL && fd != dfd && fn(fd, arg))
				return 0;
		}
	}
	return n < 0 ? -1 : 0;
}

struct each_listener {
	int	skip;
	int	(*fn)(int fd, uint16_t port, void *arg);
	void	*arg;
};

static int
listener_of(int fd, void *arg)
{
	struct each_listener *el = arg;
	uint16_t port;

	/* Ours, or a placeholder where a stopped listener was. */
	if (fd == el->skip || (ld_fd_get(fd) & (LD_FD_OWN | LD_FD_STOPPED)) ||
	    tcp_listener_port(fd, &port) == -1)
		return 0;
	return el->fn(fd, port, el->arg);
}

/* Calls fn for every TCP listener of the process but `skip`; stops when fn returns 1. */
static void
each_listener(int skip, int (*fn)(int fd, uint16_t port, void *arg), void *arg)
{
	struct each_listener el = { skip, fn, arg };

	(void)ld_each_fd(listener_of, &el);
}

struct scan {
	const uint16_t		*ports;
	int			nports;
	uint64_t		seen;
	struct ld_listeners	*out;
	int			*fds, cap, n;
};

static int
scan_one(int fd, uint16_t port, void *arg)
{
	struct scan *sc = arg;

	(void)fd;
	for (int i = 0; i < sc->nports; i++)
		if (sc->ports[i] == port)
			sc->seen |= 1ULL << i;
	if (!counts(port, sc->ports, sc->nports))
		return 0;
	if (sc->out->count++ == 0)
		sc->out->first_port = port;
	return 0;
}

_Atomic int ld_holds_listeners;

int
ld_ports_complete(uint64_t seen, int count, int nports)
{
	if (nports == 0)
		return count > 0;
	return seen == (nports == 64 ? ~0ULL : (1ULL << nports) - 1);
}

void
ld_scan_listeners(const uint16_t *ports, int nports, int skip, struct ld_listeners *out)
{
	struct scan sc = { ports, nports, 0, out, NULL, 0, 0 };

	memset(out, 0, sizeof(*out));
	each_listener(skip, scan_one, &sc);
	out->seen = sc.seen;
	out->all_ports = ld_ports_complete(sc.seen, out->count, nports);
}

static int
list_one(int fd, uint16_t port, void *arg)
{
	struct scan *sc = arg;

	if (counts(port, sc->ports, sc->nports) && sc->n < sc->cap)
		sc->fds[sc->n++] = fd;
	return sc->n == sc->cap;
}

int
ld_listener_fds(const uint16_t *ports, int nports, int skip, int *fds, int cap)
{
	struct ld_listeners unused;
	struct scan sc = { ports, nports, 0, &unused, fds, cap, 0 };

	each_listener(skip, list_one, &sc);
	return sc.n;
}

/*
 * One epoll descriptor's registrations of the socket (ino) at number fd, from
 * /proc/self/fdinfo/<epfd>: "tfd: N events: HEX data: HEX  pos:P ino:HEX
 * sdev:HEX" a line. Returns how many were added to out, or -1.
 */
static int
epoll_regs_of(int dfd, int epfd, int fd, unsigned long ino, struct ld_epoll_reg *out, int cap)
{
	char path[40], buf[4096];
	size_t have = 0;
	ssize_t r;
	int f, n = 0, e;

	snprintf(path, sizeof(path), "../fdinfo/%d", epfd);
	f = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	while ((r = read(f, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *line = buf, *nl;

		have += (size_t)r;
		buf[have] = '\0';
		while ((nl = strchr(line, '\n')) != NULL) {
			char *p, *q;
			long tfd;
			unsigned long events, data, lino;

			*nl = '\0';
			if (strncmp(line, "tfd:", 4) == 0) {
				tfd = strtol(line + 4, &p, 10);
				q = strstr(p, "events:");
				events = q ? strtoul(q + 7, &p, 16) : 0;
				q = q ? strstr(p, "data:") : NULL;
				data = q ? strtoul(q + 5, &p, 16) : 0;
				q = q ? strstr(p, " ino:") : NULL;
				lino = q ? strtoul(q + 5, NULL, 16) : 0;
				if (q != NULL && tfd == fd && lino == ino) {
					if (n == cap) {
						n = -1;
						goto out;
					}
					out[n].epfd = epfd;
					out[n].events = (uint32_t)events;
					out[n].data = (uint64_t)data;
					n++;
				}
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0;	/* no line is that long: skip it */
	}
	if (r < 0)
		n = -1;
out:
	e = errno;
	ld_close(f);
	errno = e;
	return n;
}

struct epfds {
	int	*fds, n, cap, over;
};

static int
epoll_fd_of(int fd, void *arg)
{
	static const char eventpoll[] = "anon_inode:[eventpoll]";
	struct epfds *ef = arg;
	char link[sizeof(eventpoll)], name[16];
	ssize_t len;

	if (ld_fd_get(fd) & LD_FD_OWN)
		return 0;
	snprintf(name, sizeof(name), "%d", fd);
	len = readlinkat(procfd_dir(), name, link, sizeof(link));
	if (len != (ssize_t)sizeof(eventpoll) - 1 || memcmp(link, eventpoll, (size_t)len) != 0)
		return 0;
	if (ef->n == ef->cap) {
		ef->over = 1;
		return 1;
	}
	ef->fds[ef->n++] = fd;
	return 0;
}

int
ld_epoll_fds(int *fds, int cap)
{
	struct epfds ef = { fds, 0, cap, 0 };

	if (ld_each_fd(epoll_fd_of, &ef) == -1 || ef.over)
		return -1;
	return ef.n;
}

int
ld_epoll_regs(int fd, const int *epfds, int nep, struct ld_epoll_reg *out, int cap)
{
	struct stat st;
	int dfd = procfd_dir(), total = 0;

	if (nep < 0 || dfd < 0 || ld_fstat(fd, &st) == -1)
		return -1;
	for (int i = 0; i < nep; i++) {
		int k = epoll_regs_of(dfd, epfds[i], fd, (unsigned long)st.st_ino, out + total,
		    cap - total);

		if (k < 0)
			return -1;
		total += k;
	}
	return total;
}

/*
 * While the drain moves a listener's registrations to its placeholder, the
 * program's epoll_ctl calls on that number wait: one between our reading of
 * the registrations and our EPOLL_CTL_DEL would be lost, one between the DEL
 * and the ADD would fail with ENOENT. Each call counts itself busy in a
 * bucket of its number before looking, and the drain, having named the
 * number, waits for the bucket to empty: one of the two always sees the
 * other.
 */
#define LD_CTL_BUCKETS	64
static _Atomic int held_fd = -1;
static _Atomic int ctl_busy[LD_CTL_BUCKETS];

void
ld_epoll_hold(int fd)
{
	struct timespec ts = { 0, 20 * 1000 };

	atomic_store(&held_fd, fd);
	/* Bounded: a call interrupted by a handler that waits on us must not hang. */
	for (int i = 0; i < 1000 && atomic_load(&ctl_busy[(unsigned)fd % LD_CTL_BUCKETS]) > 0; i++)
		nanosleep(&ts, NULL);
}

void
ld_epoll_release(void)
{
	atomic_store(&held_fd, -1);
}

void
ld_epoll_after_fork(void)
{
	atomic_store(&held_fd, -1);
	for (int i = 0; i < LD_CTL_BUCKETS; i++)
		atomic_store(&ctl_busy[i], 0);
}

static int
mark_inherited(int fd, uint16_t port, void *arg)
{
	struct scan *sc = arg;

	if (counts(port, sc->ports, sc->nports) && ld_fd_get(fd) == 0) {
		ld_fd_set(fd, LD_FD_LISTEN);
		ld_holds_listeners = 1;
	}
	return 0;
}

void
ld_mark_inherited(const uint16_t *ports, int nports)
{
	struct ld_listeners unused;
	struct scan sc = { ports, nports, 0, &unused, NULL, 0, 0 };

	each_listener(-1, mark_inherited, &sc);
}

static int
is_v4_any(const struct in_addr *a)
{
	return a->s_addr == htonl(INADDR_ANY);
}

int
ld_addr_overlaps(int fd, const struct sockaddr *addr, socklen_t len,
    const struct sockaddr_storage *health, int health_any, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t tlen = sizeof(int);
	int type = 0, v6only = 0;
	uint16_t p;

	if (addr == NULL || len < sizeof(sa_family_t) || len > sizeof(ss))
		return 0;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, len);
	if (port_of(&ss, &p) == -1 || p != port)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 || type != SOCK_STREAM)
		return 0;
	if (health_any)
		return 1;	/* [::] dual stack overlaps every address */
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		if (health->ss_family == AF_INET6) {
			const struct in6_addr *h = &((const struct sockaddr_in6 *)health)->sin6_addr;

			return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_UNSPECIFIED(h) ||
			    IN6_ARE_ADDR_EQUAL(a, h);
		}
		tlen = sizeof(v6only);
		(void)getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &tlen);
		if (IN6_IS_ADDR_UNSPECIFIED(a))
			return !v6only;
		return IN6_IS_ADDR_V4MAPPED(a) && memcmp(&a->s6_addr[12],
		    &((const struct sockaddr_in *)health)->sin_addr, 4) == 0;
	}
	if (ss.ss_family == AF_INET && health->ss_family == AF_INET6) {
		const struct in_addr *a = &((struct sockaddr_in *)&ss)->sin_addr;
		const struct in6_addr *h = &((const struct sockaddr_in6 *)health)->sin6_addr;

		/* [::] is dual stack (the shim leaves IPV6_V6ONLY to the kernel's default). */
		if (IN6_IS_ADDR_UNSPECIFIED(h))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(h) &&
		    (is_v4_any(a) || memcmp(&h->s6_addr[12], a, 4) == 0);
	}
	if (ss.ss_family == AF_INET && health->ss_family == AF_INET) {
		const struct in_addr *a = &((struct sockaddr_in *)&ss)->sin_addr;

		return is_v4_any(a) || is_v4_any(&((const struct sockaddr_in *)health)->sin_addr) ||
		    a->s_addr == ((const struct sockaddr_in *)health)->sin_addr.s_addr;
	}
	return 0;
}

int
ld_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		return snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		return snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
	return snprintf(buf, len, "(family %d)", sa->sa_family);
}

LD_EXPORT int
listen(int fd, int backlog)
{
	uint16_t port;
	int r, saved;

	r = ld_real.listen(fd, backlog);
	saved = errno;
	if (r == 0 && atomic_load(&ld_role) != LD_ROLE_NONE && tcp_listener_port(fd, &port) == 0 &&
	    counts(port, ld_cfg.ports, ld_cfg.nports)) {
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

static _Atomic unsigned long long accepted;

unsigned long long
ld_accepted_total(void)
{
	return atomic_load(&accepted);
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

static int
ld_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags, int four)
{
	int saved = errno;

	/* Bounded: a stop that never comes must not hold the program here. */
	for (int waits = 0;; waits++) {
		uint8_t v = ld_fd_get(fd);
		int r;

		if (v & LD_FD_STOPPED) {
			r = ld_drain_take(fd);
			if (r >= 0) {
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
				ld_fd_set(r, LD_FD_CONN);
				atomic_fetch_add_explicit(&accepted, 1, memory_order_relaxed);
				if (!(v & LD_FD_ACCEPTS)) {
					/* First accept here: a worker now, if it is one. */
					int nb = ld_real.fcntl(fd, F_GETFL) & O_NONBLOCK;

					ld_fd_or(fd, LD_FD_ACCEPTS | (nb ? LD_FD_NBLOCK : 0));
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

LD_EXPORT int
accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return ld_accept(fd, addr, alen, 0, 0);
}

LD_EXPORT int
accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	return ld_accept(fd, addr, alen, flags, 1);
}

/*
 * A stopped listener's number holds the placeholder, registered where the
 * real socket was (ld_epoll_hold above). When the drain could not move the
 * registrations (no /proc), the placeholder is in no epoll set and the
 * real socket left them by itself: the program's EPOLL_CTL_DEL (nginx
 * closing its listeners at a graceful stop) finds nothing, and succeeds.
 */
LD_EXPORT int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	_Atomic int *busy = &ctl_busy[(unsigned)fd % LD_CTL_BUCKETS];
	int saved = errno, r;

	for (int waits = 0;; waits++) {
		atomic_fetch_add(busy, 1);
		if (atomic_load(&held_fd) != fd || waits >= 5000)
			break;
		atomic_fetch_sub(busy, 1);
		{
			struct timespec ts = { 0, 20 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	errno = saved;
	r = ld_real.epoll_ctl(epfd, op, fd, ev);
	atomic_fetch_sub(busy, 1);

	if (r == -1 && errno == ENOENT && op == EPOLL_CTL_DEL && (ld_fd_get(fd) & LD_FD_STOPPED)) {
		errno = saved;
		return 0;
	}
	return r;
}
