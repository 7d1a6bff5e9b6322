# shomei — one obvious way to build: `make`, `make run`, `make test`, `make bench`.

PKGS     := openssl sqlite3 libpq libsodium libmicrohttpd jansson libcurl gdlib gnutls
CC       ?= cc
BUILD    ?= build
SAN      ?=
WERROR   ?=
OPT      ?= -O2

WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
CFLAGS   := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g $(OPT) $(WARN) \
            $(if $(WERROR),-Werror) $(SAN) -Isrc -I$(BUILD)/gen \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
LDFLAGS  := $(SAN)

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/gen/migrations.o
MIGR     := $(sort $(wildcard src/store/migrations/*.sql))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
PY       := /usr/bin/python3
# integration tests at once (pytest-xdist): each starts its own servers on free ports, and
# one per core (more made timing-based tests flaky on a loaded machine, for no gain)
ITEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# compilers at once in the builds of `make test` (the sub-makes below get -j themselves, so a
# plain `make test` builds in parallel too)
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
# The C files the style gates (`make lint`) cover and `make format` rewrites.
LINT_SRC := $(sort $(wildcard src/*.[ch] src/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch] \
              tests/pkcs11/*.[ch] bench/*.[ch]))
# Test-only PKCS#11 forwarding module that can fake a locked PIN (tests/pkcs11/lockshim.c).
LOCKSHIM := $(BUILD)/tests/lockshim.so

.PHONY: all deps test unit unit-asan integration fuzz lint lint-format lint-banned lint-funclen \
        lint-selftest bench bench-bulk run clean format

all: $(BUILD)/shomei $(LOCKSHIM)

deps:
	@scripts/deps.sh

$(BUILD)/gen/migrations.c: $(MIGR) scripts/embed-migrations.sh
	@mkdir -p $(dir $@)
	scripts/embed-migrations.sh $(MIGR) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/migrations.o: $(BUILD)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libshomei.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/shomei: $(BUILD)/obj/main.o $(BUILD)/libshomei.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libshomei.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libshomei.a $(LDFLAGS) $(LDLIBS) -lcmocka

$(LOCKSHIM): tests/pkcs11/lockshim.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags p11-kit-1 2>/dev/null) -fPIC -shared \
	    -o $@ $< $(LDFLAGS)

# Unit tests; the store suite also runs against a throwaway PostgreSQL cluster.
unit: $(BUILD)/shomei $(UNIT_BIN) $(LOCKSHIM)
	scripts/with-pg.sh scripts/run-unit.sh $(BUILD)

unit-asan:
	$(MAKE) -j$(JOBS) BUILD=build-asan OPT=-O1 WERROR=1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" unit

# The tests run longest first by tests/integration/durations.txt; each run writes its times to
# $(BUILD)/integration-durations.txt (copy it over the former to refresh the order).
integration: $(BUILD)/shomei $(UNIT_BIN) $(LOCKSHIM)
	SHOMEI_DURATIONS_OUT=$(BUILD)/integration-durations.txt scripts/with-pg.sh $(PY) -m pytest -q -p no:cacheprovider -n $(ITEST_JOBS) --durations=25 tests/integration

fuzz:
	scripts/fuzz.sh

# Style gates, run first by `make test` (a few seconds, no build): clang-format's output, the
# banned-function list (curl's and more), functions of 300 lines at most, and a self-test that
# each gate refuses its bad fixture in tests/lint/.
lint: lint-format lint-banned lint-funclen lint-selftest

lint-format:
	@scripts/lint-format.sh $(LINT_SRC)

lint-banned:
	@scripts/lint-banned.sh $(LINT_SRC)

lint-funclen:
	@scripts/lint-funclen.sh $(LINT_SRC)

lint-selftest:
	@scripts/lint-selftest.sh

test: deps
	$(MAKE) lint
	$(MAKE) -j$(JOBS) WERROR=1 all unit
	$(MAKE) unit-asan
	$(MAKE) WERROR=1 integration
	$(MAKE) fuzz
	@echo "make test: all suites passed"

$(BUILD)/bench/%: bench/%.c bench/common.h $(BUILD)/libshomei.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libshomei.a $(LDFLAGS) $(LDLIBS)

# Benchmarks (not part of `make test`): each prints its figures and ratios against its peer.
# `make bench BENCHES=crl` runs one; BENCH_ARGS passes options to it.
BENCHES ?= $(sort $(notdir $(basename $(wildcard bench/*.c))))
bench: deps
	$(MAKE) all $(patsubst %,$(BUILD)/bench/%,$(BENCHES))
	@for b in $(BENCHES); do echo "== bench/$$b"; $(BUILD)/bench/$$b $(BENCH_ARGS) || exit 1; done

# bench/bulk (issue 13 part 14): the console's bulk TSV commit of 10,000 server certificates
# against the REST API and openssl ca -infiles, driven like a browser (Python: requests).
bench-bulk: deps
	$(MAKE) all
	/usr/bin/python3 bench/bulk.py $(BENCH_ARGS)

# deps first, then a fresh make: the flags above come from pkg-config, which deps may install.
run: deps
	$(MAKE) all
	scripts/run.sh

format:
	clang-format -i $(LINT_SRC)

clean:
	rm -rf build build-asan build-fuzz
