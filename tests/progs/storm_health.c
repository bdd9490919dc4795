/*
 * storm_health PORT MODE MS [N [PACE_US]]: a hostile client of the health
 * port at 127.0.0.1:PORT for MS milliseconds (at most 60 s), then one line
 * of key=value figures on stdout and exit 0. Everything is bounded: the
 * number of connections held (N), the time, and in garbage and big the rate
 * of new connections (PACE_US microseconds apart on average; 0, the
 * default: as fast as the N clients go).
 *
 *   idle      N connections (default 1000) opened at once and held without
 *             a byte; none reopened. Reports how many the server closed, how
 *             soon, and how many it still held at the end.
 *   slowloris N clients (default 8) each sending one byte of a never-ending
 *             request every 300 ms; a client that is cut reconnects.
 *             Reports the cuts and each connection's longest life.
 *   garbage   4 clients, each sending one blob then reading the answer to
 *             EOF, over and over: random binary, a TLS ClientHello, NULs, a
 *             CRLF flood, binary with an end of headers, a request line with
 *             a NUL. Reports each kind's answers (s400=, noanswer=, ...).
 *   big       2 clients sending requests whose headers pass the 8 KiB limit
 *             (one 9 KiB, 16 KiB, 64 KiB or 256 KiB header; 300 headers of
 *             40 bytes), reading the answer to EOF, over and over; each kind
 *             reported as in garbage.
 *   rate      a well-formed GET /readyz (Connection: close) on a new
 *             connection every millisecond, open loop (at most 200 at once).
 *             Reports the answers and their latency.
 *   metrics   the same with GET /metrics.
 *
 * Every mode: conns= (connections opened), closed= (closed by the server),
 * s<status>= for each answer status seen, noanswer= (closed or reset without
 * an answer), reset=, still_open= (held by the server at the end), and the
 * longest time from connect to the server's close (max_life_ms=), and the
 * CPU time the attack itself took (cpu_ms=).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN		2048
#define MAX_BLOB	(256 * 1024 + 512)
#define RATE_CAP	200
#define NKIND		8

enum mode { M_IDLE, M_SLOW, M_GARBAGE, M_BIG, M_RATE, M_METRICS };

struct conn {
	int		fd;		/* -1: free */
	int		kind;		/* index into the blob table */
	int		answered;	/* a status line came */
	long long	t_start;	/* ms */
	long long	next_send;	/* slowloris: when the next byte goes */
	size_t		sent;
	size_t		rlen;
	char		rbuf[64];
};

static struct conn conns[MAXCONN];
static int ep, port, nconn;
static enum mode mode;

/* Figures. */
static long n_conns, n_closed, n_noanswer, n_reset, n_connfail, n_capped;
static long status_count[600];
static long long max_life, min_life = -1, max_lat;
static long kind_n[NKIND], kind_400[NKIND], kind_431[NKIND], kind_other[NKIND],
    kind_none[NKIND];
static long long kind_max[NKIND];

static char *blob[NKIND];
static size_t blob_len[NKIND];
static const char *kind_name[NKIND];
static int nkinds;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;

static unsigned char
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned char)(rng >> 24);
}

static void
add_kind(const char *name, const void *data, size_t len)
{
	blob[nkinds] = malloc(len);
	if (blob[nkinds] == NULL)
		exit(2);
	memcpy(blob[nkinds], data, len);
	blob_len[nkinds] = len;
	kind_name[nkinds] = name;
	nkinds++;
}

/* A TLS 1.2 ClientHello, roughly as a browser sends it to an https port. */
static size_t
client_hello(unsigned char *b)
{
	static const unsigned char suites[] = { 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2b,
		0xc0, 0x2f, 0x00, 0x9c, 0x00, 0x2f };
	static const unsigned char ext[] = {
		0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09,
		'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',	/* server_name */
		0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,		/* ec_point_formats */
		0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d,	/* groups */
		0x00, 0x10, 0x00, 0x0b, 0x00, 0x09, 0x08,
		'h', 't', 't', 'p', '/', '1', '.', '1' };	/* ALPN */
	size_t n = 0, hs, body;

	b[n++] = 0x16; b[n++] = 0x03; b[n++] = 0x01;	/* handshake, TLS 1.0 record */
	n += 2;						/* record length */
	hs = n;
	b[n++] = 0x01;					/* ClientHello */
	n += 3;
	body = n;
	b[n++] = 0x03; b[n++] = 0x03;
	for (int i = 0; i < 32; i++)
		b[n++] = rnd();
	b[n++] = 0x00;					/* no session id */
	b[n++] = 0x00; b[n++] = sizeof(suites);
	memcpy(b + n, suites, sizeof(suites));
	n += sizeof(suites);
	b[n++] = 0x01; b[n++] = 0x00;			/* null compression */
	b[n++] = 0x00; b[n++] = sizeof(ext);
	memcpy(b + n, ext, sizeof(ext));
	n += sizeof(ext);
	b[hs - 2] = (unsigned char)((n - hs) >> 8);
	b[hs - 1] = (unsigned char)(n - hs);
	b[body - 3] = 0;
	b[body - 2] = (unsigned char)((n - body) >> 8);
	b[body - 1] = (unsigned char)(n - body);
	return n;
}

