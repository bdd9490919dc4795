/* The health port: a tiny HTTP server on the shim's thread. */
#ifndef LD_HEALTH_H
#define LD_HEALTH_H

#include <stdint.h>

#include "config.h"

#define LD_HEALTH_MAX_CLIENTS	64
#define LD_HEALTH_TIMEOUT_MS	2000
#define LD_TAG_CLIENT		100	/* epoll tags LD_TAG_CLIENT + slot */
#define LD_HEALTH_DISCARD_MAX	(64 * 1024)	/* read after a final answer, at most */
#define LD_HEALTH_BACKLOG	1024	/* the listen queue (somaxconn may cap it) */
#define LD_HEALTH_ACCEPT_RATE	2000	/* new connections a second, at most, */
#define LD_HEALTH_ACCEPT_BURST	LD_HEALTH_BACKLOG	/* with bursts of a full queue */

/* Bind and listen; fills desc with the address. Returns the fd, or -1 with errno. */
int	ld_health_listen(const struct ld_config *cfg, char *desc, size_t desclen);
/* The listener is in the LD_OWN_HEALTH slot (or none). */
void	ld_health_start(uint64_t listen_tag);
void	ld_health_accept(long long now);
void	ld_health_event(int slot, uint32_t events, long long now);
/* Milliseconds until the next client must be cut or accepting resumes, or -1. */
long long ld_health_timeout(long long now);
/* Cuts the clients whose time is up; resumes accepting when it may. */
void	ld_health_expire(long long now);
/* In a forked child: close every descriptor of the health port. */
void	ld_health_close_all(void);

#endif
