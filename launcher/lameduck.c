/*
 * lameduck(1): the launcher. It turns its options into LAMEDUCK_* variables,
 * checks them with the shim's own parser (so a value it accepts the shim
 * accepts), puts the shim first in LD_PRELOAD and execs the program.
 *
 * Being explicit, it refuses what the shim would silently fail at: a bad
 * value, and a program the loader never preloads the shim into (static,
 * Go without cgo, setuid, file capabilities). Such a program would die at
 * the first SIGTERM as if the shim were not there, which is exactly the
 * mistake the user came here to avoid. For those, --supervise runs the
 * program as a child instead and does from outside what it can
 * (supervise.c).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <elf.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "config.h"
#include "supervise.h"

#ifndef LD_LIBDIR
#define LD_LIBDIR	"/usr/local/lib"
#endif

#define SHIM_NAME	"liblameduck.so"
#if __SIZEOF_POINTER__ == 8
#define NATIVE_CLASS	ELFCLASS64
#else
#define NATIVE_CLASS	ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA	ELFDATA2LSB
#else
#define NATIVE_DATA	ELFDATA2MSB
#endif
#define MAX_PHDRS	256		/* real programs have a dozen */
#define MAX_SHDRS	4096
#define MAX_NOTES	(64 * 1024)
#define MAX_DYN		4096		/* dynamic entries read, at most */
#define MAX_SCRIPTS	4		/* the kernel's own limit on #! nesting */
#define STOP_VAR	"LAMEDUCK_STOP_LISTENERS"

enum {
	EX_INVALID	= 1,	/* --check: the configuration is bad */
	EX_SETUP	= 2,	/* usage, a bad value, no shim */
	EX_REFUSED	= 126,	/* the shim can not work in the program */
	EX_NOTFOUND	= 127,	/* no such program, or not executable */
};

enum { OPT_CHECK = 256, OPT_FORCE, OPT_HELP, OPT_VERSION, OPT_SUPERVISE, OPT_STOP, OPT_VAR };

