/*
 * The owner: the constructor decides whether this process acts, and the
 * shim's one thread runs the lifecycle and the health port from one epoll
 * loop. The lifecycle struct is read and changed on that thread only.
 *
 * Which process acts: one per network namespace and health address. The
 * owner binds an abstract AF_UNIX name made of the health address (abstract
 * names belong to the network namespace, like the pod), close-on-exec: a
 * process that finds the name taken (a helper the server runs, a kubectl
 * exec session with the same environment) stays passive; an owner that
 * execs releases the name and its new image takes it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "drain.h"
#include "fdtab.h"
#include "health.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "real.h"
#include "shim.h"
#include "signals.h"
#include "sockets.h"
#include "tree.h"

enum { TAG_SIGFD = 1, TAG_CATCH, TAG_EVENT, TAG_HEALTH };

#define LD_SCAN_MS	100	/* while starting: look for listeners made without listen() */
#define LD_DRAIN_CHECK_MS 10	/* how often the drain looks at what is in flight */
#define LD_SAME_KILL_MS	500	/* a worker's copy of a group kill may overtake ours by this */

struct ld_config ld_cfg;

static struct {
	_Atomic int	yielded;	/* the program took the health port */
	_Atomic int	gave_up;
	char		health_desc[80];
	struct ld_lifecycle lc;
	struct ld_caught first;
	long long	next_scan;
	long long	next_drain_check;
	int		listeners;
	long		connections;
	long		in_flight;
	long		drained;	/* connections open when the drain began */
	int		own_listeners;	/* the owner's own, at the last scan */
	long long	deferred_until;	/* the master's listeners are shut down by then */
	long long	members_until;	/* delivery waits for the members until then */
	int		awaiting;	/* delivery waits for the members to end */
	_Atomic int	member_thread;	/* a member's thread is running */
	char		held[32];	/* " after 1.23s", for the delivery's log line */
} T;

long long
ld_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Members follow the lifecycle through the shared tree. */
static void
publish(void)
{
	if (ld_tree != NULL) {
		atomic_store(&ld_tree->state, T.lc.state);
		ld_tree_wake();
	}
}

static const char *
signame(int sig)
{
	/* A few at once: one log line may name two signals. */
	static _Thread_local char buf[4][16];
	static _Thread_local unsigned next;

	return ld_signal_name(sig, buf[next++ % 4], sizeof(buf[0]));
}

/* Returns the claim's fd; -1 when another process owns the name. */
static int
claim(const char *name)
{
	struct sockaddr_un sun;
	size_t n = strlen(name);
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (n > sizeof(sun.sun_path) - 1)
		n = sizeof(sun.sun_path) - 1;
	memcpy(sun.sun_path + 1, name, n);	/* abstract: leading NUL */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -2;	/* cannot tell: act, rather than leave the server bare */
	if (ld_real.bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == -1) {
		int saved = errno;

		ld_close(fd);
		return saved == EADDRINUSE ? -1 : -2;
	}
	return ld_own_hide(fd);
}

static const char *
env_get(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

static int
stderr_is_socket(void)
{
	struct stat st;

	return ld_fstat(2, &st) == -1 || S_ISSOCK(st.st_mode);
}

static void
ld_poke(void)
{
	uint64_t one = 1;
	int fd = ld_own(LD_OWN_EVENT);

	if (fd >= 0)
		(void)!syscall(SYS_write, fd, &one, sizeof(one));
}

/* ---- readiness ---- */

static void
scan(long long now)
{
	struct ld_listeners l;

	struct ld_tree_sum ts;

	ld_scan_listeners(ld_cfg.ports, ld_cfg.nports, -1, &l);
	ld_tree_sum(&ts);
	T.own_listeners = l.count;
	T.listeners = l.count + ts.listeners;
	T.next_scan = now + LD_SCAN_MS;
	if (T.lc.state == LD_ST_STARTING &&
	    ld_ports_complete(l.seen | ts.ports_seen, T.listeners, ld_cfg.nports)) {
		ld_lc_ready(&T.lc, now);
		publish();
		if (ts.listeners > 0)
			ld_info("ready: %d listener%s, %d of them in %d other process%s of the tree",
			    T.listeners, T.listeners == 1 ? "" : "s", ts.listeners, ts.members,
			    ts.members == 1 ? "" : "es");
		else
			ld_info("ready: %d listener%s (port %u)", l.count, l.count == 1 ? "" : "s",
			    l.first_port);
	}
}

/* ---- delivery ---- */

static int
default_kills(int sig)
{
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return 0;
	default:
		return 1;
	}
}

