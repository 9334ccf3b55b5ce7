#!/usr/bin/env bash
# Runs every test program under $BUILD/tests (cmocka) from the repository root
# and prints one closing line, "N passed, N failed", counting test cases.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
export GH_SHARED=${GH_SHARED:-../shared}
export GH_BIN=${GH_BIN:-$BUILD/goodhart}
passed=0; failed=0; bad_bins=()
while IFS= read -r bin; do
  out=$("$bin" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ $rc -ne 0 ] && [ -z "${f:-}" ]; then failed=$((failed + 1)); bad_bins+=("$bin (exit $rc)"); fi
done < <(find "$BUILD/tests" -type f -perm -u+x -name 'test_*' | sort)
# shared/ is read-only for the project: a test that wrote there is a failure
if [ -f "$GH_SHARED/models/SHA256SUMS" ] && ! (cd "$GH_SHARED/models" && sha256sum --quiet -c SHA256SUMS); then
  echo "shared/models changed under the tests"; failed=$((failed + 1))
fi
for b in "${bad_bins[@]+"${bad_bins[@]}"}"; do echo "crashed: $b"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
