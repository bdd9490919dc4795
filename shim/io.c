/*
 * The hot path: reads and writes on accepted connections. A request is in
 * flight from the moment the program reads it until it writes again (the
 * kernel's queues tell the rest: bytes unread, bytes unsent). Each wrapper
 * adds one table look-up to the call, and a store only when the state flips.
 * The _FORTIFY_SOURCE and 64-bit entry points share the wrappers' bodies
 * through file-local functions: no code of the shim calls a name the shim
 * interposes (through the PLT, that would be our wrapper again, or another
 * preloaded library's).
 */
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conns.h"
#include "fdtab.h"
#include "real.h"

/* glibc's _FORTIFY_SOURCE entry points; musl has none (nor __chk_fail). */
#ifdef __GLIBC__
extern void __chk_fail(void) __attribute__((noreturn));
#endif

/*
 * A connection's first bytes read tell whether it speaks HTTP/2 (conns.c),
 * and an HTTP/2 one's frames which streams are open; from the lame-duck
 * signal on, a request's first bytes whether it is HTTP/1.x. Before, a
 * test of a bit of the entry, and of a flag.
 */
#define AFTER_READ_BUF(r, fd, buf)	do {					\
		if ((r) > 0) {							\
			if (ld_conn_retiring())					\
				read_buf(fd, buf, (size_t)(r), 0);		\
			if (ld_fd_read(fd, buf))				\
				read_buf(fd, buf, (size_t)(r), 1);		\
		}							\
	} while (0)
#define AFTER_READ_IOV(r, fd, iov, cnt)	do {					\
		if ((r) > 0) {							\
			if (ld_conn_retiring())					\
				ld_conn_read(fd, iov, cnt, (size_t)(r), 0);	\
			if (ld_fd_read(fd, FIRST(iov, cnt)))			\
				ld_conn_read(fd, iov, cnt, (size_t)(r), 1);	\
		}							\
	} while (0)
/*
 * Writes go through conns.c from the lame-duck signal on, and before it on
 * an HTTP/2 connection (its frames are followed from the first byte) or one
 * not yet read from; e, the entry, is looked up before.
 */
#define CONNS_WRITE(v)	(((v) & (LD_FD_UNREAD | LD_FD_H2)) || ld_conn_retiring())
#define AFTER_WRITE(r, e)	do { if ((r) > 0) ld_fd_wrote(e); } while (0)
/* An iovec's first byte, if it is in the first one (else 0: conns.c looks). */
#define FIRST(iov, cnt)	((cnt) > 0 && (iov)[0].iov_len > 0 ? (iov)[0].iov_base : 0)
/*
 * The descriptor a receive counts on: none (-1, in no page of the table)
 * for a peek, which leaves the bytes queued. Decided before the call, so
 * that one register, not two, lives across it.
 */
#define COUNTED(fd, flags)	((flags) & MSG_PEEK ? -1 : (fd))

/* The bytes read into a buffer, for conns.c. */
static void __attribute__((noinline))
read_buf(int fd, void *buf, size_t r, int first)
{
	struct iovec iov = { buf, r };

	ld_conn_read(fd, &iov, 1, r, first);
}

static inline ssize_t
do_read(int fd, void *buf, size_t n)
{
	ssize_t r = ld_real.read(fd, buf, n);

	AFTER_READ_BUF(r, fd, buf);
	return r;
}

LD_EXPORT ssize_t
read(int fd, void *buf, size_t n)
{
	return do_read(fd, buf, n);
}

#ifdef __GLIBC__
ssize_t __read_chk(int, void *, size_t, size_t);
LD_EXPORT ssize_t
__read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();	/* what glibc's own check does */
	return do_read(fd, buf, n);
}
#endif

LD_EXPORT ssize_t
readv(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r = ld_real.readv(fd, iov, cnt);

	AFTER_READ_IOV(r, fd, iov, cnt);
	return r;
}

static inline ssize_t
do_recv(int fd, void *buf, size_t n, int flags)
{
	int counted = COUNTED(fd, flags);
	ssize_t r = ld_real.recv(fd, buf, n, flags);

	AFTER_READ_BUF(r, counted, buf);
	return r;
}

LD_EXPORT ssize_t
recv(int fd, void *buf, size_t n, int flags)
{
	return do_recv(fd, buf, n, flags);
}

#ifdef __GLIBC__
ssize_t __recv_chk(int, void *, size_t, size_t, int);
LD_EXPORT ssize_t
__recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return do_recv(fd, buf, n, flags);
}
#endif

static inline ssize_t
do_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *alen)
{
	int counted = COUNTED(fd, flags);
	ssize_t r = ld_real.recvfrom(fd, buf, n, flags, addr, alen);

	AFTER_READ_BUF(r, counted, buf);
	return r;
}

