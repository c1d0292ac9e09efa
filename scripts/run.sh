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

Starting runneld (Ctrl-C stops it cleanly). In another terminal:
  curl -s 127.0.0.1:7080/healthz        # "ok" once it accepts requests
  curl -s 127.0.0.1:7080/metrics        # Prometheus metrics
  build-release/bin/runnel log dump data/<topic>-<partition> --records   # inspect stored batches
The CLI's topic/produce/consume commands arrive with the client library (issue 5, in progress);
until then the gRPC API (proto/runnel/v1) is the way in.

MSG
exec build-release/bin/runneld --data-dir ./data --grpc-addr 127.0.0.1:7070 \
  --http-addr 127.0.0.1:7080 "$@"
