/* What the shim's parts ask of the owner's state (shim.c). */
#ifndef LD_SHIM_H
#define LD_SHIM_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "lifecycle.h"

#define LD_VERSION	"0.1.0"

extern struct ld_config ld_cfg;

/* The program listens (a listener that counts): look at it now. */
void	ld_on_listen(void);
/* The program accepted from a listener for the first time. */
void	ld_on_accept(void);
/* The program binds addr: give the health port up first if they overlap. */
void	ld_health_yield(int fd, const struct sockaddr *addr, socklen_t len);
/*
 * A member's bind failed with EADDRINUSE: when the address overlaps the
 * tree's health port, ask the owner to let it go. 0 once it has (bind
 * again), -1 otherwise.
 */
int	ld_health_ask(int fd, const struct sockaddr *addr, socklen_t len);
/* Render the answer to a health request; returns the status code. */
int	ld_render(int path, char *body, size_t cap, size_t *len);

long long ld_now_ms(void);

#endif
