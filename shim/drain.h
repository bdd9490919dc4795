/* The drain: stop accepting on the listeners that count, and count what is in flight. */
#ifndef LD_DRAIN_H
#define LD_DRAIN_H

#include <stdint.h>
#include <sys/socket.h>

struct ld_drain_start {
	int	listeners;	/* listeners stopped */
	int	queued;		/* connections taken from their queues for the program */
	int	inherited;	/* listeners not made here: only this process stopped */
};

/*
 * Stop the listeners that count in this process. defer says who asks:
 * LD_DRAIN_SOLO shuts down every listener it made; LD_DRAIN_OWNER (of a
 * tree) shuts one it made but never accepted from (a pre-fork master's)
 * only in ld_drain_shutdown_deferred(), once the workers took their
 * queues; LD_DRAIN_MEMBER never shuts down one it did not accept from.
 */
enum { LD_DRAIN_SOLO, LD_DRAIN_OWNER, LD_DRAIN_MEMBER };
void	ld_drain_begin(const uint16_t *ports, int nports, int skip, int defer,
	    struct ld_drain_start *out);
void	ld_drain_shutdown_deferred(void);
/*
 * Requests in flight now; also finishes stopping listeners whose queue is
 * handed over. h2_busy tells whether an HTTP/2 connection has one
 * (conns.c, on this floor: handed in, so that the two call no circle).
 */
long	ld_drain_in_flight(long *connections, int (*h2_busy)(int fd));
/* Before delivery: every listener is swapped out, whatever is left in its queue. */
void	ld_drain_end(void);

/* In a forked child (async-signal-safe): drop the parent's drain state. */
void	ld_drain_after_fork(void);
/* Did the drain stop a listener on this port (so a connection there was accepted from it)? */
int	ld_drain_stopped_port(uint16_t port);
/* Is fd a queued connection the drain holds for the program? */
int	ld_drain_stashed(int fd);
/* accept() on a stopped listener: a connection from its queue, or -1. */
int	ld_drain_take(int listener);
/* The program's epoll_ctl: waits while the drain moves fd's registrations. */
struct epoll_event;
int	ld_drain_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
/* Does fd hold a placeholder (whose connections are doorbells, never the program's)? */
int	ld_drain_placeholder(int fd);

#endif
