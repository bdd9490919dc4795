/*
 * Unit tests for shim/h2.c: the HTTP/2 frame follower. A server's frames are
 * written by a program that splits them at every byte (and into iovecs),
 * through a kernel that takes every byte at once, a few at a time, or
 * answers EAGAIN every other call, with the GOAWAY asked for at several
 * points. What leaves must parse as frames, and be the program's frames
 * with exactly one GOAWAY of ours between two of them, after the first
 * (the server's SETTINGS), at the first boundary after it was asked for;
 * the program must be told how many of its own bytes left, never ours.
 * Then the streams a conversation opens and ends, the client's bytes read
 * cut at every byte, the program's written in pieces.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "h2.h"
#include "kernel.h"

/* A server's side of a gRPC call or two, as frames: length, type, flags, stream, payload. */
static unsigned char stream[1024];
static size_t stream_len;
static size_t bounds[32];	/* where each frame ends */
static int nbounds;

static void
frame(unsigned type, unsigned flags, unsigned id, size_t len, unsigned char fill)
{
	unsigned char *p = stream + stream_len;

	p[0] = (unsigned char)(len >> 16);
	p[1] = (unsigned char)(len >> 8);
	p[2] = (unsigned char)len;
	p[3] = (unsigned char)type;
	p[4] = (unsigned char)flags;
	p[5] = (unsigned char)(id >> 24);
	p[6] = (unsigned char)(id >> 16);
	p[7] = (unsigned char)(id >> 8);
	p[8] = (unsigned char)id;
	/* Payloads full of bytes that would read as frame headers. */
	for (size_t i = 0; i < len; i++)
		p[9 + i] = (unsigned char)(fill + i);
	stream_len += 9 + len;
	bounds[nbounds++] = stream_len;
}

static int
setup(void **state)
{
	(void)state;
	stream_len = 0;
	nbounds = 0;
	frame(0x4, 0x0, 0, 12, 0x00);	/* SETTINGS: the server preface */
	frame(0x4, 0x1, 0, 0, 0);	/* SETTINGS ack */
	frame(0x8, 0x0, 0, 4, 0x07);	/* WINDOW_UPDATE */
	frame(0x1, 0x4, 1, 14, 0x88);	/* HEADERS */
	frame(0x0, 0x0, 1, 10, 0x00);	/* DATA */
	frame(0x1, 0x5, 1, 8, 0x40);	/* trailers, END_STREAM */
	frame(0x6, 0x1, 0, 8, 0x07);	/* PING ack */
	frame(0x0, 0x0, 3, 300, 0x00);	/* DATA */
	frame(0x0, 0x1, 3, 0, 0);	/* END_STREAM */
	return 0;
}

/*
 * The program writes stream[from..to) as `pieces` iovecs, again from where
 * the last call stopped; the GOAWAY is asked for before the first call at
 * or after `want_at` of the program's bytes have gone.
 */
static void
program_writes(struct ld_h2 *h, struct kernel *k, size_t from, size_t to, int pieces,
    int blocking, size_t want_at, size_t *asked)
{
	size_t done = from;
	int spins = 0;

	while (done < to) {
		struct iovec iov[3];
		size_t len = to - done, a = len / 3, b = len / 3;
		int cnt = 0;
		ssize_t r;

		if (!h->want && done >= want_at) {
			h->want = 1;
			*asked = done;
		}
		if (pieces == 1 || len < 3) {
			iov[cnt].iov_base = stream + done;
			iov[cnt++].iov_len = len;
		} else {
			iov[0].iov_base = stream + done;
			iov[0].iov_len = a;
			iov[1].iov_base = stream + done + a;
			iov[1].iov_len = b;
			iov[2].iov_base = stream + done + a + b;
			iov[2].iov_len = len - a - b;
			cnt = 3;
		}
		r = ld_h2_write(h, NULL, iov, cnt, blocking, kernel_send, k);
		if (r == -1) {
			assert_int_equal(errno, EAGAIN);
			assert_false(blocking && !k->flaky);
			assert_true(++spins < 10000);
			continue;
		}
		assert_true(r > 0);
		assert_true((size_t)r <= len);
		done += (size_t)r;
	}
}

