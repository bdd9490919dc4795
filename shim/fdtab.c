/*
 * The descriptor table: two levels, pages of 4096 one-byte entries made on
 * demand with mmap (safe in a signal handler, unlike malloc) and published
 * with a compare-and-swap, so no lock is ever taken. RLIMIT_NOFILE is often
 * 1,048,576 in containers and can be raised at run time: a page exists only
 * once a descriptor in it is tracked.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtab.h"
#include "real.h"

#define PAGE_SIZE_FDS	(1 << LD_FDT_SHIFT)
#define LD_FD_HIGH	900

_Atomic(_Atomic uint8_t *) ld_fdt_pages[LD_FDT_PAGES];
static _Atomic int own[LD_OWN_MAX] = { [0 ... LD_OWN_MAX - 1] = -1 };
_Atomic int ld_holds_listeners;

static _Atomic uint8_t *
slot_make(int fd)
{
	_Atomic uint8_t *e = ld_fd_slot(fd), *page, *expected = 0;
	unsigned idx;

	if (e != 0 || fd < 0 || (unsigned)fd >> LD_FDT_SHIFT >= LD_FDT_PAGES)
		return e;
	idx = (unsigned)fd >> LD_FDT_SHIFT;
	page = mmap(0, PAGE_SIZE_FDS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 0;
	if (!atomic_compare_exchange_strong(&ld_fdt_pages[idx], &expected, page))
		munmap(page, PAGE_SIZE_FDS);	/* another thread was first */
	return ld_fd_slot(fd);
}

uint8_t
ld_fd_get(int fd)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);

	return e ? atomic_load_explicit(e, memory_order_acquire) : 0;
}

void
ld_fd_set(int fd, uint8_t v)
{
	_Atomic uint8_t *e = v ? slot_make(fd) : ld_fd_slot(fd);

	if (e)
		atomic_store_explicit(e, v, memory_order_release);
}

void
ld_fd_or(int fd, uint8_t bits)
{
	_Atomic uint8_t *e = slot_make(fd);

	if (e)
		atomic_fetch_or(e, bits);
}

int
ld_fd_first(_Atomic uint8_t *e, uint8_t v, const void *first)
{
	if (first == NULL || *(const char *)first == 'P' || (v & LD_FD_HELD)) {
		atomic_fetch_or_explicit(e, LD_FD_READ, memory_order_relaxed);
		return 1;
	}
	/* Not an HTTP/2 preface: settled here, in one step. */
	while (!atomic_compare_exchange_weak_explicit(e, &v,
	    (uint8_t)((v | LD_FD_READ) & ~LD_FD_UNREAD), memory_order_relaxed,
	    memory_order_relaxed))
		;
	return 0;
}

void
ld_fd_mark(int fd, uint8_t set, uint8_t clear)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	uint8_t v;

	if (e == 0)
		return;
	v = atomic_load_explicit(e, memory_order_relaxed);
	while (!atomic_compare_exchange_weak(e, &v, (uint8_t)((v & ~clear) | set)))
		;
}

void
ld_fd_andnot(int fd, uint8_t bits)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);

	if (e)
		atomic_fetch_and(e, (uint8_t)~bits);
}

void
ld_fd_clear_range(unsigned lo, unsigned hi)
{
	for (unsigned p = lo >> LD_FDT_SHIFT; p < LD_FDT_PAGES && p <= hi >> LD_FDT_SHIFT; p++) {
		_Atomic uint8_t *page = atomic_load(&ld_fdt_pages[p]);
		unsigned first = p << LD_FDT_SHIFT;

		if (page == 0)
			continue;
		for (unsigned i = 0; i < PAGE_SIZE_FDS; i++) {
			unsigned fd = first + i;

			if (fd < lo || fd > hi)
				continue;
			if (atomic_load_explicit(&page[i], memory_order_relaxed) & ~LD_FD_OWN)
				atomic_fetch_and(&page[i], LD_FD_OWN);
		}
	}
}