static void	cut(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	usage(void);
static const char *env_get(const char *, void *);
static int	set_vars(void);
static void	validate(void);
static int	check(void);
static int	usable_file(const char *);
static void	exe_dir(char *, size_t);
static void	find_shim(char *);
static int	same_file(const char *, const char *);
static int	is_sanitizer(const char *, size_t);
static void	preload(const char *);
static int	executable(const char *);
static int	resolve(const char *, char *, size_t);
static int	read_at(int, off_t, void *, size_t);
static int	elf_phdrs(int, const ElfW(Ehdr) *, ElfW(Phdr) **);
static int	elf_has_section(int, const ElfW(Ehdr) *, const char *const *);
static int	elf_has_go_note(int, const ElfW(Phdr) *, size_t);
static int	elf_off(const ElfW(Phdr) *, size_t, ElfW(Addr), off_t *);
static int	elf_needs_libc(int, const ElfW(Phdr) *, size_t);
static int	elf_refusal(int, const ElfW(Ehdr) *, char *, size_t);
static int	mode_refusal(const char *, char *, size_t);
static int	script_interp(const char *, char *, size_t, char *, size_t);
static int	refusal(const char *, int, char *, size_t);
static int	options(int, char *[], int *, int *, int *);
static enum ld_stop stop_mode(void);
static const char *option_of(enum ld_var);

/* The options; each variable's is OPT_VAR plus its enum ld_var. */
static const struct option longopts[] = {
	{ "delay",	   required_argument, NULL, OPT_VAR + LD_VAR_DELAY },
	{ "drain-timeout", required_argument, NULL,
	    OPT_VAR + LD_VAR_DRAIN_TIMEOUT },
	{ "drain",	   required_argument, NULL, OPT_VAR + LD_VAR_DRAIN },
	{ "signals",	   required_argument, NULL, OPT_VAR + LD_VAR_SIGNALS },
	{ "deliver",	   required_argument, NULL, OPT_VAR + LD_VAR_DELIVER },
	{ "health",	   required_argument, NULL, OPT_VAR + LD_VAR_HEALTH },
	{ "ready-ports",   required_argument, NULL, OPT_VAR + LD_VAR_PORTS },
	{ "ready",	   required_argument, NULL, OPT_VAR + LD_VAR_READY },
	{ "retire",	   required_argument, NULL, OPT_VAR + LD_VAR_RETIRE },
	{ "log",	   required_argument, NULL, OPT_VAR + LD_VAR_LOG },
	{ "log-format",	   required_argument, NULL,
	    OPT_VAR + LD_VAR_LOG_FORMAT },
	{ "supervise",	   no_argument,	      NULL, OPT_SUPERVISE },
	{ "stop-listeners", required_argument, NULL, OPT_STOP },
	{ "force",	   no_argument,	      NULL, OPT_FORCE },
	{ "check",	   no_argument,	      NULL, OPT_CHECK },
	{ "help",	   no_argument,	      NULL, OPT_HELP },
	{ "version",	   no_argument,	      NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

/* Each variable's value from its option, or NULL. */
static const char *args[LD_NVARS];
static int args_stop;	/* --stop-listeners was given */

static const char instead[] =
    "run it with lameduck --supervise instead (no preload: the health port, the "
    "delay and the drain from outside, see lameduck(1)), or --force to run it anyway";

/* snprintf for messages: one cut short is still worth printing. */
static void
cut(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
usage(void)
{
	printf(
"usage: lameduck [options] [--] command [argument ...]\n"
"       lameduck --supervise [options] [--] command [argument ...]\n"
"       lameduck [options] --check\n"
"\n"
"Runs command with liblameduck.so preloaded, so that a lame-duck signal\n"
"(SIGTERM) first turns its health port's /readyz to 503 and the program\n"
"keeps serving for the delay before it gets the signal.\n"
"\n"
"With --supervise, command runs as a child without the shim (static and Go\n"
"programs, setuid ones): lameduck stays its parent, answers the health\n"
"port, waits out the delay and a drain of the connections the kernel shows\n"
"busy, then hands it the signal. It passes on other signals, reaps orphans\n"
"and exits with the child's status.\n"
"\n"
"Each option sets a variable; values already in the environment count too,\n"
"and options override them. See liblameduck(7).\n"
"  --delay D           LAMEDUCK_DELAY: serving time after the signal (10s)\n"
"  --drain-timeout D   LAMEDUCK_DRAIN_TIMEOUT: longest drain (15s)\n"
"  --drain MODE        LAMEDUCK_DRAIN: always, auto or never (always)\n"
"  --signals LIST      LAMEDUCK_SIGNALS: lame-duck signals (TERM)\n"
"  --deliver SIG       LAMEDUCK_DELIVER: QUIT, or a map TERM:QUIT,INT:INT\n"
"  --health ADDR       LAMEDUCK_HEALTH: :8799, 127.0.0.1:8799, [::1]:8799, off\n"
"  --ready-ports LIST  LAMEDUCK_PORTS: the listeners that count (all)\n"
"  --ready WHEN        LAMEDUCK_READY: listen or start (listen)\n"
"  --log LEVEL         LAMEDUCK_LOG: off, error, warn, info, debug (info)\n"
"  --log-format F      LAMEDUCK_LOG_FORMAT: text or json (text)\n"
"  --retire on|off     LAMEDUCK_RETIRE: close keep-alive connections (on)\n"
"  --supervise         run command as a child, the lifecycle from outside\n"
"  --stop-listeners on|off\n"
"                      LAMEDUCK_STOP_LISTENERS, with --supervise: refuse new\n"
"                      connections during the drain (off); only for programs\n"
"                      whose accept() survives EINVAL (lameduck(1))\n"
"  --force             run a program the shim can not work in\n"
"                      (values are still checked)\n"
"  --check             print the configuration in effect and exit\n"
"  --help, --version\n"
"Durations: 0, 250ms, 5s, 1m, 1m30s; a bare number means seconds; at most 1h.\n"
"\n"
"The shim is LAMEDUCK_LIBRARY if set, else " SHIM_NAME " beside this\n"
"program, else ../lib/" SHIM_NAME " from it, else " LD_LIBDIR "/" SHIM_NAME ".\n"
"\n"
"Exit status: the program's own once it runs; 0 for --help, --version and\n"
"a good --check; 1 for a bad --check; 2 for a usage error, a bad value or a\n"
"shim not found; 126 when the program can not load the shim (statically\n"
"linked, Go without cgo, setuid or setgid, file capabilities); 127 when the\n"
"program is not found or not executable; with --supervise, 125 when it can\n"
"not start, else the child's status (a child killed by a signal: the same\n"
"signal, or 128 + its number as PID 1).\n"
"\n"
"Example:\n"
"  lameduck --delay 15s --health :8799 -- nginx -g 'daemon off;'\n"
"  lameduck --supervise --delay 15s -- /app/server\n");
}

static const char *
env_get(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

static const char *
option_of(enum ld_var v)
{
	const struct option *o;

	for (o = longopts; o->name != NULL; o++)
		if (o->val == OPT_VAR + (int)v)
			return o->name;
	return "?";
}

/* Options win over the environment: they are the more explicit. */
static int
set_vars(void)
{
	enum ld_var v;

	for (v = 0; v < LD_NVARS; v++)
		if (args[v] != NULL &&
		    setenv(ld_config_name(v), args[v], 1) == -1) {
			warn("setenv %s", ld_config_name(v));
			return -1;
		}
	return 0;
}

/* A bad value is refused before anything runs, as the shim would refuse it. */
static void
validate(void)
{
	char msg[512];
	enum ld_var v;
	size_t n;

	/* ld_cfg: what --supervise runs with. */
	if (ld_config_load(&ld_cfg, env_get, NULL, msg, sizeof(msg)) == 0)
		return;
	for (v = 0; v < LD_NVARS; v++) {
		n = strlen(ld_config_name(v));
		if (args[v] != NULL &&
		    strncmp(msg, ld_config_name(v), n) == 0 && msg[n] == '=')
			errx(EX_SETUP, "%s (from --%s)", msg, option_of(v));
	}
	errx(EX_SETUP, "%s", msg);
}

/* --check: what a shim started in this environment would use, and why. */
static int
check(void)
{
	struct ld_config cfg;
	char msg[512], val[LD_SHOW_MAX];
	const char *from, *name;
	enum ld_var v;

	if (ld_config_load(&cfg, env_get, NULL, msg, sizeof(msg)) != 0) {
		warnx("%s", msg);
		return EX_INVALID;
	}
	for (v = 0; v < LD_NVARS; v++) {
		name = ld_config_name(v);
		ld_config_show(&cfg, v, val, sizeof(val));
		if (args[v] != NULL)
			from = "option";
		else if (getenv(name) != NULL)
			from = "environment";
		else
			from = "default";
		if (val[0] == '\0')
			/* Only unset says "every TCP listener": an empty value is refused. */
			printf("%s unset (%s: every TCP listener)\n", name, from);
		else
			printf("%s=%s (%s)\n", name, val, from);
	}
	return fflush(stdout) == 0 ? 0 : EX_INVALID;
}

/* 0 when path is a regular file we can read, else -1 with errno. */
static int
usable_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	return access(path, R_OK);
}

/* The directory of the launcher's own executable, or "" if unknown. */
static void
exe_dir(char *buf, size_t len)
{
	char *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0 || (size_t)n >= len - 1) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')) != NULL)
		*slash = '\0';
}

/*
 * The shim's absolute path into out (PATH_MAX bytes, for realpath), or exit
 * naming every place looked in.
 */
static void
find_shim(char *out)
{
	char dir[PATH_MAX], places[3][PATH_MAX];
	const char *lib;
	size_t i, n;

	if ((lib = getenv("LAMEDUCK_LIBRARY")) != NULL) {
		if (*lib == '\0' || usable_file(lib) == -1)
			errx(EX_SETUP, "LAMEDUCK_LIBRARY=\"%s\": %s", lib,
			    *lib == '\0' ? "is empty" : strerror(errno));
		if (realpath(lib, out) == NULL)
			err(EX_SETUP, "LAMEDUCK_LIBRARY=\"%s\"", lib);
		return;
	}
	n = 0;
	exe_dir(dir, sizeof(dir));
	if (dir[0] != '\0') {
		cut(places[n++], PATH_MAX, "%s/%s", dir, SHIM_NAME);
		cut(places[n++], PATH_MAX, "%s/../lib/%s", dir, SHIM_NAME);
	}
	cut(places[n++], PATH_MAX, "%s/%s", LD_LIBDIR, SHIM_NAME);
	for (i = 0; i < n; i++)
		if (usable_file(places[i]) == 0 && realpath(places[i], out) != NULL)
			return;
	warnx("cannot find %s; looked for:", SHIM_NAME);
	for (i = 0; i < n; i++)
		fprintf(stderr, "  %s\n", places[i]);
	fprintf(stderr, "set LAMEDUCK_LIBRARY to its path, or install it "
	    "there (make install)\n");
	exit(EX_SETUP);
}

static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return 1;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A sanitizer's runtime refuses to start unless it is preloaded first. */
static int
is_sanitizer(const char *s, size_t n)
{
	static const char *const names[] =
	    { "libasan", "libtsan", "libubsan", "liblsan", "libclang_rt." };
	const char *base;
	size_t i;

	base = memrchr(s, '/', n);
	base = base != NULL ? base + 1 : s;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(base, names[i], strlen(names[i])) == 0 &&
		    (size_t)(base - s) + strlen(names[i]) <= n)
			return 1;
	return 0;
}

/*
 * Puts the shim in LD_PRELOAD, first but for sanitizer runtimes; leaves the
 * list alone when the shim is in it already. ld.so splits the list at
 * colons and spaces.
 */
static void
preload(const char *shim)
{
	char item[PATH_MAX], *val;
	const char *old, *p, *keep;
	size_t n;
	int leading;

	if (strpbrk(shim, ": ") != NULL)
		errx(EX_SETUP, "%s: a path with a colon or a space can not be "
		    "put in LD_PRELOAD; set LAMEDUCK_LIBRARY to another", shim);
	old = getenv("LD_PRELOAD");
	if (old == NULL || old[strspn(old, ": ")] == '\0') {
		if (setenv("LD_PRELOAD", shim, 1) == -1)
			err(EX_SETUP, "setenv LD_PRELOAD");
		return;
	}
	keep = old;
	leading = 1;
	for (p = old; *p != '\0'; p += n) {
		p += strspn(p, ": ");
		n = strcspn(p, ": ");
		if (n == 0)
			break;
		if (n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			if (same_file(item, shim))
				return;
		}
		if (leading && is_sanitizer(p, n))
			keep = p + n;
		else
			leading = 0;
	}
	if (asprintf(&val, "%.*s%s%s:%s", (int)(keep - old), old,
	    keep == old ? "" : ":", shim, keep + strspn(keep, ": ")) == -1)
		err(EX_SETUP, "LD_PRELOAD");
	n = strlen(val);
	while (n > 0 && val[n - 1] == ':')
		val[--n] = '\0';
	if (setenv("LD_PRELOAD", val, 1) == -1)
		err(EX_SETUP, "setenv LD_PRELOAD");
	free(val);
}

/* 0 when execve could run path, else an errno. */
static int
executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return errno;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) == -1)
		return EACCES;
	return 0;
}

