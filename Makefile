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
# libbsd and libmd are linked in statically so that libc.so.6 is the only
# NEEDED library: the shim is copied into images that lack libbsd.
SHIM_LIBS := -Wl,-Bstatic -lbsd -lmd -Wl,-Bdynamic -ldl
SHIM_LDFLAGS := -shared -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined \
	   -Wl,--exclude-libs,ALL

SHIM_SRC := $(filter-out shim/launcher.c,$(wildcard shim/*.c))
SHIM_HDR := $(wildcard shim/*.h)
PROGS	 := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(wildcard tests/progs/*.c))
UNITS	 := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/*.c))

LAUNCHER := $(if $(wildcard shim/launcher.c),$(BUILD)/lameduck)

all: $(BUILD)/liblameduck.so $(LAUNCHER) $(PROGS)

$(BUILD)/liblameduck.so: $(SHIM_SRC) $(SHIM_HDR) Makefile
	@mkdir -p $(BUILD)
	$(CC) $(SHIM_CFLAGS) $(SHIM_LDFLAGS) -o $@ $(SHIM_SRC) $(SHIM_LIBS)

# The launcher shares the shim's parser, so a value it accepts the shim accepts.
$(BUILD)/lameduck: shim/launcher.c shim/config.c shim/config.h shim/shim.h shim/lifecycle.h Makefile
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DLD_LIBDIR='"$(PREFIX)/lib"' -o $@ shim/launcher.c shim/config.c \
	    -Wl,-Bstatic -lbsd -lmd -Wl,-Bdynamic

$(BUILD)/progs/%: tests/progs/%.c
	@mkdir -p $(BUILD)/progs
	$(CC) $(CFLAGS) -pthread -o $@ $< 

# Unit tests link the pure parts of the shim directly.
UNIT_DEPS := shim/config.c shim/http.c shim/lifecycle.c
$(BUILD)/unit/%: tests/unit/%.c $(UNIT_DEPS) $(SHIM_HDR)
	@mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS) -Ishim -o $@ $< $(UNIT_DEPS) -lcmocka -lbsd

deps:
	@tests/deps.sh

unit: $(UNITS)
	@set -e; for t in $(UNITS); do $$t; done

integration: all
	python3 tests/integration/run.py

check-abi: $(BUILD)/liblameduck.so
	tests/check-abi.sh $(BUILD)/liblameduck.so

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) check-abi
	$(MAKE) integration

bench: deps all
	python3 tests/bench.py

install: $(BUILD)/liblameduck.so $(BUILD)/lameduck
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0755 $(BUILD)/liblameduck.so $(DESTDIR)$(PREFIX)/lib/liblameduck.so
	install -m 0755 $(BUILD)/lameduck $(DESTDIR)$(PREFIX)/bin/lameduck
	install -m 0644 man/lameduck.1 $(DESTDIR)$(PREFIX)/share/man/man1/lameduck.1
	install -m 0644 man/liblameduck.7 $(DESTDIR)$(PREFIX)/share/man/man7/liblameduck.7

clean:
	rm -rf $(BUILD)

.PHONY: all deps unit integration check-abi test bench install clean
include demo/Makefile.inc
