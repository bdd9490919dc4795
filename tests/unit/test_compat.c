/*
 * The musl build's strtonum (shim/compat.c) against libbsd's, which the
 * glibc build uses, over hand-picked and generated inputs and many ranges.
 *
 * libbsd 0.11.7 parts from OpenBSD's strtonum(3) in three ways that the
 * shim never meets (its callers read errstr only, with minval < maxval): it
 * leaves errno alone; for minval >= maxval it answers from a clamped value
 * ("5" in [10, 5] is "too small", "-6" in [3, 3] "too large") where OpenBSD
 * says "invalid" or compares; and digits beyond long long followed by junk
 * are "too large" where OpenBSD says "invalid". Ours follows OpenBSD. So:
 * wherever minval < maxval, a well-formed number gets libbsd's value and
 * errstr, and a malformed one is refused by both; and every answer, errno
 * included, follows OpenBSD's rules (well-formed: optional white space,
 * optional sign, digits, nothing after; the value then from libbsd's parse
 * over all of long long).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define LD_COMPAT_TEST
#include "compat.c"

#define SENTINEL	12345	/* errno before each call: success leaves it */

struct range {
	long long	lo, hi;
};

static const struct range ranges[] = {
	{ 0, INT32_MAX },		/* what the shim asks for */
	{ 1, INT32_MAX },
	{ 0, 65535 },
	{ -5, 5 },
	{ LLONG_MIN, LLONG_MAX },
	{ LLONG_MIN, 0 },
	{ -1, LLONG_MAX },
	{ 5, 10 },
	{ 10, 5 },			/* minval > maxval: invalid (OpenBSD) */
	{ 3, 3 },
	{ 0, 0 },
	{ LLONG_MAX, LLONG_MAX },
	{ LLONG_MIN, LLONG_MIN },
};

static int compared;

/* White space, a sign, one digit or more, and nothing after: what strtoll(3) takes whole. */
static int
well_formed(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '+' || *s == '-')
		s++;
	if (!isdigit((unsigned char)*s))
		return 0;
	while (isdigit((unsigned char)*s))
		s++;
	return *s == '\0';
}

/* OpenBSD's answer for s in [lo, hi], from libbsd's parse over all of long long. */
static long long
expected(const char *s, long long lo, long long hi, const char **errstr, int *err)
{
	long long v = strtonum(s, LLONG_MIN, LLONG_MAX, errstr);

	*err = SENTINEL;
	if (lo > hi || !well_formed(s)) {
		*errstr = "invalid";
		*err = EINVAL;
		return 0;
	}
	if (*errstr != NULL)	/* beyond long long: its own "too small"/"too large" */
		;
	else if (v < lo)
		*errstr = "too small";
	else if (v > hi)
		*errstr = "too large";
	if (*errstr != NULL) {
		*err = ERANGE;
		return 0;
	}
	return v;
}

static int
same_answer(long long v1, const char *e1, long long v2, const char *e2)
{
	return v1 == v2 && (e1 == NULL) == (e2 == NULL) && (e1 == NULL || strcmp(e1, e2) == 0);
}

/* One input over every range; a failure names the input, the range and the answers. */
static void
same(const char *s)
{
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		const struct range *r = &ranges[i];
		const char *eb = "unset", *ew = "unset", *eo = "unset";
		long long vb = 0, vw, vo;
		int nw, no, nn;

		if (r->lo < r->hi)
			vb = strtonum(s, r->lo, r->hi, &eb);
		vw = expected(s, r->lo, r->hi, &ew, &nw);
		errno = SENTINEL;
		vo = ld_strtonum(s, r->lo, r->hi, &eo);
		no = errno;
		if (r->lo < r->hi && !well_formed(s) && (eb == NULL || eo == NULL))
			fail_msg("strtonum(\"%s\", %lld, %lld): malformed, but libbsd says \"%s\","
			    " ours \"%s\"", s, r->lo, r->hi, eb ? eb : "(null)", eo ? eo : "(null)");
		if (r->lo < r->hi && well_formed(s) && !same_answer(vb, eb, vo, eo))
			fail_msg("strtonum(\"%s\", %lld, %lld): libbsd %lld \"%s\", ours %lld \"%s\"",
			    s, r->lo, r->hi, vb, eb ? eb : "(null)", vo, eo ? eo : "(null)");
		if (!same_answer(vw, ew, vo, eo) || nw != no)
			fail_msg("strtonum(\"%s\", %lld, %lld): OpenBSD's rules give %lld \"%s\""
			    " errno %d, ours %lld \"%s\" errno %d", s, r->lo, r->hi, vw,
			    ew ? ew : "(null)", nw, vo, eo ? eo : "(null)", no);
		/* Without errstr: the same value and errno. */
		errno = SENTINEL;
		vo = ld_strtonum(s, r->lo, r->hi, NULL);
		nn = errno;
		if (vo != vw || nn != nw)
			fail_msg("strtonum(\"%s\", %lld, %lld, NULL): %lld errno %d, expected %lld errno %d",
			    s, r->lo, r->hi, vo, nn, vw, nw);
		compared++;
	}
}

