/*
 * Signal interposition: what the program calls to set, query and wait for
 * signals. Each wrapper is thin; the program's actions for the lame-duck
 * signals live in the signal table (sigtable.c), whose comment says why the
 * shim takes those signals with a handler of its own.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>

#include "config.h"
#include "real.h"
#include "sigtable.h"

LD_EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return ld_sig_action(sig, act, old);
}

/* signal() and its relatives: an action built as glibc builds it. */
static sighandler_t
install(int sig, sighandler_t handler, int flags, int mask_self)
{
	struct sigaction act, old;

	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	if (mask_self)
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = flags;
	if (ld_sig_action(sig, &act, &old) == -1)
		return SIG_ERR;
	return old.sa_handler;
}

/* glibc's signal(): BSD semantics, SA_RESTART unless siginterrupt said otherwise. */
static sighandler_t
bsd_install(int sig, sighandler_t handler)
{
#ifdef __GLIBC__
	return install(sig, handler, ld_sig_interrupts(sig) ? 0 : SA_RESTART, 1);
#else
	/* musl's signal() (bsd_signal and __sysv_signal are its aliases): SA_RESTART, no mask. */
	return install(sig, handler, SA_RESTART, 0);
#endif
}

LD_EXPORT sighandler_t
signal(int sig, sighandler_t handler)
{
	return bsd_install(sig, handler);
}

sighandler_t bsd_signal(int, sighandler_t);
LD_EXPORT sighandler_t
bsd_signal(int sig, sighandler_t handler)
{
	return bsd_install(sig, handler);
}

/* glibc only: musl has no ssignal nor sysv_signal, and its __sysv_signal is signal(). */
#ifdef __GLIBC__
LD_EXPORT sighandler_t
ssignal(int sig, sighandler_t handler)
{
	return bsd_install(sig, handler);
}

/* System V semantics: reset to SIG_DFL on delivery, no masking, no restart. */
static sighandler_t
sysv_install(int sig, sighandler_t handler)
{
	return install(sig, handler, SA_RESETHAND | SA_NODEFER, 0);
}

LD_EXPORT sighandler_t
sysv_signal(int sig, sighandler_t handler)
{
	return sysv_install(sig, handler);
}

LD_EXPORT sighandler_t
__sysv_signal(int sig, sighandler_t handler)
{
	return sysv_install(sig, handler);
}
#else
sighandler_t __sysv_signal(int, sighandler_t);
LD_EXPORT sighandler_t
__sysv_signal(int sig, sighandler_t handler)
{
	return bsd_install(sig, handler);
}
#endif

LD_EXPORT sighandler_t
sigset(int sig, sighandler_t disp)
{
	struct sigaction act, old;
	sigset_t set, oset;

	sigemptyset(&set);
	if (sigaddset(&set, sig) == -1)
		return SIG_ERR;
	if (disp == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &set, &oset) == -1)
			return SIG_ERR;
		if (sigismember(&oset, sig))
			return SIG_HOLD;
		if (ld_sig_action(sig, NULL, &old) == -1)
			return SIG_ERR;
		return old.sa_handler;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = disp;
	sigemptyset(&act.sa_mask);
	if (ld_sig_action(sig, &act, &old) == -1)
		return SIG_ERR;
	if (sigprocmask(SIG_UNBLOCK, &set, &oset) == -1)
		return SIG_ERR;
	return sigismember(&oset, sig) ? SIG_HOLD : old.sa_handler;
}

LD_EXPORT int
sigignore(int sig)
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_handler = SIG_IGN;
	sigemptyset(&act.sa_mask);
	return ld_sig_action(sig, &act, NULL);
}

LD_EXPORT int
siginterrupt(int sig, int interrupt)
{
	struct sigaction act;

	if (sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return -1;
	}
	if (ld_sig_action(sig, NULL, &act) == -1)
		return -1;
	ld_sig_set_interrupts(sig, interrupt);
	if (interrupt)
		act.sa_flags &= ~SA_RESTART;
	else
		act.sa_flags |= SA_RESTART;
	return ld_sig_action(sig, &act, NULL);
}


LD_EXPORT int
sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
	return ld_sig_timedwait(set, info, timeout);
}

LD_EXPORT int
sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	return ld_sig_timedwait(set, info, NULL);
}

LD_EXPORT int
sigwait(const sigset_t *set, int *sig)
{
	siginfo_t info;
	int r;

	/* sigwait never fails with EINTR. */
	do
		r = ld_sig_timedwait(set, &info, NULL);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return errno;
	*sig = r;
	return 0;
}





LD_EXPORT int
signalfd(int fd, const sigset_t *mask, int flags)
{
	return ld_sig_signalfd(fd, mask, flags);
}
