/*
 * The shared tree. The mapping is a memfd so that exec'd descendants can map
 * it too: its number and the owner's pid go into the environment
 * (__LAMEDUCK_TREE=PID:FD), which processes outside the tree (kubectl exec,
 * exec probes) never inherit. Slots are claimed with compare-and-swap; the
 * owner frees the slots of processes that are gone.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
static _Atomic unsigned long long retired[2];

int
ld_tree_create(void)
{
	char val[64];
	int fd;

	fd = (int)syscall(SYS_memfd_create, "lameduck-tree", 0);
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
	/* Not close-on-exec: descendants map it through this number. */
	fd = ld_own_hide_keep(fd);
	ld_own_set(LD_OWN_TREE, fd);
	snprintf(val, sizeof(val), "%d:%d", (int)getpid(), fd);
	setenv(LD_TREE_ENV, val, 1);
	return 0;
fail:
	ld_close(fd);
	return -1;
}

int
ld_tree_attach(void)
{
	const char *v = getenv(LD_TREE_ENV), *errstr;
	char buf[64], *colon, link[64], path[64];
	struct ld_tree *t;
	struct stat st;
	ssize_t n;
	int owner, fd;

	if (v == NULL || strlcpy(buf, v, sizeof(buf)) >= sizeof(buf) ||
	    (colon = strchr(buf, ':')) == NULL)
		return -1;
	*colon = '\0';
	owner = (int)strtonum(buf, 1, INT32_MAX, &errstr);
	if (errstr != NULL)
		return -1;
	fd = (int)strtonum(colon + 1, 0, INT32_MAX, &errstr);
	if (errstr != NULL || ld_fstat(fd, &st) == -1 || (size_t)st.st_size < sizeof(*t))
		return -1;
	/* The number must still be the owner's memfd, not something else by now. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = '\0';
	if (strncmp(link, "/memfd:lameduck-tree", 20) != 0)
		return -1;
	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t == MAP_FAILED)
		return -1;
	if (t->magic != LD_TREE_MAGIC || atomic_load(&t->owner) != owner || !ld_pid_alive(owner)) {
		munmap(t, sizeof(*t));
		return -1;
	}
	ld_tree = t;
	ld_own_set(LD_OWN_TREE, fd);
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
ld_tree_count_retired(int idle)
{
	struct ld_tree *t = ld_tree;

	atomic_fetch_add(t != NULL ? &t->retired[idle != 0] : &retired[idle != 0], 1);
}

unsigned long long
ld_tree_retired(int idle)
{
	struct ld_tree *t = ld_tree;

	return atomic_load(t != NULL ? &t->retired[idle != 0] : &retired[idle != 0]);
}
