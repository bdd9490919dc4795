/*
 * What the kernel shows of another process's TCP sockets, without ptrace:
 * the socket inodes behind its descriptors (/proc/PID/fd) and each socket's
 * state, queues and tcp_info (netlink sock_diag, sock_diag(7)).
 */
#ifndef LD_SOCKDIAG_H
#define LD_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/inet_diag.h>

#include "rawconn.h"

struct ld_sock {
	uint8_t		family;		/* AF_INET or AF_INET6 */
	uint32_t	ino;
	uint16_t	port;		/* local, host order */
	uint8_t		state;		/* LD_TCP_LISTEN, LD_TCP_ESTABLISHED, ... */
	uint32_t	rqueue;		/* a listener's accept queue, a connection's unread bytes */
	uint32_t	wqueue;		/* a connection's bytes not yet acknowledged */
	size_t		tilen;		/* how much of ti the kernel filled (0: none asked) */
	struct ld_tcp_info ti;
	struct inet_diag_sockid id;	/* its addresses and cookie, to ask for it alone (netlink only) */
};

#define LD_DIAG_V4	1
#define LD_DIAG_V6	2

/*
 * Calls fn for every TCP socket of this network namespace whose state is in
 * `states` (bit 1 << state), of the families asked for (LD_DIAG_V4,
 * LD_DIAG_V6; each is a walk of the kernel's whole table of connections,
 * the node's, so ask only for what may be there); with info, each comes with its
 * tcp_info. Stops when fn returns 1. 0, or -1 with errno. Where the netlink
 * family is refused, /proc/net/tcp and tcp6 are read instead (queues, no
 * tcp_info).
 */
int	ld_diag_tcp(int families, uint32_t states, int info,
	    int (*fn)(const struct ld_sock *s, void *arg), void *arg);

/*
 * The socket `known` (from a dump) again, fresh, by the kernel's lookup of
 * its addresses: no walk of the tables. 0, or -1 with errno: ENOENT when
 * it is gone, ENOSYS without netlink.
 */
int	ld_diag_one(const struct ld_sock *known, int info, struct ld_sock *out);

/* After the first call: 1 when netlink was refused and /proc/net/tcp{,6} stand in (no tcp_info). */
int	ld_diag_fallback(void);

/* A socket descriptor of a process: where its inode is. */
struct ld_sockref {
	uint32_t	ino;
	pid_t		pid;
	int		fd;
};

/*
 * The socket descriptors of root's descendants (not root's own; at most
 * maxprocs processes), sorted by inode, into *out (grown with reallocarray;
 * the caller frees it). Returns how many. *procs: how many processes were
 * read; *denied: one whose descriptors may not be read (a setuid or
 * file-capability program, non-dumpable), or 0.
 */
long	ld_tree_sockets(pid_t root, int maxprocs, struct ld_sockref **out, size_t *cap, int *procs,
	    pid_t *denied);
/* The entry for ino in a sorted array, or NULL. */
const struct ld_sockref *ld_sockref_find(const struct ld_sockref *refs, long n, uint32_t ino);

#endif
