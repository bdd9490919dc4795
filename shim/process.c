/*
 * fork and exec. A forked child of the owner stays passive: it gets the
 * program's signal actions back and drops the shim's descriptors (only
 * async-signal-safe calls: the parent may have had threads). Across exec the
 * kernel resets handlers but keeps SIG_IGN, so an ignored lame-duck signal is
 * put back in the kernel just before, or the new image would lose it.
 */
#include <alloca.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "real.h"
#include "sigtable.h"
#include "sockets.h"
#include "tree.h"

/*
 * A process that has accepted connections and forks hands one to the child
 * (busybox httpd, inetd-style servers): the child counts as a request in
 * flight until it ends.
 */
LD_EXPORT pid_t
fork(void)
{
	pid_t r = ld_real.fork();

	if (r > 0 && atomic_load(&ld_role) != LD_ROLE_NONE && ld_accepted_here())
		(void)ld_tree_join(r, LD_K_CONN_CHILD);
	return r;
}

#define EXEC_AROUND(call)			\
	do {					\
		int r_, saved_;			\
						\
		ld_sig_before_exec();		\
		r_ = (call);			\
		saved_ = errno;			\
		ld_sig_after_failed_exec();	\
		errno = saved_;			\
		return r_;			\
	} while (0)

/* The execl family comes here, not through the exported names (another preload's). */
static int
exec_env(const char *path, char *const argv[], char *const envp[])
{
	EXEC_AROUND(ld_real.execve(path, argv, envp));
}

static int
exec_path(const char *path, char *const argv[])
{
	EXEC_AROUND(ld_real.execv(path, argv));
}

static int
exec_search(const char *file, char *const argv[])
{
	EXEC_AROUND(ld_real.execvp(file, argv));
}

LD_EXPORT int
execve(const char *path, char *const argv[], char *const envp[])
{
	return exec_env(path, argv, envp);
}

LD_EXPORT int
execv(const char *path, char *const argv[])
{
	return exec_path(path, argv);
}

LD_EXPORT int
execvp(const char *file, char *const argv[])
{
	return exec_search(file, argv);
}

LD_EXPORT int
execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_AROUND(ld_real.execvpe(file, argv, envp));
}

LD_EXPORT int
fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_AROUND(ld_real.fexecve(fd, argv, envp));
}

int execveat(int, const char *, char *const[], char *const[], int);
LD_EXPORT int
execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	EXEC_AROUND(ld_real.execveat(dirfd, path, argv, envp, flags));
}

/*
 * The execl family: collect the arguments on the stack (as libc does; this
 * may run in a vfork child, where malloc is off limits).
 */
static size_t
count_args(const char *arg0, va_list ap)
{
	size_t n = 1;

	if (arg0 == NULL)
		return 0;
	while (va_arg(ap, const char *) != NULL)
		n++;
	return n;
}

#define COLLECT_ARGS(argv, arg0, last)					\
	do {								\
		va_list ap_;						\
		size_t n_;						\
									\
		va_start(ap_, last);					\
		n_ = count_args(arg0, ap_);				\
		va_end(ap_);						\
		argv = alloca((n_ + 1) * sizeof(char *));		\
		va_start(ap_, last);					\
		argv[0] = (char *)(arg0);				\
		for (size_t i_ = 1; i_ <= n_; i_++)			\
			argv[i_] = va_arg(ap_, char *);			\
		argv[n_] = NULL;					\
		va_end(ap_);						\
	} while (0)

LD_EXPORT int
execl(const char *path, const char *arg, ...)
{
	char **argv;

	COLLECT_ARGS(argv, arg, arg);
	return exec_path(path, argv);
}

LD_EXPORT int
execlp(const char *file, const char *arg, ...)
{
	char **argv;

	COLLECT_ARGS(argv, arg, arg);
	return exec_search(file, argv);
}

LD_EXPORT int
execle(const char *path, const char *arg, ...)
{
	char **argv, **envp;
	va_list ap;

	COLLECT_ARGS(argv, arg, arg);
	/* The environment follows the NULL that ends the arguments. */
	va_start(ap, arg);
	while (va_arg(ap, char *) != NULL)
		;
	envp = va_arg(ap, char **);
	va_end(ap);
	return exec_env(path, argv, envp);
}
