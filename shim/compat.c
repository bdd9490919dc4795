/*
 * strtonum for the musl build, which has no libbsd (compat.h). The glibc
 * build compiles this file to nothing; tests/unit/test_compat.c includes it
 * with LD_COMPAT_TEST defined and compares it with libbsd's.
 *
 * The contract (OpenBSD's strtonum(3)): a decimal integer as strtoll(3)
 * reads it (leading white space and a sign allowed), nothing after it, and
 * within [minval, maxval]. On success the value, *errstr NULL and errno
 * unchanged. Otherwise 0, *errstr "invalid" (not a number, trailing
 * characters, or minval > maxval) with errno EINVAL, or "too small" /
 * "too large" with errno ERANGE (out of bounds or out of long long).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "compat.h"

#if !defined(__GLIBC__) || defined(LD_COMPAT_TEST)

long long
ld_strtonum(const char *s, long long minval, long long maxval, const char **errstr)
{
	const char *why = NULL;
	int saved = errno, code = 0;
	long long v = 0;
	char *end = NULL;

	if (minval > maxval) {
		why = "invalid";
		code = EINVAL;
	} else {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (end == s || *end != '\0') {
			why = "invalid";
			code = EINVAL;
		} else if (v < minval || (v == LLONG_MIN && errno == ERANGE)) {
			why = "too small";
			code = ERANGE;
		} else if (v > maxval || (v == LLONG_MAX && errno == ERANGE)) {
			why = "too large";
			code = ERANGE;
		}
	}
	if (errstr != NULL)
		*errstr = why;
	if (why != NULL) {
		errno = code;
		return 0;
	}
	errno = saved;
	return v;
}

#endif
