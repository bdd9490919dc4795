/* What /proc tells of this process: its descriptors, listeners and epoll registrations. */
#ifndef LD_PROCFS_H
#define LD_PROCFS_H

#include <stdint.h>
#include <sys/socket.h>

struct ld_listeners {
	int	count;		/* TCP listeners that count */
	int	all_ports;	/* every port of LAMEDUCK_PORTS has one */
	uint64_t seen;		/* bit i: LAMEDUCK_PORTS[i] has one */
	uint16_t first_port;
};

/* The port of an AF_INET or AF_INET6 address; -1 for another family. */
int	ld_addr_port(const struct sockaddr_storage *ss, uint16_t *port);
/* fd is a listening TCP socket: its port. -1 otherwise. */
int	ld_listener_port(int fd, uint16_t *port);
/* Does a listener on port count (LAMEDUCK_PORTS; every port when nports is 0)? */
int	ld_port_counts(uint16_t port, const uint16_t *ports, int nports);
/* Is `seen` every port of the list (or, with no list, is count > 0)? */
int	ld_ports_complete(uint64_t seen, int count, int nports);

/*
 * Calls fn for every descriptor of the process (/proc/self/fd); stops when
 * fn returns 1. -1 if /proc cannot be read.
 */
int	ld_each_fd(int (*fn)(int fd, void *arg), void *arg);
/*
 * Scan the process's descriptors for TCP sockets with SO_ACCEPTCONN (made with
 * listen(), inherited, or made with raw system calls), skipping `skip`.
 */
void	ld_scan_listeners(const uint16_t *ports, int nports, int skip,
	    struct ld_listeners *out);
/* The listeners that count, by descriptor; returns how many (at most cap). */
int	ld_listener_fds(const uint16_t *ports, int nports, int skip, int *fds, int cap);
/*
 * At start: listeners already open were inherited (socket activation).
 * keep: the /proc directory stays open for the scans to come.
 */
void	ld_mark_inherited(const uint16_t *ports, int nports, int keep);
/*
 * Open the /proc directory now, on the calling thread, if it is not: the
 * kernel gives it the lowest free number for an instant, which must not
 * happen on a thread of ours while the program opens files.
 */
int	ld_procfs_open(void);

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

#endif