/*
 * Finds cmd as execvp(3) would: as a path when it holds a slash, else in
 * each PATH entry (an empty one is the current directory), skipping files
 * it could not execute. Returns 0, or an errno.
 */
static int
resolve(const char *cmd, char *out, size_t len)
{
	const char *path, *p, *end;
	int why;

	if (strchr(cmd, '/') != NULL) {
		if (strlcpy(out, cmd, len) >= len)
			return ENAMETOOLONG;
		return executable(out);
	}
	if ((path = getenv("PATH")) == NULL)
		path = "/bin:/usr/bin";
	why = ENOENT;
	for (p = path;; p = end + 1) {
		end = strchrnul(p, ':');
		if (end == p)
			snprintf(out, len, "%s", cmd);
		else
			snprintf(out, len, "%.*s/%s", (int)(end - p), p, cmd);
		switch (executable(out)) {
		case 0:
			return 0;
		case EACCES:
			why = EACCES;
			break;
		}
		if (*end == '\0')
			return why;
	}
}

static int
read_at(int fd, off_t off, void *buf, size_t len)
{
	ssize_t n;

	n = pread(fd, buf, len, off);
	return n >= 0 && (size_t)n == len ? 0 : -1;
}

static int
elf_phdrs(int fd, const ElfW(Ehdr) *eh, ElfW(Phdr) **ph)
{
	size_t n;

	n = eh->e_phnum;
	if (eh->e_phentsize != sizeof(ElfW(Phdr)) || n == 0 || n > MAX_PHDRS)
		return -1;
	if ((*ph = calloc(n, sizeof(**ph))) == NULL)
		return -1;
	if (read_at(fd, (off_t)eh->e_phoff, *ph, n * sizeof(**ph)) == -1) {
		free(*ph);
		return -1;
	}
	return 0;
}

