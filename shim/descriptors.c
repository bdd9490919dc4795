/*
 * Descriptor interposition: close, dup and friends keep the table in step,
 * and the shim's own descriptors survive programs that close everything
 * (a close() loop up to the limit, closefrom, close_range): the program sees
 * success as if they were closed. A dup2 onto one of ours really happens;
 * ours moves out of the way first. All of this is async-signal-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conns.h"
#include "fdtab.h"
#include "real.h"
#include "sigtable.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC	(1U << 2)
#endif

static int
real_close_range(unsigned lo, unsigned hi, int flags)
{
	return (int)syscall(SYS_close_range, lo, hi, flags);
}

/* On the hot path: one look-up of the entry, read and cleared in place. */
static int
close_one(int fd)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	uint8_t v;

	if (e != 0 && (v = atomic_load_explicit(e, memory_order_acquire)) != 0) {
		if (v & LD_FD_OWN)
			return 0;
		if ((v & LD_FD_TYPE) == LD_FD_SIGFD)
			ld_sig_untrack_signalfd(fd);
		/* Forget first: once closed, the number may be reused at once. */
		atomic_store_explicit(e, 0, memory_order_release);
	}
	return ld_real.close(fd);
}

LD_EXPORT int
close(int fd)
{
	return close_one(fd);
}

/* Close [lo, hi] but for our own descriptors, which split the range. */
static int
close_around_ours(unsigned lo, unsigned hi, int flags)
{
	int ours[LD_OWN_MAX], n = ld_own_sorted(ours, LD_OWN_MAX), r = 0;
	unsigned from = lo;

	if (!(flags & CLOSE_RANGE_CLOEXEC))
		ld_fd_clear_range(lo, hi);
	for (int i = 0; i < n && from <= hi; i++) {
		unsigned fd = (unsigned)ours[i];

		if (fd < from || fd > hi)
			continue;
		if (fd > from && real_close_range(from, fd - 1, flags) == -1)
			r = -1;
		if (fd == ~0U)
			return r;
		from = fd + 1;
	}
	if (from <= hi && real_close_range(from, hi, flags) == -1)
		r = -1;
	return r;
}

int close_range(unsigned, unsigned, int);
LD_EXPORT int
close_range(unsigned lo, unsigned hi, int flags)
{
	if (lo > hi) {
		errno = EINVAL;
		return -1;
	}
	return close_around_ours(lo, hi, flags);
}

void closefrom(int);
LD_EXPORT void
closefrom(int lo)
{
	if (lo < 0)
		lo = 0;
	if (close_around_ours((unsigned)lo, ~0U, 0) == -1) {
		/* Without close_range (old kernels): one by one, as libc does. */
		long max = sysconf(_SC_OPEN_MAX);

		for (long fd = lo; fd < max; fd++)
			(void)close_one((int)fd);
	}
}

static void
copy_entry(int from, int to)
{
	uint8_t v = ld_fd_get(from) & (uint8_t)~LD_FD_OWN;

	if ((ld_fd_get(to) & LD_FD_TYPE) == LD_FD_SIGFD)
		ld_sig_untrack_signalfd(to);	/* dup2 over a tracked signalfd */
	if ((v & LD_FD_TYPE) == LD_FD_SIGFD)
		v = 0;		/* one number tracked per signalfd */
	if ((v & LD_FD_TYPE) == LD_FD_CONN && (v & (LD_FD_H2 | LD_FD_UNREAD))) {
		/* Two numbers write one stream: its HTTP/2 frames are not followed. */
		ld_conn_unseen(from);
		v &= (uint8_t)~(LD_FD_H2 | LD_FD_UNREAD | LD_FD_HELD);
	}

	ld_fd_set(to, v);
}

LD_EXPORT int
dup(int fd)
{
	int r = ld_real.dup(fd);

	if (r >= 0)
		copy_entry(fd, r);
	return r;
}

static int
before_dup_onto(int oldfd, int newfd)
{
	if (oldfd == newfd)
		return 0;
	if (ld_fd_get(newfd) & LD_FD_OWN)
		return ld_own_move(newfd);
	return 0;
}

LD_EXPORT int
dup2(int oldfd, int newfd)
{
	int r;

	if (before_dup_onto(oldfd, newfd) == -1) {
		errno = EBUSY;
		return -1;
	}
	r = ld_real.dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd)
		copy_entry(oldfd, newfd);
	return r;
}

LD_EXPORT int
dup3(int oldfd, int newfd, int flags)
{
	int r;

	if (before_dup_onto(oldfd, newfd) == -1) {
		errno = EBUSY;
		return -1;
	}
	r = ld_real.dup3(oldfd, newfd, flags);
	if (r >= 0)
		copy_entry(oldfd, newfd);
	return r;
}

static int
fcntl_one(int fd, int cmd, void *arg)
{
	int r = ld_real.fcntl(fd, cmd, arg);

	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		copy_entry(fd, r);
	return r;
}

/* Every fcntl argument fits in a pointer-sized slot: forward it as such. */
LD_EXPORT int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_one(fd, cmd, arg);
}

/* glibc's name for fcntl in programs built with _FILE_OFFSET_BITS=64; musl has none. */
#ifdef __GLIBC__
int fcntl64(int, int, ...);
LD_EXPORT int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_one(fd, cmd, arg);
}
#endif
