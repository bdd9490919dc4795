/*
 * Another process's TCP sockets, as the kernel shows them to its parent:
 * /proc/PID/fd names each socket's inode, and a sock_diag dump (NETLINK_
 * SOCK_DIAG, inet_diag_req_v2) gives every TCP socket of the network
 * namespace with its inode, state, queues and tcp_info. Joining the two by
 * inode tells which of the namespace's sockets are the program's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "sockdiag.h"

static int nlfd = -1;
static uint32_t seq;

/*
 * One request: a dump of every socket in `states`, or (id set) the one
 * socket with that address and cookie, found by the kernel's own lookup
 * rather than a walk of its tables.
 */
static int
ask(int family, const struct inet_diag_sockid *id, uint32_t states, int info,
    int (*fn)(const struct ld_sock *, void *), void *arg)
{
	struct {
		struct nlmsghdr		nlh;
		struct inet_diag_req_v2	req;
	} q;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	static char buf[32768] __attribute__((aligned(8)));
	int stop = 0;

	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST | (id == NULL ? NLM_F_DUMP : 0);
	q.nlh.nlmsg_seq = ++seq;
	q.req.sdiag_family = (uint8_t)family;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = states;
	q.req.idiag_ext = info ? 1U << (INET_DIAG_INFO - 1) : 0;
	if (id != NULL)
		q.req.id = *id;
	if (sendto(nlfd, &q, sizeof(q), 0, (struct sockaddr *)&kernel, sizeof(kernel)) == -1)
		return -1;
	for (;;) {
		ssize_t n = recv(nlfd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* EAGAIN: no answer within the receive timeout. */
			if (n == 0)
				errno = EPROTO;
			return -1;
		}
		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			struct ld_sock s;
			struct rtattr *a;
			int alen;

			/* What is left of an earlier request (one that timed out) is not ours. */
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				errno = e->error < 0 ? -e->error : EPROTO;
				return -1;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || stop ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			memset(&s, 0, sizeof(s));
			s.family = m->idiag_family;
			s.ino = m->idiag_inode;
			s.port = ntohs(m->id.idiag_sport);
			s.state = m->idiag_state;
			s.rqueue = m->idiag_rqueue;
			s.wqueue = m->idiag_wqueue;
			s.id = m->id;
			alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
			for (a = (struct rtattr *)((char *)(uintptr_t)m + NLMSG_ALIGN(sizeof(*m)));
			    RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (a->rta_type != INET_DIAG_INFO)
					continue;
				s.tilen = RTA_PAYLOAD(a) < sizeof(s.ti) ? RTA_PAYLOAD(a) : sizeof(s.ti);
				memcpy(&s.ti, RTA_DATA(a), s.tilen);
			}
			/* The rest of a dump is still read, so the next request starts clean. */
			stop = fn(&s, arg) == 1;
			/* One socket asked for: one answer, and no NLMSG_DONE after it. */
			if (id != NULL)
				return 0;
		}
	}
}

/*
 * Without sock_diag (a sandbox that refuses the netlink family): the same
 * sockets from /proc/net/tcp and tcp6, with their queues but no tcp_info.
 */
static int
proc_net(const char *file, int family, uint32_t states, int (*fn)(const struct ld_sock *, void *), void *arg)
{
	char line[512];
	FILE *f = fopen(file, "re");

	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned port, st;
		unsigned long tx, rx, ino;
		struct ld_sock s;

		/* sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %lx:%lx %*x:%*x %*x %*u %*u %lu",
		    &port, &st, &tx, &rx, &ino) != 5 || st > 31 || !(states & (1U << st)))
			continue;
		memset(&s, 0, sizeof(s));
		s.family = (uint8_t)family;
		s.ino = (uint32_t)ino;
		s.port = (uint16_t)port;
		s.state = (uint8_t)st;
		s.rqueue = (uint32_t)rx;
		s.wqueue = (uint32_t)tx;
		if (fn(&s, arg) == 1)
			break;
	}
	fclose(f);
	return 0;
}

static int
ignore(const struct ld_sock *s, void *arg)
{
	(void)s;
	(void)arg;
	return 0;
}

int
ld_diag_tcp(int families, uint32_t states, int info,
    int (*fn)(const struct ld_sock *, void *), void *arg)
{
	static int use_proc;

	if (nlfd == -1 && !use_proc) {
		struct timeval tv = { 1, 0 };

		nlfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		/*
		 * A sandbox may let the socket be made and refuse what is asked on
		 * it (an LSM's nlmsg_read): a first dump of the listeners tells.
		 */
		if (nlfd != -1 && (setsockopt(nlfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
		    ask(AF_INET, NULL, 1U << LD_TCP_LISTEN, 0, ignore, NULL) == -1)) {
			close(nlfd);
			nlfd = -1;
		}
		use_proc = nlfd == -1;
	}
	if (use_proc)
		return ((families & LD_DIAG_V4) &&
		    proc_net("/proc/net/tcp", AF_INET, states, fn, arg) == -1) ||
		    ((families & LD_DIAG_V6) &&
		    proc_net("/proc/net/tcp6", AF_INET6, states, fn, arg) == -1) ? -1 : 0;
	if ((families & LD_DIAG_V4) && ask(AF_INET, NULL, states, info, fn, arg) == -1)
		return -1;
	/* No IPv6 in this kernel: nothing more to find. */
	if ((families & LD_DIAG_V6) && ask(AF_INET6, NULL, states, info, fn, arg) == -1 &&
	    errno != ENOENT && errno != EAFNOSUPPORT)
		return -1;
	return 0;
}

