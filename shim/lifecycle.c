/*
 * The lifecycle: starting -> serving -> lame duck -> [draining] -> delivered.
 * Pure: time comes in as arguments, actions go out as return values; the
 * caller (owner.c) does the I/O.
 */
#include <string.h>

#include "lifecycle.h"

static const char *const state_names[LD_ST_COUNT] = {
	"starting", "serving", "lameduck", "draining", "delivered",
};

static void
enter(struct ld_lifecycle *lc, enum ld_state st, long long now)
{
	lc->state = st;
	lc->entered_ms[st] = now;
}

void
ld_lc_init(struct ld_lifecycle *lc, const struct ld_config *cfg, long long now)
{
	memset(lc, 0, sizeof(*lc));
	for (int i = 0; i < LD_ST_COUNT; i++)
		lc->entered_ms[i] = -1;
	lc->deadline_ms = -1;
	lc->delay_ms = cfg->delay_ms;
	lc->drain_timeout_ms = cfg->drain_timeout_ms;
	enter(lc, LD_ST_STARTING, now);
}

void
ld_lc_ready(struct ld_lifecycle *lc, long long now)
{
	if (lc->state == LD_ST_STARTING)
		enter(lc, LD_ST_SERVING, now);
}

enum ld_action
ld_lc_signal(struct ld_lifecycle *lc, int sig, int deliver, int drain, long long now)
{
	switch (lc->state) {
	case LD_ST_DELIVERED:
		return LD_ACT_NONE;
	case LD_ST_STARTING:
		/* Nothing can be routed to us yet: no reason to wait. */
		lc->signals++;
		lc->sig = sig;
		lc->deliver = deliver;
		return LD_ACT_DELIVER;
	case LD_ST_SERVING:
		lc->signals++;
		lc->sig = sig;
		lc->deliver = deliver;
		lc->drain = drain;
		enter(lc, LD_ST_LAMEDUCK, now);
		lc->deadline_ms = now + lc->delay_ms;
		return LD_ACT_LAMEDUCK;
	case LD_ST_LAMEDUCK:
	case LD_ST_DRAINING:
	default:
		/* An impatient operator: skip the rest. The first signal is delivered. */
		lc->signals++;
		return LD_ACT_DELIVER;
	}
}

enum ld_action
ld_lc_tick(struct ld_lifecycle *lc, long long now, long long in_flight)
{
	switch (lc->state) {
	case LD_ST_LAMEDUCK:
		if (now < lc->deadline_ms)
			return LD_ACT_NONE;
		if (!lc->drain)
			return LD_ACT_DELIVER;
		enter(lc, LD_ST_DRAINING, now);
		lc->deadline_ms = now + lc->drain_timeout_ms;
		return LD_ACT_DRAIN;
	case LD_ST_DRAINING:
		if (in_flight <= 0 || now >= lc->deadline_ms)
			return LD_ACT_DELIVER;
		return LD_ACT_NONE;
	default:
		return LD_ACT_NONE;
	}
}

void
ld_lc_delivered(struct ld_lifecycle *lc, long long now)
{
	if (lc->state != LD_ST_DELIVERED)
		enter(lc, LD_ST_DELIVERED, now);
	lc->deadline_ms = -1;
}

long long
ld_lc_timeout(const struct ld_lifecycle *lc, long long now)
{
	if (lc->deadline_ms < 0)
		return -1;
	return lc->deadline_ms > now ? lc->deadline_ms - now : 0;
}

int
ld_lc_is_ready(const struct ld_lifecycle *lc)
{
	return lc->state == LD_ST_SERVING;
}

double
ld_lc_seconds_in(const struct ld_lifecycle *lc, enum ld_state st, long long now)
{
	long long start = lc->entered_ms[st], end = now;

	if (start < 0)
		return 0;
	/* A state ends when a later one is entered. */
	for (int i = st + 1; i < LD_ST_COUNT; i++)
		if (lc->entered_ms[i] >= 0) {
			end = lc->entered_ms[i];
			break;
		}
	return (double)(end - start) / 1000.0;
}

const char *
ld_lc_state_name(enum ld_state st)
{
	return st >= 0 && st < LD_ST_COUNT ? state_names[st] : "?";
}
