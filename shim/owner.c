/*
 * The owner: one thread that runs the lifecycle and the health port from
 * one epoll loop. The lifecycle struct is read and changed on that thread
 * only; the health port's answers read it through status(), on the same
 * thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config.h"
#include "conns.h"
#include "drain.h"
#include "fdtab.h"
#include "health.h"
#include "lifecycle.h"
#include "log.h"
#include "owner.h"
#include "procfs.h"
#include "report.h"
#include "real.h"
#include "sigtable.h"
#include "tree.h"

enum { TAG_SIGFD = 1, TAG_CATCH, TAG_EVENT, TAG_HEALTH, TAG_CLAIM };

#define LD_SAME_KILL_MS	500	/* a worker's copy of a group kill may overtake ours by this */

static struct {
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
	char		held[32];	/* " after 1.23s", for the delivery's log line */
} owner;


void
ld_owner_publish(void)
{
	if (ld_tree != NULL) {
		atomic_store(&ld_tree->state, owner.lc.state);
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

/* ---- readiness ---- */

static void
scan(long long now)
{
	struct ld_listeners l;

	struct ld_tree_sum ts;

	ld_scan_listeners(ld_cfg.ports, ld_cfg.nports, -1, &l);
	ld_tree_sum(&ts);
	owner.own_listeners = l.count;
	owner.listeners = l.count + ts.listeners;
	owner.next_scan = now + LD_SCAN_MS;
	if (owner.lc.state == LD_ST_STARTING &&
	    ld_ports_complete(l.seen | ts.ports_seen, owner.listeners, ld_cfg.nports)) {
		ld_lc_ready(&owner.lc, now);
		ld_owner_publish();
		if (ts.listeners > 0)
			ld_info("ready: %d listener%s, %d of them in %d other process%s of the tree",
			    owner.listeners, owner.listeners == 1 ? "" : "s", ts.listeners, ts.members,
			    ts.members == 1 ? "" : "es");
		else
			ld_info("ready: %d listener%s (port %u)", l.count, l.count == 1 ? "" : "s",
			    l.first_port);
	}
}

/* ---- delivery ---- */

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
	if (disp == SIG_DFL && getpid() == 1 && ld_default_kills(sig) && !ld_sig_waited(sig)) {
		/* The kernel ignores default-action signals sent to PID 1. */
		ld_info("delivering SIG%s%s: as PID 1, exiting with status %d", signame(sig),
		    held, 128 + sig);
		_exit(128 + sig);
	}
	if (sig != owner.lc.sig)
		ld_info("delivering SIG%s for SIG%s%s", signame(sig), signame(owner.lc.sig), held);
	else
		ld_info("delivering SIG%s%s", signame(sig), held);
	if (ld_sig_queue(sig, &owner.first) == -1)
		ld_err("cannot queue SIG%s: %s", signame(sig), strerror(errno));
}

/* Before delivery: the connections retired, and a FIN on the idle ones. */
static void
close_idle(void)
{
	int n = ld_conn_close_idle();
	unsigned long long h = ld_tree_retired(LD_RETIRED_HEADER);
	unsigned long long g = ld_tree_retired(LD_RETIRED_GOAWAY);

	if (n > 0 || h > 0 || g > 0)
		ld_info("retiring connections: %llu closed by their response's "
		    "\"Connection: close\", %llu HTTP/2 sent a GOAWAY, %d idle one%s closed now "
		    "(FIN)", h, g, n, n == 1 ? "" : "s");
}

static void
deliver(long long now)
{
	int sig = owner.lc.deliver, handed = 0, dies;
	void (*disp)(int);
	struct ld_tree_sum ts;

	/* Stop reading the signals ourselves before one is queued for the program. */
	if (ld_own(LD_OWN_SIGFD) >= 0) {
		(void)ld_real.epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_DEL, ld_own(LD_OWN_SIGFD), NULL);
		ld_own_close(LD_OWN_SIGFD);
	}
	if (ld_cfg.retire)
		close_idle();
	ld_drain_end();
	ld_sig_release();
	owner.held[0] = '\0';
	if (owner.lc.entered_ms[LD_ST_LAMEDUCK] >= 0)
		snprintf(owner.held, sizeof(owner.held), " after %.2fs",
		    (double)(now - owner.lc.entered_ms[LD_ST_LAMEDUCK]) / 1000.0);
	ld_lc_delivered(&owner.lc, now);
	ld_owner_publish();
	disp = ld_sig_disposition(sig);
	ld_tree_sum(&ts);
	/*
	 * A wrapper that serves nothing itself (sh -c 'server; exit $?'): the
	 * signal is for the servers of its tree, as dumb-init forwards to its
	 * session; a master that serves (nginx) stops its workers itself.
	 */
	if (owner.own_listeners == 0 && ts.members > 0 && disp != SIG_IGN) {
		handed = ld_tree_signal_members(sig, owner.first.pid, owner.first.uid);
		ld_info("handing SIG%s to %d process%s of the tree", signame(sig), handed,
		    handed == 1 ? "" : "es");
	}
	dies = disp == SIG_DFL && ld_default_kills(sig) && !ld_sig_waited(sig);
	if (dies && (handed > 0 || getpid() == 1) && ts.members + ts.conn_children > 0) {
		/* Our exit would end them (PID 1) or leave them orphaned: they go first. */
		owner.awaiting = sig;
		owner.members_until = getpid() == 1 ? -1 : now + ld_cfg.drain_timeout_ms;
		ld_info("waiting for %d process%s of the tree to end first",
		    ts.members + ts.conn_children, ts.members + ts.conn_children == 1 ? "" : "es");
		return;
	}
	finish_delivery(sig, owner.held);
}

