/*
 * The signal table: the program's actions for the lame-duck signals, and
 * the handler that takes those signals first.
 *
 * How the shim takes a lame-duck signal first: with a handler of its own,
 * installed in the kernel from the constructor, while the program's own
 * action is kept in a table and shown to it by every query. The alternative,
 * keeping the signals blocked in every program thread and reading them on
 * the shim's thread, hides them from the program completely, but then the
 * real masks differ from what the program set: every child it forks or
 * spawns (posix_spawn, system, popen, all inside libc where no wrapper sees
 * them) would inherit the signal blocked, and at delivery the handler would
 * have to be pushed onto the right thread with a wake-up signal of our own.
 * A handler leaves every mask exactly as the program set it, so at delivery
 * the kernel itself picks the thread the program expects (nginx's master in
 * sigsuspend) and applies the program's flags and sa_mask. Its cost is one
 * interrupted system call on the thread that takes the first signal
 * (EINTR from poll, epoll_wait, sigsuspend, nanosleep), as with any signal
 * that has a handler; the README says so.
 *
 * Programs that block the signal in every thread and read it with sigwait*
 * or a signalfd never run a handler: those calls wait without the lame-duck
 * signals until delivery, so the signal stays pending for the shim's own
 * signalfd, and get it afterwards.
 *
 * Everything here may run in a program's signal handler: no malloc, no
 * mutex. Each signal's entry is guarded by a spin flag taken with every
 * signal blocked on the calling thread, so a handler cannot interrupt its
 * own thread while it holds the flag.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>

#include "config.h"
#include "fdtab.h"
#include "real.h"
#include "lifecycle.h"
#include "sigtable.h"
#include "tree.h"

#define LD_MAX_SIGFD	16
#define LD_WAIT_SLICE_NS (50 * 1000 * 1000L)
/* The flags the kernel keeps (it clears unknown ones, such as SA_INTERRUPT). */
#define LD_SA_KEPT	(SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK | \
			 SA_RESTART | SA_NODEFER | SA_RESETHAND | SA_RESTORER)

#ifndef SA_RESTORER
#define SA_RESTORER	0x04000000	/* what glibc adds to every action it installs */
#endif


static struct {
	uint64_t	owned;		/* the lame-duck signals, set before taken */
	_Atomic int	taken;		/* between ld_sig_take and the release */
	_Atomic uint64_t passed;	/* a member handed these back to the program */
	void		(*restorer)(void);
	struct sigaction prog[LD_NSIG];	/* the program's actions, while taken */
	atomic_flag	lock[LD_NSIG];
	_Atomic uint64_t intr;		/* siginterrupt(sig, 1) */
	_Atomic uint64_t waited;	/* sigwait* or signalfd wait for these */
	atomic_flag	sigfd_lock;
	struct {
		_Atomic int	fd;
		sigset_t	mask;
	} sigfd[LD_MAX_SIGFD];
	_Atomic pid_t	self;		/* the process this table belongs to */
	_Atomic int	forking;	/* between our prepare and parent/child handlers */
} sigs;

/*
 * Are we in a child that the fork handlers never saw? One made with vfork
 * or clone(CLONE_VM) shares this memory with its parent, and one made with
 * _Fork has a stale copy: in either, the table is not the child's to use.
 */
static int
elsewhere(void)
{
	pid_t self = atomic_load(&sigs.self);

	return self != 0 && (pid_t)syscall(SYS_getpid) != self;
}

static uint64_t
bit(int sig)
{
	return 1ULL << (sig - 1);
}

static int
owned(int sig)
{
	return atomic_load(&sigs.taken) && ld_sigset_has(sigs.owned, sig) &&
	    !(atomic_load(&sigs.passed) & bit(sig));
}

static uint64_t
owned_in(const sigset_t *set)
{
	uint64_t b = 0;

	for (int sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(sigs.owned, sig) && sigismember(set, sig) == 1)
			b |= bit(sig);
	return b;
}

static void
without_owned(sigset_t *set)
{
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(sigs.owned, sig))
			sigdelset(set, sig);
}

static void
lock_sig(int sig, sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, saved, _NSIG / 8);
	while (atomic_flag_test_and_set_explicit(&sigs.lock[sig], memory_order_acquire))
		sched_yield();
}

static void
unlock_sig(int sig, const sigset_t *saved)
{
	atomic_flag_clear_explicit(&sigs.lock[sig], memory_order_release);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, saved, NULL, _NSIG / 8);
}

