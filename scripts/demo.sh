#!/usr/bin/env bash
# demo.sh — set up, build and run goodhart's main job: `goodhart demo`, the
# Best-of-N vs regularized Best-of-N experiment on the default model, which
# writes its report to runs/demo/report.html. Extra arguments go to it
# (e.g. --seed 2, -N 64, --force).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./build/goodhart demo "$@"