static void
await_members(long long now)
{
	struct ld_tree_sum ts;

	ld_tree_sum(&ts);
	if (ts.members + ts.conn_children > 0 && (owner.members_until < 0 || now < owner.members_until))
		return;
	if (ts.members + ts.conn_children > 0)
		ld_warn("%d process%s of the tree still running after %s", ts.members + ts.conn_children,
		    ts.members + ts.conn_children == 1 ? "" : "es", "the drain timeout");
	finish_delivery(owner.awaiting, owner.held);
	owner.awaiting = 0;
}

/* Requests in flight here and in every member; the master's deferred shutdown. */
static long
in_flight_all(long long now)
{
	struct ld_tree_sum ts;
	long conns, n = ld_drain_in_flight(&conns, ld_conn_h2_busy);

	ld_tree_sum(&ts);
	if (ts.unstopped == 0 || now >= owner.deferred_until)
		ld_drain_shutdown_deferred();
	owner.connections = conns + ts.conns;
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
	ld_owner_publish();
	ld_drain_begin(ld_cfg.ports, ld_cfg.nports, -1,
	    ld_tree != NULL ? LD_DRAIN_OWNER : LD_DRAIN_SOLO, &st);
	owner.deferred_until = now + 200;
	owner.in_flight = in_flight_all(now);
	owner.drained = owner.connections;
	owner.next_drain_check = now + LD_DRAIN_CHECK_MS;
	ld_format_duration(ld_cfg.drain_timeout_ms, d, sizeof(d));
	ld_info("draining: stopped accepting on %d listener%s%s, %d queued connection%s "
	    "handed to the program; %ld request%s in flight, %ld connection%s open (timeout %s)",
	    st.listeners, st.listeners == 1 ? "" : "s",
	    st.inherited ? " (not made here: only in this process)" : "",
	    st.queued, st.queued == 1 ? "" : "s", owner.in_flight, owner.in_flight == 1 ? "" : "s",
	    owner.connections, owner.connections == 1 ? "" : "s", d);
}

