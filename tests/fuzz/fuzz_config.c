/*
 * libFuzzer target for ld_config_load: every LAMEDUCK_* variable at once.
 *
 * The input is split at NUL bytes (an environment value never holds one)
 * into the ten values, in the order the loader reads them: DELAY,
 * DRAIN_TIMEOUT, DRAIN, SIGNALS, DELIVER, HEALTH, PORTS, READY, LOG,
 * LOG_FORMAT. A missing field, or one that is the single byte 0xff, is
 * unset. The first byte of an eleventh field, if any, less one, is the size
 * of the message buffer (0 to 254; 256 otherwise), a heap block of exactly
 * that size, so a message written past it is caught.
 *
 * Properties:
 * - the getter is asked each known name at most once, in order;
 * - on success every value is in range, unset ones are the defaults, set
 *   ones are what the piece parsers (ld_parse_duration, _signal_list,
 *   _deliver, _health, _ports) make of them; the deliver map has a target
 *   exactly for the signals in LAMEDUCK_SIGNALS, never KILL, STOP, 32, 33;
 * - on failure the message is NUL-terminated inside the buffer and is one
 *   line of printable ASCII (no control characters, no raw bytes); with
 *   room for it, it begins `VAR="` for a variable that is set, that value
 *   is refused by its piece parser, and every variable read before it is
 *   accepted;
 * - the same input gives the same answer twice;
 * - ld_format_duration of a loaded duration fits any buffer safely;
 * - every variable shown with ld_config_show fits LD_SHOW_MAX, and the
 *   values shown, loaded again, give the same configuration (lameduck
 *   --check prints them so that they can be fed back).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_config"
#include "rules.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NVARS	11
#define UNSET	0xff

static const char *const names[NVARS] = {
	"LAMEDUCK_DELAY", "LAMEDUCK_DRAIN_TIMEOUT", "LAMEDUCK_DRAIN", "LAMEDUCK_SIGNALS",
	"LAMEDUCK_DELIVER", "LAMEDUCK_HEALTH", "LAMEDUCK_PORTS", "LAMEDUCK_READY",
	"LAMEDUCK_LOG", "LAMEDUCK_LOG_FORMAT", "LAMEDUCK_RETIRE",
};
enum { V_DELAY, V_TIMEOUT, V_DRAIN, V_SIGNALS, V_DELIVER, V_HEALTH, V_PORTS, V_READY,
	V_LOG, V_FORMAT, V_RETIRE };

struct env {
	char	*val[NVARS];	/* NULL: unset */
	int	 asked[NVARS];
	int	 last;		/* index of the last name asked */
};

static const char *
get(const char *name, void *ctx)
{
	struct env *e = ctx;

	for (int i = 0; i < NVARS; i++)
		if (strcmp(name, names[i]) == 0) {
			if (e->asked[i]++ > 0)
				broken("%s asked twice", name);
			if (i <= e->last)
				broken("%s asked after %s", name, names[e->last]);
			e->last = i;
			return e->val[i];
		}
	broken("asked for an unknown variable \"%s\"", name);
}

static int
load(struct env *e, struct ld_config *cfg, char *err, size_t errlen)
{
	memset(e->asked, 0, sizeof(e->asked));
	e->last = -1;
	memset(cfg, 0x5a, sizeof(*cfg));
	return ld_config_load(cfg, get, e, err, errlen);
}

static int
word_index(const char *s, const char *const *w)
{
	for (int i = 0; w[i] != NULL; i++)
		if (strcmp(s, w[i]) == 0)
			return i;
	return -1;
}

static const char *const drains[] = { "always", "auto", "never", NULL };
static const char *const readies[] = { "listen", "start", NULL };
static const char *const levels[] = { "off", "error", "warn", "info", "debug", NULL };
static const char *const formats[] = { "text", "json", NULL };
static const char *const switches[] = { "off", "on", NULL };

