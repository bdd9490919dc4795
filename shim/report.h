/* The lifecycle's log lines, the same from the shim's owner and from lameduck --supervise. */
#ifndef LD_REPORT_H
#define LD_REPORT_H

#include "lifecycle.h"

/* Does the default action of sig end a process? */
int	ld_default_kills(int sig);
/* A lame-duck signal from pid met the lifecycle in state prev, which answered a. */
void	ld_report_signal(enum ld_action a, enum ld_state prev, int sig, int pid);
/* The drain ends (lc still DRAINING): drained, or cut at its timeout. */
void	ld_report_drained(const struct ld_lifecycle *lc, long long now, long in_flight,
	    long drained);

#endif
