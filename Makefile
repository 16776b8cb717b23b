# dovetail — one GNU Makefile for the library, the CLI, tests, fuzzers, demo.
#
#   make            release library (static + shared) and the dovetail CLI
#   make check      install deps, ASan/UBSan build, unit + e2e + accuracy + fuzz corpus;
#                   ends with one "check: N passed, M failed" line
#   make demo       install deps, build, link the bundled examples, print summaries
#   make fuzz       libFuzzer targets with clang (build/fuzz), 60 s each
#   make bench      benchmark harness (see bench/README.md)
#   make format     clang-format the tree
#   make lint       cppcheck
#   make install    CLI, libraries, header, dovetail.pc, data (PREFIX, DESTDIR); make uninstall
#
# Each flavour builds in its own folder: build/release, build/asan, build/fuzz.

FLAVOR ?= release
B := build/$(FLAVOR)

CC ?= cc
PKGS := yaml-0.1 jansson libutf8proc sqlite3 libsodium libmicrohttpd libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lyaml -ljansson -lutf8proc -lsqlite3 -lsodium -lmicrohttpd -lpq)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
        -Wno-missing-field-initializers
CSTD := -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE

ifeq ($(FLAVOR),release)
  OPT := -O2 -g -DNDEBUG
else ifeq ($(FLAVOR),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
         -DDT_TEST_HOOKS
  LDSAN := -fsanitize=address,undefined
else ifeq ($(FLAVOR),profile)
  # release code with frame pointers, so perf record -g sees callers
  OPT := -O2 -g -DNDEBUG -fno-omit-frame-pointer
else ifeq ($(FLAVOR),debug)
  OPT := -O0 -g
else ifeq ($(FLAVOR),tsan)
  OPT := -O1 -g -fsanitize=thread
  LDSAN := -fsanitize=thread
endif

CFLAGS_ALL := $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) -fPIC -fvisibility=hidden -pthread -MMD -MP
LDLIBS_ALL := $(PKG_LIBS) -lm -pthread $(LDSAN)

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_BIN := $(UNIT_SRC:%.c=$(B)/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/fuzz/replay_%)

STATIC_LIB := $(B)/libdovetail.a
SHARED_LIB := $(B)/libdovetail.so
CLI := $(B)/dovetail

.PHONY: all lib check demo fuzz bench format lint clean unit e2e fuzz-replay layers deps
all: $(STATIC_LIB) $(SHARED_LIB) $(CLI)
lib: $(STATIC_LIB) $(SHARED_LIB)

# Library: internal parts see each other through -Isrc; everyone sees include/.
$(B)/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude -Isrc -DDT_DATA_DIR='"$(abspath data)"' -c $< -o $@

