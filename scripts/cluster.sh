#!/usr/bin/env bash
# A Runnel cluster on this machine: N brokers (default 3) on loopback, node ids 1..N, broker i
# with gRPC on 127.0.0.1:(7170+i), HTTP on 127.0.0.1:(7270+i), inter-broker on 127.0.0.1:(7370+i)
# and data in ./data/cluster/node<i> (logs in ./data/cluster/node<i>.log).
#
#   ./scripts/cluster.sh start [N]    builds (Release) if needed, starts N brokers in the
#                                     background, waits until each is ready and prints the
#                                     --brokers list
#   ./scripts/cluster.sh stop         SIGTERM to every broker started here (clean shutdown)
#   ./scripts/cluster.sh status       which brokers run, and `runnel cluster info`
#
# Extra arguments after N go to every runneld (e.g. --log-level debug). See docs/OPERATIONS.md
# for a cluster across machines.
set -euo pipefail
cd "$(dirname "$0")/.."

root=./data/cluster
bin=build-release/bin

build() {
  if [[ ! -x $bin/runneld || ! -x $bin/runnel ]]; then
    ./scripts/setup-deps.sh
    cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DRUNNEL_BUILD_TESTS=OFF \
      -DRUNNEL_BUILD_BENCHMARKS=OFF >/dev/null
    cmake --build build-release --parallel "$(nproc)" --target runneld runnel
  fi
}

brokers_list() {
  local n=$1 list="" i
  for ((i = 1; i <= n; i++)); do list+="${list:+,}127.0.0.1:$((7170 + i))"; done
  echo "$list"
}

running() { [[ -f $root/node$1.pid ]] && kill -0 "$(cat "$root/node$1.pid")" 2>/dev/null; }

start() {
  local n=${1:-3}
  [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 9 ]] || {
    echo "error: N must be 1..9 (got '$n')" >&2
    exit 1
  }
  shift || true
  build
  mkdir -p "$root"
  local peers="" i
  for ((i = 1; i <= n; i++)); do peers+="${peers:+,}$i@127.0.0.1:$((7370 + i))"; done
  for ((i = 1; i <= n; i++)); do
    if running "$i"; then
      echo "node $i already runs (pid $(cat "$root/node$i.pid"))" >&2
      continue
    fi
    "$bin/runneld" --node-id "$i" --peers "$peers" --data-dir "$root/node$i" \
      --grpc-addr "127.0.0.1:$((7170 + i))" --http-addr "127.0.0.1:$((7270 + i))" "$@" \
      >"$root/node$i.log" 2>&1 &
    echo $! >"$root/node$i.pid"
  done
  for ((i = 1; i <= n; i++)); do
    local waited=0
    until grep -q "runneld ready" "$root/node$i.log" 2>/dev/null; do
      if ! running "$i"; then
        echo "error: node $i exited; see $root/node$i.log:" >&2
        tail -5 "$root/node$i.log" >&2
        exit 1
      fi
      ((waited++ < 300)) || {
        echo "error: node $i not ready after 30 s; see $root/node$i.log" >&2
        exit 1
      }
      sleep 0.1
    done
    echo "node $i ready (pid $(cat "$root/node$i.pid"), log $root/node$i.log)" >&2
  done
  echo "--brokers $(brokers_list "$n")"
}

stop() {
  local i
  for i in 1 2 3 4 5 6 7 8 9; do
    [[ -f $root/node$i.pid ]] || continue
    local pid
    pid=$(cat "$root/node$i.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      local waited=0
      while kill -0 "$pid" 2>/dev/null && ((waited++ < 200)); do sleep 0.1; done
      echo "node $i stopped" >&2
    fi
    rm -f "$root/node$i.pid"
  done
}

status() {
  local i n=0
  for i in 1 2 3 4 5 6 7 8 9; do
    [[ -f $root/node$i.pid ]] || continue
    n=$i
    if running "$i"; then echo "node $i: running (pid $(cat "$root/node$i.pid"))"; else echo "node $i: stopped"; fi
  done
  ((n > 0)) || {
    echo "no cluster started from here (./scripts/cluster.sh start [N])"
    return 0
  }
  [[ -x $bin/runnel ]] && "$bin/runnel" --brokers "$(brokers_list "$n")" cluster info || true
}

case "${1:-}" in
  start) shift && start "$@" ;;
  stop) stop ;;
  status) status ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 1
    ;;
esac