/* 1 when the file has a section of one of these names; stripped files have none. */
static int
elf_has_section(int fd, const ElfW(Ehdr) *eh, const char *const *names)
{
	ElfW(Shdr) *sh, str;
	char name[32];
	size_t i, j, n;
	int found;

	n = eh->e_shnum;
	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)) ||
	    n == 0 || n > MAX_SHDRS || eh->e_shstrndx >= n)
		return 0;
	if ((sh = calloc(n, sizeof(*sh))) == NULL)
		return 0;
	found = 0;
	if (read_at(fd, (off_t)eh->e_shoff, sh, n * sizeof(*sh)) == -1)
		goto done;
	str = sh[eh->e_shstrndx];
	for (i = 0; i < n && !found; i++) {
		if (sh[i].sh_name >= str.sh_size)
			continue;
		memset(name, 0, sizeof(name));
		(void)pread(fd, name, sizeof(name) - 1,
		    (off_t)(str.sh_offset + sh[i].sh_name));
		for (j = 0; names[j] != NULL; j++)
			if (strcmp(name, names[j]) == 0)
				found = 1;
	}
done:
	free(sh);
	return found;
}

/* The Go linker's build-id note ("Go", type 4) survives section stripping. */
static int
elf_has_go_note(int fd, const ElfW(Phdr) *ph, size_t nph)
{
	unsigned char *buf;
	ElfW(Nhdr) nh;
	size_t i, off, len, name, desc;
	int found;

	found = 0;
	for (i = 0; i < nph && !found; i++) {
		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > MAX_NOTES)
			continue;
		len = ph[i].p_filesz;
		if ((buf = malloc(len)) == NULL)
			return 0;
		if (read_at(fd, (off_t)ph[i].p_offset, buf, len) == -1)
			len = 0;
		for (off = 0; off + sizeof(nh) <= len && !found;) {
			memcpy(&nh, buf + off, sizeof(nh));
			name = (nh.n_namesz + 3) & ~(size_t)3;
			desc = (nh.n_descsz + 3) & ~(size_t)3;
			if (name > len || desc > len ||
			    off + sizeof(nh) + name + desc > len)
				break;
			if (nh.n_namesz >= 3 && nh.n_type == 4 &&
			    memcmp(buf + off + sizeof(nh), "Go", 3) == 0)
				found = 1;
			off += sizeof(nh) + name + desc;
		}
		free(buf);
	}
	return found;
}

