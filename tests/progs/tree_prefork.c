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
 * usage: tree_prefork PORT NWORKERS DELAY_MS [ADDR]
 * stdout: "worker PID" per worker, then "ready"; "master exit" at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXW 16

static pid_t workers[MAXW];
static int nworkers;
#define SLOW_MS 1000	/* GET /slow */

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

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

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

/* Keep-alive HTTP/1.1: answers every complete request head, DELAY_MS each. */
static void *
serve(void *arg)
{
	static const char ka[] = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nprefork\n";
	static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n"
	    "Connection: close\r\n\r\nprefork\n";
	int fd = (int)(long)arg;
	char buf[8192];
	size_t len = 0;

	for (;;) {
		char *end;
		ssize_t r;

		buf[len] = '\0';
		while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			size_t used = (size_t)(end + 4 - buf);
			int close_after;

			*end = '\0';
			close_after = strcasestr(buf, "Connection: close") != NULL ||
			    strstr(buf, "HTTP/1.0") != NULL;
			if (strncmp(buf, "GET /slow ", 10) == 0)
				sleep_ms(SLOW_MS);
			else if (delay_ms > 0)
				sleep_ms(delay_ms);
			if (write_all(fd, close_after ? cl : ka,
			    close_after ? sizeof(cl) - 1 : sizeof(ka) - 1) == -1 || close_after)
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

static void __attribute__((noreturn))
worker(int ls)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t th;
		int c = accept(ls, NULL, NULL);

		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (accept_error("tree_prefork worker", errno) == -1)
				_exit(3);
			continue;
		}
		if (pthread_create(&th, &attr, serve, (void *)(long)c) != 0) {
			close(c);
			continue;
		}
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sigaction sa;
	sigset_t term, old;
	int ls, one = 1, left;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: tree_prefork PORT NWORKERS DELAY_MS [ADDR]\n");
		return 2;
	}
	nworkers = atoi(argv[2]);
	delay_ms = atol(argv[3]);
	if (nworkers < 1 || nworkers > MAXW)
		return 2;
	alarm(120);
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	if (inet_pton(AF_INET, argc == 5 ? argv[4] : "127.0.0.1", &sin.sin_addr) != 1)
		return 2;
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(ls, 512) == -1) {
		perror("tree_prefork: bind/listen");
		return 1;
	}

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
			worker(ls);
		}
		workers[i] = pid;
		printf("worker %d\n", (int)pid);
	}
	printf("ready\n");
	fflush(stdout);
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
