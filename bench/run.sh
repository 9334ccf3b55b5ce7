#!/usr/bin/env bash
# bench/run.sh [PRESET] [TYPES...] — the runtime's speed on a Llama-shaped model
# of PRESET (default 1b: TinyLlama-1.1B's shape) for each weight type (default
# f32 f16 q8_0 q4_0 q4_K q6_K), each against the memory bandwidth measured in the
# same run. Models are random-weight GGUF files made by `goodhart make-model`
# in $GH_BENCH_DIR (default /tmp/goodhart-bench); results go to stdout as one
# JSON object per type and a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-1b}; shift || true
types=("$@"); [ ${#types[@]} -eq 0 ] && types=(f32 f16 q8_0 q4_0 q4_K q6_K)
dir=${GH_BENCH_DIR:-/tmp/goodhart-bench}
threads=${GH_THREADS:-$(nproc)}
mkdir -p "$dir"
make -s build/goodhart
results=()
for t in "${types[@]}"; do
  m="$dir/$preset-$t.gguf"
  [ -f "$m" ] || ./build/goodhart make-model --preset "$preset" --type "$t" -o "$m"
  r=$(./build/goodhart bench -m "$m" -t "$threads" --json)
  echo "$r"
  results+=("$r")
done
echo
printf '%-6s %9s %9s %9s %9s %9s %8s %8s\n' type "BW GB/s" "pp tok/s" "tg tok/s" "tg/limit" "N=4 x" "N=16 x" ""
for r in "${results[@]}"; do
  /usr/bin/env python3 - "$r" <<'PY' 2>/dev/null || echo "$r"
import json, sys
r = json.loads(sys.argv[1])
d = {x["n"]: x for x in r["decode"]}
one = d.get(1, {})
print(f'{r["weight_type"]:<6} {r["bandwidth_gbs"]:9.2f} {r["pp_tok_s"]:9.2f} {one.get("tok_s", 0):9.2f} '
      f'{one.get("bw_fraction", 0):9.2f} {d.get(4, {}).get("speedup_vs_1", 0):9.2f} {d.get(16, {}).get("speedup_vs_1", 0):9.2f}')
PY
done
