/*
 * Resolving the real libc functions. Everything is resolved once, from the
 * constructor: dlsym may allocate, and allocators call back into wrapped
 * functions during their own initialisation, so a lazy dlsym inside a wrapper
 * can recurse or deadlock. A wrapper that runs before this (another preloaded
 * library's constructor) must use the raw system call instead.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

struct ld_real ld_real;

static void *
resolve(const char *name, void *self, int required)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == self && p != NULL) {
		static const char msg[] = "lameduck: dlsym(RTLD_NEXT) returned the wrapper itself; giving up\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(127);
	}
	if (p == NULL && required) {
		static const char msg[] = "lameduck: a libc function could not be resolved: ";
		(void)!write(2, msg, sizeof(msg) - 1);
		(void)!write(2, name, strlen(name));
		(void)!write(2, "\n", 1);
	}
	return p;
}

#define R(f)	ld_real.f = (__typeof__(ld_real.f))resolve(#f, (void *)f, 1)
#define O(f)	ld_real.f = (__typeof__(ld_real.f))resolve(#f, NULL, 0)

void
ld_real_init(void)
{
	R(sigaction);
	R(sigwaitinfo);
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
	O(close_range);
	O(closefrom);
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
ld_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

int
ld_dup3(int oldfd, int newfd, int flags)
{
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}
