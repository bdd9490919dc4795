/* Unit tests for shim/config.c: every variable, valid, refused and shown. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

/* An environment for ld_config_load: NULL-terminated name, value pairs. */
struct env {
	const char	*kv[24];
};

static const char *
env_get(const char *name, void *ctx)
{
	const struct env *e = ctx;
	size_t i;

	for (i = 0; e->kv[i] != NULL; i += 2)
		if (strcmp(e->kv[i], name) == 0)
			return e->kv[i + 1];
	return NULL;
}

static uint64_t
bit(int sig)
{
	return (uint64_t)1 << (sig - 1);
}

/* Loads one variable and expects success. */
static void
load_ok(struct ld_config *cfg, const char *name, const char *value)
{
	struct env e = { { name, value, NULL } };
	char err[256];

	err[0] = '\0';
	if (ld_config_load(cfg, env_get, &e, err, sizeof(err)) != 0)
		fail_msg("%s=%s refused: %s", name, value, err);
}

/* Loads one variable and expects exactly the message want (NULL: any). */
static void
load_bad(const char *name, const char *value, const char *want)
{
	struct env e = { { name, value, NULL } };
	struct ld_config cfg;
	char err[512];

	memset(err, 'X', sizeof(err));
	if (ld_config_load(&cfg, env_get, &e, err, sizeof(err)) == 0)
		fail_msg("%s=%s accepted", name, value);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	assert_null(strchr(err, '\n'));
	assert_int_equal(strncmp(err, name, strlen(name)), 0);
	assert_int_equal(err[strlen(name)], '=');
	if (want != NULL)
		assert_string_equal(err, want);
}

/* --- durations --- */

static void
test_duration_valid(void **state)
{
	static const struct {
		const char	*s;
		long long	 ms;
	} t[] = {
		{ "0", 0 }, { "00", 0 }, { "0s", 0 }, { "0ms", 0 }, { "0h", 0 },
		{ "250ms", 250 }, { "5s", 5000 }, { "1m", 60000 },
		{ "1m30s", 90000 }, { "1h", 3600000 }, { "55m5s", 3305000 },
		{ "2s500ms", 2500 }, { "10", 10000 }, { "3600", 3600000 },
		{ "60m", 3600000 }, { "3600s", 3600000 },
		{ "3600000ms", 3600000 }, { "1m05s", 65000 }, { "90s", 90000 },
		{ "1h0m0s0ms", 3600000 }, { "59m59s999ms", 3599999 },
		{ "1m1s1ms", 61001 },
	};
	long long ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ms = -1;
		if (ld_parse_duration(t[i].s, &ms) != 0)
			fail_msg("\"%s\" refused", t[i].s);
		if (ms != t[i].ms)
			fail_msg("\"%s\" gave %lld, not %lld", t[i].s, ms, t[i].ms);
	}
}

static void
test_duration_invalid(void **state)
{
	static const char *const t[] = {
		"", "5x", "s", "ms", "m", "1.5s", "1.5", ".5s", "-1s", "+1s",
		"-1", "+5", " 1s", "1s ", "1 s", "1S", "1M", "1H", "1MS", "1sec",
		"1us", "1ns", "1d", "1m30", "1s1m", "1s1s", "1ms5s", "1m1h",
		"1s500", "1hm", "1sm", "5mss", "1e3", "0x10", "1_000", "1,5s",
		"\t1s", "1s\n", "5s\x01", "1m 30s", "ms5", "h1",
	};
	long long ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ms = 42;
		if (ld_parse_duration(t[i], &ms) == 0)
			fail_msg("\"%s\" accepted as %lld", t[i], ms);
		assert_int_equal(ms, 42);	/* untouched on failure */
	}
	assert_int_equal(ld_parse_duration(NULL, &ms), -1);
}

static void
test_duration_bounds(void **state)
{
	static const char *const over[] = {
		"1h1s", "1h5m", "3601", "61m", "3601s", "3600001ms", "1h0m0s1ms", "2h",
		"59m61s", "99999999999999999999999", "99999999999999999999999s",
		"1h99999999999999999999ms",
	};
	long long ms;
	size_t i;

	(void)state;
	assert_int_equal(ld_parse_duration("1h", &ms), 0);
	assert_int_equal(ms, LD_MAX_DURATION_MS);
	for (i = 0; i < sizeof(over) / sizeof(over[0]); i++)
		if (ld_parse_duration(over[i], &ms) == 0)
			fail_msg("\"%s\" accepted", over[i]);
	load_bad("LAMEDUCK_DELAY", "1h1s",
	    "LAMEDUCK_DELAY=\"1h1s\" is longer than the maximum 1h");
	load_bad("LAMEDUCK_DELAY", "99999999999999999999999",
	    "LAMEDUCK_DELAY=\"99999999999999999999999\" is longer than the "
	    "maximum 1h");
	/* Malformed beats too long: the whole value is read first. */
	load_bad("LAMEDUCK_DELAY", "2h5x",
	    "LAMEDUCK_DELAY=\"2h5x\" is not a duration (try 500ms, 5s, 1m)");
}

static void
test_duration_messages(void **state)
{
	struct ld_config cfg;

	(void)state;
	load_bad("LAMEDUCK_DELAY", "5x",
	    "LAMEDUCK_DELAY=\"5x\" is not a duration (try 500ms, 5s, 1m)");
	load_bad("LAMEDUCK_DELAY", "2h",
	    "LAMEDUCK_DELAY=\"2h\" is longer than the maximum 1h");
	load_bad("LAMEDUCK_DRAIN_TIMEOUT", "1.5s",
	    "LAMEDUCK_DRAIN_TIMEOUT=\"1.5s\" is not a duration "
	    "(no fractions: write 1s500ms, not 1.5s)");
	load_ok(&cfg, "LAMEDUCK_DELAY", "250ms");
	assert_int_equal(cfg.delay_ms, 250);
	assert_int_equal(cfg.drain_timeout_ms, 15000);
	load_ok(&cfg, "LAMEDUCK_DRAIN_TIMEOUT", "0");
	assert_int_equal(cfg.drain_timeout_ms, 0);
	assert_int_equal(cfg.delay_ms, 10000);
}

static void
test_format_duration(void **state)
{
	static const struct {
		long long	 ms;
		const char	*s;
	} t[] = {
		{ 0, "0s" }, { 1, "1ms" }, { 250, "250ms" }, { 999, "999ms" },
		{ 1000, "1s" }, { 1001, "1.001s" }, { 1240, "1.24s" },
		{ 1500, "1.5s" }, { 10000, "10s" }, { 59999, "59.999s" },
		{ 60000, "1m" }, { 90000, "1m30s" }, { 90500, "1m30.5s" },
		{ 3600000, "1h" }, { 3660000, "1h1m" }, { 3601000, "1h1s" },
		{ 7322000, "2h2m2s" }, { -5, "-5ms" },
	};
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(ld_format_duration(t[i].ms, buf, sizeof(buf)), 0);
		assert_string_equal(buf, t[i].s);
	}
	/* Too small a buffer: truncated, terminated, and said so. */
	assert_int_equal(ld_format_duration(90000, buf, 3), -1);
	assert_string_equal(buf, "1m");
	assert_int_equal(ld_format_duration(90000, buf, 5), -1);
	assert_int_equal(ld_format_duration(90000, buf, 6), 0);
	assert_int_equal(ld_format_duration(1, buf, 0), -1);
}

