#!/usr/bin/env bash
# build-dist.sh: build mlci's sdist and wheel (the wheel is built from the sdist, so both carry
# the Dockerfiles, locks, scripts and job templates listed in ml/resources.py SHIPPED).
#
# Usage: scripts/build-dist.sh [OUT_DIR]     (default: dist/)
# Install: pip install OUT_DIR/mlci-*.whl -c locks/requirements.txt
#   (the same lock ships inside the wheel: `mlci resources --lock` prints its path).
set -euo pipefail

readonly PROG="build-dist"
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

cd "$(dirname "$0")/.."
out="${1:-dist}"
command -v uv >/dev/null || die "uv not found; run scripts/venv.sh (it installs uv) or pip install uv"
[[ -f locks/requirements.txt ]] || die "locks/requirements.txt not found (run 'make lock')"
mkdir -p "$out"
rm -f "$out"/mlci-*.whl "$out"/mlci-*.tar.gz
uv build --quiet --out-dir "$out" .
ls "$out"/mlci-*.whl "$out"/mlci-*.tar.gz >/dev/null 2>&1 || die "uv build wrote no wheel/sdist into $out"
for f in "$out"/mlci-*; do
  printf '%s: %s (%s)\n' "$PROG" "$f" "$(du -h "$f" | cut -f1)"
done