/* Every lame-duck signal's flag, in order, with one mask saved. */
static void
lock_all(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, saved, _NSIG / 8);
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(sigs.owned, sig))
			while (atomic_flag_test_and_set_explicit(&sigs.lock[sig], memory_order_acquire))
				sched_yield();
}

static void
unlock_all(const sigset_t *saved)
{
	for (int sig = LD_NSIG - 1; sig > 0; sig--)
		if (ld_sigset_has(sigs.owned, sig))
			atomic_flag_clear_explicit(&sigs.lock[sig], memory_order_release);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, saved, NULL, _NSIG / 8);
}

/*
 * fork() copies the flags and the kernel's actions: taken around it, no
 * child starts with a flag held by a thread it does not have, nor with the
 * kernel's actions halfway through a release. glibc runs these handlers
 * one fork at a time.
 */
static sigset_t fork_saved;

void
ld_sig_before_fork(void)
{
	lock_all(&fork_saved);
	while (atomic_flag_test_and_set_explicit(&sigs.sigfd_lock, memory_order_acquire))
		sched_yield();
	atomic_store(&sigs.forking, 1);
}

void
ld_sig_after_fork(void)
{
	atomic_store(&sigs.self, (pid_t)syscall(SYS_getpid));
	atomic_store(&sigs.forking, 0);
	atomic_flag_clear_explicit(&sigs.sigfd_lock, memory_order_release);
	unlock_all(&fork_saved);
}

/* Keep the action as the kernel would, so that queries read it back alike. */
static void
store(int sig, const struct sigaction *act)
{
	struct sigaction *p = &sigs.prog[sig];

	*p = *act;
	p->sa_flags = (p->sa_flags & LD_SA_KEPT) | SA_RESTORER;
	p->sa_restorer = sigs.restorer;
	sigdelset(&p->sa_mask, SIGKILL);
	sigdelset(&p->sa_mask, SIGSTOP);
}

static int
queue_to(pid_t pid, int sig, const struct ld_caught *c, int value)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = c->pid;
	si.si_uid = c->uid;
	si.si_value.sival_int = value;
	return (int)syscall(SYS_rt_sigqueueinfo, pid, sig, &si);
}

/*
 * In a member: give sig back to the program for good and queue it again;
 * it is blocked while this handler runs, and delivered once it returns.
 */
static void
pass_now(int sig, const struct ld_caught *c)
{
	sigset_t saved;

	lock_sig(sig, &saved);
	atomic_fetch_or(&sigs.passed, bit(sig));
	(void)ld_real.sigaction(sig, &sigs.prog[sig], NULL);
	unlock_sig(sig, &saved);
	(void)queue_to(getpid(), sig, c, c->code == SI_QUEUE ? c->value : 0);
}

/*
 * Pass an outside signal to the owner. A forked worker still holds the
 * owner's eventfd and writes the signal into the shared tree: workers often
 * run as another user (nginx's), who may not signal the owner. An exec'd
 * member queues it.
 */