/* The first frame boundary at or after `at` (and after the SETTINGS). */
static size_t
boundary_after(size_t at)
{
	for (int i = 0; i < nbounds; i++)
		if (bounds[i] >= at)
			return bounds[i];
	return stream_len;
}

/*
 * What left must be frames, one of them our GOAWAY, at `where` of the
 * program's bytes; the rest the program's, as they were.
 */
static void
check_output(const struct kernel *k, size_t where, const char *what)
{
	size_t pos = 0, prog = 0, goaways = 0;

	while (pos < k->len) {
		size_t len;

		if (k->len - pos < 9)
			fail_msg("%s: a frame header cut at %zu", what, pos);
		len = (size_t)k->got[pos] << 16 | (size_t)k->got[pos + 1] << 8 | k->got[pos + 2];
		if (k->len - pos < 9 + len)
			fail_msg("%s: a frame cut at %zu", what, pos);
		if (k->got[pos + 3] == 0x7) {
			if (len != 8 || memcmp(k->got + pos, ld_h2_goaway, LD_H2_GOAWAY_LEN) != 0)
				fail_msg("%s: a GOAWAY not ours at %zu", what, pos);
			if (prog != where)
				fail_msg("%s: GOAWAY after %zu of the program's bytes, not %zu",
				    what, prog, where);
			goaways++;
		} else {
			if (memcmp(k->got + pos, stream + prog, 9 + len) != 0)
				fail_msg("%s: the program's frame at %zu changed", what, prog);
			prog += 9 + len;
		}
		pos += 9 + len;
	}
	if (prog != stream_len)
		fail_msg("%s: %zu of the program's %zu bytes left", what, prog, stream_len);
	if (goaways != 1)
		fail_msg("%s: %zu GOAWAYs", what, goaways);
}

static void
check_case(size_t split, size_t max, int flaky, int pieces, int blocking, size_t want_at)
{
	struct kernel k;
	struct ld_h2 h;
	size_t asked = SIZE_MAX, where;
	char what[160];

	memset(&k, 0, sizeof(k));
	k.max = max;
	k.flaky = flaky;
	memset(&h, 0, sizeof(h));
	program_writes(&h, &k, 0, split, pieces, blocking, want_at, &asked);
	program_writes(&h, &k, split, stream_len, pieces, blocking, want_at, &asked);
	if (!h.want) {
		/* Asked for while the program is not writing: the injector sends it. */
		h.want = 1;
		asked = stream_len;
	}
	k.flaky = 0;
	for (int i = 0; i < 100 && !ld_h2_sent(&h); i++)
		assert_int_not_equal(ld_h2_flush(&h, kernel_send, &k), -1);
	where = boundary_after(asked);
	snprintf(what, sizeof(what), "split %zu, max %zu%s, %d iovec(s)%s, asked at %zu", split,
	    max, flaky ? ", flaky" : "", pieces, blocking ? ", blocking" : "", want_at);
	check_output(&k, where, what);
	assert_true(ld_h2_sent(&h));
	assert_false(h.off);
}

static void
test_every_split(void **state)
{
	static const size_t maxes[] = { 1, 2, 7, 19, 4096 };
	static const size_t wants[] = { 0, 1, 9, 21, 30, 60, 100, 200, 1000 };

	(void)state;
	for (size_t split = 0; split <= stream_len; split++)
		for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
			for (int flaky = 0; flaky < 2; flaky++)
				for (int pieces = 1; pieces <= 3; pieces += 2)
					for (size_t w = 0; w < sizeof(wants) / sizeof(wants[0]); w++) {
						check_case(split, maxes[m], flaky, pieces, 0, wants[w]);
						check_case(split, maxes[m], flaky, pieces, 1, wants[w]);
					}
}

