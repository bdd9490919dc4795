/* Logging: one line an event, to a protected duplicate of stderr, from the owner. */
#ifndef LD_LOG_H
#define LD_LOG_H

#include "config.h"

/*
 * Take the duplicate of stderr (not when it is a socket): now, or with lazy
 * at the first line logged. Returns the fd, or -1 (none, or not yet).
 */
int	ld_log_open(enum ld_level level, enum ld_format fmt, int lazy);
void	ld_log(enum ld_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define ld_err(...)	ld_log(LD_LOG_ERROR, __VA_ARGS__)
#define ld_warn(...)	ld_log(LD_LOG_WARN, __VA_ARGS__)
#define ld_info(...)	ld_log(LD_LOG_INFO, __VA_ARGS__)
#define ld_debug(...)	ld_log(LD_LOG_DEBUG, __VA_ARGS__)

#endif