/* Is v, alone, accepted for variable i (given the signals for DELIVER)? */
static int
accepted(int i, const char *v, uint64_t signals)
{
	struct ld_config c;
	uint16_t ports[LD_MAX_PORTS];
	int map[LD_NSIG], n;
	long long ms;
	uint64_t set;

	if (*v == '\0')
		return 0;
	switch (i) {
	case V_DELAY: case V_TIMEOUT:
		return ld_parse_duration(v, &ms) == 0;
	case V_DRAIN:
		return word_index(v, drains) >= 0;
	case V_SIGNALS:
		return ld_parse_signal_list(v, &set) == 0;
	case V_DELIVER:
		return ld_parse_deliver(v, signals, map) == 0;
	case V_HEALTH:
		ld_config_defaults(&c);
		return ld_parse_health(v, &c) == 0;
	case V_PORTS:
		return ld_parse_ports(v, ports, &n) == 0;
	case V_READY:
		return word_index(v, readies) >= 0;
	case V_LOG:
		return word_index(v, levels) >= 0;
	case V_RETIRE:
		return word_index(v, switches) >= 0;
	default:
		return word_index(v, formats) >= 0;
	}
}

static void
check_duration(const char *what, long long ms, const char *val, long long dflt, size_t len)
{
	char *buf;
	long long want = dflt;
	int r;

	if (val != NULL && ld_parse_duration(val, &want) != 0)
		broken("%s accepted by the loader, refused by ld_parse_duration", what);
	if (ms != want || ms < 0 || ms > LD_MAX_DURATION_MS)
		broken("%s: %lld ms, expected %lld", what, ms, want);
	/* Formatting it for a log line fits any buffer. */
	if ((buf = malloc(len ? len : 1)) == NULL)
		abort();
	r = ld_format_duration(ms, buf, len);
	if (len == 0 && r != -1)
		broken("ld_format_duration into 0 bytes returned %d", r);
	if (len > 0) {
		size_t n = strnlen(buf, len);

		if (n == len)
			broken("ld_format_duration(%lld) left no NUL in %zu bytes", ms, len);
		if (r == 0 && strspn(buf, "0123456789hms.") != n)
			broken("ld_format_duration(%lld) wrote \"%s\"", ms, buf);
	}
	free(buf);
}

static void
check_health(const struct ld_config *cfg, const char *val)
{
	struct ld_config want;

	ld_config_defaults(&want);
	if (val != NULL && ld_parse_health(val, &want) != 0)
		broken("LAMEDUCK_HEALTH accepted by the loader, refused by ld_parse_health");
	if (cfg->health_off != want.health_off || cfg->health_any != want.health_any ||
	    cfg->health_port != want.health_port || cfg->health_addrlen != want.health_addrlen ||
	    memcmp(&cfg->health_addr, &want.health_addr, sizeof(want.health_addr)) != 0)
		broken("LAMEDUCK_HEALTH differs from ld_parse_health");
	if (cfg->health_off) {
		if (cfg->health_port != 0 || cfg->health_addrlen != 0)
			broken("health off with a port or an address");
		return;
	}
	if (cfg->health_port == 0)
		broken("health port 0");
	if (cfg->health_addr.ss_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, &cfg->health_addr, sizeof(sin));
		if (cfg->health_addrlen != sizeof(sin) || ntohs(sin.sin_port) != cfg->health_port ||
		    cfg->health_any)
			broken("bad IPv4 health address");
	} else if (cfg->health_addr.ss_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, &cfg->health_addr, sizeof(sin6));
		if (cfg->health_addrlen != sizeof(sin6) ||
		    ntohs(sin6.sin6_port) != cfg->health_port ||
		    (cfg->health_any && !IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr)))
			broken("bad IPv6 health address");
	} else
		broken("health address family %d", cfg->health_addr.ss_family);
}

