/*
 * A socket's send side for the rewriter tests (test_retire.c, test_h2.c):
 * it takes at most `max` bytes a call, and with flaky 1 every other call
 * fails with EAGAIN, with 2 every call does. What it took is in got.
 */
#ifndef LD_TEST_KERNEL_H
#define LD_TEST_KERNEL_H

#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

struct kernel {
	unsigned char	got[4096];
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

#endif
