/*
 * sig_signalfd PORT [poll|read|epoll]: blocks SIGTERM, reads it from a
 * signalfd, waiting with poll() (default), a blocking read(), or epoll.
 * Then checks that no second one comes within 300 ms.
 * Prints: signo= pid= count=
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "progs.h"

static int
wait_readable(int fd, const char *mode, int timeout_ms)
{
	if (strcmp(mode, "epoll") == 0) {
		struct epoll_event ev = { .events = EPOLLIN }, out;
		int ep = epoll_create1(EPOLL_CLOEXEC), n;

		if (ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
			prog_fail("epoll: %s", strerror(errno));
		while ((n = epoll_wait(ep, &out, 1, timeout_ms)) == -1 && errno == EINTR)
			;
		close(ep);
		return n;
	} else {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n;

		while ((n = poll(&p, 1, timeout_ms)) == -1 && errno == EINTR)
			;
		return n;
	}
}

int
main(int argc, char **argv)
{
	struct signalfd_siginfo si, si2;
	const char *mode;
	sigset_t set;
	ssize_t n;
	int fd, count = 0, flags;

	prog_start(argc, argv);
	mode = argc > 2 ? argv[2] : "poll";
	if (strcmp(mode, "poll") && strcmp(mode, "read") && strcmp(mode, "epoll"))
		prog_fail("%s: mode is poll, read or epoll", mode);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		prog_fail("sigprocmask: %s", strerror(errno));
	flags = SFD_CLOEXEC | (strcmp(mode, "read") ? SFD_NONBLOCK : 0);
	if ((fd = signalfd(-1, &set, flags)) == -1)
		prog_fail("signalfd: %s", strerror(errno));

	(void)prog_listen(argv[1]);
	prog_ready();

	for (;;) {
		if (strcmp(mode, "read") != 0 && wait_readable(fd, mode, -1) < 1)
			prog_fail("%s: %s", mode, strerror(errno));
		n = read(fd, &si, sizeof(si));
		if (n == (ssize_t)sizeof(si))
			break;
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;	/* woken, but nothing to read (yet) */
		prog_fail("read(signalfd): %zd, %s", n, n == -1 ? strerror(errno) : "short");
	}
	count = 1;

	if (!strcmp(mode, "read")) {
		int fl = fcntl(fd, F_GETFL);

		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	{
		long long end = prog_now_ms() + 300, left;

		while ((left = end - prog_now_ms()) > 0) {
			if (wait_readable(fd, "poll", (int)left) < 1)
				break;
			if (read(fd, &si2, sizeof(si2)) == (ssize_t)sizeof(si2))
				count++;
		}
	}
	printf("signo=%u pid=%u count=%d\n", si.ssi_signo, si.ssi_pid, count);
	fflush(stdout);
	if (si.ssi_signo != SIGTERM)
		prog_fail("signalfd gave signal %u", si.ssi_signo);
	if (count != 1)
		prog_fail("SIGTERM arrived %d times", count);
	return 0;
}