/* Nothing asked: the program's bytes pass in one call, as they are. */
static void
test_unasked_passes(void **state)
{
	struct kernel k;
	struct ld_h2 h;
	struct iovec iov = { stream, stream_len };

	(void)state;
	memset(&k, 0, sizeof(k));
	k.max = 4096;
	memset(&h, 0, sizeof(h));
	assert_int_equal(ld_h2_write(&h, NULL, &iov, 1, 0, kernel_send, &k), (ssize_t)stream_len);
	assert_int_equal(k.len, stream_len);
	assert_memory_equal(k.got, stream, k.len);
	assert_int_equal(k.calls, 0);
	assert_int_equal(h.hpos, 0);
	assert_int_equal(h.left, 0);
}

/* Never before the server's SETTINGS is out, even when asked before it. */
static void
test_not_before_settings(void **state)
{
	struct kernel k;
	struct ld_h2 h;
	struct iovec iov = { stream, 5 };

	(void)state;
	memset(&k, 0, sizeof(k));
	k.max = 4096;
	memset(&h, 0, sizeof(h));
	h.want = 1;
	assert_int_equal(ld_h2_flush(&h, kernel_send, &k), 0);
	assert_int_equal(k.len, 0);
	assert_int_equal(ld_h2_write(&h, NULL, &iov, 1, 0, kernel_send, &k), 5);
	assert_int_equal(ld_h2_flush(&h, kernel_send, &k), 0);	/* inside the SETTINGS */
	assert_int_equal(k.len, 5);
	iov.iov_base = stream + 5;
	iov.iov_len = bounds[0] - 5;
	assert_int_equal(ld_h2_write(&h, NULL, &iov, 1, 0, kernel_send, &k), (ssize_t)iov.iov_len);
	assert_int_equal(ld_h2_flush(&h, kernel_send, &k), 1);
	assert_int_equal(k.len, bounds[0] + LD_H2_GOAWAY_LEN);
	assert_memory_equal(k.got + bounds[0], ld_h2_goaway, LD_H2_GOAWAY_LEN);
}

/* What does not start with a SETTINGS frame is not a server's h2: untouched. */
static void
test_not_h2_untouched(void **state)
{
	static const char tls[] = "\x16\x03\x03\x00\x31\x02\x00\x00\x2d\x03\x03 and more";
	struct kernel k;
	struct ld_h2 h;
	struct iovec iov = { (void *)tls, sizeof(tls) - 1 };

	(void)state;
	memset(&k, 0, sizeof(k));
	k.max = 4096;
	memset(&h, 0, sizeof(h));
	h.want = 1;
	assert_int_equal(ld_h2_write(&h, NULL, &iov, 1, 0, kernel_send, &k), (ssize_t)iov.iov_len);
	assert_true(h.off);
	assert_int_equal(ld_h2_flush(&h, kernel_send, &k), 0);
	assert_int_equal(k.len, iov.iov_len);
	assert_memory_equal(k.got, tls, k.len);
}

