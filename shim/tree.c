/*
 * The shared tree. The mapping is a memfd, close-on-exec: forked children
 * inherit the mapping itself, and an exec'd descendant asks the owner for
 * it over the owner's abstract Unix socket (shim.c, claim()), maps it and
 * closes the descriptor again, so that no process but the owner holds one.
 * The owner's pid goes into the environment (__LAMEDUCK_TREE=PID), which
 * processes outside the tree (kubectl exec, exec probes) never inherit, and
 * the owner answers only its own user or its descendants (SO_PEERCRED, then
 * /proc's parent links). Slots are claimed with compare-and-swap; the owner frees the
 * slots of processes that are gone.
 */
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <linux/futex.h>
#else
#define FUTEX_WAIT	0	/* <linux/futex.h>: musl-gcc has no kernel headers */
#define FUTEX_WAKE	1
#endif
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"

#include "fdtab.h"
#include "real.h"
#include "tree.h"

#define LD_TREE_MAGIC	0x4c445452	/* "LDTR" */
#define LD_TREE_ENV	"__LAMEDUCK_TREE"

struct ld_tree *ld_tree;
_Atomic int ld_role;
static _Atomic unsigned long long accepted;	/* without a tree */
static _Atomic unsigned long long retired[LD_RETIRED_HOW];

#define LD_TREE_WAIT_MS	1000	/* an exec'd descendant waits this long for the owner */
#define LD_TREE_DEPTH	64	/* parent links followed from an asker up to the owner */

socklen_t
ld_tree_addr(const char *name, struct sockaddr_un *sun)
{
	size_t n = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n > sizeof(sun->sun_path) - 1)
		n = sizeof(sun->sun_path) - 1;
	memcpy(sun->sun_path + 1, name, n);	/* abstract: leading NUL */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

int
ld_tree_create(void)
{
	char val[32];
	int fd;

	fd = (int)syscall(SYS_memfd_create, "lameduck-tree", MFD_CLOEXEC);
	if (fd == -1)
		return -1;
	if (ftruncate(fd, sizeof(struct ld_tree)) == -1)
		goto fail;
	ld_tree = mmap(NULL, sizeof(struct ld_tree), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ld_tree == MAP_FAILED) {
		ld_tree = NULL;
		goto fail;
	}
	ld_tree->magic = LD_TREE_MAGIC;
	atomic_store(&ld_tree->owner, getpid());
	/* Kept for ld_tree_serve(); exec closes it, so a new image leaks none. */
	ld_own_set(LD_OWN_TREE, ld_own_hide(fd));
	snprintf(val, sizeof(val), "%d", (int)getpid());
	setenv(LD_TREE_ENV, val, 1);
	return 0;
fail:
	ld_close(fd);
	return -1;
}

/* The parent of pid (/proc/PID/stat), or -1. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	const char *errstr;
	ssize_t n;
	long long pp;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = ld_real.read(fd, buf, sizeof(buf) - 1);
	ld_close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
		return -1;
	p += 4;
	p[strcspn(p, " ")] = '\0';
	pp = strtonum(p, 0, INT32_MAX, &errstr);
	return errstr == NULL ? (pid_t)pp : -1;
}

/* Is pid a descendant of this process? */
static int
descends(pid_t pid)
{
	pid_t self = getpid();

	for (int i = 0; i < LD_TREE_DEPTH && pid > 1; i++) {
		if ((pid = parent_of(pid)) == self)
			return 1;
	}
	return 0;
}