/* The file offset of a virtual address, through the loadable segments. */
static int
elf_off(const ElfW(Phdr) *ph, size_t nph, ElfW(Addr) addr, off_t *off)
{
	size_t i;

	for (i = 0; i < nph; i++)
		if (ph[i].p_type == PT_LOAD && addr >= ph[i].p_vaddr &&
		    addr - ph[i].p_vaddr < ph[i].p_filesz) {
			*off = (off_t)(ph[i].p_offset + (addr - ph[i].p_vaddr));
			return 0;
		}
	return -1;
}

/* 1 when a DT_NEEDED entry names libc.so.*: libc is then the program's. */
static int
elf_needs_libc(int fd, const ElfW(Phdr) *ph, size_t nph)
{
	ElfW(Dyn) d;
	ElfW(Addr) strtab;
	off_t stroff, at;
	char name[16];
	size_t i, k, ndyn;
	int found;

	for (i = 0; i < nph && ph[i].p_type != PT_DYNAMIC; i++)
		;
	if (i == nph)
		return 0;
	ndyn = ph[i].p_filesz / sizeof(d);
	if (ndyn > MAX_DYN)
		ndyn = MAX_DYN;
	strtab = 0;
	for (k = 0; k < ndyn; k++) {
		at = (off_t)(ph[i].p_offset + k * sizeof(d));
		if (read_at(fd, at, &d, sizeof(d)) == -1 || d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_STRTAB)
			strtab = d.d_un.d_ptr;
	}
	if (strtab == 0 || elf_off(ph, nph, strtab, &stroff) == -1)
		return 0;
	found = 0;
	for (k = 0; k < ndyn && !found; k++) {
		at = (off_t)(ph[i].p_offset + k * sizeof(d));
		if (read_at(fd, at, &d, sizeof(d)) == -1 || d.d_tag == DT_NULL)
			break;
		if (d.d_tag != DT_NEEDED)
			continue;
		memset(name, 0, sizeof(name));
		(void)pread(fd, name, sizeof(name) - 1,
		    stroff + (off_t)d.d_un.d_val);
		found = strncmp(name, "libc.so", 7) == 0;
	}
	return found;
}

