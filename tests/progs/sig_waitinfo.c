/*
 * sig_waitinfo PORT MODE: blocks SIGTERM with sigprocmask (checking the mask
 * reads back unblocked before and blocked after), starts a thread that only
 * sleeps (it inherits the mask), and takes SIGTERM with MODE:
 *   sigwaitinfo | sigtimedwait (1 s at a time, in a loop) | sigwait
 * Then checks that no second SIGTERM comes within 300 ms.
 * Prints: signo= pid= count= (pid 0 for sigwait, which gives no siginfo).
 */
#include <pthread.h>

#include "progs.h"

static volatile int thread_blocked = -1;

static void *
sleeper(void *arg)
{
	sigset_t cur;

	(void)arg;
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0)
		thread_blocked = sigismember(&cur, SIGTERM) == 1;
	for (;;)
		sleep(1);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct timespec ts;
	sigset_t set, cur;
	siginfo_t si;
	pthread_t th;
	const char *mode;
	int sig = -1, count = 0, r;

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: sig_waitinfo PORT sigwaitinfo|sigtimedwait|sigwait");
	mode = argv[2];
	if (strcmp(mode, "sigwaitinfo") && strcmp(mode, "sigtimedwait") && strcmp(mode, "sigwait"))
		prog_fail("%s: mode is sigwaitinfo, sigtimedwait or sigwait", mode);

	if (sigprocmask(SIG_BLOCK, NULL, &cur) == -1)
		prog_fail("sigprocmask query: %s", strerror(errno));
	if (sigismember(&cur, SIGTERM))
		prog_fail("SIGTERM is blocked before the program blocked it");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		prog_fail("sigprocmask(SIG_BLOCK): %s", strerror(errno));
	if (sigprocmask(SIG_BLOCK, NULL, &cur) == -1)
		prog_fail("sigprocmask query: %s", strerror(errno));
	if (!sigismember(&cur, SIGTERM))
		prog_fail("SIGTERM reads back unblocked after sigprocmask(SIG_BLOCK)");
	if ((r = pthread_create(&th, NULL, sleeper, NULL)) != 0)
		prog_fail("pthread_create: %s", strerror(r));

	(void)prog_listen(argv[1]);
	prog_ready();

	memset(&si, 0, sizeof(si));
	if (strcmp(mode, "sigwaitinfo") == 0) {
		while ((sig = sigwaitinfo(&set, &si)) == -1 && errno == EINTR)
			;
		if (sig == -1)
			prog_fail("sigwaitinfo: %s", strerror(errno));
	} else if (strcmp(mode, "sigtimedwait") == 0) {
		for (;;) {
			ts.tv_sec = 1;
			ts.tv_nsec = 0;
			if ((sig = sigtimedwait(&set, &si, &ts)) != -1)
				break;
			if (errno != EAGAIN && errno != EINTR)
				prog_fail("sigtimedwait: %s", strerror(errno));
		}
	} else {
		while ((r = sigwait(&set, &sig)) == EINTR)
			;
		if (r != 0)
			prog_fail("sigwait: %s", strerror(r));
	}
	count = 1;
	if (strcmp(mode, "sigwait") != 0 && si.si_signo != sig)
		prog_fail("%s returned %d but si_signo is %d", mode, sig, si.si_signo);

	/* A second one within 300 ms? */
	{
		long long end = prog_now_ms() + 300, left;
		siginfo_t si2;

		while ((left = end - prog_now_ms()) > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = left * 1000000L;
			if (sigtimedwait(&set, &si2, &ts) == SIGTERM)
				count++;
			else if (errno == EAGAIN)
				break;
		}
	}
	printf("signo=%d pid=%d count=%d\n", sig, strcmp(mode, "sigwait") ? (int)si.si_pid : 0,
	    count);
	fflush(stdout);
	if (sig != SIGTERM)
		prog_fail("%s returned signal %d", mode, sig);
	if (thread_blocked != 1)
		prog_fail("the extra thread saw SIGTERM %s", thread_blocked == 0 ? "unblocked" :
		    "(mask unknown)");
	if (count != 1)
		prog_fail("SIGTERM arrived %d times", count);
	return 0;
}