/* The end of delivery: the program's own action, or PID 1's exit. */
static void
finish_delivery(int sig, const char *held)
{
	void (*disp)(int) = ld_sig_disposition(sig);

	if (disp == SIG_IGN) {
		ld_info("delivering SIG%s%s: the program ignores it (SIG_IGN), so nothing happens",
		    signame(sig), held);
		return;
	}
	if (disp == SIG_DFL && getpid() == 1 && default_kills(sig) && !ld_sig_waited(sig)) {
		/* The kernel ignores default-action signals sent to PID 1. */
		ld_info("delivering SIG%s%s: as PID 1, exiting with status %d", signame(sig),
		    held, 128 + sig);
		_exit(128 + sig);
	}
	if (sig != T.lc.sig)
		ld_info("delivering SIG%s for SIG%s%s", signame(sig), signame(T.lc.sig), held);
	else
		ld_info("delivering SIG%s%s", signame(sig), held);
	if (ld_sig_queue(sig, &T.first) == -1)
		ld_err("cannot queue SIG%s: %s", signame(sig), strerror(errno));
}

static void
deliver(long long now)
{
	int sig = T.lc.deliver, handed = 0, dies;
	void (*disp)(int);
	struct ld_tree_sum ts;

	/* Stop reading the signals ourselves before one is queued for the program. */
	if (ld_own(LD_OWN_SIGFD) >= 0) {
		(void)epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_DEL, ld_own(LD_OWN_SIGFD), NULL);
		ld_own_close(LD_OWN_SIGFD);
	}
	ld_drain_end();
	ld_sig_release();
	T.held[0] = '\0';
	if (T.lc.entered_ms[LD_ST_LAMEDUCK] >= 0)
		snprintf(T.held, sizeof(T.held), " after %.2fs",
		    (double)(now - T.lc.entered_ms[LD_ST_LAMEDUCK]) / 1000.0);
	ld_lc_delivered(&T.lc, now);
	publish();
	disp = ld_sig_disposition(sig);
	ld_tree_sum(&ts);
	/*
	 * A wrapper that serves nothing itself (sh -c 'server; exit $?'): the
	 * signal is for the servers of its tree, as dumb-init forwards to its
	 * session; a master that serves (nginx) stops its workers itself.
	 */
	if (T.own_listeners == 0 && ts.members > 0 && disp != SIG_IGN) {
		handed = ld_tree_signal_members(sig, T.first.pid, T.first.uid);
		ld_info("handing SIG%s to %d process%s of the tree", signame(sig), handed,
		    handed == 1 ? "" : "es");
	}
	dies = disp == SIG_DFL && default_kills(sig) && !ld_sig_waited(sig);
	if (dies && (handed > 0 || getpid() == 1) && ts.members + ts.conn_children > 0) {
		/* Our exit would end them (PID 1) or leave them orphaned: they go first. */
		T.awaiting = sig;
		T.members_until = getpid() == 1 ? -1 : now + ld_cfg.drain_timeout_ms;
		ld_info("waiting for %d process%s of the tree to end first",
		    ts.members + ts.conn_children, ts.members + ts.conn_children == 1 ? "" : "es");
		return;
	}
	finish_delivery(sig, T.held);
}

static void
await_members(long long now)
{
	struct ld_tree_sum ts;

	ld_tree_sum(&ts);
	if (ts.members + ts.conn_children > 0 && (T.members_until < 0 || now < T.members_until))
		return;
	if (ts.members + ts.conn_children > 0)
		ld_warn("%d process%s of the tree still running after %s", ts.members + ts.conn_children,
		    ts.members + ts.conn_children == 1 ? "" : "es", "the drain timeout");
	finish_delivery(T.awaiting, T.held);
	T.awaiting = 0;
}

/* Requests in flight here and in every member; the master's deferred shutdown. */
static long
in_flight_all(long long now)
{
	struct ld_tree_sum ts;
	long conns, n = ld_drain_in_flight(&conns);

	ld_tree_sum(&ts);
	if (ts.unstopped == 0 || now >= T.deferred_until)
		ld_drain_shutdown_deferred();
	T.connections = conns + ts.conns;
	/* A member that has not reported since the stop may hold anything. */
	return n + ts.in_flight + ts.conn_children + ts.unstopped;
}

