/*
 * Retiring an HTTP/1.x connection from outside: the next final response the
 * program writes on it carries "Connection: close" (README, "Keep-alive and
 * L4 balancers"). Pure: the bytes go out through a function the caller
 * hands in.
 */
#ifndef LD_RETIRE_H
#define LD_RETIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define LD_RETIRE_HEADER	"Connection: close\r\n"
#define LD_RETIRE_HEADER_LEN	(sizeof(LD_RETIRE_HEADER) - 1)
#define LD_RETIRE_PEEK		24	/* bytes kept to tell, at most: an HTTP/2 preface */

enum ld_rt_phase {
	LD_RT_NONE,	/* nothing asked: bytes pass */
	LD_RT_STATUS,	/* the next byte starts a response's status line */
	LD_RT_HEAD,	/* in a response's header lines */
	LD_RT_DONE,	/* the close went out in a final response: bytes pass */
	LD_RT_OFF,	/* not a response we understand (or 101): bytes pass, for good */
};

/* One connection's rewriter; all zero is LD_RT_NONE. */
struct ld_rt {
	uint8_t		phase;
	uint8_t		interim;	/* the head is a 1xx's: no close in it */
	uint8_t		ours;		/* bytes of our header sent (the final head's) */
	uint8_t		inserting;	/* the status line ended: ours go before the next byte */
	uint8_t		cr;		/* the last byte was CR */
	uint8_t		in_name;	/* before this header's colon */
	uint8_t		name_ok;	/* this header's name matches "connection" so far */
	uint8_t		in_conn;	/* in a Connection header's value */
	uint8_t		started;	/* a value byte other than white space came */
	uint16_t	pos;		/* bytes into the current line */
	uint16_t	vpos;		/* bytes into the Connection value */
	uint16_t	status;		/* the status code, as it is read */
};

/*
 * Is buf (the first bytes of what the program read on a connection, between
 * two requests) the start of an HTTP/1.x request that may be retired? A
 * method other than CONNECT, a space, a target; if the line ends within
 * buf, with HTTP/1.0 or HTTP/1.1. 1 yes, 0 no, -1: too short to tell (a
 * program that reads a byte at a time), more is needed.
 */
int	ld_rt_is_request(const char *buf, size_t len);

/* Ask for the close in the next final response (if nothing is under way). */
void	ld_rt_arm(struct ld_rt *rt);

/* Is something of ours still to go out before the program's next byte? */
static inline int
ld_rt_pending(const struct ld_rt *rt)
{
	return rt->inserting && rt->ours < LD_RETIRE_HEADER_LEN;
}

/* Does the rewriter look at this connection's bytes at all? */
static inline int
ld_rt_active(const struct ld_rt *rt)
{
	return rt->phase == LD_RT_STATUS || rt->phase == LD_RT_HEAD || ld_rt_pending(rt);
}

/* Sends an iovec as writev would (what the kernel took, or -1 with errno). */
typedef ssize_t (*ld_rt_send_fn)(void *ctx, const struct iovec *iov, int cnt);

/*
 * Writes the program's iov through the rewriter. Returns what the program's
 * call returns: how many of its bytes went out (ours never count), or -1
 * with errno when none did. A byte of the program's goes out exactly once
 * and in order, after any byte of ours still pending; with blocking set,
 * it sends until all the program's bytes are out, as a blocking socket's
 * write does.
 */
ssize_t	ld_rt_write(struct ld_rt *rt, const struct iovec *iov, int cnt, int blocking,
	    ld_rt_send_fn send, void *ctx);

#endif
