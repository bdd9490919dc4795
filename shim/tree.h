/*
 * The process tree: one lifecycle shared by the owner and every process of
 * its tree that loads the shim. State lives in a shared mapping the owner
 * makes before its first fork; forked children inherit it, and exec'd
 * descendants ask the owner for it (__LAMEDUCK_TREE names the owner).
 */
#ifndef LD_TREE_H
#define LD_TREE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define LD_TREE_MAX	256

enum ld_role {
	LD_ROLE_NONE,	/* passive: off, or outside the owner's tree */
	LD_ROLE_OWNER,	/* runs the lifecycle and the health port */
	LD_ROLE_MEMBER,	/* in the owner's tree: a worker, a wrapped server, a helper */
};

enum ld_kind { LD_K_FREE, LD_K_MEMBER, LD_K_CONN_CHILD };

struct ld_member {
	_Atomic int	pid;
	_Atomic int	kind;
	_Atomic int	in_flight;
	_Atomic int	conns;
	_Atomic int	listeners;	/* TCP listeners that count, in this process */
	_Atomic uint64_t ports_seen;	/* bit i: LAMEDUCK_PORTS[i] listens here */
	_Atomic int	stopped;	/* stop generation this member has acted on */
};

/* How a connection was retired (README, "Keep-alive and L4 balancers"). */
enum ld_retired {
	LD_RETIRED_HEADER,	/* "Connection: close" in its response */
	LD_RETIRED_IDLE,	/* closed idle before delivery */
	LD_RETIRED_GOAWAY,	/* an HTTP/2 GOAWAY */
	LD_RETIRED_HOW
};

struct ld_tree {
	uint32_t	magic;
	_Atomic int	owner;		/* the owner's pid */
	_Atomic int	state;		/* the lifecycle's state, for members */
	_Atomic int	stop;		/* bumped when the drain begins */
	_Atomic uint32_t seq;		/* futex word: bumped at every change */
	/* An outside signal a worker could not queue to the owner (another uid). */
	_Atomic int	fwd_pending;
	_Atomic int	fwd_sig;
	_Atomic int	fwd_pid;
	_Atomic uint32_t fwd_uid;
	/* A member binds an address overlapping the health port: the owner lets it go. */
	_Atomic int	yield_to;	/* the owner asked (its pid), 0: no request */
	_Atomic int	yield_pid;	/* the member that asks */
	_Atomic int	yield_done;	/* the owner (pid) that has closed its port */
	_Atomic unsigned long long accepted;	/* connections accepted by the tree's processes */
	_Atomic unsigned long long retired[LD_RETIRED_HOW];	/* connections retired, by how */
	struct ld_member m[LD_TREE_MAX];
};

/* Signals the shim sends within the tree carry this in si_value. */
#define LD_SIG_FORWARDED	0x4c44f0	/* a member passes an outside signal to the owner */
#define LD_SIG_FROM_OWNER	0x4c44f1	/* the owner hands the delivered signal on */

extern struct ld_tree *ld_tree __attribute__((visibility("hidden")));
extern _Atomic int ld_role __attribute__((visibility("hidden")));

/* The abstract address of the owner's name (shim.c, claim()); its length. */
socklen_t ld_tree_addr(const char *name, struct sockaddr_un *sun);
/* Owner: make the mapping and name the owner for exec'd descendants. */
int	ld_tree_create(void);
/* Owner: answer the descendants that connected to its name (lfd) with the memfd. */
void	ld_tree_serve(int lfd);
/* Exec'd descendant: ask the owner at `name` for its tree and map it. */
int	ld_tree_attach(const char *name);
/* A slot for pid; NULL when full. */
struct ld_member *ld_tree_join(pid_t pid, enum ld_kind kind);
void	ld_tree_leave(pid_t pid);
/* Tell members something changed; wait for a change (ms, -1: forever). */
void	ld_tree_wake(void);
void	ld_tree_wait(uint32_t seen, int ms);
/* Async-signal-safe: pid is the owner or a member. */
int	ld_tree_inside(pid_t pid);
/* Alive and not a zombie. */
int	ld_pid_alive(pid_t pid);

struct ld_tree_sum {
	int	members;	/* live members */
	int	conn_children;	/* live children holding a connection */
	long	in_flight;
	long	conns;
	int	listeners;
	uint64_t ports_seen;
	int	unstopped;	/* live members that have not acted on the stop yet */
};
/* Owner: add up the live members, freeing the slots of the dead. */
void	ld_tree_sum(struct ld_tree_sum *s);
/* A connection was accepted here; how many were in the whole tree (or this process). */
void	ld_tree_count_accept(void);
unsigned long long ld_tree_accepted(void);
/* A connection was retired here, and how; how many in the tree. */
void	ld_tree_count_retired(enum ld_retired how);
unsigned long long ld_tree_retired(enum ld_retired how);
/* Owner: queue sig to every live member, as if from `pid`. */
int	ld_tree_signal_members(int sig, pid_t pid, uid_t uid);

#endif
