#!/usr/bin/env bash
# bootstrap-base-image.sh: make sure the Python base image exists in the local
# Docker engine.
#
# Order of attempts:
#   1. `docker image inspect $BASE_IMAGE` finds it           -> done
#   2. `docker pull $BASE_IMAGE` (bounded by a timeout)       -> done
#   3. build it locally: debootstrap a minimal Debian bookworm (Python 3.11)
#      root file system, trim it, and `docker import` it as $BASE_IMAGE.
#
# The locally built image is made to behave like the official
# python:3.11-slim image for the things our Dockerfiles rely on:
# `python3 -m venv`, `python3 -m pip`, `python`/`python3` on PATH (also as
# /usr/local/bin/python{,3}), LANG=C.UTF-8, CMD ["python3"], and system-wide
# `pip install` allowed (Debian's EXTERNALLY-MANAGED marker is removed, as the
# official image has none). It is labelled org.mlci.base.bootstrapped=true so
# it cannot be mistaken for the upstream image.
#
# Environment:
#   BASE_IMAGE              image name:tag to provide (default python:3.11-slim)
#   MLCI_STATE_DIR          state directory (default ./.mlci)
#   MLCI_CACHE_DIR          cache for .debs and the root fs tarball
#                           (default $MLCI_STATE_DIR/cache/base-image)
#   MLCI_PULL_TIMEOUT       seconds allowed for `docker pull` (default 20)
#   MLCI_SKIP_PULL=1        do not try `docker pull`
#   MLCI_DEBIAN_MIRROR      Debian mirror (default http://deb.debian.org/debian)
#   MLCI_DEBIAN_SECURITY    security mirror (default http://deb.debian.org/debian-security)
#   MLCI_BASE_UPGRADE=0     skip applying bookworm-updates/-security updates
#   MLCI_BASE_REBUILD=1     ignore the cached root fs tarball and debootstrap again
set -euo pipefail

readonly PROG="bootstrap-base-image"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"
STATE_DIR="${MLCI_STATE_DIR:-$PWD/.mlci}"
CACHE_DIR="${MLCI_CACHE_DIR:-$STATE_DIR/cache/base-image}"
PULL_TIMEOUT="${MLCI_PULL_TIMEOUT:-20}"
MIRROR="${MLCI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${MLCI_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
readonly SUITE="bookworm"   # bookworm's python3 is 3.11, matching python:3.11-slim
readonly INCLUDE="python3,python3-venv,python3-pip,ca-certificates"
# Bump when the recipe below changes, so stale cached tarballs are not reused.
readonly RECIPE_VERSION="1"

[[ "$PULL_TIMEOUT" =~ ^[0-9]+$ ]] || die "MLCI_PULL_TIMEOUT must be a whole number of seconds, got '$PULL_TIMEOUT'"

command -v docker >/dev/null 2>&1 || die "the docker client is not installed; run scripts/install-docker.sh first."
docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' fails): run scripts/install-docker.sh first (as root), or get access to the engine's socket (docker group)."

image_size() {
  local bytes
  bytes="$(docker image inspect --format '{{.Size}}' "$BASE_IMAGE")"
  printf '%s MB (%s bytes)' "$(( (bytes + 500000) / 1000000 ))" "$bytes"
}

# 1. Already there?
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "$BASE_IMAGE already exists in the local engine ($(image_size)); nothing to do."
  exit 0
fi

# 2. Pull?
if [[ "${MLCI_SKIP_PULL:-0}" != "1" ]]; then
  log "trying 'docker pull $BASE_IMAGE' (timeout ${PULL_TIMEOUT}s)..."
  if timeout "$PULL_TIMEOUT" docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    log "pulled $BASE_IMAGE ($(image_size))."
    exit 0
  fi
  log "pull failed or timed out; building $BASE_IMAGE locally from Debian $SUITE instead."
fi

# 3. Build locally.
[[ "$(id -u)" -eq 0 ]] || die "building the base image locally needs root (debootstrap + chroot). Run 'sudo -E $0', or load a prebuilt image with 'docker load'."

START=$SECONDS
mkdir -p "$CACHE_DIR/debs"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"   # debootstrap wants absolute paths
TARBALL="$CACHE_DIR/rootfs-$SUITE-python3-r$RECIPE_VERSION.tar"

if ! command -v debootstrap >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 \
    || die "debootstrap is missing and apt-get is not available; install debootstrap and rerun."
  log "installing debootstrap with apt-get..."
  apt_log="$(mktemp)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap; } >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    rm -f "$apt_log"
    die "could not install debootstrap (apt output above)."
  fi
  rm -f "$apt_log"
fi