void
ld_fd_each(uint8_t type, void (*fn)(int fd, uint8_t v, void *arg), void *arg)
{
	for (unsigned p = 0; p < LD_FDT_PAGES; p++) {
		_Atomic uint8_t *page = atomic_load(&ld_fdt_pages[p]);

		if (page == 0)
			continue;
		for (unsigned i = 0; i < PAGE_SIZE_FDS; i++) {
			uint8_t v = atomic_load_explicit(&page[i], memory_order_relaxed);

			if ((v & LD_FD_TYPE) == type && type != LD_FD_NONE)
				fn((int)((p << LD_FDT_SHIFT) + i), v, arg);
		}
	}
}

int
ld_fd_any(uint8_t type)
{
	for (unsigned p = 0; p < LD_FDT_PAGES; p++) {
		_Atomic uint8_t *page = atomic_load(&ld_fdt_pages[p]);

		if (page == 0)
			continue;
		for (unsigned i = 0; i < PAGE_SIZE_FDS; i++)
			if ((atomic_load_explicit(&page[i], memory_order_relaxed) & LD_FD_TYPE) == type)
				return 1;
	}
	return 0;
}

/*
 * Where the shim's descriptors go: from 900 up, or below a lower file limit
 * (a program's `ulimit -n 512`) 128 under it, so that a program's numbers
 * seldom meet ours.
 */
static int
own_base(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)LD_FD_HIGH + 128)
		return rl.rlim_cur > 256 ? (int)rl.rlim_cur - 128 : 3;
	return LD_FD_HIGH;
}

static int
hide(int fd, int cmd)
{
	int base = own_base(), nfd;

	if (fd < 0)
		return fd;
	if (fd >= base)
		return fd;
	nfd = ld_real.fcntl(fd, cmd, base);
	if (nfd == -1)
		return fd;
	ld_close(fd);
	return nfd;
}

int
ld_own_hide(int fd)
{
	return hide(fd, F_DUPFD_CLOEXEC);
}

void
ld_own_set(enum ld_own slot, int fd)
{
	int old = atomic_exchange(&own[slot], fd);

	if (old >= 0 && old != fd)
		ld_fd_andnot(old, LD_FD_OWN);
	if (fd >= 0)
		ld_fd_or(fd, LD_FD_OWN);
}

int
ld_own(enum ld_own slot)
{
	return atomic_load(&own[slot]);
}

void
ld_own_close(enum ld_own slot)
{
	int fd = atomic_exchange(&own[slot], -1);

	if (fd < 0)
		return;
	ld_fd_set(fd, 0);
	ld_close(fd);
}

int
ld_own_move(int fd)
{
	for (int s = 0; s < LD_OWN_MAX; s++) {
		int cur = fd, nfd;

		if (atomic_load(&own[s]) != fd)
			continue;
		/* The same base as hide(): a fixed one can be over the file limit. */
		nfd = ld_real.fcntl(fd, F_DUPFD_CLOEXEC, own_base());
		if (nfd == -1)
			return -1;
		ld_fd_or(nfd, LD_FD_OWN);
		if (!atomic_compare_exchange_strong(&own[s], &cur, nfd)) {
			/* The shim let go of it meanwhile. */
			ld_fd_set(nfd, 0);
			ld_close(nfd);
		}
		ld_fd_andnot(fd, LD_FD_OWN);
		return 0;
	}
	ld_fd_andnot(fd, LD_FD_OWN);
	return 0;
}

void
ld_own_wake(void)
{
	uint64_t one = 1;
	int fd = ld_own(LD_OWN_EVENT);

	if (fd >= 0)
		(void)!syscall(SYS_write, fd, &one, sizeof(one));
}

int
ld_own_sorted(int *out, int cap)
{
	int n = 0;

	for (int s = 0; s < LD_OWN_MAX && n < cap; s++) {
		int fd = atomic_load(&own[s]), j;

		if (fd < 0)
			continue;
		for (j = n; j > 0 && out[j - 1] > fd; j--)
			out[j] = out[j - 1];
		out[j] = fd;
		n++;
	}
	return n;
}
