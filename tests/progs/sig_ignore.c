/*
 * sig_ignore PORT [inherit]: SIGTERM ignored, installed here with SIG_IGN,
 * or (inherit) left as the process inherited it, which must then read back
 * as SIG_IGN (`trap '' TERM; exec sig_ignore PORT inherit`). Runs on:
 * prints "alive" for every SIGUSR1, exits 0 on SIGUSR2 (printing "bye").
 */
#include "progs.h"

static volatile sig_atomic_t usr1, usr2;

static void
on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

static void
on_usr2(int sig)
{
	(void)sig;
	usr2 = 1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa, q;
	int inherit, seen = 0;

	prog_start(argc, argv);
	inherit = argc > 2 && strcmp(argv[2], "inherit") == 0;
	if (argc > 2 && !inherit)
		prog_fail("%s: the only option is inherit", argv[2]);

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	if (!inherit) {
		sa.sa_handler = SIG_IGN;
		if (sigaction(SIGTERM, &sa, NULL) == -1)
			prog_fail("sigaction(SIGTERM, SIG_IGN): %s", strerror(errno));
	}
	memset(&q, 0, sizeof(q));
	if (sigaction(SIGTERM, NULL, &q) == -1)
		prog_fail("sigaction query: %s", strerror(errno));
	if (q.sa_handler != SIG_IGN)
		prog_fail("SIGTERM reads back as %s, not SIG_IGN%s",
		    q.sa_handler == SIG_DFL ? "SIG_DFL" : "a handler",
		    inherit ? " (inherited)" : "");
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGUSR1, &sa, NULL) == -1)
		prog_fail("sigaction(SIGUSR1): %s", strerror(errno));
	sa.sa_handler = on_usr2;
	if (sigaction(SIGUSR2, &sa, NULL) == -1)
		prog_fail("sigaction(SIGUSR2): %s", strerror(errno));

	(void)prog_listen(argv[1]);
	prog_ready();
	while (!usr2) {
		while (seen < usr1) {
			seen++;
			printf("alive\n");
			fflush(stdout);
		}
		prog_sleep_ms(10);
	}
	printf("bye\n");
	fflush(stdout);
	return 0;
}
