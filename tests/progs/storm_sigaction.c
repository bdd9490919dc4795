/*
 * storm_sigaction PORT mixed|tight|fork: threads calling sigaction() in
 * loops while the lame-duck signal comes, is held and is delivered.
 *
 * Two actions take turns, each recognisable as a whole:
 *   A1: handler h1, sa_mask {SIGUSR2}, SA_RESTART
 *   A2: h2 (SA_SIGINFO), sa_mask {SIGHUP}, SA_SIGINFO|SA_RESTART
 * Every `old` returned and every query must be A1 or A2 whole (never the
 * shim's handler, never the handler of one with the mask or flags of the
 * other). Both handlers count SIGTERM deliveries.
 *
 *   mixed  4 threads, each installing A1/A2 in turn for SIGTERM, SIGINT and
 *          SIGUSR1, with a query after each, and a short pause every 64.
 *   tight  6 threads installing A1/A2 for SIGTERM and nothing else, no pause.
 *   fork   3 threads as in tight, while the main thread forks: each child
 *          (async-signal-safe calls only) sets SIGTERM to SIG_DFL with
 *          sigaction and _exits; a child not gone 2 s later is SIGKILLed
 *          and counted as hung (alarm() cannot end a child that spins with
 *          every signal blocked).
 *
 * From "ready" until 300 ms after the first SIGTERM delivery (at most 50 s),
 * then prints
 * "term=N int=N usr1=N calls=N bad=N first_bad=yes|none [forks=N hung=N bad_child=N]",
 * then "first bad: ..." and "first hung child: state=R sigblk=HEX" if any,
 * and exits 0 when SIGTERM ran once, SIGINT and SIGUSR1 never, every query
 * was whole, and (fork) no child hung.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "progs.h"

#define MAXTHREADS	8
#ifndef SA_RESTORER
#define SA_RESTORER	0x04000000
#endif

static _Atomic long term_runs, int_runs, usr1_runs, calls, bad;
static atomic_int stop;
static char first_bad[160];
static atomic_flag first_bad_taken = ATOMIC_FLAG_INIT;
static int nsigs = 1;
static const int sigs[3] = { SIGTERM, SIGINT, SIGUSR1 };
static int pause_every;

static void
count(int sig)
{
	if (sig == SIGTERM)
		atomic_fetch_add(&term_runs, 1);
	else if (sig == SIGINT)
		atomic_fetch_add(&int_runs, 1);
	else if (sig == SIGUSR1)
		atomic_fetch_add(&usr1_runs, 1);
}

static void
h1(int sig)
{
	count(sig);
}

static void
h2(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	count(sig);
}

static void
make(struct sigaction *a, int which)
{
	memset(a, 0, sizeof(*a));
	sigemptyset(&a->sa_mask);
	if (which == 1) {
		a->sa_handler = h1;
		sigaddset(&a->sa_mask, SIGUSR2);
		a->sa_flags = SA_RESTART;
	} else {
		a->sa_sigaction = h2;
		sigaddset(&a->sa_mask, SIGHUP);
		a->sa_flags = SA_SIGINFO | SA_RESTART;
	}
}

static int
only(const sigset_t *set, int sig)
{
	for (int s = 1; s < NSIG; s++)
		if ((sigismember(set, s) == 1) != (s == sig))
			return 0;
	return 1;
}

static void
verify(int sig, const struct sigaction *q, const char *what)
{
	int flags = q->sa_flags & ~SA_RESTORER, ok;

	if (q->sa_handler == h1)
		ok = flags == SA_RESTART && only(&q->sa_mask, SIGUSR2);
	else if (q->sa_sigaction == h2)
		ok = flags == (SA_SIGINFO | SA_RESTART) && only(&q->sa_mask, SIGHUP);
	else
		ok = 0;
	if (ok)
		return;
	atomic_fetch_add(&bad, 1);
	if (!atomic_flag_test_and_set(&first_bad_taken))
		snprintf(first_bad, sizeof(first_bad), "%s(sig %d): handler %p flags %#x h1 %p h2 %p",
		    what, sig, (void *)q->sa_handler, (unsigned)q->sa_flags, (void *)h1, (void *)h2);
}

static void *
hammer(void *arg)
{
	unsigned long i = (unsigned long)arg;

	while (!atomic_load(&stop)) {
		struct sigaction a, old, q;
		int sig = sigs[i % (unsigned long)nsigs];

		make(&a, (int)(i % 2) + 1);
		memset(&old, 0, sizeof(old));
		if (sigaction(sig, &a, &old) == -1)
			prog_fail("sigaction(%d): %s", sig, strerror(errno));
		verify(sig, &old, "old");
		memset(&q, 0, sizeof(q));
		if (sigaction(sig, NULL, &q) == -1)
			prog_fail("sigaction(%d, NULL): %s", sig, strerror(errno));
		verify(sig, &q, "query");
		atomic_fetch_add(&calls, 2);
		i++;
		if (pause_every && i % (unsigned long)pause_every == 0) {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static char hung_info[128];

/* What a hung child is doing: its State and SigBlk lines, for the report. */
static void
note_hung(pid_t pid)
{
	char path[64], buf[4096], *st, *blk;
	FILE *f;
	size_t n;

	if (hung_info[0])
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	st = strstr(buf, "State:\t");
	blk = strstr(buf, "SigBlk:\t");
	if (st == NULL || blk == NULL)
		return;
	snprintf(hung_info, sizeof(hung_info), "state=%c sigblk=%.16s", st[7], blk + 8);
}