static void
begin_drain(long long now)
{
	struct ld_drain_start st;
	char d[32];

	if (ld_tree != NULL)
		atomic_store(&ld_tree->stop, 1);
	publish();
	ld_drain_begin(ld_cfg.ports, ld_cfg.nports, -1,
	    ld_tree != NULL ? LD_DRAIN_OWNER : LD_DRAIN_SOLO, &st);
	T.deferred_until = now + 200;
	T.in_flight = in_flight_all(now);
	T.drained = T.connections;
	T.next_drain_check = now + LD_DRAIN_CHECK_MS;
	ld_format_duration(ld_cfg.drain_timeout_ms, d, sizeof(d));
	ld_info("draining: stopped accepting on %d listener%s%s, %d queued connection%s "
	    "handed to the program; %ld request%s in flight, %ld connection%s open (timeout %s)",
	    st.listeners, st.listeners == 1 ? "" : "s",
	    st.inherited ? " (not made here: only in this process)" : "",
	    st.queued, st.queued == 1 ? "" : "s", T.in_flight, T.in_flight == 1 ? "" : "s",
	    T.connections, T.connections == 1 ? "" : "s", d);
}

static void
act(enum ld_action a, long long now)
{
	switch (a) {
	case LD_ACT_DRAIN:
		begin_drain(now);
		/* Nothing in flight: no reason to wait a tick. */
		if (T.in_flight == 0)
			act(ld_lc_tick(&T.lc, now, 0), now);
		break;
	case LD_ACT_DELIVER:
		if (T.lc.state == LD_ST_DRAINING) {
			double secs = (double)(now - T.lc.entered_ms[LD_ST_DRAINING]) / 1000.0;

			if (T.in_flight > 0)
				ld_warn("drain timeout after %.2fs: %ld request%s still in flight "
				    "will be cut", secs, T.in_flight, T.in_flight == 1 ? "" : "s");
			else
				ld_info("drained in %.2fs (%ld connection%s open when it began)", secs,
				    T.drained, T.drained == 1 ? "" : "s");
		}
		deliver(now);
		break;
	default:
		break;
	}
}

/* Whether the delivered signal wants a drain first (LAMEDUCK_DRAIN). */
static int
wants_drain(int sig)
{
	void (*disp)(int) = ld_sig_disposition(sig);

	if (disp == SIG_IGN || ld_cfg.drain == LD_DRAIN_NEVER)
		return 0;
	if (ld_cfg.drain == LD_DRAIN_ALWAYS)
		return 1;
	return disp == SIG_DFL && default_kills(sig) && !ld_sig_waited(sig);
}

static void
on_signal(const struct ld_caught *c)
{
	long long now = ld_now_ms();
	enum ld_state prev = T.lc.state;
	enum ld_action a;
	char d[32];
	int to;

	if (c->code == SI_QUEUE && c->value == LD_SIG_FORWARDED && prev != LD_ST_SERVING &&
	    prev != LD_ST_STARTING) {
		/* A worker's copy of a group kill we already act on: not a second signal. */
		ld_debug("SIG%s from pid %d, passed on by a worker: already under way",
		    signame(c->signo), c->pid);
		return;
	}
	if (c->code != SI_QUEUE || c->value != LD_SIG_FORWARDED) {
		if (T.first.value == LD_SIG_FORWARDED && T.first.pid == c->pid &&
		    T.first.signo == c->signo && prev == LD_ST_LAMEDUCK &&
		    now - T.lc.entered_ms[LD_ST_LAMEDUCK] < LD_SAME_KILL_MS) {
			/*
			 * A worker's copy of a group kill overtook ours: this
			 * is the same kill, not an impatient second one.
			 */
			T.first = *c;
			ld_debug("SIG%s from pid %d: the same kill a worker passed on",
			    signame(c->signo), c->pid);
			return;
		}
	}
	if (prev == LD_ST_DELIVERED) {
		/* Caught just before the release: the program's now. */
		(void)ld_sig_queue(c->signo, c);
		return;
	}
	to = ld_cfg.deliver[c->signo] ? ld_cfg.deliver[c->signo] : c->signo;
	a = ld_lc_signal(&T.lc, c->signo, to, wants_drain(to), now);
	if (a == LD_ACT_LAMEDUCK) {
		T.first = *c;
		ld_format_duration(ld_cfg.delay_ms, d, sizeof(d));
		ld_info("SIG%s from pid %d: not ready, serving %s more", signame(c->signo),
		    c->pid, d);
	} else if (a == LD_ACT_DELIVER && prev == LD_ST_STARTING) {
		T.first = *c;
		ld_info("SIG%s from pid %d while starting: nothing to wait for",
		    signame(c->signo), c->pid);
	} else if (a == LD_ACT_DELIVER)
		ld_info("another SIG%s from pid %d: skipping the rest of the %s",
		    signame(c->signo), c->pid, prev == LD_ST_DRAINING ? "drain" : "delay");
	act(a, now);
	publish();
}