/* The sections that mark a Go program. */
static const char *const go_sections[] = { ".go.buildinfo", ".note.go.buildid", NULL };

/* Why the loader would not preload the shim into this ELF file; 0 if it would. */
static int
elf_refusal(int fd, const ElfW(Ehdr) *eh, char *why, size_t len)
{
	ElfW(Phdr) *ph;
	size_t i, nph;
	int interp, go, libc;

	/* A shim of another class or byte order is skipped by the loader. */
	if (eh->e_ident[EI_CLASS] != NATIVE_CLASS ||
	    eh->e_ident[EI_DATA] != NATIVE_DATA) {
		cut(why, len, "is an ELF program for another machine "
		    "(%s-bit or other byte order) than the shim's (%zu-bit): "
		    "the loader would skip the shim",
		    eh->e_ident[EI_CLASS] == ELFCLASS32 ? "32" : "64",
		    sizeof(void *) * 8);
		return EX_REFUSED;
	}
	if (elf_phdrs(fd, eh, &ph) == -1) {
		cut(why, len, "has ELF program headers lameduck can not "
		    "read, so it can not tell whether the shim would load");
		return EX_REFUSED;
	}
	nph = eh->e_phnum;
	for (i = 0, interp = 0; i < nph; i++)
		interp |= ph[i].p_type == PT_INTERP;
	go = elf_has_section(fd, eh, go_sections) ||
	    elf_has_go_note(fd, ph, nph);
	libc = interp && elf_needs_libc(fd, ph, nph);
	free(ph);
	if (go && !interp)
		cut(why, len, "is a statically linked Go program: Go without "
		    "cgo never calls libc, and the loader never runs for a "
		    "static program, so LD_PRELOAD is ignored");
	else if (go && !libc)
		cut(why, len, "is a Go program that does not link libc: Go "
		    "without cgo never calls libc, so the shim never sees its "
		    "signals");
	else if (!interp)
		cut(why, len, "is statically linked: the loader never "
		    "runs for it, so LD_PRELOAD is ignored");
	else
		return 0;
	return EX_REFUSED;
}

