/*
 * lameduck --supervise: the lifecycle from outside (README, "Programs that
 * can not load the shim").
 *
 * The program runs as our child, without the shim. We stay its parent, as
 * tini does: every signal reaches us first (all are blocked, read from a
 * signalfd); the lame-duck signals drive the shim's own lifecycle, health
 * port and log lines (the shim's ground-floor files, linked in), every other
 * signal is passed to the child, and every process that ends under us is
 * reaped (we are a child subreaper, or PID 1). When the child ends we end
 * with its status.
 *
 * What the shim learns from inside, we read from the kernel: the child's
 * descriptors (/proc/PID/fd, its descendants' through their children files)
 * name socket inodes, and a sock_diag dump of the network namespace shows
 * which are TCP listeners (readiness), how long their accept queues are,
 * and each connection's queues and tcp_info, which the shim's own rule for
 * connections it never saw accepted (ld_tcp_busy, shim/rawconn.c) judges
 * in flight or idle. Listeners stay open through the drain: shut down from
 * outside, every later accept() of the program fails with EINVAL, which
 * most programs take badly (Go's Serve() returns). With
 * LAMEDUCK_STOP_LISTENERS=on a copy of each, taken with pidfd_getfd(2), is
 * shut down once its accept queue is empty. What the program writes is out
 * of reach: no connection is retired.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "config.h"
#include "fdtab.h"
#include "health.h"
#include "lifecycle.h"
#include "log.h"
#include "procfs.h"
#include "rawconn.h"
#include "real.h"
#include "report.h"
#include "sockdiag.h"
#include "supervise.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd	438
#endif

#define TAG_SIGFD	1
#define TAG_HEALTH	2
#define SCAN_FAST_MS	10	/* while starting, its first second: how often to look for listeners */
#define SCAN_MS		100	/* then */
#define CHECK_MS	20	/* while draining: how often to look at the connections, at least */
#define CHECK_SHARE	10	/* and at most a tenth of the time (a check's cost: below) */
#define METRICS_MS	1000	/* /metrics looks at the connections at most this often */
#define MAX_PROCS	1024	/* processes of the tree read */
#define MAX_STOPPED	64

static struct {
	pid_t		child;
	const char	*name;
	enum ld_stop	stop;
	struct ld_lifecycle lc;
	int		listeners;
	long		connections, in_flight, drained;
	long long	next_scan, next_check;
	struct ld_sockref *refs;
	size_t		cap;
	long		nrefs;
	int		procs;
	uint16_t	ports[MAX_STOPPED];	/* the listeners' ports, noted at the drain */
	int		nports;
	int		families;		/* theirs: LD_DIAG_V4, LD_DIAG_V6 */
	long long	started;
	struct {
		int		fd;		/* our copy, until it is shut down */
		uint32_t	ino;
	} stopped[MAX_STOPPED];
	int		nstopped;
	int		stop_errno;
	uint32_t	health_ino;	/* ours: a child between fork and exec still has it */
	int		told_denied;
	long long	metrics_at;	/* when /metrics last looked (ms) */
} sup;

static const char *
signame(int sig)
{
	static char buf[4][16];
	static unsigned next;

	return ld_signal_name(sig, buf[next++ % 4], sizeof(buf[0]));
}

/* ---- what the kernel shows ---- */

/*
 * The sockets of every process under us: the program, its descendants, and
 * orphans of the tree that came to us (we are their subreaper or PID 1).
 */
static void
refresh(void)
{
	pid_t denied;
	long n = ld_tree_sockets(getpid(), MAX_PROCS, &sup.refs, &sup.cap, &sup.procs, &denied);

	sup.nrefs = n < 0 ? 0 : n;
	if (denied != 0 && !sup.told_denied) {
		sup.told_denied = 1;
		ld_warn("pid %d's descriptors may not be read (a setuid or file-capability program "
		    "is not dumpable): its sockets are not seen. Reading them takes ptrace read "
		    "access: run lameduck with the same privileges, or with CAP_SYS_PTRACE",
		    (int)denied);
	}
}

static int
ours(uint32_t ino)
{
	return ld_sockref_find(sup.refs, sup.nrefs, ino) != NULL;
}

