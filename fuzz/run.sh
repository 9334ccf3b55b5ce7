#!/usr/bin/env bash
# fuzz/run.sh — builds the GGUF reader fuzz target (clang libFuzzer with
# AddressSanitizer + UndefinedBehaviorSanitizer) against the few library
# sources it needs, writes a seed corpus of small valid GGUF files with the
# library's own writer, and fuzzes for a bounded time.
#
#   bash fuzz/run.sh                  # 30 seconds
#   FUZZ_SECONDS=600 bash fuzz/run.sh # longer
#   FUZZ_BUILD=dir                    # build folder (default build-fuzz)
#   FUZZ_JOBS=N                       # parallel fuzzing processes (default 1)
#
# The working corpus grows in fuzz/corpus-run/ (git-ignored) and is reused by
# later runs; crashes are written to $FUZZ_BUILD/crash-* and make this script
# fail. Called by `make fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
  for c in clang-14 clang-15 clang-16 clang-17 clang-18; do
    if command -v "$c" >/dev/null 2>&1; then CLANG=$c; break; fi
  done
fi
if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "fuzz/run.sh: clang is missing: libFuzzer needs clang with its runtime" >&2
  echo "  (on Debian/Ubuntu: apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

BUILD=${FUZZ_BUILD:-build-fuzz}
SECONDS_TO_RUN=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-1}
CORPUS=fuzz/corpus-run
SEEDS=$BUILD/seeds
mkdir -p "$BUILD" "$CORPUS"

LIB_SRC="src/base/error.c src/base/file.c src/gguf/gguf_read.c src/gguf/gguf_write.c src/gguf/gguf_types.c"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Iinclude -Isrc -fno-omit-frame-pointer"

echo "fuzz/run.sh: building $BUILD/gguf_fuzz with $CLANG"
if ! "$CLANG" $CFLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
     fuzz/gguf_fuzz.c $LIB_SRC -o "$BUILD/gguf_fuzz"; then
  echo "fuzz/run.sh: building the fuzz target failed; if the linker cannot find libclang_rt.fuzzer," >&2
  echo "  the libFuzzer runtime is missing (apt-get install libclang-rt-14-dev for clang-14)" >&2
  exit 1
fi
"$CLANG" $CFLAGS -fsanitize=address,undefined fuzz/gguf_seeds.c $LIB_SRC -o "$BUILD/gguf_seeds"
rm -rf "$SEEDS"
"$BUILD/gguf_seeds" "$SEEDS"

# malloc_limit_mb: any single allocation above this is reported as a bug — the
# reader must never size an allocation from a count it has not checked.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz/run.sh: fuzzing for ${SECONDS_TO_RUN}s (corpus $CORPUS, seeds $SEEDS)"
extra=()
if [ "$JOBS" -gt 1 ]; then extra+=(-jobs="$JOBS" -workers="$JOBS"); fi
"$BUILD/gguf_fuzz" \
  -max_total_time="$SECONDS_TO_RUN" \
  -max_len=65536 \
  -timeout=10 \
  -rss_limit_mb=2048 \
  -malloc_limit_mb=256 \
  -dict=fuzz/gguf.dict \
  -artifact_prefix="$BUILD/" \
  -print_final_stats=1 \
  "${extra[@]+"${extra[@]}"}" \
  "$CORPUS" "$SEEDS"
echo "fuzz/run.sh: no crash in ${SECONDS_TO_RUN}s"