/* What the file's mode and attributes make the loader do. */
static int
mode_refusal(const char *path, char *why, size_t len)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		cut(why, len, "%s", strerror(errno));
		return EX_NOTFOUND;
	}
	if (st.st_mode & (S_ISUID | S_ISGID)) {
		cut(why, len, "is %s: the loader drops LD_PRELOAD for "
		    "setuid/setgid programs", st.st_mode & S_ISUID ?
		    "setuid" : "setgid");
		return EX_REFUSED;
	}
	if (getxattr(path, "security.capability", NULL, 0) >= 0) {
		cut(why, len, "has file capabilities (getcap): the "
		    "loader drops LD_PRELOAD for them as for setuid programs");
		return EX_REFUSED;
	}
	return 0;
}

/*
 * The program that runs a #! script: the interpreter, or for
 * "#!/usr/bin/env [-S] [VAR=value] NAME" the NAME, found through PATH.
 * shown is what to call it in a message. Returns 0, or an errno.
 */
static int
script_interp(const char *line, char *out, size_t len, char *shown,
    size_t shownlen)
{
	char word[NAME_MAX + 1];
	const char *p, *base;
	size_t n;

	p = line + 2 + strspn(line + 2, " \t");
	n = strcspn(p, " \t\r\n");
	if (n == 0 || n >= len)
		return ENOEXEC;
	memcpy(out, p, n);
	out[n] = '\0';
	strlcpy(shown, out, shownlen);
	base = strrchr(out, '/');
	if (strcmp(base != NULL ? base + 1 : out, "env") != 0)
		return executable(out);
	/* env's own options and assignments come before the name. */
	for (p += n;; p += n) {
		p += strspn(p, " \t");
		n = strcspn(p, " \t\r\n");
		if (n == 0)
			return executable(out);	/* env alone: judge env */
		if (n >= sizeof(word))
			return ENAMETOOLONG;
		memcpy(word, p, n);
		word[n] = '\0';
		if (word[0] != '-' && strchr(word, '=') == NULL)
			break;
	}
	cut(shown, shownlen, "%s (through %s)", word, out);
	return resolve(word, out, len);
}

/*
 * Why the shim could not work in the program at path: EX_REFUSED or
 * EX_NOTFOUND with the reason in why, or 0. Scripts are judged by their
 * interpreter: the kernel ignores a script's own mode bits.
 */
static int
refusal(const char *path, int depth, char *why, size_t len)
{
	char head[256], interp[PATH_MAX], shown[PATH_MAX + 64], sub[512];
	ElfW(Ehdr) eh;
	ssize_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		cut(why, len, "can not be read to check it (%s)",
		    strerror(errno));
		return EX_REFUSED;
	}
	memset(head, 0, sizeof(head));
	n = pread(fd, head, sizeof(head) - 1, 0);
	if (n >= (ssize_t)sizeof(eh) && memcmp(head, ELFMAG, SELFMAG) == 0) {
		memcpy(&eh, head, sizeof(eh));
		rc = mode_refusal(path, why, len);
		if (rc == 0)
			rc = elf_refusal(fd, &eh, why, len);
		close(fd);
		return rc;
	}
	close(fd);
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		rc = script_interp(head, interp, sizeof(interp), shown,
		    sizeof(shown));
	} else {
		/* execvp hands a file with neither to the shell. */
		rc = 0;
		strlcpy(interp, "/bin/sh", sizeof(interp));
		strlcpy(shown, "/bin/sh", sizeof(shown));
	}
	if (rc == ENOEXEC) {
		cut(why, len, "has a #! line that names no interpreter");
		return EX_NOTFOUND;
	}
	if (rc != 0) {
		cut(why, len, "names the interpreter %s, which is %s",
		    shown, rc == EACCES ? "not executable" : rc == ENOENT ?
		    "not found" : strerror(rc));
		return EX_NOTFOUND;
	}
	if (depth >= MAX_SCRIPTS) {
		cut(why, len, "has #! interpreters nested too deep");
		return EX_NOTFOUND;
	}
	if ((rc = refusal(interp, depth + 1, sub, sizeof(sub))) != 0)
		cut(why, len, "runs %s, which %s", shown, sub);
	return rc;
}