static int
port_index(uint16_t port)
{
	for (int i = 0; i < ld_cfg.nports; i++)
		if (ld_cfg.ports[i] == port)
			return i;
	return -1;
}

struct lsum {
	int		count;
	uint64_t	seen;
	uint16_t	first_port;
	long		queued;
	int		(*each)(const struct ld_sock *s);
};

static int
on_listener(const struct ld_sock *s, void *arg)
{
	struct lsum *l = arg;
	int i;

	if (!ours(s->ino) || s->ino == sup.health_ino ||
	    !ld_port_counts(s->port, ld_cfg.ports, ld_cfg.nports))
		return 0;
	if (l->count++ == 0)
		l->first_port = s->port;
	if ((i = port_index(s->port)) >= 0)
		l->seen |= 1ULL << i;
	l->queued += s->rqueue;
	if (l->each != NULL)
		(void)l->each(s);
	return 0;
}

static void
listeners(struct lsum *l, int (*each)(const struct ld_sock *))
{
	memset(l, 0, sizeof(*l));
	l->each = each;
	refresh();
	(void)ld_diag_tcp(LD_DIAG_V4 | LD_DIAG_V6, 1U << LD_TCP_LISTEN, 0, on_listener, l);
}

static int
noted_port(uint16_t port)
{
	for (int i = 0; i < sup.nports; i++)
		if (sup.ports[i] == port)
			return 1;
	return 0;
}

static int
note_port(const struct ld_sock *s)
{
	if (!noted_port(s->port) && sup.nports < MAX_STOPPED)
		sup.ports[sup.nports++] = s->port;
	/* A connection has its listener's family (an IPv4 one on a dual-stack listener: AF_INET6). */
	sup.families |= s->family == AF_INET6 ? LD_DIAG_V6 : LD_DIAG_V4;
	return 0;
}

struct csum {
	long	open, busy;
};

/*
 * The program's connections as the last full dump found them (by inode),
 * and its other socket inodes then (not TCP connections on the listeners'
 * ports). While its descriptors name no socket outside the two, a look asks
 * the kernel for each known connection alone, by its addresses: a dump
 * walks the kernel's whole table of connections, which is the node's
 * (every pod's, TIME_WAIT included).
 */
static struct {
	struct ld_sock	*v;
	size_t		n, cap;
	uint32_t	*other;
	size_t		nother, capother;
	int		dumps_only;	/* a lookup failed otherwise than "gone" */
	int		whole;		/* the last dump was read whole: its sets can be trusted */
} known;

/*
 * The states a connection of the program's is counted in. SYN_RECV: a TCP
 * Fast Open connection is accepted before its handshake ends, its request
 * already in.
 */
#define CONN_STATES	(1U << LD_TCP_ESTABLISHED | 1U << LD_TCP_CLOSE_WAIT | 1U << LD_TCP_SYN_RECV)

