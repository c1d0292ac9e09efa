#!/usr/bin/env bash
# Starts a single-node Runnel broker in the foreground: gRPC on 127.0.0.1:7070, metrics and health
# on 127.0.0.1:7080, data in ./data. Installs dependencies if missing and builds (Release) first.
# Extra arguments go to runneld (e.g. --log-level debug). Stop it with Ctrl-C (clean shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DRUNNEL_BUILD_TESTS=OFF \
  -DRUNNEL_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-release --parallel "$(nproc)" --target runneld runnel

cat >&2 <<'MSG'

Starting runneld (Ctrl-C stops it cleanly). In another terminal, try:
  build-release/bin/runnel topic create greetings --partitions 3
  echo hello | build-release/bin/runnel produce greetings
  build-release/bin/runnel consume greetings --from-beginning --num 1
More: build-release/bin/runnel --help, curl -s 127.0.0.1:7080/metrics, README.md ("A 5-minute tour").

MSG
exec build-release/bin/runneld --data-dir ./data --grpc-addr 127.0.0.1:7070 \
  --http-addr 127.0.0.1:7080 "$@"
