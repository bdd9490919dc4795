/*
 * Unit tests for shim/h2.c: the HTTP/2 frame follower. A server's frames are
 * written by a program that splits them at every byte (and into iovecs),
 * through a kernel that takes every byte at once, a few at a time, or
 * answers EAGAIN every other call, with the GOAWAY asked for at several
 * points. What leaves must parse as frames, and be the program's frames
 * with exactly one GOAWAY of ours between two of them, after the first
 * (the server's SETTINGS), at the first boundary after it was asked for;
 * the program must be told how many of its own bytes left, never ours.
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
 * The kernel: takes at most `max` bytes a call; flaky 1: every other call is
 * EAGAIN, 2: every call is.
 */
struct kernel {
	unsigned char	got[2048];
	size_t		len;
	size_t		max;
	int		flaky, calls;
};

static ssize_t
kernel_send(void *ctx, const struct iovec *iov, int cnt)
{
	struct kernel *k = ctx;
	size_t n = 0;

	if (k->flaky == 2 || (k->flaky && k->calls++ % 2 == 0)) {
		errno = EAGAIN;
		return -1;
	}
	for (int i = 0; i < cnt && n < k->max; i++) {
		size_t m = iov[i].iov_len;

		if (m > k->max - n)
			m = k->max - n;
		assert_true(k->len + m <= sizeof(k->got));
		memcpy(k->got + k->len, iov[i].iov_base, m);
		k->len += m;
		n += m;
	}
	return (ssize_t)n;
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
		r = ld_h2_write(h, iov, cnt, blocking, kernel_send, k);
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
	assert_int_equal(ld_h2_write(&h, &iov, 1, 0, kernel_send, &k), (ssize_t)stream_len);
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
	assert_int_equal(ld_h2_write(&h, &iov, 1, 0, kernel_send, &k), 5);
	assert_int_equal(ld_h2_flush(&h, kernel_send, &k), 0);	/* inside the SETTINGS */
	assert_int_equal(k.len, 5);
	iov.iov_base = stream + 5;
	iov.iov_len = bounds[0] - 5;
	assert_int_equal(ld_h2_write(&h, &iov, 1, 0, kernel_send, &k), (ssize_t)iov.iov_len);
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
	assert_int_equal(ld_h2_write(&h, &iov, 1, 0, kernel_send, &k), (ssize_t)iov.iov_len);
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
	assert_int_equal(ld_h2_write(&h, &iov, 1, 0, kernel_send, &k), (ssize_t)bounds[0]);
	h.want = 1;
	k.flaky = 2;
	iov.iov_base = stream + bounds[0];
	iov.iov_len = stream_len - bounds[0];
	errno = 0;
	assert_int_equal(ld_h2_write(&h, &iov, 1, 0, kernel_send, &k), -1);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
