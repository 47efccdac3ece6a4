#!/usr/bin/env bash
# Create or refresh .venv from the lock files, so every entry point runs the same pinned stack.
# Usage: scripts/venv.sh [runtime|dev]   (default: dev)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-dev}"
case "$profile" in
  runtime) lock=locks/requirements.txt ;;
  dev) lock=locks/dev.txt ;;
  *) echo "venv.sh: unknown profile '$profile' (expected runtime or dev)" >&2; exit 2 ;;
esac
command -v python3 >/dev/null || { echo "venv.sh: python3 (3.11+) is required" >&2; exit 2; }
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "venv.sh: Python 3.11 or newer is required, found $(python3 -V)" >&2; exit 2; }
if ! command -v uv >/dev/null; then
  echo "venv.sh: installing uv (the resolver/installer used with locks/*.txt)" >&2
  python3 -m pip install --quiet 'uv==0.13.9'
fi
stamp=".venv/.lock-$profile.sha256"
want="$(sha256sum "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/mlci ]; then
  exit 0
fi
echo "venv.sh: installing $lock into .venv" >&2
[ -d .venv ] || uv venv --quiet --python "$(command -v python3)" .venv
VIRTUAL_ENV=.venv uv pip sync --quiet --compile-bytecode "$lock"
VIRTUAL_ENV=.venv uv pip install --quiet --no-deps -e .
rm -f .venv/.lock-*.sha256
echo "$want" > "$stamp"
