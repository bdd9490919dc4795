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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static atomic_uint counter;

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

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

static void *
serve(void *arg)
{
	int fd = (int)(long)arg;
	char buf[8192];
	size_t len = 0;

	for (;;) {
		char *end;
		ssize_t r;

		buf[len] = '\0';
		while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			size_t used = (size_t)(end + 4 - buf);
			char body[512], out[256], head[256];
			int close_after, st, n;
			pid_t pid = 0;

			*end = '\0';
			close_after = strcasestr(buf, "Connection: close") != NULL ||
			    strstr(buf, "HTTP/1.0") != NULL;
			if (strncmp(buf, "GET /slow ", 10) == 0) {
				char *const argv[] = { "/bin/sleep", "1", NULL };

				st = run_helper(argv, 0, out, sizeof(out), &pid);
				snprintf(body, sizeof(body), st == 0 ? "slept\n" :
				    "date failed: sleep 1 ended with status 0x%x\n", st);
			} else if (strncmp(buf, "GET /sleep ", 11) == 0) {
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
			n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n",
			    strncmp(body, "date failed", 11) == 0 ? "500 Helper Failed" : "200 OK",
			    strlen(body), close_after ? "Connection: close\r\n" : "");
			if (write_all(fd, head, (size_t)n) == -1 ||
			    write_all(fd, body, strlen(body)) == -1 || close_after)
				goto out;
			memmove(buf, buf + used, len - used);
			len -= used;
			buf[len] = '\0';
		}
		if (len >= sizeof(buf) - 1)
			goto out;
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto out;
		len += (size_t)r;
	}
out:
	close(fd);
	return NULL;
}

/*
 * An accept() error the program should never see under the shim: said once
 * per errno on stderr (the test looks for "accept: "), then retried after
 * 10 ms, as a tolerant server would, so that the rest of the shutdown can
 * still be observed. -1: an error that no retry can mend (EBADF, ENOTSOCK).
 */
static int
accept_error(const char *who, int err)
{
	static int said[256];
	struct timespec ts = { 0, 10 * 1000000L };

	if (err > 0 && err < 256 && !said[err]++)
		fprintf(stderr, "%s %d: accept: %s\n", who, (int)getpid(), strerror(err));
	if (err == EBADF || err == ENOTSOCK)
		return -1;
	nanosleep(&ts, NULL);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	pthread_attr_t attr;
	int ls, one = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: tree_helper PORT [ADDR]\n");
		return 2;
	}
	alarm(120);
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	if (inet_pton(AF_INET, argc == 3 ? argv[2] : "127.0.0.1", &sin.sin_addr) != 1)
		return 2;
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(ls, 512) == -1) {
		perror("tree_helper: bind/listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t th;
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (accept_error("tree_helper", errno) == -1)
				return 3;
			continue;
		}
		if (pthread_create(&th, &attr, serve, (void *)(long)c) != 0)
			close(c);
	}
}
