/*
 * idle_thread.so: starts one thread that never runs again, as the shim
 * starts its own in every process it manages, and does nothing else. Once
 * a process has a second thread, glibc takes its multi-threaded paths for
 * good (cancellation around each blocking system call, locks in malloc):
 * tests/bench.py preloads this without the shim, so that its instruction
 * counts tell the shim's own code from what any thread costs.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void *
idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();	/* every signal blocked: never returns */
	return NULL;
}

__attribute__((constructor)) static void
start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;

	/* Born with every signal blocked: the program's signals are not its. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	(void)pthread_create(&t, &attr, idle, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