/*
 * Reads the options into args[] and the flags; returns the index of the
 * command in argv. Exits for --help, --version and usage errors.
 */
static int
options(int argc, char *argv[], int *force, int *checking, int *supervising)
{
	int ch;

	*force = *checking = *supervising = 0;
	opterr = 0;
	/* "+": the first word that is not an option is the command. */
	while ((ch = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
		if (ch >= OPT_VAR && ch < OPT_VAR + LD_NVARS) {
			args[ch - OPT_VAR] = optarg;
			continue;
		}
		switch (ch) {
		case OPT_FORCE:
			*force = 1;
			break;
		case OPT_CHECK:
			*checking = 1;
			break;
		case OPT_SUPERVISE:
			*supervising = 1;
			break;
		case OPT_STOP:
			args_stop = 1;
			if (setenv(STOP_VAR, optarg, 1) == -1)
				err(EX_SETUP, "setenv %s", STOP_VAR);
			break;
		case 'h':
		case OPT_HELP:
			usage();
			exit(0);
		case 'V':
		case OPT_VERSION:
			printf("lameduck %s\n", LD_VERSION);
			exit(0);
		case ':':
			errx(EX_SETUP, "%s needs a value (see lameduck --help)",
			    argv[optind - 1]);
		default:
			errx(EX_SETUP, "unknown or ambiguous option %s "
			    "(see lameduck --help)", argv[optind - 1]);
		}
	}
	return optind;
}

int
main(int argc, char *argv[])
{
	char shim[PATH_MAX], path[PATH_MAX], why[1024];
	int force, checking, supervising, rc;

	rc = options(argc, argv, &force, &checking, &supervising);
	argc -= rc;
	argv += rc;
	if (set_vars() == -1)
		return EX_SETUP;
	if (checking) {
		if (argc > 0)
			errx(EX_SETUP, "--check runs no command (\"%s\")",
			    argv[0]);
		return check();
	}
	if (argc == 0)
		errx(EX_SETUP, "no command to run (see lameduck --help)");
	validate();
	if (!supervising && args_stop)
		errx(EX_SETUP, "--stop-listeners applies only with --supervise");
	if (!supervising)
		find_shim(shim);
	if ((rc = resolve(argv[0], path, sizeof(path))) != 0)
		errx(EX_NOTFOUND, "%s: %s", argv[0], rc == EACCES ?
		    "not executable" : rc == ENOENT && strchr(argv[0], '/') ==
		    NULL ? "command not found in PATH" : strerror(rc));
	if (supervising)
		ld_supervise(argv, stop_mode());
	if (!force && (rc = refusal(path, 0, why, sizeof(why))) != 0) {
		warnx("%s %s", path, why);
		if (rc == EX_REFUSED)
			warnx("%s", instead);
		return rc;
	}
	preload(shim);
	execvp(argv[0], argv);
	rc = errno;
	warnx("%s: %s", argv[0], strerror(rc));
	return rc == ENOENT || rc == EACCES ? EX_NOTFOUND : EX_REFUSED;
}

/* LAMEDUCK_STOP_LISTENERS (--stop-listeners): on or off (the default). */
static enum ld_stop
stop_mode(void)
{
	const char *v = getenv(STOP_VAR);

	if (v == NULL || strcmp(v, "off") == 0)
		return LD_STOP_OFF;
	if (strcmp(v, "on") == 0)
		return LD_STOP_ON;
	errx(EX_SETUP, "%s=\"%s\" is not on or off", STOP_VAR, v);
}
