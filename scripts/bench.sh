#!/usr/bin/env bash
# Runs the `runnel perf` benchmarks of docs/BENCHMARKS.md against a fresh Release runneld on a free
# loopback port with a temporary data dir (under $BENCH_DIR, default /tmp), and prints each
# result JSON line with its command. The Google Benchmark programs (build/bench/*) are separate.
#
#   ./scripts/bench.sh                 all runs, 3,000,000 records each
#   RECORDS=1000000 ./scripts/bench.sh  shorter
#   ONLY=streams ./scripts/bench.sh     only the Streams runtime runs (STREAMS_RECORDS each,
#                                       default 500,000)
#   ONLY=groups ./scripts/bench.sh      only the consumer-group runs (rebalance times, commits/s)
#   ONLY=longpoll ./scripts/bench.sh    only the 100 long-polling consumers run
#   ONLY=cluster ./scripts/bench.sh     only the 3-broker cluster runs (replication, catch-up,
#                                       controller; not part of the default run)
#   RUNNELD_FLAGS="--fetch-threads 2" ./scripts/bench.sh   extra runneld flags
#   BIN=DIR ./scripts/bench.sh          use DIR's runneld and runnel, build nothing (for before/
#                                       after runs of the `runnel perf` sections)
set -euo pipefail
cd "$(dirname "$0")/.."

records=${RECORDS:-3000000}
if [[ -n "${BIN:-}" ]]; then
  bin=$(cd "$BIN" && pwd)  # runneld and runnel built elsewhere (e.g. an older commit), as they are
else
  ./scripts/setup-deps.sh
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DRUNNEL_BUILD_TESTS=OFF \
    -DRUNNEL_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build build-release --parallel "$(nproc)" --target runneld runnel storage_bench \
    streams_runtime_bench group_bench >/dev/null
  bin=$PWD/build-release/bin
fi

