#!/usr/bin/env bash
# demo.sh — set up, build and run goodhart's main job on the default model.
# (Until `goodhart demo` exists, the main job is a generation: four samples of a
# prompt decoded together, each reproducible from the seed and its index.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./build/goodhart info -m models/stories260K.gguf --no-tensors
echo
./build/goodhart generate -m models/stories260K.gguf -p "Once upon a time" -n 120 --samples 4 --temp 0.8 --seed 42 --with-prompt
