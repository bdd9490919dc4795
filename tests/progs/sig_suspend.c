/*
 * sig_suspend PORT: like nginx's master. Blocks SIGTERM with sigprocmask,
 * installs a plain handler that sets a flag, and waits in
 * `while (!flag) sigsuspend(&empty)`: the handler must run on this thread,
 * inside sigsuspend, or the program never wakes. Then checks that no second
 * SIGTERM is pending within 300 ms.
 * Prints: signo= count=
 */
#include "progs.h"

static volatile sig_atomic_t flag, count, got_signo;

static void
handler(int sig)
{
	got_signo = sig;
	count++;
	flag = 1;
}

int
main(int argc, char **argv)
{
	sigset_t empty, pend;

	prog_start(argc, argv);
	prog_block_and_handle(SIGTERM, handler);

	(void)prog_listen(argv[1]);
	prog_ready();

	sigemptyset(&empty);
	while (!flag)
		sigsuspend(&empty);

	/* SIGTERM is blocked again here: a second one would stay pending. */
	prog_sleep_ms(300);
	if (sigpending(&pend) == 0 && sigismember(&pend, SIGTERM) == 1) {
		sigsuspend(&empty);	/* runs the handler once more */
	}
	printf("signo=%d count=%d\n", (int)got_signo, (int)count);
	fflush(stdout);
	if (got_signo != SIGTERM)
		prog_fail("handler got signal %d", (int)got_signo);
	if (count != 1)
		prog_fail("handler ran %d times", (int)count);
	return 0;
}