work=$(mktemp -d "${BENCH_DIR:-/tmp}/runnel-bench.XXXXXX")
broker_pid=""
cleanup() {
  if [[ -n "$broker_pid" ]]; then kill "$broker_pid" 2>/dev/null && wait "$broker_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# (A 500 ms group heartbeat, not the 5 s default, so the Streams runs' second thread gets its
# tasks soon after the first hands them over, and a 3 s session timeout, not 45 s, which the
# group runs' killed member waits out; the produce/consume runs use no groups.)
"$bin/runneld" --data-dir "$work/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --group-heartbeat-interval-ms 500 --group-session-timeout-ms 3000 --log-level info \
  ${RUNNELD_FLAGS:-} 2>"$work/runneld.log" &
broker_pid=$!
for _ in $(seq 1 100); do
  grep -q "runneld ready" "$work/runneld.log" 2>/dev/null && break
  sleep 0.1
done
addr=$(sed -n 's/.*runneld ready grpc=\([^ ]*\).*/\1/p' "$work/runneld.log")
http=$(sed -n 's/.*HTTP on \([^,]*\),.*/\1/p' "$work/runneld.log" | head -1)
[[ -n "$addr" ]] || { echo "error: runneld did not start" >&2; cat "$work/runneld.log" >&2; exit 1; }
runnel() { "$bin/runnel" --brokers "$addr" "$@"; }

run() {  # run LABEL ARGS...: prints the label, the command and the JSON result line
  local label=$1
  shift
  echo "## $label"
  echo "runnel $*"
  runnel "$@" 2>/dev/null | tail -1
}

if [[ -z "${ONLY:-}" ]]; then
  runnel topic create p1 --partitions 1 >/dev/null
  runnel topic create p8 --partitions 8 >/dev/null
  runnel topic create k1 --partitions 1 >/dev/null

  # One producer, 100-byte records: Kafka's default batch.size (16 KiB) and 64 KiB batches.
  for topic in p1 p8; do
    for batch in 16384 65536; do
      for acks in 1 all; do
        run "100 B, acks=$acks, $topic, batch $batch" perf produce "$topic" --records "$records" \
          --record-size 100 --acks "$acks" --batch-bytes "$batch"
      done
    done
  done
  run "consume 100 B, p1" perf consume p1 --records $((2 * records))
  run "consume 100 B, p8" perf consume p8 --records $((2 * records))

  # 1 KiB records against the disk's buffered write bandwidth, measured just before in the same file
  # system: a write loop of 16 KiB chunks through the page cache into 256 MiB files, each synced in
  # the background when full, as the broker's rolled segments are (storage_bench), and dd.
  echo "## disk: buffered sequential write (storage_bench BM_RawWrite/chunk:16384/sync_on_roll:1)"
  RUNNEL_BENCH_DIR=$work build-release/bench/storage_bench \
    --benchmark_filter='BM_RawWrite/chunk:16384/sync_on_roll:1' 2>/dev/null | grep BM_RawWrite
  echo "## disk: dd 2 GiB, bs=1M, conv=fdatasync"
  dd if=/dev/zero of="$work/dd.bin" bs=1M count=2048 conv=fdatasync 2>&1 | tail -1
  rm -f "$work/dd.bin"
  for batch in 65536 262144; do
    run "1 KiB, acks=1, k1, batch $batch" perf produce k1 --records $((records / 3)) \
      --record-size 1024 --acks 1 --batch-bytes "$batch"
  done

  # End-to-end latency at half of peak, for acks=1 and acks=all: the peak of a 1-partition topic
  # (Kafka's default 16 KiB batches), then a consumer waiting at the end of another 1-partition
  # topic while a producer sends at half that rate with linger.ms 1. Also printed: the broker's own
  # produce latency for the run (from /metrics, request read to response queued; acks=all includes
  # the fdatasync), to show how much of the end-to-end time is the disk.
  produce_latency_buckets() {
    curl -s "http://$http/metrics" | sed -n 's/^runnel_produce_latency_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)$/\1 \2/p'
  }
  for acks in 1 all; do
    runnel topic create "peak-$acks" --partitions 1 >/dev/null
    runnel topic create "lat-$acks" --partitions 1 >/dev/null
    peak=$(runnel perf produce "peak-$acks" --records "$records" --record-size 100 --acks "$acks" \
      2>/dev/null | sed -n 's/.*"records_per_s":\([0-9]*\).*/\1/p')
    [[ -n "$peak" ]] || { echo "error: no peak measured" >&2; exit 1; }
    half=$((peak / 2))
    n=$((half * 10))  # ten seconds at half of peak
    echo "## end-to-end latency, acks=$acks, at half of its peak ($peak/2 = $half records/s), p1"
    before=$(produce_latency_buckets)
    runnel perf consume "lat-$acks" --records "$n" --from-latest >"$work/consume.json" 2>/dev/null &
    consumer=$!
    sleep 1
    echo "runnel perf produce lat-$acks --records $n --record-size 100 --acks $acks --linger-ms 1 --throughput $half"
    runnel perf produce "lat-$acks" --records "$n" --record-size 100 --acks "$acks" --linger-ms 1 \
      --throughput "$half" 2>/dev/null | tail -1
    wait "$consumer"
    echo "runnel perf consume lat-$acks --records $n --from-latest   (p50/p99/p999 = end to end)"
    cat "$work/consume.json"
    echo "broker produce latency during the run (cumulative share of requests at or under):"
    paste <(echo "$before") <(produce_latency_buckets) | awk '
      { le[NR] = $1; d[NR] = $4 - $2 } END {
        total = d[NR]; if (total == 0) exit
        for (i = 1; i <= NR; i++) printf "  <=%ss %.2f%%\n", le[i], 100 * d[i] / total }'
  done
fi

# Long polls (docs/BENCHMARKS.md, "The fetch path"): LONGPOLL_CONSUMERS (100) `runnel perf
# consume --from-latest` processes, each reading every partition of a 10-partition topic, while
# one producer sends 100-byte records at LONGPOLL_RATE (5,000) records/s for 10 s (acks=1,
# linger.ms 1): the consumers' records/s summed, and the spread of their end-to-end p50/p99.
if [[ -z "${ONLY:-}" || "${ONLY:-}" == longpoll ]]; then
  consumers=${LONGPOLL_CONSUMERS:-100}
  rate=${LONGPOLL_RATE:-5000}
  n=$((rate * 10))
  runnel topic create lp --partitions 10 >/dev/null
  echo "## long polls: $consumers consumers of lp (10 partitions), producer at $rate records/s"
  pids=()
  for i in $(seq 1 "$consumers"); do
    runnel perf consume lp --records "$n" --from-latest >"$work/lp-$i.json" 2>/dev/null &
    pids+=($!)
  done
  sleep 3  # every consumer is at the end of every partition
  echo "runnel perf produce lp --records $n --record-size 100 --acks 1 --linger-ms 1 --throughput $rate"
  runnel perf produce lp --records "$n" --record-size 100 --acks 1 --linger-ms 1 \
    --throughput "$rate" 2>/dev/null | tail -1
  for pid in "${pids[@]}"; do wait "$pid"; done
  echo "runnel perf consume lp --records $n --from-latest   (x $consumers; summed and spread)"
  field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$work"/lp-*.json | sort -n; }
  median() { awk '{ v[NR] = $1 } END { printf "%s", v[int((NR + 1) / 2)] }'; }
  echo "{\"consumers\":$(field records_per_s | wc -l),\"records_per_s_sum\":$(field records_per_s |
    awk '{ s += $1 } END { printf "%.0f", s }'),\"p50_ms_median\":$(field p50_ms | median),\
\"p99_ms_median\":$(field p99_ms | median),\"p99_ms_max\":$(field p99_ms | tail -1)}"
fi

