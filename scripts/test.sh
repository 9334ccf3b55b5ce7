#!/usr/bin/env bash
# test.sh — set up (with the test dependencies), build and run every test:
# the suite, then the suite again under AddressSanitizer + UBSan, then a short
# fuzzing run of the GGUF reader. The last line of each suite is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
# cross-checks against PyTorch and the npm packages fail instead of skipping
export GH_REQUIRE_CROSSCHECK=1
bash scripts/setup.sh --test
make -s -j"$(nproc)" tests >/dev/null
make -s test
echo "== under AddressSanitizer + UndefinedBehaviorSanitizer"
make -s -j"$(nproc)" sanitize
if [ "${GH_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzzing the GGUF reader (${FUZZ_SECONDS:-20} s)"
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} make -s fuzz
fi
