/* Unit tests for shim/http.c: the health port's request parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static enum ld_http_status
parse(const char *s, struct ld_http_req *req)
{
	return ld_http_parse(s, strlen(s), req);
}

static void
expect_bad(const char *s)
{
	struct ld_http_req req;

	if (parse(s, &req) != LD_HTTP_BAD)
		fail_msg("not refused: \"%s\"", s);
}

static void
test_complete(void **state)
{
	static const char r[] = "GET /readyz HTTP/1.1\r\n"
	    "Host: 10.0.0.1:8799\r\n"
	    "User-Agent: kube-probe/1.29\r\n"
	    "Accept: */*\r\n"
	    "Connection: close\r\n"
	    "\r\n";
	struct ld_http_req req;

	(void)state;
	memset(&req, 0x55, sizeof(req));
	assert_int_equal(parse(r, &req), LD_HTTP_OK);
	assert_int_equal(req.method, LD_M_GET);
	assert_int_equal(req.path, LD_P_READYZ);
	assert_int_equal(req.minor, 1);
	assert_int_equal(req.keep_alive, 0);
	assert_int_equal(req.length, sizeof(r) - 1);
}

static void
test_paths(void **state)
{
	static const struct {
		const char		*target;
		enum ld_http_path	 path;
	} t[] = {
		{ "/readyz", LD_P_READYZ }, { "/healthz", LD_P_HEALTHZ },
		{ "/livez", LD_P_LIVEZ }, { "/metrics", LD_P_METRICS },
		{ "/readyz?verbose", LD_P_READYZ }, { "/livez?", LD_P_LIVEZ },
		{ "/metrics?a=1&b=2", LD_P_METRICS },
		{ "/", LD_P_OTHER }, { "/readyz/", LD_P_OTHER },
		{ "/readyzz", LD_P_OTHER }, { "/ready", LD_P_OTHER },
		{ "/READYZ", LD_P_OTHER }, { "//readyz", LD_P_OTHER },
		{ "/%72eadyz", LD_P_OTHER }, { "/readyz#x", LD_P_OTHER },
		{ "/x?/readyz", LD_P_OTHER }, { "/favicon.ico", LD_P_OTHER },
		{ "http://10.0.0.1:8799/readyz", LD_P_READYZ },
		{ "HTTP://h/livez?x", LD_P_LIVEZ },
		{ "https://h/metrics", LD_P_METRICS },
		{ "http://h", LD_P_OTHER }, { "http://h?/readyz", LD_P_OTHER },
		{ "*", LD_P_OTHER },
	};
	struct ld_http_req req;
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n\r\n", t[i].target);
		if (parse(buf, &req) != LD_HTTP_OK)
			fail_msg("refused: %s", t[i].target);
		if (req.path != t[i].path)
			fail_msg("%s: path %d, not %d", t[i].target, req.path,
			    t[i].path);
	}
}

static void
test_methods(void **state)
{
	static const struct {
		const char		*method;
		enum ld_http_method	 m;
	} t[] = {
		{ "GET", LD_M_GET }, { "HEAD", LD_M_HEAD },
		{ "POST", LD_M_OTHER }, { "PUT", LD_M_OTHER },
		{ "DELETE", LD_M_OTHER }, { "OPTIONS", LD_M_OTHER },
		{ "get", LD_M_OTHER }, { "Head", LD_M_OTHER },
		{ "GETX", LD_M_OTHER }, { "GE", LD_M_OTHER },
		{ "M-SEARCH", LD_M_OTHER }, { "X!#$%&'*+-.^_`|~1", LD_M_OTHER },
	};
	struct ld_http_req req;
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /livez HTTP/1.1\r\n\r\n",
		    t[i].method);
		if (parse(buf, &req) != LD_HTTP_OK)
			fail_msg("refused: %s", t[i].method);
		assert_int_equal(req.method, t[i].m);
		assert_int_equal(req.path, LD_P_LIVEZ);
	}
	assert_int_equal(parse("HEAD /healthz HTTP/1.0\r\n\r\n", &req),
	    LD_HTTP_OK);
	assert_int_equal(req.method, LD_M_HEAD);
	assert_int_equal(req.path, LD_P_HEALTHZ);
	assert_int_equal(req.minor, 0);
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\n\r\n", &req), LD_HTTP_OK);
	assert_int_equal(req.method, LD_M_OTHER);
	assert_int_equal(req.path, LD_P_OTHER);
	/* 405 and 404 are the server's answers; the parser only tells them. */
	assert_int_equal(parse("POST /readyz HTTP/1.1\r\n\r\n", &req),
	    LD_HTTP_OK);
	assert_int_equal(req.method, LD_M_OTHER);
	assert_int_equal(req.path, LD_P_READYZ);
	assert_int_equal(parse("GET /nope HTTP/1.1\r\n\r\n", &req), LD_HTTP_OK);
	assert_int_equal(req.method, LD_M_GET);
	assert_int_equal(req.path, LD_P_OTHER);
}

