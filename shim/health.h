/* The health port: a tiny HTTP server on the shim's thread. */
#ifndef LD_HEALTH_H
#define LD_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

struct ld_lifecycle;

#define LD_HEALTH_MAX_CLIENTS	64
#define LD_HEALTH_TIMEOUT_MS	2000
#define LD_TAG_CLIENT		100	/* epoll tags LD_TAG_CLIENT + slot */
#define LD_HEALTH_DISCARD_MAX	(64 * 1024)	/* read after a final answer, at most */
#define LD_HEALTH_BACKLOG	1024	/* the listen queue (somaxconn may cap it) */
#define LD_HEALTH_ACCEPT_RATE	2000	/* new connections a second, at most, */
#define LD_HEALTH_ACCEPT_BURST	LD_HEALTH_BACKLOG	/* with bursts of a full queue */

/* What the answers report, filled in by the owner on its thread (or the supervisor). */
struct ld_health_status {
	const struct ld_lifecycle *lc;
	int	listeners;	/* TCP listeners that count, in the whole tree */
	long	connections;
	long	in_flight;
	/* Counters the shim keeps; a supervisor, which sees no accept(), has none. */
	int	counted;
	unsigned long long accepted, retired_header, retired_goaway, retired_idle;
};
/* for_metrics: the figures must be fresh (a /metrics request), not just the state. */
typedef void (*ld_health_status_fn)(struct ld_health_status *st, int for_metrics);

/* Bind and listen. Returns the fd, or -1 with errno. */
int	ld_health_listen(const struct ld_config *cfg);
/* The health address as the log names it ("127.0.0.1:8799", "[::]:8799"). */
const char *ld_health_desc(void);
/* The listener is in the LD_OWN_HEALTH slot (or none); status answers for the owner. */
void	ld_health_start(uint64_t listen_tag, ld_health_status_fn status);
void	ld_health_accept(long long now);
void	ld_health_event(int slot, uint32_t events, long long now);
/* Milliseconds until the next client must be cut or accepting resumes, or -1. */
long long ld_health_timeout(long long now);
/* Cuts the clients whose time is up; resumes accepting when it may. */
void	ld_health_expire(long long now);
/* In a forked child: close every descriptor of the health port. */
void	ld_health_close_all(void);

/* The owner (bind wrapper): the program binds addr; give the port up first if they overlap. */
void	ld_health_yield(int fd, const struct sockaddr *addr, socklen_t len);
/*
 * A member (bind wrapper): its bind failed with EADDRINUSE. When the address
 * overlaps the tree's health port, ask the owner to let it go. 0 once it
 * has (bind again), -1 otherwise.
 */
int	ld_health_ask(int fd, const struct sockaddr *addr, socklen_t len);
/* The owner's thread, after every wake-up: close the port if it was given up. */
void	ld_health_handover(void);

#endif
