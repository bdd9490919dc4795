/* The real libc functions behind every wrapper, resolved once. */
#ifndef LD_REAL_H
#define LD_REAL_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

#define LD_EXPORT __attribute__((visibility("default")))

struct ld_real {
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	int (*sigwaitinfo)(const sigset_t *, siginfo_t *);
	int (*sigtimedwait)(const sigset_t *, siginfo_t *, const struct timespec *);
	int (*signalfd)(int, const sigset_t *, int);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execv)(const char *, char *const[]);
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*listen)(int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
};

extern struct ld_real ld_real;

/* Resolve every symbol; called first thing in the constructor. */
void	ld_real_init(void);

#endif
