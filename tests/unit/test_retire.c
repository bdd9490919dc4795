/*
 * Unit tests for shim/retire.c: the HTTP/1.x response rewriter. Every
 * response is written by a program that splits it at every byte (and into
 * iovecs), through a kernel that takes every byte at once, one byte at a
 * time, or answers EAGAIN every other call; what leaves must be exactly
 * the expected response, and the program must be told exactly how many of
 * its own bytes left, never ours.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "retire.h"
#include "kernel.h"

#define C	LD_RETIRE_HEADER

static const struct {
	const char	*name;
	const char	*in;	/* what the program writes */
	const char	*out;	/* what must leave */
} cases[] = {
	{ "content-length",
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	  "HTTP/1.1 200 OK\r\n" C "Content-Length: 5\r\n\r\nhello" },
	{ "keep-alive replaced",
	  "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
	  "HTTP/1.1 200 OK\r\n" C "Connection: close     \r\nContent-Length: 2\r\n\r\nok" },
	{ "HTTP/1.0, Keep-Alive, no space",
	  "HTTP/1.0 404 Not Found\r\nconnection:Keep-Alive\r\nKeep-Alive: timeout=5\r\n\r\n",
	  "HTTP/1.0 404 Not Found\r\n" C "connection:close     \r\nKeep-Alive: timeout=5\r\n\r\n" },
	{ "chunked",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	  "HTTP/1.1 200 OK\r\n" C "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" },
	{ "100-continue, then the final response",
	  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
	  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n" C "Content-Length: 0\r\n\r\n" },
	{ "101 left alone, and what follows",
	  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	  "\x81\x05hello HTTP/1.1 200 OK\r\n\r\n",
	  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	  "\x81\x05hello HTTP/1.1 200 OK\r\n\r\n" },
	{ "not HTTP",
	  "+OK\r\n$5\r\nHTTP/1.1 200\r\n\r\n",
	  "+OK\r\n$5\r\nHTTP/1.1 200\r\n\r\n" },
	{ "the next response passes",
	  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n",
	  "HTTP/1.1 200 OK\r\n" C "Content-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n" },
	{ "names that only look like Connection",
	  "HTTP/1.1 204 No Content\r\nConnectionx: keep-alive\r\nX-Connection: keep-alive\r\nConnect: a\r\n\r\n",
	  "HTTP/1.1 204 No Content\r\n" C "Connectionx: keep-alive\r\nX-Connection: keep-alive\r\nConnect: a\r\n\r\n" },
	{ "bare LF, no reason phrase",
	  "HTTP/1.1 304\nETag: x\n\n",
	  "HTTP/1.1 304\n" C "ETag: x\n\n" },
	{ "Connection: close already",
	  "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n",
	  "HTTP/1.1 500 Internal Server Error\r\n" C "Connection: close\r\n\r\n" },
};

/*
 * The program writes in[from..to) as `pieces` iovecs, again and again from
 * where the last call stopped, as a correct program does; returns the bytes
 * it was told went out in all.
 */
static void
program_writes(struct ld_rt *rt, struct kernel *k, const char *in, size_t from, size_t to,
    int pieces, int blocking)
{
	size_t done = from;
	int spins = 0;

	while (done < to) {
		struct iovec iov[3];
		size_t len = to - done, a = len / 3, b = len / 3;
		int cnt = 0;
		ssize_t r;

		if (pieces == 1 || len < 3) {
			iov[cnt].iov_base = (char *)in + done;
			iov[cnt++].iov_len = len;
		} else {
			iov[0].iov_base = (char *)in + done;
			iov[0].iov_len = a;
			iov[1].iov_base = (char *)in + done + a;
			iov[1].iov_len = b;
			iov[2].iov_base = (char *)in + done + a + b;
			iov[2].iov_len = len - a - b;
			cnt = 3;
		}
		r = ld_rt_write(rt, iov, cnt, blocking, kernel_send, k);
		if (r == -1) {
			assert_int_equal(errno, EAGAIN);
			assert_false(blocking && !k->flaky);
			assert_true(++spins < 10000);
			continue;
		}
		assert_true(r > 0);
		assert_true((size_t)r <= len);
		if (blocking && !k->flaky && k->max >= sizeof(k->got))
			assert_int_equal((size_t)r, len);	/* a blocking write is whole */
		done += (size_t)r;
	}
}

static void
check_case(size_t c, size_t split, size_t max, int flaky, int pieces, int blocking)
{
	const char *in = cases[c].in, *out = cases[c].out;
	struct kernel k;
	struct ld_rt rt;

	memset(&k, 0, sizeof(k));
	k.max = max;
	k.flaky = flaky;
	memset(&rt, 0, sizeof(rt));
	ld_rt_arm(&rt);
	program_writes(&rt, &k, in, 0, split, pieces, blocking);
	program_writes(&rt, &k, in, split, strlen(in), pieces, blocking);
	/* A last write of nothing flushes nothing of ours that is owed: nothing is owed. */
	assert_false(ld_rt_pending(&rt));
	if (k.len != strlen(out) || memcmp(k.got, out, k.len) != 0)
		fail_msg("%s: split at %zu, kernel max %zu%s, %d iovec(s)%s:\n got  %.*s\n want %s",
		    cases[c].name, split, max, flaky ? ", flaky" : "", pieces,
		    blocking ? ", blocking" : "", (int)k.len, (const char *)k.got, out);
}

static void
test_every_split(void **state)
{
	static const size_t maxes[] = { 1, 2, 7, 19, 4096 };

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t split = 0; split <= strlen(cases[c].in); split++)
			for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
				for (int flaky = 0; flaky < 2; flaky++)
					for (int pieces = 1; pieces <= 3; pieces += 2) {
						check_case(c, split, maxes[m], flaky, pieces, 0);
						check_case(c, split, maxes[m], flaky, pieces, 1);
					}
}

