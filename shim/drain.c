/*
 * Stopping new connections without losing the ones already sent.
 *
 * For each listener that counts: a private duplicate keeps the socket while
 * the shim takes every connection already queued on it (they are handed to
 * the program's next accept() calls), then shuts it down, so new connection
 * attempts are refused at once (RST) and threads blocked in accept() wake.
 * A shut-down listener polls readable forever, which would spin an event
 * loop, so once its queue is handed over an idle, listening AF_UNIX socket
 * takes its descriptor number: poll() never finds that readable, a blocking
 * accept() parks on it, and the real socket leaves every epoll set when its
 * last reference goes. A listener this process did not make (socket
 * activation, a hand-over to a successor) is never shut down: this process
 * only stops accepting on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "drain.h"
#include "fdtab.h"
#include "real.h"
#include "sockets.h"

#define LD_MAX_STOPPED	64
#define LD_STASH_MAX	4096

static struct {
	int	fd;		/* the program's number */
	int	priv;		/* our duplicate of the real socket, -1 once swapped */
	int	nonblock;	/* the placeholder copies the program's mode */
	int	deferred;	/* made here but never accepted from: shut down later */
} stopped[LD_MAX_STOPPED];
static int nstopped;

static struct {
	int		listener;
	_Atomic int	conn;	/* -1 once handed over */
} stash[LD_STASH_MAX];
static _Atomic int nstash;

/*
 * What takes a stopped listener's number: a TCP listener of the same family
 * on a loopback port nobody knows, so it never becomes readable and looks
 * like what the program had (gunicorn unlinks AF_UNIX listeners by name).
 */
static int
placeholder(int like, int nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (getsockname(like, (struct sockaddr *)&ss, &len) == -1)
		ss.ss_family = AF_INET;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		memset(s4, 0, sizeof(*s4));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd == -1)
		return -1;
	if (ld_real.bind(fd, (struct sockaddr *)&ss, len) == -1 || ld_real.listen(fd, 1) == -1) {
		ld_close(fd);
		return -1;
	}
	return fd;
}

static void
swap_out(int i)
{
	int fd = stopped[i].fd, ph, cloexec;

	if (stopped[i].priv < 0)
		return;
	if (!(ld_fd_get(fd) & LD_FD_STOPPED)) {
		/* The program closed it meanwhile: the number may be another's now. */
		ld_close(stopped[i].priv);
		stopped[i].priv = -1;
		return;
	}
	cloexec = ld_real.fcntl(fd, F_GETFD) & FD_CLOEXEC;
	ph = placeholder(stopped[i].priv, stopped[i].nonblock);
	if (ph >= 0) {
		ld_dup3(ph, fd, cloexec ? O_CLOEXEC : 0);
		ld_close(ph);
	}
	ld_close(stopped[i].priv);
	stopped[i].priv = -1;
}

static int
stash_left(int listener)
{
	int n = atomic_load(&nstash), left = 0;

	for (int i = 0; i < n; i++)
		if (atomic_load(&stash[i].conn) >= 0 && (listener < 0 || stash[i].listener == listener))
			left++;
	return left;
}

