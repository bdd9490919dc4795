# lameduck: see README.md. `make`, `make test`, `make bench`, `make install`.
CC	?= cc
PREFIX	?= /usr/local
DESTDIR	?=
BUILD	:= build

WARN	:= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-align \
	   -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 $(WARN) -D_GNU_SOURCE
SHIM_CFLAGS := $(CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
	   -fno-strict-aliasing -pthread
# libbsd and libmd are linked in statically, so that libc.so.6 is the only
# NEEDED library: the shim is copied into images that lack libbsd. On glibc
# before 2.34, dlsym and pthread_create live in libdl.so.2 and
# libpthread.so.0, which the shim finds or loads itself (shim/real.c).
# shim/glibc-compat.h, forced into the glibc builds (SHIM_GLIBC), binds the
# symbols that moved to versions every glibc since the minimum exports
# (README, "Minimum glibc"; tests/check-abi.sh checks).
SHIM_LIBS := -Wl,-Bstatic -lbsd -lmd -Wl,-Bdynamic
SHIM_GLIBC := -include shim/glibc-compat.h
SHIM_LDFLAGS := -shared -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined \
	   -Wl,--exclude-libs,ALL

SHIM_SRC := $(wildcard shim/*.c)
SHIM_HDR := $(wildcard shim/*.h)
LAUNCHER_SRC := $(wildcard launcher/*.c)
PROGS	 := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(wildcard tests/progs/*.c))
UNITS	 := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/*.c))

PRELOADS := $(patsubst tests/preload/%.c,$(BUILD)/preload/%.so,$(wildcard tests/preload/*.c))

all: $(BUILD)/liblameduck.so $(BUILD)/lameduck $(PROGS) $(PRELOADS)

# One object a file, so that tests/check-layers.sh can read the calls between them.
SHIM_OBJ := $(patsubst shim/%.c,$(BUILD)/obj/%.o,$(SHIM_SRC))

$(BUILD)/obj/%.o: shim/%.c $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(SHIM_CFLAGS) $(SHIM_GLIBC) -c -o $@ $<

$(BUILD)/liblameduck.so: $(SHIM_OBJ)
	$(CC) $(SHIM_CFLAGS) $(SHIM_LDFLAGS) -o $@ $(SHIM_OBJ) $(SHIM_LIBS)

# The launcher, a program of its own, shares the shim's parser (and so its
# headers), so a value it accepts the shim accepts; --supervise links the
# shim's lifecycle, health port and log too (SUP_SHIM), built again as
# plain objects. It is linked statically: it is copied into images that
# have no C library at all (Go on distroless/static).
SUP_SHIM := config http lifecycle log report health fdtab real procfs tree rawconn
SUP_OBJ	:= $(patsubst %,$(BUILD)/sup/%.o,$(SUP_SHIM))

$(BUILD)/sup/%.o: shim/%.c $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fno-strict-aliasing -c -o $@ $<

$(BUILD)/lameduck: $(LAUNCHER_SRC) $(wildcard launcher/*.h) $(SUP_OBJ) $(SHIM_HDR) Makefile
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -Ishim -DLD_LIBDIR='"$(PREFIX)/lib"' -static -o $@ $(LAUNCHER_SRC) \
	    $(SUP_OBJ) -lbsd -lmd

$(BUILD)/progs/%: tests/progs/%.c tests/progs/progs.h tests/progs/http.h
	@mkdir -p $(BUILD)/progs
	$(CC) $(CFLAGS) -pthread -o $@ $< 

# Libraries the tests preload beside the shim.
$(BUILD)/preload/%.so: tests/preload/%.c
	@mkdir -p $(BUILD)/preload
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

# Unit tests link the pure parts of the shim directly.
UNIT_DEPS := shim/config.c shim/http.c shim/lifecycle.c shim/retire.c shim/h2.c
$(BUILD)/unit/%: tests/unit/%.c tests/unit/kernel.h $(UNIT_DEPS) $(SHIM_HDR)
	@mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS) -Ishim -o $@ $< $(UNIT_DEPS) -lcmocka -lbsd

deps:
	@tests/deps.sh

unit: $(UNITS)
	@set -e; for t in $(UNITS); do $$t; done

# One test at a time: several check timings that another test's load on
# two cores would blur (`run.py -j 2` runs two at a time, for a quicker look).
integration: all
	python3 tests/integration/run.py

check-abi: $(BUILD)/liblameduck.so
	tests/check-abi.sh $(BUILD)/liblameduck.so

# The layers (README, "Layout"): no circle, no call upward, no interposed name called.
check-layers: $(BUILD)/liblameduck.so
	tests/check-layers.sh $(BUILD)/obj $(BUILD)/liblameduck.so

test: deps
	$(MAKE) all
	$(MAKE) musl
	$(MAKE) unit
	$(MAKE) check-abi
	$(MAKE) check-layers
	$(MAKE) integration
	$(MAKE) transparency-ci

# The compatibility matrix alone, then its table (README, "Compatibility").
matrix: deps all
	python3 tests/integration/run.py -j 2 -v matrix_
	python3 tests/integration/matrix.py

bench: deps all
	python3 tests/bench.py

# Its instruction and system-call counts per request alone (a few minutes less).
bench-hotpath: deps all
	python3 tests/bench.py hotpath

# CPython's own tests without and with the shim, case by case (README,
# "Transparency"). The full set takes about 13 minutes
# on 2 cores; make test runs the subset.
transparency: deps all
	python3 tests/transparency.py

transparency-ci: all
	python3 tests/transparency.py --ci

install: $(BUILD)/liblameduck.so $(BUILD)/lameduck
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0755 $(BUILD)/liblameduck.so $(DESTDIR)$(PREFIX)/lib/liblameduck.so
	install -m 0755 $(BUILD)/lameduck $(DESTDIR)$(PREFIX)/bin/lameduck
	install -m 0644 man/lameduck.1 $(DESTDIR)$(PREFIX)/share/man/man1/lameduck.1
	install -m 0644 man/liblameduck.7 $(DESTDIR)$(PREFIX)/share/man/man7/liblameduck.7

clean:
	rm -rf $(BUILD)

.PHONY: all deps unit integration check-abi check-layers test matrix bench bench-hotpath \
	transparency transparency-ci install clean
include demo/Makefile.inc

# ---------------------------------------------------------------------------
# Sanitizers and fuzzing (issue 6): `make sanitize`, `make fuzz`, `make fuzz-ci`.
# ASan+UBSan builds and the fuzzers use clang: one runtime holds both
# sanitizers and writes their reports to the files tests/sanitize/ scans
# (gcc's libubsan ignores log_path next to libasan), and libFuzzer comes with
# it. clang's -Wcast-align warns on every target (gcc's only where alignment
# is strict), so it is off there; UBSan checks alignment at run time. TSan
# uses $(CC), whose runtime the shim and the test program then share.
SAN_CC		?= clang
SAN_DIR		:= $(BUILD)/asan
SAN_FLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer
SAN_WARN	:= -Wno-cast-align
SAN_RUNTIME	= $(shell $(SAN_CC) -print-file-name=libclang_rt.asan-$(shell uname -m).so)
SAN_UNITS	:= $(patsubst tests/unit/%.c,$(SAN_DIR)/unit/%,$(wildcard tests/unit/*.c))
TSAN_DIR	:= $(BUILD)/tsan
TSAN_FLAGS	:= -fsanitize=thread -fno-omit-frame-pointer
FUZZ_DIR	:= $(BUILD)/fuzz
FUZZ_FLAGS	:= -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
FUZZ_TARGETS	:= http config signals
FUZZ_BINS	:= $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
FUZZ_SECONDS	?= 60
FUZZ_CI_SECONDS	?= 10

# The shim with ASan+UBSan; its runtime is a dynamic dependency here only,
# preloaded first (tests/sanitize/integration.sh).
$(SAN_DIR)/liblameduck.so: $(SHIM_SRC) $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(SAN_CC) $(SHIM_CFLAGS) $(SHIM_GLIBC) $(SAN_WARN) $(SAN_FLAGS) -shared-libsan \
	    -Wl,-rpath,$(dir $(SAN_RUNTIME)) $(SHIM_LDFLAGS) -o $@ $(SHIM_SRC) $(SHIM_LIBS)

$(SAN_DIR)/unit/%: tests/unit/%.c tests/unit/kernel.h $(UNIT_DEPS) $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(SAN_CC) $(CFLAGS) $(SAN_WARN) $(SAN_FLAGS) -fno-sanitize-recover=all -Ishim \
	    -o $@ $< $(UNIT_DEPS) -lcmocka -lbsd

$(TSAN_DIR)/liblameduck.so: $(SHIM_SRC) $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(SHIM_CFLAGS) $(SHIM_GLIBC) $(TSAN_FLAGS) $(SHIM_LDFLAGS) -o $@ $(SHIM_SRC) $(SHIM_LIBS)

$(TSAN_DIR)/lifecycle: tests/sanitize/lifecycle.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TSAN_FLAGS) -pthread -o $@ $< -ldl

# The same program built plainly, for valgrind under the normal shim.
$(BUILD)/sanitize/lifecycle: tests/sanitize/lifecycle.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -pthread -o $@ $<

$(FUZZ_DIR)/fuzz_http: tests/fuzz/fuzz_http.c shim/http.c shim/http.h Makefile
	@mkdir -p $(@D)
	$(SAN_CC) $(CFLAGS) $(SAN_WARN) $(FUZZ_FLAGS) -Ishim -o $@ $< shim/http.c

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/rules.h shim/config.c shim/config.h Makefile
	@mkdir -p $(@D)
	$(SAN_CC) $(CFLAGS) $(SAN_WARN) $(FUZZ_FLAGS) -Ishim -o $@ $< shim/config.c -lbsd

sanitize-unit: $(SAN_UNITS)
	@set -e; for t in $(SAN_UNITS); do echo "== $$t (ASan+UBSan)"; $$t; done

sanitize-integration: all $(SAN_DIR)/liblameduck.so
	tests/sanitize/integration.sh $(SAN_DIR)/liblameduck.so $(SAN_RUNTIME) -j 2

# The launcher and --supervise with ASan+UBSan (dynamically linked: the
# sanitizers need it), under the supervisor's integration tests.
SUP_SRC	:= $(patsubst %,shim/%.c,$(SUP_SHIM))
$(SAN_DIR)/lameduck: $(LAUNCHER_SRC) $(wildcard launcher/*.h) $(SUP_SRC) $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(SAN_CC) $(CFLAGS) $(SAN_WARN) $(SAN_FLAGS) -fno-sanitize-recover=all -Ishim \
	    -DLD_LIBDIR='"$(PREFIX)/lib"' -o $@ $(LAUNCHER_SRC) $(SUP_SRC) -lbsd -lmd

sanitize-supervise: all supervise-progs $(SAN_DIR)/lameduck
	LDTEST_LAUNCHER=$(SAN_DIR)/lameduck ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 \
	    python3 tests/integration/run.py -j 2 supervise_

sanitize-tsan: $(TSAN_DIR)/liblameduck.so $(TSAN_DIR)/lifecycle
	tests/sanitize/lifecycle.sh tsan $(TSAN_DIR)/lifecycle $(TSAN_DIR)/liblameduck.so

sanitize-valgrind: $(BUILD)/liblameduck.so $(UNITS) $(BUILD)/sanitize/lifecycle
	@set -e; for t in $(UNITS); do echo "== $$t (valgrind)"; \
	    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	    --show-leak-kinds=definite $$t; done
	tests/sanitize/lifecycle.sh valgrind $(BUILD)/sanitize/lifecycle $(BUILD)/liblameduck.so

# Every check of issue 6; `make -k sanitize` runs them all even when one fails.
sanitize: deps
	$(MAKE) sanitize-unit sanitize-integration sanitize-supervise sanitize-tsan sanitize-valgrind \
	    fuzz-ci

fuzz: $(FUZZ_BINS)
	FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: $(FUZZ_BINS)
	FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

.PHONY: sanitize sanitize-unit sanitize-integration sanitize-supervise sanitize-tsan \
	sanitize-valgrind fuzz fuzz-ci

# ---------------------------------------------------------------------------
# musl build (issue 6): `make musl` builds build/musl/liblameduck.so with
# musl-gcc (Debian's musl-tools), for Alpine and other musl images, and test
# programs linked with musl for tests/integration/test_musl.py. `all` does
# not need musl-gcc; `make test` runs this too. There is no libbsd for musl:
# shim/compat.c stands in for strtonum (musl has strlcpy). musl's libc.so
# holds dlsym and pthreads, so it is the only NEEDED library.
MUSL_CC		?= musl-gcc
MUSL_DIR	:= $(BUILD)/musl
MUSL_PROG_NAMES	:= slow_threads slow_epoll iterative closeall sig_siginfo sig_suspend \
		   sig_waitinfo sig_signalfd storm_fork tree_prefork tree_daemon
MUSL_PROGS	:= $(patsubst %,$(MUSL_DIR)/progs/%,$(MUSL_PROG_NAMES))

$(MUSL_DIR)/liblameduck.so: $(SHIM_SRC) $(SHIM_HDR) shim/musl.map Makefile
	@mkdir -p $(@D)
	$(MUSL_CC) $(SHIM_CFLAGS) $(SHIM_LDFLAGS) -Wl,--version-script=shim/musl.map \
	    -o $@ $(SHIM_SRC)

$(MUSL_DIR)/progs/%: tests/progs/%.c tests/progs/progs.h tests/progs/http.h
	@mkdir -p $(@D)
	$(MUSL_CC) $(CFLAGS) -pthread -o $@ $<

musl: $(MUSL_DIR)/liblameduck.so $(MUSL_PROGS)

.PHONY: musl

# ---------------------------------------------------------------------------
# `lameduck --supervise` (issue 14): programs no preload can enter, for
# tests/integration/test_supervise.py. `make supervise-progs`; `make
# integration` builds them first. sup_http (tests/progs/sup_http.c, built
# dynamically by `all` too) linked with `gcc -static` (libc6-dev's libc.a),
# and Go servers built with CGO_ENABLED=0 (golang-go): tests/go/gosrv.go
# (no signal handling, log.Fatal(http.ListenAndServe)) and
# tests/go/goshutdown.go (srv.Shutdown on SIGTERM). Go's build cache is kept
# under build/ so that a rebuild is quick and $HOME is not needed.
SUP_DIR		:= $(BUILD)/supervise
SUP_GO_ENV	:= CGO_ENABLED=0 GO111MODULE=off GOFLAGS= GOCACHE=$(abspath $(SUP_DIR))/gocache \
		   GOPATH=$(abspath $(SUP_DIR))/gopath
SUP_PROGS	:= $(SUP_DIR)/sup_http_static $(SUP_DIR)/gosrv_nocgo $(SUP_DIR)/goshutdown_nocgo

$(SUP_DIR)/sup_http_static: tests/progs/sup_http.c tests/progs/progs.h tests/progs/http.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -static -pthread -o $@ $<

$(SUP_DIR)/gosrv_nocgo: tests/go/gosrv.go
	@mkdir -p $(@D)
	$(SUP_GO_ENV) go build -o $@ $<

$(SUP_DIR)/goshutdown_nocgo: tests/go/goshutdown.go
	@mkdir -p $(@D)
	$(SUP_GO_ENV) go build -o $@ $<

supervise-progs: $(SUP_PROGS)

integration: supervise-progs

.PHONY: supervise-progs
