/*
 * A server that runs a helper program per request, with no signal handling:
 * blocking accept() loop, a thread per connection, HTTP/1.1 keep-alive.
 *   GET /       runs /bin/date, alternately through fork+execv and
 *               posix_spawn, and answers 200 with its output.
 *   GET /slow   runs /bin/sleep 1 (fork+execv), then answers 200 "slept".
 *   GET /sleep  runs /bin/sleep 5 (fork+execv) and answers 200 with how it
 *               ended: "helper PID exit N" or "helper PID signal N".
 *
 * Every descriptor of its own is close-on-exec, so helpers inherit only
 * stdin, stdout and stderr.
 *
 * usage: tree_helper PORT [ADDR]
 * stdout: "ready" once listening.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "http.h"

extern char **environ;

static atomic_uint counter;

/* Runs argv with stdout into out; returns the wait status, or -1. */
static int
run_helper(char *const argv[], int use_spawn, char *out, size_t outsz, pid_t *pidp)
{
	int p[2], st;
	size_t len = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if (use_spawn) {
		posix_spawn_file_actions_t fa;

		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
			pid = -1;
		posix_spawn_file_actions_destroy(&fa);
	} else {
		pid = fork();
		if (pid == 0) {
			dup2(p[1], 1);
			execv(argv[0], argv);
			_exit(127);
		}
	}
	close(p[1]);
	if (pid == -1) {
		close(p[0]);
		return -1;
	}
	*pidp = pid;
	for (;;) {
		ssize_t r = read(p[0], out + len, outsz - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len >= outsz - 1)
			break;
	}
	out[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return st;
}

/* Runs a helper for each request: see the top of the file. */
static int
answer(int fd, char *req, int close_after)
{
	char body[512], out[256], head[256];
	int st, n;
	pid_t pid = 0;

	if (strncmp(req, "GET /slow ", 10) == 0) {
		char *const argv[] = { "/bin/sleep", "1", NULL };

		st = run_helper(argv, 0, out, sizeof(out), &pid);
		snprintf(body, sizeof(body), st == 0 ? "slept\n" :
		    "date failed: sleep 1 ended with status 0x%x\n", st);
	} else if (strncmp(req, "GET /sleep ", 11) == 0) {
		char *const argv[] = { "/bin/sleep", "5", NULL };

		st = run_helper(argv, 0, out, sizeof(out), &pid);
		if (st == -1)
			snprintf(body, sizeof(body), "helper failed\n");
		else if (WIFSIGNALED(st))
			snprintf(body, sizeof(body), "helper %d signal %d\n",
			    (int)pid, WTERMSIG(st));
		else
			snprintf(body, sizeof(body), "helper %d exit %d\n",
			    (int)pid, WEXITSTATUS(st));
	} else {
		char *const argv[] = { "/bin/date", "+%s", NULL };
		unsigned k = atomic_fetch_add(&counter, 1);

		st = run_helper(argv, (int)(k & 1), out, sizeof(out), &pid);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || out[0] == '\0')
			snprintf(body, sizeof(body), "date failed (status 0x%x)\n", st);
		else
			snprintf(body, sizeof(body), "%s", out);
	}
	n = http_head(head, sizeof(head),
	    strncmp(body, "date failed", 11) == 0 ? "500 Helper Failed" : "200 OK",
	    strlen(body), close_after);
	if (http_write_all(fd, head, (size_t)n) == -1 ||
	    http_write_all(fd, body, strlen(body)) == -1)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	int ls;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: tree_helper PORT [ADDR]\n");
		return 2;
	}
	alarm(120);
	if (http_addr(&sin, argv[1], argc == 3 ? argv[2] : "127.0.0.1") == -1)
		return 2;
	ls = http_listen(&sin, SOCK_CLOEXEC, 512, "tree_helper: bind/listen");
	prog_ready();
	http_accept_loop(ls, SOCK_CLOEXEC, "tree_helper", answer);
	return 3;
}
