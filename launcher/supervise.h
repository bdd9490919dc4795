/* lameduck --supervise: the lifecycle from outside, for programs the shim can not load into. */
#ifndef LD_SUPERVISE_H
#define LD_SUPERVISE_H

/* LAMEDUCK_STOP_LISTENERS: stop the program's listeners at the drain. */
enum ld_stop { LD_STOP_OFF, LD_STOP_ON };

/*
 * Runs argv as a child under the configuration in the environment (already
 * checked) and never returns: exits with the child's status.
 */
void	ld_supervise(char *argv[], enum ld_stop stop) __attribute__((noreturn));

#endif
