/*
 * Configuration: every LAMEDUCK_* variable, parsed strictly and shown in
 * one place, so that what is shown (lameduck --check) parses back.
 *
 * Pure: no getenv (the caller passes a look-up), no I/O, no allocation, no
 * global state. A value is either exactly right or refused with one line
 * that names the variable, the value and what is accepted; nothing is
 * guessed at, since a guessed configuration fails later and more quietly.
 *
 * Choices the README leaves open, made once here:
 * - Signal names are upper case only (TERM, SIGTERM); "term" is refused,
 *   as kill(1) and the README spell them.
 * - Durations take no fractions: "1.5s" is refused, write "1s500ms".
 * - Numbers that name things (signals, ports) take no leading zero, since
 *   "010" reads as octal to some; durations are quantities and allow "1m05s".
 * - KILL and STOP are never delivered: the program could not react to them.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"

#include "config.h"

#define SHOW_VALUE	64	/* bytes of a value quoted in a message */
#define SHOW_ITEM	32	/* bytes of a list item quoted in a message */
#define DEFAULT_HEALTH	":8799"

/* Where a message goes and what it is about; NULL when nobody wants one. */
struct ld_err {
	char		*buf;
	size_t		 len;
	const char	*var;
	const char	*val;
};

/* Bounded appending to a buffer; off never passes len - 1. */
struct ld_out {
	char	*buf;
	size_t	 len;
	size_t	 off;
	int	 cut;		/* something did not fit */
};

static void	out_start(struct ld_out *, char *, size_t);
static void	out_mem(struct ld_out *, const char *, size_t);
static void	out_str(struct ld_out *, const char *);
static void	out_int(struct ld_out *, int);
static void	out_quoted(struct ld_out *, const char *, size_t, size_t);
static int	fail(const struct ld_err *, const char *, size_t, const char *, ...)
		    __attribute__((format(printf, 4, 5)));
static int	all_digits(const char *, size_t);
static int	parse_number(const char *, size_t, int, long long, long long *);
static int	duration(const char *, long long *);
static int	duration_var(const char *, long long *, const struct ld_err *);
static int	fitted(int, size_t);
static int	unit_at(const char *, size_t *, long long *, int *);
static int	format_duration(long long, char *, size_t, int);
static void	out_duration(struct ld_out *, long long);
static const char *undeliverable(int);
static int	signal_item(const struct ld_err *, const char *, size_t, int *);
static int	signal_list(const char *, uint64_t *, const struct ld_err *);
static int	deliver(const char *, uint64_t, int *, const struct ld_err *);
static int	health_host(const char *, size_t, int, uint16_t,
		    struct sockaddr_storage *, socklen_t *);
static int	health(const char *, struct ld_config *, const struct ld_err *);
static void	out_sockaddr(struct ld_out *, const struct sockaddr *);
static void	out_health(struct ld_out *, const struct ld_config *);
static int	port_number(const char *, size_t, uint16_t *);
static int	ports(const char *, uint16_t *, int *, const struct ld_err *);
static void	out_signals(struct ld_out *, uint64_t);
static int	word(const char *, const char *const *, const struct ld_err *);
static void	show_word(struct ld_out *, const char *const *, int);

static void
out_start(struct ld_out *o, char *buf, size_t len)
{
	o->buf = buf;
	o->len = len;
	o->off = 0;
	o->cut = 0;
	if (buf != NULL && len > 0)
		buf[0] = '\0';
	else
		o->len = 0;
}

static void
out_mem(struct ld_out *o, const char *s, size_t n)
{
	size_t room;

	if (o->len == 0) {
		o->cut = 1;
		return;
	}
	room = o->len - 1 - o->off;
	if (n > room) {
		n = room;
		o->cut = 1;
	}
	memcpy(o->buf + o->off, s, n);
	o->off += n;
	o->buf[o->off] = '\0';
}

static void
out_str(struct ld_out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void
out_int(struct ld_out *o, int v)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", v);
	out_str(o, num);
}

/*
 * A value between double quotes, shown safely: it may hold a terminal escape
 * or be megabytes long, and the message must stay one readable line.
 */
static void
out_quoted(struct ld_out *o, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, show;
	unsigned char c;
	char esc[4];

	show = n > max ? max : n;
	out_str(o, "\"");
	for (i = 0; i < show; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			out_mem(o, esc, 2);
		} else if (c < 0x20 || c > 0x7e) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 0xf];
			out_mem(o, esc, 4);
		} else
			out_mem(o, (const char *)&c, 1);
	}
	out_str(o, "\"");
	if (show < n)
		out_str(o, "...");
}

