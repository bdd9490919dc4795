/*
 * The HTTP/2 frame follower. It reads the 9-byte header of each frame the
 * program writes (a 24-bit length, type, flags, stream) and steps over the
 * payload without looking at it, so it knows where each frame ends. When a
 * GOAWAY is wanted it goes at the first end of a frame, never before the
 * end of the program's first frame (its SETTINGS, the server preface, RFC
 * 9113 3.4). Nothing is held back or changed: a write may end anywhere,
 * and what the kernel took says how far the follower steps.
 *
 * A write goes out as one writev of up to three parts: the program's bytes
 * up to the boundary, ours, the rest. Whatever prefix the kernel takes, the
 * program is told how many of its own bytes left; the rest of ours goes
 * first next time.
 *
 * A second follower steps over the client's frames as the program reads
 * them (never changing them), and the two keep the table of open streams
 * that tells the drain whether the connection has a request in flight.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "h2.h"

#define MAXIOV	64	/* program iovecs passed on per send */
#define HDR	9	/* bytes of a frame header */
#define DATA		0x0
#define HEADERS		0x1
#define RST_STREAM	0x3
#define SETTINGS	0x4
#define PUSH_PROMISE	0x5
#define END_STREAM	0x1

/* GOAWAY: length 8, type 7, no flags, stream 0; last stream 2^31-1, NO_ERROR. */
const unsigned char ld_h2_goaway[LD_H2_GOAWAY_LEN] = {
	0x00, 0x00, 0x08, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x7f, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
};

int
ld_h2_is_preface(const char *buf, size_t len)
{
	size_t n = len < LD_H2_PREFACE_LEN ? len : LD_H2_PREFACE_LEN;

	if (memcmp(buf, LD_H2_PREFACE, n) != 0)
		return 0;
	return len >= LD_H2_PREFACE_LEN ? 1 : -1;
}

static void
lock(struct ld_h2_streams *s)
{
	while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire))
		;
}

