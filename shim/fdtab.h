/*
 * What the shim knows of each descriptor: listeners, accepted connections,
 * and its own descriptors. Lock-free and async-signal-safe: wrappers that a
 * program calls from its signal handlers (close, dup2, accept) use it.
 */
#ifndef LD_FDTAB_H
#define LD_FDTAB_H

#include <stdatomic.h>
#include <stdint.h>

/* An entry: a type in the low bits, flags above. */
#define LD_FD_TYPE	0x03
#define LD_FD_NONE	0x00
#define LD_FD_LISTEN	0x01	/* a TCP listener that counts (LAMEDUCK_PORTS) */
#define LD_FD_CONN	0x02	/* accepted from a listener that counts */
#define LD_FD_SIGFD	0x03	/* a signalfd the shim re-arms at delivery */
#define LD_FD_READ	0x04	/* conn: the program read since it last wrote */
#define LD_FD_MADE	0x08	/* listener: made by this process (listen()), not inherited */
#define LD_FD_STOPPED	0x10	/* listener: stopped by the drain */
#define LD_FD_ACCEPTS	0x20	/* listener: this process accepts from it (not just holds it) */
#define LD_FD_NBLOCK	0x40	/* listener: the program accepts without blocking */
#define LD_FD_OWN	0x80	/* the shim's own: close() pretends, dup2() moves it first */
/* A connection's bits reuse a listener's (never STOPPED: read without the type). */
#define LD_FD_UNREAD	0x08	/* conn: its first bytes read are still to be looked at (conns.c) */
#define LD_FD_H2	0x20	/* conn: HTTP/2 cleartext: its writes go through conns.c */
#define LD_FD_HELD	0x40	/* conn: conns.c keeps state for it since its accept */

uint8_t	ld_fd_get(int fd);
void	ld_fd_set(int fd, uint8_t v);
void	ld_fd_or(int fd, uint8_t bits);
void	ld_fd_andnot(int fd, uint8_t bits);
/* Sets and clears bits of an existing entry in one step. */
void	ld_fd_mark(int fd, uint8_t set, uint8_t clear);
/* Clear every entry in [lo, hi] but the shim's own. */
void	ld_fd_clear_range(unsigned lo, unsigned hi);
/* Calls fn for every descriptor with an entry of the given type. */
void	ld_fd_each(uint8_t type, void (*fn)(int fd, uint8_t v, void *arg), void *arg);
/* Is there an entry of that type (not LD_FD_NONE)? Async-signal-safe. */
int	ld_fd_any(uint8_t type);

/* Hot path: the program read from fd, first its first byte or 0 (1: look at it); wrote to fd. */
static inline int ld_fd_read(int fd, const void *first);
static inline void ld_fd_wrote(_Atomic uint8_t *e);

/* This process holds a TCP listener that counts (it serves: a worker). */
extern _Atomic int ld_holds_listeners __attribute__((visibility("hidden")));

/* The shim's own descriptors, each in a slot that follows it when it moves. */
enum ld_own {
	LD_OWN_CLAIM, LD_OWN_EPOLL, LD_OWN_SIGFD, LD_OWN_CATCH_R, LD_OWN_CATCH_W,
	LD_OWN_EVENT, LD_OWN_LOG, LD_OWN_HEALTH, LD_OWN_TREE, LD_OWN_PROCFD, LD_OWN_BELL0,
	LD_OWN_CLIENT0 = LD_OWN_BELL0 + 8,	/* drain.c: placeholders holding a doorbell */
	LD_OWN_MAX = LD_OWN_CLIENT0 + 64
};

void	ld_own_set(enum ld_own slot, int fd);
int	ld_own(enum ld_own slot);
/* Close ours (really) and forget the slot. */
void	ld_own_close(enum ld_own slot);
/* The program dup2()s onto fd: move ours elsewhere first. Returns 0 or -1. */
int	ld_own_move(int fd);
/* Wake the owner's thread (its eventfd, LD_OWN_EVENT); async-signal-safe. */
void	ld_own_wake(void);
/* Descriptors of ours sorted, for splitting a close_range; returns the count. */
int	ld_own_sorted(int *out, int cap);
/* A high descriptor number for ours, out of the program's way. */
int	ld_own_hide(int fd);

/* ---- inline hot path ---- */
/* A connection's first read, an HTTP/2 one's every read (ld_fd_read): out of the way. */
int	ld_fd_first(_Atomic uint8_t *e, uint8_t v, const void *first);

#include <stdatomic.h>

#define LD_FDT_SHIFT	12
#define LD_FDT_PAGES	4096	/* 4096 x 4096: descriptors up to 16M are tracked */
extern _Atomic(_Atomic uint8_t *) ld_fdt_pages[LD_FDT_PAGES] __attribute__((visibility("hidden")));

static inline _Atomic uint8_t *
ld_fd_slot(int fd)
{
	_Atomic uint8_t *page;

	/* One comparison: a negative fd is, as unsigned, beyond any page too. */
	if ((unsigned)fd >= (unsigned)LD_FDT_PAGES << LD_FDT_SHIFT)
		return 0;
	page = atomic_load_explicit(&ld_fdt_pages[(unsigned)fd >> LD_FDT_SHIFT],
	    memory_order_acquire);
	return page ? &page[fd & ((1 << LD_FDT_SHIFT) - 1)] : 0;
}

/*
 * Returns 1 when the bytes read must be looked at (conns.c): a
 * connection's first ones may be an HTTP/2 preface, and an HTTP/2
 * connection's say which streams its client opens and ends. One that does not start with
 * its first byte, 'P', is settled here: a test in the branch a request's
 * first read takes anyway, and a store once per connection.
 */
static inline int
ld_fd_read(int fd, const void *first)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	uint8_t v;

	if (e == 0)
		return 0;
	v = atomic_load_explicit(e, memory_order_relaxed);
	if ((v & (LD_FD_TYPE | LD_FD_READ)) == LD_FD_CONN) {
		if (__builtin_expect(v & (LD_FD_UNREAD | LD_FD_H2), 0))
			return ld_fd_first(e, v, first);
		atomic_fetch_or_explicit(e, LD_FD_READ, memory_order_relaxed);
		return 0;
	}
	/* A preface read bit by bit, or HTTP/2 frames: looked at too. */
	return (v & LD_FD_TYPE) == LD_FD_CONN && (v & (LD_FD_UNREAD | LD_FD_H2));
}

/* An entry's bits (e from ld_fd_slot, taken before a write), 0 for none. */
static inline uint8_t
ld_fd_entry(_Atomic uint8_t *e)
{
	return e != 0 ? atomic_load_explicit(e, memory_order_relaxed) : 0;
}

static inline void
ld_fd_wrote(_Atomic uint8_t *e)
{
	if (e != 0 && (atomic_load_explicit(e, memory_order_relaxed) & LD_FD_READ))
		atomic_fetch_and_explicit(e, (uint8_t)~LD_FD_READ, memory_order_relaxed);
}

#endif