static void
read_signals(int tag)
{
	for (;;) {
		struct ld_caught c;

		if (tag == TAG_SIGFD) {
			struct signalfd_siginfo si;

			int fd = ld_own(LD_OWN_SIGFD);

			if (fd < 0 || read(fd, &si, sizeof(si)) != sizeof(si))
				return;
			c.signo = (int32_t)si.ssi_signo;
			c.code = si.ssi_code;
			c.pid = (int32_t)si.ssi_pid;
			c.uid = si.ssi_uid;
			c.value = si.ssi_code == SI_QUEUE ? si.ssi_int : 0;
		} else if (read(ld_own(LD_OWN_CATCH_R), &c, sizeof(c)) != sizeof(c))
			return;
		on_signal(&c);
	}
}

/* A signal a worker wrote into the tree (see forward() in signals.c). */
static void
take_forwarded(void)
{
	struct ld_caught c;

	if (ld_tree == NULL || atomic_load(&ld_tree->fwd_pending) != 2)
		return;
	c.signo = atomic_load(&ld_tree->fwd_sig);
	c.pid = atomic_load(&ld_tree->fwd_pid);
	c.uid = atomic_load(&ld_tree->fwd_uid);
	c.code = SI_QUEUE;
	c.value = LD_SIG_FORWARDED;
	atomic_store(&ld_tree->fwd_pending, 0);
	if (c.signo > 0 && c.signo < LD_NSIG)
		on_signal(&c);
}

/* ---- the health port's answers ---- */

