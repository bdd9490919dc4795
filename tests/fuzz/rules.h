/*
 * What the config fuzzers hold the parser to: the README's rules written
 * out again, rather than asked of the shim, and one way to fail.
 * Define FUZZ_NAME before including.
 */
#ifndef FUZZ_RULES_H
#define FUZZ_RULES_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static void __attribute__((noreturn, format(printf, 1, 2)))
broken(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, FUZZ_NAME ": property violated: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* May be a lame-duck signal (LAMEDUCK_SIGNALS). */
static int
allowed(int sig)
{
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE:
	case SIGTRAP: case SIGSYS:
		return 0;
	}
	return sig >= 1 && sig < LD_NSIG && !(sig > 31 && sig < SIGRTMIN);
}

/* May be delivered (LAMEDUCK_DELIVER). */
static int
deliverable(int sig)
{
	return sig >= 1 && sig < LD_NSIG && sig != SIGKILL && sig != SIGSTOP &&
	    !(sig > 31 && (sig < SIGRTMIN || sig > SIGRTMAX));
}

#endif
