/*
 * The lifecycle's log lines. The shim's owner and the supervisor
 * (launcher/supervise.c) say the same things at the same moments, so that
 * whatever reads the log reads either.
 */
#include <signal.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "report.h"

int
ld_default_kills(int sig)
{
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return 0;
	default:
		return 1;
	}
}

void
ld_report_signal(enum ld_action a, enum ld_state prev, int sig, int pid)
{
	char name[16], d[32], from[48];

	(void)ld_signal_name(sig, name, sizeof(name));
	/* The kernel says 0 for a sender outside our PID namespace (a container's runtime). */
	if (pid == 0)
		snprintf(from, sizeof(from), "pid 0 (outside this PID namespace)");
	else
		snprintf(from, sizeof(from), "pid %d", pid);
	if (a == LD_ACT_LAMEDUCK) {
		ld_format_duration(ld_cfg.delay_ms, d, sizeof(d));
		ld_info("SIG%s from %s: not ready, serving %s more", name, from, d);
	} else if (a == LD_ACT_DELIVER && prev == LD_ST_STARTING)
		ld_info("SIG%s from %s while starting: nothing to wait for", name, from);
	else if (a == LD_ACT_DELIVER)
		ld_info("another SIG%s from %s: skipping the rest of the %s", name, from,
		    prev == LD_ST_DRAINING ? "drain" : "delay");
}

void
ld_report_drained(const struct ld_lifecycle *lc, long long now, long in_flight, long drained)
{
	double secs = (double)(now - lc->entered_ms[LD_ST_DRAINING]) / 1000.0;

	if (in_flight > 0)
		ld_warn("drain timeout after %.2fs: %ld request%s still in flight will be cut",
		    secs, in_flight, in_flight == 1 ? "" : "s");
	else
		ld_info("drained in %.2fs (%ld connection%s open when it began)", secs, drained,
		    drained == 1 ? "" : "s");
}
