/*
 * mc_load PORT SECONDS WORKERS [persist]: a memcached load client. For
 * SECONDS, each of WORKERS threads repeats one exchange with 127.0.0.1:PORT
 * (a load balancer in front of memcached): `set` of a key of its own with a
 * fresh value, then `get` of it, each answer checked byte for byte. By
 * default every exchange has a connection of its own (connect, set, get,
 * close), so a balancer can route each one around an instance that is
 * going away; with `persist` a worker keeps its connection and opens a new
 * one only after a failure.
 *
 * A failed exchange: connect refused or timed out, a send or receive error,
 * the connection closed before the full answer, a wrong answer, or no answer
 * within 3 s. The first 20 are described on stderr ("fail +MS wN: why").
 * Last line on stdout: "requests=N failed=F seconds=S"; exit status 0 if
 * no exchange failed, 1 if one did.
 */
#include "progs.h"

#include <pthread.h>

#define IO_TIMEOUT_S	3
#define MAX_REPORTED	20

static int port, seconds, persist;
static long long t_start, t_end;
static long n_ok, n_failed;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void __attribute__((format(printf, 2, 3)))
failed(int worker, const char *fmt, ...)
{
	long n = __atomic_fetch_add(&n_failed, 1, __ATOMIC_RELAXED);
	char why[256];
	va_list ap;

	if (n >= MAX_REPORTED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&report_lock);
	fprintf(stderr, "fail +%lld w%d: %s\n", prog_now_ms() - t_start, worker, why);
	pthread_mutex_unlock(&report_lock);
}

static int
dial(int worker)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		prog_fail("socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		prog_fail("setsockopt(SO_*TIMEO): %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		failed(worker, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, int worker, const char *buf, size_t len, const char *what)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			failed(worker, "sending %s: %s", what, n == 0 ? "sent nothing" :
			    strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until exactly `want` came; fails at the first byte that differs. */
static int
expect(int fd, int worker, const char *want, const char *what)
{
	size_t wlen = strlen(want), got = 0;
	char buf[512];

	while (got < wlen) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0) {
			buf[got] = '\0';
			failed(worker, "answer to %s: connection closed after %zu of %zu bytes (%.40s)",
			    what, got, wlen, buf);
			return -1;
		}
		if (n < 0) {
			failed(worker, "answer to %s: %s after %zu bytes", what,
			    errno == EAGAIN ? "no answer in time" : strerror(errno), got);
			return -1;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if (got > wlen || memcmp(buf, want, got) != 0) {
			failed(worker, "answer to %s: %.60s (expected %.60s)", what, buf, want);
			return -1;
		}
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	int worker = (int)(long)arg, fd = -1;
	char key[64], value[64], req[256], want[256];
	long i;

	for (i = 0; prog_now_ms() < t_end; i++) {
		int vlen;

		if (fd == -1 && (fd = dial(worker)) == -1) {
			prog_sleep_ms(10);	/* no busy loop on a refusing balancer */
			continue;
		}
		snprintf(key, sizeof(key), "mcload:%d:%ld", worker, i % 1000);
		vlen = snprintf(value, sizeof(value), "w%d-i%ld-t%lld", worker, i, prog_now_ms());
		snprintf(req, sizeof(req), "set %s 0 0 %d\r\n%s\r\n", key, vlen, value);
		if (send_all(fd, worker, req, strlen(req), "set") == -1 ||
		    expect(fd, worker, "STORED\r\n", "set") == -1)
			goto bad;
		snprintf(req, sizeof(req), "get %s\r\n", key);
		snprintf(want, sizeof(want), "VALUE %s 0 %d\r\n%s\r\nEND\r\n", key, vlen, value);
		if (send_all(fd, worker, req, strlen(req), "get") == -1 ||
		    expect(fd, worker, want, "get") == -1)
			goto bad;
		__atomic_fetch_add(&n_ok, 1, __ATOMIC_RELAXED);
		if (!persist) {
			close(fd);
			fd = -1;
		}
		continue;
bad:
		close(fd);
		fd = -1;
	}
	if (fd != -1)
		close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t th[256];
	int workers, w;

	prog_start(argc, argv);
	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "persist") != 0))
		prog_fail("usage: %s PORT SECONDS WORKERS [persist]", argv[0]);
	port = (int)prog_num(argv[1], 1, 65535, "port");
	seconds = (int)prog_num(argv[2], 1, PROG_ALARM_S - 10, "seconds");
	workers = (int)prog_num(argv[3], 1, 256, "workers");
	persist = argc == 5;
	t_start = prog_now_ms();
	t_end = t_start + seconds * 1000LL;
	for (w = 0; w < workers; w++)
		if ((errno = pthread_create(&th[w], NULL, worker_main, (void *)(long)w)) != 0)
			prog_fail("pthread_create: %s", strerror(errno));
	for (w = 0; w < workers; w++)
		pthread_join(th[w], NULL);
	printf("requests=%ld failed=%ld seconds=%.2f\n", n_ok + n_failed, n_failed,
	    (double)(prog_now_ms() - t_start) / 1000);
	return n_failed ? 1 : 0;
}
