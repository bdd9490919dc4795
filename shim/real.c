/*
 * Resolving the real libc functions. Everything is resolved once, from the
 * constructor: dlsym may allocate, and allocators call back into wrapped
 * functions during their own initialisation, so a lazy dlsym inside a wrapper
 * can recurse or deadlock. A wrapper that runs before this (another preloaded
 * library's constructor) must use the raw system call instead.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "real.h"

static int	ours(const void *);

/*
 * Until the constructor has resolved them (a wrapper called from another
 * preloaded library's constructor, which may run first), every pointer
 * leads to the system call itself, or, where libc does more than one
 * system call (fork, the PATH search of execvp/execvpe), to a resolution
 * of everything there and then: no allocator calls those while it
 * initialises, the recursion the header comment avoids. A name that does
 * not resolve keeps its fallback.
 */
extern char **environ;

#ifdef __GLIBC__
extern int __sigaction(int, const struct sigaction *, struct sigaction *);
#define raw_sigaction	__sigaction	/* libc's own alias: not interposed */
#else
/* musl keeps its __sigaction hidden; its dlsym neither allocates nor calls wrappers. */
static int
raw_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int (*f)(int, const struct sigaction *, struct sigaction *);

	f = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
	if (f == NULL || ours((void *)f)) {
		errno = ENOSYS;
		return -1;
	}
	return f(sig, act, old);
}
#endif

static int
raw_sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
	return (int)syscall(SYS_rt_sigtimedwait, set, info, ts, _NSIG / 8);
}

static int
raw_signalfd(int fd, const sigset_t *mask, int flags)
{
	return (int)syscall(SYS_signalfd4, fd, mask, _NSIG / 8, flags);
}

static int
raw_listen(int fd, int backlog)
{
	return (int)syscall(SYS_listen, fd, backlog);
}

static int
raw_bind(int fd, const struct sockaddr *a, socklen_t l)
{
	return (int)syscall(SYS_bind, fd, a, l);
}

static int
raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static int
raw_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static ssize_t
raw_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

static ssize_t
raw_write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, n);
}

static int
raw_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

static int
raw_accept(int fd, struct sockaddr *a, socklen_t *l)
{
	return (int)syscall(SYS_accept4, fd, a, l, 0);
}

static int
raw_accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	return (int)syscall(SYS_accept4, fd, a, l, flags);
}

static int
raw_dup(int fd)
{
	return (int)syscall(SYS_dup, fd);
}

static int
raw_dup3(int fd, int to, int flags)
{
	return (int)syscall(SYS_dup3, fd, to, flags);
}

static int
raw_dup2(int fd, int to)
{
	if (fd == to)	/* dup3 refuses it; dup2 checks fd and returns it */
		return syscall(SYS_fcntl, fd, F_GETFD) == -1 ? -1 : to;
	return raw_dup3(fd, to, 0);
}

static ssize_t
raw_readv(int fd, const struct iovec *iov, int n)
{
	return syscall(SYS_readv, fd, iov, n);
}

static ssize_t
raw_writev(int fd, const struct iovec *iov, int n)
{
	return syscall(SYS_writev, fd, iov, n);
}

static ssize_t
raw_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *l)
{
	return syscall(SYS_recvfrom, fd, buf, n, flags, a, l);
}

static ssize_t
raw_recv(int fd, void *buf, size_t n, int flags)
{
	return raw_recvfrom(fd, buf, n, flags, NULL, NULL);
}

static ssize_t
raw_recvmsg(int fd, struct msghdr *m, int flags)
{
	return syscall(SYS_recvmsg, fd, m, flags);
}

static ssize_t
raw_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a, socklen_t l)
{
	return syscall(SYS_sendto, fd, buf, n, flags, a, l);
}

static ssize_t
raw_send(int fd, const void *buf, size_t n, int flags)
{
	return raw_sendto(fd, buf, n, flags, NULL, 0);
}

static ssize_t
raw_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return syscall(SYS_sendmsg, fd, m, flags);
}

