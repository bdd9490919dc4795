/*
 * A pre-fork server of our own: the master binds and listens, forks NWORKERS
 * workers that each accept with a blocking accept() in their main thread and
 * serve every accepted connection (HTTP/1.1 keep-alive, DELAY_MS a request,
 * 1 s for GET /slow) on a thread of its own. The master's SIGTERM handler
 * forwards SIGTERM to the workers; the master then reaps them and exits 0.
 * Workers have the default action for SIGTERM. A worker never respawns: one
 * that dies early is logged (stderr) and the master exits 4 once none is
 * left. An accept() error is logged once (stderr, "accept: ") and retried
 * after 10 ms.
 *
 * With TREE_PREFORK_REUSEPORT=1 in the environment, the master makes one
 * SO_REUSEPORT socket per worker (as nginx's reuseport does): every worker
 * holds them all and accepts from its own only. TREE_PREFORK_ACCEPT_MS=N:
 * the last worker pauses N ms after each accept (its queue builds up).
 *
 * usage: tree_prefork PORT NWORKERS DELAY_MS [ADDR]
 * stdout: "worker PID" per worker, then "ready"; "master exit" at the end.
 */
#include <sys/wait.h>

#include "http.h"

#define MAXW 16

static pid_t workers[MAXW];
static int nworkers;
static long delay_ms;
static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
	int saved = errno;

	(void)sig;
	stopping = 1;
	for (int i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			kill(workers[i], SIGTERM);
	errno = saved;
}

/* Keep-alive HTTP/1.1: answers every complete request head, DELAY_MS each. */
static int
answer(int fd, char *req, int close_after)
{
	return http_answer_delayed(fd, req, close_after, "prefork\n", delay_ms);
}

static void __attribute__((noreturn))
worker(int ls)
{
	http_accept_loop(ls, 0, "tree_prefork worker", answer);
	_exit(3);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct sigaction sa;
	sigset_t term, old;
	int ls[MAXW], left, nls = 1;
	const char *env;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: tree_prefork PORT NWORKERS DELAY_MS [ADDR]\n");
		return 2;
	}
	nworkers = atoi(argv[2]);
	delay_ms = atol(argv[3]);
	if (nworkers < 1 || nworkers > MAXW)
		return 2;
	alarm(120);
	if (http_addr(&sin, argv[1], argc == 5 ? argv[4] : "127.0.0.1") == -1)
		return 2;
	env = getenv("TREE_PREFORK_REUSEPORT");
	if (env != NULL && strcmp(env, "1") == 0) {
		http_reuseport = 1;
		nls = nworkers;
	}
	for (int i = 0; i < nls; i++)
		ls[i] = http_listen(&sin, 0, 512, "tree_prefork: bind/listen");

	/* SIGTERM is blocked until every worker's pid is known. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);

	for (int i = 0; i < nworkers; i++) {
		pid_t pid = fork();

		if (pid == -1) {
			perror("tree_prefork: fork");
			return 1;
		}
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			alarm(120);
			env = getenv("TREE_PREFORK_ACCEPT_MS");
			if (env != NULL && i == nworkers - 1)
				http_accept_pause_ms = atol(env);
			worker(ls[i % nls]);
		}
		workers[i] = pid;
		printf("worker %d\n", (int)pid);
	}
	prog_ready();
	sigprocmask(SIG_SETMASK, &old, NULL);

	for (left = nworkers; left > 0;) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);

		if (pid == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < nworkers; i++)
			if (workers[i] == pid) {
				workers[i] = 0;
				left--;
			}
		if (!stopping)
			fprintf(stderr, "tree_prefork: worker %d ended before SIGTERM (status 0x%x)\n",
			    (int)pid, st);
	}
	printf("master exit\n");
	fflush(stdout);
	return stopping ? 0 : 4;
}