/*
 * Writes `VAR="value"[: "item"] reason` and returns -1. The item is named
 * only when it is a part of the value, not the whole of it.
 */
static int
fail(const struct ld_err *e, const char *item, size_t itemlen,
    const char *fmt, ...)
{
	struct ld_out o;
	size_t vlen;
	va_list ap;

	if (e == NULL || e->buf == NULL || e->len == 0)
		return -1;
	out_start(&o, e->buf, e->len);
	vlen = strlen(e->val);
	out_str(&o, e->var);
	out_str(&o, "=");
	out_quoted(&o, e->val, vlen, SHOW_VALUE);
	if (item != NULL && !(item == e->val && itemlen == vlen)) {
		out_str(&o, ": ");
		out_quoted(&o, item, itemlen, SHOW_ITEM);
	}
	out_str(&o, " ");
	if (o.off < o.len - 1) {
		va_start(ap, fmt);
		vsnprintf(o.buf + o.off, o.len - o.off, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * s[0..n) as a decimal number in 0..max. Returns 0, -1 when it is not one
 * (strtonum alone would take spaces and signs), or -2 when it is too large.
 */
static int
parse_number(const char *s, size_t n, int leading_zero, long long max,
    long long *v)
{
	char buf[24];
	const char *errstr;
	long long x;

	if (!all_digits(s, n))
		return -1;
	if (!leading_zero && n > 1 && s[0] == '0')
		return -1;
	if (n >= sizeof(buf))
		return -2;
	memcpy(buf, s, n);
	buf[n] = '\0';
	x = strtonum(buf, 0, max, &errstr);
	if (errstr != NULL)
		return -2;
	*v = x;
	return 0;
}

/* Reads the unit at s[*i]; rank 3 for h down to 0 for ms. */
static int
unit_at(const char *s, size_t *i, long long *unit_ms, int *rank)
{
	switch (s[*i]) {
	case 'h':
		*unit_ms = 3600 * 1000;
		*rank = 3;
		break;
	case 'm':
		if (s[*i + 1] == 's') {
			*unit_ms = 1;
			*rank = 0;
			(*i)++;
		} else {
			*unit_ms = 60 * 1000;
			*rank = 2;
		}
		break;
	case 's':
		*unit_ms = 1000;
		*rank = 1;
		break;
	default:
		return -1;
	}
	(*i)++;
	return 0;
}

/*
 * Returns 0, -1 when s is not a duration, -2 when it is one but over the
 * maximum: the two deserve different messages. The whole string is checked
 * before the size, so "2h5x" is malformed rather than too long.
 */
static int
duration(const char *s, long long *ms)
{
	long long total, v, unit_ms;
	size_t i, start;
	int rank, last, big, rc;

	if (all_digits(s, strlen(s))) {
		rc = parse_number(s, strlen(s), 1, LD_MAX_DURATION_MS / 1000, &v);
		if (rc != 0)
			return rc;
		*ms = v * 1000;
		return 0;
	}
	total = 0;
	last = 4;
	big = 0;
	i = 0;
	while (s[i] != '\0') {
		start = i;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return -1;
		rc = parse_number(s + start, i - start, 1, LD_MAX_DURATION_MS, &v);
		if (unit_at(s, &i, &unit_ms, &rank) != 0 || rank >= last)
			return -1;
		last = rank;
		if (rc != 0 || v > LD_MAX_DURATION_MS / unit_ms)
			big = 1;
		else
			total += v * unit_ms;
	}
	if (i == 0)
		return -1;
	if (big || total > LD_MAX_DURATION_MS)
		return -2;
	*ms = total;
	return 0;
}

int
ld_parse_duration(const char *s, long long *ms)
{
	long long v;

	if (s == NULL || duration(s, &v) != 0)
		return -1;
	*ms = v;
	return 0;
}

static int
duration_var(const char *s, long long *ms, const struct ld_err *e)
{
	switch (duration(s, ms)) {
	case 0:
		return 0;
	case -2:
		return fail(e, NULL, 0, "is longer than the maximum 1h");
	}
	if (strchr(s, '.') != NULL)
		return fail(e, NULL, 0,
		    "is not a duration (no fractions: write 1s500ms, not 1.5s)");
	return fail(e, NULL, 0, "is not a duration (try 500ms, 5s, 1m)");
}

/* snprintf's answer as ours: 0 when it all fitted. */
static int
fitted(int w, size_t len)
{
	return w >= 0 && (size_t)w < len ? 0 : -1;
}

/*
 * For people, "1.5s" reads better than "1s500ms", which is what the parser
 * takes (no fractions): exact says which.
 */
static int
format_duration(long long ms, char *buf, size_t len, int exact)
{
	char frac[8];
	long long h, m, s, rest;
	size_t n;
	int w;

	if (buf == NULL || len == 0)
		return -1;
	if (ms == 0)
		return fitted(snprintf(buf, len, "0s"), len);
	if (ms < 1000)
		return fitted(snprintf(buf, len, "%lldms", ms), len);
	h = ms / 3600000;
	m = ms / 60000 % 60;
	s = ms / 1000 % 60;
	rest = ms % 1000;
	frac[0] = '\0';
	if (rest != 0 && !exact) {
		snprintf(frac, sizeof(frac), ".%03lld", rest);
		n = strlen(frac);
		while (frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	buf[0] = '\0';
	w = 0;
	if (h != 0)
		w = snprintf(buf, len, "%lldh", h);
	if (m != 0 && fitted(w, len) == 0)
		w += snprintf(buf + w, len - (size_t)w, "%lldm", m);
	if ((s != 0 || (rest != 0 && !exact)) && fitted(w, len) == 0)
		w += snprintf(buf + w, len - (size_t)w, "%lld%ss", s, frac);
	if (rest != 0 && exact && fitted(w, len) == 0)
		w += snprintf(buf + w, len - (size_t)w, "%lldms", rest);
	return fitted(w, len);
}

int
ld_format_duration(long long ms, char *buf, size_t len)
{
	return format_duration(ms, buf, len, 0);
}

int
ld_format_duration_exact(long long ms, char *buf, size_t len)
{
	return format_duration(ms, buf, len, 1);
}

static void
out_duration(struct ld_out *o, long long ms)
{
	char buf[32];	/* even LLONG_MAX ms fits */

	if (format_duration(ms, buf, sizeof(buf), 1) != 0)
		o->cut = 1;
	out_str(o, buf);
}

static const struct {
	const char	*name;
	int		 sig;
} signames[] = {
	{ "HUP", SIGHUP },	{ "INT", SIGINT },	{ "QUIT", SIGQUIT },
	{ "ILL", SIGILL },	{ "TRAP", SIGTRAP },	{ "ABRT", SIGABRT },
	{ "BUS", SIGBUS },	{ "FPE", SIGFPE },	{ "KILL", SIGKILL },
	{ "USR1", SIGUSR1 },	{ "SEGV", SIGSEGV },	{ "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE },	{ "ALRM", SIGALRM },	{ "TERM", SIGTERM },
#ifdef SIGSTKFLT
	{ "STKFLT", SIGSTKFLT },
#endif
	{ "CHLD", SIGCHLD },	{ "CONT", SIGCONT },	{ "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP },	{ "TTIN", SIGTTIN },	{ "TTOU", SIGTTOU },
	{ "URG", SIGURG },	{ "XCPU", SIGXCPU },	{ "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },	{ "WINCH", SIGWINCH },
	{ "IO", SIGIO },	{ "PWR", SIGPWR },	{ "SYS", SIGSYS },
	/* Aliases after the names, so that look-ups by number find the name. */
	{ "IOT", SIGABRT },	{ "POLL", SIGIO },	{ "CLD", SIGCHLD },
};

int
ld_parse_signal(const char *s, int *sig)
{
	long long n;
	size_t i;
	int base, dir, rtmin, rtmax, v;

	if (s == NULL)
		return -1;
	if (strncmp(s, "SIG", 3) == 0) {
		s += 3;
		/* "SIG15" is neither a name nor a number. */
		if (*s >= '0' && *s <= '9')
			return -1;
	}
	if (all_digits(s, strlen(s))) {
		if (parse_number(s, strlen(s), 0, LD_NSIG - 1, &n) != 0 || n < 1)
			return -1;
		*sig = (int)n;
		return 0;
	}
	/* Real-time signals are counted at run time: glibc keeps a few. */
	rtmin = SIGRTMIN;
	rtmax = SIGRTMAX;
	if (strncmp(s, "RTMIN", 5) == 0 || strncmp(s, "RTMAX", 5) == 0) {
		base = s[4] == 'N' ? rtmin : rtmax;
		s += 5;
		if (*s == '\0') {
			*sig = base;
			return 0;
		}
		dir = base == rtmin ? '+' : '-';
		if (*s != dir || parse_number(s + 1, strlen(s + 1), 0,
		    rtmax - rtmin, &n) != 0)
			return -1;
		v = dir == '+' ? base + (int)n : base - (int)n;
		if (v < rtmin || v > rtmax)
			return -1;
		*sig = v;
		return 0;
	}
	for (i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
		if (strcmp(s, signames[i].name) == 0) {
			*sig = signames[i].sig;
			return 0;
		}
	return -1;
}

int
ld_signal_allowed(int sig)
{
	if (sig < 1 || sig >= LD_NSIG)
		return 0;
	/* Between 31 and SIGRTMIN glibc keeps its own (cancellation, setxid). */
	if (sig > 31 && (sig < SIGRTMIN || sig > SIGRTMAX))
		return 0;
	switch (sig) {
	case SIGKILL: case SIGSTOP:	/* can not be caught */
	case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE:
	case SIGTRAP: case SIGSYS:	/* faults: delaying them is wrong */
		return 0;
	}
	return 1;
}

const char *
ld_signal_name(int sig, char *buf, size_t len)
{
	size_t i;
	int rtmin, rtmax;

	if (buf == NULL || len == 0)
		return "";
	rtmin = SIGRTMIN;
	rtmax = SIGRTMAX;
	if (sig == rtmin)
		strlcpy(buf, "RTMIN", len);
	else if (sig == rtmax)
		strlcpy(buf, "RTMAX", len);
	/* As kill -l numbers them: the lower half up from RTMIN, the rest down. */
	else if (sig > rtmin && sig < rtmax && sig - rtmin <= (rtmax - rtmin) / 2)
		snprintf(buf, len, "RTMIN+%d", sig - rtmin);
	else if (sig > rtmin && sig < rtmax)
		snprintf(buf, len, "RTMAX-%d", rtmax - sig);
	else {
		for (i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
			if (signames[i].sig == sig) {
				strlcpy(buf, signames[i].name, len);
				return buf;
			}
		snprintf(buf, len, "%d", sig);
	}
	return buf;
}

/* One signal named by s[0..n), a piece of a list. */
static int
signal_item(const struct ld_err *e, const char *s, size_t n, int *sig)
{
	char buf[16];

	if (n == 0)
		return fail(e, NULL, 0, "has an empty item");
	if (n < sizeof(buf)) {
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (ld_parse_signal(buf, sig) == 0)
			return 0;
	}
	return fail(e, s, n, "is not a signal "
	    "(try TERM, SIGTERM, 15 or RTMIN+2; names are upper case)");
}

/* A set as a list in signal order: what LAMEDUCK_SIGNALS takes back. */
static void
out_signals(struct ld_out *o, uint64_t set)
{
	char name[16];
	size_t start;
	int sig;

	start = o->off;
	for (sig = 1; sig < LD_NSIG; sig++) {
		if (!ld_sigset_has(set, sig))
			continue;
		if (o->off > start)
			out_str(o, ",");
		out_str(o, ld_signal_name(sig, name, sizeof(name)));
	}
}

int
ld_format_signals(uint64_t set, char *buf, size_t len)
{
	struct ld_out o;

	out_start(&o, buf, len);
	out_signals(&o, set);
	return o.cut ? -1 : 0;
}

static int
signal_list(const char *s, uint64_t *set, const struct ld_err *e)
{
	const char *p, *comma;
	char name[16];
	uint64_t acc;
	size_t n;
	int sig;

	acc = 0;
	p = s;
	for (;;) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (signal_item(e, p, n, &sig) != 0)
			return -1;
		if (!ld_signal_allowed(sig))
			return fail(e, p, n, "can not be a lame-duck signal "
			    "(not KILL, STOP, SEGV, BUS, ILL, FPE, TRAP, SYS, "
#ifdef __GLIBC__
			    "32, 33)");
#else
			    "32, 33, 34)");	/* musl keeps 32-34: SIGRTMIN is 35 */
#endif
		if (ld_sigset_has(acc, sig))
			return fail(e, p, n, "repeats %s",
			    ld_signal_name(sig, name, sizeof(name)));
		acc |= (uint64_t)1 << (sig - 1);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*set = acc;
	return 0;
}

int
ld_parse_signal_list(const char *s, uint64_t *set)
{
	if (s == NULL || *s == '\0')
		return -1;
	return signal_list(s, set, NULL);
}

/* Why sig can not be delivered, or NULL when it can. */
static const char *
undeliverable(int sig)
{
	if (sig == SIGKILL || sig == SIGSTOP)
		return "a program can not react to KILL or STOP";
	if (sig > 31 && (sig < SIGRTMIN || sig > SIGRTMAX))
#ifdef __GLIBC__
		return "glibc keeps 32 and 33 for itself";
#else
		return "musl keeps 32 to 34 for itself";
#endif
	return NULL;
}

static int
deliver(const char *s, uint64_t signals, int *out, const struct ld_err *e)
{
	const char *p, *comma, *colon, *why;
	char name[16], set[LD_NSIG * 10];
	int map[LD_NSIG], sig, to, i;
	uint64_t seen;
	size_t n;

	memset(map, 0, sizeof(map));
	if (strchr(s, ':') == NULL) {
		if (ld_parse_signal(s, &to) != 0)
			return fail(e, NULL, 0, "is not a signal (one name such "
			    "as QUIT, or a map TERM:QUIT,INT:INT)");
		if ((why = undeliverable(to)) != NULL)
			return fail(e, NULL, 0, "can not be delivered (%s)", why);
		for (i = 1; i < LD_NSIG; i++)
			if (ld_sigset_has(signals, i))
				map[i] = to;
		memcpy(out, map, sizeof(map));
		return 0;
	}
	/* Signals the map leaves out deliver themselves. */
	for (i = 1; i < LD_NSIG; i++)
		if (ld_sigset_has(signals, i))
			map[i] = i;
	seen = 0;
	p = s;
	for (;;) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0)
			return fail(e, NULL, 0, "has an empty item");
		colon = memchr(p, ':', n);
		if (colon == NULL || colon == p || colon == p + n - 1)
			return fail(e, p, n, "is not a pair such as TERM:QUIT");
		if (signal_item(e, p, (size_t)(colon - p), &sig) != 0 ||
		    signal_item(e, colon + 1, n - (size_t)(colon - p) - 1,
		    &to) != 0)
			return -1;
		ld_signal_name(sig, name, sizeof(name));
		if (!ld_sigset_has(signals, sig)) {
			ld_format_signals(signals, set, sizeof(set));
			return fail(e, p, n, "maps %s, which is not in "
			    "LAMEDUCK_SIGNALS (%s)", name, set);
		}
		if (ld_sigset_has(seen, sig))
			return fail(e, p, n, "maps %s twice", name);
		seen |= (uint64_t)1 << (sig - 1);
		if ((why = undeliverable(to)) != NULL)
			return fail(e, p, n, "can not be delivered (%s)", why);
		map[sig] = to;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	memcpy(out, map, sizeof(map));
	return 0;
}

int
ld_parse_deliver(const char *s, uint64_t signals, int out[LD_NSIG])
{
	if (s == NULL || *s == '\0')
		return -1;
	return deliver(s, signals, out, NULL);
}

static int
port_number(const char *s, size_t n, uint16_t *port)
{
	long long v;

	if (parse_number(s, n, 0, 65535, &v) != 0 || v < 1)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* The host part of LAMEDUCK_HEALTH, numeric only: a name would need DNS. */
static int
health_host(const char *host, size_t hlen, int v6, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char buf[64];

	if (hlen >= sizeof(buf))
		return -1;
	memcpy(buf, host, hlen);
	buf[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		memset(&sin6, 0, sizeof(sin6));
		if (inet_pton(AF_INET6, buf, &sin6.sin6_addr) != 1)
			return -1;
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		memcpy(ss, &sin6, sizeof(sin6));
		*sslen = sizeof(sin6);
	} else {
		memset(&sin, 0, sizeof(sin));
		if (inet_pton(AF_INET, buf, &sin.sin_addr) != 1)
			return -1;
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		memcpy(ss, &sin, sizeof(sin));
		*sslen = sizeof(sin);
	}
	return 0;
}

static int
health(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	static const char hint[] =
	    "is not an address (try :8799, 127.0.0.1:8799, [::1]:8799 or off)";
	struct sockaddr_storage ss;
	struct sockaddr_in6 sin6;
	const char *host, *portstr, *rb, *colon;
	socklen_t sslen;
	uint16_t port;
	size_t hlen;
	int v6;

	if (strcmp(s, "off") == 0) {
		cfg->health_off = 1;
		cfg->health_any = 0;
		memset(&cfg->health_addr, 0, sizeof(cfg->health_addr));
		cfg->health_addrlen = 0;
		cfg->health_port = 0;
		return 0;
	}
	host = s;
	v6 = s[0] == '[';
	if (v6) {
		rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return fail(e, NULL, 0, "%s", hint);
		host = s + 1;
		hlen = (size_t)(rb - host);
		portstr = rb + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return fail(e, NULL, 0, "needs brackets around an "
			    "IPv6 address, e.g. [::1]:8799");
		hlen = (size_t)(colon - s);
		portstr = colon + 1;
	} else {
		hlen = 0;
		portstr = s;
		if (!all_digits(s, strlen(s)))
			return fail(e, NULL, 0, "%s", hint);
	}
	if (port_number(portstr, strlen(portstr), &port) != 0)
		return fail(e, NULL, 0, "has a bad port (1 to 65535)");
	if (hlen == 0 && !v6) {
		/* Every address: the shim falls back to IPv4 without IPv6. */
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr = in6addr_any;
		sin6.sin6_port = htons(port);
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, &sin6, sizeof(sin6));
		sslen = sizeof(sin6);
	} else if (health_host(host, hlen, v6, port, &ss, &sslen) != 0)
		return fail(e, NULL, 0, "has a bad host "
		    "(a numeric IPv4 address, or IPv6 in brackets)");
	cfg->health_off = 0;
	cfg->health_any = hlen == 0 && !v6;
	cfg->health_addr = ss;
	cfg->health_addrlen = sslen;
	cfg->health_port = port;
	return 0;
}

int
ld_parse_health(const char *s, struct ld_config *cfg)
{
	if (s == NULL || *s == '\0')
		return -1;
	return health(s, cfg, NULL);
}

/* Copied out: the caller's address need not be aligned for its family. */
static void
out_sockaddr(struct ld_out *o, const struct sockaddr *sa)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
		out_str(o, "[");
		out_str(o, host);
		out_str(o, "]:");
		out_int(o, ntohs(sin6.sin6_port));
		break;
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
		out_str(o, host);
		out_str(o, ":");
		out_int(o, ntohs(sin.sin_port));
		break;
	default:
		out_str(o, "(family ");
		out_int(o, sa->sa_family);
		out_str(o, ")");
	}
}

int
ld_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
	struct ld_out o;

	out_start(&o, buf, len);
	out_sockaddr(&o, sa);
	return o.cut ? -1 : 0;
}

/* As LAMEDUCK_HEALTH takes it: every address is ":port", not "[::]:port". */
static void
out_health(struct ld_out *o, const struct ld_config *cfg)
{
	if (cfg->health_off)
		out_str(o, "off");
	else if (cfg->health_any) {
		out_str(o, ":");
		out_int(o, cfg->health_port);
	} else
		out_sockaddr(o, (const struct sockaddr *)&cfg->health_addr);
}

int
ld_format_health(const struct ld_config *cfg, char *buf, size_t len)
{
	struct ld_out o;

	out_start(&o, buf, len);
	out_health(&o, cfg);
	return o.cut ? -1 : 0;
}

static int
ports(const char *s, uint16_t *out, int *nout, const struct ld_err *e)
{
	uint16_t list[LD_MAX_PORTS], port;
	const char *p, *comma;
	size_t n;
	int count, i;

	count = 0;
	p = s;
	for (;;) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0)
			return fail(e, NULL, 0, "has an empty item");
		if (port_number(p, n, &port) != 0)
			return fail(e, p, n, "is not a port (1 to 65535)");
		for (i = 0; i < count; i++)
			if (list[i] == port)
				return fail(e, p, n, "is listed twice");
		if (count == LD_MAX_PORTS)
			return fail(e, NULL, 0, "lists more than %d ports",
			    LD_MAX_PORTS);
		list[count++] = port;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	memcpy(out, list, sizeof(list[0]) * (size_t)count);
	*nout = count;
	return 0;
}

int
ld_parse_ports(const char *s, uint16_t *out, int *nout)
{
	if (s == NULL || *s == '\0')
		return -1;
	return ports(s, out, nout, NULL);
}

void
ld_config_defaults(struct ld_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->delay_ms = 10 * 1000;
	cfg->drain_timeout_ms = 15 * 1000;
	cfg->drain = LD_DRAIN_ALWAYS;
	cfg->signals = (uint64_t)1 << (SIGTERM - 1);
	cfg->deliver[SIGTERM] = SIGTERM;
	health(DEFAULT_HEALTH, cfg, NULL);
	cfg->nports = 0;
	cfg->ready = LD_READY_LISTEN;
	cfg->retire = 1;
	cfg->log_level = LD_LOG_INFO;
	cfg->log_format = LD_FMT_TEXT;
}

/* An exact word from a short list; its index, or -1 with a message. */
static int
word(const char *s, const char *const *words, const struct ld_err *e)
{
	char list[80];
	struct ld_out o;
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	out_start(&o, list, sizeof(list));
	for (i = 0; words[i] != NULL; i++) {
		if (i > 0)
			out_str(&o, ", ");
		out_str(&o, words[i]);
	}
	return fail(e, NULL, 0, "is not one of %s", list);
}

/* The word for v; a value no word names shows as its number. */
static void
show_word(struct ld_out *o, const char *const *words, int v)
{
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (i == v) {
			out_str(o, words[i]);
			return;
		}
	out_int(o, v);
}

/* Each list is indexed by its enum: the index word() finds is the value. */
static const char *const drains[] = { [LD_DRAIN_ALWAYS] = "always",
    [LD_DRAIN_AUTO] = "auto", [LD_DRAIN_NEVER] = "never", NULL };
static const char *const readies[] = { [LD_READY_LISTEN] = "listen",
    [LD_READY_START] = "start", NULL };
static const char *const levels[] = { [LD_LOG_OFF] = "off",
    [LD_LOG_ERROR] = "error", [LD_LOG_WARN] = "warn",
    [LD_LOG_INFO] = "info", [LD_LOG_DEBUG] = "debug", NULL };
static const char *const formats[] = { [LD_FMT_TEXT] = "text",
    [LD_FMT_JSON] = "json", NULL };

/*
 * Each variable has a parser and a show, which writes the value so that the
 * parser takes it back: durations exactly ("1s500ms", not "1.5s").
 */
static int
var_delay(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	return duration_var(s, &cfg->delay_ms, e);
}

static void
show_delay(const struct ld_config *cfg, struct ld_out *o)
{
	out_duration(o, cfg->delay_ms);
}

static int
var_drain_timeout(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	return duration_var(s, &cfg->drain_timeout_ms, e);
}

static void
show_drain_timeout(const struct ld_config *cfg, struct ld_out *o)
{
	out_duration(o, cfg->drain_timeout_ms);
}

static int
var_drain(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	int i;

	if ((i = word(s, drains, e)) < 0)
		return -1;
	cfg->drain = (enum ld_drain)i;
	return 0;
}

static void
show_drain(const struct ld_config *cfg, struct ld_out *o)
{
	show_word(o, drains, (int)cfg->drain);
}

/* Delivery follows the signals; LAMEDUCK_DELIVER, read next, may change it. */
static int
var_signals(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	int sig;

	if (signal_list(s, &cfg->signals, e) != 0)
		return -1;
	memset(cfg->deliver, 0, sizeof(cfg->deliver));
	for (sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(cfg->signals, sig))
			cfg->deliver[sig] = sig;
	return 0;
}

static void
show_signals(const struct ld_config *cfg, struct ld_out *o)
{
	out_signals(o, cfg->signals);
}

static int
var_deliver(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	return deliver(s, cfg->signals, cfg->deliver, e);
}

/* One name when every signal becomes the same one, else a map. */
static void
show_deliver(const struct ld_config *cfg, struct ld_out *o)
{
	char from[16], to[16];
	size_t start;
	int sig, target, same;

	same = 1;
	target = 0;
	for (sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(cfg->signals, sig)) {
			if (target != 0 && cfg->deliver[sig] != target)
				same = 0;
			target = cfg->deliver[sig];
		}
	if (same) {
		out_str(o, ld_signal_name(target, to, sizeof(to)));
		return;
	}
	start = o->off;
	for (sig = 1; sig < LD_NSIG; sig++) {
		if (!ld_sigset_has(cfg->signals, sig))
			continue;
		if (o->off > start)
			out_str(o, ",");
		out_str(o, ld_signal_name(sig, from, sizeof(from)));
		out_str(o, ":");
		out_str(o, ld_signal_name(cfg->deliver[sig], to, sizeof(to)));
	}
}

static int
var_health(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	return health(s, cfg, e);
}

static void
show_health(const struct ld_config *cfg, struct ld_out *o)
{
	out_health(o, cfg);
}

static int
var_ports(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	return ports(s, cfg->ports, &cfg->nports, e);
}

/* Nothing for the default, every TCP listener: no value says that. */
static void
show_ports(const struct ld_config *cfg, struct ld_out *o)
{
	int i;

	for (i = 0; i < cfg->nports; i++) {
		if (i > 0)
			out_str(o, ",");
		out_int(o, cfg->ports[i]);
	}
}

static int
var_ready(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	int i;

	if ((i = word(s, readies, e)) < 0)
		return -1;
	cfg->ready = (enum ld_ready)i;
	return 0;
}

static void
show_ready(const struct ld_config *cfg, struct ld_out *o)
{
	show_word(o, readies, (int)cfg->ready);
}

static const char *const switches[] = { "off", "on", NULL };

static int
var_retire(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	int i;

	if ((i = word(s, switches, e)) < 0)
		return -1;
	cfg->retire = i;
	return 0;
}

static void
show_retire(const struct ld_config *cfg, struct ld_out *o)
{
	show_word(o, switches, cfg->retire);
}

static int
var_log(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	int i;

	if ((i = word(s, levels, e)) < 0)
		return -1;
	cfg->log_level = (enum ld_level)i;
	return 0;
}

static void
show_log(const struct ld_config *cfg, struct ld_out *o)
{
	show_word(o, levels, (int)cfg->log_level);
}

static int
var_log_format(const char *s, struct ld_config *cfg, const struct ld_err *e)
{
	int i;

	if ((i = word(s, formats, e)) < 0)
		return -1;
	cfg->log_format = (enum ld_format)i;
	return 0;
}

static void
show_log_format(const struct ld_config *cfg, struct ld_out *o)
{
	show_word(o, formats, (int)cfg->log_format);
}

/* Read in enum ld_var's order, the README's, so errors are found in it too. */
static const struct {
	const char	*name;
	const char	*unset;		/* how to get the default */
	int		(*parse)(const char *, struct ld_config *,
			    const struct ld_err *);
	void		(*show)(const struct ld_config *, struct ld_out *);
} vars[LD_NVARS] = {
	[LD_VAR_DELAY] = { "LAMEDUCK_DELAY", "unset it for the default 10s",
	    var_delay, show_delay },
	[LD_VAR_DRAIN_TIMEOUT] = { "LAMEDUCK_DRAIN_TIMEOUT",
	    "unset it for the default 15s", var_drain_timeout,
	    show_drain_timeout },
	[LD_VAR_DRAIN] = { "LAMEDUCK_DRAIN", "unset it for the default always",
	    var_drain, show_drain },
	[LD_VAR_SIGNALS] = { "LAMEDUCK_SIGNALS",
	    "unset it for the default TERM", var_signals, show_signals },
	[LD_VAR_DELIVER] = { "LAMEDUCK_DELIVER",
	    "unset it to deliver the signal received", var_deliver,
	    show_deliver },
	[LD_VAR_HEALTH] = { "LAMEDUCK_HEALTH",
	    "unset it for the default " DEFAULT_HEALTH, var_health,
	    show_health },
	[LD_VAR_PORTS] = { "LAMEDUCK_PORTS",
	    "unset it to count every TCP listener", var_ports, show_ports },
	[LD_VAR_READY] = { "LAMEDUCK_READY", "unset it for the default listen",
	    var_ready, show_ready },
	[LD_VAR_LOG] = { "LAMEDUCK_LOG", "unset it for the default info",
	    var_log, show_log },
	[LD_VAR_LOG_FORMAT] = { "LAMEDUCK_LOG_FORMAT",
	    "unset it for the default text", var_log_format, show_log_format },
	[LD_VAR_RETIRE] = { "LAMEDUCK_RETIRE", "unset it for the default on",
	    var_retire, show_retire },
};

const char *
ld_config_name(enum ld_var v)
{
	if ((unsigned int)v >= LD_NVARS)
		return NULL;
	return vars[v].name;
}

int
ld_config_show(const struct ld_config *cfg, enum ld_var v, char *buf,
    size_t len)
{
	struct ld_out o;

	out_start(&o, buf, len);
	if ((unsigned int)v >= LD_NVARS)
		return -1;
	vars[v].show(cfg, &o);
	return o.cut ? -1 : 0;
}

int
ld_config_load(struct ld_config *cfg, ld_getenv_fn get, void *ctx,
    char *err, size_t errlen)
{
	struct ld_err e;
	const char *val;
	size_t i;

	ld_config_defaults(cfg);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (i = 0; i < LD_NVARS; i++) {
		val = get(vars[i].name, ctx);
		if (val == NULL)
			continue;
		e.buf = err;
		e.len = errlen;
		e.var = vars[i].name;
		e.val = val;
		if (*val == '\0')
			return fail(&e, NULL, 0, "is empty (%s)",
			    vars[i].unset);
		if (vars[i].parse(val, cfg, &e) != 0)
			return -1;
	}
	return 0;
}

/* The process's configuration, loaded once by the constructor. */
struct ld_config ld_cfg;