static ssize_t
raw_sendfile(int out, int in, off_t *off, size_t n)
{
	return syscall(SYS_sendfile, out, in, off, n);
}

static int
raw_execve(const char *path, char *const argv[], char *const envp[])
{
	return (int)syscall(SYS_execve, path, argv, envp);
}

static int
raw_execv(const char *path, char *const argv[])
{
	return raw_execve(path, argv, environ);
}

static int
raw_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

static int
raw_fexecve(int fd, char *const argv[], char *const envp[])
{
	return raw_execveat(fd, "", argv, envp, AT_EMPTY_PATH);
}

static pid_t	late_fork(void);
static int	late_execvp(const char *, char *const[]);
static int	late_execvpe(const char *, char *const[], char *const[]);

struct ld_real ld_real = {
	.sigaction = raw_sigaction,
	.sigtimedwait = raw_sigtimedwait,
	.signalfd = raw_signalfd,
	.listen = raw_listen,
	.bind = raw_bind,
	.close = raw_close,
	.fcntl = raw_fcntl,
	.read = raw_read,
	.write = raw_write,
	.epoll_ctl = raw_epoll_ctl,
	.accept = raw_accept,
	.accept4 = raw_accept4,
	.dup = raw_dup,
	.dup2 = raw_dup2,
	.dup3 = raw_dup3,
	.readv = raw_readv,
	.recv = raw_recv,
	.recvfrom = raw_recvfrom,
	.recvmsg = raw_recvmsg,
	.writev = raw_writev,
	.send = raw_send,
	.sendto = raw_sendto,
	.sendmsg = raw_sendmsg,
	.sendfile = raw_sendfile,
	.execve = raw_execve,
	.execv = raw_execv,
	.execveat = raw_execveat,
	.fexecve = raw_fexecve,
	.fork = late_fork,
	.execvp = late_execvp,
	.execvpe = late_execvpe,
};

static pid_t
late_fork(void)
{
	ld_real_init();
	if (ld_real.fork == late_fork) {
		errno = ENOSYS;
		return -1;
	}
	return ld_real.fork();
}

static int
late_execvp(const char *file, char *const argv[])
{
	ld_real_init();
	if (ld_real.execvp == late_execvp) {
		errno = ENOSYS;
		return -1;
	}
	return ld_real.execvp(file, argv);
}

static int
late_execvpe(const char *file, char *const argv[], char *const envp[])
{
	ld_real_init();
	if (ld_real.execvpe == late_execvpe) {
		errno = ENOSYS;
		return -1;
	}
	return ld_real.execvpe(file, argv, envp);
}

/*
 * glibc before 2.34 keeps dlsym in libdl.so.2 and pthread_create in
 * libpthread.so.0, which a program need not load, and the shim NEEDs
 * libc.so.6 alone (it goes into images we do not build). So these are weak
 * references: libc.so.6 defines them on glibc 2.34 and later, and on musl;
 * on an older glibc they are there if the program loaded those libraries,
 * and otherwise the shim loads them itself with the loader entry points
 * that glibc up to 2.33 exports from libc.so.6 for its own use
 * (__libc_dlopen_mode, __libc_dlsym; never called on a newer glibc).
 */
#ifdef __GLIBC__
#pragma weak dlsym
#pragma weak dladdr
#pragma weak pthread_create
#pragma weak pthread_attr_setstacksize
extern void	*__libc_dlopen_mode(const char *, int) __attribute__((weak));
extern void	*__libc_dlsym(void *, const char *) __attribute__((weak));

static void *
old_glibc_lib(const char *soname, const char *name)
{
	void *h;

	if (__libc_dlopen_mode == NULL || __libc_dlsym == NULL)
		return NULL;
	h = __libc_dlopen_mode(soname, RTLD_NOW | RTLD_GLOBAL);
	return h != NULL ? __libc_dlsym(h, name) : NULL;
}
#define FIND(f, soname)	((f) != NULL ? (__typeof__(&f))(f) : (__typeof__(&f))old_glibc_lib(soname, #f))
#else
#define FIND(f, soname)	(&f)
#endif

