#!/usr/bin/env bash
# Checks the lock annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...): GCC, which
# builds Runnel, ignores them, so every source of ours is parsed once more by clang with
# -Wthread-safety as an error (-fsyntax-only: nothing is built). Uses the compile commands of a
# configured build directory (default build/, which ./scripts/test.sh makes; generated protobuf
# headers must exist there). A violation prints clang's diagnostic and exits 1.
#
#   ./scripts/check-thread-safety.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
if [[ ! -f "$build_dir/compile_commands.json" ]]; then
  echo "error: $build_dir/compile_commands.json not found: configure and build first (./scripts/test.sh)" >&2
  exit 1
fi

# One line per source of ours (generated files in the build directory are not ours to check): the
# clang command, with GCC's warning flags and outputs dropped.
commands=$(python3 - "$build_dir" "$PWD" <<'EOF'
import json, os, shlex, sys
build_dir, root = sys.argv[1], sys.argv[2]
build_abs = os.path.realpath(build_dir)
for entry in json.load(open(os.path.join(build_dir, "compile_commands.json"))):
    source = os.path.realpath(entry["file"])
    if source.startswith(build_abs + os.sep) or not source.startswith(root + os.sep):
        continue
    args = shlex.split(entry["command"])
    while args and os.path.basename(args[0]) in ("ccache", "sccache"):
        args = args[1:]
    kept, skip = [], False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MT", "-MF", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD", "-Werror") or a.startswith("-W") or a.startswith("-fsanitize"):
            continue
        kept.append(a)
    cmd = ["clang++", "-fsyntax-only", "-Wno-everything", "-Wthread-safety", "-Werror=thread-safety"] + kept
    print("cd " + shlex.quote(entry["directory"]) + " && " + " ".join(shlex.quote(a) for a in cmd))
EOF
)
count=$(grep -c . <<<"$commands" || true)
echo "check-thread-safety: $count sources, clang -Wthread-safety" >&2
failed=0
# -Wno-everything silences clang's other warnings (GCC-clean code can trip clang-only ones);
# -Wthread-safety after it turns the lock analysis back on.
if ! xargs -d '\n' -P "$(nproc)" -n 1 bash -c 'eval "$1"' _ <<<"$commands"; then
  failed=1
fi
if ((failed)); then
  echo "check-thread-safety: lock annotation violations (above)" >&2
  exit 1
fi
echo "check-thread-safety: clean" >&2