static void
check_loaded(const struct env *e, const struct ld_config *cfg, size_t len)
{
	uint16_t ports[LD_MAX_PORTS];
	int map[LD_NSIG], n, w;
	uint64_t set;

	check_duration("LAMEDUCK_DELAY", cfg->delay_ms, e->val[V_DELAY], 10000, len);
	check_duration("LAMEDUCK_DRAIN_TIMEOUT", cfg->drain_timeout_ms, e->val[V_TIMEOUT], 15000,
	    len);
	w = e->val[V_DRAIN] ? word_index(e->val[V_DRAIN], drains) : 0;
	if (w < 0 || (int)cfg->drain != w)
		broken("LAMEDUCK_DRAIN: %d", (int)cfg->drain);

	set = (uint64_t)1 << (SIGTERM - 1);
	if (e->val[V_SIGNALS] != NULL && ld_parse_signal_list(e->val[V_SIGNALS], &set) != 0)
		broken("LAMEDUCK_SIGNALS accepted by the loader, refused by ld_parse_signal_list");
	if (cfg->signals != set || cfg->signals == 0)
		broken("LAMEDUCK_SIGNALS: %#llx, expected %#llx",
		    (unsigned long long)cfg->signals, (unsigned long long)set);
	for (int sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(cfg->signals, sig) && !allowed(sig))
			broken("signal %d is not allowed but is in the set", sig);

	for (int sig = 1; sig < LD_NSIG; sig++)
		map[sig] = ld_sigset_has(cfg->signals, sig) ? sig : 0;
	map[0] = 0;
	if (e->val[V_DELIVER] != NULL && ld_parse_deliver(e->val[V_DELIVER], cfg->signals, map) != 0)
		broken("LAMEDUCK_DELIVER accepted by the loader, refused by ld_parse_deliver");
	if (cfg->deliver[0] != 0)
		broken("deliver[0] = %d", cfg->deliver[0]);
	for (int sig = 1; sig < LD_NSIG; sig++) {
		int to = cfg->deliver[sig];

		if (to != map[sig])
			broken("deliver[%d] = %d, ld_parse_deliver says %d", sig, to, map[sig]);
		if (ld_sigset_has(cfg->signals, sig) != (to != 0))
			broken("deliver[%d] = %d for a signal %s the set", sig, to,
			    to ? "outside" : "in");
		if (to != 0 && !deliverable(to))
			broken("deliver[%d] = %d, which can not be delivered", sig, to);
	}

	check_health(cfg, e->val[V_HEALTH]);

	n = 0;
	if (e->val[V_PORTS] != NULL && ld_parse_ports(e->val[V_PORTS], ports, &n) != 0)
		broken("LAMEDUCK_PORTS accepted by the loader, refused by ld_parse_ports");
	if (cfg->nports != n || n < 0 || n > LD_MAX_PORTS || (e->val[V_PORTS] && n == 0))
		broken("LAMEDUCK_PORTS: %d ports, expected %d", cfg->nports, n);
	for (int i = 0; i < n; i++) {
		if (cfg->ports[i] != ports[i] || cfg->ports[i] == 0)
			broken("port %d: %u", i, cfg->ports[i]);
		for (int j = 0; j < i; j++)
			if (cfg->ports[j] == cfg->ports[i])
				broken("port %u twice", cfg->ports[i]);
	}

	w = e->val[V_READY] ? word_index(e->val[V_READY], readies) : 0;
	if (w < 0 || (int)cfg->ready != w)
		broken("LAMEDUCK_READY: %d", (int)cfg->ready);
	w = e->val[V_LOG] ? word_index(e->val[V_LOG], levels) : LD_LOG_INFO;
	if (w < 0 || (int)cfg->log_level != w)
		broken("LAMEDUCK_LOG: %d", (int)cfg->log_level);
	w = e->val[V_FORMAT] ? word_index(e->val[V_FORMAT], formats) : 0;
	if (w < 0 || (int)cfg->log_format != w)
		broken("LAMEDUCK_LOG_FORMAT: %d", (int)cfg->log_format);
	w = e->val[V_RETIRE] ? word_index(e->val[V_RETIRE], switches) : 1;
	if (w < 0 || cfg->retire != w)
		broken("LAMEDUCK_RETIRE: %d", cfg->retire);
}