/* Whatever ld_format_duration writes without a fraction parses back. */
static void
test_format_roundtrip(void **state)
{
	static const long long t[] = { 0, 250, 1000, 60000, 90000, 3599000,
	    3600000, 3540000 };
	char buf[32];
	long long ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(ld_format_duration(t[i], buf, sizeof(buf)), 0);
		assert_int_equal(ld_parse_duration(buf, &ms), 0);
		assert_int_equal(ms, t[i]);
	}
}

/* lameduck --check prints with ld_format_duration_exact: every value parses back. */
static void
test_format_exact_roundtrip(void **state)
{
	static const struct {
		long long	 ms;
		const char	*s;
	} t[] = {
		{ 0, "0s" }, { 999, "999ms" }, { 1000, "1s" }, { 1500, "1s500ms" },
		{ 60001, "1m1ms" }, { 90500, "1m30s500ms" }, { 3600000, "1h" },
		{ 3599999, "59m59s999ms" },
	};
	char buf[32];
	long long ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(ld_format_duration_exact(t[i].ms, buf, sizeof(buf)), 0);
		assert_string_equal(buf, t[i].s);
	}
	for (ms = 0; ms <= 3600000; ms += 7) {
		long long back = -1;

		assert_int_equal(ld_format_duration_exact(ms, buf, sizeof(buf)), 0);
		assert_int_equal(ld_parse_duration(buf, &back), 0);
		assert_int_equal(back, ms);
	}
}

/* --- signals --- */

static void
test_signal_names(void **state)
{
	static const struct {
		const char	*s;
		int		 sig;
	} t[] = {
		{ "TERM", SIGTERM }, { "SIGTERM", SIGTERM }, { "15", SIGTERM },
		{ "INT", SIGINT }, { "SIGINT", SIGINT }, { "QUIT", SIGQUIT },
		{ "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "SIGUSR2", SIGUSR2 },
		{ "WINCH", SIGWINCH }, { "KILL", SIGKILL }, { "STOP", SIGSTOP },
		{ "1", 1 }, { "9", 9 }, { "31", 31 }, { "32", 32 }, { "64", 64 },
		{ "IOT", SIGABRT }, { "POLL", SIGIO }, { "CLD", SIGCHLD },
		{ "PWR", SIGPWR }, { "SYS", SIGSYS },
	};
	int sig;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sig = -1;
		if (ld_parse_signal(t[i].s, &sig) != 0)
			fail_msg("\"%s\" refused", t[i].s);
		if (sig != t[i].sig)
			fail_msg("\"%s\" gave %d, not %d", t[i].s, sig, t[i].sig);
	}
}

