#!/usr/bin/env bash
# Builds Runnel and runs the whole test suite. This is the command the README gives and CI runs.
#
#   ./scripts/test.sh                      RelWithDebInfo (optimised, asserts on) in build/, plus
#                                          client/examples built against an install of it
#   ./scripts/test.sh --sanitize address   ASan + UBSan build in build-asan/
#   ./scripts/test.sh --sanitize thread    TSan build in build-tsan/
#   ./scripts/test.sh -R Batch             pass a ctest filter (any further args go to ctest)
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
ctest_args=()
while (($#)); do
  case "$1" in
    --sanitize)
      sanitize="${2:?--sanitize needs address or thread}"
      shift 2
      ;;
    --sanitize=*)
      sanitize="${1#*=}"
      shift
      ;;
    -h | --help)
      sed -n '2,9p' "$0"
      exit 0
      ;;
    *)
      ctest_args+=("$1")
      shift
      ;;
  esac
done

case "$sanitize" in
  "") build_dir=build ;;
  address) build_dir=build-asan ;;
  thread) build_dir=build-tsan ;;
  *)
    echo "error: --sanitize must be address or thread (got '$sanitize')" >&2
    exit 1
    ;;
esac

./scripts/setup-deps.sh

# ccache (the compiler launcher, see CMakeLists.txt) hits across checkout folders: CI builds a
# fresh clone each time, so paths are hashed relative to the checkout and the build directory is
# left out of the hash.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
# The three builds of .ci/run (default, ASan, TSan) take about 4.5 GB of cache together: ccache's
# default 5 GB cap evicted one build's objects while the next was cached, so each run missed.
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-16G}"

jobs=$(nproc)
# The sanitizer builds leave out the benchmark programs: no test runs them, and they are only
# meaningful optimised (the default build compiles them, so they cannot rot).
benchmarks=ON
[[ -n "$sanitize" ]] && benchmarks=OFF
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRUNNEL_SANITIZE="$sanitize" \
  -DRUNNEL_BUILD_BENCHMARKS="$benchmarks" >/dev/null
cmake --build "$build_dir" --parallel "$jobs"
if [[ -z "$sanitize" ]]; then
  # The client library as an app sees it: installed, found with find_package(Runnel), linked by
  # the example in client/examples/.
  cmake --install "$build_dir" --prefix "$build_dir/install" >/dev/null
  cmake -S client/examples -B "$build_dir/example" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$PWD/$build_dir/install" >/dev/null
  cmake --build "$build_dir/example" --parallel "$jobs"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan_suppressions.txt}"
ctest --test-dir "$build_dir" --output-on-failure --parallel "$jobs" "${ctest_args[@]}"
