/* The lifecycle state machine: one struct, changed only here. Pure. */
#ifndef LD_LIFECYCLE_H
#define LD_LIFECYCLE_H

#include "config.h"

enum ld_state {
	LD_ST_STARTING,
	LD_ST_SERVING,
	LD_ST_LAMEDUCK,
	LD_ST_DRAINING,
	LD_ST_DELIVERED,
	LD_ST_COUNT
};

enum ld_action {
	LD_ACT_NONE,
	LD_ACT_LAMEDUCK,	/* entered lame duck: report not ready, start the delay */
	LD_ACT_DRAIN,		/* stop accepting, wait for the requests in flight */
	LD_ACT_DELIVER,		/* hand the signal to the program now */
};

struct ld_lifecycle {
	enum ld_state	state;
	long long	entered_ms[LD_ST_COUNT];	/* monotonic ms, -1: never */
	long long	deadline_ms;	/* end of the delay or of the drain, -1: none */
	int		sig;		/* the lame-duck signal that started it */
	int		deliver;	/* what is delivered for it */
	unsigned long long signals;	/* lame-duck signals received */
	long long	delay_ms;
	long long	drain_timeout_ms;
	int		drain;		/* draining is wanted after the delay */
};

void	ld_lc_init(struct ld_lifecycle *lc, const struct ld_config *cfg, long long now);
/* The listeners that count listen (or LAMEDUCK_READY=start). */
void	ld_lc_ready(struct ld_lifecycle *lc, long long now);
/*
 * A lame-duck signal arrived. `deliver` is what LAMEDUCK_DELIVER makes of it,
 * `drain` whether a drain is wanted for it (LAMEDUCK_DRAIN and the program's
 * disposition, decided by the caller). Returns LAMEDUCK, DELIVER (while
 * starting, or a second signal) or NONE (after delivery: not ours any more).
 */
enum ld_action ld_lc_signal(struct ld_lifecycle *lc, int sig, int deliver, int drain,
	    long long now);
/* Time passed or the count in flight changed. */
enum ld_action ld_lc_tick(struct ld_lifecycle *lc, long long now, long long in_flight);
void	ld_lc_delivered(struct ld_lifecycle *lc, long long now);
/* Milliseconds until the next deadline (0 if due), or -1 when none. */
long long ld_lc_timeout(const struct ld_lifecycle *lc, long long now);
int	ld_lc_is_ready(const struct ld_lifecycle *lc);
/* Seconds spent in a state so far (0 if never entered). */
double	ld_lc_seconds_in(const struct ld_lifecycle *lc, enum ld_state st, long long now);
const char *ld_lc_state_name(enum ld_state st);

#endif
