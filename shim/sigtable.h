/* The signal table: the lame-duck signals belong to the shim until delivery. */
#ifndef LD_SIGTABLE_H
#define LD_SIGTABLE_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* What the catching handler records; written whole to a pipe (atomic). */
struct ld_caught {
	int32_t	signo;
	int32_t	code;
	int32_t	pid;
	uint32_t uid;
	int32_t	value;	/* si_value of an SI_QUEUE signal (LD_SIG_FORWARDED, ...) */
};

/*
 * Take the lame-duck signals: remember the inherited dispositions as the
 * program's and install the catching handler, which writes each signal to
 * the LD_OWN_CATCH_W pipe. Returns 0, or -1 with errno.
 */
int	ld_sig_take(uint64_t signals);
/* Hand every lame-duck signal back: the program's actions go into the kernel. */
void	ld_sig_release(void);
/* The program's current disposition of sig (SIG_DFL, SIG_IGN or a handler). */
void	(*ld_sig_disposition(int sig))(int);
/* The program waits for sig with sigwait*, or a signalfd. */
int	ld_sig_waited(int sig);
/* Queue sig to the process as if `from` had just sent it. */
int	ld_sig_queue(int sig, const struct ld_caught *from);
/* Around fork(): the table's flags and the kernel's actions stay consistent. */
void	ld_sig_before_fork(void);
void	ld_sig_after_fork(void);
/* A tracked signalfd's number is closed or reused by the program. */
void	ld_sig_untrack_signalfd(int fd);
/* In a forked child that stays passive: give the program its actions back. */
void	ld_sig_forget(void);
/* Before exec: make the kernel's dispositions the program's (SIG_IGN survives exec). */
void	ld_sig_before_exec(void);
void	ld_sig_after_failed_exec(void);


/* What the interposed functions do (signals.c): sigaction on the table. */
int	ld_sig_action(int sig, const struct sigaction *act, struct sigaction *old);
/* siginterrupt(sig, 1) was called (glibc's signal() then leaves SA_RESTART out). */
int	ld_sig_interrupts(int sig);
void	ld_sig_set_interrupts(int sig, int on);
/* sigtimedwait without the lame-duck signals until their release. */
int	ld_sig_timedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout);
/* signalfd without the lame-duck signals until their release (tracked for re-arming). */
int	ld_sig_signalfd(int fd, const sigset_t *mask, int flags);

#endif