# Consumer groups (docs/BENCHMARKS.md, "Consumer groups"): time until every partition of a
# 1,000-partition topic is owned again after a member joins or is killed, with 10 and 100
# members (`runnel consume --group` processes); then synchronous commits/s.
if [[ -z "${ONLY:-}" || "${ONLY:-}" == groups ]]; then
  for members in 10 100; do
    for scenario in join die; do
      echo "## groups: $scenario, $members members, 1000 partitions"
      echo "group_bench --scenario $scenario --members $members --partitions 1000"
      build-release/bench/group_bench --brokers "$addr" --runnel "$bin/runnel" \
        --scenario "$scenario" --members "$members" --partitions 1000 2>/dev/null | tail -1
    done
  done
  for committers in 1 8; do
    echo "## groups: synchronous commits, $committers committer(s)"
    echo "group_bench --scenario commit --committers $committers --seconds 10"
    build-release/bench/group_bench --brokers "$addr" --scenario commit \
      --committers "$committers" --seconds 10 2>/dev/null | tail -1
  done
fi

# The Streams runtime (docs/BENCHMARKS.md, "Streams"): records/s through the example topologies
# from a backlog in a 4-partition topic, until every input partition is committed; then restore
# speed from a changelog of STREAMS_RECORDS distinct keys.
if [[ -z "${ONLY:-}" || "${ONLY:-}" == streams ]]; then
  streams_records=${STREAMS_RECORDS:-500000}
  for app in wordcount stock-stats; do
    for store in in-memory rocksdb; do
      for threads in 1 2; do
        echo "## streams: $app, $threads thread(s), $store stores"
        echo "streams_runtime_bench --app $app --records $streams_records --threads $threads --store $store"
        build-release/bench/streams_runtime_bench --brokers "$addr" --app "$app" \
          --records "$streams_records" --threads "$threads" --store "$store" 2>/dev/null | tail -1
      done
    done
  done
  for store in in-memory rocksdb; do
    echo "## streams: restore a changelog of $streams_records keys, $store store"
    echo "streams_runtime_bench --app restore --records $streams_records --store $store"
    build-release/bench/streams_runtime_bench --brokers "$addr" --app restore \
      --records "$streams_records" --store "$store" 2>/dev/null | tail -1
  done
  # The join and session examples: input records/s and output (joined records, closed sessions)
  # per second; the memory of join state with every record buffered; a session store's restore.
  for app in click-enrich search-click-join sessions; do
    for threads in 1 2; do
      echo "## streams: $app, $threads thread(s), rocksdb stores"
      echo "streams_runtime_bench --app $app --records $streams_records --threads $threads --store rocksdb"
      build-release/bench/streams_runtime_bench --brokers "$addr" --app "$app" \
        --records "$streams_records" --threads "$threads" --store rocksdb 2>/dev/null | tail -1
    done
  done
  for store in in-memory rocksdb; do
    echo "## streams: join state of $streams_records buffered records, $store store"
    echo "streams_runtime_bench --app join-state --records $streams_records --store $store"
    build-release/bench/streams_runtime_bench --brokers "$addr" --app join-state \
      --records "$streams_records" --store "$store" 2>/dev/null | tail -1
    echo "## streams: restore a session store changelog of $streams_records sessions, $store store"
    echo "streams_runtime_bench --app session-restore --records $streams_records --store $store"
    build-release/bench/streams_runtime_bench --brokers "$addr" --app session-restore \
      --records "$streams_records" --store "$store" 2>/dev/null | tail -1
  done
