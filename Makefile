# dovetail — one GNU Makefile for the library, the CLI, tests, fuzzers, demo.
#
#   make            release library (static + shared) and the dovetail CLI
#   make check      install deps, ASan/UBSan build, unit + e2e + accuracy + fuzz corpus
#   make demo       install deps, build, link the bundled examples, print summaries
#   make fuzz       libFuzzer targets with clang (build/fuzz), 60 s each
#   make bench      benchmark harness (see bench/README.md)
#   make format     clang-format the tree
#   make lint       cppcheck
#
# Each flavour builds in its own folder: build/release, build/asan, build/fuzz.

FLAVOR ?= release
B := build/$(FLAVOR)

CC ?= cc
PKGS := yaml-0.1 jansson libutf8proc sqlite3 libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lyaml -ljansson -lutf8proc -lsqlite3 -lsodium)

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
	$(CC) -shared -o $@ $^ $(LDLIBS_ALL)

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
# resolve latency against a store (bench/README.md)
$(B)/bench-resolve: bench/resolve.c $(STATIC_LIB)
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

fuzz-replay: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_REPLAY); do \
	    name=$${t##*/replay_fuzz_}; \
	    $$t tests/fuzz/corpus/$$name; \
	done

e2e: $(CLI) $(GEN)
	@sh tests/e2e/run $(abspath $(CLI))
	@$(if $(GEN),sh tests/e2e/gen_test.sh $(abspath $(GEN)),echo "gen: bench/gen.c not present yet")
	@sh tests/e2e/store_test.sh $(abspath $(CLI)) $(if $(GEN),$(abspath $(GEN)))
	@$(if $(GEN),sh tests/e2e/govern_test.sh $(abspath $(CLI)) $(abspath $(GEN)),echo "govern: needs bench-gen")
	@$(if $(GEN),sh tests/e2e/retention_test.sh $(abspath $(CLI)) $(abspath $(GEN)),echo "retention: needs bench-gen")
	@sh tests/e2e/integrity_test.sh $(abspath $(CLI))

layers:
	@sh scripts/check-layers

# make check: everything, under ASan/UBSan, from a bare machine.
check: deps
	@$(MAKE) --no-print-directory FLAVOR=asan layers all unit fuzz-replay e2e
	@$(MAKE) --no-print-directory FLAVOR=release all

demo: deps
	@$(MAKE) --no-print-directory FLAVOR=release all
	@sh scripts/demo build/release/dovetail

# libFuzzer needs clang; its objects live apart from gcc's.
FUZZ_CC := clang-14
FUZZ_TIME ?= 60
fuzz: deps
	@mkdir -p build/fuzz
	@set -e; for f in $(FUZZ_SRC); do \
	    n=$$(basename $$f .c); \
	    $(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc $(PKG_CFLAGS) \
	        -DDT_DATA_DIR='"$(abspath data)"' $$f $(LIB_SRC) -o build/fuzz/$$n $(LDLIBS_ALL); \
	    c=tests/fuzz/corpus/$${n#fuzz_}; mkdir -p build/fuzz/corpus-$$n; \
	    build/fuzz/$$n -max_total_time=$(FUZZ_TIME) -max_len=4096 build/fuzz/corpus-$$n $$c; \
	done

bench: deps
	@$(MAKE) --no-print-directory FLAVOR=release all build/release/bench-gen build/release/bench-resolve \
	    build/release/bench-audit
	@echo "built; now run e.g.: bench/run --people 100000   (see bench/README.md)"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	cppcheck --quiet --enable=warning,performance,portability --std=c11 -Iinclude -Isrc src tools

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d)
