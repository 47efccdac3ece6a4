#!/usr/bin/env bash
# build-wheelhouse.sh: collect a wheel for every pin of a lock file into one folder, so that
# `docker build` can install with `pip install --no-index --find-links` and never needs the
# network (hermetic, reproducible builds). Wheels come from the package index when one exists
# for Linux/CPython 3.11 and are built here from the sdist otherwise (pure-Python packages).
#
# Usage: scripts/build-wheelhouse.sh LOCK_FILE [OUT_DIR [CONSTRAINTS]]
#   LOCK_FILE    e.g. locks/requirements.txt, locks/serve.txt (pins with ==, as uv writes them)
#   OUT_DIR      default: $MLCI_STATE_DIR/cache/wheelhouse/<lock name>  (MLCI_STATE_DIR=.mlci)
#   CONSTRAINTS  a lock to constrain by: LOCK_FILE is then a project's own requirements file
#                (ranges allowed) and their dependencies are collected too, at the pins of
#                CONSTRAINTS where it has one.
#
# A stamp file (the sha256 of the inputs) makes a second run with the same inputs a no-op.
# The interpreter must be CPython 3.11 on Linux x86_64/aarch64 with pip, the platform of the
# images (their base is Debian bookworm, Python 3.11). It is chosen deliberately, not as the
# first python3 on PATH (an activated uv venv has no pip): $PYTHON when set, else the first of
# python3, python3.11, /usr/bin/python3.11, /usr/bin/python3, /usr/local/bin/python3.11 that
# qualifies, else a venv with pip made by uv in $MLCI_STATE_DIR/cache/wheelhouse-python.
set -euo pipefail

readonly PROG="build-wheelhouse"
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

[[ $# -ge 1 && $# -le 3 ]] || die "usage: $0 LOCK_FILE [OUT_DIR [CONSTRAINTS]]"
LOCK="$1"
[[ -f "$LOCK" ]] || die "$LOCK: lock file not found (run 'make lock' to create it)"
STATE_DIR="${MLCI_STATE_DIR:-.mlci}"
NAME="$(basename "$LOCK" .txt)"
OUT="${2:-$STATE_DIR/cache/wheelhouse/$NAME}"
CONSTRAINTS="${3:-}"
[[ -z "$CONSTRAINTS" || -f "$CONSTRAINTS" ]] || die "$CONSTRAINTS: constraints file not found"

qualifies() {
  "$1" -c 'import platform, sys, pip
sys.exit(0 if sys.version_info[:2] == (3, 11) and platform.system() == "Linux" else 1)' \
    >/dev/null 2>&1
}

if [[ -n "${PYTHON:-}" ]]; then
  command -v "$PYTHON" >/dev/null || die "PYTHON=$PYTHON not found; set PYTHON to a CPython 3.11 interpreter"
  qualifies "$PYTHON" || die "PYTHON=$PYTHON must be CPython 3.11 on Linux (the images' platform) with pip"
else
  tried=()
  for candidate in python3 python3.11 /usr/bin/python3.11 /usr/bin/python3 /usr/local/bin/python3.11; do
    path="$(command -v "$candidate" 2>/dev/null)" || continue
    tried+=("$path")
    if qualifies "$path"; then PYTHON="$path"; break; fi
  done
  if [[ -z "${PYTHON:-}" ]]; then
    seeded="$STATE_DIR/cache/wheelhouse-python"
    command -v uv >/dev/null \
      || die "no CPython 3.11 with pip found (tried: ${tried[*]:-none}) and no uv to make one; set PYTHON"
    if ! qualifies "$seeded/bin/python"; then
      uv venv --quiet --seed --python 3.11 "$seeded" >&2 \
        || die "uv could not make a Python 3.11 venv with pip in $seeded"
    fi
    qualifies "$seeded/bin/python" || die "$seeded/bin/python is not CPython 3.11 on Linux with pip"
    PYTHON="$seeded/bin/python"
  fi
fi

want="$(cat "$LOCK" ${CONSTRAINTS:+"$CONSTRAINTS"} | sha256sum | cut -d' ' -f1)"
stamp="$OUT/.lock.sha256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "$OUT is up to date with $LOCK"
  exit 0
fi

if [[ -n "$CONSTRAINTS" ]]; then
  resolve=(--constraint "$CONSTRAINTS")
else
  resolve=(--no-deps)
fi
mkdir -p "$OUT"
tmp="$(mktemp -d "$OUT/.partial.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "collecting wheels for $LOCK into $OUT with $PYTHON ..."
start=$SECONDS
if ! "$PYTHON" -m pip wheel --quiet --disable-pip-version-check "${resolve[@]}" \
      --requirement "$LOCK" --wheel-dir "$tmp" >"$tmp.log" 2>&1; then
  tail -n 30 "$tmp.log" >&2
  rm -f "$tmp.log"
  die "pip wheel failed for $LOCK (output above); check access to the package index"
fi
rm -f "$tmp.log"
# Replace the folder's wheels only once every wheel is present: no half-filled wheelhouse.
find "$OUT" -maxdepth 1 -name '*.whl' -delete
find "$tmp" -maxdepth 1 -name '*.whl' -exec mv -t "$OUT"/ {} +
echo "$want" >"$stamp"
count="$(find "$OUT" -maxdepth 1 -name '*.whl' | wc -l)"
log "$count wheels in $OUT ($(du -sh "$OUT" | cut -f1)) after $((SECONDS - start))s"