static void
act(enum ld_action a, long long now)
{
	switch (a) {
	case LD_ACT_DRAIN:
		begin_drain(now);
		/* Nothing in flight: no reason to wait a tick. */
		if (owner.in_flight == 0)
			act(ld_lc_tick(&owner.lc, now, 0), now);
		break;
	case LD_ACT_DELIVER:
		if (owner.lc.state == LD_ST_DRAINING)
			ld_report_drained(&owner.lc, now, owner.in_flight, owner.drained);
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
	return disp == SIG_DFL && ld_default_kills(sig) && !ld_sig_waited(sig);
}

static void
on_signal(const struct ld_caught *c)
{
	long long now = ld_now_ms();
	enum ld_state prev = owner.lc.state;
	enum ld_action a;
	int to;

	if (c->code == SI_QUEUE && c->value == LD_SIG_FORWARDED && prev != LD_ST_SERVING &&
	    prev != LD_ST_STARTING) {
		/* A worker's copy of a group kill we already act on: not a second signal. */
		ld_debug("SIG%s from pid %d, passed on by a worker: already under way",
		    signame(c->signo), c->pid);
		return;
	}
	if (c->code != SI_QUEUE || c->value != LD_SIG_FORWARDED) {
		if (owner.first.value == LD_SIG_FORWARDED && owner.first.pid == c->pid &&
		    owner.first.signo == c->signo && prev == LD_ST_LAMEDUCK &&
		    now - owner.lc.entered_ms[LD_ST_LAMEDUCK] < LD_SAME_KILL_MS) {
			/*
			 * A worker's copy of a group kill overtook ours: this
			 * is the same kill, not an impatient second one.
			 */
			owner.first = *c;
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
	a = ld_lc_signal(&owner.lc, c->signo, to, wants_drain(to), now);
	if (a == LD_ACT_LAMEDUCK) {
		owner.first = *c;
		if (ld_cfg.retire)
			ld_retire_begin();
	} else if (a == LD_ACT_DELIVER && prev == LD_ST_STARTING)
		owner.first = *c;
	ld_report_signal(a, prev, c->signo, c->pid);
	act(a, now);
	ld_owner_publish();
}

static void
read_signals(int tag)
{
	for (;;) {
		struct ld_caught c;

		if (tag == TAG_SIGFD) {
			struct signalfd_siginfo si;

			int fd = ld_own(LD_OWN_SIGFD);

			if (fd < 0 || ld_real.read(fd, &si, sizeof(si)) != sizeof(si))
				return;
			c.signo = (int32_t)si.ssi_signo;
			c.code = si.ssi_code;
			c.pid = (int32_t)si.ssi_pid;
			c.uid = si.ssi_uid;
			c.value = si.ssi_code == SI_QUEUE ? si.ssi_int : 0;
		} else if (ld_real.read(ld_own(LD_OWN_CATCH_R), &c, sizeof(c)) != sizeof(c))
			return;
		on_signal(&c);
	}
}

/* A signal a worker wrote into the tree (see forward() in sigtable.c). */
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


/* ---- what the health port answers ---- */

static void
status(struct ld_health_status *st, int for_metrics)
{
	st->lc = &owner.lc;
	st->listeners = owner.listeners;
	st->connections = owner.connections;
	st->in_flight = owner.in_flight;
	st->counted = 1;
	st->accepted = ld_tree_accepted();
	st->retired_header = ld_tree_retired(LD_RETIRED_HEADER);
	st->retired_goaway = ld_tree_retired(LD_RETIRED_GOAWAY);
	st->retired_idle = ld_tree_retired(LD_RETIRED_IDLE);
	if (for_metrics && owner.lc.state != LD_ST_STARTING) {
		struct ld_listeners l;
		struct ld_tree_sum ts;

		/* The whole tree's, as readiness counts them. */
		ld_scan_listeners(ld_cfg.ports, ld_cfg.nports, -1, &l);
		ld_tree_sum(&ts);
		st->listeners = l.count + ts.listeners;
		if (owner.lc.state != LD_ST_DRAINING) {
			long conns;

			(void)ld_drain_in_flight(&conns, ld_conn_h2_busy);
			st->connections = conns + ts.conns;
		}
	}
}

/* ---- the thread ---- */

static int
next_timeout(long long now)
{
	long long t = ld_lc_timeout(&owner.lc, now), h = ld_health_timeout(now);

	if (h >= 0 && (t < 0 || h < t))
		t = h;
	if (owner.lc.state == LD_ST_STARTING && ld_cfg.ready == LD_READY_LISTEN) {
		long long s = owner.next_scan > now ? owner.next_scan - now : 0;

		if (t < 0 || s < t)
			t = s;
	}
	if (owner.lc.state == LD_ST_DRAINING || owner.awaiting) {
		long long s = owner.next_drain_check > now ? owner.next_drain_check - now : 0;

		if (t < 0 || s < t)
			t = s;
	}
	return t > INT_MAX ? INT_MAX : (int)t;
}

static void *
owner_main(void *arg)
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

				(void)!ld_real.read(ld_own(LD_OWN_EVENT), &v, sizeof(v));
				owner.next_scan = now;
				take_forwarded();
			} else if (tag == TAG_HEALTH)
				ld_health_accept(now);
			else if (tag == TAG_CLAIM)
				ld_tree_serve(ld_own(LD_OWN_CLAIM));
			else if (tag >= LD_TAG_CLIENT)
				ld_health_event((int)(tag - LD_TAG_CLIENT), ev[i].events, now);
		}
		ld_health_handover();
		if (owner.lc.state == LD_ST_STARTING && ld_cfg.ready == LD_READY_LISTEN &&
		    now >= owner.next_scan)
			scan(now);
		if ((owner.lc.state == LD_ST_DRAINING || owner.awaiting) && now >= owner.next_drain_check) {
			owner.in_flight = in_flight_all(now);
			owner.next_drain_check = now + LD_DRAIN_CHECK_MS;
		}
		act(ld_lc_tick(&owner.lc, now, owner.in_flight), now);
		if (owner.awaiting)
			await_members(now);
		ld_health_expire(now);
	}
	return NULL;
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

	return ld_real.epoll_ctl(ld_own(LD_OWN_EPOLL), EPOLL_CTL_ADD, ld_own(slot), &ev);
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
	/* Exec'd descendants ask for the tree on the claimed name (tree.c). */
	if (ld_own(LD_OWN_CLAIM) >= 0)
		(void)watch(LD_OWN_CLAIM, TAG_CLAIM);
	return watch(LD_OWN_EVENT, TAG_EVENT);
}