static void
unlock(struct ld_h2_streams *s)
{
	atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static void
drop(struct ld_h2_streams *s, int i)
{
	s->n--;
	s->id[i] = s->id[s->n];
	s->ended[i] = s->ended[s->n];
}

/* A frame's header is complete: what it does to the streams. */
static void
streams_frame(struct ld_h2_streams *s, int side, uint8_t type, uint8_t flags, uint32_t sid)
{
	int end = (type == DATA || type == HEADERS) && (flags & END_STREAM);
	int i;

	if (!end && type != HEADERS && type != RST_STREAM && type != PUSH_PROMISE)
		return;		/* the frames most often sent take no lock */
	lock(s);
	if (type == PUSH_PROMISE && side == LD_H2_PROGRAM) {
		/* A stream the program opens: not followed. */
		atomic_store_explicit(&s->lost, 1, memory_order_relaxed);
	} else if (type == HEADERS && side == LD_H2_CLIENT && (sid & 1) && sid > s->top) {
		s->top = sid;
		if (s->n == LD_H2_STREAMS) {
			atomic_store_explicit(&s->lost, 1, memory_order_relaxed);
		} else {
			s->id[s->n] = sid;
			s->ended[s->n++] = end ? 1 : 0;
		}
	} else if (sid != 0 && (end || type == RST_STREAM)) {
		for (i = 0; i < s->n && s->id[i] != sid; i++)
			;
		if (i < s->n) {
			s->ended[i] |= (uint8_t)(side == LD_H2_CLIENT ? 1 : 2);
			if (type == RST_STREAM || s->ended[i] == 3)
				drop(s, i);
		}
	}
	unlock(s);
}

static void
frame_end(struct ld_h2 *h)
{
	h->hpos = 0;
	h->left = 0;
	h->first = 1;
}

/* One step over p[0..n): a header byte, or as much payload as there is. */
static size_t
step(struct ld_h2 *h, struct ld_h2_streams *s, int side, const unsigned char *p, size_t n)
{
	size_t k;

	if (h->hpos < HDR) {
		if (h->hpos < 3)
			h->len = h->len << 8 | p[0];
		else if (h->hpos == 3)
			h->type = p[0];
		else if (h->hpos == 4)
			h->flags = p[0];
		else
			h->sid = (h->sid << 8 | p[0]) & 0x7fffffffU;	/* 4 bytes: no old bits left */
		if (h->hpos == 3 && !h->first && p[0] != SETTINGS) {
			h->off = 1;	/* either side's first frame is its SETTINGS */
			if (s != NULL)
				ld_h2_lose(s);
		}
		if (++h->hpos == HDR) {
			if (s != NULL)
				streams_frame(s, side, h->type, h->flags, h->sid);
			h->left = h->len;
			h->len = 0;
			if (h->left == 0)
				frame_end(h);
		}
		return 1;
	}
	k = n < h->left ? n : h->left;
	h->left -= (uint32_t)k;
	if (h->left == 0)
		frame_end(h);
	return k;
}

void
ld_h2_advance(struct ld_h2 *h, struct ld_h2_streams *s, int side, const struct iovec *iov,
    int cnt, size_t at, size_t n)
{
	for (int i = 0; i < cnt && n > 0 && !h->off; i++) {
		const unsigned char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (at >= len) {
			at -= len;
			continue;
		}
		p += at;
		len -= at;
		at = 0;
		while (len > 0 && n > 0 && !h->off) {
			size_t k = step(h, s, side, p, len < n ? len : n);

			p += k;
			len -= k;
			n -= k;
		}
	}
	if (s != NULL)
		atomic_store_explicit(&s->cut[side], h->hpos != 0 || h->left != 0,
		    memory_order_relaxed);
}

int
ld_h2_busy(struct ld_h2_streams *s)
{
	int n;

	lock(s);
	n = s->n;
	unlock(s);
	return n > 0 || atomic_load_explicit(&s->lost, memory_order_relaxed) ||
	    atomic_load_explicit(&s->cut[LD_H2_CLIENT], memory_order_relaxed) ||
	    atomic_load_explicit(&s->cut[LD_H2_PROGRAM], memory_order_relaxed);
}

void
ld_h2_lose(struct ld_h2_streams *s)
{
	atomic_store_explicit(&s->lost, 1, memory_order_relaxed);
}

/* Program bytes from `at` until ours are due (on a copy), or SIZE_MAX. */
static size_t
until_due(struct ld_h2 h, const struct iovec *iov, int cnt, size_t at)
{
	size_t d = 0;

	if (!h.want || h.off || ld_h2_sent(&h))
		return SIZE_MAX;
	for (int i = 0; i < cnt; i++) {
		const unsigned char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (at >= len) {
			at -= len;
			continue;
		}
		p += at;
		len -= at;
		at = 0;
		for (;;) {
			size_t k;

			if (ld_h2_due(&h))
				return d;
			if (len == 0 || h.off)
				break;
			k = step(&h, NULL, LD_H2_PROGRAM, p, len);
			p += k;
			len -= k;
			d += k;
		}
	}
	return ld_h2_due(&h) ? d : SIZE_MAX;
}

/* Up to n program bytes from `at` into out (at most cap); sets *got to how many. */
static int
slice(const struct iovec *iov, int cnt, size_t at, size_t n, struct iovec *out, int cap,
    size_t *got)
{
	int no = 0;

	*got = 0;
	for (int i = 0; i < cnt && no < cap && n > 0; i++) {
		size_t len = iov[i].iov_len, k;

		if (at >= len) {
			at -= len;
			continue;
		}
		k = len - at < n ? len - at : n;
		out[no].iov_base = (char *)iov[i].iov_base + at;
		out[no++].iov_len = k;
		*got += k;
		n -= k;
		at = 0;
	}
	return no;
}

ssize_t
ld_h2_write(struct ld_h2 *h, struct ld_h2_streams *s, const struct iovec *iov, int cnt,
    int blocking, ld_rt_send_fn send, void *ctx)
{
	size_t total = 0, taken = 0;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	if (total == 0 || h->off)
		return send(ctx, iov, cnt);
	for (;;) {
		struct iovec out[2 * MAXIOV + 1];
		size_t d = until_due(*h, iov, cnt, taken), before, got, ours_len = 0;
		size_t left, prog1, ours_sent, prog2;
		int no;
		ssize_t r;

		if (d == SIZE_MAX && taken == 0) {
			/* Nothing of ours in this write: the program's call as it is. */
			r = send(ctx, iov, cnt);
			if (r > 0)
				ld_h2_advance(h, s, LD_H2_PROGRAM, iov, cnt, 0, (size_t)r);
			return r;
		}
		no = slice(iov, cnt, taken, d, out, MAXIOV, &before);
		if (d != SIZE_MAX && before == d) {
			ours_len = LD_H2_GOAWAY_LEN - h->ours;
			out[no].iov_base = (void *)(ld_h2_goaway + h->ours);
			out[no++].iov_len = ours_len;
			no += slice(iov, cnt, taken + d, SIZE_MAX, out + no, MAXIOV, &got);
		}
		r = send(ctx, out, no);
		if (r < 0)
			return taken > 0 ? (ssize_t)taken : -1;
		/* Which of the bytes sent were the program's, which ours. */
		left = (size_t)r;
		prog1 = left < before ? left : before;
		left -= prog1;
		ours_sent = left < ours_len ? left : ours_len;
		prog2 = left - ours_sent;
		ld_h2_advance(h, s, LD_H2_PROGRAM, iov, cnt, taken, prog1);
		h->ours = (uint8_t)(h->ours + ours_sent);
		ld_h2_advance(h, s, LD_H2_PROGRAM, iov, cnt, taken + prog1, prog2);
		taken += prog1 + prog2;
		if (taken == total || (r == 0))
			return (ssize_t)taken;
		if (!blocking && taken > 0)
			return (ssize_t)taken;
		/* Blocking, or only ours went: send on (a full buffer answers EAGAIN). */
	}
}

int
ld_h2_flush(struct ld_h2 *h, ld_rt_send_fn send, void *ctx)
{
	struct iovec iov;
	ssize_t r;

	if (!ld_h2_due(h))
		return ld_h2_sent(h);
	iov.iov_base = (void *)(ld_h2_goaway + h->ours);
	iov.iov_len = LD_H2_GOAWAY_LEN - h->ours;
	r = send(ctx, &iov, 1);
	if (r < 0)
		return -1;
	h->ours = (uint8_t)(h->ours + r);
	return ld_h2_sent(h);
}
