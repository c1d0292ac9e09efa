#!/usr/bin/env bash
# Installs every Debian package Runnel needs to build, test and run. Idempotent and quiet:
# when everything is present it only asks dpkg (well under 2 seconds) and touches no network.
# This is the one list of system packages; later modules add theirs here.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang-format
  # clang's -Wthread-safety pass over the sources (scripts/check-thread-safety.sh), python3 to read
  # the build's compile commands for it
  clang python3
  # networking, RPC, logging, base libraries
  libasio-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libspdlog-dev libabsl-dev libre2-dev
  # compression codecs used by the RecordBatch v2 codec
  liblz4-dev libzstd-dev libsnappy-dev zlib1g-dev
  # 128-bit key hashes of the log cleaner's dedupe map
  libxxhash-dev
  # CLI, config, HTTP, state stores, JSON
  libcli11-dev libtomlplusplus-dev libcpp-httplib-dev librocksdb-dev nlohmann-json3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >/dev/null
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done" >&2
