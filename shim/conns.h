/*
 * Retiring accepted connections at the lame-duck signal (README, "Keep-alive
 * and L4 balancers"): the next HTTP/1.x response on each carries
 * "Connection: close", each HTTP/2 cleartext connection gets a GOAWAY, and
 * at the drain's end the idle ones are closed politely (FIN). Until the
 * signal, the wrappers only test ld_retiring and the entry's bits: a
 * connection's first read is looked at, and an HTTP/2 one's writes are
 * followed.
 */
#ifndef LD_CONNS_H
#define LD_CONNS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "config.h"
#include "fdtab.h"

/* Set at the lame-duck signal (LAMEDUCK_RETIRE=on): the wrappers look from then on. */
extern _Atomic int ld_retiring __attribute__((visibility("hidden")));

static inline int
ld_conn_retiring(void)
{
	return __builtin_expect(atomic_load_explicit(&ld_retiring, memory_order_relaxed), 0);
}

/* From the lame-duck signal on, in this process: a GOAWAY on each HTTP/2 connection. */
void	ld_retire_begin(void);
/* A new connection's entry: with LAMEDUCK_RETIRE=on, its first read is looked at. */
static inline uint8_t
ld_conn_entry(void)
{
	return LD_FD_CONN | (ld_cfg.retire ? LD_FD_UNREAD : 0);
}
/* A new connection on fd (accepted, or handed over by the drain). */
void	ld_conn_reset(int fd);
/*
 * The program read n > 0 bytes into iov from fd: from the signal on,
 * before ld_fd_read marks the request (first 0); on a connection's first
 * read, and on every read of an HTTP/2 one, after it (first 1: ld_fd_read
 * said so).
 */
void	ld_conn_read(int fd, const struct iovec *iov, int cnt, size_t n, int first);
/*
 * The program writes on fd: with send set, as send/sendto/sendmsg with
 * flags (and name, namelen, which a connected socket ignores); otherwise as
 * write/writev. Returns what the call returns.
 */
ssize_t	ld_conn_write(int fd, const struct iovec *iov, int cnt, int send, int flags,
	    const struct sockaddr *name, socklen_t namelen);
/* The program writes bytes on fd that conns.c does not see: an HTTP/2 follower stops. */
void	ld_conn_unseen(int fd);
/* Before a sendfile on fd: 0 to go on, or -1 with errno (EAGAIN, EPIPE). */
int	ld_conn_before_sendfile(int fd);
/*
 * Has the HTTP/2 connection fd a request in flight (a stream open, a frame
 * cut, or frames it cannot follow)? For ld_drain_in_flight.
 */
int	ld_conn_h2_busy(int fd);
/* Before delivery: FIN on every idle accepted connection. Returns how many. */
int	ld_conn_close_idle(void);

#endif
