/*
 * libFuzzer target for the signal names: ld_parse_signal, ld_signal_name,
 * ld_parse_signal_list and ld_parse_deliver.
 *
 * The input is a string (up to its first NUL). With a '|' in it, the part
 * before is the LAMEDUCK_SIGNALS list and the part after the LAMEDUCK_DELIVER
 * value; without, the whole string is tried as both. The first byte also
 * picks a buffer size (0 to 16) for ld_signal_name, a heap block of exactly
 * that size.
 *
 * Properties:
 * - a parsed signal is 1..64; its name parses back to it, with and without
 *   "SIG", and is upper-case letters, digits, '+' and '-';
 * - a list is accepted exactly when every item is a signal name of under 16
 *   bytes, allowed, and not repeated; its set has one bit per item, and the
 *   set written back as names parses to itself;
 * - a deliver value is accepted exactly when a plain reading of it says so
 *   (one deliverable signal, or pairs whose keys are in the set, each once,
 *   and whose targets are deliverable); the map then has a target exactly
 *   for the signals of the set;
 * - ld_signal_name writes a NUL-terminated prefix of the name into any
 *   buffer, of any number.
 * Before the first input, every signal 1..64 is checked the same way, and
 * ld_signal_allowed against the README's list.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_signals"
#include "rules.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ITEM_MAX	16	/* the loader reads list items into char[16] */

/* ld_signal_name into an exact heap block of len bytes: a prefix of full. */
static void
name_into(int sig, size_t len, const char *full)
{
	char *buf = malloc(len ? len : 1);
	const char *r;

	if (buf == NULL)
		abort();
	r = ld_signal_name(sig, buf, len);
	if (len == 0) {
		if (r == NULL || *r != '\0')
			broken("ld_signal_name(%d) into 0 bytes gave \"%s\"", sig, r ? r : "(null)");
	} else {
		size_t n = strnlen(buf, len);

		if (r != buf || n == len)
			broken("ld_signal_name(%d) into %zu bytes: no NUL", sig, len);
		if (full != NULL && strncmp(buf, full, n) != 0)
			broken("ld_signal_name(%d) into %zu bytes: \"%s\", not a prefix of \"%s\"",
			    sig, len, buf, full);
	}
	free(buf);
}

/* sig's name parses back to sig, with and without "SIG". */
static void
round_trip(int sig)
{
	char name[32], with[40];
	int back = -1;

	ld_signal_name(sig, name, sizeof(name));
	if (name[0] == '\0' || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-") !=
	    strlen(name))
		broken("signal %d is named \"%s\"", sig, name);
	if (ld_parse_signal(name, &back) != 0 || back != sig)
		broken("signal %d named \"%s\" parses to %d", sig, name, back);
	snprintf(with, sizeof(with), "SIG%s", name);
	back = -1;
	if ((name[0] < '0' || name[0] > '9') && (ld_parse_signal(with, &back) != 0 || back != sig))
		broken("signal %d named \"%s\" parses to %d", sig, with, back);
	for (size_t len = 0; len <= strlen(name) + 1; len++)
		name_into(sig, len, name);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (int sig = 1; sig < LD_NSIG; sig++)
		round_trip(sig);
	for (int sig = -2; sig < LD_NSIG + 2; sig++)
		if ((ld_signal_allowed(sig) != 0) != allowed(sig))
			broken("ld_signal_allowed(%d) is %d", sig, ld_signal_allowed(sig));
	return 0;
}

/* One item of a list, as the loader reads it: under 16 bytes, then parsed. */
static int
item(const char *s, size_t n, int *sig)
{
	char buf[ITEM_MAX];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return ld_parse_signal(buf, sig);
}

