/*
 * The HTTP/1.x response rewriter. It reads the program's bytes one at a
 * time, as they leave: the status line of a final response (not a 1xx, not
 * 101) is followed by our "Connection: close" header, and the value of a
 * Connection header of the program's own becomes "close" padded with
 * spaces to the same length (a header value's trailing white space is not
 * part of it, RFC 9110 5.5), so the program's bytes map one to one onto
 * what leaves, ours apart. Nothing is held back: a write may end anywhere,
 * and the rewriter's state after each byte says what the next one is.
 *
 * A write goes out as one writev of up to three parts: the program's bytes
 * up to the insertion, ours, the rest. Whatever prefix the kernel takes,
 * the program is told how many of its own bytes left, and the rewriter
 * steps over exactly those: the rest of ours goes first next time.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "retire.h"

#define CHUNK	2048	/* program bytes looked at (and copied) per send, in a head */
#define MAXIOV	64	/* program iovecs passed on per send */

static const char close_value[] = "close";

static void
reset_line(struct ld_rt *rt)
{
	rt->pos = 0;
	rt->cr = 0;
}

static void
off(struct ld_rt *rt)
{
	rt->phase = LD_RT_OFF;
}

/* A byte of the status line. */
static char
status_byte(struct ld_rt *rt, char c)
{
	static const char proto[] = "HTTP/1.";
	unsigned pos = rt->pos;

	if (rt->pos < UINT16_MAX)
		rt->pos++;
	if (pos < sizeof(proto) - 1) {
		if (c != proto[pos])
			off(rt);
	} else if (pos == 7) {
		if (c != '0' && c != '1')
			off(rt);
	} else if (pos == 8) {
		if (c != ' ')
			off(rt);
	} else if (pos <= 11) {
		if (c < '0' || c > '9')
			off(rt);
		else
			rt->status = (uint16_t)(rt->status * 10 + (c - '0'));
	} else if (c == '\n') {
		reset_line(rt);
		rt->in_conn = 0;
		if (rt->status == 101) {
			off(rt);	/* another protocol from the next byte on */
			return c;
		}
		rt->phase = LD_RT_HEAD;
		rt->interim = rt->status < 200;
		if (!rt->interim) {
			rt->inserting = 1;
			rt->ours = 0;
		}
	} else if (pos == 12 && c != ' ' && c != '\r')
		off(rt);
	else if (pos >= 8192)
		off(rt);	/* no status line is that long */
	return c;
}

/* A byte of the header lines. */
static char
head_byte(struct ld_rt *rt, char c)
{
	unsigned pos = rt->pos;
	int was_cr = rt->cr;

	if (c == '\n') {
		if (pos == 0 || (pos == 1 && was_cr)) {
			/* The empty line: the head ends. */
			reset_line(rt);
			rt->in_conn = 0;
			if (rt->interim) {
				rt->phase = LD_RT_STATUS;
				rt->status = 0;
			} else
				rt->phase = LD_RT_DONE;
			return c;
		}
		reset_line(rt);
		return c;
	}
	if (pos == 0 && c != ' ' && c != '\t') {
		/* A new field, not a continuation of the last one. */
		rt->in_conn = 0;
		rt->in_name = 1;
		rt->name_ok = 1;
		rt->started = 0;
		rt->vpos = 0;
	}
	if (rt->pos < UINT16_MAX)
		rt->pos++;
	rt->cr = c == '\r';
	if (c == '\r')
		return c;
	if (rt->in_name) {
		static const char name[] = "connection";

		if (c == ':') {
			rt->in_name = 0;
			rt->in_conn = rt->name_ok && pos == sizeof(name) - 1;
		} else if (pos >= sizeof(name) - 1 || (c | 0x20) != name[pos])
			rt->name_ok = 0;
		return c;
	}
	if (!rt->in_conn)
		return c;
	if (!rt->started && (c == ' ' || c == '\t'))
		return c;
	rt->started = 1;
	c = rt->vpos < sizeof(close_value) - 1 ? close_value[rt->vpos] : ' ';
	if (rt->vpos < UINT16_MAX)
		rt->vpos++;
	return c;
}

/* One program byte through the rewriter: the byte that leaves in its place. */
static char
step(struct ld_rt *rt, char c)
{
	switch (rt->phase) {
	case LD_RT_STATUS:
		return status_byte(rt, c);
	case LD_RT_HEAD:
		return head_byte(rt, c);
	default:
		return c;
	}
}

static int
looking(const struct ld_rt *rt)
{
	return rt->phase == LD_RT_STATUS || rt->phase == LD_RT_HEAD;
}

void
ld_rt_arm(struct ld_rt *rt)
{
	if (rt->phase != LD_RT_NONE)
		return;		/* under way, done, or not ours to touch */
	memset(rt, 0, sizeof(*rt));
	rt->phase = LD_RT_STATUS;
}