static void
test_line_ends(void **state)
{
	struct ld_http_req req;

	(void)state;
	assert_int_equal(parse("GET /readyz HTTP/1.1\n\n", &req), LD_HTTP_OK);
	assert_int_equal(req.length, 22);
	assert_int_equal(parse("GET /readyz HTTP/1.1\nHost: x\r\n\n", &req),
	    LD_HTTP_OK);
	assert_int_equal(parse("GET /readyz HTTP/1.1\r\nHost: x\n\r\n", &req),
	    LD_HTTP_OK);
	/* Empty lines before a request are skipped (RFC 9112 2.2). */
	assert_int_equal(parse("\r\n\r\nGET /livez HTTP/1.1\r\n\r\n", &req),
	    LD_HTTP_OK);
	assert_int_equal(req.path, LD_P_LIVEZ);
	assert_int_equal(req.length, 27);
	assert_int_equal(parse("\r\n", &req), LD_HTTP_INCOMPLETE);
	/* A bare CR is no line end. */
	expect_bad("GET /readyz HTTP/1.1\rHost: x\r\n\r\n");
	expect_bad("GET /readyz HTTP/1.1\r\r\n\r\n");
	expect_bad("GET /readyz HTTP/1.1\r\nHost: x\ry\r\n\r\n");
	expect_bad("GET /readyz HTTP/1.1\r\nHost: x\r\r\n\r\n");
	expect_bad("GET /readyz HTTP/1.1\r\n\rX");
}

/* Fed a byte at a time, a request is INCOMPLETE until its last byte. */
static void
test_byte_by_byte(void **state)
{
	static const char *const reqs[] = {
		"GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
		"HEAD /metrics?x=1 HTTP/1.0\nUser-Agent: t\n\n",
		"\r\nGET http://h/livez HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nX:\r\n\r\n",
	};
	struct ld_http_req req;
	size_t i, n, len;

	(void)state;
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		len = strlen(reqs[i]);
		for (n = 0; n < len; n++)
			if (ld_http_parse(reqs[i], n, &req) != LD_HTTP_INCOMPLETE)
				fail_msg("request %zu: not incomplete at %zu",
				    i, n);
		assert_int_equal(ld_http_parse(reqs[i], len, &req), LD_HTTP_OK);
		assert_int_equal(req.length, len);
	}
}