static void
test_signal_rt(void **state)
{
	int sig;

	(void)state;
	assert_int_equal(SIGRTMIN, 34);		/* glibc on Linux */
	assert_int_equal(SIGRTMAX, 64);
	assert_int_equal(ld_parse_signal("RTMIN", &sig), 0);
	assert_int_equal(sig, SIGRTMIN);
	assert_int_equal(ld_parse_signal("SIGRTMIN", &sig), 0);
	assert_int_equal(sig, SIGRTMIN);
	assert_int_equal(ld_parse_signal("RTMIN+0", &sig), 0);
	assert_int_equal(sig, SIGRTMIN);
	assert_int_equal(ld_parse_signal("RTMIN+3", &sig), 0);
	assert_int_equal(sig, SIGRTMIN + 3);
	assert_int_equal(ld_parse_signal("SIGRTMIN+30", &sig), 0);
	assert_int_equal(sig, 64);
	assert_int_equal(ld_parse_signal("RTMAX", &sig), 0);
	assert_int_equal(sig, SIGRTMAX);
	assert_int_equal(ld_parse_signal("RTMAX-1", &sig), 0);
	assert_int_equal(sig, SIGRTMAX - 1);
	assert_int_equal(ld_parse_signal("RTMAX-30", &sig), 0);
	assert_int_equal(sig, SIGRTMIN);
	sig = 7;
	assert_int_equal(ld_parse_signal("RTMIN+31", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMAX-31", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMIN-1", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMAX+1", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMIN+", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMIN+01", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMIN++1", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMIN+-1", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMIN+ 1", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMINX", &sig), -1);
	assert_int_equal(ld_parse_signal("RTMID", &sig), -1);
	assert_int_equal(ld_parse_signal("rtmin", &sig), -1);
	assert_int_equal(sig, 7);
}

static void
test_signal_invalid(void **state)
{
	static const char *const t[] = {
		"", "SIG", "term", "Term", "sigterm", "SIGterm", "sigTERM",
		"0", "65", "-15", "+15", "015", "1.0", " TERM", "TERM ", "SIG15",
		"SIGSIGTERM", "FOO", "SIGFOO", "TERM,INT", "99999999999999999999",
		"15x", "0x0f", "T",
	};
	int sig;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sig = 7;
		if (ld_parse_signal(t[i], &sig) == 0)
			fail_msg("\"%s\" accepted as %d", t[i], sig);
		assert_int_equal(sig, 7);
	}
	assert_int_equal(ld_parse_signal(NULL, &sig), -1);
}

static void
test_signal_allowed(void **state)
{
	static const int no[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL,
	    SIGFPE, SIGTRAP, SIGSYS, 32, 33, 0, -1, 65, 1000 };
	static const int yes[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
	    SIGUSR2, SIGWINCH, SIGABRT, SIGPIPE, SIGALRM, SIGCHLD, SIGPWR, 34,
	    50, 64 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (ld_signal_allowed(no[i]))
			fail_msg("%d allowed", no[i]);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!ld_signal_allowed(yes[i]))
			fail_msg("%d not allowed", yes[i]);
}

static void
test_signal_name(void **state)
{
	static const struct {
		int		 sig;
		const char	*name;
	} t[] = {
		{ SIGTERM, "TERM" }, { SIGINT, "INT" }, { SIGABRT, "ABRT" },
		{ SIGIO, "IO" }, { SIGCHLD, "CHLD" }, { SIGSYS, "SYS" },
		{ 32, "32" }, { 33, "33" }, { 34, "RTMIN" }, { 35, "RTMIN+1" },
		{ 37, "RTMIN+3" }, { 49, "RTMIN+15" }, { 50, "RTMAX-14" },
		{ 63, "RTMAX-1" }, { 64, "RTMAX" }, { 0, "0" }, { 65, "65" },
	};
	char buf[16];
	int sig;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(ld_signal_name(t[i].sig, buf, sizeof(buf)),
		    t[i].name);
	/* Every name parses back to its number. */
	for (i = 1; i < LD_NSIG; i++) {
		ld_signal_name((int)i, buf, sizeof(buf));
		assert_int_equal(ld_parse_signal(buf, &sig), 0);
		assert_int_equal(sig, (int)i);
	}
	assert_string_equal(ld_signal_name(SIGTERM, buf, 3), "TE");
	assert_string_equal(ld_signal_name(37, buf, 5), "RTMI");
}

static void
test_signal_list(void **state)
{
	uint64_t set;

	(void)state;
	assert_int_equal(ld_parse_signal_list("TERM", &set), 0);
	assert_true(set == bit(SIGTERM));
	assert_int_equal(ld_parse_signal_list("TERM,INT,SIGQUIT,RTMIN+1,64",
	    &set), 0);
	assert_true(set == (bit(SIGTERM) | bit(SIGINT) | bit(SIGQUIT) |
	    bit(35) | bit(64)));
	assert_true(ld_sigset_has(set, 64));
	assert_false(ld_sigset_has(set, 63));
	assert_false(ld_sigset_has(set, 0));
	assert_false(ld_sigset_has(set, 65));

	set = 12345;
	assert_int_equal(ld_parse_signal_list("", &set), -1);
	assert_int_equal(ld_parse_signal_list(",", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM,", &set), -1);
	assert_int_equal(ld_parse_signal_list(",TERM", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM,,INT", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM, INT", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM;INT", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM,TERM", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM,SIGTERM", &set), -1);
	assert_int_equal(ld_parse_signal_list("15,TERM", &set), -1);
	assert_int_equal(ld_parse_signal_list("RTMIN,34", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM,KILL", &set), -1);
	assert_int_equal(ld_parse_signal_list("TERM,term", &set), -1);
	assert_int_equal(ld_parse_signal_list(NULL, &set), -1);
	assert_true(set == 12345);
}

static void
test_signals_forbidden(void **state)
{
	static const char *const t[] = { "KILL", "SIGKILL", "9", "STOP", "19",
	    "SEGV", "BUS", "ILL", "FPE", "TRAP", "SYS", "SIGSYS", "32", "33" };
	uint64_t set;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (ld_parse_signal_list(t[i], &set) == 0)
			fail_msg("\"%s\" accepted", t[i]);
		load_bad("LAMEDUCK_SIGNALS", t[i], NULL);
	}
	load_bad("LAMEDUCK_SIGNALS", "KILL",
	    "LAMEDUCK_SIGNALS=\"KILL\" can not be a lame-duck signal "
	    "(not KILL, STOP, SEGV, BUS, ILL, FPE, TRAP, SYS, 32, 33)");
	load_bad("LAMEDUCK_SIGNALS", "TERM,33",
	    "LAMEDUCK_SIGNALS=\"TERM,33\": \"33\" can not be a lame-duck "
	    "signal (not KILL, STOP, SEGV, BUS, ILL, FPE, TRAP, SYS, 32, 33)");
}

static void
test_signals_var(void **state)
{
	struct ld_config cfg;
	int i;

	(void)state;
	load_ok(&cfg, "LAMEDUCK_SIGNALS", "TERM,INT,RTMIN+2");
	assert_true(cfg.signals == (bit(SIGTERM) | bit(SIGINT) | bit(36)));
	for (i = 0; i < LD_NSIG; i++)
		assert_int_equal(cfg.deliver[i],
		    ld_sigset_has(cfg.signals, i) ? i : 0);
	load_ok(&cfg, "LAMEDUCK_SIGNALS", "SIGHUP");
	assert_true(cfg.signals == bit(SIGHUP));
	assert_int_equal(cfg.deliver[SIGHUP], SIGHUP);
	assert_int_equal(cfg.deliver[SIGTERM], 0);

	load_bad("LAMEDUCK_SIGNALS", "term",
	    "LAMEDUCK_SIGNALS=\"term\" is not a signal "
	    "(try TERM, SIGTERM, 15 or RTMIN+2; names are upper case)");
	load_bad("LAMEDUCK_SIGNALS", "TERM,sigint",
	    "LAMEDUCK_SIGNALS=\"TERM,sigint\": \"sigint\" is not a signal "
	    "(try TERM, SIGTERM, 15 or RTMIN+2; names are upper case)");
	load_bad("LAMEDUCK_SIGNALS", "TERM,,INT",
	    "LAMEDUCK_SIGNALS=\"TERM,,INT\" has an empty item");
	load_bad("LAMEDUCK_SIGNALS", "TERM,",
	    "LAMEDUCK_SIGNALS=\"TERM,\" has an empty item");
	load_bad("LAMEDUCK_SIGNALS", "TERM,INT,SIGTERM",
	    "LAMEDUCK_SIGNALS=\"TERM,INT,SIGTERM\": \"SIGTERM\" repeats TERM");
	load_bad("LAMEDUCK_SIGNALS", "TERM, INT", NULL);
	load_bad("LAMEDUCK_SIGNALS", "RTMAX-30,RTMIN", NULL);
}

/* --- delivery --- */

static void
test_deliver_single(void **state)
{
	int d[LD_NSIG];
	uint64_t set = bit(SIGTERM) | bit(SIGINT);
	int i;

	(void)state;
	memset(d, 0x55, sizeof(d));
	assert_int_equal(ld_parse_deliver("QUIT", set, d), 0);
	for (i = 0; i < LD_NSIG; i++)
		assert_int_equal(d[i], i == SIGTERM || i == SIGINT ? SIGQUIT : 0);
	assert_int_equal(ld_parse_deliver("SIGUSR1", set, d), 0);
	assert_int_equal(d[SIGTERM], SIGUSR1);
	assert_int_equal(ld_parse_deliver("RTMAX", set, d), 0);
	assert_int_equal(d[SIGINT], 64);
	/* Faults may be delivered; KILL, STOP and glibc's 32, 33 not. */
	assert_int_equal(ld_parse_deliver("SEGV", set, d), 0);
	assert_int_equal(d[SIGINT], SIGSEGV);
	assert_int_equal(ld_parse_deliver("ABRT", set, d), 0);
	assert_int_equal(ld_parse_deliver("KILL", set, d), -1);
	assert_int_equal(ld_parse_deliver("STOP", set, d), -1);
	assert_int_equal(ld_parse_deliver("9", set, d), -1);
	assert_int_equal(ld_parse_deliver("32", set, d), -1);
	assert_int_equal(ld_parse_deliver("33", set, d), -1);
	assert_int_equal(ld_parse_deliver("0", set, d), -1);
	assert_int_equal(ld_parse_deliver("65", set, d), -1);
	assert_int_equal(ld_parse_deliver("quit", set, d), -1);
	assert_int_equal(ld_parse_deliver("QUIT,INT", set, d), -1);
	assert_int_equal(ld_parse_deliver("", set, d), -1);
	assert_int_equal(ld_parse_deliver(NULL, set, d), -1);
	assert_int_equal(d[SIGINT], SIGABRT);	/* failures leave it alone */
}

static void
test_deliver_map(void **state)
{
	int d[LD_NSIG];
	uint64_t set = bit(SIGTERM) | bit(SIGINT) | bit(SIGHUP);
	int i;

	(void)state;
	assert_int_equal(ld_parse_deliver("TERM:QUIT,INT:INT", set, d), 0);
	assert_int_equal(d[SIGTERM], SIGQUIT);
	assert_int_equal(d[SIGINT], SIGINT);
	assert_int_equal(d[SIGHUP], SIGHUP);	/* absent: delivers itself */
	for (i = 0; i < LD_NSIG; i++)
		if (i != SIGTERM && i != SIGINT && i != SIGHUP)
			assert_int_equal(d[i], 0);
	assert_int_equal(ld_parse_deliver("SIGTERM:SIGUSR2", set, d), 0);
	assert_int_equal(d[SIGTERM], SIGUSR2);
	assert_int_equal(d[SIGINT], SIGINT);
	assert_int_equal(ld_parse_deliver("15:3,1:RTMIN+1", set, d), 0);
	assert_int_equal(d[SIGTERM], SIGQUIT);
	assert_int_equal(d[SIGHUP], 35);

	memset(d, 0x55, sizeof(d));
	assert_int_equal(ld_parse_deliver("USR1:QUIT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:QUIT,TERM:INT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:QUIT,SIGTERM:INT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:KILL", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:STOP", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:32", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:", set, d), -1);
	assert_int_equal(ld_parse_deliver(":QUIT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:QUIT,", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:QUIT,,INT:INT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:QUIT,INT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM:QUIT:INT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM=QUIT", set, d), -1);
	assert_int_equal(ld_parse_deliver("TERM: QUIT", set, d), -1);
	assert_int_equal(ld_parse_deliver("term:QUIT", set, d), -1);
	assert_int_equal(d[SIGTERM], 0x55555555);
}

static void
test_deliver_var(void **state)
{
	struct env e = { { "LAMEDUCK_SIGNALS", "TERM,INT",
	    "LAMEDUCK_DELIVER", "TERM:QUIT", NULL } };
	struct env e2 = { { "LAMEDUCK_DELIVER", "USR2", NULL } };
	struct ld_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(ld_config_load(&cfg, env_get, &e, err, sizeof(err)), 0);
	assert_int_equal(cfg.deliver[SIGTERM], SIGQUIT);
	assert_int_equal(cfg.deliver[SIGINT], SIGINT);
	assert_int_equal(cfg.deliver[SIGQUIT], 0);
	assert_int_equal(ld_config_load(&cfg, env_get, &e2, err, sizeof(err)), 0);
	assert_int_equal(cfg.deliver[SIGTERM], SIGUSR2);
	assert_true(cfg.signals == bit(SIGTERM));

	/* The keys are checked against LAMEDUCK_SIGNALS, default TERM. */
	load_bad("LAMEDUCK_DELIVER", "INT:QUIT",
	    "LAMEDUCK_DELIVER=\"INT:QUIT\" maps INT, which is not in "
	    "LAMEDUCK_SIGNALS (TERM)");
	load_bad("LAMEDUCK_DELIVER", "TERM:QUIT,HUP:QUIT",
	    "LAMEDUCK_DELIVER=\"TERM:QUIT,HUP:QUIT\": \"HUP:QUIT\" maps HUP, "
	    "which is not in LAMEDUCK_SIGNALS (TERM)");
	load_bad("LAMEDUCK_DELIVER", "KILL",
	    "LAMEDUCK_DELIVER=\"KILL\" can not be delivered "
	    "(a program can not react to KILL or STOP)");
	load_bad("LAMEDUCK_DELIVER", "TERM:STOP",
	    "LAMEDUCK_DELIVER=\"TERM:STOP\" can not be delivered "
	    "(a program can not react to KILL or STOP)");
	load_bad("LAMEDUCK_DELIVER", "32",
	    "LAMEDUCK_DELIVER=\"32\" can not be delivered "
	    "(glibc keeps 32 and 33 for itself)");
	load_bad("LAMEDUCK_DELIVER", "QUIT,INT",
	    "LAMEDUCK_DELIVER=\"QUIT,INT\" is not a signal "
	    "(one name such as QUIT, or a map TERM:QUIT,INT:INT)");
	load_bad("LAMEDUCK_DELIVER", "TERM:QUIT,TERM:INT",
	    "LAMEDUCK_DELIVER=\"TERM:QUIT,TERM:INT\": \"TERM:INT\" maps TERM "
	    "twice");
	load_bad("LAMEDUCK_DELIVER", "TERM:QUITE",
	    "LAMEDUCK_DELIVER=\"TERM:QUITE\": \"QUITE\" is not a signal "
	    "(try TERM, SIGTERM, 15 or RTMIN+2; names are upper case)");
	load_ok(&cfg, "LAMEDUCK_DELIVER", "TERM");
	assert_int_equal(cfg.deliver[SIGTERM], SIGTERM);
}

/* --- health --- */

static void
check_any(const struct ld_config *cfg, uint16_t port)
{
	struct sockaddr_in6 sin6;

	assert_false(cfg->health_off);
	assert_true(cfg->health_any);
	assert_int_equal(cfg->health_port, port);
	assert_int_equal(cfg->health_addrlen, sizeof(struct sockaddr_in6));
	memcpy(&sin6, &cfg->health_addr, sizeof(sin6));
	assert_int_equal(sin6.sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6.sin6_port), port);
	assert_memory_equal(&sin6.sin6_addr, &in6addr_any, sizeof(in6addr_any));
}

static void
test_health_forms(void **state)
{
	struct ld_config cfg;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
	char text[64];

	(void)state;
	ld_config_defaults(&cfg);
	check_any(&cfg, 8799);

	assert_int_equal(ld_parse_health(":9000", &cfg), 0);
	check_any(&cfg, 9000);
	assert_int_equal(ld_parse_health("9001", &cfg), 0);
	check_any(&cfg, 9001);
	assert_int_equal(ld_parse_health("65535", &cfg), 0);
	check_any(&cfg, 65535);
	assert_int_equal(ld_parse_health("1", &cfg), 0);
	check_any(&cfg, 1);

	assert_int_equal(ld_parse_health("127.0.0.1:8080", &cfg), 0);
	assert_false(cfg.health_any);
	assert_false(cfg.health_off);
	assert_int_equal(cfg.health_port, 8080);
	assert_int_equal(cfg.health_addrlen, sizeof(sin));
	memcpy(&sin, &cfg.health_addr, sizeof(sin));
	assert_int_equal(sin.sin_family, AF_INET);
	assert_int_equal(ntohs(sin.sin_port), 8080);
	assert_int_equal(ntohl(sin.sin_addr.s_addr), 0x7f000001);

	assert_int_equal(ld_parse_health("0.0.0.0:80", &cfg), 0);
	assert_false(cfg.health_any);	/* IPv4 only, as asked */
	memcpy(&sin, &cfg.health_addr, sizeof(sin));
	assert_int_equal(sin.sin_addr.s_addr, htonl(INADDR_ANY));

	assert_int_equal(ld_parse_health("[::1]:8799", &cfg), 0);
	assert_false(cfg.health_any);
	assert_int_equal(cfg.health_addrlen, sizeof(sin6));
	memcpy(&sin6, &cfg.health_addr, sizeof(sin6));
	assert_int_equal(sin6.sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6.sin6_port), 8799);
	assert_memory_equal(&sin6.sin6_addr, &lo6, sizeof(lo6));

	assert_int_equal(ld_parse_health("[fe80::1:2]:1234", &cfg), 0);
	memcpy(&sin6, &cfg.health_addr, sizeof(sin6));
	inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof(text));
	assert_string_equal(text, "fe80::1:2");
	assert_int_equal(ld_parse_health("[::ffff:10.0.0.1]:5", &cfg), 0);
	assert_int_equal(cfg.health_port, 5);
	assert_int_equal(ld_parse_health("[::]:8799", &cfg), 0);
	assert_false(cfg.health_any);	/* an explicit [::] is taken as given */

	assert_int_equal(ld_parse_health("off", &cfg), 0);
	assert_true(cfg.health_off);
	assert_false(cfg.health_any);
	assert_int_equal(cfg.health_addrlen, 0);
	/* and back on */
	assert_int_equal(ld_parse_health(":8799", &cfg), 0);
	check_any(&cfg, 8799);
}

static void
test_health_invalid(void **state)
{
	static const char *const t[] = {
		"", "OFF", "Off", "on", "none", ":", "0", ":0", "65536", ":65536",
		"99999999999999999999", "-1", "+80", " 80", "80 ", ":080",
		"08799", "localhost:8799", "example.com:80", "1.2.3:80",
		"1.2.3.4.5:80", "256.0.0.1:80", "01.2.3.4:80", "1.2.3.4:",
		"1.2.3.4", "1.2.3.4:0", "1.2.3.4:x", "::1:8799", "::1", "[::1]",
		"[::1]:", "[::1]8799", "[::1]:0", "[::1", "::1]:80", "[]:80",
		"[1.2.3.4]:80", "[::1%lo]:80", "[localhost]:80", "[::g]:80",
		"1.2.3.4]:80", "[::1]:80x", "abc", ":abc", "8799\n", "*:8799",
	};
	struct ld_config cfg, before;
	size_t i;

	(void)state;
	ld_config_defaults(&cfg);
	before = cfg;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (ld_parse_health(t[i], &cfg) == 0)
			fail_msg("\"%s\" accepted", t[i]);
		assert_memory_equal(&cfg, &before, sizeof(cfg));
	}
	assert_int_equal(ld_parse_health(NULL, &cfg), -1);
}

static void
test_health_messages(void **state)
{
	struct ld_config cfg;

	(void)state;
	load_ok(&cfg, "LAMEDUCK_HEALTH", "off");
	assert_true(cfg.health_off);
	load_ok(&cfg, "LAMEDUCK_HEALTH", "127.0.0.1:9");
	assert_int_equal(cfg.health_port, 9);
	load_bad("LAMEDUCK_HEALTH", "localhost:8799",
	    "LAMEDUCK_HEALTH=\"localhost:8799\" has a bad host "
	    "(a numeric IPv4 address, or IPv6 in brackets)");
	load_bad("LAMEDUCK_HEALTH", ":0",
	    "LAMEDUCK_HEALTH=\":0\" has a bad port (1 to 65535)");
	load_bad("LAMEDUCK_HEALTH", "70000",
	    "LAMEDUCK_HEALTH=\"70000\" has a bad port (1 to 65535)");
	load_bad("LAMEDUCK_HEALTH", "::1:8799",
	    "LAMEDUCK_HEALTH=\"::1:8799\" needs brackets around an IPv6 "
	    "address, e.g. [::1]:8799");
	load_bad("LAMEDUCK_HEALTH", "yes",
	    "LAMEDUCK_HEALTH=\"yes\" is not an address "
	    "(try :8799, 127.0.0.1:8799, [::1]:8799 or off)");
}

/* --- ports --- */

static void
test_ports(void **state)
{
	uint16_t p[LD_MAX_PORTS];
	char list[LD_MAX_PORTS * 8];
	struct ld_config cfg;
	int n, i;

	(void)state;
	assert_int_equal(ld_parse_ports("8080", p, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0], 8080);
	assert_int_equal(ld_parse_ports("80,443,1,65535", p, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(p[0], 80);
	assert_int_equal(p[1], 443);
	assert_int_equal(p[2], 1);
	assert_int_equal(p[3], 65535);

	/* Exactly LD_MAX_PORTS fit; one more does not. */
	list[0] = '\0';
	for (i = 0; i < LD_MAX_PORTS; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%d", i ? "," : "", 1000 + i);
	assert_int_equal(ld_parse_ports(list, p, &n), 0);
	assert_int_equal(n, LD_MAX_PORTS);
	assert_int_equal(p[LD_MAX_PORTS - 1], 1000 + LD_MAX_PORTS - 1);
	strcat(list, ",2000");
	n = 77;
	assert_int_equal(ld_parse_ports(list, p, &n), -1);
	assert_int_equal(n, 77);
	load_bad("LAMEDUCK_PORTS", list, NULL);

	assert_int_equal(ld_parse_ports("", p, &n), -1);
	assert_int_equal(ld_parse_ports("0", p, &n), -1);
	assert_int_equal(ld_parse_ports("65536", p, &n), -1);
	assert_int_equal(ld_parse_ports("080", p, &n), -1);
	assert_int_equal(ld_parse_ports("80,", p, &n), -1);
	assert_int_equal(ld_parse_ports(",80", p, &n), -1);
	assert_int_equal(ld_parse_ports("80,,81", p, &n), -1);
	assert_int_equal(ld_parse_ports("80, 81", p, &n), -1);
	assert_int_equal(ld_parse_ports("80,81,80", p, &n), -1);
	assert_int_equal(ld_parse_ports("http", p, &n), -1);
	assert_int_equal(ld_parse_ports(":80", p, &n), -1);
	assert_int_equal(ld_parse_ports("-80", p, &n), -1);
	assert_int_equal(ld_parse_ports("80-90", p, &n), -1);
	assert_int_equal(ld_parse_ports(NULL, p, &n), -1);
	assert_int_equal(n, 77);

	load_ok(&cfg, "LAMEDUCK_PORTS", "8080,9090");
	assert_int_equal(cfg.nports, 2);
	assert_int_equal(cfg.ports[1], 9090);
	load_bad("LAMEDUCK_PORTS", "80,81,80",
	    "LAMEDUCK_PORTS=\"80,81,80\": \"80\" is listed twice");
	load_bad("LAMEDUCK_PORTS", "80,x",
	    "LAMEDUCK_PORTS=\"80,x\": \"x\" is not a port (1 to 65535)");
	load_bad("LAMEDUCK_PORTS", "0",
	    "LAMEDUCK_PORTS=\"0\" is not a port (1 to 65535)");
	load_bad("LAMEDUCK_PORTS", "80,,81",
	    "LAMEDUCK_PORTS=\"80,,81\" has an empty item");
}

/* --- words --- */

static void
test_enums(void **state)
{
	struct ld_config cfg;

	(void)state;
	load_ok(&cfg, "LAMEDUCK_DRAIN", "always");
	assert_int_equal(cfg.drain, LD_DRAIN_ALWAYS);
	load_ok(&cfg, "LAMEDUCK_DRAIN", "auto");
	assert_int_equal(cfg.drain, LD_DRAIN_AUTO);
	load_ok(&cfg, "LAMEDUCK_DRAIN", "never");
	assert_int_equal(cfg.drain, LD_DRAIN_NEVER);
	load_bad("LAMEDUCK_DRAIN", "sometimes",
	    "LAMEDUCK_DRAIN=\"sometimes\" is not one of always, auto, never");
	load_bad("LAMEDUCK_DRAIN", "ALWAYS", NULL);
	load_bad("LAMEDUCK_DRAIN", "always ", NULL);
	load_bad("LAMEDUCK_DRAIN", "1", NULL);

	load_ok(&cfg, "LAMEDUCK_READY", "listen");
	assert_int_equal(cfg.ready, LD_READY_LISTEN);
	load_ok(&cfg, "LAMEDUCK_READY", "start");
	assert_int_equal(cfg.ready, LD_READY_START);
	load_bad("LAMEDUCK_READY", "Start",
	    "LAMEDUCK_READY=\"Start\" is not one of listen, start");
	load_bad("LAMEDUCK_READY", "listening", NULL);

	load_ok(&cfg, "LAMEDUCK_LOG", "off");
	assert_int_equal(cfg.log_level, LD_LOG_OFF);
	load_ok(&cfg, "LAMEDUCK_LOG", "error");
	assert_int_equal(cfg.log_level, LD_LOG_ERROR);
	load_ok(&cfg, "LAMEDUCK_LOG", "warn");
	assert_int_equal(cfg.log_level, LD_LOG_WARN);
	load_ok(&cfg, "LAMEDUCK_LOG", "info");
	assert_int_equal(cfg.log_level, LD_LOG_INFO);
	load_ok(&cfg, "LAMEDUCK_LOG", "debug");
	assert_int_equal(cfg.log_level, LD_LOG_DEBUG);
	load_bad("LAMEDUCK_LOG", "warning",
	    "LAMEDUCK_LOG=\"warning\" is not one of off, error, warn, info, "
	    "debug");
	load_bad("LAMEDUCK_LOG", "INFO", NULL);
	load_bad("LAMEDUCK_LOG", "0", NULL);

	load_ok(&cfg, "LAMEDUCK_LOG_FORMAT", "text");
	assert_int_equal(cfg.log_format, LD_FMT_TEXT);
	load_ok(&cfg, "LAMEDUCK_LOG_FORMAT", "json");
	assert_int_equal(cfg.log_format, LD_FMT_JSON);
	load_bad("LAMEDUCK_LOG_FORMAT", "JSON",
	    "LAMEDUCK_LOG_FORMAT=\"JSON\" is not one of text, json");
	load_bad("LAMEDUCK_LOG_FORMAT", "logfmt", NULL);
	load_ok(&cfg, "LAMEDUCK_RETIRE", "off");
	assert_int_equal(cfg.retire, 0);
	load_ok(&cfg, "LAMEDUCK_RETIRE", "on");
	assert_int_equal(cfg.retire, 1);
	load_bad("LAMEDUCK_RETIRE", "yes", "LAMEDUCK_RETIRE=\"yes\" is not one of off, on");
}

/* --- the whole --- */

static void
test_defaults(void **state)
{
	struct env none = { { NULL } };
	struct env other = { { "LAMEDUCK", "x", "LAMEDUCK_DELAYS", "x",
	    "lameduck_delay", "x", NULL } };
	struct ld_config cfg, want;
	char err[64];
	int i;

	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg));
	strcpy(err, "junk");
	assert_int_equal(ld_config_load(&cfg, env_get, &none, err,
	    sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.delay_ms, 10000);
	assert_int_equal(cfg.drain_timeout_ms, 15000);
	assert_int_equal(cfg.drain, LD_DRAIN_ALWAYS);
	assert_true(cfg.signals == bit(SIGTERM));
	for (i = 0; i < LD_NSIG; i++)
		assert_int_equal(cfg.deliver[i], i == SIGTERM ? SIGTERM : 0);
	check_any(&cfg, 8799);
	assert_int_equal(cfg.nports, 0);
	assert_int_equal(cfg.ready, LD_READY_LISTEN);
	assert_int_equal(cfg.log_level, LD_LOG_INFO);
	assert_int_equal(cfg.log_format, LD_FMT_TEXT);

	memset(&want, 0x5a, sizeof(want));
	ld_config_defaults(&want);
	assert_memory_equal(&cfg, &want, sizeof(cfg));
	/* Names that merely look alike are not read. */
	assert_int_equal(ld_config_load(&cfg, env_get, &other, NULL, 0), 0);
	assert_memory_equal(&cfg, &want, sizeof(cfg));
}

static void
test_everything_set(void **state)
{
	struct env e = { {
		"LAMEDUCK_DELAY", "30s",
		"LAMEDUCK_DRAIN_TIMEOUT", "1m",
		"LAMEDUCK_DRAIN", "auto",
		"LAMEDUCK_SIGNALS", "TERM,INT",
		"LAMEDUCK_DELIVER", "TERM:QUIT",
		"LAMEDUCK_HEALTH", "127.0.0.1:9999",
		"LAMEDUCK_PORTS", "8080",
		"LAMEDUCK_READY", "start",
		"LAMEDUCK_LOG", "debug",
		"LAMEDUCK_LOG_FORMAT", "json",
		NULL } };
	struct ld_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(ld_config_load(&cfg, env_get, &e, err, sizeof(err)), 0);
	assert_int_equal(cfg.delay_ms, 30000);
	assert_int_equal(cfg.drain_timeout_ms, 60000);
	assert_int_equal(cfg.drain, LD_DRAIN_AUTO);
	assert_true(cfg.signals == (bit(SIGTERM) | bit(SIGINT)));
	assert_int_equal(cfg.deliver[SIGTERM], SIGQUIT);
	assert_int_equal(cfg.deliver[SIGINT], SIGINT);
	assert_false(cfg.health_any);
	assert_int_equal(cfg.health_port, 9999);
	assert_int_equal(cfg.nports, 1);
	assert_int_equal(cfg.ports[0], 8080);
	assert_int_equal(cfg.ready, LD_READY_START);
	assert_int_equal(cfg.log_level, LD_LOG_DEBUG);
	assert_int_equal(cfg.log_format, LD_FMT_JSON);
}

static void
test_empty_values(void **state)
{
	static const char *const vars[] = { "LAMEDUCK_DELAY",
	    "LAMEDUCK_DRAIN_TIMEOUT", "LAMEDUCK_DRAIN", "LAMEDUCK_SIGNALS",
	    "LAMEDUCK_DELIVER", "LAMEDUCK_HEALTH", "LAMEDUCK_PORTS",
	    "LAMEDUCK_READY", "LAMEDUCK_LOG", "LAMEDUCK_LOG_FORMAT", "LAMEDUCK_RETIRE" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		load_bad(vars[i], "", NULL);
	load_bad("LAMEDUCK_DELAY", "",
	    "LAMEDUCK_DELAY=\"\" is empty (unset it for the default 10s)");
	load_bad("LAMEDUCK_PORTS", "",
	    "LAMEDUCK_PORTS=\"\" is empty (unset it to count every TCP listener)");
	load_bad("LAMEDUCK_HEALTH", "",
	    "LAMEDUCK_HEALTH=\"\" is empty (unset it for the default :8799)");
}

static void
test_first_error_wins(void **state)
{
	struct env e = { {
		"LAMEDUCK_LOG", "loud",
		"LAMEDUCK_DELAY", "5x",
		"LAMEDUCK_PORTS", "0",
		NULL } };
	struct env e2 = { {
		"LAMEDUCK_DELAY", "5s",
		"LAMEDUCK_SIGNALS", "KILL",
		"LAMEDUCK_LOG_FORMAT", "xml",
		NULL } };
	struct ld_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(ld_config_load(&cfg, env_get, &e, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "LAMEDUCK_DELAY=\"5x\" is not a duration (try 500ms, 5s, 1m)");
	assert_int_equal(ld_config_load(&cfg, env_get, &e2, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, "LAMEDUCK_SIGNALS=\"KILL\"", 23), 0);
	/* A signal list refused leaves the defaults for the rest. */
	assert_true(cfg.signals == bit(SIGTERM));
	assert_int_equal(cfg.log_format, LD_FMT_TEXT);
}

/* Values with control bytes, quotes or great length are shown safely. */
static void
test_message_escaping(void **state)
{
	char big[5000], want[256];
	struct env e = { { "LAMEDUCK_DELAY", big, NULL } };
	struct ld_config cfg;
	char err[512], tiny[16];

	(void)state;
	load_bad("LAMEDUCK_DELAY", "5s\x1b[31m",
	    "LAMEDUCK_DELAY=\"5s\\x1b[31m\" is not a duration "
	    "(try 500ms, 5s, 1m)");
	load_bad("LAMEDUCK_LOG", "a\"b\\c\n\t\x7f\xc3\xa9",
	    "LAMEDUCK_LOG=\"a\\\"b\\\\c\\x0a\\x09\\x7f\\xc3\\xa9\" is not one "
	    "of off, error, warn, info, debug");
	load_bad("LAMEDUCK_PORTS", "80,\x01",
	    "LAMEDUCK_PORTS=\"80,\\x01\": \"\\x01\" is not a port (1 to 65535)");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(want, sizeof(want), "LAMEDUCK_DELAY=\"%.64s\"... is not a "
	    "duration (try 500ms, 5s, 1m)", big);
	assert_int_equal(ld_config_load(&cfg, env_get, &e, err, sizeof(err)), -1);
	assert_string_equal(err, want);

	/* A small buffer is cut, always terminated. */
	assert_int_equal(ld_config_load(&cfg, env_get, &e, tiny, sizeof(tiny)),
	    -1);
	assert_string_equal(tiny, "LAMEDUCK_DELAY=");
	assert_int_equal(ld_config_load(&cfg, env_get, &e, tiny, 1), -1);
	assert_string_equal(tiny, "");
	assert_int_equal(ld_config_load(&cfg, env_get, &e, NULL, 0), -1);
	assert_int_equal(ld_config_load(&cfg, env_get, &e, tiny, 0), -1);
}

/* --- shown as lameduck --check prints it --- */

static void
test_config_names(void **state)
{
	static const char *const want[LD_NVARS] = { "LAMEDUCK_DELAY",
	    "LAMEDUCK_DRAIN_TIMEOUT", "LAMEDUCK_DRAIN", "LAMEDUCK_SIGNALS",
	    "LAMEDUCK_DELIVER", "LAMEDUCK_HEALTH", "LAMEDUCK_PORTS",
	    "LAMEDUCK_READY", "LAMEDUCK_LOG", "LAMEDUCK_LOG_FORMAT", "LAMEDUCK_RETIRE" };
	struct ld_config cfg;
	char buf[16];
	int v;

	(void)state;
	for (v = 0; v < LD_NVARS; v++)
		assert_string_equal(ld_config_name((enum ld_var)v), want[v]);
	assert_null(ld_config_name(LD_NVARS));
	assert_null(ld_config_name((enum ld_var)-1));
	ld_config_defaults(&cfg);
	strcpy(buf, "junk");
	assert_int_equal(ld_config_show(&cfg, LD_NVARS, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
}

/* Shows every variable of the configuration e loads into val[]. */
static void
show_all(const struct env *e, struct ld_config *cfg,
    char val[LD_NVARS][LD_SHOW_MAX])
{
	char err[256];
	int v;

	if (ld_config_load(cfg, env_get, (void *)e, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	for (v = 0; v < LD_NVARS; v++)
		if (ld_config_show(cfg, (enum ld_var)v, val[v], LD_SHOW_MAX) != 0)
			fail_msg("%s=%s did not fit", ld_config_name((enum ld_var)v),
			    val[v]);
}

/* What the README and lameduck(1) show for --check, byte for byte. */
static void
test_show_values(void **state)
{
	static const char *const dflt[LD_NVARS] = { "10s", "15s", "always",
	    "TERM", "TERM", ":8799", "", "listen", "info", "text", "on" };
	static const char *const set[LD_NVARS] = { "1m30s", "1s500ms",
	    "auto", "INT,TERM", "INT:INT,TERM:QUIT", "[::1]:9000",
	    "8080,443", "start", "debug", "json", "off" };
	struct env none = { { NULL } };
	struct env e = { {
		"LAMEDUCK_DELAY", "90",
		"LAMEDUCK_DRAIN_TIMEOUT", "1500ms",
		"LAMEDUCK_DRAIN", "auto",
		"LAMEDUCK_SIGNALS", "SIGTERM,2",
		"LAMEDUCK_DELIVER", "15:SIGQUIT",
		"LAMEDUCK_HEALTH", "[0:0::1]:9000",
		"LAMEDUCK_PORTS", "8080,443",
		"LAMEDUCK_READY", "start",
		"LAMEDUCK_LOG", "debug",
		"LAMEDUCK_LOG_FORMAT", "json",
		"LAMEDUCK_RETIRE", "off",
		NULL } };
	char val[LD_NVARS][LD_SHOW_MAX];
	struct ld_config cfg;
	int v;

	(void)state;
	show_all(&none, &cfg, val);
	for (v = 0; v < LD_NVARS; v++)
		assert_string_equal(val[v], dflt[v]);
	show_all(&e, &cfg, val);
	for (v = 0; v < LD_NVARS; v++)
		assert_string_equal(val[v], set[v]);
}

/*
 * Every variable shown and read back gives the same configuration, and
 * shows the same again (LAMEDUCK_PORTS's "" stays unset).
 */
static void
test_show_roundtrip(void **state)
{
	static const char *const c[][LD_NVARS] = {
		{ NULL },
		{ "1m1ms", "0", "never", "HUP,USR1,RTMIN,RTMIN+15,RTMAX-14,RTMAX",
		    NULL, "off", "1,65535", "listen", "off", "text" },
		{ "59m59s999ms", "1h", "always", "TERM,INT", "TERM:TERM", ":1",
		    "80", NULL, "error", NULL },
		{ "999ms", "3599001ms", NULL, "TERM,INT", "USR2", "0.0.0.0:80",
		    NULL, NULL, "warn", NULL },
		{ NULL, NULL, NULL, "TERM,INT,HUP", "INT:RTMIN+3,HUP:RTMAX",
		    "[::]:8799", NULL, NULL, "info", NULL },
		{ NULL, NULL, NULL, "WINCH", "WINCH:SEGV", "[::ffff:10.1.2.3]:8080",
		    NULL, NULL, NULL, NULL },
		{ NULL, NULL, NULL, NULL, NULL, "255.255.255.255:65535", NULL,
		    NULL, NULL, NULL },
		{ NULL, NULL, NULL, NULL, NULL,
		    "[fe80::1:2:3:4]:9", NULL, NULL, NULL, NULL },
		{ NULL, NULL, NULL, NULL, NULL, "7", NULL, NULL, NULL, NULL },
	};
	char val[LD_NVARS][LD_SHOW_MAX], again[LD_NVARS][LD_SHOW_MAX];
	char ports[LD_MAX_PORTS * 6], all[LD_SHOW_MAX], map[LD_SHOW_MAX];
	struct ld_config cfg, back;
	struct env e, shown;
	size_t i, n;
	int v, sig, to;

	(void)state;
	/* The longest values: every port, every signal mapped elsewhere. */
	ports[0] = all[0] = map[0] = '\0';
	for (i = 0; i < LD_MAX_PORTS; i++)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports),
		    "%s%zu", i ? "," : "", 65535 - i);
	for (sig = 1, to = 1; sig < LD_NSIG; sig++) {
		if (!ld_signal_allowed(sig))
			continue;
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%d",
		    all[0] ? "," : "", sig);
		to = to == SIGRTMIN + 15 ? SIGRTMAX - 14 : SIGRTMIN + 15;
		snprintf(map + strlen(map), sizeof(map) - strlen(map),
		    "%s%d:%d", map[0] ? "," : "", sig, to);
	}

	for (i = 0; i <= sizeof(c) / sizeof(c[0]); i++) {
		memset(&e, 0, sizeof(e));
		n = 0;
		for (v = 0; v < LD_NVARS; v++) {
			const char *val0 = i < sizeof(c) / sizeof(c[0]) ?
			    c[i][v] : v == LD_VAR_PORTS ? ports :
			    v == LD_VAR_SIGNALS ? all :
			    v == LD_VAR_DELIVER ? map : NULL;

			if (val0 == NULL)
				continue;
			e.kv[n++] = ld_config_name((enum ld_var)v);
			e.kv[n++] = val0;
		}
		show_all(&e, &cfg, val);

		memset(&shown, 0, sizeof(shown));
		n = 0;
		for (v = 0; v < LD_NVARS; v++) {
			if (val[v][0] == '\0') {
				assert_int_equal(v, LD_VAR_PORTS);
				continue;
			}
			shown.kv[n++] = ld_config_name((enum ld_var)v);
			shown.kv[n++] = val[v];
		}
		show_all(&shown, &back, again);
		assert_memory_equal(&cfg, &back, sizeof(cfg));
		for (v = 0; v < LD_NVARS; v++)
			assert_string_equal(again[v], val[v]);
	}
}

static void
test_show_small_buffer(void **state)
{
	struct ld_config cfg;
	char buf[8];
	int v;

	(void)state;
	ld_config_defaults(&cfg);
	assert_int_equal(ld_parse_health("[::1]:9000", &cfg), 0);
	assert_int_equal(ld_config_show(&cfg, LD_VAR_HEALTH, buf, 4), -1);
	assert_string_equal(buf, "[::");
	assert_int_equal(ld_config_show(&cfg, LD_VAR_HEALTH, buf, 1), -1);
	assert_string_equal(buf, "");
	assert_int_equal(ld_config_show(&cfg, LD_VAR_HEALTH, NULL, 0), -1);
	assert_int_equal(ld_config_show(&cfg, LD_VAR_DELAY, buf, 3), -1);
	assert_string_equal(buf, "10");
	assert_int_equal(ld_config_show(&cfg, LD_VAR_DELAY, buf, 4), 0);
	assert_string_equal(buf, "10s");
	assert_int_equal(ld_config_show(&cfg, LD_VAR_DRAIN, buf, 6), -1);
	assert_string_equal(buf, "alway");
	/* The default ports show as nothing, which always fits. */
	assert_int_equal(ld_config_show(&cfg, LD_VAR_PORTS, buf, 1), 0);
	for (v = 0; v < LD_NVARS; v++)
		assert_int_equal(ld_config_show(&cfg, (enum ld_var)v, buf, 0),
		    v == LD_VAR_PORTS ? 0 : -1);
}

static void
test_format_signals(void **state)
{
	char buf[LD_SHOW_MAX], tiny[6];
	uint64_t set;

	(void)state;
	assert_int_equal(ld_format_signals(bit(SIGTERM) | bit(SIGINT), buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "INT,TERM");
	assert_int_equal(ld_format_signals(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(ld_format_signals(bit(35) | bit(64) | bit(33), buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "33,RTMIN+1,RTMAX");
	assert_int_equal(ld_format_signals(~(uint64_t)0, buf, sizeof(buf)), 0);
	assert_int_equal(strncmp(buf, "HUP,INT,QUIT,", 13), 0);
	/* What it writes, LAMEDUCK_SIGNALS takes back. */
	assert_int_equal(ld_format_signals(bit(SIGHUP) | bit(SIGUSR2) |
	    bit(40), buf, sizeof(buf)), 0);
	assert_int_equal(ld_parse_signal_list(buf, &set), 0);
	assert_true(set == (bit(SIGHUP) | bit(SIGUSR2) | bit(40)));

	assert_int_equal(ld_format_signals(bit(SIGTERM) | bit(SIGINT), tiny,
	    sizeof(tiny)), -1);
	assert_string_equal(tiny, "INT,T");
	assert_int_equal(ld_format_signals(bit(SIGTERM), tiny, 0), -1);
	assert_int_equal(ld_format_signals(bit(SIGTERM), NULL, 0), -1);
}

static void
test_format_health(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct ld_config cfg;
	char buf[64];

	(void)state;
	ld_config_defaults(&cfg);
	assert_int_equal(ld_format_health(&cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, ":8799");
	/* The address behind ":8799" is every IPv6 one. */
	assert_int_equal(ld_format_sockaddr((struct sockaddr *)&cfg.health_addr,
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[::]:8799");
	assert_int_equal(ld_parse_health("off", &cfg), 0);
	assert_int_equal(ld_format_health(&cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "off");
	assert_int_equal(ld_parse_health("10.0.0.1:80", &cfg), 0);
	assert_int_equal(ld_format_health(&cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.1:80");
	assert_int_equal(ld_format_health(&cfg, buf, 5), -1);
	assert_string_equal(buf, "10.0");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(443);
	sin.sin_addr.s_addr = htonl(0xc0a80001);
	assert_int_equal(ld_format_sockaddr((struct sockaddr *)&sin, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "192.168.0.1:443");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(65535);
	sin6.sin6_addr = in6addr_loopback;
	assert_int_equal(ld_format_sockaddr((struct sockaddr *)&sin6, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "[::1]:65535");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(ld_format_sockaddr((struct sockaddr *)&ss, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "(family 1)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_duration_bounds),
		cmocka_unit_test(test_duration_messages),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_format_exact_roundtrip),
		cmocka_unit_test(test_signal_names),
		cmocka_unit_test(test_signal_rt),
		cmocka_unit_test(test_signal_invalid),
		cmocka_unit_test(test_signal_allowed),
		cmocka_unit_test(test_signal_name),
		cmocka_unit_test(test_signal_list),
		cmocka_unit_test(test_signals_forbidden),
		cmocka_unit_test(test_signals_var),
		cmocka_unit_test(test_deliver_single),
		cmocka_unit_test(test_deliver_map),
		cmocka_unit_test(test_deliver_var),
		cmocka_unit_test(test_health_forms),
		cmocka_unit_test(test_health_invalid),
		cmocka_unit_test(test_health_messages),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_everything_set),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_message_escaping),
		cmocka_unit_test(test_config_names),
		cmocka_unit_test(test_show_values),
		cmocka_unit_test(test_show_roundtrip),
		cmocka_unit_test(test_show_small_buffer),
		cmocka_unit_test(test_format_signals),
		cmocka_unit_test(test_format_health),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
