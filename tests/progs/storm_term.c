/*
 * storm_term PORT: the target of a SIGTERM storm. Blocks SIGTERM, installs
 * a plain handler that counts, listens and waits in
 * `while (!count) sigsuspend(&empty)` (nginx's master does the same), so the
 * handler runs exactly once per wake-up, whatever else arrives.
 * At the wake-up it prints "delivered count=N" at once; then, SIGTERM still
 * blocked, it waits 300 ms (signals of the storm sent after the delivery are
 * the program's own and stay pending), and prints
 * "count=N pending=P" (P: a later SIGTERM is pending, which is fine) and
 * exits by its own choice with status N: 1 is the one delivery expected.
 */
#include "progs.h"

static volatile sig_atomic_t count;

static void
handler(int sig)
{
	(void)sig;
	count++;
}

int
main(int argc, char **argv)
{
	sigset_t empty, pend;
	int at_delivery, pending;

	prog_start(argc, argv);
	prog_block_and_handle(SIGTERM, handler);
	(void)prog_listen(argv[1]);
	prog_ready();

	sigemptyset(&empty);
	while (!count)
		sigsuspend(&empty);
	at_delivery = (int)count;
	printf("delivered count=%d\n", at_delivery);
	fflush(stdout);

	prog_sleep_ms(300);
	pending = sigpending(&pend) == 0 && sigismember(&pend, SIGTERM) == 1;
	printf("count=%d pending=%d\n", (int)count, pending);
	fflush(stdout);
	return at_delivery > 100 ? 100 : at_delivery;
}
