/*
 * libFuzzer target for ld_http_parse, the health port's request parser.
 *
 * The input is what a client sent. Properties, beyond ASan's "no read out
 * of bounds" (every buffer handed to the parser is a heap copy of exactly
 * the length it is told, so a read past len is caught):
 * - the status is one of the four; TOO_BIG only from 8 KiB on, INCOMPLETE
 *   never from 8 KiB on;
 * - OK: 0 < length <= min(len, 8 KiB), the request ends with LF, the fields
 *   are in range and agree with a plain reading of the request line and the
 *   Connection headers;
 * - the verdict only depends on the bytes it needs: as the input grows, the
 *   status goes INCOMPLETE* then stays BAD, or stays OK with the same
 *   request (so every prefix of an OK request is INCOMPLETE), or becomes
 *   TOO_BIG at 8 KiB; nothing past the first 8 KiB changes it. The input
 *   repeated past 8 KiB is checked too, as libFuzzer's inputs stay short;
 * - pipelining as the health port does it (parse, drop length, parse the
 *   rest) terminates.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_PREFIXES	96	/* prefixes checked per input, beyond line ends */

static void __attribute__((noreturn, format(printf, 1, 2)))
broken(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_http: property violated: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ld_http_parse on an exact heap copy of data[0..len). */
static enum ld_http_status
parse_copy(const uint8_t *data, size_t len, struct ld_http_req *req)
{
	enum ld_http_status st;
	char *buf = malloc(len ? len : 1);

	if (buf == NULL)
		abort();
	if (len > 0)
		memcpy(buf, data, len);
	memset(req, 0xa5, sizeof(*req));
	st = ld_http_parse(buf, len, req);
	free(buf);
	return st;
}

static int
same_req(const struct ld_http_req *a, const struct ld_http_req *b)
{
	return a->method == b->method && a->path == b->path && a->minor == b->minor &&
	    a->keep_alive == b->keep_alive && a->length == b->length;
}

/* Line [s, e) without its LF, and without a CR before it. */
static size_t
line_len(const char *s, const char *e)
{
	size_t n = (size_t)(e - s);

	return n > 0 && s[n - 1] == '\r' ? n - 1 : n;
}

static enum ld_http_path
path_of(const char *t, size_t n)
{
	static const struct {
		const char		*p;
		enum ld_http_path	 v;
	} known[] = {
		{ "/readyz", LD_P_READYZ }, { "/healthz", LD_P_HEALTHZ },
		{ "/livez", LD_P_LIVEZ }, { "/metrics", LD_P_METRICS },
	};
	size_t i, k;

	if (n == 1 && t[0] == '*')
		return LD_P_OTHER;
	if (n > 0 && t[0] != '/') {
		/* absolute-form: scheme, authority, then the path if any */
		k = strncasecmp(t, "https://", 8) == 0 ? 8 : 7;
		t += k;
		n -= k;
		while (n > 0 && *t != '/' && *t != '?') {
			t++;
			n--;
		}
		if (n == 0 || *t != '/')
			return LD_P_OTHER;
	}
	for (k = 0; k < n && t[k] != '?'; k++)
		;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].p) == k && memcmp(t, known[i].p, k) == 0)
			return known[i].v;
	return LD_P_OTHER;
}

/* Tokens of a Connection value, as the RFC's comma list. */
static void
connection_tokens(const char *v, size_t n, int *close, int *keep)
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		for (s = i; i < n && v[i] != ','; i++)
			;
		for (e = i; e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'); e--)
			;
		if (e - s == 5 && strncasecmp(v + s, "close", 5) == 0)
			*close = 1;
		if (e - s == 10 && strncasecmp(v + s, "keep-alive", 10) == 0)
			*keep = 1;
	}
}

