/*
 * no_pidfd COMMAND [ARG ...]: runs COMMAND with the system call pidfd_getfd
 * failing with EPERM, as in a container under its runtime's default seccomp
 * profile without CAP_SYS_PTRACE (Docker's and containerd's allow
 * pidfd_getfd only with that capability). A seccomp filter, installed with
 * no_new_privs (so no privilege is needed), then exec: the filter holds for
 * COMMAND and everything it runs. Every other system call is allowed, and a
 * call from another architecture's ABI is refused outright (as the runtimes'
 * profiles do).
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "progs.h"

#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd	438	/* the same number on every architecture */
#endif

#if defined(__x86_64__)
#define NATIVE_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH	AUDIT_ARCH_AARCH64
#else
#error "no_pidfd: add this architecture's AUDIT_ARCH_ value"
#endif

int
main(int argc, char **argv)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
		/* x32 calls carry the x86_64 arch with bit 30 set in nr. */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_getfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};

	if (argc < 2) {
		fprintf(stderr, "usage: no_pidfd COMMAND [ARG ...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		prog_fail("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1)
		prog_fail("prctl(PR_SET_SECCOMP): %s", strerror(errno));
	/* The filter works: the call is refused before it looks at its arguments. */
	if (syscall(__NR_pidfd_getfd, -1, 0, 0) != -1 || errno != EPERM)
		prog_fail("pidfd_getfd is not refused with EPERM under the filter (errno %d)", errno);
	execvp(argv[1], argv + 1);
	fprintf(stderr, "no_pidfd: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