static void __attribute__((format(printf, 4, 5)))
out(char *b, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(b + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n = (size_t)w < cap - *n ? *n + (size_t)w : cap - 1;
}

static size_t
metrics(char *b, size_t cap, long long now)
{
	size_t n = 0;

	out(b, cap, &n, "# HELP lameduck_state 1 for the lifecycle state the process is in.\n"
	    "# TYPE lameduck_state gauge\n");
	for (int s = 0; s < LD_ST_COUNT; s++)
		out(b, cap, &n, "lameduck_state{state=\"%s\"} %d\n", ld_lc_state_name(s),
		    T.lc.state == (enum ld_state)s);
	out(b, cap, &n, "# HELP lameduck_ready 1 while /readyz answers 200.\n"
	    "# TYPE lameduck_ready gauge\n"
	    "lameduck_ready %d\n", ld_lc_is_ready(&T.lc));
	out(b, cap, &n, "# HELP lameduck_listeners TCP listeners that count for readiness.\n"
	    "# TYPE lameduck_listeners gauge\n"
	    "lameduck_listeners %d\n", T.listeners);
	out(b, cap, &n, "# HELP lameduck_connections_active Accepted connections open now.\n"
	    "# TYPE lameduck_connections_active gauge\n"
	    "lameduck_connections_active %ld\n", T.connections);
	out(b, cap, &n, "# HELP lameduck_connections_accepted_total Connections accepted.\n"
	    "# TYPE lameduck_connections_accepted_total counter\n"
	    "lameduck_connections_accepted_total %llu\n", ld_accepted_total());
	out(b, cap, &n, "# HELP lameduck_in_flight Requests in flight (counted while draining).\n"
	    "# TYPE lameduck_in_flight gauge\n"
	    "lameduck_in_flight %ld\n", T.in_flight);
	out(b, cap, &n, "# HELP lameduck_signals_received_total Lame-duck signals received.\n"
	    "# TYPE lameduck_signals_received_total counter\n"
	    "lameduck_signals_received_total %llu\n", T.lc.signals);
	out(b, cap, &n, "# HELP lameduck_phase_seconds Seconds spent in each lifecycle phase.\n"
	    "# TYPE lameduck_phase_seconds gauge\n");
	for (int s = 0; s < LD_ST_COUNT; s++)
		out(b, cap, &n, "lameduck_phase_seconds{phase=\"%s\"} %.3f\n",
		    ld_lc_state_name(s), ld_lc_seconds_in(&T.lc, s, now));
	out(b, cap, &n, "# HELP lameduck_build_info The shim's version.\n"
	    "# TYPE lameduck_build_info gauge\n"
	    "lameduck_build_info{version=\"%s\"} 1\n", LD_VERSION);
	return n;
}

int
ld_render(int path, char *body, size_t cap, size_t *len)
{
	long long now = ld_now_ms();
	int n;

	switch (path) {
	case LD_P_READYZ:
	case LD_P_HEALTHZ:
		if (ld_lc_is_ready(&T.lc)) {
			n = snprintf(body, cap, "ok\n");
			*len = (size_t)n;
			return 200;
		}
		n = snprintf(body, cap, "%s\n", ld_lc_state_name(T.lc.state));
		*len = (size_t)n;
		return 503;
	case LD_P_METRICS:
		if (T.lc.state != LD_ST_STARTING) {
			struct ld_listeners l;

			ld_scan_listeners(ld_cfg.ports, ld_cfg.nports, -1, &l);
			T.listeners = l.count;
			if (T.lc.state != LD_ST_DRAINING)
				(void)ld_drain_in_flight(&T.connections);
		}
		*len = metrics(body, cap, now);
		return 200;
	case LD_P_LIVEZ:
	default:
		n = snprintf(body, cap, "ok\n");
		*len = (size_t)n;
		return 200;
	}
}

/* ---- the program wins a port ---- */

void
ld_health_yield(int fd, const struct sockaddr *addr, socklen_t len)
{
	int hfd = ld_own(LD_OWN_HEALTH);
	char a[80];

	if (hfd < 0 || !ld_addr_overlaps(fd, addr, len, &ld_cfg.health_addr,
	    ld_cfg.health_any, ld_cfg.health_port))
		return;
	if (atomic_exchange(&T.gave_up, 1))
		return;
	/*
	 * Free the port now, but keep the number taken until the shim's thread
	 * lets go of it: another descriptor of ours goes over it, and the
	 * thread closes that.
	 */
	if (ld_dup3(ld_own(LD_OWN_EVENT), hfd, O_CLOEXEC) == -1)
		return;
	atomic_store(&T.yielded, 1);
	ld_poke();
	ld_format_addr(addr, a, sizeof(a));
	ld_warn("the program binds %s, which overlaps the health port %s: the health port "
	    "is closed, so /readyz will not answer", a, T.health_desc);
}

/*
 * The owner's thread: a member asked for the port (ld_health_ask). It was
 * woken by the member's connection to the port, or by anything else.
 */
static void
yield_to_member(void)
{
	int pid = atomic_load(&ld_tree->yield_pid);

	if (ld_own(LD_OWN_HEALTH) >= 0 && !atomic_exchange(&T.gave_up, 1)) {
		ld_own_close(LD_OWN_HEALTH);
		ld_warn("pid %d of this tree binds an address that overlaps the health port %s: "
		    "the health port is closed, so /readyz will not answer", pid, T.health_desc);
	}
	atomic_store(&ld_tree->yield_done, (int)getpid());
}

/* Wakes the owner's thread: a connection to the health port itself. */
static void
knock(void)
{
	struct sockaddr_storage ss = ld_cfg.health_addr;
	socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	int c;

	if (ld_cfg.health_any) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;	/* the dual-stack socket takes it too */
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(ld_cfg.health_port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons(ld_cfg.health_port);
	c = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c < 0)
		return;
	(void)connect(c, (struct sockaddr *)&ss, len);
	ld_close(c);
}

int
ld_health_ask(int fd, const struct sockaddr *addr, socklen_t len)
{
	int owner, e = errno, done;

	if (ld_tree == NULL || ld_cfg.health_off ||
	    !ld_addr_overlaps(fd, addr, len, &ld_cfg.health_addr, ld_cfg.health_any,
	    ld_cfg.health_port))
		return -1;
	owner = atomic_load(&ld_tree->owner);
	if (owner <= 0 || !ld_pid_alive(owner))
		return -1;
	/* The request names the owner: a later one (after a take-over) is asked anew. */
	if (atomic_load(&ld_tree->yield_done) != owner) {
		atomic_store(&ld_tree->yield_pid, (int)getpid());
		atomic_store(&ld_tree->yield_to, owner);
	}
	/* Bounded: an owner whose thread is stuck, or that ends, never answers. */
	for (int i = 0; i < 200 && atomic_load(&ld_tree->yield_done) != owner; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		if (i % 20 == 0) {
			if (i > 0 && !ld_pid_alive(owner))
				break;
			knock();
		}
		nanosleep(&ts, NULL);
	}
	done = atomic_load(&ld_tree->yield_done) == owner;
	if (!done) {
		/* Given up: no owner is to close its port later for nothing. */
		int want = owner;

		(void)atomic_compare_exchange_strong(&ld_tree->yield_to, &want, 0);
	}
	errno = e;
	return done ? 0 : -1;
}

/* ---- the thread ---- */

static int
next_timeout(long long now)
{
	long long t = ld_lc_timeout(&T.lc, now), h = ld_health_timeout(now);

	if (h >= 0 && (t < 0 || h < t))
		t = h;
	if (T.lc.state == LD_ST_STARTING && ld_cfg.ready == LD_READY_LISTEN) {
		long long s = T.next_scan > now ? T.next_scan - now : 0;

		if (t < 0 || s < t)
			t = s;
	}
	if (T.lc.state == LD_ST_DRAINING || T.awaiting) {
		long long s = T.next_drain_check > now ? T.next_drain_check - now : 0;

		if (t < 0 || s < t)
			t = s;
	}
	return t > INT_MAX ? INT_MAX : (int)t;
}

static void *
ld_main(void *arg)
{
	struct epoll_event ev[16];

	(void)arg;
	if (ld_cfg.ready == LD_READY_LISTEN)
		scan(ld_now_ms());
	for (;;) {
		long long now = ld_now_ms();
		int n = epoll_wait(ld_own(LD_OWN_EPOLL), ev, 16, next_timeout(now));

		now = ld_now_ms();
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;

			if (tag == TAG_SIGFD || tag == TAG_CATCH)
				read_signals((int)tag);
			else if (tag == TAG_EVENT) {
				uint64_t v;

				(void)!read(ld_own(LD_OWN_EVENT), &v, sizeof(v));
				T.next_scan = now;
				take_forwarded();
			} else if (tag == TAG_HEALTH)
				ld_health_accept(now);
			else if (tag >= LD_TAG_CLIENT)
				ld_health_event((int)(tag - LD_TAG_CLIENT), ev[i].events, now);
		}
		if (atomic_exchange(&T.yielded, 0))
			ld_own_close(LD_OWN_HEALTH);
		if (ld_tree != NULL && atomic_load(&ld_tree->yield_to) != 0 &&
		    atomic_load(&ld_tree->yield_to) == (int)getpid() &&
		    atomic_load(&ld_tree->yield_done) != (int)getpid())
			yield_to_member();
		if (T.lc.state == LD_ST_STARTING && ld_cfg.ready == LD_READY_LISTEN &&
		    now >= T.next_scan)
			scan(now);
		if ((T.lc.state == LD_ST_DRAINING || T.awaiting) && now >= T.next_drain_check) {
			T.in_flight = in_flight_all(now);
			T.next_drain_check = now + LD_DRAIN_CHECK_MS;
		}
		act(ld_lc_tick(&T.lc, now, T.in_flight), now);
		if (T.awaiting)
			await_members(now);
		ld_health_expire(now);
	}
	return NULL;
}