static void
open_health(void)
{
	int fd;

	if (!ld_cfg.health_off) {
		fd = ld_health_listen(&ld_cfg);
		if (fd == -1)
			ld_warn("health port %s: %s; /readyz will not answer, so this pod will "
			    "never become ready", ld_health_desc(), strerror(errno));
		else
			own_new(LD_OWN_HEALTH, fd);
	}
	ld_health_start(TAG_HEALTH, status);
}

void
ld_owner_close_fds(void)
{
	/* The eventfd stays: a forked worker wakes the owner through it. */
	static const enum ld_own owner_only[] = { LD_OWN_CLAIM, LD_OWN_EPOLL, LD_OWN_SIGFD,
		LD_OWN_CATCH_R, LD_OWN_CATCH_W, LD_OWN_PROCFD };

	ld_health_close_all();
	for (size_t i = 0; i < sizeof(owner_only) / sizeof(owner_only[0]); i++)
		ld_own_close(owner_only[i]);
}

int
ld_owner_start(void)
{
	if (open_fds() == -1) {
		ld_err("cannot start (%s); lameduck is off for this process", strerror(errno));
		return -1;
	}
	open_health();
	ld_lc_init(&owner.lc, &ld_cfg, ld_now_ms());
	if (ld_cfg.ready == LD_READY_START)
		ld_lc_ready(&owner.lc, ld_now_ms());
	return 0;
}

void
ld_owner_log_config(void)
{
	char d[32], t[32], s[LD_SHOW_MAX];

	ld_format_duration(ld_cfg.delay_ms, d, sizeof(d));
	ld_format_duration(ld_cfg.drain_timeout_ms, t, sizeof(t));
	(void)ld_format_signals(ld_cfg.signals, s, sizeof(s));
	ld_debug("lameduck %s: delay %s, drain timeout %s, signals %s, health %s, ready on %s",
	    LD_VERSION, d, t, s, ld_cfg.health_off ? "off" : ld_health_desc(),
	    ld_cfg.ready == LD_READY_START ? "start" : "listen");
}


int
ld_owner_run(void)
{
	return ld_thread_create(owner_main, 256 * 1024);
}