static void
check_refused(const struct env *e, const char *err, size_t len)
{
	uint64_t signals = (uint64_t)1 << (SIGTERM - 1);
	size_t n;
	int v = -1, any = 0;

	for (int i = 0; i < NVARS; i++)
		any |= e->val[i] != NULL;
	if (!any)
		broken("refused with nothing set");
	if (len == 0)
		return;
	n = strnlen(err, len);
	if (n == len)
		broken("message not NUL-terminated within %zu bytes", len);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] > 0x7e)
			broken("message byte %zu is %#x: \"%s\"", i, (unsigned char)err[i], err);
	if (len < 64)
		return;		/* room for any name and the quote */
	for (int i = 0; i < NVARS; i++) {
		size_t k = strlen(names[i]);

		if (strncmp(err, names[i], k) == 0 && err[k] == '=' && err[k + 1] == '"')
			v = i;
	}
	if (v < 0)
		broken("message does not begin VAR=\": \"%s\"", err);
	if (e->val[v] == NULL)
		broken("message names %s, which is unset: \"%s\"", names[v], err);
	/* Errors are found in order: the ones before were fine. */
	if (e->val[V_SIGNALS] != NULL && v > V_SIGNALS &&
	    ld_parse_signal_list(e->val[V_SIGNALS], &signals) != 0)
		broken("LAMEDUCK_SIGNALS is refused alone, but the message is about %s: \"%s\"",
		    names[v], err);
	for (int i = 0; i < v; i++)
		if (e->val[i] != NULL && !accepted(i, e->val[i], signals))
			broken("%s is refused alone, but the message is about %s: \"%s\"",
			    names[i], names[v], err);
	if (accepted(v, e->val[v], signals))
		broken("%s=\"%s\" is accepted alone, but refused: \"%s\"", names[v], e->val[v], err);
}

static void
check_shown(const struct ld_config *cfg)
{
	static char val[LD_NVARS][LD_SHOW_MAX];
	struct ld_config back;
	struct env e;
	char err[256];

	memset(&e, 0, sizeof(e));
	for (int v = 0; v < LD_NVARS; v++) {
		if (strcmp(ld_config_name(v), names[v]) != 0)
			broken("variable %d is %s, not %s", v, ld_config_name(v), names[v]);
		if (ld_config_show(cfg, v, val[v], sizeof(val[v])) != 0)
			broken("%s does not fit LD_SHOW_MAX: \"%s\"", names[v], val[v]);
		if (val[v][0] != '\0')
			e.val[v] = val[v];
		else if (v != V_PORTS || cfg->nports != 0)
			broken("%s shown as nothing", names[v]);
	}
	if (load(&e, &back, err, sizeof(err)) != 0)
		broken("the configuration shown is refused: %s", err);
	if (memcmp(cfg, &back, sizeof(back)) != 0)
		broken("the configuration shown loads back differently");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ld_config cfg, again;
	struct env e;
	char *copy, *err, *err2;
	size_t errlen = 256, off = 0;
	int field = 0, rc, rc2;

	memset(&e, 0, sizeof(e));
	if ((copy = malloc(size + 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* Fields end at a NUL; the copy's own NUL ends the last one. */
	while (off <= size && field <= NVARS) {
		char *f = copy + off;
		size_t n = strlen(f);

		if (field == NVARS) {
			if (n > 0)
				errlen = (unsigned char)f[0] - 1U;
		} else if (!(n == 1 && (unsigned char)f[0] == UNSET))
			e.val[field] = f;
		field++;
		off += n + 1;
	}

	if ((err = malloc(errlen ? errlen : 1)) == NULL || (err2 = malloc(errlen ? errlen : 1)) == NULL)
		abort();
	memset(err, 'X', errlen ? errlen : 1);
	rc = load(&e, &cfg, err, errlen);
	if (rc == 0) {
		if (errlen > 0 && err[0] != '\0')
			broken("success with a message: \"%.*s\"", (int)errlen, err);
		check_loaded(&e, &cfg, errlen);
		check_shown(&cfg);
	} else if (rc == -1)
		check_refused(&e, err, errlen);
	else
		broken("ld_config_load returned %d", rc);

	/* The same answer twice. */
	rc2 = load(&e, &again, err2, errlen);
	if (rc2 != rc || (rc == 0 && memcmp(&cfg, &again, sizeof(cfg)) != 0) ||
	    (rc != 0 && errlen > 0 && strcmp(err, err2) != 0))
		broken("a second load differs");
	free(err2);
	free(err);
	free(copy);
	return 0;
}
