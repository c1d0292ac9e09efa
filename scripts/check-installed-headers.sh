#!/usr/bin/env bash
# The public API line (client/README.md): installs the headers of a build into a temporary prefix
# and fails when one of them includes, directly or through another header, anything of gRPC
# (grpcpp/, grpc/), of protobuf (google/protobuf/), generated code (*.pb.h) or the client's
# internals (client/internal/). Each installed header is preprocessed on its own with only the
# installed include directory (plus the system's) to list every file it pulls in.
#
#   scripts/check-installed-headers.sh BUILD_DIR [CXX]        (ctest runs it; see tests/CMakeLists.txt)
#   scripts/check-installed-headers.sh --prefix PREFIX [CXX]  check an existing install instead
set -euo pipefail

if [[ "${1:-}" == "--prefix" ]]; then
  prefix="${2:?--prefix needs a directory}"
  cxx="${3:-c++}"
else
  build="${1:?usage: $0 BUILD_DIR [CXX] | --prefix PREFIX [CXX]}"
  cxx="${2:-c++}"
  prefix="$(mktemp -d)"
  trap 'rm -rf "$prefix"' EXIT
  # Only the headers (install component RunnelHeaders, top-level CMakeLists.txt): the libraries
  # and binaries are not needed to read them.
  cmake --install "$build" --prefix "$prefix" --component RunnelHeaders >/dev/null
fi

include_dir="$prefix/include/runnel"
if [[ ! -d "$include_dir" ]]; then
  echo "error: no installed headers in $include_dir" >&2
  exit 1
fi

forbidden='(^|/)(grpcpp|grpc|google/protobuf)/|\.pb\.h$|(^|/)client/internal/'
headers=()
while IFS= read -r -d '' h; do headers+=("$h"); done < <(find "$include_dir" -name '*.h' -print0 | sort -z)
if ((${#headers[@]} == 0)); then
  echo "error: no headers under $include_dir" >&2
  exit 1
fi

failed=0
for h in "${headers[@]}"; do
  rel="${h#"$include_dir"/}"
  # -M lists every file the header includes, system headers too (-MM would leave out
  # /usr/include/grpcpp). A header it cannot find is an error as well: it is not installed.
  if ! deps=$("$cxx" -std=c++20 -x c++ -M -I"$include_dir" "$h" 2>&1); then
    echo "FAIL $rel does not preprocess with only the installed headers:"
    sed 's/^/    /' <<<"$deps"
    failed=1
    continue
  fi
  # -M writes "header.o: a.h b.h \" lines: one path a line, the target and the line ends dropped.
  bad=$(echo "$deps" | sed 's/\\$//' | tr -s ' ' '\n' | sed '/^$/d' | grep -v ':$' |
    grep -E "$forbidden" || true)
  if [[ -n "$bad" ]]; then
    echo "FAIL $rel includes $(echo "$bad" | wc -l) such files, first:"
    echo "$bad" | head -3 | sed "s|^$include_dir/|    |; t; s|^|    |"
    failed=1
  fi
done

if ((failed)); then
  echo "installed headers must not include gRPC, protobuf, *.pb.h or client/internal/ (client/README.md)"
  exit 1
fi
echo "ok: ${#headers[@]} installed headers include no gRPC, protobuf, *.pb.h or client/internal/"
