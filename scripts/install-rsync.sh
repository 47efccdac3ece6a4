#!/usr/bin/env bash
# install-rsync.sh: make sure rsync is on PATH (gitlab-ci-local's shell executor copies each
# job's folder with it; tests/ci/test_gitlab_local.py). On a Debian/Ubuntu host and as root,
# installs Debian's `rsync` package with apt-get; elsewhere says what is missing. Idempotent.
set -euo pipefail

if command -v rsync >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-rsync: rsync is missing; install it (apt-get install rsync) as root" >&2
  exit 1
fi
echo "install-rsync: installing Debian's rsync" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  -o DPkg::Lock::Timeout="${MLCI_APT_LOCK_TIMEOUT:-300}" rsync >&2 \
  || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y \
       --no-install-recommends rsync >&2; }
command -v rsync >/dev/null