static void
documented_answers(void **state)
{
	const char *e = NULL;

	(void)state;
	errno = SENTINEL;
	assert_int_equal(ld_strtonum("42", 0, 100, &e), 42);
	assert_null(e);
	assert_int_equal(errno, SENTINEL);
	assert_int_equal(ld_strtonum(" -7", -10, 10, &e), -7);
	assert_null(e);
	assert_int_equal(ld_strtonum("101", 0, 100, &e), 0);
	assert_string_equal(e, "too large");
	assert_int_equal(errno, ERANGE);
	assert_int_equal(ld_strtonum("-1", 0, 100, &e), 0);
	assert_string_equal(e, "too small");
	assert_int_equal(errno, ERANGE);
	assert_int_equal(ld_strtonum("4x", 0, 100, &e), 0);
	assert_string_equal(e, "invalid");
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ld_strtonum("", 0, 100, &e), 0);
	assert_string_equal(e, "invalid");
	assert_int_equal(ld_strtonum("5", 10, 1, &e), 0);
	assert_string_equal(e, "invalid");
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ld_strtonum("99999999999999999999", LLONG_MIN, LLONG_MAX, &e), 0);
	assert_string_equal(e, "too large");
	assert_int_equal(ld_strtonum("-99999999999999999999", LLONG_MIN, LLONG_MAX, &e), 0);
	assert_string_equal(e, "too small");
}

static void
hand_picked_like_libbsd(void **state)
{
	static const char *const inputs[] = {
		"", " ", "\t", "0", "-0", "+0", "00", "1", "-1", "+1", "5", "-5", "3",
		"6", "10", "11", "42", " 42", "\t\n 42", "42 ", "42\n", "4 2", "+", "-",
		"+-1", "-+1", "--1", "++1", "0x10", "0X1f", "010", "1e3", "1.0", "12a",
		"a12", "abc", "65535", "65536", "2147483647", "2147483648", "-2147483648",
		"4294967296", "9223372036854775806", "9223372036854775807",
		"9223372036854775808", "-9223372036854775807", "-9223372036854775808",
		"-9223372036854775809", "18446744073709551616", "99999999999999999999999",
		"-99999999999999999999999", "000000000000000000000000000000042",
		"-000000000000000000000000000000000", "+9223372036854775807",
		" -9223372036854775808", "1\0x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		same(inputs[i]);
}

/* A small deterministic generator, so that a failure repeats. */
static unsigned long long seed = 0x9e3779b97f4a7c15ULL;

static unsigned
next(unsigned n)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (unsigned)(seed % n);
}

static void
generated_like_libbsd(void **state)
{
	static const char alphabet[] = "0123456789999000+- \t\nx.";
	char buf[48];

	(void)state;
	/* Strings of digits, signs, spaces and junk, up to 24 characters. */
	for (int k = 0; k < 20000; k++) {
		unsigned len = next(25);

		for (unsigned j = 0; j < len; j++)
			buf[j] = alphabet[next(sizeof(alphabet) - 1)];
		buf[len] = '\0';
		same(buf);
	}
	/* Numbers near every bound of the ranges, and near the ends of long long. */
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		for (int d = -3; d <= 3; d++) {
			long long b[2] = { ranges[i].lo, ranges[i].hi };

			for (int j = 0; j < 2; j++) {
				if ((d < 0 && b[j] < LLONG_MIN - d) || (d > 0 && b[j] > LLONG_MAX - d))
					continue;
				snprintf(buf, sizeof(buf), "%lld", b[j] + d);
				same(buf);
			}
		}
	/* Random values of every magnitude. */
	for (int k = 0; k < 20000; k++) {
		unsigned long long u = ((unsigned long long)next(1U << 31) << 33) ^
		    ((unsigned long long)next(1U << 31) << 2) ^ next(4);

		u >>= next(64);
		snprintf(buf, sizeof(buf), "%s%llu%s", next(3) == 0 ? "-" : "", u,
		    next(10) == 0 ? "0" : "");
		same(buf);
	}
	assert_true(compared > 40000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(documented_answers),
		cmocka_unit_test(hand_picked_like_libbsd),
		cmocka_unit_test(generated_like_libbsd),
	};

	return cmocka_run_group_tests_name("compat", tests, NULL, NULL);
}
