#!/usr/bin/env bash
# bench/serve_load.sh [SECONDS] [CLIENTS] — load check of `goodhart serve` on
# loopback: starts the server on stories260K (models/stories260K.gguf, or
# $GH_SERVE_MODEL) on a free port, waits for /health, runs bench/serve_load.c's
# CLIENTS concurrent clients (default 64) for SECONDS (default 30), then stops
# the server with SIGTERM and checks it exits 0. Prints serve_load's JSON line
# (throughput, p50/p99 latency, errors, the server's RSS through the run) and
# exits 1 if any request failed, a seeded answer changed, the server's RSS grew
# from mid-run to late-run beyond the tolerance (GH_LOAD_ARGS passes e.g.
# "--rss-tol-kib 4096" to serve_load), or the server did not exit cleanly.
# BUILD=dir picks the build folder (default build); GH_SERVE_ARGS gives server
# flags (default "-t 1": stories260K is too small to gain from more threads, and
# the clients share the cores with the server).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
clients=${2:-64}
B=${BUILD:-build}
model=${GH_SERVE_MODEL:-models/stories260K.gguf}
[ -x "$B/goodhart" ] || make -s BUILD="$B" "$B/goodhart"
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra bench/serve_load.c -o "$B/serve_load" -lcurl -lcjson -lpthread -lm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
"$B/goodhart" serve -m "$model" --port 0 --port-file "$tmp/port" -q ${GH_SERVE_ARGS:--t 1} 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 600); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
rc=0
# shellcheck disable=SC2086
"$B/serve_load" --url "http://127.0.0.1:$port" --clients "$clients" --seconds "$secs" --pid "$pid" ${GH_LOAD_ARGS:-} || rc=$?
curl -s "http://127.0.0.1:$port/health"; echo
kill -TERM "$pid"
wait "$pid" || { echo "server exited with status $?"; cat "$tmp/server.log"; rc=1; }
exit $rc