static void
test_malformed(void **state)
{
	static const char *const t[] = {
		/* request line */
		"GET\r\n\r\n", "GET /readyz\r\n\r\n", "GET /readyz HTTP/1.1 \r\n\r\n",
		" GET /readyz HTTP/1.1\r\n\r\n", "GET  /readyz HTTP/1.1\r\n\r\n",
		"GET /readyz  HTTP/1.1\r\n\r\n", "GET\t/readyz HTTP/1.1\r\n\r\n",
		"GET /readyz\tHTTP/1.1\r\n\r\n", "GET / readyz HTTP/1.1\r\n\r\n",
		"GET /readyz HTTP/1.2\r\n\r\n", "GET /readyz HTTP/2.0\r\n\r\n",
		"GET /readyz HTTP/1.10\r\n\r\n", "GET /readyz HTTP/1\r\n\r\n",
		"GET /readyz HTTP/0.9\r\n\r\n", "GET /readyz http/1.1\r\n\r\n",
		"GET /readyz HTTPS/1.1\r\n\r\n", "GET /readyz HTTP/1.x\r\n\r\n",
		"GET /readyz\r\n", "G(T /readyz HTTP/1.1\r\n\r\n",
		"GET readyz HTTP/1.1\r\n\r\n", "GET ?x HTTP/1.1\r\n\r\n",
		"GET ** HTTP/1.1\r\n\r\n", "GET ftp://h/readyz HTTP/1.1\r\n\r\n",
		"GET http:/readyz HTTP/1.1\r\n\r\n", "GET http:// HTTP/1.1\r\n\r\n",
		"GET /ready\x7fz HTTP/1.1\r\n\r\n", "GET /r\xc3\xa9 HTTP/1.1\r\n\r\n",
		"GETTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT / HTTP/1.1\r\n\r\n",
		/* headers */
		"GET / HTTP/1.1\r\nHost\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHo\"st: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",
		/* bodies */
		"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.1\r\ncontent-length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 01\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: -0\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 0x0\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 7\r\n\r\n",
		"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nTRANSFER-ENCODING: identity\r\n\r\n",
		"GET / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
		/* not HTTP at all */
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"\r\n\r\n\x01",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect_bad(t[i]);
}

/* NUL bytes can not go through strlen: explicit lengths. */
static void
test_nul(void **state)
{
	static const char a[] = "GET /ready\0z HTTP/1.1\r\n\r\n";
	static const char b[] = "GET /readyz HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	static const char c[] = "GET /readyz HTTP/1.1\r\nHo\0st: x\r\n\r\n";
	static const char d[] = "\0GET /readyz HTTP/1.1\r\n\r\n";
	struct ld_http_req req;

	(void)state;
	assert_int_equal(ld_http_parse(a, sizeof(a) - 1, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse(b, sizeof(b) - 1, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse(c, sizeof(c) - 1, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse(d, 1, &req), LD_HTTP_BAD);
}

/* Garbage is cut at once, not after 8 KiB. */
static void
test_bad_early(void **state)
{
	struct ld_http_req req;

	(void)state;
	assert_int_equal(ld_http_parse("\x16\x03", 1, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse(" ", 1, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse("GET  ", 5, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse("GET x", 5, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse("GET / X", 7, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse("GET / HTTP/2", 12, &req), LD_HTTP_BAD);
	assert_int_equal(ld_http_parse("GET / HTTP/1.1 ", 15, &req),
	    LD_HTTP_BAD);
	assert_int_equal(ld_http_parse("GET / HTTP/1.1x", 15, &req),
	    LD_HTTP_BAD);
	assert_int_equal(parse("SSH-2.0-OpenSSH_9.2\r\n", &req), LD_HTTP_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost x", &req), LD_HTTP_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\n folded", &req), LD_HTTP_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\nA: \x01", &req), LD_HTTP_BAD);
	/* A body header is refused before the end of the headers. */
	assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n",
	    &req), LD_HTTP_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\nTransfer-Encoding: x\n",
	    &req), LD_HTTP_BAD);
	/* 33 method characters can not be a method. */
	assert_int_equal(parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &req),
	    LD_HTTP_BAD);
	assert_int_equal(parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &req),
	    LD_HTTP_INCOMPLETE);

	/* Prefixes of good requests are only incomplete. */
	assert_int_equal(parse("", &req), LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("G", &req), LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET ", &req), LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET /", &req), LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTTP/1.", &req), LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTTP/1.1\r", &req), LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost", &req),
	    LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x", &req),
	    LD_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n\r", &req),
	    LD_HTTP_INCOMPLETE);
}

static void
test_too_big(void **state)
{
	static char buf[LD_HTTP_MAX_REQUEST * 2];
	static const char head[] = "GET /readyz HTTP/1.1\r\nX-Pad: ";
	struct ld_http_req req;
	size_t n;

	(void)state;
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, head, sizeof(head) - 1);
	assert_int_equal(ld_http_parse(buf, LD_HTTP_MAX_REQUEST - 1, &req),
	    LD_HTTP_INCOMPLETE);
	assert_int_equal(ld_http_parse(buf, LD_HTTP_MAX_REQUEST, &req),
	    LD_HTTP_TOO_BIG);
	assert_int_equal(ld_http_parse(buf, sizeof(buf), &req),
	    LD_HTTP_TOO_BIG);

	/* Exactly the limit, ending in its blank line, is still a request. */
	n = LD_HTTP_MAX_REQUEST;
	memcpy(buf + n - 4, "\r\n\r\n", 4);
	assert_int_equal(ld_http_parse(buf, n, &req), LD_HTTP_OK);
	assert_int_equal(req.length, n);
	/* One byte more is not, whatever follows. */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, head, sizeof(head) - 1);
	memcpy(buf + n - 3, "\r\n\r\n", 4);
	assert_int_equal(ld_http_parse(buf, n + 1, &req), LD_HTTP_TOO_BIG);

	/* Many short headers, or endless empty lines, are too big too. */
	strcpy(buf, "GET / HTTP/1.1\r\n");
	for (n = strlen(buf); n + 6 < sizeof(buf); n += 6)
		memcpy(buf + n, "A: b\r\n", 6);
	assert_int_equal(ld_http_parse(buf, n, &req), LD_HTTP_TOO_BIG);
	memset(buf, '\n', sizeof(buf));
	assert_int_equal(ld_http_parse(buf, sizeof(buf), &req),
	    LD_HTTP_TOO_BIG);
}