/* Nothing armed: the program's bytes pass in one call, as they are. */
static void
test_unarmed_passes(void **state)
{
	struct kernel k;
	struct ld_rt rt;
	struct iovec iov = { (void *)cases[1].in, strlen(cases[1].in) };

	(void)state;
	memset(&k, 0, sizeof(k));
	k.max = 4096;
	memset(&rt, 0, sizeof(rt));
	assert_int_equal(ld_rt_write(&rt, &iov, 1, 0, kernel_send, &k), (ssize_t)iov.iov_len);
	assert_int_equal(k.len, iov.iov_len);
	assert_memory_equal(k.got, cases[1].in, k.len);
}

/* Arming again after the close went out changes nothing: one close per connection. */
static void
test_arm_once(void **state)
{
	struct kernel k;
	struct ld_rt rt;
	const char *in = cases[0].in;
	struct iovec iov = { (void *)in, strlen(in) };

	(void)state;
	memset(&k, 0, sizeof(k));
	k.max = 4096;
	memset(&rt, 0, sizeof(rt));
	ld_rt_arm(&rt);
	assert_int_equal(ld_rt_write(&rt, &iov, 1, 0, kernel_send, &k), (ssize_t)iov.iov_len);
	assert_int_equal(rt.phase, LD_RT_DONE);
	ld_rt_arm(&rt);
	assert_int_equal(rt.phase, LD_RT_DONE);
	k.len = 0;
	assert_int_equal(ld_rt_write(&rt, &iov, 1, 0, kernel_send, &k), (ssize_t)iov.iov_len);
	assert_int_equal(k.len, iov.iov_len);
	assert_memory_equal(k.got, in, k.len);
}

/* The kernel refuses everything: the program sees EAGAIN, and no byte is lost. */
static void
test_eagain_first(void **state)
{
	struct kernel k;
	struct ld_rt rt;
	struct iovec iov = { (void *)cases[0].in, strlen(cases[0].in) };

	(void)state;
	memset(&k, 0, sizeof(k));
	k.max = 4096;
	k.flaky = 2;
	memset(&rt, 0, sizeof(rt));
	ld_rt_arm(&rt);
	errno = 0;
	assert_int_equal(ld_rt_write(&rt, &iov, 1, 0, kernel_send, &k), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(rt.phase, LD_RT_STATUS);
	assert_int_equal(k.len, 0);
}

static void
test_is_request(void **state)
{
	static const struct {
		const char	*s;
		int		 yes;
	} t[] = {
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1 },
		{ "HEAD /a HTTP/1.0\r\n", 1 },
		{ "POST /submit HTTP/1.1\nHost: x\n", 1 },
		{ "OPTIONS * HTTP/1.1\r\n", 1 },
		{ "GET http://x/ HTTP/1.1\r\n", 1 },
		{ "GET /partial", 1 },		/* the line has not ended yet */
		{ "DELETE /x", 1 },
		{ "CONNECT x:443 HTTP/1.1\r\n", 0 },	/* a tunnel */
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0 },
		{ "GET / HTTP/2.0\r\n", 0 },
		{ "GET / HTTP/1.1", 1 },
		{ "GET /", 1 },
		{ "GET ", -1 },		/* a byte at a time: more is needed */
		{ "GE", -1 },
		{ "G", -1 },
		{ "OPTIONS", -1 },
		{ "GEX", 0 },
		{ "get / HTTP/1.1\r\n", 0 },
		{ "*3\r\n$3\r\nSET\r\n", 0 },
		{ "get foo\r\n", 0 },
		{ "\x16\x03\x01\x02\x00\x01", 0 },
		{ "GET x HTTP/1.1\r\n", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (ld_rt_is_request(t[i].s, strlen(t[i].s)) != t[i].yes)
			fail_msg("ld_rt_is_request(\"%s\") is not %d", t[i].s, t[i].yes);
	/* As a program reads them, a byte at a time: undecided, then yes. */
	{
		static const char r[] = "GET / HTTP/1.1\r\n";

		for (size_t n = 1; n <= 4; n++)
			assert_int_equal(ld_rt_is_request(r, n), -1);
		assert_int_equal(ld_rt_is_request(r, 5), 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_unarmed_passes),
		cmocka_unit_test(test_arm_once),
		cmocka_unit_test(test_eagain_first),
		cmocka_unit_test(test_is_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
