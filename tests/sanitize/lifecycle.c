/*
 * lifecycle PORT HEALTH_PORT SLOW_MS [handler|sigwaitinfo|signalfd]
 *
 * A threaded server that drives the shim's whole lifecycle by itself, for
 * ThreadSanitizer (built with -fsanitize=thread, under the TSan build of the
 * shim) and valgrind (built plainly, under the normal shim). A test program
 * of our own because TSan defers asynchronous signals and needs
 * instrumented code on both sides. tests/sanitize/lifecycle.sh runs it.
 *
 * Server threads accept() from one blocking listener and serve each request
 * through dup/close/read/recv/send/writev, while client threads in the same
 * process send requests and ask the health port (/readyz, /metrics, /livez)
 * and query the SIGTERM action: the shim's thread scans the descriptor table
 * and renders answers while the program's threads change it. Then a slow
 * request is sent, SIGTERM goes to the process, and the program checks the
 * lifecycle: /readyz 503, the slow request answered, the signal delivered
 * after that, nothing lost before the signal. MODE is how the program takes
 * SIGTERM: its own SA_SIGINFO handler (re-armed with sigaction meanwhile),
 * a thread in sigwaitinfo, or a thread reading a signalfd (re-armed with
 * signalfd meanwhile); the last two block SIGTERM in every thread.
 * Prints one summary line; exits 0, or 1 with a FAIL line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define NSERVERS	3
#define NCLIENTS	2
#define TRAFFIC_MS	600	/* requests before the signal */
#define WAIT_MS		60000	/* for anything (valgrind is slow) */

enum { PH_TRAFFIC, PH_SIGNALLED, PH_STOP };
enum { M_HANDLER, M_SIGWAITINFO, M_SIGNALFD };

static uint16_t app_port, health_port;
static long slow_ms;
static int lfd, mode, sfd = -1;
static sigset_t termset;

static _Atomic int phase;
static _Atomic long served, ok_before, failed_before, refused_after, health_asks;
static _Atomic long queries_bad;
static _Atomic int slow_started, slow_answering, slow_status;

/* Set by a handler or by the waiting thread: lock-free atomics serve both. */
static _Atomic int got_term, term_code;
static _Atomic int slow_at_term;	/* the answer was under way at delivery */

#ifdef __SANITIZE_THREAD__
#include <dlfcn.h>
#include <sys/syscall.h>

void	__sanitizer_syscall_pre_impl_close(long);

/*
 * The shim closes its own descriptors with the raw close system call, which
 * TSan does not see: a number the kernel then hands out again would look
 * like a race between the old descriptor's users and the new one's. The
 * shim's calls to syscall() land here first (the executable comes first in
 * the look-up order), and TSan is told about the close.
 */