static void
test_pipelined(void **state)
{
	static const char two[] = "GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n"
	    "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"
	    "GET /liv";
	struct ld_http_req req;
	size_t off;

	(void)state;
	assert_int_equal(ld_http_parse(two, sizeof(two) - 1, &req), LD_HTTP_OK);
	assert_int_equal(req.method, LD_M_GET);
	assert_int_equal(req.path, LD_P_READYZ);
	assert_int_equal(req.keep_alive, 1);
	off = req.length;
	assert_int_equal(off, 33);
	assert_int_equal(ld_http_parse(two + off, sizeof(two) - 1 - off, &req),
	    LD_HTTP_OK);
	assert_int_equal(req.method, LD_M_HEAD);
	assert_int_equal(req.path, LD_P_METRICS);
	assert_int_equal(req.keep_alive, 0);
	off += req.length;
	assert_int_equal(ld_http_parse(two + off, sizeof(two) - 1 - off, &req),
	    LD_HTTP_INCOMPLETE);
	assert_string_equal(two + off, "GET /liv");

	/* Garbage after a good request does not spoil it. */
	assert_int_equal(parse("GET /livez HTTP/1.1\r\n\r\n\x16\x03", &req),
	    LD_HTTP_OK);
	assert_int_equal(req.length, 23);
}

static void
test_keep_alive(void **state)
{
	static const struct {
		const char	*req;
		int		 minor;
		int		 keep_alive;
	} t[] = {
		{ "GET / HTTP/1.1\r\n\r\n", 1, 1 },
		{ "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 1, 0 },
		{ "GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", 1, 0 },
		{ "GET / HTTP/1.1\r\nconnection:CLOSE \r\n\r\n", 1, 0 },
		{ "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 1, 1 },
		{ "GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n", 1, 0 },
		{ "GET / HTTP/1.1\r\nConnection: ,close,\r\n\r\n", 1, 0 },
		{ "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 1, 1 },
		{ "GET / HTTP/1.1\r\nConnection: not close\r\n\r\n", 1, 1 },
		{ "GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n", 1, 1 },
		{ "GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
		    "Connection: close\r\n\r\n", 1, 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 0, 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, 1 },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, 1 },
		{ "GET / HTTP/1.0\r\nConnection: te,\tkeep-alive \r\n\r\n", 0, 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0, 0 },
		{ "GET / HTTP/1.0\r\nConnection: keepalive\r\n\r\n", 0, 0 },
		{ "GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", 0, 0 },
	};
	struct ld_http_req req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (parse(t[i].req, &req) != LD_HTTP_OK)
			fail_msg("refused: %s", t[i].req);
		assert_int_equal(req.minor, t[i].minor);
		if (req.keep_alive != t[i].keep_alive)
			fail_msg("keep_alive %d for: %s", req.keep_alive, t[i].req);
	}
}

static void
test_headers_accepted(void **state)
{
	static const char *const t[] = {
		"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length:0\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 00 \r\n\r\n",
		"GET / HTTP/1.1\r\nX-Empty:\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Tab:\tv\t\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Utf8: caf\xc3\xa9\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Colons: a:b::c\r\n\r\n",
		"GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nTransfer-Encodings: x\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Lengths: 5\r\n\r\n",
	};
	struct ld_http_req req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (parse(t[i], &req) != LD_HTTP_OK)
			fail_msg("refused: %s", t[i]);
}

/* Only OK fills req. */
static void
test_req_untouched(void **state)
{
	struct ld_http_req req, before;

	(void)state;
	memset(&req, 0x5a, sizeof(req));
	before = req;
	assert_int_equal(parse("GET / HTTP/1.1\r\n", &req), LD_HTTP_INCOMPLETE);
	assert_memory_equal(&req, &before, sizeof(req));
	assert_int_equal(parse("GET / HTTP/3\r\n", &req), LD_HTTP_BAD);
	assert_memory_equal(&req, &before, sizeof(req));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_bad_early),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_headers_accepted),
		cmocka_unit_test(test_req_untouched),
	};

	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
