#!/usr/bin/env bash
# install-chromium.sh: make sure a headless-capable Chromium is on PATH (for the report's browser
# test, tests/report/test_browser.py).
#
# If `chromium` (or `chromium-browser`) already runs, there is nothing to do. Otherwise, on a
# Debian/Ubuntu host and as root, install Debian's `chromium` package with apt-get. Idempotent.
#
# Environment:
#   MLCI_APT_LOCK_TIMEOUT  seconds to wait for another apt/dpkg to release its lock (default 300)
set -euo pipefail

readonly PROG="install-chromium"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

LOCK_TIMEOUT="${MLCI_APT_LOCK_TIMEOUT:-300}"
[[ "$LOCK_TIMEOUT" =~ ^[0-9]+$ ]] || die "MLCI_APT_LOCK_TIMEOUT must be a whole number of seconds, got '$LOCK_TIMEOUT'"

browser_version() {
  local b
  for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1 && "$b" --version 2>/dev/null; then
      return 0
    fi
  done
  return 1
}

if version="$(browser_version)"; then
  log "already installed: $version; nothing to do."
  exit 0
fi

[[ "$(id -u)" -eq 0 ]] \
  || die "Chromium is not installed and installing it needs root. Run 'sudo $0', or install your distribution's chromium package."
command -v apt-get >/dev/null 2>&1 \
  || die "Chromium is not installed and apt-get is not available; install Chromium for your OS and make 'chromium' available on PATH."

log "installing Debian's chromium with apt-get (this takes a minute)..."
export DEBIAN_FRONTEND=noninteractive
apt_log="$(mktemp)"
trap 'rm -f "$apt_log"' EXIT
apt_opts=(-o "DPkg::Lock::Timeout=$LOCK_TIMEOUT" -qq)
if ! apt-get "${apt_opts[@]}" update >"$apt_log" 2>&1; then
  tail -n 20 "$apt_log" >&2
  die "apt-get update failed; check network access to your apt mirror."
fi
if ! apt-get "${apt_opts[@]}" install -y --no-install-recommends chromium fonts-dejavu-core >"$apt_log" 2>&1; then
  tail -n 20 "$apt_log" >&2
  die "apt-get install chromium failed (output above)."
fi
version="$(browser_version)" || die "chromium was installed but does not run; try 'chromium --version'."
log "installed: $version"