static int
by_ino(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
by_ino_sock(const void *a, const void *b)
{
	const struct ld_sock *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int
is_known(uint32_t ino)
{
	struct ld_sock key;

	key.ino = ino;
	return known.n > 0 &&
	    bsearch(&key, known.v, known.n, sizeof(*known.v), by_ino_sock) != NULL;
}

static int
collect(const struct ld_sock *s, void *arg)
{
	struct csum *c = arg;

	if (!noted_port(s->port) || !ours(s->ino))
		return 0;
	c->open++;
	c->busy += ld_tcp_busy(&s->ti, s->tilen, s->rqueue, s->wqueue);
	if (known.n == known.cap) {
		size_t cap = known.cap ? known.cap * 2 : 64;
		struct ld_sock *v = reallocarray(known.v, cap, sizeof(*v));

		if (v == NULL) {
			known.whole = 0;
			return 0;
		}
		known.v = v;
		known.cap = cap;
	}
	known.v[known.n++] = *s;
	return 0;
}

static void
full_look(struct csum *c)
{
	known.n = known.nother = 0;
	known.whole = 1;
	if (ld_diag_tcp(sup.families, CONN_STATES, 1, collect, c) == -1)
		known.whole = 0;
	if (known.n > 1)
		qsort(known.v, known.n, sizeof(*known.v), by_ino_sock);
	for (long i = 0; i < sup.nrefs; i++) {
		uint32_t ino = sup.refs[i].ino;

		if (is_known(ino) || (known.nother > 0 && known.other[known.nother - 1] == ino))
			continue;
		if (known.nother == known.capother) {
			size_t cap = known.capother ? known.capother * 2 : 64;
			uint32_t *v = reallocarray(known.other, cap, sizeof(*v));

			if (v == NULL) {
				known.whole = 0;
				break;
			}
			known.other = v;
			known.capother = cap;
		}
		known.other[known.nother++] = ino;	/* refs are sorted: so is this */
	}
}

/*
 * A look by lookups: 0, or -1 when it can not stand for a dump (the last
 * one was not read whole, or a descriptor names a socket it did not see).
 */
static int
quick_look(struct csum *c)
{
	size_t keep = 0;

	if (known.dumps_only || !known.whole)
		return -1;
	for (long i = 0; i < sup.nrefs; i++) {
		uint32_t ino = sup.refs[i].ino;

		if (!is_known(ino) && (known.nother == 0 || bsearch(&ino, known.other,
		    known.nother, sizeof(ino), by_ino) == NULL))
			return -1;
	}
	for (size_t i = 0; i < known.n; i++) {
		struct ld_sock s;

		if (!ours(known.v[i].ino) || !noted_port(known.v[i].port))
			continue;	/* the program closed it, or its listener is gone */
		if (ld_diag_one(&known.v[i], 1, &s) == -1) {
			if (errno != ENOENT && errno != ESTALE) {
				known.dumps_only = 1;
				return -1;
			}
			continue;
		}
		if (!(CONN_STATES & (1U << s.state)))
			continue;
		c->open++;
		c->busy += ld_tcp_busy(&s.ti, s.tilen, s.rqueue, s.wqueue);
		known.v[keep++] = s;
	}
	known.n = keep;
	return 0;
}

/*
 * The program's connections on its listeners' ports: how many, and how many
 * look busy. sure: a look that finds none busy is a dump's, not lookups'.
 */
static void
connections(struct csum *c, int sure)
{
	c->open = c->busy = 0;
	if (sup.families == 0)
		return;
	if (quick_look(c) == -1 || (sure && c->busy == 0)) {
		c->open = c->busy = 0;
		full_look(c);
	}
	sup.connections = c->open;
}

/*
 * Requests in flight: queued on a listener, or on a connection that looks
 * busy. Before the drain may end on a zero, one dump confirms it: lookups
 * see only what the last dump found.
 */
static long
in_flight(void)
{
	struct csum c;
	struct lsum l;

	listeners(&l, note_port);
	connections(&c, l.queued == 0);
	return c.busy + l.queued;
}

/* ---- readiness ---- */

static void
scan(long long now)
{
	struct lsum l;

	listeners(&l, NULL);
	sup.listeners = l.count;
	sup.next_scan = now + (now - sup.started < 1000 ? SCAN_FAST_MS : SCAN_MS);
	if (sup.lc.state == LD_ST_STARTING && ld_ports_complete(l.seen, l.count, ld_cfg.nports)) {
		ld_lc_ready(&sup.lc, now);
		ld_info("ready: %d listener%s (port %u)%s", l.count, l.count == 1 ? "" : "s",
		    l.first_port, sup.procs > 1 ? " in the program's tree" : "");
	}
}

static void
status(struct ld_health_status *st, int for_metrics)
{
	st->lc = &sup.lc;
	/* At most once a second: a client asking in a loop costs the program nothing more. */
	if (for_metrics && sup.lc.state != LD_ST_STARTING && sup.lc.state != LD_ST_DRAINING &&
	    ld_now_ms() - sup.metrics_at >= METRICS_MS) {
		struct lsum l;
		struct csum c;

		sup.metrics_at = ld_now_ms();
		listeners(&l, note_port);
		sup.listeners = l.count;
		connections(&c, 0);
	}
	st->listeners = sup.listeners;
	st->connections = sup.connections;
	st->in_flight = sup.in_flight;
	st->counted = 0;
}

/* ---- the drain ---- */

/* The program's disposition of sig, from /proc/PID/status: 'i'gnored, 'c'aught or 'd'efault. */
static char
disposition(int sig)
{
	char path[64], line[256];
	unsigned long long ign = 0, cgt = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)sup.child);
	if ((f = fopen(path, "re")) == NULL)
		return 'd';
	while (fgets(line, sizeof(line), f) != NULL) {
		(void)sscanf(line, "SigIgn: %llx", &ign);
		(void)sscanf(line, "SigCgt: %llx", &cgt);
	}
	fclose(f);
	if ((ign >> (sig - 1)) & 1)
		return 'i';
	return (cgt >> (sig - 1)) & 1 ? 'c' : 'd';
}