int
main(int argc, char **argv)
{
	pthread_t th[MAXTHREADS];
	long forks = 0, hung = 0, bad_child = 0;
	long long until = -1, limit;
	int nthreads, forking = 0;

	prog_start(argc, argv);
	if (argc < 3)
		prog_fail("usage: storm_sigaction PORT mixed|tight|fork");
	if (strcmp(argv[2], "mixed") == 0)
		nthreads = 4, nsigs = 3, pause_every = 64;
	else if (strcmp(argv[2], "tight") == 0)
		nthreads = 6;
	else if (strcmp(argv[2], "fork") == 0)
		nthreads = 3, forking = 1;
	else
		prog_fail("unknown mode %s", argv[2]);
	for (int s = 0; s < nsigs; s++) {
		struct sigaction a;

		make(&a, 1);
		if (sigaction(sigs[s], &a, NULL) == -1)
			prog_fail("sigaction: %s", strerror(errno));
	}
	(void)prog_listen(argv[1]);
	for (long t = 0; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, hammer, (void *)(t * 7)) != 0)
			prog_fail("pthread_create");
	prog_ready();

	limit = prog_now_ms() + 50000;
	while ((until < 0 || prog_now_ms() < until) && prog_now_ms() < limit) {
		if (atomic_load(&term_runs) && until < 0)
			until = prog_now_ms() + 300;
		if (!forking) {
			prog_sleep_ms(1);
			continue;
		}
		pid_t pid = fork();
		int st, h;

		if (pid == -1) {
			prog_sleep_ms(1);
			continue;
		}
		if (pid == 0) {
			struct sigaction d;

			alarm(2);
			memset(&d, 0, sizeof(d));
			d.sa_handler = SIG_DFL;
			sigemptyset(&d.sa_mask);
			(void)sigaction(SIGTERM, &d, NULL);
			_exit(0);
		}
		forks++;
		if (prog_reap(pid, &st, &h, note_hung) != pid)
			bad_child++;
		else if (h || (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM))
			hung++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad_child++;
	}
	atomic_store(&stop, 1);
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	printf("term=%ld int=%ld usr1=%ld calls=%ld bad=%ld first_bad=%s",
	    atomic_load(&term_runs), atomic_load(&int_runs), atomic_load(&usr1_runs),
	    atomic_load(&calls), atomic_load(&bad), first_bad[0] ? "yes" : "none");
	if (forking)
		printf(" forks=%ld hung=%ld bad_child=%ld", forks, hung, bad_child);
	printf("\n");
	if (first_bad[0])
		printf("first bad: %s\n", first_bad);
	if (hung_info[0])
		printf("first hung child: %s\n", hung_info);
	fflush(stdout);
	return !(atomic_load(&term_runs) == 1 && atomic_load(&int_runs) == 0 &&
	    atomic_load(&usr1_runs) == 0 && atomic_load(&bad) == 0 && hung == 0 &&
	    bad_child == 0);
}
