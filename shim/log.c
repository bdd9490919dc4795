/*
 * Logging. Never called from a signal handler: lines are formatted with
 * vsnprintf into a stack buffer and written with one write(2), so lines from
 * several threads never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdtab.h"
#include "log.h"
#include "real.h"

static enum ld_level log_level = LD_LOG_INFO;
static enum ld_format log_format = LD_FMT_TEXT;
static _Atomic int log_pending;	/* lazy: stderr is duplicated at the first line */

static int
dup_stderr(void)
{
	struct stat st;

	/* inetd-style servers have the client on fd 2: write nothing there. */
	if (ld_fstat(2, &st) == -1 || S_ISSOCK(st.st_mode))
		return -1;
	ld_own_set(LD_OWN_LOG, ld_own_hide(ld_real.fcntl(2, F_DUPFD_CLOEXEC, 3)));
	return ld_own(LD_OWN_LOG);
}

int
ld_log_open(enum ld_level level, enum ld_format fmt, int lazy)
{
	log_level = level;
	log_format = fmt;
	if (level == LD_LOG_OFF)
		return -1;
	if (lazy) {
		atomic_store(&log_pending, 1);
		return -1;
	}
	return dup_stderr();
}

static const char *const level_names[] = { "off", "error", "warn", "info", "debug" };

/* JSON string body: escape quotes, backslashes and control characters. */
static size_t
json_escape(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 7 < cap; src++) {
		unsigned char c = (unsigned char)*src;

		if (c == '"' || c == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
		} else
			dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return n;
}

void
ld_log(enum ld_level level, const char *fmt, ...)
{
	char msg[768], line[1024];
	struct timespec ts;
	va_list ap;
	int saved = errno, n, log_fd;

	if (level > log_level || level == LD_LOG_OFF)
		return;
	/* One thread takes the lazy duplicate; a line racing it is dropped. */
	if ((log_fd = ld_own(LD_OWN_LOG)) == -1 && atomic_exchange(&log_pending, 0))
		log_fd = dup_stderr();
	if (log_fd == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (log_format == LD_FMT_JSON) {
		char esc[sizeof(line) - 128];

		json_escape(esc, sizeof(esc), msg);
		clock_gettime(CLOCK_REALTIME, &ts);
		n = snprintf(line, sizeof(line),
		    "{\"ts\":%lld.%03ld,\"pid\":%d,\"level\":\"%s\",\"msg\":\"%s\"}\n",
		    (long long)ts.tv_sec, ts.tv_nsec / 1000000, (int)getpid(),
		    level_names[level], esc);
	} else
		n = snprintf(line, sizeof(line), "lameduck[%d]: %s\n", (int)getpid(), msg);
	if (n > (int)sizeof(line) - 1) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	(void)!ld_real.write(log_fd, line, (size_t)n);
	errno = saved;
}
