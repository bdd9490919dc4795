/* The health port's HTTP request parser. Pure: no I/O, no allocation. */
#ifndef LD_HTTP_H
#define LD_HTTP_H

#include <stddef.h>

#define LD_HTTP_MAX_REQUEST 8192	/* request line + headers, bytes */

enum ld_http_status {
	LD_HTTP_INCOMPLETE = 0,	/* need more bytes */
	LD_HTTP_OK,		/* one complete request; req filled */
	LD_HTTP_BAD,		/* malformed: answer 400 and close */
	LD_HTTP_TOO_BIG,	/* no end of headers within LD_HTTP_MAX_REQUEST: 400/431 and close */
};

enum ld_http_method { LD_M_GET, LD_M_HEAD, LD_M_OTHER };
enum ld_http_path { LD_P_READYZ, LD_P_HEALTHZ, LD_P_LIVEZ, LD_P_METRICS, LD_P_OTHER };

struct ld_http_req {
	enum ld_http_method	method;
	enum ld_http_path	path;	/* query string ignored: /readyz?verbose -> READYZ */
	int			minor;	/* HTTP/1.<minor> */
	int			keep_alive; /* 1.1 without "Connection: close", or 1.0 with keep-alive */
	size_t			length;	/* bytes this request used (for pipelining) */
};

/*
 * Parse one request from buf[0..len). A request with a body
 * (Content-Length > 0 or Transfer-Encoding) is BAD: the health port takes none.
 */
enum ld_http_status ld_http_parse(const char *buf, size_t len, struct ld_http_req *req);

#endif
