#!/usr/bin/env bash
# bench/genies.sh [MODEL] [MAX_EXAMPLES] [MAX_TOKENS] — the GENIES harness at
# full size: every method alone on the 15 GENIES shifts over the shared data
# (each in its own run directory, so the hidden states or log-probabilities a
# method needs are charged to it), printing the wall time per method and the
# GENIES mean differential elicitation. Wall time and CPU time (user + system)
# are both printed: on a shared machine the CPU time is the steadier number. MODEL defaults to stories260K
# converted to GGUF; MAX_EXAMPLES 0 means every pair (full size); MAX_TOKENS 0
# means the model's context. Run directories go to $GH_BENCH_DIR
# (default /tmp/goodhart-bench/genies); $GH_BIN picks the binary (build/goodhart);
# $GH_THREADS the threads (-t: pairs processed at once; default 1); $GH_METHODS
# the methods, space-separated (default all eight).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GH_BIN:-build/goodhart}
dir=${GH_BENCH_DIR:-/tmp/goodhart-bench}/genies
threads=${GH_THREADS:-1}
max=${2:-0}
tokens=${3:-0}
mkdir -p "$dir"
[ -x "$bin" ] || make -s "$bin"
model=${1:-}
if [ -z "$model" ]; then
  model="$dir/stories260K.gguf"
  [ -f "$model" ] || "$bin" convert llama2c ../shared/models/stories260K.bin ../shared/models/tok512.bin -o "$model" >/dev/null
fi
shifts=../shared/genies/distribution_shifts/GENIES.json
data=../shared/genies/distributions
opts=(-m "$model" --shifts "$shifts" --data "$data" -t "$threads" -q --model-name bench)
[ "$max" != 0 ] && opts+=(--max-examples "$max")
[ "$tokens" != 0 ] && opts+=(--max-tokens "$tokens")
printf '%-12s %10s %10s %10s\n' method wall_s cpu_s genies_de
for m in ${GH_METHODS:-zero_shot few_shot reward_head mms lat ccs cra random}; do
  run="$dir/run-$m-$max-$tokens"
  rm -rf "$run"
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$run.time" "$bin" genies run "${opts[@]}" --methods "$m" -o "$run" > "$run.log" 2>&1 ||
    { echo "$m failed: see $run.log"; continue; }
  t1=$(date +%s.%N)
  cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$run.time")
  # zero_shot (the baseline) always runs too: its share is in this method's time, measured alone in the first row
  de=$(awk -F, 'NR > 1 && $11 != "" { s += $11; n++ } END { if (n) printf "%.4f", s / n; else print "-" }' \
       "$run/generalization_metrics/bench/$m/GENIES.csv")
  printf '%-12s %10.1f %10s %10s\n' "$m" "$(echo "$t1 - $t0" | bc)" "$cpu" "$de"
done