static void
make_blobs(void)
{
	static unsigned char b[MAX_BLOB];
	size_t n;

	if (mode == M_GARBAGE) {
		for (n = 0; n < 1024; n++)
			b[n] = rnd();
		add_kind("random", b, 1024);
		add_kind("tls", b, client_hello(b));
		memset(b, 0, 4096);
		add_kind("nul", b, 4096);
		for (n = 0; n < 9000; n += 2)
			memcpy(b + n, "\r\n", 2);
		add_kind("crlf", b, 6000);
		add_kind("crlf9k", b, 9000);
		for (n = 0; n < 200; n++)
			b[n] = rnd();
		memcpy(b + 200, "\r\n\r\n", 4);
		add_kind("binend", b, 204);
		{
			static const char nl[] = "GET /readyz\0 HTTP/1.1\r\nHost: x\r\n\r\n";

			add_kind("nulline", nl, sizeof(nl) - 1);
		}
	} else if (mode == M_BIG) {
		static const size_t sizes[] = { 9 * 1024, 16 * 1024, 64 * 1024, 256 * 1024 };
		static const char *const names[] = { "big9k", "big16k", "big64k", "big256k" };

		for (size_t k = 0; k < 4; k++) {
			n = (size_t)sprintf((char *)b, "GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: ");
			memset(b + n, 'a', sizes[k]);
			n += sizes[k];
			memcpy(b + n, "\r\n\r\n", 4);
			add_kind(names[k], b, n + 4);
		}
		n = (size_t)sprintf((char *)b, "GET /readyz HTTP/1.1\r\nHost: x\r\n");
		for (int i = 0; i < 300; i++)
			n += (size_t)sprintf((char *)b + n, "X-Many-%03d: %026d\r\n", i, i);
		memcpy(b + n, "\r\n", 2);
		add_kind("many", b, n + 2);
	} else if (mode == M_SLOW) {
		n = (size_t)sprintf((char *)b, "GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
		memset(b + n, 'a', 4000);
		add_kind("slow", b, n + 4000);
	} else if (mode == M_RATE || mode == M_METRICS) {
		n = (size_t)sprintf((char *)b,
		    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
		    mode == M_RATE ? "/readyz" : "/metrics");
		add_kind("readyz", b, n);
	}
}

static int
open_conn(int kind)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct epoll_event ev;
	struct conn *c = NULL;
	int fd;

	for (int i = 0; i < MAXCONN; i++)
		if (conns[i].fd < 0) {
			c = &conns[i];
			break;
		}
	if (c == NULL)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		n_connfail++;
		return -1;
	}
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 && errno != EINPROGRESS) {
		n_connfail++;
		close(fd);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->kind = kind;
	c->t_start = now_ms();
	c->next_send = c->t_start;
	ev.events = EPOLLIN | EPOLLRDHUP | (mode == M_GARBAGE || mode == M_BIG ||
	    mode == M_RATE || mode == M_METRICS ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		close(fd);
		c->fd = -1;
		n_connfail++;
		return -1;
	}
	n_conns++;
	nconn++;
	if (kind >= 0 && kind < NKIND)
		kind_n[kind]++;
	return 0;
}

static void
finish(struct conn *c, int reset)
{
	long long life = now_ms() - c->t_start;
	int st = 0;

	if (c->rlen >= 12 && memcmp(c->rbuf, "HTTP/1.", 7) == 0)
		st = atoi(c->rbuf + 9);
	if (st > 0 && st < 600)
		status_count[st]++;
	else
		n_noanswer++;
	if (reset)
		n_reset++;
	n_closed++;
	if (life > max_life)
		max_life = life;
	if (min_life < 0 || life < min_life)
		min_life = life;
	if ((mode == M_RATE || mode == M_METRICS) && st > 0 && life > max_lat)
		max_lat = life;
	if (c->kind >= 0 && c->kind < NKIND) {
		if (st == 400)
			kind_400[c->kind]++;
		else if (st == 431)
			kind_431[c->kind]++;
		else if (st > 0)
			kind_other[c->kind]++;
		else
			kind_none[c->kind]++;
		if (life > kind_max[c->kind])
			kind_max[c->kind] = life;
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	nconn--;
}

/* Sends what is due; returns -1 when the connection broke. */
static int
push(struct conn *c, long long now)
{
	size_t want;
	ssize_t w;

	if (c->kind < 0 || c->sent >= blob_len[c->kind])
		return 0;
	if (mode == M_SLOW) {
		if (now < c->next_send)
			return 0;
		want = 1;
		c->next_send = now + 300;
	} else
		want = blob_len[c->kind] - c->sent;
	w = send(c->fd, blob[c->kind] + c->sent, want, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0) {
		c->sent += (size_t)w;
		if (c->sent >= blob_len[c->kind] && mode != M_SLOW) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };

			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		return 0;
	}
	if (w == -1 && (errno == EAGAIN || errno == ENOTCONN))
		return 0;
	return -1;
}