static int
forward(int owner, int sig, const struct ld_caught *c)
{
	uint64_t one = 1;
	int ev = ld_own(LD_OWN_EVENT), zero = 0;

	if (ev >= 0) {
		/* The copies of one group kill: the first one is enough. */
		if (atomic_compare_exchange_strong(&ld_tree->fwd_pending, &zero, 1)) {
			atomic_store(&ld_tree->fwd_sig, sig);
			atomic_store(&ld_tree->fwd_pid, c->pid);
			atomic_store(&ld_tree->fwd_uid, c->uid);
			atomic_store(&ld_tree->fwd_pending, 2);
		}
		return syscall(SYS_write, ev, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
	}
	return queue_to(owner, sig, c, LD_SIG_FORWARDED);
}

/* A member decides at once, in the handler: there may be no thread of ours. */
static void
member_signal(int sig, const struct ld_caught *c)
{
	int owner = ld_tree ? atomic_load(&ld_tree->owner) : 0;

	/*
	 * From outside the tree (a process-group or control-group kill) to a
	 * process that serves: it joins the owner's lifecycle. From inside
	 * (the master stopping its workers, the owner handing the signal on)
	 * or to a helper: it passes at once.
	 */
	if (owner > 0 && owner != getpid() && ld_holds_listeners && ld_fd_any(LD_FD_LISTEN) &&
	    atomic_load(&ld_tree->state) != LD_ST_DELIVERED &&
	    (syscall(SYS_kill, owner, 0) == 0 || errno == EPERM) &&
	    !(c->code == SI_QUEUE && c->value == LD_SIG_FROM_OWNER) &&
	    c->pid != getpid() && c->pid != getppid() && !ld_tree_inside(c->pid) &&
	    forward(owner, sig, c) == 0)
		return;
	pass_now(sig, c);
}

static void
catch_signal(int sig, siginfo_t *si, void *uc)
{
	struct ld_caught c = { sig, si->si_code, si->si_pid, si->si_uid,
		si->si_code == SI_QUEUE ? si->si_value.sival_int : 0 };
	int saved = errno;

	(void)uc;
	if (elsewhere()) {
		/*
		 * A child the fork handlers never saw is in no lifecycle:
		 * the program's action, now, in this process alone (the
		 * kernel's actions are its own even when memory is shared).
		 */
		(void)ld_real.sigaction(sig, &sigs.prog[sig], NULL);
		(void)queue_to((pid_t)syscall(SYS_getpid), sig, &c,
		    c.code == SI_QUEUE ? c.value : 0);
	} else if (atomic_load(&ld_role) == LD_ROLE_OWNER)
		/* The pipe is non-blocking; a full pipe already holds enough signals. */
		(void)!syscall(SYS_write, ld_own(LD_OWN_CATCH_W), &c, sizeof(c));
	else
		member_signal(sig, &c);
	errno = saved;
}

/* Is k the kernel's action the shim installs? */
static int
is_ours(const struct sigaction *k)
{
	return (k->sa_flags & SA_SIGINFO) && k->sa_sigaction == catch_signal;
}

int
ld_sig_take(uint64_t signals)
{
	struct sigaction ours, cur;

	atomic_store(&sigs.self, (pid_t)syscall(SYS_getpid));
	for (int i = 0; i < LD_MAX_SIGFD; i++)
		atomic_store(&sigs.sigfd[i].fd, -1);
	sigs.owned = signals;
	memset(&ours, 0, sizeof(ours));
	ours.sa_sigaction = catch_signal;
	ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&ours.sa_mask);
	for (int sig = 1; sig < LD_NSIG; sig++) {
		if (!ld_sigset_has(signals, sig))
			continue;
		if (ld_real.sigaction(sig, &ours, &cur) == -1)
			return -1;
		/* What the process inherited: SIG_DFL, or SIG_IGN (trap '' TERM; exec). */
		sigs.prog[sig] = cur;
		if (sigs.restorer == NULL) {
			struct sigaction q;

#ifndef __GLIBC__
			memset(&q, 0, sizeof(q));	/* musl's query leaves sa_restorer alone */
#endif
			if (ld_real.sigaction(sig, NULL, &q) == 0)
				sigs.restorer = q.sa_restorer;
		}
	}
	atomic_store(&sigs.taken, 1);
	return 0;
}

/* The signalfd table's masks are written by program threads: one flag guards them. */
static void
sigfd_lock(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, saved, _NSIG / 8);
	while (atomic_flag_test_and_set_explicit(&sigs.sigfd_lock, memory_order_acquire))
		sched_yield();
}

static void
sigfd_unlock(const sigset_t *saved)
{
	atomic_flag_clear_explicit(&sigs.sigfd_lock, memory_order_release);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, saved, NULL, _NSIG / 8);
}

static void
rearm_signalfds(void)
{
	sigset_t saved;

	sigfd_lock(&saved);
	for (int i = 0; i < LD_MAX_SIGFD; i++) {
		int fd = atomic_load(&sigs.sigfd[i].fd);

		if (fd >= 0)
			(void)ld_real.signalfd(fd, &sigs.sigfd[i].mask, 0);
	}
	sigfd_unlock(&saved);
}

void
ld_sig_release(void)
{
	sigset_t saved;

	if (!atomic_load(&sigs.taken))
		return;
	/* All at once, so that no sigaction lands in the table after its release. */
	lock_all(&saved);
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(sigs.owned, sig))
			(void)ld_real.sigaction(sig, &sigs.prog[sig], NULL);
	atomic_store(&sigs.taken, 0);
	unlock_all(&saved);
	rearm_signalfds();
}

void
ld_sig_forget(void)
{
	/* A forked child, after ld_sig_after_fork(): no flag is held. */
	if (!atomic_load(&sigs.taken))
		return;
	for (int sig = 1; sig < LD_NSIG; sig++) {
		if (ld_sigset_has(sigs.owned, sig))
			(void)ld_real.sigaction(sig, &sigs.prog[sig], NULL);
	}
	atomic_store(&sigs.taken, 0);
	rearm_signalfds();
}