LD_EXPORT ssize_t
recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *alen)
{
	return do_recvfrom(fd, buf, n, flags, addr, alen);
}

#ifdef __GLIBC__
ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
LD_EXPORT ssize_t
__recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
    socklen_t *alen)
{
	if (n > buflen)
		__chk_fail();
	return do_recvfrom(fd, buf, n, flags, addr, alen);
}
#endif

LD_EXPORT ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	int counted = COUNTED(fd, flags);
	ssize_t r = ld_real.recvmsg(fd, msg, flags);

	AFTER_READ_IOV(r, counted, msg->msg_iov, (int)msg->msg_iovlen);
	return r;
}

/*
 * Writes: from the lame-duck signal on, and on an HTTP/2 connection, through
 * conns.c, which may add bytes of ours (never counted in what the call
 * returns). That way is out of line, so that the plain one keeps the
 * caller's arguments where they are.
 */
static ssize_t __attribute__((noinline))
conns_write(int fd, const struct iovec *iov, int cnt, int send, int flags,
    const struct sockaddr *name, socklen_t namelen, _Atomic uint8_t *e)
{
	ssize_t r = ld_conn_write(fd, iov, cnt, send, flags, name, namelen);

	AFTER_WRITE(r, e);
	return r;
}

static ssize_t __attribute__((noinline))
conns_write1(int fd, const void *buf, size_t n, int send, int flags,
    const struct sockaddr *name, socklen_t namelen, _Atomic uint8_t *e)
{
	struct iovec iov = { (void *)buf, n };

	return conns_write(fd, &iov, 1, send, flags, name, namelen, e);
}

LD_EXPORT ssize_t
write(int fd, const void *buf, size_t n)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	ssize_t r;

	if (CONNS_WRITE(ld_fd_entry(e)))
		return conns_write1(fd, buf, n, 0, 0, NULL, 0, e);
	r = ld_real.write(fd, buf, n);
	AFTER_WRITE(r, e);
	return r;
}

LD_EXPORT ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	ssize_t r;

	if (CONNS_WRITE(ld_fd_entry(e)))
		return conns_write(fd, iov, cnt, 0, 0, NULL, 0, e);
	r = ld_real.writev(fd, iov, cnt);
	AFTER_WRITE(r, e);
	return r;
}

LD_EXPORT ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	ssize_t r;

	if (CONNS_WRITE(ld_fd_entry(e)))
		return conns_write1(fd, buf, n, 1, flags, NULL, 0, e);
	r = ld_real.send(fd, buf, n, flags);
	AFTER_WRITE(r, e);
	return r;
}

LD_EXPORT ssize_t
sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
    socklen_t alen)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	ssize_t r;

	if (CONNS_WRITE(ld_fd_entry(e)))
		return conns_write1(fd, buf, n, 1, flags, addr, alen, e);
	r = ld_real.sendto(fd, buf, n, flags, addr, alen);
	AFTER_WRITE(r, e);
	return r;
}

LD_EXPORT ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	_Atomic uint8_t *e = ld_fd_slot(fd);
	ssize_t r;

	/* Control messages go once, as they are: such a call is never rewritten. */
	if (CONNS_WRITE(ld_fd_entry(e))) {
		if (msg->msg_controllen == 0)
			return conns_write(fd, msg->msg_iov, (int)msg->msg_iovlen, 1, flags,
			    msg->msg_name, msg->msg_namelen, e);
		ld_conn_unseen(fd);
	}
	r = ld_real.sendmsg(fd, msg, flags);
	AFTER_WRITE(r, e);
	return r;
}

static ssize_t __attribute__((noinline))
conns_sendfile(int out, int in, off_t *off, size_t n, _Atomic uint8_t *e)
{
	ssize_t r;

	if (ld_conn_before_sendfile(out) == -1)
		return -1;
	r = ld_real.sendfile(out, in, off, n);
	AFTER_WRITE(r, e);
	return r;
}

static inline ssize_t
do_sendfile(int out, int in, off_t *off, size_t n)
{
	_Atomic uint8_t *e = ld_fd_slot(out);
	ssize_t r;

	if (CONNS_WRITE(ld_fd_entry(e)))
		return conns_sendfile(out, in, off, n, e);
	r = ld_real.sendfile(out, in, off, n);
	AFTER_WRITE(r, e);
	return r;
}

LD_EXPORT ssize_t
sendfile(int out, int in, off_t *off, size_t n)
{
	return do_sendfile(out, in, off, n);
}

/* musl's <sys/sendfile.h> makes sendfile64 a macro for sendfile. */
#ifdef __GLIBC__
ssize_t sendfile64(int, int, off_t *, size_t);
LD_EXPORT ssize_t
sendfile64(int out, int in, off_t *off, size_t n)
{
	return do_sendfile(out, in, off, n);
}
#endif
