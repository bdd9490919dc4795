/*
 * Forced into every glibc build of the shim (-include, see the Makefile) so
 * that a shim built on a new glibc still loads on an old one (README,
 * "Minimum glibc").
 *
 * glibc 2.32-2.34 moved dlsym and dladdr from libdl and the pthread functions from
 * libpthread into libc, under new symbol versions (dlsym@GLIBC_2.34,
 * pthread_create@GLIBC_2.34, pthread_sigmask@GLIBC_2.32, ...); a reference
 * to those versions makes the loader refuse the shim on an older glibc, and
 * the loader skips a preload it cannot load without a word. Each of them is
 * still exported under its first version, the architecture's base version,
 * as the same code: binding to that version here makes the reference
 * resolve to libc.so.6 on a new glibc and to libdl.so.2 or libpthread.so.0
 * on an old one, where the references are weak and the shim loads those
 * libraries itself when the program has not (real.c). pthread_sigmask
 * (GLIBC_2.32) is not used: sigprocmask is the same call on Linux.
 *
 * fstat@GLIBC_2.33 has no older version (before 2.33 it was an inline around
 * __fxstat): the shim calls ld_fstat (real.c), the system call, instead.
 */
#ifndef LD_GLIBC_COMPAT_H
#define LD_GLIBC_COMPAT_H

#include <features.h>

#if defined(__GLIBC__)
# if defined(__x86_64__) && !defined(__ILP32__)
#  define LD_GLIBC_BASE	"GLIBC_2.2.5"
# elif defined(__aarch64__) && !defined(__ILP32__)
#  define LD_GLIBC_BASE	"GLIBC_2.17"
# endif
/* Elsewhere nothing is rebound, and tests/check-abi.sh reports the versions. */
# ifdef LD_GLIBC_BASE
#  define LD_OLD_VERSION(f)	__asm__(".symver " #f ", " #f "@" LD_GLIBC_BASE)
LD_OLD_VERSION(dlsym);
LD_OLD_VERSION(dladdr);
LD_OLD_VERSION(pthread_create);
LD_OLD_VERSION(pthread_attr_setstacksize);
#  undef LD_OLD_VERSION
# endif
#endif

#endif