long __attribute__((no_sanitize_thread))
syscall(long n, ...)
{
	static long (*_Atomic real)(long, ...);
	long (*fn)(long, ...) = atomic_load(&real);
	long a[6];
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (fn == NULL) {
		fn = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
		atomic_store(&real, fn);
	}
	if (n == SYS_close)
		__sanitizer_syscall_pre_impl_close(a[0]);
	else if (n == SYS_dup3 && a[0] != a[1])
		__sanitizer_syscall_pre_impl_close(a[1]);	/* newfd is closed first */
	return fn(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
#endif

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "lifecycle: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
got(int sig, int code)
{
	atomic_store(&term_code, code);
	atomic_store(&slow_at_term, atomic_load(&slow_answering));
	atomic_store(&got_term, sig);
}

static void
on_term(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got(sig, si->si_code);
}

/* The thread that takes SIGTERM synchronously. */
static void *
waiter(void *arg)
{
	struct signalfd_siginfo ssi;
	siginfo_t si;
	int r;

	(void)arg;
	if (mode == M_SIGWAITINFO) {
		while ((r = sigwaitinfo(&termset, &si)) == -1 && errno == EINTR)
			;
		if (r > 0)
			got(r, si.si_code);
	} else {
		while ((r = (int)read(sfd, &ssi, sizeof(ssi))) == -1 && errno == EINTR)
			;
		if (r == (int)sizeof(ssi))
			got((int)ssi.ssi_signo, ssi.ssi_code);
	}
	return NULL;
}

static int
dial(uint16_t port)
{
	struct sockaddr_in sin;
	struct timeval tv = { 5, 0 };
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* One request, read to EOF. Returns the status, or -1 with errno. */
static int
ask(uint16_t port, const char *path, char *body, size_t cap)
{
	char req[128], buf[8192];
	size_t got = 0;
	ssize_t n;
	int fd, status = -1;

	if ((fd = dial(port)) == -1)
		return -1;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n)
		goto out;
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	if (body != NULL && cap > 0) {
		const char *b = strstr(buf, "\r\n\r\n");

		snprintf(body, cap, "%s", b != NULL ? b + 4 : "");
		body[strcspn(body, "\r\n")] = '\0';
	}
out:
	close(fd);
	if (status == -1)
		errno = EPROTO;
	return status;
}

/* The program's own request handling: the calls the shim wraps. */
static void
serve(int c)
{
	static const char head[] = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n"
	    "Connection: close\r\n\r\n";
	struct iovec iov[2] = { { (void *)head, sizeof(head) - 1 }, { "done\n", 5 } };
	char buf[1024];
	size_t got = 0;
	ssize_t n;
	int d, i = 0, slow = 0;

	/* A descriptor that moves: the table follows dup and close. */
	d = dup(c);
	close(c);
	if (d == -1)
		return;
	while (got < sizeof(buf) - 1) {
		n = (i++ & 1) ? recv(d, buf + got, sizeof(buf) - 1 - got, 0) :
		    read(d, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	if (got > 0 && strncmp(buf, "GET /slow ", 10) == 0) {
		slow = 1;
		atomic_store(&slow_started, 1);
		nap_ms(slow_ms);
	}
	if (got > 0) {
		if (slow)
			atomic_store(&slow_answering, 1);
		if (i & 1)
			(void)!writev(d, iov, 2);
		else {
			(void)!send(d, head, sizeof(head) - 1, MSG_NOSIGNAL);
			(void)!send(d, "done\n", 5, MSG_NOSIGNAL);
		}
		atomic_fetch_add(&served, 1);
	}
	close(d);
}

static void *
server(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c == -1) {
			if (errno == EINTR)
				continue;
			/* Stopped by the drain: a blocking accept may fail; park. */
			while (atomic_load(&phase) != PH_STOP)
				nap_ms(10);
			return NULL;
		}
		serve(c);
	}
}

static void *
client(void *arg)
{
	static const char *const hp[] = { "/readyz", "/metrics", "/livez", "/healthz" };
	long id = (long)arg, k = 0;

	while (atomic_load(&phase) != PH_STOP) {
		struct sigaction old;
		int before = atomic_load(&phase) == PH_TRAFFIC, st;

		st = ask(app_port, "/fast", NULL, 0);
		if (before && st == 200)
			atomic_fetch_add(&ok_before, 1);
		else if (before && atomic_load(&phase) == PH_TRAFFIC)
			atomic_fetch_add(&failed_before, 1);
		else if (st == -1 && errno == ECONNREFUSED)
			atomic_fetch_add(&refused_after, 1);
		if (ask(health_port, hp[(id + k++) % 4], NULL, 0) > 0)
			atomic_fetch_add(&health_asks, 1);
		/*
		 * The program's view of its action, asked while the shim holds
		 * the signal, and set again (the same action) as programs that
		 * re-arm their handlers do: the shim's thread reads the table.
		 */
		if (sigaction(SIGTERM, NULL, &old) == -1 || (mode == M_HANDLER ?
		    !(old.sa_flags & SA_SIGINFO) || old.sa_sigaction != on_term :
		    old.sa_handler != SIG_DFL))
			atomic_fetch_add(&queries_bad, 1);
		else if (atomic_load(&phase) != PH_STOP && sigaction(SIGTERM, &old, NULL) == -1)
			atomic_fetch_add(&queries_bad, 1);
		if (mode == M_SIGNALFD && id == 0 && atomic_load(&phase) != PH_STOP &&
		    signalfd(sfd, &termset, 0) != sfd)
			atomic_fetch_add(&queries_bad, 1);
	}
	return NULL;
}

static void *
slow_client(void *arg)
{
	(void)arg;
	atomic_store(&slow_status, ask(app_port, "/slow", NULL, 0));
	return NULL;
}

static int
listen_on(uint16_t port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fail("socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(fd, 64) == -1)
		fail("bind/listen 127.0.0.1:%u: %s", port, strerror(errno));
	return fd;
}

/* Polls the health port until /readyz answers want (and body, if given). */
static long long
wait_ready(int want, const char *body, long long since)
{
	long long end = now_ms() + WAIT_MS;
	char b[64] = "";
	int st = -1;

	while (now_ms() < end) {
		st = ask(health_port, "/readyz", b, sizeof(b));
		if (st == want && (body == NULL || strcmp(b, body) == 0))
			return now_ms() - since;
		nap_ms(5);
	}
	fail("/readyz never answered %d %s (last %d %s)", want, body ? body : "", st, b);
}

static uint16_t
port_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		fail("%s: not a port", s);
	return (uint16_t)v;
}

int
main(int argc, char **argv)
{
	pthread_t srv[NSERVERS], cli[NCLIENTS], slow, wt;
	struct sigaction sa;
	long long t0, lameduck_ms, delivered_ms, end;
	int r;

	if (argc != 4 && argc != 5)
		fail("usage: lifecycle PORT HEALTH_PORT SLOW_MS [handler|sigwaitinfo|signalfd]");
	app_port = port_arg(argv[1]);
	health_port = port_arg(argv[2]);
	slow_ms = atol(argv[3]);
	if (argc == 4 || strcmp(argv[4], "handler") == 0)
		mode = M_HANDLER;
	else if (strcmp(argv[4], "sigwaitinfo") == 0)
		mode = M_SIGWAITINFO;
	else if (strcmp(argv[4], "signalfd") == 0)
		mode = M_SIGNALFD;
	else
		fail("%s: not a mode (handler, sigwaitinfo, signalfd)", argv[4]);
	alarm(300);

	sigemptyset(&termset);
	sigaddset(&termset, SIGTERM);
	if (mode == M_HANDLER) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_term;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGTERM, &sa, NULL) == -1)
			fail("sigaction: %s", strerror(errno));
	} else {
		/* Blocked in every thread: they inherit this mask. */
		if ((r = pthread_sigmask(SIG_BLOCK, &termset, NULL)) != 0)
			fail("pthread_sigmask: %s", strerror(r));
		if (mode == M_SIGNALFD && (sfd = signalfd(-1, &termset, SFD_CLOEXEC)) == -1)
			fail("signalfd: %s", strerror(errno));
		if ((r = pthread_create(&wt, NULL, waiter, NULL)) != 0)
			fail("pthread_create: %s", strerror(r));
	}

	lfd = listen_on(app_port);
	for (int i = 0; i < NSERVERS; i++)
		if ((r = pthread_create(&srv[i], NULL, server, NULL)) != 0)
			fail("pthread_create: %s", strerror(r));
	(void)wait_ready(200, "ok", now_ms());
	for (long i = 0; i < NCLIENTS; i++)
		if ((r = pthread_create(&cli[i], NULL, client, (void *)i)) != 0)
			fail("pthread_create: %s", strerror(r));
	nap_ms(TRAFFIC_MS);

	/* A request in flight across the signal, the delay and the drain. */
	if ((r = pthread_create(&slow, NULL, slow_client, NULL)) != 0)
		fail("pthread_create: %s", strerror(r));
	end = now_ms() + WAIT_MS;
	while (!atomic_load(&slow_started) && now_ms() < end)
		nap_ms(2);
	if (!atomic_load(&slow_started))
		fail("the slow request never reached a server thread");
	atomic_store(&phase, PH_SIGNALLED);
	t0 = now_ms();
	kill(getpid(), SIGTERM);
	lameduck_ms = wait_ready(503, NULL, t0);

	end = now_ms() + WAIT_MS;
	while (!atomic_load(&got_term) && now_ms() < end)
		nap_ms(5);
	delivered_ms = now_ms();
	if (!atomic_load(&got_term))
		fail("SIGTERM never reached the program's handler");

	atomic_store(&phase, PH_STOP);
	for (int i = 0; i < NCLIENTS; i++)
		pthread_join(cli[i], NULL);
	pthread_join(slow, NULL);
	if (mode != M_HANDLER)
		pthread_join(wt, NULL);

	printf("served=%ld ok_before=%ld failed_before=%ld refused_after=%ld health=%ld "
	    "lameduck_ms=%lld slow=%d delivered_ms=%lld si_code=%d\n",
	    atomic_load(&served), atomic_load(&ok_before), atomic_load(&failed_before),
	    atomic_load(&refused_after), atomic_load(&health_asks), lameduck_ms,
	    atomic_load(&slow_status), delivered_ms - t0, atomic_load(&term_code));
	fflush(stdout);
	if (atomic_load(&failed_before) > 0)
		fail("%ld requests failed before the signal", atomic_load(&failed_before));
	if (atomic_load(&ok_before) == 0 || atomic_load(&health_asks) == 0)
		fail("no traffic before the signal");
	if (atomic_load(&queries_bad) > 0)
		fail("sigaction(SIGTERM, NULL, &old) did not return the program's action %ld times",
		    atomic_load(&queries_bad));
	if (atomic_load(&slow_status) != 200)
		fail("the request in flight got %d, not 200", atomic_load(&slow_status));
	if (!atomic_load(&slow_at_term))
		fail("SIGTERM was delivered before the request in flight was answered");
	if (atomic_load(&term_code) != SI_QUEUE)
		fail("si_code %d, expected SI_QUEUE", atomic_load(&term_code));
	/* The server threads stay parked in accept(): exit without them. */
	return 0;
}
