/* What the shim's parts ask of the owner's state (shim.c). */
#ifndef LD_SHIM_H
#define LD_SHIM_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "lifecycle.h"

#define LD_VERSION	"0.1.0"

/* 1 in the owner once the shim is on (config valid, signals taken). */
extern int ld_active;
extern struct ld_config ld_cfg;

/* Ask the shim's thread to look for listeners now (after listen()). */
void	ld_poke(void);
/* The program binds addr: give the health port up first if they overlap. */
void	ld_health_yield(int fd, const struct sockaddr *addr, socklen_t len);
/* Render the answer to a health request; returns the status code. */
int	ld_render(int path, char *body, size_t cap, size_t *len);
/* In a forked child that stays passive: drop the shim's descriptors and signals. */
void	ld_forget(void);

long long ld_now_ms(void);

#endif
