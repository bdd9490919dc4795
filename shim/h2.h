/*
 * Moving an HTTP/2 cleartext connection from outside: one GOAWAY (last
 * stream 2^31-1, NO_ERROR) between two of the program's frames (README,
 * "Keep-alive and L4 balancers"). Pure: the bytes go out through a function
 * the caller hands in.
 */
#ifndef LD_H2_H
#define LD_H2_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "retire.h"

#define LD_H2_PREFACE		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define LD_H2_PREFACE_LEN	(sizeof(LD_H2_PREFACE) - 1)
#define LD_H2_GOAWAY_LEN	17	/* a 9-byte header, last stream id, error code */

extern const unsigned char ld_h2_goaway[LD_H2_GOAWAY_LEN];

/*
 * One connection's follower of the frames one side sends (the program's
 * writes, or the client's, as the program reads them, after the preface);
 * all zero is a new one.
 */
struct ld_h2 {
	uint32_t	left;	/* payload bytes left of the current frame */
	uint32_t	len;	/* the current frame's length, as its header is read */
	uint32_t	sid;	/* the current frame's stream, as its header is read */
	uint8_t		type;	/* the current frame's type and flags, once read */
	uint8_t		flags;
	uint8_t		hpos;	/* bytes of the current frame's header seen (0: at a boundary) */
	uint8_t		first;	/* the first frame (a SETTINGS, either side's preface) is complete */
	uint8_t		off;	/* not HTTP/2 frames: follow no more, add nothing */
	uint8_t		want;	/* a GOAWAY is asked for */
	uint8_t		ours;	/* bytes of our GOAWAY out */
};

/*
 * The streams open on one connection, as both followers see them: a stream
 * opens with the client's HEADERS on a new odd id and closes when both
 * sides have ended it (END_STREAM on HEADERS or DATA) or either reset it
 * (RST_STREAM), RFC 9113 5.1. Both followers may run at once (a read and a
 * write on two threads): a spin lock, taken only for the frames that open,
 * end or reset a stream, guards the table. All zero is a new one.
 */
#define LD_H2_STREAMS	16	/* open at once; beyond, the count is lost */

struct ld_h2_streams {
	atomic_flag	lock;
	_Atomic uint8_t	lost;	/* not exact any more: busy for good */
	_Atomic uint8_t	cut[2];	/* the client's, the program's last frame is not complete */
	uint8_t		n;	/* streams open in id[] */
	uint8_t		ended[LD_H2_STREAMS];	/* 1: by the client, 2: by the program */
	uint32_t	top;	/* the highest stream the client opened */
	uint32_t	id[LD_H2_STREAMS];
};

enum { LD_H2_CLIENT, LD_H2_PROGRAM };

/*
 * Are these the first bytes a client sends on an h2c connection with prior
 * knowledge? 1 yes, 0 no, -1 too few to tell.
 */
int	ld_h2_is_preface(const char *buf, size_t len);

/* Must our GOAWAY (the rest of it) go before the program's next byte? */
static inline int
ld_h2_due(const struct ld_h2 *h)
{
	if (h->off || !h->want || h->ours == LD_H2_GOAWAY_LEN)
		return 0;
	return h->ours > 0 || (h->hpos == 0 && h->left == 0 && h->first);
}

/* Is the GOAWAY out in full? */
static inline int
ld_h2_sent(const struct ld_h2 *h)
{
	return h->ours == LD_H2_GOAWAY_LEN;
}

/*
 * Steps h over n bytes from offset at of iov that side (LD_H2_CLIENT or
 * LD_H2_PROGRAM) sent; with s, what they do to the streams goes there.
 */
void	ld_h2_advance(struct ld_h2 *h, struct ld_h2_streams *s, int side, const struct iovec *iov,
	    int cnt, size_t at, size_t n);

/*
 * Writes the program's iov, our GOAWAY at the first frame boundary once it
 * is wanted. Returns and blocks as ld_rt_write does: the program's bytes
 * only, each once and in order. With s, the streams the program ends.
 */
ssize_t	ld_h2_write(struct ld_h2 *h, struct ld_h2_streams *s, const struct iovec *iov, int cnt,
	    int blocking, ld_rt_send_fn send, void *ctx);

/*
 * Is a request in flight on the connection: a stream open, a frame either
 * side has not finished, or the count lost? Any thread.
 */
int	ld_h2_busy(struct ld_h2_streams *s);
/* The frames can no longer be followed: busy for good. */
void	ld_h2_lose(struct ld_h2_streams *s);

/*
 * Sends what is due of our GOAWAY with no program bytes (the program is not
 * writing). Returns 1 when it is out in full, 0 if not (not due, or the
 * kernel took part), -1 with errno.
 */
int	ld_h2_flush(struct ld_h2 *h, ld_rt_send_fn send, void *ctx);

#endif
