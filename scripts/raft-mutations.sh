#!/usr/bin/env bash
# Shows that the Raft simulation finds planted bugs (issue 16): applies each patch in
# tests/raft/mutations/ to a scratch worktree, builds raft_sim there and runs it over the suite's
# seed count (16,000). Prints, per bug, the lowest seed that finds it and how many of the seeds do.
# Exits 1 if a planted bug survives every seed.
#
#   ./scripts/raft-mutations.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-16000}"
scratch="$(mktemp -d /tmp/raft-mutations.XXXXXX)"
cleanup() {
  git worktree remove --force "$scratch/src" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

git worktree add --quiet --detach "$scratch/src" HEAD
# The working tree's raft sources and simulation, so uncommitted changes are what is measured.
cp -r raft/. "$scratch/src/raft/"
cp -r tests/raft/. "$scratch/src/tests/raft/"
cp -r raft "$scratch/raft.orig"
export CCACHE_BASEDIR="$scratch/src" CCACHE_NOHASHDIR=true
cmake -S "$scratch/src" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRUNNEL_BUILD_BENCHMARKS=OFF >/dev/null

survived=0
for patch in tests/raft/mutations/*.patch; do
  name="$(basename "$patch" .patch)"
  rm -rf "$scratch/src/raft"
  cp -r "$scratch/raft.orig" "$scratch/src/raft"
  git -C "$scratch/src" apply "$PWD/$patch"
  cmake --build "$scratch/build" --target raft_sim --parallel "$(nproc)" >/dev/null
  sim="$scratch/build/bin/raft_sim"
  # The lowest seed that finds it: one job, stopping at the first failure (a failed check inside
  # the node aborts, which counts as found).
  if first="$("$sim" --seeds "$seeds" --jobs 1 2>&1)"; then
    echo "$name: NOT FOUND in $seeds seeds"
    survived=1
    continue
  fi
  lowest="$(grep -o -m1 'seed [0-9]*' <<<"$first" | head -1)"
  # How many seeds find it (when no check aborts the run).
  count="$("$sim" --seeds "$seeds" --jobs "$(nproc)" --keep-going 2>&1 | tail -1 || true)"
  if [[ "$count" == *"seeds failed"* ]]; then
    echo "$name: found first by $lowest; ${count%% in *}"
  else
    echo "$name: found first by $lowest (a check inside the node aborts the run)"
  fi
done
exit "$survived"
