/*
 * Shared by the test programs in this directory: each listens on
 * 127.0.0.1:PORT (which makes the shim consider it ready), prints "ready",
 * does one signal thing and prints one line of results. Each ends by itself
 * (alarm) so that nothing hangs a test run.
 */
#ifndef LD_TEST_PROGS_H
#define LD_TEST_PROGS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG_ALARM_S	60

static inline void __attribute__((noreturn, format(printf, 1, 2)))
prog_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: FAIL: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline long
prog_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		prog_fail("%s: bad %s", s, what);
	return v;
}

static inline void
prog_start(int argc, char **argv)
{
	if (argc < 2)
		prog_fail("usage: %s PORT [...]", argv[0]);
	alarm(PROG_ALARM_S);
}

/* Binds 127.0.0.1:port with SO_REUSEADDR and listens. */
static inline int
prog_listen(const char *port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)prog_num(port, 1, 65535, "port"));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		prog_fail("socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		prog_fail("setsockopt(SO_REUSEADDR): %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		prog_fail("bind 127.0.0.1:%s: %s", port, strerror(errno));
	if (listen(fd, 16) == -1)
		prog_fail("listen: %s", strerror(errno));
	return fd;
}

static inline void
prog_ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

static inline long long
prog_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds in total, whatever signals interrupt it. */
static inline void
prog_sleep_ms(long ms)
{
	long long end = prog_now_ms() + ms;
	long long left;

	while ((left = end - prog_now_ms()) > 0) {
		struct timespec ts = { left / 1000, (left % 1000) * 1000000L };

		(void)nanosleep(&ts, NULL);
	}
}

/* Waits, a short nap at a time, until *flag is set. */
static inline void
prog_wait_flag(volatile sig_atomic_t *flag)
{
	while (!*flag) {
		struct timespec ts = { 0, 10 * 1000000L };

		(void)nanosleep(&ts, NULL);
	}
}

static inline int
prog_signum(const char *name)
{
	if (strcmp(name, "TERM") == 0 || strcmp(name, "SIGTERM") == 0)
		return SIGTERM;
	if (strcmp(name, "INT") == 0 || strcmp(name, "SIGINT") == 0)
		return SIGINT;
	if (strcmp(name, "QUIT") == 0 || strcmp(name, "SIGQUIT") == 0)
		return SIGQUIT;
	if (strcmp(name, "HUP") == 0 || strcmp(name, "SIGHUP") == 0)
		return SIGHUP;
	if (strcmp(name, "USR2") == 0 || strcmp(name, "SIGUSR2") == 0)
		return SIGUSR2;
	return (int)prog_num(name, 1, 64, "signal");
}

/* nginx's master style: sig blocked, a plain handler for when it is let in. */
static inline void
prog_block_and_handle(int sig, void (*handler)(int))
{
	struct sigaction sa;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		prog_fail("sigprocmask: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) == -1)
		prog_fail("sigaction: %s", strerror(errno));
}

/*
 * Reaps pid, polling: a child that does not end within 2 s is SIGKILLed
 * (alarm() cannot end a child that spins with every signal blocked), after
 * before_kill(pid) if given, and *hung set. Returns waitpid's result.
 */
static inline pid_t
prog_reap(pid_t pid, int *st, int *hung, void (*before_kill)(pid_t))
{
	long long end = prog_now_ms() + 2000;
	pid_t r;

	*hung = 0;
	for (;;) {
		struct timespec ts = { 0, 20000 };

		r = waitpid(pid, st, WNOHANG);
		if (r != 0 && !(r == -1 && errno == EINTR))
			return r;
		if (!*hung && prog_now_ms() >= end) {
			*hung = 1;
			if (before_kill != NULL)
				before_kill(pid);
			kill(pid, SIGKILL);
		}
		nanosleep(&ts, NULL);
	}
}

#endif
