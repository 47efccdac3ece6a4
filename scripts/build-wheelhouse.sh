#!/usr/bin/env bash
# build-wheelhouse.sh: collect a wheel for every pin of a lock file into one folder, so that
# `docker build` can install with `pip install --no-index --find-links` and never needs the
# network (hermetic, reproducible builds). Wheels come from the package index when one exists
# for Linux/CPython 3.11 and are built here from the sdist otherwise (pure-Python packages).
#
# Usage: scripts/build-wheelhouse.sh LOCK_FILE [OUT_DIR]
#   LOCK_FILE  e.g. locks/requirements.txt, locks/serve.txt (pins with ==, as uv writes them)
#   OUT_DIR    default: $MLCI_STATE_DIR/cache/wheelhouse/<lock name>  (MLCI_STATE_DIR=.mlci)
#
# A stamp file (the lock's sha256) makes a second run with the same lock a no-op.
# Environment: PYTHON (default python3) must be CPython 3.11 on Linux x86_64/aarch64, the
# platform of the images (their base is Debian bookworm, Python 3.11).
set -euo pipefail

readonly PROG="build-wheelhouse"
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 LOCK_FILE [OUT_DIR]"
LOCK="$1"
[[ -f "$LOCK" ]] || die "$LOCK: lock file not found (run 'make lock' to create it)"
STATE_DIR="${MLCI_STATE_DIR:-.mlci}"
NAME="$(basename "$LOCK" .txt)"
OUT="${2:-$STATE_DIR/cache/wheelhouse/$NAME}"
PYTHON="${PYTHON:-python3}"

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; set PYTHON to a CPython 3.11 interpreter"
"$PYTHON" - <<'EOF' || die "$PYTHON must be CPython 3.11 on Linux (the images' platform) with pip"
import platform, sys
ok = sys.version_info[:2] == (3, 11) and platform.system() == "Linux"
import pip  # noqa: F401
sys.exit(0 if ok else 1)
EOF

want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
stamp="$OUT/.lock.sha256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "$OUT is up to date with $LOCK"
  exit 0
fi

mkdir -p "$OUT"
tmp="$(mktemp -d "$OUT/.partial.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "collecting wheels for $LOCK into $OUT ..."
start=$SECONDS
if ! "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps \
      --requirement "$LOCK" --wheel-dir "$tmp" >"$tmp.log" 2>&1; then
  tail -n 30 "$tmp.log" >&2
  rm -f "$tmp.log"
  die "pip wheel failed for $LOCK (output above); check access to the package index"
fi
rm -f "$tmp.log"
# Replace the folder's wheels only once every wheel is present: no half-filled wheelhouse.
find "$OUT" -maxdepth 1 -name '*.whl' -delete
mv "$tmp"/*.whl "$OUT"/
echo "$want" >"$stamp"
count="$(find "$OUT" -maxdepth 1 -name '*.whl' | wc -l)"
log "$count wheels in $OUT ($(du -sh "$OUT" | cut -f1)) after $((SECONDS - start))s"