static void *(*dlsym_fn)(void *, const char *);
static int (*dladdr_fn)(const void *, Dl_info *);
static int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static int (*stacksize_fn)(pthread_attr_t *, size_t);

static void
say(const char *what, const char *name)
{
	static const char pre[] = "lameduck: ";

	(void)!raw_write(2, pre, sizeof(pre) - 1);
	(void)!raw_write(2, what, strlen(what));
	(void)!raw_write(2, name, strlen(name));
	(void)!raw_write(2, "\n", 1);
}

/*
 * Is p inside this shared object? dladdr names the object that holds an
 * address; comparing with a function of ours needs no wrapper's address.
 */
static int
ours(const void *p)
{
	Dl_info a, b;

	if (dladdr_fn == NULL)
		dladdr_fn = FIND(dladdr, "libdl.so.2");
	return dladdr_fn != NULL && dladdr_fn(p, &a) != 0 &&
	    dladdr_fn((const void *)ours, &b) != 0 && a.dli_fbase == b.dli_fbase;
}

static void *
resolve(const char *name, int required)
{
	void *p = dlsym_fn != NULL ? dlsym_fn(RTLD_NEXT, name) : NULL;

	if (p != NULL && ours(p)) {
		say("dlsym(RTLD_NEXT) returned the shim's own wrapper; giving up: ", name);
		_exit(127);
	}
	if (p == NULL && required)
		say("a libc function could not be resolved: ", name);
	return p;
}

/* Resolved, or (not found: said once) the fallback above, if any. */
#define R(f)	do {							\
		void *p_ = resolve(#f, 1);				\
		if (p_ != NULL)						\
			ld_real.f = (__typeof__(ld_real.f))p_;		\
	} while (0)
#define O(f)	do {							\
		void *p_ = resolve(#f, 0);				\
		if (p_ != NULL)						\
			ld_real.f = (__typeof__(ld_real.f))p_;		\
	} while (0)

void
ld_real_init(void)
{
	dlsym_fn = FIND(dlsym, "libdl.so.2");
	if (dlsym_fn == NULL) {
		/* Without it no wrapper can reach libc: stop here, loudly, not at the first accept(). */
		say("cannot find dlsym (a glibc before 2.34 without libdl.so.2?); the program cannot"
		    " run with this shim: ", "exit 127");
		_exit(127);
	}
	create_fn = FIND(pthread_create, "libpthread.so.0");
	stacksize_fn = FIND(pthread_attr_setstacksize, "libpthread.so.0");
	R(sigaction);
	R(sigtimedwait);
	R(signalfd);
	R(execve);
	O(execveat);
	R(fexecve);
	R(execv);
	R(execvp);
	R(execvpe);
	R(listen);
	R(bind);
	R(accept);
	R(accept4);
	R(close);
	R(dup);
	R(dup2);
	R(dup3);
	R(fcntl);
	R(read);
	R(readv);
	R(recv);
	R(recvfrom);
	R(recvmsg);
	R(write);
	R(writev);
	R(send);
	R(sendto);
	R(sendmsg);
	R(sendfile);
	R(fork);
	R(epoll_ctl);
}

int
ld_thread_create(void *(*fn)(void *), size_t stack)
{
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int r;

	if (create_fn == NULL)
		return ENOSYS;
	pthread_attr_init(&attr);
	if (stacksize_fn != NULL)
		(void)stacksize_fn(&attr, stack);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/*
	 * Born with every signal blocked: it must never take one meant for the
	 * program. (sigprocmask is pthread_sigmask on Linux, and in libc.so.6
	 * on every glibc.)
	 */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	r = create_fn(&th, &attr, fn, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return r;
}

long long
ld_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ld_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

int
ld_dup3(int oldfd, int newfd, int flags)
{
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

/*
 * On 64-bit Linux the kernel's struct stat is glibc's (and musl's). Where
 * the kernel has no fstat (loongarch64: statx only), libc's.
 */
int
ld_fstat(int fd, struct stat *st)
{
#ifdef SYS_fstat
	return (int)syscall(SYS_fstat, fd, st);
#else
	return fstat(fd, st);
#endif
}
