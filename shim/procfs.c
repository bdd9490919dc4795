/*
 * What /proc tells of this process: its descriptors (/proc/self/fd), which
 * of them are TCP listeners, and where its epoll sets hold a socket
 * (/proc/self/fdinfo). Listeners are counted by scanning descriptors rather
 * than by remembering listen() calls, so that sockets inherited already
 * listening (socket activation) and sockets made with raw system calls (Go)
 * count the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

#include "fdtab.h"
#include "procfs.h"
#include "real.h"

int
ld_addr_port(const struct sockaddr_storage *ss, uint16_t *port)
{
	if (ss->ss_family == AF_INET)
		*port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		*port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else
		return -1;
	return 0;
}

int
ld_listener_port(int fd, uint16_t *port)
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
	return ld_addr_port(&ss, port);
}

int
ld_port_counts(uint16_t port, const uint16_t *ports, int nports)
{
	if (nports == 0)
		return 1;
	for (int i = 0; i < nports; i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

/*
 * /proc/self/fd, opened at the first scan and kept at a high number:
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
	    ld_listener_port(fd, &port) == -1)
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
	if (!ld_port_counts(port, sc->ports, sc->nports))
		return 0;
	if (sc->out->count++ == 0)
		sc->out->first_port = port;
	return 0;
}

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

	if (ld_port_counts(port, sc->ports, sc->nports) && sc->n < sc->cap)
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
	while ((r = ld_real.read(f, buf + have, sizeof(buf) - 1 - have)) > 0) {
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

static int
mark_inherited(int fd, uint16_t port, void *arg)
{
	struct scan *sc = arg;

	if (ld_port_counts(port, sc->ports, sc->nports) && ld_fd_get(fd) == 0) {
		ld_fd_set(fd, LD_FD_LISTEN);
		ld_holds_listeners = 1;
	}
	return 0;
}

void
ld_mark_inherited(const uint16_t *ports, int nports, int keep)
{
	struct ld_listeners unused;
	struct scan sc = { ports, nports, 0, &unused, NULL, 0, 0 };
	int had = ld_own(LD_OWN_PROCFD) >= 0;

	each_listener(-1, mark_inherited, &sc);
	/* At start: a process that may never scan again keeps no directory open. */
	if (!had && !keep)
		ld_own_close(LD_OWN_PROCFD);
}

int
ld_procfs_open(void)
{
	return procfd_dir() >= 0 ? 0 : -1;
}