fi

# Replication (docs/BENCHMARKS.md, "A 3-broker cluster"): three more brokers on loopback form a
# cluster (heartbeats 100 ms); acks=all throughput with replicas=3 against replicas=1 (100 B and
# 1 KiB records, 3 partitions), end-to-end latency at half of the replicas=3 peak, the time a
# wiped follower takes to catch up CATCHUP_MB (default 1024) MiB, and the controller: topics
# created per second (CREATE_TOPICS, default 200, one CLI call each) and how soon a topic created
# on one broker is in another's metadata.
if [[ "${ONLY:-}" == cluster ]]; then
  ports=()
  for _ in 1 2 3; do ports+=("$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"); done
  peers="1@127.0.0.1:${ports[0]},2@127.0.0.1:${ports[1]},3@127.0.0.1:${ports[2]}"
  cluster_pids=()
  start_node() {  # start_node ID [GRPC_ADDR]
    "$bin/runneld" --node-id "$1" --peers "$peers" --data-dir "$work/node$1" \
      --grpc-addr "${2:-127.0.0.1:0}" --http-addr 127.0.0.1:0 --log-level warn \
      --broker-heartbeat-interval-ms 100 ${RUNNELD_FLAGS:-} 2>>"$work/node$1.log" &
    cluster_pids[$1]=$!
    for _ in $(seq 1 100); do
      [[ $(grep -c "runneld ready" "$work/node$1.log" 2>/dev/null) -ge ${3:-1} ]] && break
      sleep 0.1
    done
  }
  for id in 1 2 3; do start_node "$id"; done
  # The brokers stop before their data dirs go (deleted under a broker shutting down, its logs'
  # files vanish and it aborts).
  trap 'kill "${cluster_pids[@]}" 2>/dev/null || true; wait "${cluster_pids[@]}" 2>/dev/null || true; cleanup' EXIT
  since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
  grpc() { sed -n 's/.*runneld ready grpc=\([^ ]*\).*/\1/p' "$work/node$1.log" | tail -1; }
  brokers="$(grpc 1),$(grpc 2),$(grpc 3)"
  crunnel() { "$bin/runnel" --brokers "$brokers" "$@"; }
  crun() {
    local label=$1
    shift
    echo "## $label"
    echo "runnel --brokers <3 brokers> $*"
    crunnel "$@" 2>/dev/null | tail -1
  }
  for _ in $(seq 1 100); do crunnel cluster info 2>/dev/null | grep -c alive | grep -q 3 && break; sleep 0.1; done
  crunnel topic create r1 --partitions 3 --replicas 1 >/dev/null
  crunnel topic create r3 --partitions 3 --replicas 3 >/dev/null
  sleep 2  # leaders elected
  for size in 100 1024; do
    n=$((size == 100 ? records : records / 3))
    for topic in r1 r3; do
      crun "cluster: $size B, acks=all, $topic (3 partitions)" perf produce "$topic" \
        --records "$n" --record-size "$size" --acks all --batch-bytes 65536
    done
  done

  crunnel topic create lat3 --partitions 1 --replicas 3 >/dev/null
  crunnel topic create peak3 --partitions 1 --replicas 3 >/dev/null
  sleep 2
  peak=$(crunnel perf produce peak3 --records "$records" --record-size 100 --acks all 2>/dev/null |
    sed -n 's/.*"records_per_s":\([0-9]*\).*/\1/p')
  half=$((peak / 2))
  n=$((half * 10))
  echo "## cluster: end-to-end latency, acks=all, replicas=3, at half of its peak ($peak/2 = $half records/s)"
  crunnel perf consume lat3 --records "$n" --from-latest >"$work/consume.json" 2>/dev/null &
  consumer=$!
  sleep 1
  echo "runnel perf produce lat3 --records $n --record-size 100 --acks all --linger-ms 1 --throughput $half"
  crunnel perf produce lat3 --records "$n" --record-size 100 --acks all --linger-ms 1 \
    --throughput "$half" 2>/dev/null | tail -1
  wait "$consumer"
  echo "runnel perf consume lat3 --records $n --from-latest   (p50/p99/p999 = end to end)"
  cat "$work/consume.json"

  # A follower of `catchup` is killed, its data dir wiped, and restarted: the time until its
  # replica has caught up — its raft-catching-up file (written because the partition is older than
  # the new data dir) is gone, which needs its log synced up to the leader's commit index. (The
  # ISR is no measure: a wiped follower restarted within replica.lag.time.max.ms never left it.)
  mb=${CATCHUP_MB:-1024}
  crunnel topic create catchup --partitions 1 --replicas 3 >/dev/null
  sleep 2
  crunnel perf produce catchup --records $((mb * 1024)) --record-size 1024 --acks 1 \
    --batch-bytes 262144 >/dev/null 2>&1
  leader=$(crunnel topic describe catchup | awk '$1 == "0" { print $2 }')
  victim=$((leader % 3 + 1))
  victim_addr=$(grpc "$victim")
  kill -9 "${cluster_pids[$victim]}"
  wait "${cluster_pids[$victim]}" 2>/dev/null || true
  rm -rf "$work/node$victim"
  start=$(date +%s.%N)
  start_node "$victim" "$victim_addr" 2
  marker="$work/node$victim/catchup-0/raft-catching-up"
  for _ in $(seq 1 600); do  # the replica opens within seconds (at most 2 minutes)
    [ -e "$marker" ] && break
    sleep 0.2
  done
  [ -e "$marker" ] || echo "warning: $marker never appeared: the measurement below is not valid" >&2
  for _ in $(seq 1 3000); do  # at most 10 minutes
    [ -e "$marker" ] || break
    sleep 0.2
  done
  took=$(since "$start")
  copied=$(du -sm "$work/node$victim/catchup-0" | cut -f1)
  echo "## cluster: a wiped follower catches up ${mb} MiB"
  echo "kill -9 node $victim, rm -rf its data dir, restart; until its replica has caught up" \
    "(raft-catching-up gone, ${copied} MiB on disk): $took s"

  count=${CREATE_TOPICS:-200}
  start=$(date +%s.%N)
  for i in $(seq 1 "$count"); do crunnel topic create "t$i" --partitions 1 --replicas 3 >/dev/null; done
  echo "## cluster: controller, $count topics created one by one (runnel topic create, replicas 3)"
  echo "$(awk -v n="$count" -v s="$(since "$start")" 'BEGIN { printf "%.0f", n / s }') topics/s"
  start=$(date +%s.%N)
  "$bin/runnel" --brokers "$(grpc 1)" topic create propagation --partitions 1 --replicas 3 >/dev/null
  for _ in $(seq 1 2000); do
    "$bin/runnel" --brokers "$(grpc 3)" topic describe propagation >/dev/null 2>&1 && break
    sleep 0.005
  done
  echo "## cluster: created through node 1 until node 3 describes it"
  echo "$(awk -v s="$(since "$start")" 'BEGIN { printf "%.0f", s * 1000 }') ms"
fi
