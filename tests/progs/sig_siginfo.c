/*
 * sig_siginfo PORT [SIGNAL]: an SA_SIGINFO handler with SA_RESTART,
 * SA_ONSTACK and sa_mask={SIGUSR1} on an alternate stack, for SIGNAL (TERM by
 * default). Checks that sigaction() reports exactly what was installed, and
 * that the handler runs once, with the kernel having applied sa_mask, the
 * signal's own blocking and the alternate stack.
 * Prints: signo= pid= code= count= usr1_blocked= term_blocked= onstack=
 * (term_blocked: the handled signal was blocked inside its handler).
 */
#include <pthread.h>

#include "progs.h"

#define ALT_SIZE	(256 * 1024)

static char altstack[ALT_SIZE] __attribute__((aligned(64)));
static volatile sig_atomic_t count, got_signo, got_pid, got_code;
static volatile sig_atomic_t usr1_blocked, self_blocked, onstack;
static int handled;

static void
handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	char local;
	sigset_t cur;

	(void)uc;
	if (count++ == 0) {
		got_signo = si->si_signo;
		got_pid = si->si_pid;
		got_code = si->si_code;
		if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0) {
			usr1_blocked = sigismember(&cur, SIGUSR1) == 1;
			self_blocked = sigismember(&cur, sig) == 1;
		}
		onstack = &local >= altstack && &local < altstack + sizeof(altstack);
	}
	errno = saved;
}

static int
same_mask(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s < NSIG; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

static int
empty_mask(const sigset_t *a)
{
	for (int s = 1; s < NSIG; s++)
		if (sigismember(a, s) == 1)
			return 0;
	return 1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa, q;
	stack_t ss;

	prog_start(argc, argv);
	handled = argc > 2 ? prog_signum(argv[2]) : SIGTERM;

	memset(&q, 0, sizeof(q));
	if (sigaction(handled, NULL, &q) == -1)
		prog_fail("sigaction(%d, NULL, &old): %s", handled, strerror(errno));
	if (q.sa_handler != SIG_DFL)
		prog_fail("before install: handler is %p, not SIG_DFL", (void *)q.sa_handler);
	if (!empty_mask(&q.sa_mask))
		prog_fail("before install: sa_mask is not empty");
	if ((q.sa_flags & ~0x04000000) != 0)
		prog_fail("before install: sa_flags %#x, not 0", (unsigned)q.sa_flags);

	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = altstack;
	ss.ss_size = sizeof(altstack);
	if (sigaltstack(&ss, NULL) == -1)
		prog_fail("sigaltstack: %s", strerror(errno));

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	if (sigaction(handled, &sa, NULL) == -1)
		prog_fail("sigaction(%d): %s", handled, strerror(errno));

	memset(&q, 0, sizeof(q));
	if (sigaction(handled, NULL, &q) == -1)
		prog_fail("sigaction(%d, NULL, &old): %s", handled, strerror(errno));
	if (q.sa_sigaction != handler)
		prog_fail("after install: handler is %p, not ours %p", (void *)q.sa_handler,
		    (void *)handler);
	if (!same_mask(&q.sa_mask, &sa.sa_mask))
		prog_fail("after install: sa_mask differs from the installed {SIGUSR1}");
	if ((q.sa_flags & ~0x04000000) != sa.sa_flags)
		prog_fail("after install: sa_flags %#x, installed %#x",
		    (unsigned)(q.sa_flags & ~0x04000000), (unsigned)sa.sa_flags);

	(void)prog_listen(argv[1]);
	prog_ready();
	prog_wait_flag(&count);
	prog_sleep_ms(300);	/* a second delivery would show up here */

	printf("signo=%d pid=%d code=%d count=%d usr1_blocked=%d term_blocked=%d onstack=%d\n",
	    (int)got_signo, (int)got_pid, (int)got_code, (int)count, (int)usr1_blocked,
	    (int)self_blocked, (int)onstack);
	fflush(stdout);
	if (got_signo != handled)
		prog_fail("handler got signal %d, expected %d", (int)got_signo, handled);
	if (!usr1_blocked)
		prog_fail("SIGUSR1 (sa_mask) not blocked inside the handler");
	if (!self_blocked)
		prog_fail("signal %d not blocked inside its own handler", handled);
	if (!onstack)
		prog_fail("handler did not run on the alternate stack");
	if (count != 1)
		prog_fail("handler ran %d times", (int)count);
	return 0;
}