ROOTFS=""
# Unmount anything debootstrap/chroot left mounted below the root fs, then
# delete it without ever crossing into another file system.
cleanup() {
  local mnt
  if [[ -n "$ROOTFS" && -d "$ROOTFS" ]]; then
    while read -r mnt; do
      umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v r="$ROOTFS/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
    rm -rf --one-file-system "$ROOTFS"
  fi
  rm -f "$TARBALL.partial"
}
trap cleanup EXIT

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

if [[ -s "$TARBALL" && "${MLCI_BASE_REBUILD:-0}" != "1" ]]; then
  log "reusing cached root fs $TARBALL (set MLCI_BASE_REBUILD=1 to debootstrap again)."
else
  ROOTFS="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
  log "debootstrap --variant=minbase $SUITE into $ROOTFS (debs cached in $CACHE_DIR/debs)..."
  if ! debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$CACHE_DIR/debs" \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
    [[ -f "$ROOTFS/debootstrap/debootstrap.log" ]] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log: $CACHE_DIR/debootstrap.log); check access to $MIRROR."
  fi
  log "debootstrap done after $((SECONDS - START))s."

  # Apt sources as in the official Debian images, including updates + security.
  rm -f "$ROOTFS/etc/apt/sources.list"
  cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

  # Keep later `apt-get install` layers small, as debian:*-slim does.
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/mlci-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
  printf 'APT::Install-Recommends "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-recommends"

  if [[ "${MLCI_BASE_UPGRADE:-1}" != "0" ]]; then
    log "applying $SUITE-updates and $SUITE-security updates..."
    printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
    chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
    if ! { in_root apt-get update -qq && in_root apt-get -y -qq -o Dpkg::Use-Pty=0 upgrade; } >"$CACHE_DIR/upgrade.log" 2>&1; then
      tail -n 30 "$CACHE_DIR/upgrade.log" >&2
      die "applying updates inside the root fs failed (log: $CACHE_DIR/upgrade.log); rerun with MLCI_BASE_UPGRADE=0 to skip."
    fi
    rm -f "$ROOTFS/usr/sbin/policy-rc.d"
  fi

  # python:3.11-slim compatibility.
  ln -sfn python3 "$ROOTFS/usr/bin/python"
  mkdir -p "$ROOTFS/usr/local/bin"
  ln -sfn /usr/bin/python3 "$ROOTFS/usr/local/bin/python3"
  ln -sfn /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
  rm -f "$ROOTFS"/usr/lib/python3.*/EXTERNALLY-MANAGED

  # Trim: apt lists/caches, docs (keeping copyright files), man pages,
  # locales, logs, and host files that docker provides at run time.
  in_root apt-get clean
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
         "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/lib/dpkg/*-old \
         "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
         "$ROOTFS"/usr/share/lintian/* "$ROOTFS"/var/log/*.log \
         "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* \
         "$ROOTFS/debootstrap"
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  : >"$ROOTFS/etc/resolv.conf"
  : >"$ROOTFS/etc/hostname"

  PY_VERSION="$(in_root python3 -c 'import platform; print(platform.python_version())')"
  [[ "$PY_VERSION" == 3.11.* ]] || die "expected Python 3.11 in the root fs, found '$PY_VERSION'."
  printf '%s\n' "$PY_VERSION" >"$ROOTFS/etc/mlci-python-version"

  log "packing the root fs into $TARBALL..."
  tar --numeric-owner --xattrs -C "$ROOTFS" -cf "$TARBALL.partial" .
  mv -f "$TARBALL.partial" "$TARBALL"
  cleanup
  ROOTFS=""
fi

PY_VERSION="$(tar -xOf "$TARBALL" ./etc/mlci-python-version)"
log "importing $TARBALL as $BASE_IMAGE (Python $PY_VERSION)..."
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "ENV PYTHON_VERSION=$PY_VERSION" \
  --change 'CMD ["python3"]' \
  --change "LABEL org.mlci.base.bootstrapped=true org.mlci.base.source=debootstrap-$SUITE-minbase" \
  --message "mlci: debootstrap $SUITE minbase + $INCLUDE" \
  "$TARBALL" "$BASE_IMAGE" >/dev/null

# Smoke test the things our Dockerfiles need.
if ! docker run --rm --network none "$BASE_IMAGE" \
      sh -c 'python --version && python3 -m venv /tmp/v && /tmp/v/bin/python -m pip --version && python3 -m pip --version' >/dev/null 2>&1; then
  die "$BASE_IMAGE was imported but fails its smoke test (python/venv/pip); try MLCI_BASE_REBUILD=1."
fi

log "built $BASE_IMAGE in $((SECONDS - START))s: $(image_size)."
