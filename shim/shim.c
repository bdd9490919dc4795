/*
 * Start-up and roles: the constructor decides whether this process acts.
 *
 * Which process acts: one per network namespace and health address. The
 * owner binds an abstract AF_UNIX name made of the health address (abstract
 * names belong to the network namespace, like the pod), close-on-exec: a
 * process that finds the name taken (a helper the server runs, a kubectl
 * exec session with the same environment) stays passive, or becomes a
 * member when it is in the owner's tree (tree.c); an owner that execs
 * releases the name and its new image takes it again. The owner listens on
 * the name and hands its tree to exec'd descendants that connect. The
 * owner's thread is owner.c; a member's thread is here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
#include "real.h"
#include "shim.h"
#include "sigtable.h"
#include "tree.h"

static struct {
	_Atomic int	member_thread;	/* a member's thread is running */
} shim;

static int
claim(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = ld_tree_addr(name, &sun);
	int fd;

	/* A stream socket: exec'd descendants connect to it for the tree (tree.c). */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -2;	/* cannot tell: act, rather than leave the server bare */
	if (ld_real.bind(fd, (struct sockaddr *)&sun, len) == -1) {
		int saved = errno;

		ld_close(fd);
		return saved == EADDRINUSE ? -1 : -2;
	}
	(void)ld_real.listen(fd, 64);
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
			atomic_store(&shim.member_thread, 0);
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
			struct ld_listeners l;

			ld_drain_begin(ld_cfg.ports, ld_cfg.nports, -1, LD_DRAIN_MEMBER, &st);
			acted = stop;
			/* Stopped: what the owner's /metrics adds up no longer counts them. */
			ld_scan_listeners(ld_cfg.ports, ld_cfg.nports, -1, &l);
			atomic_store(&me->listeners, l.count);
		}
		if (acted && !ended) {
			long conns, n = ld_drain_in_flight(&conns, ld_conn_h2_busy);

			atomic_store(&me->in_flight, (int)n);
			atomic_store(&me->conns, (int)conns);
			atomic_store(&me->stopped, acted);
		}
		if (ld_cfg.retire && (state == LD_ST_LAMEDUCK || state == LD_ST_DRAINING) &&
		    !ld_conn_retiring())
			ld_retire_begin();
		if (state == LD_ST_DELIVERED && !ended) {
			if (ld_cfg.retire)
				(void)ld_conn_close_idle();
			ld_drain_end();
			ended = 1;
		}
		/*
		 * Looks every drain tick while draining, every scan tick while
		 * the tree starts; otherwise sleeps until the tree changes (the
		 * owner wakes every member at each change).
		 */
		ld_tree_wait(seq, acted && !ended ? LD_DRAIN_CHECK_MS :
		    (!acted && state == LD_ST_STARTING ? LD_SCAN_MS : -1));
	}
	return NULL;
}

/*
 * Called on a thread of the program (its listen() or accept(), or the
 * constructor): the thread's scans need /proc's directory, opened here
 * rather than on our thread while the program may be opening files.
 */
static void
start_member_thread(void)
{
	if (ld_tree == NULL || atomic_exchange(&shim.member_thread, 1))
		return;
	(void)ld_procfs_open();
	if (ld_thread_create(member_main, 256 * 1024) != 0)
		atomic_store(&shim.member_thread, 0);
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
		ld_own_close(LD_OWN_TREE);	/* the mapping is inherited: enough */
		atomic_store(&shim.member_thread, 0);
		if (role == LD_ROLE_OWNER)
			ld_owner_close_fds();
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
		ld_format_sockaddr((struct sockaddr *)&ld_cfg.health_addr, desc, sizeof(desc));
		snprintf(name, len, "lameduck/%s", desc);
	}
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
	if (ld_owner_start() == -1)
		return;
	atomic_store(&ld_tree->owner, getpid());
	atomic_store(&ld_role, LD_ROLE_OWNER);
	ld_owner_publish();
	(void)ld_procfs_open();		/* on the program's thread, in its listen() */
	if (ld_owner_run() != 0) {
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
		ld_own_wake();
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


/*
 * An exec'd member holds no descriptor of ours until it needs one: the log's
 * at its first line, /proc's at its first scan (a helper it runs with
 * close_fds and pass_fds must see only what it passed).
 */
static void
member_init(void)
{
	ld_log_open(ld_cfg.log_level, ld_cfg.log_format, 1);
	ld_mark_inherited(ld_cfg.ports, ld_cfg.nports, 0);
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
start(void)
{
	char err[256], name[128];
	int bad, fd;

	ld_real_init();
	bad = ld_config_load(&ld_cfg, env_get, NULL, err, sizeof(err));
	claim_name(bad, name, sizeof(name));
	fd = claim(name);
	if (fd == -1) {
		/* Another process acts for this pod: are we in its tree? */
		if (!bad && ld_tree_attach(name) == 0)
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
	ld_log_open(ld_cfg.log_level, ld_cfg.log_format, 0);
	if (ld_owner_start() == -1)
		return;
	/* The owner's thread scans from its start: its directory is open before the program runs. */
	ld_mark_inherited(ld_cfg.ports, ld_cfg.nports, 1);
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
	if (ld_owner_run() != 0) {
		atomic_store(&ld_role, LD_ROLE_NONE);
		ld_sig_release();
		ld_err("cannot start its thread; lameduck is off for this process");
		return;
	}
	ld_owner_log_config();
}