$(STATIC_LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libdovetail.so.$(SOMAJOR) -o $@ $^ $(LDLIBS_ALL)

# The CLI sees the public header only, so it cannot reach internals.
$(B)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude -c $< -o $@

$(CLI): $(TOOL_OBJ) $(STATIC_LIB)
	$(CC) -o $@ $(TOOL_OBJ) $(STATIC_LIB) $(LDLIBS_ALL)

# Unit tests reach internals; one binary per test file.
$(B)/tests/unit/%: tests/unit/%.c $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Iinclude -Isrc -Itests/unit \
	    -DDT_TEST_DATA='"$(abspath ../shared/data)"' -DDT_SRC_ROOT='"$(abspath .)"' \
	    $< -o $@ $(STATIC_LIB) $(LDLIBS_ALL) -lcmocka

# The benchmark data generator (bench/README.md): a program, not part of the library.
GEN := $(if $(wildcard bench/gen.c),$(B)/bench-gen)
$(B)/bench-gen: bench/gen.c $(STATIC_LIB)
	$(CC) $(CFLAGS_ALL) -Iinclude -Isrc $< -o $@ $(STATIC_LIB) $(LDLIBS_ALL)
# related people merged, from bench-gen's truth (bench/README.md): plain C, no library
$(B)/bench-score: bench/score.c
	$(CC) $(CFLAGS_ALL) $< -o $@
# findings against bench-gen's planted ones (bench/README.md, "Findings")
$(B)/bench-findings: bench/fscore.c $(STATIC_LIB)
	$(CC) $(CFLAGS_ALL) -Iinclude -Isrc $< -o $@ $(STATIC_LIB) $(LDLIBS_ALL)
# resolve latency against a store (bench/README.md)
$(B)/bench-resolve: bench/resolve.c $(STATIC_LIB)
	$(CC) $(CFLAGS_ALL) -Iinclude -Isrc $< -o $@ $(STATIC_LIB) $(LDLIBS_ALL)

# resolve time with and without hidden records in the block (bench/README.md)
$(B)/bench-leaks: bench/leaks.c $(STATIC_LIB)
	$(CC) $(CFLAGS_ALL) -Iinclude -Isrc $< -o $@ $(STATIC_LIB) $(LDLIBS_ALL)

# audit log append throughput (bench/README.md)
$(B)/bench-audit: bench/audit.c $(STATIC_LIB)
	$(CC) $(CFLAGS_ALL) -Iinclude -Isrc $< -o $@ $(STATIC_LIB) $(LDLIBS_ALL)

# Fuzz targets replayed over their corpus with a plain driver (no libFuzzer).
$(B)/tests/fuzz/replay_%: tests/fuzz/%.c tests/fuzz/regression_driver.c $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Iinclude -Isrc $< tests/fuzz/regression_driver.c \
	    -o $@ $(STATIC_LIB) $(LDLIBS_ALL)

deps:
	@sh scripts/install-deps

unit: $(UNIT_BIN)
	@sh tests/run-unit $(B) $(UNIT_BIN)

# Each corpus input replayed without a crash counts as one passed test.
fuzz-replay: $(FUZZ_REPLAY)
	@p=0; f=0; for t in $(FUZZ_REPLAY); do \
	    name=$${t##*/replay_fuzz_}; \
	    if out=$$($$t tests/fuzz/corpus/$$name); then \
	        p=$$((p + $$(echo "$$out" | sed -n 's/.*: \([0-9]*\) corpus inputs replayed$$/\1/p'))); \
	    else f=$$((f + 1)); echo "FAIL  replay $$name"; fi; \
	    echo "$$out"; \
	done; echo "fuzz: $$p passed, $$f failed"; [ $$f -eq 0 ]

# Every script runs whatever an earlier one did (each ends with its own
# "NAME: N passed, M failed" line); the target fails when any script did.
E2E_C = $(abspath $(CLI))
E2E_G = $(abspath $(B)/bench-gen)
e2e: $(CLI) $(GEN) $(B)/bench-leaks $(B)/bench-score $(B)/bench-findings
	@st=0; \
	sh tests/e2e/run $(E2E_C) || st=1; \
	sh tests/e2e/boundary_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/gen_test.sh $(E2E_G) || st=1; \
	sh tests/e2e/store_test.sh $(E2E_C) $(E2E_G) || st=1; \
	DT_BACKEND=pg sh tests/e2e/store_test.sh $(E2E_C) $(E2E_G) || st=1; \
	sh tests/e2e/govern_test.sh $(E2E_C) $(E2E_G) || st=1; \
	DT_BACKEND=pg sh tests/e2e/govern_test.sh $(E2E_C) $(E2E_G) || st=1; \
	sh tests/e2e/retention_test.sh $(E2E_C) $(E2E_G) || st=1; \
	DT_BACKEND=pg sh tests/e2e/retention_test.sh $(E2E_C) $(E2E_G) || st=1; \
	sh tests/e2e/limits_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/leaks_test.sh $(E2E_C) $(E2E_G) $(abspath $(B)/bench-leaks) || st=1; \
	sh tests/e2e/readme_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/install_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/usable_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/rejects_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/binding_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/atrest_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/integrity_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/twins_test.sh $(E2E_C) $(E2E_G) $(abspath $(B)/bench-score) || st=1; \
	sh tests/e2e/findings_test.sh $(E2E_C) $(E2E_G) $(abspath $(B)/bench-findings) || st=1; \
	sh tests/e2e/findings_store_test.sh $(E2E_C) $(E2E_G) || st=1; \
	DT_BACKEND=pg sh tests/e2e/findings_store_test.sh $(E2E_C) $(E2E_G) || st=1; \
	sh tests/e2e/server_test.sh $(E2E_C) $(E2E_G) || st=1; \
	sh tests/e2e/web_test.sh $(E2E_C) $(E2E_G) || st=1; \
	sh tests/e2e/decisions_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/pg_test.sh $(E2E_C) || st=1; \
	sh tests/e2e/migrate_test.sh $(E2E_C) $(E2E_G) || st=1; \
	sh tests/e2e/server_pg_test.sh $(E2E_C) $(E2E_G) || st=1; \
	exit $$st

layers:
	@sh scripts/check-layers

# make check: everything, under ASan/UBSan, from a bare machine. Every test
# family prints "NAME: N passed, M failed"; tests/check-summary adds them up
# from the log into the last line, "check: N passed, M failed".
CHECK_LOG := build/check.log
check: deps
	@mkdir -p build
	@{ $(MAKE) -k --no-print-directory FLAVOR=asan layers all unit fuzz-replay e2e && \
	   $(MAKE) --no-print-directory FLAVOR=release all; echo $$? >$(CHECK_LOG).rc; } 2>&1 | tee $(CHECK_LOG)
	@sh tests/check-summary $(CHECK_LOG) "$$(cat $(CHECK_LOG).rc)"

demo: deps
	@$(MAKE) --no-print-directory FLAVOR=release all
	@sh scripts/demo build/release/dovetail

# libFuzzer needs clang; its objects live apart from gcc's. FUZZ_SECONDS per
# target (FUZZ_TIME is the older name); each target's log is kept in
# build/fuzz/NAME.log and one line per target sums it up: executions, exec/s,
# coverage (cov: edges, ft: features), corpus size, and whether it found
# anything (then the log names the crash file).
FUZZ_CC := clang-14
FUZZ_TIME ?= 60
FUZZ_SECONDS ?= $(FUZZ_TIME)
fuzz: deps
	@mkdir -p build/fuzz/obj
	@set -e; objs=""; for f in $(LIB_SRC); do \
	    o=build/fuzz/obj/$$(echo $$f | tr / _ | sed 's/\.c$$/.o/'); objs="$$objs $$o"; \
	    $(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	        -Iinclude -Isrc $(PKG_CFLAGS) -DDT_DATA_DIR='"$(abspath data)"' -c $$f -o $$o; \
	done; \
	for f in $(FUZZ_SRC); do \
	    n=$$(basename $$f .c); \
	    $(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc $(PKG_CFLAGS) \
	        $$f $$objs -o build/fuzz/$$n $(LDLIBS_ALL); \
	done
	@status=0; for f in $(FUZZ_SRC); do \
	    n=$$(basename $$f .c); c=tests/fuzz/corpus/$${n#fuzz_}; mkdir -p build/fuzz/corpus-$$n; \
	    if build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	        -artifact_prefix=build/fuzz/$$n- build/fuzz/corpus-$$n $$c >build/fuzz/$$n.log 2>&1; \
	    then found=none; else found="FOUND (see build/fuzz/$$n.log)"; status=1; fi; \
	    runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$$n.log | tail -n 1); \
	    rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' build/fuzz/$$n.log | tail -n 1); \
	    cov=$$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' build/fuzz/$$n.log | tail -n 1); \
	    echo "fuzz $$n: $${runs:-0} executions, $${rate:-0}/s, $$cov, findings: $$found"; \
	done; exit $$status

bench: deps
	@$(MAKE) --no-print-directory FLAVOR=release all build/release/bench-gen build/release/bench-resolve \
	    build/release/bench-audit build/release/bench-leaks build/release/bench-score \
	    build/release/bench-findings
	@echo "built; now run e.g.: bench/run --people 100000   (see bench/README.md)"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	cppcheck --quiet --enable=warning,performance,portability --std=c11 -Iinclude -Isrc src tools

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d)

# ---- install --------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=staging]: the CLI, libdovetail.a,
# libdovetail.so.VERSION (SONAME libdovetail.so.MAJOR, and the dev symlink),
# dovetail.h, dovetail.pc and the data files. The installed libraries are the
# release objects but for src/util/datadir.c, compiled again (build/install)
# with the directory the data files go to, so the installed library never
# reads the source tree; a copy staged or moved elsewhere still finds them
# beside itself (datadir.c).
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SHAREDIR ?= $(PREFIX)/share/dovetail
VERSION := $(shell sed -n 's/^\#define DT_VERSION_STRING "\(.*\)"/\1/p' include/dovetail.h)
SOMAJOR := $(shell sed -n 's/^\#define DT_VERSION_MAJOR \([0-9]*\)/\1/p' include/dovetail.h)
IB := build/install
INSTALL_OBJ := $(filter-out $(B)/src/util/datadir.o,$(LIB_OBJ)) $(IB)/datadir.o

# SHAREDIR as last compiled; a new one rebuilds datadir.o.
$(IB)/share-dir: FORCE
	@mkdir -p $(@D)
	@echo '$(SHAREDIR)' | cmp -s - $@ || echo '$(SHAREDIR)' >$@
$(IB)/datadir.o: src/util/datadir.c $(IB)/share-dir
	$(CC) $(CFLAGS_ALL) -Iinclude -Isrc -DDT_DATA_DIR='"$(SHAREDIR)"' -c $< -o $@
$(IB)/libdovetail.a: $(INSTALL_OBJ)
	rm -f $@ && ar rcs $@ $^
$(IB)/libdovetail.so: $(INSTALL_OBJ)
	$(CC) -shared -Wl,-soname,libdovetail.so.$(SOMAJOR) -o $@ $^ $(LDLIBS_ALL)
$(IB)/dovetail: $(TOOL_OBJ) $(IB)/libdovetail.a
	$(CC) -o $@ $(TOOL_OBJ) $(IB)/libdovetail.a $(LDLIBS_ALL)
FORCE:

.PHONY: install uninstall FORCE
install: $(IB)/libdovetail.a $(IB)/libdovetail.so $(IB)/dovetail
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(SHAREDIR)/names $(DESTDIR)$(SHAREDIR)/web
	install -m 755 $(IB)/dovetail $(DESTDIR)$(PREFIX)/bin/dovetail
	install -m 644 $(IB)/libdovetail.a $(DESTDIR)$(LIBDIR)/libdovetail.a
	install -m 755 $(IB)/libdovetail.so $(DESTDIR)$(LIBDIR)/libdovetail.so.$(VERSION)
	ln -sf libdovetail.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libdovetail.so.$(SOMAJOR)
	ln -sf libdovetail.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libdovetail.so
	install -m 644 include/dovetail.h $(DESTDIR)$(INCLUDEDIR)/dovetail.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES@|$(PKGS)|' dovetail.pc.in \
	    >$(DESTDIR)$(LIBDIR)/pkgconfig/dovetail.pc
	install -m 644 data/nicknames.tsv $(DESTDIR)$(SHAREDIR)/nicknames.tsv
	install -m 644 data/names/*.tsv $(DESTDIR)$(SHAREDIR)/names/
	install -m 644 data/web/index.html data/web/app.js data/web/app.css $(DESTDIR)$(SHAREDIR)/web/

-include $(IB)/datadir.d

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/dovetail $(DESTDIR)$(LIBDIR)/libdovetail.a \
	    $(DESTDIR)$(LIBDIR)/libdovetail.so $(DESTDIR)$(LIBDIR)/libdovetail.so.$(SOMAJOR) \
	    $(DESTDIR)$(LIBDIR)/libdovetail.so.$(VERSION) $(DESTDIR)$(INCLUDEDIR)/dovetail.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/dovetail.pc
	rm -rf $(DESTDIR)$(SHAREDIR)