static void
pull(struct conn *c)
{
	for (;;) {
		char sink[4096];
		ssize_t r = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (r > 0) {
			size_t take = sizeof(c->rbuf) - c->rlen;

			if ((size_t)r < take)
				take = (size_t)r;
			memcpy(c->rbuf + c->rlen, sink, take);
			c->rlen += take;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return;
		finish(c, r == -1);
		return;
	}
}

/* New connections allowed by now: pace_us apart on average (0: no limit). */
static long pace_us;

static void
refill(long long now, long long t0, long long end, int want)
{
	static int next_kind;

	if (now >= end)
		return;
	while (nconn < want && (pace_us == 0 || n_conns < want + (now - t0) * 1000 / pace_us)) {
		if (open_conn(next_kind) == -1)
			return;
		next_kind = (next_kind + 1) % nkinds;
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct rlimit rl;
	long long t0, end, next_rate, cpu_ms;
	long ms, n;
	int want = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: storm_health PORT idle|slowloris|garbage|big|rate|metrics MS [N [PACE_US]]\n");
		return 2;
	}
	alarm(90);
	port = atoi(argv[1]);
	ms = atol(argv[3]);
	if (port <= 0 || port > 65535 || ms <= 0 || ms > 60000)
		return 2;
	if (strcmp(argv[2], "idle") == 0)
		mode = M_IDLE, n = 1000;
	else if (strcmp(argv[2], "slowloris") == 0)
		mode = M_SLOW, n = 8;
	else if (strcmp(argv[2], "garbage") == 0)
		mode = M_GARBAGE, n = 4;
	else if (strcmp(argv[2], "big") == 0)
		mode = M_BIG, n = 2;
	else if (strcmp(argv[2], "rate") == 0)
		mode = M_RATE, n = 0;
	else if (strcmp(argv[2], "metrics") == 0)
		mode = M_METRICS, n = 0;
	else
		return 2;
	if (argc > 4)
		n = atol(argv[4]);
	if (argc > 5)
		pace_us = atol(argv[5]);
	if (pace_us < 0 || pace_us > 10000000)
		return 2;
	if (n < 0 || n > MAXCONN - 16)
		return 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MAXCONN + 64 &&
	    rl.rlim_max >= MAXCONN + 64) {
		rl.rlim_cur = MAXCONN + 64;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < MAXCONN; i++)
		conns[i].fd = -1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	make_blobs();

	t0 = now_ms();
	end = t0 + ms;
	next_rate = t0;
	if (mode == M_IDLE)
		for (long i = 0; i < n; i++)
			(void)open_conn(-1);
	else
		want = (int)n;
	for (;;) {
		long long now = now_ms(), wait = end - now;
		int k;

		if (now >= end)
			break;
		if (mode == M_RATE || mode == M_METRICS) {
			/* Open loop: catch up on the slots that are due, within the cap. */
			while (next_rate <= now) {
				if (nconn >= RATE_CAP || open_conn(0) == -1)
					n_capped++;
				next_rate++;
			}
			wait = next_rate - now;
		} else if (mode != M_IDLE) {
			refill(now, t0, end, want);
			if (mode == M_SLOW)
				wait = 50;
			else if (pace_us)
				wait = 1;
		}
		if (wait > end - now)
			wait = end - now;
		k = epoll_wait(ep, evs, 256, (int)(wait < 0 ? 0 : wait));
		now = now_ms();
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->fd < 0)
				continue;
			if ((evs[i].events & EPOLLOUT) && push(c, now) == -1) {
				pull(c);
				if (c->fd >= 0)
					finish(c, 1);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				pull(c);
		}
		if (mode == M_SLOW)
			for (int i = 0; i < MAXCONN; i++)
				if (conns[i].fd >= 0 && push(&conns[i], now) == -1) {
					pull(&conns[i]);
					if (conns[i].fd >= 0)
						finish(&conns[i], 1);
				}
	}

	{
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000LL +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	}
	printf("mode=%s ms=%ld conns=%ld closed=%ld noanswer=%ld reset=%ld connfail=%ld "
	    "still_open=%d max_life_ms=%lld min_life_ms=%lld cpu_ms=%lld", argv[2], ms, n_conns,
	    n_closed, n_noanswer, n_reset, n_connfail, nconn, max_life, min_life, cpu_ms);
	if (mode == M_RATE || mode == M_METRICS)
		printf(" capped=%ld max_latency_ms=%lld", n_capped, max_lat);
	for (int s = 0; s < 600; s++)
		if (status_count[s])
			printf(" s%d=%ld", s, status_count[s]);
	for (int k = 0; k < nkinds && (mode == M_GARBAGE || mode == M_BIG); k++)
		printf(" %s=%ld/%ld/%ld/%ld/%ld/%lld", kind_name[k], kind_n[k], kind_400[k],
		    kind_431[k], kind_other[k], kind_none[k], kind_max[k]);
	printf("\n");
	fflush(stdout);
	return 0;
}
