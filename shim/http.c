/*
 * The health port's HTTP/1.x request parser. Pure: no I/O, no allocation.
 *
 * Strict where a lenient reading could be abused (request smuggling through
 * bodies, folded or colon-less headers, NUL bytes), lenient only where
 * clients really differ: bare LF line ends, and empty lines before the
 * request line (RFC 9112 2.2 asks servers to skip them). Each complete line
 * is checked as soon as its LF arrives, and the unfinished last line as far
 * as it goes, so that garbage (a TLS hello, a port scanner) is refused after
 * a few bytes rather than after 8 KiB.
 */
#include <string.h>
#include <strings.h>

#include "http.h"

#define MAX_METHOD	32	/* longer than any registered method */

/* What the headers said, gathered while they are read. */
struct hdrs {
	int	close;		/* Connection: close */
	int	keep_alive;	/* Connection: keep-alive */
};

static int	tchar(unsigned char);
static int	vchar(unsigned char);
static int	request_line(const char *, size_t, int, struct ld_http_req *);
static int	version(const char *, size_t, int, int *);
static enum ld_http_path target_path(const char *, size_t);
static int	absolute_prefix(const char *, size_t);
static int	header_line(const char *, size_t, int, struct hdrs *);
static int	name_is(const char *, size_t, const char *);
static void	connection(const char *, size_t, struct hdrs *);

/* RFC 9110 5.6.2 token characters. */
static int
tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible ASCII: what a request target is made of. */
static int
vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/*
 * "HTTP/1.0" or "HTTP/1.1" in v[0..n); a prefix of one is fine while the
 * line is incomplete.
 */
static int
version(const char *v, size_t n, int complete, int *minor)
{
	static const char want[] = "HTTP/1.";
	size_t plen;

	plen = sizeof(want) - 1;
	if (n > plen + 1 || (complete && n != plen + 1))
		return -1;
	if (memcmp(v, want, n < plen ? n : plen) != 0)
		return -1;
	if (n == plen + 1) {
		if (v[plen] != '0' && v[plen] != '1')
			return -1;
		*minor = v[plen] - '0';
	}
	return 0;
}

static enum ld_http_path
target_path(const char *t, size_t n)
{
	static const struct {
		const char		*path;
		enum ld_http_path	 p;
	} paths[] = {
		{ "/readyz", LD_P_READYZ },
		{ "/healthz", LD_P_HEALTHZ },
		{ "/livez", LD_P_LIVEZ },
		{ "/metrics", LD_P_METRICS },
	};
	const char *q;
	size_t i;

	q = memchr(t, '?', n);
	if (q != NULL)
		n = (size_t)(q - t);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strlen(paths[i].path) == n && memcmp(t, paths[i].path, n) == 0)
			return paths[i].p;
	return LD_P_OTHER;
}

/* Could t[0..n) begin an absolute-form target? */
static int
absolute_prefix(const char *t, size_t n)
{
	static const char *const schemes[] = { "http://", "https://" };
	size_t i, k;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		k = strlen(schemes[i]);
		if (strncasecmp(t, schemes[i], n < k ? n : k) == 0)
			return 1;
	}
	return 0;
}

/*
 * METHOD SP target SP HTTP/1.x, in l[0..n) without its line end. An
 * incomplete line is checked as far as it goes. Fills req when complete.
 */
static int
request_line(const char *l, size_t n, int complete, struct ld_http_req *req)
{
	size_t i, m, t0, tn, sch;
	const char *t;
	int minor;

	for (i = 0; i < n && tchar((unsigned char)l[i]); i++)
		;
	m = i;
	if (m > MAX_METHOD || (i < n && (m == 0 || l[i] != ' ')))
		return -1;
	if (i == n)
		return complete ? -1 : 0;
	t0 = ++i;
	for (; i < n && vchar((unsigned char)l[i]); i++)
		;
	tn = i - t0;
	/* origin-form, absolute-form, or asterisk-form (RFC 9112 3.2) */
	if (tn > 0 && l[t0] != '/' && l[t0] != '*' &&
	    !absolute_prefix(l + t0, tn))
		return -1;
	if (i < n && (tn == 0 || l[i] != ' '))
		return -1;
	if (i == n)
		return complete ? -1 : 0;
	i++;
	minor = 0;
	if (version(l + i, n - i, complete, &minor) != 0)
		return -1;
	if (!complete)
		return 0;

	t = l + t0;
	if (t[0] == '*') {
		if (tn != 1)
			return -1;
		req->path = LD_P_OTHER;
	} else if (t[0] == '/')
		req->path = target_path(t, tn);
	else {
		/* absolute-form: scheme "://" authority path */
		if (tn < 8 || (strncasecmp(t, "http://", 7) != 0 &&
		    strncasecmp(t, "https://", 8) != 0))
			return -1;
		sch = t[4] == ':' ? 7 : 8;
		t += sch;
		tn -= sch;
		while (tn > 0 && *t != '/' && *t != '?') {
			t++;
			tn--;
		}
		req->path = tn > 0 && *t == '/' ? target_path(t, tn) : LD_P_OTHER;
	}
	if (m == 3 && memcmp(l, "GET", 3) == 0)
		req->method = LD_M_GET;
	else if (m == 4 && memcmp(l, "HEAD", 4) == 0)
		req->method = LD_M_HEAD;
	else
		req->method = LD_M_OTHER;
	req->minor = minor;
	return 0;
}