/* ---- members ---- */

/*
 * A member's thread: it reports this process's listeners while the tree
 * starts, stops them when the owner's drain begins, and reports what is in
 * flight here until delivery.
 */
static void *
member_main(void *arg)
{
	struct ld_member *me = ld_tree_join(getpid(), LD_K_MEMBER);
	int acted = 0, ended = 0;

	(void)arg;
	if (me == NULL)
		return NULL;
	for (;;) {
		uint32_t seq = atomic_load(&ld_tree->seq);
		int state = atomic_load(&ld_tree->state), stop = atomic_load(&ld_tree->stop);

		if (atomic_load(&ld_role) == LD_ROLE_OWNER) {
			/* Promoted (a daemon's survivor): the owner's thread does it all now. */
			ld_tree_leave(getpid());
			atomic_store(&T.member_thread, 0);
			return NULL;
		}

		if (state == LD_ST_STARTING) {
			struct ld_listeners l;

			ld_scan_listeners(ld_cfg.ports, ld_cfg.nports, -1, &l);
			atomic_store(&me->listeners, l.count);
			atomic_store(&me->ports_seen, l.seen);
		}
		if (stop > acted) {
			struct ld_drain_start st;

			ld_drain_begin(ld_cfg.ports, ld_cfg.nports, -1, LD_DRAIN_MEMBER, &st);
			acted = stop;
		}
		if (acted && !ended) {
			long conns, n = ld_drain_in_flight(&conns);

			atomic_store(&me->in_flight, (int)n);
			atomic_store(&me->conns, (int)conns);
			atomic_store(&me->stopped, acted);
		}
		if (state == LD_ST_DELIVERED && !ended) {
			ld_drain_end();
			ended = 1;
		}
		ld_tree_wait(seq, acted && !ended ? LD_DRAIN_CHECK_MS : (ended ? -1 : LD_SCAN_MS));
	}
	return NULL;
}

/* ---- start-up ---- */

