/*
 * Connections the shim never saw accepted.
 *
 * A program that accepts with raw system calls (Go, even built with cgo)
 * leaves its connections out of the descriptor table, so the drain would
 * find nothing in flight and deliver at once, under its requests. At the
 * drain the shim notes the local addresses of the listeners it stops; while
 * draining, a TCP socket of the process that is not in the table and whose
 * local port is one of theirs is such a connection. What the program does
 * with it is out of sight (raw reads and writes too), so the kernel's view
 * of the connection stands in: it is in flight while bytes wait in either
 * queue, or when data came in after the last data went out (a request
 * waiting for its answer), or when it brought data and none went out yet.
 * The kernel keeps those times in jiffies: a request that came in within
 * the same tick as the previous answer went out looks idle (README,
 * "Limits").
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "fdtab.h"
#include "procfs.h"
#include "rawconn.h"

#ifndef SIOCINQ
#define SIOCINQ		FIONREAD
#endif
#ifndef SIOCOUTQ
#define SIOCOUTQ	TIOCOUTQ
#endif

#define LD_RAW_PORTS	64

static uint16_t ports[LD_RAW_PORTS];
static _Atomic int nports;

void
ld_raw_note_listener(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint16_t port;
	int n = atomic_load(&nports);

	if (n >= LD_RAW_PORTS || getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET)
		port = ((struct sockaddr_in *)&ss)->sin_port;
	else if (ss.ss_family == AF_INET6)
		port = ((struct sockaddr_in6 *)&ss)->sin6_port;
	else
		return;
	for (int i = 0; i < n; i++)
		if (ports[i] == port)
			return;
	ports[n] = port;
	atomic_store(&nports, n + 1);
}

void
ld_raw_forget(void)
{
	atomic_store(&nports, 0);
}

static int
ours(uint16_t port)
{
	int n = atomic_load(&nports);

	for (int i = 0; i < n; i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

/* -1: not such a connection; 0: idle; 1: in flight. */
static int
raw_conn(int fd)
{
	struct ld_tcp_info ti;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint16_t port;
	int inq = 0, outq = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		port = ((struct sockaddr_in *)&ss)->sin_port;
	else if (ss.ss_family == AF_INET6)
		port = ((struct sockaddr_in6 *)&ss)->sin6_port;
	else
		return -1;
	if (!ours(port))
		return -1;
	memset(&ti, 0, sizeof(ti));
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -1;
	/* A listener has the port too; so does the program's own listener copy. */
	if (ti.state != LD_TCP_ESTABLISHED && ti.state != LD_TCP_CLOSE_WAIT)
		return -1;
	(void)ioctl(fd, SIOCINQ, &inq);
	(void)ioctl(fd, SIOCOUTQ, &outq);
	return ld_tcp_busy(&ti, len, inq, outq);
}

int
ld_tcp_busy(const struct ld_tcp_info *ti, size_t len, long inq, long outq)
{
	if (inq > 0 || outq > 0)
		return 1;
	if (ti->last_data_recv < ti->last_data_sent)
		return 1;
	if (len >= offsetof(struct ld_tcp_info, data_segs_out) + sizeof(ti->data_segs_out) &&
	    ti->bytes_received > 0 && ti->data_segs_out == 0)
		return 1;
	return 0;
}

struct raw_count {
	long	busy, open;
	int	(*skip)(int fd);
};

static int
count_raw(int fd, void *arg)
{
	struct raw_count *c = arg;
	int r;

	/* In the table: seen accepted (counted by the drain), a listener, or ours. */
	if (ld_fd_get(fd) != 0)
		return 0;
	r = raw_conn(fd);
	/* Held for the program's next accept(): the drain counts those. */
	if (r >= 0 && !c->skip(fd)) {
		c->open++;
		c->busy += r;
	}
	return 0;
}

long
ld_raw_in_flight(long *open, int (*skip)(int fd))
{
	struct raw_count c = { 0, 0, skip };

	if (atomic_load(&nports) > 0)
		ld_each_fd(count_raw, &c);
	if (open != NULL)
		*open = c.open;
	return c.busy;
}