static int
take_queue(int fd, int priv)
{
	int n = 0, c, slot, fl = ld_real.fcntl(priv, F_GETFL);

	/*
	 * The mode belongs to the socket's open file, which other processes
	 * of the tree share: set it only while taking the queue (their
	 * accept() wrappers wait out an EAGAIN meanwhile).
	 */
	(void)ld_real.fcntl(priv, F_SETFL, fl | O_NONBLOCK);
	while ((slot = atomic_load(&nstash)) < LD_STASH_MAX &&
	    (c = ld_real.accept4(priv, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		stash[slot].listener = fd;
		atomic_store(&stash[slot].conn, c);
		atomic_store(&nstash, slot + 1);
		n++;
	}
	(void)ld_real.fcntl(priv, F_SETFL, fl);
	return n;
}

struct known {
	int	*fds;
	int	n;
};

static void
add_known(int fd, uint8_t v, void *arg)
{
	struct known *k = arg;

	(void)v;
	for (int i = 0; i < k->n; i++)
		if (k->fds[i] == fd)
			return;
	if (k->n < LD_MAX_STOPPED)
		k->fds[k->n++] = fd;
}

static int
listening(int fd)
{
	socklen_t len = sizeof(int);
	int acc = 0;

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc;
}

void
ld_drain_begin(const uint16_t *ports, int nports, int skip, int defer,
    struct ld_drain_start *out)
{
	int fds[LD_MAX_STOPPED];
	struct known kn = { fds, 0 };

	out->listeners = out->queued = out->inherited = 0;
	kn.n = ld_listener_fds(ports, nports, skip, fds, LD_MAX_STOPPED);
	/* Listeners another process of the tree has shut down no longer show as such. */
	ld_fd_each(LD_FD_LISTEN, add_known, &kn);
	for (int i = 0; i < kn.n && nstopped < LD_MAX_STOPPED; i++) {
		int fd = fds[i], k = nstopped;
		uint8_t v = ld_fd_get(fd);
		/*
		 * Not in the table: made and accepted from with raw system
		 * calls (Go). Shut down, it would make Go's Serve() return an
		 * error that most programs treat as fatal; taking its number
		 * instead parks its accept loop, and the socket closes with
		 * its last reference.
		 */
		int made = (v & LD_FD_MADE) != 0;
		int accepts = (v & LD_FD_ACCEPTS) != 0;

		if (v & LD_FD_STOPPED)
			continue;
		stopped[k].fd = fd;
		stopped[k].nonblock = (ld_real.fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
		stopped[k].priv = ld_real.fcntl(fd, F_DUPFD_CLOEXEC, 3);
		stopped[k].deferred = 0;
		if (stopped[k].priv < 0)
			continue;
		ld_fd_set(fd, (uint8_t)((v & ~LD_FD_TYPE & 0xff) | LD_FD_LISTEN | LD_FD_STOPPED));
		nstopped++;
		out->listeners++;
		if (!listening(fd)) {
			swap_out(k);	/* shut down already: only the number to take */
			continue;
		}
		if (!made) {
			out->inherited++;
			swap_out(k);
			continue;
		}
		if (!accepts && defer) {
			/*
			 * A master that never accepts (its workers do): they take
			 * the queue first; the owner shuts the socket down after.
			 */
			stopped[k].deferred = 1;
			continue;
		}
		if (accepts)
			out->queued += take_queue(fd, stopped[k].priv);
		(void)shutdown(stopped[k].priv, SHUT_RD);
		if (stash_left(fd) == 0)
			swap_out(k);
	}
}

void
ld_drain_shutdown_deferred(void)
{
	for (int i = 0; i < nstopped; i++)
		if (stopped[i].deferred && stopped[i].priv >= 0) {
			stopped[i].deferred = 0;
			(void)shutdown(stopped[i].priv, SHUT_RD);
			swap_out(i);
		}
}

static void
count_one(int fd, uint8_t v, void *arg)
{
	long *n = arg;
	int q = 0, type = 0;
	socklen_t len = sizeof(type);

	/* Closed behind our back (fclose() closes inside libc): forget it. */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 || type != SOCK_STREAM) {
		ld_fd_set(fd, 0);
		return;
	}

	if ((v & LD_FD_READ) ||
	    (ioctl(fd, SIOCINQ, &q) == 0 && q > 0) ||
	    (ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0))
		n[0]++;
	n[1]++;
}

long
ld_drain_in_flight(long *connections)
{
	long n[2] = { 0, 0 };
	int left;

	for (int i = 0; i < nstopped; i++)
		if (stopped[i].priv >= 0 && !stopped[i].deferred && stash_left(stopped[i].fd) == 0)
			swap_out(i);
	ld_fd_each(LD_FD_CONN, count_one, n);
	/* Queued connections the program has not taken yet are in flight too. */
	left = stash_left(-1);
	if (connections != NULL)
		*connections = n[1] + left;
	return n[0] + left;
}

/* Queued connections nobody took: close them, so their clients hear of it. */
static void
close_stash(void)
{
	int n = atomic_load(&nstash);

	for (int i = 0; i < n; i++) {
		int c = atomic_exchange(&stash[i].conn, -1);

		if (c >= 0)
			ld_close(c);
	}
}

void
ld_drain_end(void)
{
	ld_drain_shutdown_deferred();
	for (int i = 0; i < nstopped; i++)
		swap_out(i);
	close_stash();
}

void
ld_drain_after_fork(void)
{
	/* The parent's: a child must neither hand them out nor keep them open. */
	close_stash();
	atomic_store(&nstash, 0);
	for (int i = 0; i < nstopped; i++)
		if (stopped[i].priv >= 0)
			ld_close(stopped[i].priv);
	nstopped = 0;
}

int
ld_drain_take(int listener)
{
	int n = atomic_load(&nstash);

	for (int i = 0; i < n; i++) {
		int c;

		if (stash[i].listener != listener || atomic_load(&stash[i].conn) < 0)
			continue;
		c = atomic_exchange(&stash[i].conn, -1);
		if (c >= 0) {
			ld_fd_set(c, LD_FD_CONN);
			return c;
		}
	}
	return -1;
}