void
ld_sig_before_exec(void)
{
	sigset_t saved;

	if (elsewhere()) {
		/*
		 * A vfork/_Fork child: its kernel actions are its own. Only
		 * where ours is still there (it set nothing itself) does the
		 * program's SIG_IGN go back, for the new image to keep.
		 */
		for (int sig = 1; sig < LD_NSIG; sig++) {
			struct sigaction k;

			if (owned(sig) && sigs.prog[sig].sa_handler == SIG_IGN &&
			    ld_real.sigaction(sig, NULL, &k) == 0 && is_ours(&k))
				(void)ld_real.sigaction(sig, &sigs.prog[sig], NULL);
		}
		return;
	}
	/* The kernel resets handlers at exec but keeps SIG_IGN: ours would hide it. */
	lock_all(&saved);
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (owned(sig) && sigs.prog[sig].sa_handler == SIG_IGN)
			(void)ld_real.sigaction(sig, &sigs.prog[sig], NULL);
	unlock_all(&saved);
}

void
ld_sig_after_failed_exec(void)
{
	struct sigaction ours;

	if (elsewhere())
		return;		/* SIG_IGN is what the program set there, too */
	memset(&ours, 0, sizeof(ours));
	ours.sa_sigaction = catch_signal;
	ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&ours.sa_mask);
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (owned(sig) && sigs.prog[sig].sa_handler == SIG_IGN)
			(void)ld_real.sigaction(sig, &ours, NULL);
}

void
(*ld_sig_disposition(int sig))(int)
{
	struct sigaction q;

	if (owned(sig)) {
		void (*h)(int) = SIG_DFL;
		sigset_t saved;
		int mine;

		/* A program thread may be storing a new action right now. */
		lock_sig(sig, &saved);
		if ((mine = owned(sig)))
			h = sigs.prog[sig].sa_handler;
		unlock_sig(sig, &saved);
		if (mine)
			return h;
	}
	if (ld_real.sigaction(sig, NULL, &q) == -1)
		return SIG_DFL;
	return q.sa_handler;
}

int
ld_sig_waited(int sig)
{
	return (atomic_load(&sigs.waited) & bit(sig)) != 0;
}

int
ld_sig_queue(int sig, const struct ld_caught *from)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	/*
	 * The kernel takes a kill()'s own si_code (SI_USER) only from the main
	 * thread; from ours it must be SI_QUEUE. si_pid and si_uid stay the
	 * original sender's.
	 */
	si.si_code = SI_QUEUE;
	si.si_pid = from != NULL ? from->pid : getpid();
	si.si_uid = from != NULL ? from->uid : getuid();
	if (from != NULL && from->code == SI_QUEUE && from->value != LD_SIG_FORWARDED &&
	    from->value != LD_SIG_FROM_OWNER)
		si.si_value.sival_int = from->value;
	return (int)syscall(SYS_rt_sigqueueinfo, getpid(), sig, &si);
}

/*
 * sigaction in a child the fork handlers never saw (elsewhere): the action
 * goes to the kernel, which keeps the child's apart from its parent's, and
 * the table stays as it is; ours reads back as the program's.
 */
static int
child_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction k;

	if (ld_real.sigaction(sig, act, &k) == -1)
		return -1;
	if (old != NULL)
		*old = is_ours(&k) ? sigs.prog[sig] : k;
	return 0;
}

int
ld_sig_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	sigset_t saved;

	if (!owned(sig))
		return ld_real.sigaction(sig, act, old);
	if (elsewhere()) {
		if (atomic_load(&sigs.forking)) {
			/*
			 * A forked child, in a fork handler registered before
			 * ours: the table is its own copy, it has one thread,
			 * and the flags are held for it until our handler.
			 */
			if (old != NULL)
				*old = sigs.prog[sig];
			if (act != NULL)
				store(sig, act);
			return 0;
		}
		return child_sigaction(sig, act, old);
	}
	lock_sig(sig, &saved);
	if (!owned(sig)) {
		/* Released while we waited for the flag. */
		unlock_sig(sig, &saved);
		return ld_real.sigaction(sig, act, old);
	}
	if (old != NULL)
		*old = sigs.prog[sig];
	if (act != NULL)
		store(sig, act);
	unlock_sig(sig, &saved);
	return 0;
}