/* An OK request read plainly, field by field, against what the parser said. */
static void
check_ok(const char *b, const struct ld_http_req *r)
{
	const char *p = b, *end = b + r->length, *lf, *sp1, *sp2;
	int close = 0, keep = 0, want_keep;
	size_t n, m;

	/* Empty lines before the request line are skipped. */
	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL && line_len(p, lf) == 0)
		p = lf + 1;
	if (lf == NULL)
		broken("OK without a request line");
	n = line_len(p, lf);
	sp1 = memchr(p, ' ', n);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p)) : NULL;
	if (sp1 == NULL || sp2 == NULL || p + n - (sp2 + 1) != 8 ||
	    memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		broken("OK for a request line that is not METHOD SP target SP HTTP/1.x");
	m = (size_t)(sp1 - p);
	if ((r->method == LD_M_GET) != (m == 3 && memcmp(p, "GET", 3) == 0) ||
	    (r->method == LD_M_HEAD) != (m == 4 && memcmp(p, "HEAD", 4) == 0))
		broken("method %d for \"%.*s\"", r->method, (int)m, p);
	if (r->minor != p[n - 1] - '0')
		broken("minor %d for HTTP/1.%c", r->minor, p[n - 1]);
	if (r->path != path_of(sp1 + 1, (size_t)(sp2 - sp1 - 1)))
		broken("path %d for \"%.*s\"", r->path, (int)(sp2 - sp1 - 1), sp1 + 1);
	for (p = lf + 1; (lf = memchr(p, '\n', (size_t)(end - p))) != NULL; p = lf + 1) {
		const char *colon;

		n = line_len(p, lf);
		if (n == 0)
			break;
		colon = memchr(p, ':', n);
		if (colon == NULL)
			broken("OK with a header line without a colon");
		if (colon - p == 10 && strncasecmp(p, "Connection", 10) == 0)
			connection_tokens(colon + 1, n - (size_t)(colon + 1 - p), &close, &keep);
	}
	if (lf == NULL || lf + 1 != end)
		broken("OK whose length does not end at the empty line");
	want_keep = r->minor == 1 ? !close : keep && !close;
	if (r->keep_alive != want_keep)
		broken("keep_alive %d, expected %d (HTTP/1.%d, close %d, keep-alive %d)",
		    r->keep_alive, want_keep, r->minor, close, keep);
}