static int
wants_drain(int sig)
{
	char d = disposition(sig);

	if (d == 'i' || ld_cfg.drain == LD_DRAIN_NEVER)
		return 0;
	if (ld_cfg.drain == LD_DRAIN_ALWAYS)
		return 1;
	return d == 'd' && ld_default_kills(sig);
}

static int
take_listener(const struct ld_sock *s)
{
	const struct ld_sockref *r = ld_sockref_find(sup.refs, sup.nrefs, s->ino);
	struct stat st;
	int pidfd, fd;

	if (r == NULL || sup.nstopped >= MAX_STOPPED || sup.stop_errno != 0)
		return 0;
	for (int i = 0; i < sup.nstopped; i++)
		if (sup.stopped[i].ino == s->ino)
			return 0;
	pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	fd = pidfd == -1 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, r->fd, 0);
	/* A process that ended or closed it since the scan is no reason to give up. */
	if (fd == -1 && errno != ESRCH && errno != EBADF)
		sup.stop_errno = errno;
	if (pidfd != -1)
		close(pidfd);
	if (fd == -1)
		return 0;
	/* Since the scan the number may have been closed and reused, or the pid too. */
	if (fstat(fd, &st) == -1 || (uint32_t)st.st_ino != s->ino) {
		close(fd);
		return 0;
	}
	sup.stopped[sup.nstopped].fd = fd;
	sup.stopped[sup.nstopped].ino = s->ino;
	sup.nstopped++;
	return 0;
}

struct queue_of {
	uint32_t	ino;
	long		queued;
};

static int
on_queue(const struct ld_sock *s, void *arg)
{
	struct queue_of *q = arg;

	if (s->ino != q->ino)
		return 0;
	q->queued = s->rqueue;
	return 1;
}

/*
 * Shut down the copies whose accept queue is empty: the program has taken
 * every connection sent before, and new ones are refused from now on. A
 * queue that never empties waits until delivery (final), where what is
 * still queued is reset. Returns how many wait.
 */
static int
stop_listeners(int final)
{
	int waiting = 0;

	for (int i = 0; i < sup.nstopped; i++) {
		struct queue_of q = { sup.stopped[i].ino, 0 };

		if (sup.stopped[i].fd < 0)
			continue;
		(void)ld_diag_tcp(LD_DIAG_V4 | LD_DIAG_V6, 1U << LD_TCP_LISTEN, 0, on_queue, &q);
		if (q.queued > 0 && !final) {
			waiting++;
			continue;
		}
		if (q.queued > 0)
			ld_warn("listener %u: %ld queued connection%s the program never took %s reset",
			    q.ino, q.queued, q.queued == 1 ? "" : "s", q.queued == 1 ? "is" : "are");
		(void)shutdown(sup.stopped[i].fd, SHUT_RD);
		close(sup.stopped[i].fd);
		sup.stopped[i].fd = -1;
	}
	return waiting;
}

