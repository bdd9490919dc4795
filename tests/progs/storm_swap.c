/*
 * storm_swap PORT handler|dfl|ign: installs SIGTERM handler A, listens,
 * prints "ready", then waits for a line on stdin (the test sends it during
 * the lame-duck delay, after SIGTERM came) and replaces A by:
 *   handler  handler B; the swap's `old` must be A and a query must read B;
 *   dfl      SIG_DFL: the delivery must then end the process by SIGTERM;
 *   ign      SIG_IGN: the delivery must do nothing.
 * Prints "swapped old=A|B|DFL|IGN|? query=A|B|DFL|IGN|?" after the swap.
 * handler: waits for a handler to run, 300 ms more, prints "a=N b=N" and
 * exits 0 when only B ran, once. ign: waits WAIT_MS (argv[3], default 3000)
 * and prints "a=N b=N survived"; exits 0 when neither ran.
 */
#include "progs.h"

static volatile sig_atomic_t a_runs, b_runs;

static void
handler_a(int sig)
{
	(void)sig;
	a_runs++;
}

static void
handler_b(int sig)
{
	(void)sig;
	b_runs++;
}

static const char *
name(void (*h)(int))
{
	if (h == handler_a)
		return "A";
	if (h == handler_b)
		return "B";
	if (h == SIG_DFL)
		return "DFL";
	if (h == SIG_IGN)
		return "IGN";
	return "?";
}

int
main(int argc, char **argv)
{
	struct sigaction sa, old, q;
	char line[64];
	const char *mode;
	long wait_ms;

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: storm_swap PORT handler|dfl|ign [WAIT_MS]");
	mode = argv[2];
	wait_ms = argc > 3 ? prog_num(argv[3], 0, 50000, "milliseconds") : 3000;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler_a;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) == -1)
		prog_fail("sigaction: %s", strerror(errno));
	(void)prog_listen(argv[1]);
	prog_ready();

	if (fgets(line, sizeof(line), stdin) == NULL)
		prog_fail("stdin closed before the swap");
	if (a_runs || b_runs)
		prog_fail("a handler ran before the swap: a=%d b=%d", (int)a_runs, (int)b_runs);
	memset(&sa, 0, sizeof(sa));
	if (strcmp(mode, "handler") == 0)
		sa.sa_handler = handler_b;
	else if (strcmp(mode, "dfl") == 0)
		sa.sa_handler = SIG_DFL;
	else if (strcmp(mode, "ign") == 0)
		sa.sa_handler = SIG_IGN;
	else
		prog_fail("unknown mode %s", mode);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	memset(&old, 0, sizeof(old));
	if (sigaction(SIGTERM, &sa, &old) == -1)
		prog_fail("sigaction (swap): %s", strerror(errno));
	memset(&q, 0, sizeof(q));
	if (sigaction(SIGTERM, NULL, &q) == -1)
		prog_fail("sigaction (query): %s", strerror(errno));
	printf("swapped old=%s query=%s\n", name(old.sa_handler), name(q.sa_handler));
	fflush(stdout);

	if (strcmp(mode, "ign") == 0) {
		prog_sleep_ms(wait_ms);
		printf("a=%d b=%d survived\n", (int)a_runs, (int)b_runs);
		fflush(stdout);
		return a_runs || b_runs;
	}
	/* dfl: the delivery ends the process here. */
	while (!a_runs && !b_runs)
		prog_sleep_ms(5);
	prog_sleep_ms(300);
	printf("a=%d b=%d\n", (int)a_runs, (int)b_runs);
	fflush(stdout);
	return !(a_runs == 0 && b_runs == 1);
}
