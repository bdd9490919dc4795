/* Listening sockets: found however they were made. */
#ifndef LD_SOCKETS_H
#define LD_SOCKETS_H

#include <stdint.h>
#include <sys/socket.h>

struct ld_listeners {
	int	count;		/* TCP listeners that count */
	int	all_ports;	/* every port of LAMEDUCK_PORTS has one */
	uint64_t seen;		/* bit i: LAMEDUCK_PORTS[i] has one */
	uint16_t first_port;
};

/* This process holds a TCP listener that counts (it serves: a worker). */
extern _Atomic int ld_holds_listeners;
/* Is `seen` every port of the list (or, with no list, is count > 0)? */
int	ld_ports_complete(uint64_t seen, int count, int nports);

/*
 * Scan the process's descriptors for TCP sockets with SO_ACCEPTCONN (made with
 * listen(), inherited, or made with raw system calls), skipping `skip`.
 */
void	ld_scan_listeners(const uint16_t *ports, int nports, int skip,
	    struct ld_listeners *out);
/* The listeners that count, by descriptor; returns how many (at most cap). */
int	ld_listener_fds(const uint16_t *ports, int nports, int skip, int *fds, int cap);
/* An epoll registration: its epoll descriptor, events and data. */
struct ld_epoll_reg {
	int		epfd;
	uint32_t	events;
	uint64_t	data;
};

/* The process's epoll descriptors (not the shim's); how many, or -1 if unknown or over cap. */
int	ld_epoll_fds(int *fds, int cap);
/*
 * The registrations of the socket at fd, under its number, in those epoll
 * sets (/proc/self/fdinfo); how many, or -1 if unknown or over cap.
 */
int	ld_epoll_regs(int fd, const int *epfds, int nep, struct ld_epoll_reg *out, int cap);
/* The program's epoll_ctl calls on fd wait until ld_epoll_release(). */
void	ld_epoll_hold(int fd);
void	ld_epoll_release(void);
/* In a forked child: no hold, nobody busy. */
void	ld_epoll_after_fork(void);
/*
 * Calls fn for every descriptor of the process (/proc/self/fd); stops when
 * fn returns 1. -1 if /proc cannot be read.
 */
int	ld_each_fd(int (*fn)(int fd, void *arg), void *arg);
/* At start: listeners already open were inherited (socket activation). */
void	ld_mark_inherited(const uint16_t *ports, int nports);
/* Does the program's bind of addr on fd collide with the health address? */
int	ld_addr_overlaps(int fd, const struct sockaddr *addr, socklen_t len,
	    const struct sockaddr_storage *health, int health_any, uint16_t port);
/* Connections accepted from listeners that count, since start. */
unsigned long long ld_accepted_total(void);
int	ld_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
