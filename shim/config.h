/* Configuration: every LAMEDUCK_* variable, parsed and shown in one place. Pure. */
#ifndef LD_CONFIG_H
#define LD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LD_VERSION	"0.1.0"
#define LD_MAX_PORTS	32
#define LD_NSIG		65	/* signals 1..64 */
#define LD_MAX_DURATION_MS (3600LL * 1000)

enum ld_drain { LD_DRAIN_ALWAYS, LD_DRAIN_AUTO, LD_DRAIN_NEVER };
enum ld_ready { LD_READY_LISTEN, LD_READY_START };
enum ld_level { LD_LOG_OFF, LD_LOG_ERROR, LD_LOG_WARN, LD_LOG_INFO, LD_LOG_DEBUG };
enum ld_format { LD_FMT_TEXT, LD_FMT_JSON };

/* The variables, in the order they are read (README, "Environment"). */
enum ld_var {
	LD_VAR_DELAY,
	LD_VAR_DRAIN_TIMEOUT,
	LD_VAR_DRAIN,
	LD_VAR_SIGNALS,
	LD_VAR_DELIVER,
	LD_VAR_HEALTH,
	LD_VAR_PORTS,
	LD_VAR_READY,
	LD_VAR_LOG,
	LD_VAR_LOG_FORMAT,
	LD_VAR_RETIRE,
	LD_NVARS
};

/* Room for any value ld_config_show writes: a map of every signal fits. */
#define LD_SHOW_MAX	(LD_NSIG * 24)

struct ld_config {
	long long	delay_ms;		/* LAMEDUCK_DELAY, default 10s */
	long long	drain_timeout_ms;	/* LAMEDUCK_DRAIN_TIMEOUT, default 15s */
	enum ld_drain	drain;			/* LAMEDUCK_DRAIN, default always */
	uint64_t	signals;		/* LAMEDUCK_SIGNALS: bit (sig - 1), default TERM */
	int		deliver[LD_NSIG];	/* LAMEDUCK_DELIVER: deliver[sig] for each sig in signals */
	int		health_off;		/* LAMEDUCK_HEALTH=off */
	int		health_any;		/* ":port" / "port": every address (dual stack) */
	struct sockaddr_storage health_addr;	/* numeric host, or in6addr_any when health_any */
	socklen_t	health_addrlen;
	uint16_t	health_port;		/* default 8799 */
	uint16_t	ports[LD_MAX_PORTS];	/* LAMEDUCK_PORTS; nports == 0: every TCP listener */
	int		nports;
	enum ld_ready	ready;			/* LAMEDUCK_READY, default listen */
	enum ld_level	log_level;		/* LAMEDUCK_LOG, default info */
	enum ld_format	log_format;		/* LAMEDUCK_LOG_FORMAT, default text */
	int		retire;			/* LAMEDUCK_RETIRE=on: close HTTP/1.x keep-alive, default on */
};

/* The process's configuration, loaded once by the constructor (shim.c). */
extern struct ld_config ld_cfg __attribute__((visibility("hidden")));

/* Look-up function for variables: returns NULL when unset. */
typedef const char *(*ld_getenv_fn)(const char *name, void *ctx);

/*
 * Fill cfg from the variables. Returns 0, or -1 with one line in err (no
 * trailing newline, no "lameduck: " prefix) naming the variable, the value and
 * what is accepted, e.g.
 *   LAMEDUCK_DELAY="5x" is not a duration (try 500ms, 5s, 1m)
 * An empty value counts as bad, not as unset.
 */
int	ld_config_load(struct ld_config *cfg, ld_getenv_fn get, void *ctx,
	    char *err, size_t errlen);
void	ld_config_defaults(struct ld_config *cfg);

/* Pieces, each returning 0 on success and -1 on a bad value. */
int	ld_parse_duration(const char *s, long long *ms);	/* 0, 250ms, 5s, 1m, 1m30s, bare int = s; <= 1h */
int	ld_parse_signal(const char *s, int *sig);		/* TERM, SIGTERM, 15; any 1..64 incl. RTMIN+n */
int	ld_signal_allowed(int sig);	/* not KILL STOP SEGV BUS ILL FPE TRAP SYS, nor 32, 33 */
const char *ld_signal_name(int sig, char *buf, size_t len);	/* "TERM", "RTMIN+3", "RTMAX" (as kill -l) */
int	ld_parse_signal_list(const char *s, uint64_t *set);
int	ld_parse_deliver(const char *s, uint64_t signals, int deliver[LD_NSIG]);
int	ld_parse_health(const char *s, struct ld_config *cfg);
int	ld_parse_ports(const char *s, uint16_t *ports, int *nports);

/*
 * Formatting: each writes a terminated string, cut short if need be, and
 * returns 0 when it all fitted, -1 when not.
 */
int	ld_format_duration(long long ms, char *buf, size_t len);	/* 10000 -> "10s", 1500 -> "1.5s" */
int	ld_format_duration_exact(long long ms, char *buf, size_t len);	/* 1500 -> "1s500ms": parses back */
int	ld_format_signals(uint64_t set, char *buf, size_t len);	/* "INT,TERM", in signal order */
int	ld_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);	/* "1.2.3.4:80", "[::1]:80" */
int	ld_format_health(const struct ld_config *cfg, char *buf, size_t len);	/* ":8799", "[::1]:9000", "off" */

/*
 * A variable's name ("LAMEDUCK_DELAY"; NULL for no variable), and its value
 * in cfg as lameduck --check prints it, which the parser takes back. The
 * value is "" for LAMEDUCK_PORTS left at its default, every TCP listener,
 * which only leaving it unset says.
 */
const char *ld_config_name(enum ld_var v);
int	ld_config_show(const struct ld_config *cfg, enum ld_var v, char *buf,
	    size_t len);

static inline int
ld_sigset_has(uint64_t set, int sig)
{
	return sig > 0 && sig < LD_NSIG && (set >> (sig - 1)) & 1;
}

#endif