static void
begin_drain(long long now)
{
	struct lsum l;
	char d[32], why[160] = "", more[96] = "";
	int waiting;

	sup.nports = 0;
	sup.families = 0;
	listeners(&l, note_port);
	if (sup.stop == LD_STOP_ON)
		listeners(&l, take_listener);
	waiting = stop_listeners(0);
	sup.in_flight = in_flight();
	sup.drained = sup.connections;
	sup.next_check = now + CHECK_MS;
	ld_format_duration(ld_cfg.drain_timeout_ms, d, sizeof(d));
	if (sup.stop == LD_STOP_OFF)
		snprintf(why, sizeof(why), "LAMEDUCK_STOP_LISTENERS=off");
	else if (sup.stop_errno != 0)
		snprintf(why, sizeof(why), "pidfd_getfd: %s; it needs ptrace access to the "
		    "program, which containers grant with CAP_SYS_PTRACE", strerror(sup.stop_errno));
	if (waiting > 0)
		snprintf(more, sizeof(more), " (%d of them once the program has taken the "
		    "connections queued on %s)", waiting, waiting == 1 ? "it" : "them");
	if (why[0] == '\0')
		ld_info("draining: stopped accepting on %d listener%s%s; %ld request%s in flight, "
		    "%ld connection%s open (timeout %s)", sup.nstopped, sup.nstopped == 1 ? "" : "s",
		    more, sup.in_flight, sup.in_flight == 1 ? "" : "s", sup.connections,
		    sup.connections == 1 ? "" : "s", d);
	else
		ld_info("draining: %d listener%s left open, so new connections are still accepted "
		    "(%s); %ld request%s in flight, %ld connection%s open (timeout %s)", l.count,
		    l.count == 1 ? "" : "s", why, sup.in_flight, sup.in_flight == 1 ? "" : "s",
		    sup.connections, sup.connections == 1 ? "" : "s", d);
}

static void
deliver(long long now)
{
	int sig = sup.lc.deliver;
	char held[32] = "", d;

	if (sup.lc.entered_ms[LD_ST_LAMEDUCK] >= 0)
		snprintf(held, sizeof(held), " after %.2fs",
		    (double)(now - sup.lc.entered_ms[LD_ST_LAMEDUCK]) / 1000.0);
	/* Queued connections the program had no time to take: reset now, not later. */
	(void)stop_listeners(1);
	d = disposition(sig);
	ld_lc_delivered(&sup.lc, now);
	if (sig != sup.lc.sig)
		ld_info("delivering SIG%s for SIG%s%s to pid %d%s", signame(sig), signame(sup.lc.sig),
		    held, (int)sup.child, d == 'i' ? ", which ignores it" : "");
	else
		ld_info("delivering SIG%s%s to pid %d%s", signame(sig), held, (int)sup.child,
		    d == 'i' ? ", which ignores it" : "");
	if (kill(sup.child, sig) == -1)
		ld_warn("kill(%d, SIG%s): %s", (int)sup.child, signame(sig), strerror(errno));
}

static void
act(enum ld_action a, long long now)
{
	switch (a) {
	case LD_ACT_DRAIN:
		begin_drain(now);
		if (sup.in_flight == 0)
			act(ld_lc_tick(&sup.lc, now, 0), now);
		break;
	case LD_ACT_DELIVER:
		if (sup.lc.state == LD_ST_DRAINING)
			ld_report_drained(&sup.lc, now, sup.in_flight, sup.drained);
		deliver(now);
		break;
	default:
		break;
	}
}

/* ---- signals and the child's end ---- */

static void __attribute__((noreturn))
end_as(int wstatus)
{
	ld_health_close_all();
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		sigset_t set;

		ld_info("pid %d ended by SIG%s", (int)sup.child, signame(sig));
		if (getpid() != 1) {
			/* The same end for whoever waits for us; the child's core is the one to keep. */
			struct rlimit none = { 0, 0 };

			(void)setrlimit(RLIMIT_CORE, &none);
			signal(sig, SIG_DFL);
			sigemptyset(&set);
			sigaddset(&set, sig);
			(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
			(void)kill(getpid(), sig);
		}
		_exit(128 + sig);
	}
	ld_info("pid %d exited with status %d", (int)sup.child, WEXITSTATUS(wstatus));
	_exit(WEXITSTATUS(wstatus));
}

static void
reap(void)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == sup.child)
			end_as(st);
}

