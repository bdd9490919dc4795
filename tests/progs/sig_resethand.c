/*
 * sig_resethand PORT MODE: a SIGTERM handler installed one of three ways,
 *   sigaction  SA_SIGINFO|SA_RESETHAND (one shot: SIG_DFL after it runs)
 *   sysv       sysv_signal() (one shot)
 *   signal     glibc's BSD signal() (stays installed)
 * After the handler ran, sigaction(SIGTERM, NULL, &old) must say what the
 * kernel would: SIG_DFL for the one-shot modes, the handler for signal().
 * Prints: handler_after=DFL|HANDLER|OTHER count= pid= (pid 0: unknown, the
 * handler gets no siginfo in the sysv and signal modes).
 */
#include "progs.h"

static volatile sig_atomic_t count, got_pid;

static void
plain(int sig)
{
	(void)sig;
	count++;
}

static void
info(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (count == 0)
		got_pid = si->si_pid;
	count++;
}

int
main(int argc, char **argv)
{
	struct sigaction sa, q;
	const char *mode, *after;
	int want_dfl;

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: sig_resethand PORT sigaction|sysv|signal");
	mode = argv[2];

	memset(&q, 0, sizeof(q));
	if (sigaction(SIGTERM, NULL, &q) == -1 || q.sa_handler != SIG_DFL)
		prog_fail("before install: SIGTERM is not SIG_DFL");

	if (strcmp(mode, "sigaction") == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = info;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
		if (sigaction(SIGTERM, &sa, NULL) == -1)
			prog_fail("sigaction: %s", strerror(errno));
		want_dfl = 1;
	} else if (strcmp(mode, "sysv") == 0) {
		if (sysv_signal(SIGTERM, plain) == SIG_ERR)
			prog_fail("sysv_signal: %s", strerror(errno));
		want_dfl = 1;
	} else if (strcmp(mode, "signal") == 0) {
		if (signal(SIGTERM, plain) == SIG_ERR)
			prog_fail("signal: %s", strerror(errno));
		want_dfl = 0;
	} else
		prog_fail("%s: mode is sigaction, sysv or signal", mode);

	memset(&q, 0, sizeof(q));
	if (sigaction(SIGTERM, NULL, &q) == -1)
		prog_fail("sigaction query: %s", strerror(errno));
	if (q.sa_handler == SIG_DFL || q.sa_handler == SIG_IGN)
		prog_fail("after install (%s): query reports %s, not the handler", mode,
		    q.sa_handler == SIG_DFL ? "SIG_DFL" : "SIG_IGN");
	if (want_dfl && !(q.sa_flags & SA_RESETHAND))
		prog_fail("after install (%s): SA_RESETHAND missing from sa_flags %#x", mode,
		    (unsigned)q.sa_flags);
	if (!want_dfl && (q.sa_flags & SA_RESETHAND))
		prog_fail("after install (%s): unexpected SA_RESETHAND", mode);

	(void)prog_listen(argv[1]);
	prog_ready();
	prog_wait_flag(&count);
	prog_sleep_ms(300);

	memset(&q, 0, sizeof(q));
	if (sigaction(SIGTERM, NULL, &q) == -1)
		prog_fail("sigaction query: %s", strerror(errno));
	if (q.sa_handler == SIG_DFL)
		after = "DFL";
	else if (q.sa_handler == plain || q.sa_sigaction == info)
		after = "HANDLER";
	else
		after = "OTHER";
	printf("handler_after=%s count=%d pid=%d\n", after, (int)count, (int)got_pid);
	fflush(stdout);
	if (strcmp(after, want_dfl ? "DFL" : "HANDLER") != 0)
		prog_fail("%s: after delivery the query reports %s, expected %s", mode, after,
		    want_dfl ? "DFL" : "HANDLER");
	if (count != 1)
		prog_fail("handler ran %d times", (int)count);
	return 0;
}
