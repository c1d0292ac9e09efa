#!/usr/bin/env python3
"""Fails when a document names code that no longer exists.

Every `Owner::name` written in backticks in docs/*.md and the READMEs (FORMAT.md alone names about
thirty functions) must still be there: either `Owner::name` appears in a source file, or a file
that declares `Owner` (class, struct, enum, namespace or alias) has the word `name`. Names of other
projects' code (std::, absl::, grpc::, ...), proto messages (v1::) and CMake targets (Runnel::) are
not ours to check.

    scripts/check-doc-names.py [REPO_ROOT]      exit 1 listing each stale name and where it is
"""
import pathlib
import re
import sys

FOREIGN = ("std", "absl", "grpc", "v1", "Runnel", "nlohmann", "rocksdb", "spdlog", "fmt", "CLI",
           "toml", "httplib", "asio", "benchmark", "testing", "google", "protobuf", "org", "kafka")
SOURCE_DIRS = ("common", "storage", "raft", "broker", "client", "streams", "tools", "tests")
NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*(?:::~?[A-Za-z_][A-Za-z0-9_]*)+)")


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    sources = {}
    for d in SOURCE_DIRS:
        for path in (root / d).rglob("*"):
            if path.suffix in (".h", ".cc") and path.is_file():
                sources[path] = path.read_text(errors="replace")
    docs = sorted((root / "docs").glob("*.md")) + sorted(root.glob("README.md")) + sorted(
        p for d in SOURCE_DIRS + ("proto", "scripts") for p in (root / d).rglob("README.md"))
    stale = []
    checked = 0
    for doc in docs:
        for number, line in enumerate(doc.read_text(errors="replace").splitlines(), 1):
            for match in NAME.finditer(line):
                parts = match.group(1).split("::")
                if parts[0] in FOREIGN:
                    continue
                owner, name = parts[-2], parts[-1]
                checked += 1
                qualified = re.compile(r"\b" + re.escape(owner) + r"::" + re.escape(name) + r"\b")
                declares = re.compile(r"\b(?:class|struct|enum class|enum|namespace|using)\s+" +
                                      re.escape(owner) + r"\b")
                word = re.compile(r"\b" + re.escape(name.lstrip("~")) + r"\b")
                if any(qualified.search(text) or (declares.search(text) and word.search(text))
                       for text in sources.values()):
                    continue
                stale.append(f"{doc.relative_to(root)}:{number}: `{match.group(1)}` is not in the code")
    for entry in stale:
        print(entry)
    print(f"check-doc-names: {checked} names checked, {len(stale)} stale", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