static void
on_signal(const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo, to;
	long long now = ld_now_ms();
	enum ld_state prev = sup.lc.state;
	enum ld_action a;

	if (sig == SIGCHLD) {
		reap();
		return;
	}
	/* Raised by our own doing (SIGPIPE: a log pipe nobody reads; SIGXFSZ): not the program's. */
	if (si->ssi_pid == (uint32_t)getpid() && si->ssi_code == SI_USER)
		return;
	if (!ld_sigset_has(ld_cfg.signals, sig) || prev == LD_ST_DELIVERED) {
		/* Not ours to manage, or not any more: the program's. */
		ld_debug("passing SIG%s from pid %d to pid %d", signame(sig), (int)si->ssi_pid,
		    (int)sup.child);
		(void)kill(sup.child, sig);
		return;
	}
	to = ld_cfg.deliver[sig] ? ld_cfg.deliver[sig] : sig;
	a = ld_lc_signal(&sup.lc, sig, to, wants_drain(to), now);
	ld_report_signal(a, prev, sig, (int)si->ssi_pid);
	act(a, now);
}

/* ---- the loop ---- */

static int
next_timeout(long long now)
{
	long long t = ld_lc_timeout(&sup.lc, now), h = ld_health_timeout(now), s = -1;

	if (sup.lc.state == LD_ST_STARTING && ld_cfg.ready == LD_READY_LISTEN)
		s = sup.next_scan > now ? sup.next_scan - now : 0;
	else if (sup.lc.state == LD_ST_DRAINING)
		s = sup.next_check > now ? sup.next_check - now : 0;
	if (h >= 0 && (t < 0 || h < t))
		t = h;
	if (s >= 0 && (t < 0 || s < t))
		t = s;
	return t > INT_MAX ? INT_MAX : (int)t;
}

static void __attribute__((noreturn))
run(int sfd)
{
	struct epoll_event ev[16];

	for (;;) {
		long long now = ld_now_ms();
		int n = epoll_wait(ld_own(LD_OWN_EPOLL), ev, 16, next_timeout(now));

		now = ld_now_ms();
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;

			if (tag == TAG_SIGFD) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si))
					on_signal(&si);
			} else if (tag == TAG_HEALTH)
				ld_health_accept(now);
			else if (tag >= LD_TAG_CLIENT)
				ld_health_event((int)(tag - LD_TAG_CLIENT), ev[i].events, now);
		}
		if (sup.lc.state == LD_ST_STARTING && ld_cfg.ready == LD_READY_LISTEN &&
		    now >= sup.next_scan)
			scan(now);
		if (sup.lc.state == LD_ST_DRAINING && now >= sup.next_check) {
			long long cost;

			(void)stop_listeners(0);
			sup.in_flight = in_flight();
			/* A check costs what the node's table of connections costs to walk. */
			cost = ld_now_ms() - now;
			sup.next_check = now + (cost * CHECK_SHARE > CHECK_MS ? cost * CHECK_SHARE :
			    CHECK_MS);
		}
		act(ld_lc_tick(&sup.lc, now, sup.in_flight), now);
		ld_health_expire(now);
	}
}

/* LD_PRELOAD without the shim: the program runs as it would without lameduck. */
static void
drop_shim_preload(void)
{
	const char *v = getenv("LD_PRELOAD");
	char out[4096], word[PATH_MAX];
	size_t n = 0;

	if (v == NULL || strstr(v, "liblameduck") == NULL)
		return;
	out[0] = '\0';
	while (*v != '\0') {
		size_t k = strcspn(v, " :");

		if (k > 0 && k < sizeof(word)) {
			memcpy(word, v, k);
			word[k] = '\0';
			if (strstr(word, "liblameduck") == NULL) {
				if (n > 0)
					(void)strlcat(out, ":", sizeof(out));
				n = strlcat(out, word, sizeof(out));
			}
		}
		v += k;
		v += strspn(v, " :");
	}
	if (n == 0)
		unsetenv("LD_PRELOAD");
	else
		setenv("LD_PRELOAD", out, 1);
}

