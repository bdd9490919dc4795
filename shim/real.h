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
#include <sys/uio.h>

#define LD_EXPORT __attribute__((visibility("default")))

struct ld_real {
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
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
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	pid_t (*fork)(void);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
};

/* The real close and dup3 for the shim's own use (the wrappers would protect ours). */
int	ld_close(int fd);
int	ld_dup3(int oldfd, int newfd, int flags);
/* A detached thread running fn, with that stack size and every signal blocked (0 or an errno). */
int	ld_thread_create(void *(*fn)(void *), size_t stack);
/* fstat as the system call: glibc's fstat is fstat@GLIBC_2.33 (glibc-compat.h). */
struct stat;
int	ld_fstat(int fd, struct stat *st);

/* The monotonic clock in milliseconds. */
long long ld_now_ms(void);

extern struct ld_real ld_real __attribute__((visibility("hidden")));

/* Resolve every symbol; called first thing in the constructor. */
void	ld_real_init(void);

#endif