/* Lengths to re-parse: around every line end, and a spread of the rest. */
static size_t
prefixes(const uint8_t *data, size_t len, size_t *out, size_t cap)
{
	size_t n = 0, i, step;

	for (i = 0; i < len && n + 3 <= cap / 2; i++)
		if (data[i] == '\n') {
			out[n++] = i;
			out[n++] = i + 1;
			if (i + 2 <= len)
				out[n++] = i + 2;
		}
	step = len / (cap - n) + 1;
	for (i = 0; i <= len && n < cap; i += step)
		out[n++] = i;
	return n;
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Parses data at each length of ks (sorted) and checks the order of verdicts. */
static void
growth(const uint8_t *data, const size_t *ks, size_t nk)
{
	struct ld_http_req req, ok_req, big_req;
	enum ld_http_status st, prev = LD_HTTP_INCOMPLETE, big = LD_HTTP_INCOMPLETE;
	int bad_seen = 0, ok_seen = 0, big_seen = 0;

	for (size_t i = 0; i < nk; i++) {
		if (i > 0 && ks[i] == ks[i - 1])
			continue;
		st = parse_copy(data, ks[i], &req);
		if (bad_seen && st != LD_HTTP_BAD)
			broken("BAD at a shorter prefix, %d at %zu", (int)st, ks[i]);
		if (ok_seen && (st != LD_HTTP_OK || !same_req(&req, &ok_req)))
			broken("OK at a shorter prefix, then %d at %zu", (int)st, ks[i]);
		if (prev == LD_HTTP_TOO_BIG && st != LD_HTTP_TOO_BIG)
			broken("TOO_BIG, then %d at %zu", (int)st, ks[i]);
		if ((st == LD_HTTP_TOO_BIG && ks[i] < LD_HTTP_MAX_REQUEST) ||
		    (st == LD_HTTP_INCOMPLETE && ks[i] >= LD_HTTP_MAX_REQUEST))
			broken("%d at %zu bytes", (int)st, ks[i]);
		if (ks[i] >= LD_HTTP_MAX_REQUEST) {
			/* Only the first 8 KiB count. */
			if (big_seen && (st != big || (st == LD_HTTP_OK && !same_req(&req, &big_req))))
				broken("%d at %zu bytes, %d at fewer past 8 KiB", (int)st, ks[i],
				    (int)big);
			big_seen = 1;
			big = st;
			big_req = req;
		}
		if (st == LD_HTTP_OK && !ok_seen) {
			ok_seen = 1;
			ok_req = req;
		}
		bad_seen |= st == LD_HTTP_BAD;
		prev = st;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t rep[LD_HTTP_MAX_REQUEST + 64];
	struct ld_http_req full, req;
	enum ld_http_status st;
	size_t ks[MAX_PREFIXES * 2], nk, off, rounds;

	/* The whole input, as the health port hands it over. */
	memset(&full, 0xa5, sizeof(full));
	st = ld_http_parse((const char *)data, len, &full);
	switch (st) {
	case LD_HTTP_INCOMPLETE:
		if (len >= LD_HTTP_MAX_REQUEST)
			broken("INCOMPLETE at %zu bytes", len);
		break;
	case LD_HTTP_TOO_BIG:
		if (len < LD_HTTP_MAX_REQUEST)
			broken("TOO_BIG at %zu bytes", len);
		break;
	case LD_HTTP_OK:
		if (full.length == 0 || full.length > len || full.length > LD_HTTP_MAX_REQUEST)
			broken("OK with length %zu of %zu", full.length, len);
		if (data[full.length - 1] != '\n')
			broken("OK request does not end with LF");
		if ((unsigned)full.method > LD_M_OTHER || (unsigned)full.path > LD_P_OTHER ||
		    (full.minor != 0 && full.minor != 1) ||
		    (full.keep_alive != 0 && full.keep_alive != 1))
			broken("OK with fields out of range");
		check_ok((const char *)data, &full);
		/* The request alone parses the same. */
		if (parse_copy(data, full.length, &req) != LD_HTTP_OK || !same_req(&req, &full))
			broken("the request alone parses differently");
		break;
	case LD_HTTP_BAD:
		break;
	default:
		broken("status %d", (int)st);
	}

	/* Growing input: INCOMPLETE*, then BAD for good, OK for good, or TOO_BIG. */
	nk = prefixes(data, len, ks, sizeof(ks) / sizeof(ks[0]) - 1);
	ks[nk++] = len;
	qsort(ks, nk, sizeof(ks[0]), cmp_size);
	growth(data, ks, nk);

	/* The same, repeated past 8 KiB: around the limit, and beyond it. */
	if (len > 0) {
		static const size_t big[] = { 0, 4096, LD_HTTP_MAX_REQUEST - 2,
			LD_HTTP_MAX_REQUEST - 1, LD_HTTP_MAX_REQUEST, LD_HTTP_MAX_REQUEST + 1,
			LD_HTTP_MAX_REQUEST + 63, LD_HTTP_MAX_REQUEST + 64 };

		for (off = 0; off < sizeof(rep); off += len)
			memcpy(rep + off, data, len < sizeof(rep) - off ? len : sizeof(rep) - off);
		growth(rep, big, sizeof(big) / sizeof(big[0]));
	}

	/* Pipelined requests, as serve() walks them. */
	for (off = 0, rounds = 0; off < len && rounds < 1000; rounds++) {
		st = ld_http_parse((const char *)data + off, len - off, &req);
		if (st != LD_HTTP_OK)
			break;
		if (req.length == 0 || req.length > len - off)
			broken("pipelined request %zu: length %zu of %zu", rounds, req.length,
			    len - off);
		off += req.length;
	}
	return 0;
}