static int
copy_out(const struct ld_sock *s, void *arg)
{
	*(struct ld_sock *)arg = *s;
	return 1;
}

int
ld_diag_one(const struct ld_sock *known, int info, struct ld_sock *out)
{
	if (nlfd == -1) {
		errno = ENOSYS;
		return -1;
	}
	out->ino = 0;
	if (ask(known->family, &known->id, ~0U, info, copy_out, out) == -1)
		return -1;
	/* The same address with another socket behind it (the cookie differs): gone. */
	if (out->ino != known->ino) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

/* 1 when sockets come from /proc/net/tcp (no sock_diag), without tcp_info. */
int
ld_diag_fallback(void)
{
	return nlfd == -1;
}

/* ---- the processes and their descriptors ---- */

struct refs {
	struct ld_sockref **v;
	size_t	*cap;
	long	n;
};

static int
add_ref(struct refs *r, uint32_t ino, pid_t pid, int fd)
{
	if ((size_t)r->n == *r->cap) {
		size_t cap = *r->cap ? *r->cap * 2 : 256;
		struct ld_sockref *v = reallocarray(*r->v, cap, sizeof(**r->v));

		if (v == NULL)
			return -1;
		*r->v = v;
		*r->cap = cap;
	}
	(*r->v)[r->n++] = (struct ld_sockref){ ino, pid, fd };
	return 0;
}

/* pid's socket descriptors; -1 when its fd directory cannot be read. */
static int
read_fds(pid_t pid, struct refs *r)
{
	char path[64], link[64];
	struct dirent *d;
	DIR *dir;
	int dfd;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	dfd = dirfd(dir);
	while ((d = readdir(dir)) != NULL) {
		const char *errstr = NULL;
		unsigned long long ino;
		int fd = (int)strtonum(d->d_name, 0, INT_MAX, &errstr);
		ssize_t n;

		if (errstr != NULL)
			continue;
		n = readlinkat(dfd, d->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%llu]", &ino) != 1 || ino > UINT32_MAX)
			continue;
		if (add_ref(r, (uint32_t)ino, pid, fd) == -1)
			break;
	}
	closedir(dir);
	return 0;
}

/* The children of pid, by its threads' children files (Linux 3.5, CONFIG_PROC_CHILDREN). */
static int
children(pid_t pid, pid_t *out, int cap)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL && n < cap) {
		char file[96];
		FILE *f;
		int c;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "/proc/%d/task/%.20s/children", (int)pid, d->d_name);
		/* A thread that ended since the directory was read has no children to give. */
		if ((f = fopen(file, "re")) == NULL)
			continue;
		while (n < cap && fscanf(f, "%d", &c) == 1)
			out[n++] = c;
		fclose(f);
	}
	closedir(dir);
	return n;
}

static int
by_ino(const void *a, const void *b)
{
	const struct ld_sockref *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

long
ld_tree_sockets(pid_t root, int maxprocs, struct ld_sockref **out, size_t *cap, int *procs,
    pid_t *denied)
{
	struct refs r = { out, cap, 0 };
	pid_t queue[1024];
	int head = 0, tail = 0, k;

	if (maxprocs > (int)(sizeof(queue) / sizeof(queue[0])))
		maxprocs = (int)(sizeof(queue) / sizeof(queue[0]));
	*denied = 0;
	k = children(root, queue, maxprocs);
	tail = k > 0 ? k : 0;
	while (head < tail) {
		pid_t p = queue[head++];

		if (read_fds(p, &r) == -1 && (errno == EACCES || errno == EPERM) && *denied == 0)
			*denied = p;
		k = children(p, queue + tail, maxprocs - tail);
		if (k > 0)
			tail += k;
	}
	*procs = tail;
	if (r.n > 1)
		qsort(*out, (size_t)r.n, sizeof(**out), by_ino);
	return r.n;
}

const struct ld_sockref *
ld_sockref_find(const struct ld_sockref *refs, long n, uint32_t ino)
{
	struct ld_sockref key = { .ino = ino };

	if (n <= 0)
		return NULL;
	return bsearch(&key, refs, (size_t)n, sizeof(*refs), by_ino);
}
