# goodhart — build the library, the CLI, the tests, the fuzzer and the benchmarks.
#   make            library + CLI (build/goodhart)
#   make test       every test (scripts/run-tests.sh prints "N passed, N failed")
#   make sanitize   the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       the GGUF reader fuzz target (clang libFuzzer), run briefly
# BUILD=dir selects the output folder (parallel builds may use their own).

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
DEPS    := libcjson libpcre2-8 libutf8proc libcrypto sqlite3 libcurl libmicrohttpd
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -fopenmp -Iinclude -Isrc \
           $(shell pkg-config --cflags $(DEPS) 2>/dev/null) $(SAN) $(EXTRA_CFLAGS)
LDLIBS  := $(shell pkg-config --libs $(DEPS) 2>/dev/null || echo -lcjson -lpcre2-8 -lutf8proc -lcrypto -lsqlite3 -lcurl -lmicrohttpd) \
           -lm -lpthread
LDFLAGS := -fopenmp $(SAN)
# Files compiled with extra ISA flags; their code is only called after a CPUID check.
SIMD_FLAGS := -mavx2 -mfma -mf16c
SIMD512_FLAGS := $(SIMD_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
AMX_FLAGS := $(SIMD512_FLAGS) -mavx512vbmi -mamx-tile -mamx-int8

LIB_SRC  := $(shell find src -name '*.c' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(shell find tests -name 'test_*.c' | sort)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
TESTUTIL := $(BUILD)/tests/testutil.o

.PHONY: all test sanitize fuzz clean bench
all: $(BUILD)/goodhart

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SIMD_FLAGS) -MMD -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SIMD512_FLAGS) -MMD -c $< -o $@

$(BUILD)/%_amx.o: %_amx.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AMX_FLAGS) -MMD -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -c $< -o $@

$(BUILD)/libgoodhart.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/goodhart: $(CLI_OBJ) $(BUILD)/libgoodhart.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TESTUTIL) $(BUILD)/libgoodhart.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< $(TESTUTIL) $(BUILD)/libgoodhart.a -o $@ $(LDFLAGS) -lcmocka $(LDLIBS)

tests: $(TEST_BIN) $(BUILD)/goodhart

test: tests
	BUILD=$(BUILD) bash scripts/run-tests.sh

sanitize:
	GH_NO_VALGRIND=1 $(MAKE) BUILD=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

fuzz:
	bash fuzz/run.sh

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