int
ld_rt_is_request(const char *buf, size_t len)
{
	static const char *const methods[] = { "GET ", "HEAD ", "POST ", "PUT ", "DELETE ",
		"OPTIONS ", "PATCH ", "TRACE " };
	const char *nl;
	size_t m = 0;
	int more = 0;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]) && m == 0; i++) {
		size_t n = strlen(methods[i]);

		if (len > n && memcmp(buf, methods[i], n) == 0)
			m = n;
		else if (len <= n && memcmp(buf, methods[i], len) == 0)
			more = 1;	/* "GE", "GET ": the target decides */
	}
	if (m == 0)
		return more ? -1 : 0;
	if (buf[m] != '/' && buf[m] != '*' && buf[m] != 'h' && buf[m] != 'H')
		return 0;
	nl = memchr(buf, '\n', len);
	if (nl != NULL) {
		size_t end = (size_t)(nl - buf);

		if (end > 0 && buf[end - 1] == '\r')
			end--;
		if (end < m + 9 || (memcmp(buf + end - 9, " HTTP/1.1", 9) != 0 &&
		    memcmp(buf + end - 9, " HTTP/1.0", 9) != 0))
			return 0;
	}
	return 1;
}

/* Where the program's byte at offset `at` is: iovec *vi, byte *off in it. */
static void
locate(const struct iovec *iov, int cnt, size_t at, int *vi, size_t *off)
{
	int i = 0;

	while (i < cnt && at >= iov[i].iov_len) {
		at -= iov[i].iov_len;
		i++;
	}
	*vi = i;
	*off = at;
}

/* The program's bytes from offset `at` on, as they are, into out (at most cap). */
static int
slice(const struct iovec *iov, int cnt, size_t at, struct iovec *out, int cap)
{
	int vi, n = 0;
	size_t off;

	locate(iov, cnt, at, &vi, &off);
	for (; vi < cnt && n < cap; vi++, off = 0) {
		if (iov[vi].iov_len == off)
			continue;
		out[n].iov_base = (char *)iov[vi].iov_base + off;
		out[n].iov_len = iov[vi].iov_len - off;
		n++;
	}
	return n;
}

/* Steps rt over n program bytes from offset `at`. */
static void
advance(struct ld_rt *rt, const struct iovec *iov, int cnt, size_t at, size_t n)
{
	int vi;
	size_t off;

	locate(iov, cnt, at, &vi, &off);
	while (n > 0 && vi < cnt && looking(rt)) {
		size_t k = iov[vi].iov_len - off;
		const char *p = (const char *)iov[vi].iov_base + off;

		for (size_t i = 0; i < k && n > 0 && looking(rt); i++, n--)
			(void)step(rt, p[i]);
		vi++;
		off = 0;
	}
}

ssize_t
ld_rt_write(struct ld_rt *rt, const struct iovec *iov, int cnt, int blocking,
    ld_rt_send_fn send, void *ctx)
{
	size_t total = 0, taken = 0;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	if (total == 0 || !ld_rt_active(rt))
		return send(ctx, iov, cnt);
	for (;;) {
		struct iovec out[MAXIOV + 3];
		struct ld_rt plan = *rt;
		char buf[CHUNK];
		size_t n = 0, ins = SIZE_MAX, ours_len = 0, left, prog, ours_sent, before;
		int no = 0, vi;
		size_t off;
		ssize_t r;

		if (!ld_rt_active(rt)) {
			/* Ours are out and the head is past: the rest as it is. */
			no = slice(iov, cnt, taken, out, MAXIOV);
			r = send(ctx, out, no);
			if (r < 0)
				return taken > 0 ? (ssize_t)taken : -1;
			taken += (size_t)r;
			if (!blocking || taken == total || r == 0)
				return (ssize_t)taken;
			continue;
		}
		/* What leaves for the program's next bytes, planned on a copy. */
		if (ld_rt_pending(&plan))
			ins = 0;
		locate(iov, cnt, taken, &vi, &off);
		while (n < sizeof(buf) && vi < cnt && looking(&plan)) {
			const char *p = iov[vi].iov_base;

			if (off == iov[vi].iov_len) {
				vi++;
				off = 0;
				continue;
			}
			buf[n++] = step(&plan, p[off++]);
			if (ins == SIZE_MAX && ld_rt_pending(&plan))
				ins = n;
		}
		before = ins == SIZE_MAX ? n : ins;
		if (before > 0) {
			out[no].iov_base = buf;
			out[no++].iov_len = before;
		}
		if (ins != SIZE_MAX) {
			ours_len = LD_RETIRE_HEADER_LEN - rt->ours;
			out[no].iov_base = (char *)LD_RETIRE_HEADER + rt->ours;
			out[no++].iov_len = ours_len;
			if (n > ins) {
				out[no].iov_base = buf + ins;
				out[no++].iov_len = n - ins;
			}
		}
		if (!looking(&plan))
			no += slice(iov, cnt, taken + n, out + no, MAXIOV);
		r = send(ctx, out, no);
		if (r < 0)
			return taken > 0 ? (ssize_t)taken : -1;
		/* Which of the bytes sent were the program's, which ours. */
		left = (size_t)r;
		prog = left < before ? left : before;
		left -= prog;
		ours_sent = left < ours_len ? left : ours_len;
		left -= ours_sent;
		prog += left;
		advance(rt, iov, cnt, taken, prog < before ? prog : before);
		rt->ours = (uint8_t)(rt->ours + ours_sent);
		if (prog > before)
			advance(rt, iov, cnt, taken + before, prog - before);
		taken += prog;
		if (taken == total || (prog == 0 && ours_sent == 0))
			return (ssize_t)taken;
		if (!blocking && taken > 0)
			return (ssize_t)taken;
		/* Blocking, or only ours went: send on (a full buffer answers EAGAIN). */
	}
}
