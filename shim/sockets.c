/*
 * Socket interposition: listen() and bind(). Listeners are counted by
 * scanning descriptors rather than by remembering listen() calls, so that
 * sockets inherited already listening (socket activation) and sockets made
 * with raw system calls (Go) count the same way; listen() only makes the
 * scan happen at once.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "real.h"
#include "shim.h"
#include "sockets.h"

static int
port_of(const struct sockaddr_storage *ss, uint16_t *port)
{
	if (ss->ss_family == AF_INET)
		*port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		*port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else
		return -1;
	return 0;
}

static int
tcp_listener_port(int fd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int), slen = sizeof(ss);
	int acc = 0, type = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 || !acc)
		return -1;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 || type != SOCK_STREAM)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &slen) == -1)
		return -1;
	return port_of(&ss, port);
}

void
ld_scan_listeners(const uint16_t *ports, int nports, int skip, struct ld_listeners *out)
{
	uint64_t seen = 0;	/* bit i: ports[i] listens */
	struct dirent *d;
	DIR *dir;

	memset(out, 0, sizeof(*out));
	if ((dir = opendir("/proc/self/fd")) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		const char *errstr;
		uint16_t port;
		int fd = (int)strtonum(d->d_name, 0, INT32_MAX, &errstr);

		if (errstr != NULL || fd == dirfd(dir) || fd == skip)
			continue;
		if (tcp_listener_port(fd, &port) == -1)
			continue;
		if (nports == 0) {
			if (out->count++ == 0)
				out->first_port = port;
			continue;
		}
		for (int i = 0; i < nports; i++)
			if (ports[i] == port) {
				if (out->count++ == 0)
					out->first_port = port;
				seen |= 1ULL << i;
			}
	}
	closedir(dir);
	out->all_ports = nports > 0 ? seen == (nports == 64 ? ~0ULL : (1ULL << nports) - 1)
	    : out->count > 0;
}

static int
is_v4_any(const struct in_addr *a)
{
	return a->s_addr == htonl(INADDR_ANY);
}

int
ld_addr_overlaps(int fd, const struct sockaddr *addr, socklen_t len,
    const struct sockaddr_storage *health, int health_any, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t tlen = sizeof(int);
	int type = 0, v6only = 0;
	uint16_t p;

	if (addr == NULL || len < sizeof(sa_family_t) || len > sizeof(ss))
		return 0;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, len);
	if (port_of(&ss, &p) == -1 || p != port)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 || type != SOCK_STREAM)
		return 0;
	if (health_any)
		return 1;	/* [::] dual stack overlaps every address */
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		if (health->ss_family == AF_INET6)
			return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_ARE_ADDR_EQUAL(a,
			    &((const struct sockaddr_in6 *)health)->sin6_addr);
		tlen = sizeof(v6only);
		(void)getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &tlen);
		if (IN6_IS_ADDR_UNSPECIFIED(a))
			return !v6only;
		return IN6_IS_ADDR_V4MAPPED(a) && memcmp(&a->s6_addr[12],
		    &((const struct sockaddr_in *)health)->sin_addr, 4) == 0;
	}
	if (ss.ss_family == AF_INET && health->ss_family == AF_INET) {
		const struct in_addr *a = &((struct sockaddr_in *)&ss)->sin_addr;

		return is_v4_any(a) || is_v4_any(&((const struct sockaddr_in *)health)->sin_addr) ||
		    a->s_addr == ((const struct sockaddr_in *)health)->sin_addr.s_addr;
	}
	return 0;
}

int
ld_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		return snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		return snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
	return snprintf(buf, len, "(family %d)", sa->sa_family);
}

LD_EXPORT int
listen(int fd, int backlog)
{
	int r, saved;

	if (ld_real.listen == NULL)
		return (int)syscall(SYS_listen, fd, backlog);
	r = ld_real.listen(fd, backlog);
	saved = errno;
	if (r == 0 && ld_active)
		ld_poke();
	errno = saved;
	return r;
}

LD_EXPORT int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (ld_real.bind == NULL)
		return (int)syscall(SYS_bind, fd, addr, len);
	if (ld_active)
		ld_health_yield(fd, addr, len);
	return ld_real.bind(fd, addr, len);
}