static int
name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Connection is a comma list of tokens; empty elements are allowed. */
static void
connection(const char *v, size_t n, struct hdrs *h)
{
	size_t i, s, e;

	i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (name_is(v + s, e - s, "close"))
			h->close = 1;
		else if (name_is(v + s, e - s, "keep-alive"))
			h->keep_alive = 1;
	}
}

/*
 * name ":" OWS value OWS, in l[0..n) without its line end. A body is refused
 * here, the moment its header arrives: the health port reads none, and a
 * body left unread would be parsed as the next request.
 */
static int
header_line(const char *l, size_t n, int complete, struct hdrs *h)
{
	size_t i, name, v0, vn;
	unsigned char c;

	/* obs-fold: RFC 9112 5.2 lets a server refuse it, and we do. */
	if (n > 0 && (l[0] == ' ' || l[0] == '\t'))
		return -1;
	for (i = 0; i < n && tchar((unsigned char)l[i]); i++)
		;
	name = i;
	if (i < n && (name == 0 || l[i] != ':'))
		return -1;
	if (i == n)
		return complete ? -1 : 0;
	for (i++; i < n; i++) {
		c = (unsigned char)l[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	if (!complete)
		return 0;

	v0 = name + 1;
	while (v0 < n && (l[v0] == ' ' || l[v0] == '\t'))
		v0++;
	vn = n;
	while (vn > v0 && (l[vn - 1] == ' ' || l[vn - 1] == '\t'))
		vn--;
	vn -= v0;
	if (name_is(l, name, "Transfer-Encoding"))
		return -1;
	if (name_is(l, name, "Content-Length")) {
		/* Only a zero: no atoi needed, and no overflow to get wrong. */
		if (vn == 0)
			return -1;
		for (i = v0; i < v0 + vn; i++)
			if (l[i] != '0')
				return -1;
	}
	if (name_is(l, name, "Connection"))
		connection(l + v0, vn, h);
	return 0;
}

enum ld_http_status
ld_http_parse(const char *buf, size_t len, struct ld_http_req *req)
{
	struct ld_http_req r;
	struct hdrs h;
	const char *lf;
	size_t lim, pos, end, n;
	int seen_request;

	memset(&r, 0, sizeof(r));
	memset(&h, 0, sizeof(h));
	lim = len < LD_HTTP_MAX_REQUEST ? len : LD_HTTP_MAX_REQUEST;
	seen_request = 0;
	pos = 0;
	while (pos < lim) {
		lf = memchr(buf + pos, '\n', lim - pos);
		if (lf == NULL) {
			/* The unfinished line so far; a last CR may be CRLF's. */
			n = lim - pos;
			if (buf[pos + n - 1] == '\r')
				n--;
			if (seen_request ? header_line(buf + pos, n, 0, &h) :
			    request_line(buf + pos, n, 0, &r))
				return LD_HTTP_BAD;
			break;
		}
		end = (size_t)(lf - buf);
		n = end - pos;
		if (n > 0 && buf[end - 1] == '\r')
			n--;
		if (!seen_request) {
			if (n > 0) {
				if (request_line(buf + pos, n, 1, &r) != 0)
					return LD_HTTP_BAD;
				seen_request = 1;
			}
		} else if (n == 0) {
			r.keep_alive = r.minor == 1 ? !h.close :
			    h.keep_alive && !h.close;
			r.length = end + 1;
			*req = r;
			return LD_HTTP_OK;
		} else if (header_line(buf + pos, n, 1, &h) != 0)
			return LD_HTTP_BAD;
		pos = end + 1;
	}
	return len >= LD_HTTP_MAX_REQUEST ? LD_HTTP_TOO_BIG : LD_HTTP_INCOMPLETE;
}