int
ld_sig_interrupts(int sig)
{
	return sig > 0 && sig < LD_NSIG && (atomic_load(&sigs.intr) & bit(sig));
}

void
ld_sig_set_interrupts(int sig, int on)
{
	if (sig <= 0 || sig >= LD_NSIG)
		return;
	if (on)
		atomic_fetch_or(&sigs.intr, bit(sig));
	else
		atomic_fetch_and(&sigs.intr, ~bit(sig));
}

/*
 * Wait without the lame-duck signals until they are released, in short
 * slices so that a release is noticed within one slice; then wait for the
 * whole set, which now finds the delivered signal pending.
 */
int
ld_sig_timedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
	struct timespec now, end, slice;
	uint64_t mine;

	if (set == NULL || !atomic_load(&sigs.taken) || (mine = owned_in(set)) == 0)
		return ld_real.sigtimedwait(set, info, timeout);
	atomic_fetch_or(&sigs.waited, mine);
	if (timeout != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += timeout->tv_sec;
		end.tv_nsec += timeout->tv_nsec;
		if (end.tv_nsec >= 1000000000L) {
			end.tv_sec++;
			end.tv_nsec -= 1000000000L;
		}
	}
	for (;;) {
		sigset_t rest = *set;
		long long left_ns = -1;
		int r;

		if (timeout != NULL) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left_ns = (end.tv_sec - now.tv_sec) * 1000000000LL +
			    (end.tv_nsec - now.tv_nsec);
			if (left_ns < 0)
				left_ns = 0;
		}
		if (!atomic_load(&sigs.taken)) {
			if (timeout == NULL)
				return ld_real.sigtimedwait(set, info, NULL);
			slice.tv_sec = left_ns / 1000000000LL;
			slice.tv_nsec = left_ns % 1000000000LL;
			return ld_real.sigtimedwait(set, info, &slice);
		}
		without_owned(&rest);
		if (left_ns < 0 || left_ns > LD_WAIT_SLICE_NS) {
			slice.tv_sec = 0;
			slice.tv_nsec = LD_WAIT_SLICE_NS;
		} else {
			slice.tv_sec = 0;
			slice.tv_nsec = left_ns;
		}
		r = ld_real.sigtimedwait(&rest, info, &slice);
		if (r >= 0 || errno != EAGAIN)
			return r;
		if (left_ns >= 0 && left_ns <= LD_WAIT_SLICE_NS) {
			errno = EAGAIN;
			return -1;
		}
	}
}

static void
track_signalfd(int fd, const sigset_t *mask)
{
	sigset_t saved;
	int slot = -1;

	sigfd_lock(&saved);
	for (int i = 0; i < LD_MAX_SIGFD; i++) {
		int cur = atomic_load(&sigs.sigfd[i].fd);

		if (cur == fd) {
			slot = i;
			break;
		}
		if (cur == -1 && slot == -1)
			slot = i;
	}
	if (slot != -1) {
		sigs.sigfd[slot].mask = *mask;
		atomic_store(&sigs.sigfd[slot].fd, fd);
		ld_fd_set(fd, LD_FD_SIGFD);
	}
	sigfd_unlock(&saved);
}

static int
sigfd_room(int fd)
{
	for (int i = 0; i < LD_MAX_SIGFD; i++) {
		int cur = atomic_load(&sigs.sigfd[i].fd);

		if (cur == -1 || cur == fd)
			return 1;
	}
	return 0;
}

void
ld_sig_untrack_signalfd(int fd)
{
	sigset_t saved;

	sigfd_lock(&saved);
	for (int i = 0; i < LD_MAX_SIGFD; i++)
		if (atomic_load(&sigs.sigfd[i].fd) == fd)
			atomic_store(&sigs.sigfd[i].fd, -1);
	sigfd_unlock(&saved);
}

int
ld_sig_signalfd(int fd, const sigset_t *mask, int flags)
{
	sigset_t rest;
	uint64_t mine;
	int r;

	/* Untracked (table full), it must keep its signals: it would never get them. */
	if (!atomic_load(&sigs.taken) || (mine = owned_in(mask)) == 0 || !sigfd_room(fd))
		return ld_real.signalfd(fd, mask, flags);
	rest = *mask;
	without_owned(&rest);
	r = ld_real.signalfd(fd, &rest, flags);
	if (r >= 0) {
		atomic_fetch_or(&sigs.waited, mine);
		track_signalfd(r, mask);
	}
	return r;
}