void
ld_tree_serve(int lfd)
{
	struct ucred uc;
	socklen_t len;
	int c, mfd = ld_own(LD_OWN_TREE);

	while ((c = ld_real.accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		union {
			struct cmsghdr	h;
			char		buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = { "T", 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

		len = sizeof(uc);
		/*
		 * The same user (who could read our memory anyway), or a
		 * descendant that changed its user (a root entrypoint that
		 * runs its server through setpriv or gosu).
		 */
		if (mfd >= 0 && getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 &&
		    (uc.uid == geteuid() || descends(uc.pid))) {
			memset(&cm, 0, sizeof(cm));
			msg.msg_control = cm.buf;
			msg.msg_controllen = sizeof(cm.buf);
			cm.h.cmsg_level = SOL_SOCKET;
			cm.h.cmsg_type = SCM_RIGHTS;
			cm.h.cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(&cm.h), &mfd, sizeof(int));
			(void)ld_real.sendmsg(c, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		/* A stranger gets an empty answer and stays passive. */
		ld_close(c);
	}
}

/* Ask the owner, over its abstract name, for the tree's memfd. */
static int
ask_owner(const char *name)
{
	struct sockaddr_un sun;
	struct timeval tv = { LD_TREE_WAIT_MS / 1000, (LD_TREE_WAIT_MS % 1000) * 1000 };
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	char c;
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
	struct cmsghdr *h;
	socklen_t alen = ld_tree_addr(name, &sun);
	int s, fd = -1;

	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&cm, 0, sizeof(cm));
	if (connect(s, (struct sockaddr *)&sun, alen) == 0 &&
	    ld_real.recvmsg(s, &msg, MSG_CMSG_CLOEXEC) == 1 &&
	    (h = CMSG_FIRSTHDR(&msg)) != NULL && h->cmsg_level == SOL_SOCKET &&
	    h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
	ld_close(s);
	return fd;
}

int
ld_tree_attach(const char *name)
{
	const char *v = getenv(LD_TREE_ENV), *errstr;
	char buf[32];
	struct ld_tree *t;
	struct stat st;
	int owner, fd;

	if (v == NULL || strlcpy(buf, v, sizeof(buf)) >= sizeof(buf))
		return -1;
	buf[strcspn(buf, ":")] = '\0';	/* an older shim's PID:FD */
	owner = (int)strtonum(buf, 1, INT32_MAX, &errstr);
	if (errstr != NULL || (fd = ask_owner(name)) == -1)
		return -1;
	t = MAP_FAILED;
	if (ld_fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(*t))
		t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* The mapping is all this process needs: it holds no descriptor of ours. */
	ld_close(fd);
	if (t == MAP_FAILED)
		return -1;
	if (t->magic != LD_TREE_MAGIC || atomic_load(&t->owner) != owner || !ld_pid_alive(owner)) {
		munmap(t, sizeof(*t));
		return -1;
	}
	ld_tree = t;
	return 0;
}

static struct ld_member *
take_slot(struct ld_member *m, enum ld_kind kind)
{
	atomic_store(&m->in_flight, 0);
	atomic_store(&m->conns, 0);
	atomic_store(&m->listeners, 0);
	atomic_store(&m->ports_seen, 0);
	atomic_store(&m->stopped, 0);
	atomic_store(&m->kind, kind);
	ld_tree_wake();
	return m;
}

struct ld_member *
ld_tree_join(pid_t pid, enum ld_kind kind)
{
	if (ld_tree == NULL)
		return NULL;
	for (int i = 0; i < LD_TREE_MAX; i++) {
		struct ld_member *m = &ld_tree->m[i];
		int free_ = 0;

		if (atomic_load(&m->pid) == pid && atomic_load(&m->kind) == (int)kind)
			return m;
		if (atomic_compare_exchange_strong(&m->pid, &free_, pid))
			return take_slot(m, kind);
	}
	/*
	 * Full: processes that ended without leaving (a fork-per-connection
	 * server's children) still hold slots. Reclaim one.
	 */
	for (int i = 0; i < LD_TREE_MAX; i++) {
		struct ld_member *m = &ld_tree->m[i];
		int old = atomic_load(&m->pid);

		if (old != 0 && !ld_pid_alive(old) &&
		    atomic_compare_exchange_strong(&m->pid, &old, pid))
			return take_slot(m, kind);
	}
	return NULL;
}

void
ld_tree_leave(pid_t pid)
{
	if (ld_tree == NULL)
		return;
	for (int i = 0; i < LD_TREE_MAX; i++)
		if (atomic_load(&ld_tree->m[i].pid) == pid) {
			atomic_store(&ld_tree->m[i].kind, LD_K_FREE);
			atomic_store(&ld_tree->m[i].pid, 0);
		}
}

void
ld_tree_wake(void)
{
	if (ld_tree == NULL)
		return;
	atomic_fetch_add(&ld_tree->seq, 1);
	syscall(SYS_futex, &ld_tree->seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

void
ld_tree_wait(uint32_t seen, int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ld_tree == NULL)
		return;
	syscall(SYS_futex, &ld_tree->seq, FUTEX_WAIT, seen, ms < 0 ? NULL : &ts, NULL, 0);
}

int
ld_tree_inside(pid_t pid)
{
	if (ld_tree == NULL || pid <= 0)
		return 0;
	if (atomic_load(&ld_tree->owner) == pid)
		return 1;
	for (int i = 0; i < LD_TREE_MAX; i++)
		if (atomic_load(&ld_tree->m[i].pid) == pid)
			return 1;
	return 0;
}

int
ld_pid_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return kill(pid, 0) == 0 || errno == EPERM;
	n = ld_real.read(fd, buf, sizeof(buf) - 1);
	ld_close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

void
ld_tree_sum(struct ld_tree_sum *s)
{
	memset(s, 0, sizeof(*s));
	if (ld_tree == NULL)
		return;
	for (int i = 0; i < LD_TREE_MAX; i++) {
		struct ld_member *m = &ld_tree->m[i];
		int pid = atomic_load(&m->pid), kind = atomic_load(&m->kind);

		if (pid == 0 || kind == LD_K_FREE || pid == getpid())
			continue;
		if (!ld_pid_alive(pid)) {
			atomic_store(&m->kind, LD_K_FREE);
			atomic_store(&m->pid, 0);
			continue;
		}
		if (kind == LD_K_CONN_CHILD) {
			s->conn_children++;
			continue;
		}
		s->members++;
		s->in_flight += atomic_load(&m->in_flight);
		s->conns += atomic_load(&m->conns);
		s->listeners += atomic_load(&m->listeners);
		s->ports_seen |= atomic_load(&m->ports_seen);
		if (atomic_load(&m->stopped) < atomic_load(&ld_tree->stop))
			s->unstopped++;
	}
}

int
ld_tree_signal_members(int sig, pid_t from, uid_t uid)
{
	int n = 0;

	if (ld_tree == NULL)
		return 0;
	for (int i = 0; i < LD_TREE_MAX; i++) {
		struct ld_member *m = &ld_tree->m[i];
		int pid = atomic_load(&m->pid);
		siginfo_t si;

		if (pid == 0 || pid == getpid() || atomic_load(&m->kind) == LD_K_FREE)
			continue;
		memset(&si, 0, sizeof(si));
		si.si_signo = sig;
		si.si_code = SI_QUEUE;
		si.si_pid = from;
		si.si_uid = uid;
		si.si_value.sival_int = LD_SIG_FROM_OWNER;
		if (syscall(SYS_rt_sigqueueinfo, pid, sig, &si) == 0)
			n++;
	}
	return n;
}

void
ld_tree_count_accept(void)
{
	struct ld_tree *t = ld_tree;

	atomic_fetch_add_explicit(t != NULL ? &t->accepted : &accepted, 1, memory_order_relaxed);
}

unsigned long long
ld_tree_accepted(void)
{
	struct ld_tree *t = ld_tree;

	return atomic_load(t != NULL ? &t->accepted : &accepted);
}

void
ld_tree_count_retired(enum ld_retired how)
{
	struct ld_tree *t = ld_tree;

	atomic_fetch_add(t != NULL ? &t->retired[how] : &retired[how], 1);
}

unsigned long long
ld_tree_retired(enum ld_retired how)
{
	struct ld_tree *t = ld_tree;

	return atomic_load(t != NULL ? &t->retired[how] : &retired[how]);
}