/* A plain reading of a LAMEDUCK_SIGNALS list. */
static int
list_oracle(const char *s, uint64_t *set)
{
	const char *p = s, *comma;
	uint64_t acc = 0;
	int sig;

	for (;;) {
		size_t n;

		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (item(p, n, &sig) != 0 || !allowed(sig) || ld_sigset_has(acc, sig))
			return -1;
		acc |= (uint64_t)1 << (sig - 1);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*set = acc;
	return 0;
}

/* A plain reading of a LAMEDUCK_DELIVER value, for the set `signals`. */
static int
deliver_oracle(const char *s, uint64_t signals, int map[LD_NSIG])
{
	const char *p = s, *comma, *colon;
	uint64_t seen = 0;
	int sig, to;

	memset(map, 0, sizeof(int) * LD_NSIG);
	if (*s == '\0')
		return -1;
	if (strchr(s, ':') == NULL) {
		if (ld_parse_signal(s, &to) != 0 || !deliverable(to))
			return -1;
		for (sig = 1; sig < LD_NSIG; sig++)
			if (ld_sigset_has(signals, sig))
				map[sig] = to;
		return 0;
	}
	for (sig = 1; sig < LD_NSIG; sig++)
		if (ld_sigset_has(signals, sig))
			map[sig] = sig;
	for (;;) {
		size_t n;

		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		colon = memchr(p, ':', n);
		if (colon == NULL || item(p, (size_t)(colon - p), &sig) != 0 ||
		    item(colon + 1, n - (size_t)(colon - p) - 1, &to) != 0 ||
		    !ld_sigset_has(signals, sig) || ld_sigset_has(seen, sig) || !deliverable(to))
			return -1;
		seen |= (uint64_t)1 << (sig - 1);
		map[sig] = to;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

static void
check_list(const char *s, uint64_t *signals)
{
	char names[LD_NSIG * 12], one[16];
	uint64_t set = 0, want = 0, back = 0;
	int r = ld_parse_signal_list(s, &set), w = list_oracle(s, &want);

	if ((r == 0) != (w == 0) || (r == 0 && set != want))
		broken("list \"%s\": ld_parse_signal_list %d (%#llx), plain reading %d (%#llx)", s,
		    r, (unsigned long long)set, w, (unsigned long long)want);
	if (r != 0)
		return;
	if (set == 0)
		broken("list \"%s\" accepted as the empty set", s);
	names[0] = '\0';
	for (int sig = 1; sig < LD_NSIG; sig++) {
		if (!ld_sigset_has(set, sig))
			continue;
		if (!allowed(sig))
			broken("list \"%s\" holds signal %d", s, sig);
		if (names[0] != '\0')
			strcat(names, ",");
		strcat(names, ld_signal_name(sig, one, sizeof(one)));
	}
	if (ld_parse_signal_list(names, &back) != 0 || back != set)
		broken("list \"%s\" written back as \"%s\" parses to %#llx", s, names,
		    (unsigned long long)back);
	*signals = set;
}

static void
check_deliver(const char *s, uint64_t signals)
{
	int got[LD_NSIG], want[LD_NSIG];
	int r, w;

	memset(got, 0x5a, sizeof(got));
	r = ld_parse_deliver(s, signals, got);
	w = deliver_oracle(s, signals, want);
	if ((r == 0) != (w == 0))
		broken("deliver \"%s\" for %#llx: ld_parse_deliver %d, plain reading %d", s,
		    (unsigned long long)signals, r, w);
	if (r != 0)
		return;
	for (int sig = 1; sig < LD_NSIG; sig++) {
		if (got[sig] != want[sig])
			broken("deliver \"%s\": [%d] = %d, expected %d", s, sig, got[sig], want[sig]);
		if ((got[sig] != 0) != ld_sigset_has(signals, sig) ||
		    (got[sig] != 0 && !deliverable(got[sig])))
			broken("deliver \"%s\": [%d] = %d", s, sig, got[sig]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *bar;
	uint64_t signals = (uint64_t)1 << (SIGTERM - 1);
	int sig = -1, any;

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';

	if (ld_parse_signal(s, &sig) == 0) {
		if (sig < 1 || sig >= LD_NSIG)
			broken("\"%s\" parses to %d", s, sig);
		round_trip(sig);
		name_into(sig, size > 0 ? (size_t)data[0] % 17 : 0, NULL);
	}
	/* Any number at all gets a name, into any buffer. */
	if (size >= 5) {
		memcpy(&any, data + 1, sizeof(any));
		name_into(any, (size_t)data[0] % 17, NULL);
	}

	if ((bar = strchr(s, '|')) != NULL) {
		*bar = '\0';
		check_list(s, &signals);
		check_deliver(bar + 1, signals);
	} else {
		check_list(s, &signals);
		check_deliver(s, signals);
		check_deliver(s, (uint64_t)1 << (SIGTERM - 1));
	}
	free(s);
	return 0;
}