/* The kernel refuses everything: the program sees EAGAIN, and nothing is lost. */
static void
test_eagain_first(void **state)
{
	struct kernel k;
	struct ld_h2 h;
	struct iovec iov = { stream, stream_len };

	(void)state;
	memset(&k, 0, sizeof(k));
	k.max = 4096;
	memset(&h, 0, sizeof(h));
	iov.iov_len = bounds[0];
	assert_int_equal(ld_h2_write(&h, NULL, &iov, 1, 0, kernel_send, &k), (ssize_t)bounds[0]);
	h.want = 1;
	k.flaky = 2;
	iov.iov_base = stream + bounds[0];
	iov.iov_len = stream_len - bounds[0];
	errno = 0;
	assert_int_equal(ld_h2_write(&h, NULL, &iov, 1, 0, kernel_send, &k), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(h.ours, 0);
	assert_int_equal(k.len, bounds[0]);
}

static void
test_is_preface(void **state)
{
	static const char p[] = LD_H2_PREFACE "\x00\x00\x12\x04";

	(void)state;
	for (size_t n = 1; n < LD_H2_PREFACE_LEN; n++)
		assert_int_equal(ld_h2_is_preface(p, n), -1);
	assert_int_equal(ld_h2_is_preface(p, LD_H2_PREFACE_LEN), 1);
	assert_int_equal(ld_h2_is_preface(p, sizeof(p) - 1), 1);
	assert_int_equal(ld_h2_is_preface("PRI * HTTP/2.0\r\n\r\nXX", 20), 0);
	assert_int_equal(ld_h2_is_preface("GET / HTTP/1.1\r\n", 16), 0);
	assert_int_equal(ld_h2_is_preface("\x16\x03\x01", 3), 0);
	assert_int_equal(ld_h2_is_preface("PRX", 3), 0);
}

/* ---- the streams open on a connection, as both sides' frames say */

/*
 * A conversation, frame by frame in the order the program sees them: the
 * client's frames as it reads them, the program's as it writes them, and
 * how many streams are open once each frame's header is through.
 */
struct event {
	int		side;		/* LD_H2_CLIENT or LD_H2_PROGRAM */
	unsigned	type, flags, id;
	size_t		len;
	int		open;		/* streams open after it */
};

static const struct event talk[] = {
	{ LD_H2_CLIENT, 0x4, 0x0, 0, 12, 0 },	/* SETTINGS: the client's preface */
	{ LD_H2_PROGRAM, 0x4, 0x0, 0, 6, 0 },	/* SETTINGS: the server's */
	{ LD_H2_CLIENT, 0x4, 0x1, 0, 0, 0 },	/* SETTINGS ack */
	{ LD_H2_CLIENT, 0x8, 0x0, 0, 4, 0 },	/* WINDOW_UPDATE */
	{ LD_H2_CLIENT, 0x1, 0x2c, 1, 30, 1 },	/* HEADERS 1, PRIORITY|PADDED|END_HEADERS */
	{ LD_H2_CLIENT, 0x0, 0x9, 1, 20, 1 },	/* DATA 1, PADDED|END_STREAM: half closed */
	{ LD_H2_PROGRAM, 0x4, 0x1, 0, 0, 1 },	/* SETTINGS ack */
	{ LD_H2_PROGRAM, 0x1, 0x4, 1, 14, 1 },	/* HEADERS 1 */
	{ LD_H2_CLIENT, 0x1, 0x1, 3, 10, 2 },	/* HEADERS 3, END_STREAM, no END_HEADERS */
	{ LD_H2_CLIENT, 0x9, 0x4, 3, 7, 2 },	/* CONTINUATION 3 */
	{ LD_H2_CLIENT, 0x1, 0x0, 5, 9, 3 },	/* HEADERS 5 */
	{ LD_H2_CLIENT, 0x9, 0x5, 5, 3, 3 },	/* CONTINUATION 5: its 0x1 is no END_STREAM */
	{ LD_H2_PROGRAM, 0x0, 0x0, 1, 300, 3 },	/* DATA 1 */
	{ LD_H2_PROGRAM, 0x1, 0x5, 5, 8, 3 },	/* HEADERS 5, END_STREAM: the client has not ended it */
	{ LD_H2_PROGRAM, 0x1, 0x5, 1, 8, 2 },	/* trailers 1, END_STREAM: closed */
	{ LD_H2_CLIENT, 0x6, 0x0, 0, 8, 2 },	/* PING */
	{ LD_H2_PROGRAM, 0x6, 0x1, 0, 8, 2 },	/* PING ack */
	{ LD_H2_CLIENT, 0x3, 0x0, 5, 4, 1 },	/* RST_STREAM 5 */
	{ LD_H2_CLIENT, 0x0, 0x1, 5, 5, 1 },	/* DATA 5, END_STREAM, after its reset */
	{ LD_H2_CLIENT, 0x1, 0x5, 2, 6, 1 },	/* HEADERS 2: an even id opens nothing */
	{ LD_H2_CLIENT, 0x1, 0x4, 1, 6, 1 },	/* HEADERS 1 again: an old id opens nothing */
	{ LD_H2_PROGRAM, 0x0, 0x8, 3, 40, 1 },	/* DATA 3, PADDED */
	{ LD_H2_PROGRAM, 0x0, 0x1, 3, 0, 0 },	/* DATA 3, END_STREAM: closed */
	{ LD_H2_CLIENT, 0x1, 0x24, 7, 11, 1 },	/* HEADERS 7 */
	{ LD_H2_CLIENT, 0x1, 0x4, 9, 11, 2 },	/* HEADERS 9 */
	{ LD_H2_PROGRAM, 0x3, 0x0, 7, 4, 1 },	/* RST_STREAM 7 */
	{ LD_H2_CLIENT, 0x0, 0x1, 9, 4000, 1 },	/* DATA 9, END_STREAM */
	{ LD_H2_PROGRAM, 0x1, 0x1, 9, 3, 0 },	/* HEADERS 9, END_STREAM: closed */
	{ LD_H2_CLIENT, 0x1, 0x4, 11, 5, 1 },	/* HEADERS 11 */
	{ LD_H2_CLIENT, 0x3, 0x0, 11, 4, 0 },	/* RST_STREAM 11 */
	{ LD_H2_PROGRAM, 0x7, 0x0, 0, 8, 0 },	/* its own GOAWAY */
};
#define NTALK	(sizeof(talk) / sizeof(talk[0]))

static unsigned char sides[2][8192];	/* each side's bytes */
static size_t side_len[2];
static size_t talk_end[NTALK];		/* where each frame ends in its side's bytes */

static void
put_frame(int side, unsigned type, unsigned flags, unsigned id, size_t len)
{
	unsigned char *p = sides[side] + side_len[side];

	assert_true(side_len[side] + 9 + len <= sizeof(sides[side]));
	p[0] = (unsigned char)(len >> 16);
	p[1] = (unsigned char)(len >> 8);
	p[2] = (unsigned char)len;
	p[3] = (unsigned char)type;
	p[4] = (unsigned char)flags;
	p[5] = (unsigned char)(id >> 24);
	p[6] = (unsigned char)(id >> 16);
	p[7] = (unsigned char)(id >> 8);
	p[8] = (unsigned char)id;
	/* Payloads that read as frame headers opening streams. */
	for (size_t i = 0; i < len; i++)
		p[9 + i] = (unsigned char)(i % 9 == 3 ? 0x1 : i % 9 == 8 ? 0x0b : 0x00);
	side_len[side] += 9 + len;
}

static int
setup_talk(void **state)
{
	(void)state;
	side_len[0] = side_len[1] = 0;
	for (size_t k = 0; k < NTALK; k++) {
		put_frame(talk[k].side, talk[k].type, talk[k].flags, talk[k].id, talk[k].len);
		talk_end[k] = side_len[talk[k].side];
	}
	return 0;
}

/* The program reads the client's bytes [from, to) in reads of at most `max`, as 3 iovecs. */
static void
client_reads(struct ld_h2 *in, struct ld_h2_streams *s, size_t from, size_t to, size_t max)
{
	while (from < to) {
		size_t n = to - from < max ? to - from : max, a = n / 3;
		struct iovec iov[3] = {
			{ sides[LD_H2_CLIENT] + from, a },
			{ sides[LD_H2_CLIENT] + from + a, 0 },
			{ sides[LD_H2_CLIENT] + from + a, n - a },
		};

		/* A read into a larger buffer: the iovecs hold more than was read. */
		iov[2].iov_len += 5;
		ld_h2_advance(in, s, LD_H2_CLIENT, iov, 3, 0, n);
		from += n;
	}
}

/*
 * The talk, the client's bytes read in pieces of rmax and also cut at
 * `split`, the program's written in pieces of wmax (through a kernel that
 * takes at most kmax a call, every other call EAGAIN if flaky). After each
 * frame the streams open must be the talk's; after a read that ends inside
 * a frame, the connection is busy.
 */
static void
talk_case(size_t split, size_t rmax, size_t wmax, size_t kmax, int flaky)
{
	struct ld_h2 in, out;
	struct ld_h2_streams s;
	struct kernel k;
	size_t at[2] = { 0, 0 };
	char what[120];

	snprintf(what, sizeof(what), "split %zu, reads of %zu, writes of %zu, kernel %zu%s", split,
	    rmax, wmax, kmax, flaky ? " flaky" : "");
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	memset(&s, 0, sizeof(s));
	memset(&k, 0, sizeof(k));
	k.max = kmax;
	k.flaky = flaky;
	for (size_t e = 0; e < NTALK; e++) {
		size_t end = talk_end[e];

		if (talk[e].side == LD_H2_CLIENT) {
			if (split > at[0] && split < end) {
				client_reads(&in, &s, at[0], split, rmax);
				if (!ld_h2_busy(&s))
					fail_msg("%s: a read cut inside frame %zu: not busy", what, e);
				at[0] = split;
			}
			client_reads(&in, &s, at[0], end, rmax);
			at[0] = end;
		} else {
			while (at[1] < end) {
				size_t n = end - at[1] < wmax ? end - at[1] : wmax;
				struct iovec iov = { sides[LD_H2_PROGRAM] + at[1], n };
				ssize_t r = ld_h2_write(&out, &s, &iov, 1, 0, kernel_send, &k);

				if (r == -1) {
					assert_int_equal(errno, EAGAIN);
					continue;
				}
				if (at[1] + (size_t)r < end && !ld_h2_busy(&s))
					fail_msg("%s: a write cut inside frame %zu: not busy", what, e);
				at[1] += (size_t)r;
			}
		}
		if (s.n != talk[e].open)
			fail_msg("%s: after frame %zu, %u streams open, not %d", what, e, s.n,
			    talk[e].open);
		if (ld_h2_busy(&s) != (talk[e].open > 0))
			fail_msg("%s: after frame %zu, busy %d with %d streams open", what, e,
			    ld_h2_busy(&s), talk[e].open);
	}
	assert_false(in.off);
	assert_false(out.off);
	assert_false(s.lost);
	/* What the program wrote went out as it was. */
	assert_int_equal(k.len, side_len[LD_H2_PROGRAM]);
	assert_memory_equal(k.got, sides[LD_H2_PROGRAM], k.len);
}

static void
test_streams_every_split(void **state)
{
	static const size_t rmaxes[] = { 1, 4, 9, 10, 4096 };
	static const size_t wmaxes[] = { 1, 9, 4096 };

	(void)state;
	for (size_t split = 0; split <= side_len[LD_H2_CLIENT]; split++)
		for (size_t r = 0; r < sizeof(rmaxes) / sizeof(rmaxes[0]); r++)
			for (size_t w = 0; w < sizeof(wmaxes) / sizeof(wmaxes[0]); w++)
				talk_case(split, rmaxes[r], wmaxes[w], w == 0 ? 4096 : 7, (int)(r & 1));
}

/* Client frames by hand: one frame into buf, returns its length. */
static size_t
mkframe(unsigned char *buf, unsigned type, unsigned flags, unsigned id, size_t len)
{
	buf[0] = (unsigned char)(len >> 16);
	buf[1] = (unsigned char)(len >> 8);
	buf[2] = (unsigned char)len;
	buf[3] = (unsigned char)type;
	buf[4] = (unsigned char)flags;
	buf[5] = (unsigned char)(id >> 24);
	buf[6] = (unsigned char)(id >> 16);
	buf[7] = (unsigned char)(id >> 8);
	buf[8] = (unsigned char)id;
	memset(buf + 9, 0, len);
	return 9 + len;
}

static void
feed(struct ld_h2 *in, struct ld_h2_streams *s, int side, unsigned type, unsigned flags,
    unsigned id, size_t len)
{
	unsigned char buf[64];
	struct iovec iov = { buf, mkframe(buf, type, flags, id, len) };

	ld_h2_advance(in, s, side, &iov, 1, 0, iov.iov_len);
}

/* More streams open than the table holds: busy for good, even once they all end. */
static void
test_streams_overflow(void **state)
{
	struct ld_h2 in, out;
	struct ld_h2_streams s;
	unsigned id;

	(void)state;
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	memset(&s, 0, sizeof(s));
	feed(&in, &s, LD_H2_CLIENT, 0x4, 0, 0, 0);
	feed(&out, &s, LD_H2_PROGRAM, 0x4, 0, 0, 0);
	for (id = 1; id < 2 * LD_H2_STREAMS; id += 2)
		feed(&in, &s, LD_H2_CLIENT, 0x1, 0x5, id, 3);
	assert_int_equal(s.n, LD_H2_STREAMS);
	assert_false(s.lost);
	feed(&in, &s, LD_H2_CLIENT, 0x1, 0x5, id, 3);
	assert_true(s.lost);
	for (id = 1; id <= 2 * LD_H2_STREAMS + 1; id += 2)
		feed(&out, &s, LD_H2_PROGRAM, 0x1, 0x5, id, 3);
	assert_int_equal(s.n, 0);
	assert_true(ld_h2_busy(&s));
}

/* What the follower cannot count keeps the connection busy. */
static void
test_streams_lost(void **state)
{
	struct ld_h2 in, out;
	struct ld_h2_streams s;

	(void)state;
	/* The program promises a stream of its own (server push). */
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	memset(&s, 0, sizeof(s));
	feed(&out, &s, LD_H2_PROGRAM, 0x4, 0, 0, 0);
	feed(&in, &s, LD_H2_CLIENT, 0x4, 0, 0, 0);
	feed(&in, &s, LD_H2_CLIENT, 0x1, 0x5, 1, 3);
	feed(&out, &s, LD_H2_PROGRAM, 0x5, 0x4, 1, 8);
	feed(&out, &s, LD_H2_PROGRAM, 0x1, 0x5, 1, 3);
	assert_int_equal(s.n, 0);
	assert_true(ld_h2_busy(&s));
	/* The client's first frame after its preface is not a SETTINGS. */
	memset(&in, 0, sizeof(in));
	memset(&s, 0, sizeof(s));
	feed(&in, &s, LD_H2_CLIENT, 0x1, 0x5, 1, 3);
	assert_true(in.off);
	assert_true(ld_h2_busy(&s));
	/* Told from outside (a write the follower does not see). */
	memset(&s, 0, sizeof(s));
	assert_false(ld_h2_busy(&s));
	ld_h2_lose(&s);
	assert_true(ld_h2_busy(&s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_every_split, setup),
		cmocka_unit_test_setup(test_unasked_passes, setup),
		cmocka_unit_test_setup(test_not_before_settings, setup),
		cmocka_unit_test_setup(test_not_h2_untouched, setup),
		cmocka_unit_test_setup(test_eagain_first, setup),
		cmocka_unit_test_setup(test_is_preface, setup),
		cmocka_unit_test_setup(test_streams_every_split, setup_talk),
		cmocka_unit_test(test_streams_overflow),
		cmocka_unit_test(test_streams_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