/* PID 1 of a new PID namespace that kept its parent's /proc would read other processes. */
static void
check_proc(void)
{
	char self[32];
	ssize_t n;

	if (getpid() != 1)
		return;
	n = readlink("/proc/self", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = '\0';
	if (strcmp(self, "1") != 0)
		ld_warn("/proc is another PID namespace's (it calls us pid %s): the program's "
		    "sockets can not be found there, so /readyz will not say ready; mount this "
		    "namespace's /proc (unshare --mount-proc)", self);
}

static int
own_new(enum ld_own slot, int fd)
{
	if (fd < 0)
		return -1;
	ld_own_set(slot, ld_own_hide(fd));
	return 0;
}

void
ld_supervise(char *argv[], enum ld_stop stop)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGFD };
	sigset_t all, old;
	char d[32], t[32];
	void (*chld)(int);
	int sfd, fd;

	sup.name = argv[0];
	sup.stop = stop;
	(void)ld_log_open(ld_cfg.log_level, ld_cfg.log_format, 0);
	/* Every signal comes to the loop; the child gets the mask we were given. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	if (sigprocmask(SIG_SETMASK, &all, &old) == -1 ||
	    own_new(LD_OWN_SIGFD, sfd = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    own_new(LD_OWN_EPOLL, epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(125, "cannot supervise");
	sfd = ld_own(LD_OWN_SIGFD);
	if (epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_ADD, sfd, &ev) == -1)
		err(125, "cannot supervise");
	/* Orphans of the tree come to us, to be reaped (PID 1 gets them anyway). */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		ld_warn("cannot become a child subreaper (%s): orphans go to PID 1", strerror(errno));
	if (!ld_cfg.health_off) {
		fd = ld_health_listen(&ld_cfg);
		if (fd == -1)
			ld_warn("health port %s: %s; /readyz will not answer, so this pod will "
			    "never become ready", ld_health_desc(), strerror(errno));
		else {
			struct stat st;

			(void)own_new(LD_OWN_HEALTH, fd);
			if (fstat(ld_own(LD_OWN_HEALTH), &st) == 0)
				sup.health_ino = (uint32_t)st.st_ino;
		}
	}
	ld_health_start(TAG_HEALTH, status);
	ld_lc_init(&sup.lc, &ld_cfg, ld_now_ms());
	if (ld_cfg.ready == LD_READY_START)
		ld_lc_ready(&sup.lc, ld_now_ms());

	check_proc();
	/* Ignored, SIGCHLD would make the kernel reap the child for us, unseen. */
	chld = signal(SIGCHLD, SIG_DFL);
	sup.child = fork();
	if (sup.child == -1)
		err(125, "fork");
	if (sup.child == 0) {
		int e;

		ld_own_close(LD_OWN_HEALTH);
		ld_own_close(LD_OWN_EPOLL);
		ld_own_close(LD_OWN_SIGFD);
		/*
		 * Its own process group, so that a signal to ours (kill -- -PGID,
		 * a terminal's ^C) comes to us, not to it first; at a terminal it
		 * becomes the foreground group, as under tini (SIGTTOU is blocked).
		 */
		(void)setpgid(0, 0);
		if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgid(getppid()))
			(void)tcsetpgrp(STDIN_FILENO, getpid());
		drop_shim_preload();
		if (chld == SIG_IGN)
			signal(SIGCHLD, SIG_IGN);
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		e = errno;
		warnx("%s: %s", argv[0], strerror(e));
		_exit(e == ENOENT || e == EACCES ? 127 : 126);
	}
	/* Both sides: whichever runs first, the group exists before a signal to ours. */
	(void)setpgid(sup.child, sup.child);
	ld_format_duration(ld_cfg.delay_ms, d, sizeof(d));
	ld_format_duration(ld_cfg.drain_timeout_ms, t, sizeof(t));
	ld_info("supervising %s (pid %d): health %s, delay %s, drain timeout %s", argv[0],
	    (int)sup.child, ld_cfg.health_off ? "off" : ld_health_desc(), d, t);
	sup.started = sup.next_scan = ld_now_ms();
	(void)ld_diag_tcp(0, 0, 0, NULL, NULL);
	if (ld_diag_fallback())
		ld_warn("netlink sock_diag refused: reading /proc/net/tcp instead, where a "
		    "connection is in flight only while bytes wait in its queues");
	run(sfd);
}