static int
start_thread(void *(*fn)(void *))
{
	sigset_t all, old;
	int r;

	/*
	 * Born with every signal blocked: it must never take one meant for the
	 * program. (sigprocmask is pthread_sigmask on Linux, and in libc.so.6
	 * on every glibc.)
	 */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	r = ld_thread_create(fn, 256 * 1024);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

static void
start_member_thread(void)
{
	if (ld_tree != NULL && !atomic_exchange(&T.member_thread, 1) &&
	    start_thread(member_main) != 0)
		atomic_store(&T.member_thread, 0);
}

static int
own_new(enum ld_own slot, int fd)
{
	if (fd < 0)
		return -1;
	ld_own_set(slot, ld_own_hide(fd));
	return 0;
}

static int
watch(enum ld_own slot, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_ADD, ld_own(slot), &ev);
}

static int
open_fds(void)
{
	int p[2];
	sigset_t set;

	sigemptyset(&set);
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(ld_cfg.signals, sig))
			sigaddset(&set, sig);
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	if (own_new(LD_OWN_CATCH_R, p[0]) == -1 || own_new(LD_OWN_CATCH_W, p[1]) == -1 ||
	    own_new(LD_OWN_EVENT, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    own_new(LD_OWN_EPOLL, epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    own_new(LD_OWN_SIGFD, ld_real.signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		return -1;
	if (watch(LD_OWN_SIGFD, TAG_SIGFD) == -1 || watch(LD_OWN_CATCH_R, TAG_CATCH) == -1)
		return -1;
	return watch(LD_OWN_EVENT, TAG_EVENT);
}

static void
open_health(void)
{
	int fd;

	if (!ld_cfg.health_off) {
		fd = ld_health_listen(&ld_cfg, T.health_desc, sizeof(T.health_desc));
		if (fd == -1)
			ld_warn("health port %s: %s; /readyz will not answer, so this pod will "
			    "never become ready", T.health_desc, strerror(errno));
		else
			own_new(LD_OWN_HEALTH, fd);
	}
	ld_health_start(TAG_HEALTH);
}

/* The descriptors only the owner's thread uses. */
static void
close_owner_fds(void)
{
	/* The eventfd stays: a forked worker wakes the owner through it. */
	static const enum ld_own owner_only[] = { LD_OWN_CLAIM, LD_OWN_EPOLL, LD_OWN_SIGFD,
		LD_OWN_CATCH_R, LD_OWN_CATCH_W, LD_OWN_PROCFD };

	ld_health_close_all();
	for (size_t i = 0; i < sizeof(owner_only) / sizeof(owner_only[0]); i++)
		ld_own_close(owner_only[i]);
}

/*
 * In a forked child (async-signal-safe calls only). In a tree it is a
 * member: the owner's descriptors go, so that only the owner ever holds the
 * health port, and it starts a thread only if it serves. Without a tree, it
 * is passive and the program gets its signal actions back.
 */
static void
after_fork_child(void)
{
	int role = atomic_load(&ld_role);

	/*
	 * Every signal is still blocked (ld_sig_before_fork): settle the role
	 * and the descriptors first, so that no signal meets a child that
	 * still takes itself for the owner.
	 */
	if (role != LD_ROLE_NONE) {
		ld_own_close(LD_OWN_PROCFD);	/* its parent's /proc/PID/fd */
		atomic_store(&T.member_thread, 0);
		if (role == LD_ROLE_OWNER)
			close_owner_fds();
		ld_drain_after_fork();
		atomic_store(&ld_role, ld_tree != NULL ? LD_ROLE_MEMBER : LD_ROLE_NONE);
	}
	ld_sig_after_fork();
	if (role != LD_ROLE_NONE && ld_tree == NULL)
		ld_sig_forget();
}

static void
claim_name(int bad, char *name, size_t len)
{
	char desc[80];
	const char *h;

	if (bad) {
		h = getenv("LAMEDUCK_HEALTH");
		snprintf(name, len, "lameduck/%s", h != NULL ? h : "default");
	} else if (ld_cfg.health_off)
		snprintf(name, len, "lameduck/off");
	else {
		ld_format_addr((struct sockaddr *)&ld_cfg.health_addr, desc, sizeof(desc));
		snprintf(name, len, "lameduck/%s", desc);
	}
}

/* Everything the owner needs but the signals. Returns 0, or -1 (logged). */
static int
owner_start(void)
{
	if (open_fds() == -1) {
		ld_err("cannot start (%s); lameduck is off for this process", strerror(errno));
		return -1;
	}
	open_health();
	ld_lc_init(&T.lc, &ld_cfg, ld_now_ms());
	if (ld_cfg.ready == LD_READY_START)
		ld_lc_ready(&T.lc, ld_now_ms());
	return 0;
}

/*
 * A daemon's survivor: the owner forked and exited. The first listen() of a
 * member whose owner is gone takes the lifecycle over.
 */
static void
promote(void)
{
	char name[128];
	int fd, old = atomic_load(&ld_tree->owner);

	claim_name(0, name, sizeof(name));
	if ((fd = claim(name)) == -1) {
		start_member_thread();	/* someone else acts already */
		return;
	}
	if (fd >= 0)
		ld_own_set(LD_OWN_CLAIM, fd);
	ld_own_close(LD_OWN_EVENT);	/* the gone owner's */
	if (owner_start() == -1)
		return;
	atomic_store(&ld_tree->owner, getpid());
	atomic_store(&ld_role, LD_ROLE_OWNER);
	publish();
	if (start_thread(ld_main) != 0) {
		ld_err("cannot start its thread; lameduck is off for this process");
		return;
	}
	ld_info("the owner (pid %d) is gone: this process takes the lifecycle over", old);
}

void
ld_on_listen(void)
{
	switch (atomic_load(&ld_role)) {
	case LD_ROLE_OWNER:
		ld_poke();
		break;
	case LD_ROLE_MEMBER:
		if (ld_tree != NULL && !ld_pid_alive(atomic_load(&ld_tree->owner)))
			promote();
		else
			start_member_thread();
		break;
	default:
		break;
	}
}

void
ld_on_accept(void)
{
	if (atomic_load(&ld_role) == LD_ROLE_MEMBER)
		start_member_thread();
}

static void
log_config(void)
{
	char d[32], t[32], s[128] = "", one[16];

	ld_format_duration(ld_cfg.delay_ms, d, sizeof(d));
	ld_format_duration(ld_cfg.drain_timeout_ms, t, sizeof(t));
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(ld_cfg.signals, sig)) {
			snprintf(one, sizeof(one), "%s%s", s[0] ? "," : "", signame(sig));
			strncat(s, one, sizeof(s) - strlen(s) - 1);
		}
	ld_debug("lameduck %s: delay %s, drain timeout %s, signals %s, health %s, ready on %s",
	    LD_VERSION, d, t, s, ld_cfg.health_off ? "off" : T.health_desc,
	    ld_cfg.ready == LD_READY_START ? "start" : "listen");
}

static void
member_init(void)
{
	ld_log_open(ld_cfg.log_level, ld_cfg.log_format);
	ld_mark_inherited(ld_cfg.ports, ld_cfg.nports);
	atomic_store(&ld_role, LD_ROLE_MEMBER);
	if (ld_sig_take(ld_cfg.signals) == -1) {
		atomic_store(&ld_role, LD_ROLE_NONE);
		ld_sig_release();
		return;
	}
	pthread_atfork(ld_sig_before_fork, ld_sig_after_fork, after_fork_child);
	if (ld_holds_listeners)
		start_member_thread();
}

__attribute__((constructor)) static void
ld_init(void)
{
	char err[256], name[128];
	int bad, fd;

	ld_real_init();
	bad = ld_config_load(&ld_cfg, env_get, NULL, err, sizeof(err));
	claim_name(bad, name, sizeof(name));
	fd = claim(name);
	if (fd == -1) {
		/* Another process acts for this pod: are we in its tree? */
		if (!bad && ld_tree_attach() == 0)
			member_init();
		return;
	}
	if (fd >= 0)
		ld_own_set(LD_OWN_CLAIM, fd);
	if (bad) {
		if (!stderr_is_socket())
			dprintf(2, "lameduck: %s; lameduck is off for this process\n", err);
		return;
	}
	ld_log_open(ld_cfg.log_level, ld_cfg.log_format);
	if (owner_start() == -1)
		return;
	ld_mark_inherited(ld_cfg.ports, ld_cfg.nports);
	if (ld_tree_create() == -1)
		ld_warn("cannot share state with child processes (%s); they stay passive",
		    strerror(errno));
	atomic_store(&ld_role, LD_ROLE_OWNER);
	if (ld_sig_take(ld_cfg.signals) == -1) {
		ld_err("cannot take the signals (%s); lameduck is off for this process",
		    strerror(errno));
		atomic_store(&ld_role, LD_ROLE_NONE);
		ld_sig_release();
		return;
	}
	pthread_atfork(ld_sig_before_fork, ld_sig_after_fork, after_fork_child);
	if (start_thread(ld_main) != 0) {
		atomic_store(&ld_role, LD_ROLE_NONE);
		ld_sig_release();
		ld_err("cannot start its thread; lameduck is off for this process");
		return;
	}
	log_config();
}
