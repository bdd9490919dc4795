/*
 * The BSD functions the shim uses: strtonum and strlcpy. The glibc build
 * takes them from libbsd (linked in statically). libbsd does not exist for
 * musl on Debian, and musl 1.2 has strlcpy of its own but no strtonum, so
 * the musl build (make musl) uses ld_strtonum from compat.c instead.
 */
#ifndef LD_COMPAT_H
#define LD_COMPAT_H

#include <stdlib.h>
#include <string.h>

/* OpenBSD's strtonum, exactly (compat.c; tests/unit/test_compat.c compares). */
long long	ld_strtonum(const char *s, long long minval, long long maxval,
		    const char **errstr);

#ifdef __GLIBC__
#include <bsd/stdlib.h>
#include <bsd/string.h>
#else
#define strtonum	ld_strtonum
#endif

#endif
