#!/usr/bin/env bash
# bootstrap-front-image.sh: make sure the environment front image (HAProxy) exists in the local
# Docker engine. Every environment's stable port is served by a container of this image
# (ml/deploy/haproxy.py writes its configuration and drives its runtime API).
#
# Order of attempts:
#   1. `docker image inspect $FRONT_IMAGE` finds it               -> done
#   2. `docker pull $FRONT_IMAGE` (bounded by a timeout), unless it is an mlci/ name -> done
#      (the official `haproxy:2.6` image works: set front.image in mlci.yaml)
#   3. build it here, hermetically for `docker build` (which has no network): export the local
#      base image's root file system (scripts/bootstrap-base-image.sh makes it), install
#      Debian's haproxy and socat into it with apt-get in a chroot on this host, and
#      `docker import` the result as $FRONT_IMAGE.
#
# The image runs as the `haproxy` user; /var/lib/haproxy (the state volume of a front) belongs
# to it. It is labelled org.mlci.front.bootstrapped=true and
# org.mlci.front.haproxy=<version>.
#
# Environment:
#   FRONT_IMAGE            image name:tag to provide (default mlci/haproxy:2.6)
#   BASE_IMAGE             Debian bookworm image to derive it from (default python:3.11-slim)
#   MLCI_STATE_DIR         state directory (default ./.mlci); work files under cache/front-image
#   MLCI_PULL_TIMEOUT      seconds allowed for `docker pull` (default 20)
#   MLCI_SKIP_PULL=1       do not try `docker pull`
set -euo pipefail

readonly PROG="bootstrap-front-image"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

FRONT_IMAGE="${FRONT_IMAGE:-mlci/haproxy:2.6}"
BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"
STATE_DIR="${MLCI_STATE_DIR:-$PWD/.mlci}"
WORK_DIR="$STATE_DIR/cache/front-image"
PULL_TIMEOUT="${MLCI_PULL_TIMEOUT:-20}"
readonly PACKAGES="haproxy socat"

[[ "$PULL_TIMEOUT" =~ ^[0-9]+$ ]] || die "MLCI_PULL_TIMEOUT must be a whole number of seconds, got '$PULL_TIMEOUT'"
command -v docker >/dev/null 2>&1 || die "the docker client is not installed; run scripts/install-docker.sh first."
docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' fails): run scripts/install-docker.sh first."

if docker image inspect "$FRONT_IMAGE" >/dev/null 2>&1; then
  log "$FRONT_IMAGE already exists in the local engine; nothing to do."
  exit 0
fi

if [[ "${MLCI_SKIP_PULL:-0}" != "1" && "$FRONT_IMAGE" != mlci/* ]]; then
  log "trying 'docker pull $FRONT_IMAGE' (timeout ${PULL_TIMEOUT}s)..."
  if timeout "$PULL_TIMEOUT" docker pull -q "$FRONT_IMAGE" >/dev/null 2>&1; then
    log "pulled $FRONT_IMAGE."
    exit 0
  fi
  log "pull failed or timed out; building $FRONT_IMAGE from $BASE_IMAGE instead."
fi

[[ "$(id -u)" -eq 0 ]] || die "building the front image needs root (chroot + apt-get). Run 'sudo -E $0', or set front.image to an image you can pull (e.g. haproxy:2.6)."
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
  || die "the base image $BASE_IMAGE is missing; run scripts/bootstrap-base-image.sh first."

START=$SECONDS
mkdir -p "$WORK_DIR"
WORK_DIR="$(cd "$WORK_DIR" && pwd)"
ROOTFS=""
CID=""
cleanup() {
  local mnt
  [[ -n "$CID" ]] && docker rm -f "$CID" >/dev/null 2>&1 || true
  if [[ -n "$ROOTFS" && -d "$ROOTFS" ]]; then
    while read -r mnt; do
      umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v r="$ROOTFS/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
    rm -rf --one-file-system "$ROOTFS"
  fi
}
trap cleanup EXIT

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

ROOTFS="$(mktemp -d "$WORK_DIR/rootfs.XXXXXX")"
log "exporting $BASE_IMAGE into $ROOTFS..."
CID="$(docker create "$BASE_IMAGE" true)"
docker export "$CID" | tar --numeric-owner -C "$ROOTFS" -xf -
docker rm -f "$CID" >/dev/null
CID=""

log "apt-get install $PACKAGES (chroot)..."
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# shellcheck disable=SC2086 # PACKAGES is a word list
if ! { in_root apt-get update -qq && in_root apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends $PACKAGES; } >"$WORK_DIR/apt.log" 2>&1; then
  tail -n 30 "$WORK_DIR/apt.log" >&2
  die "apt-get install $PACKAGES inside the root fs failed (log: $WORK_DIR/apt.log); check access to the Debian mirror."
fi
rm -f "$ROOTFS/usr/sbin/policy-rc.d"
# shellcheck disable=SC2016 # ${Version} is dpkg-query's format, not a shell expansion
HAPROXY_VERSION="$(in_root dpkg-query -W -f '${Version}' haproxy)"
in_root haproxy -v >/dev/null || die "haproxy does not run inside the built root fs."
# The front's state volume is mounted on /var/lib/haproxy: owned by the user HAProxy runs as.
mkdir -p "$ROOTFS/var/lib/haproxy" "$ROOTFS/run/haproxy"
in_root chown haproxy:haproxy /var/lib/haproxy /run/haproxy
in_root apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/apt/* "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/*
: >"$ROOTFS/etc/resolv.conf"
: >"$ROOTFS/etc/hostname"

log "importing as $FRONT_IMAGE (haproxy $HAPROXY_VERSION)..."
tar --numeric-owner --xattrs -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'USER haproxy' \
  --change 'CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]' \
  --change "LABEL org.mlci.front.bootstrapped=true org.mlci.front.haproxy=$HAPROXY_VERSION org.mlci.front.source=$BASE_IMAGE+apt" \
  --message "mlci: $BASE_IMAGE + apt-get install $PACKAGES" \
  - "$FRONT_IMAGE" >/dev/null

docker run --rm --network none "$FRONT_IMAGE" sh -c 'haproxy -vv >/dev/null && socat -V >/dev/null' \
  || die "$FRONT_IMAGE was imported but fails its smoke test (haproxy -vv, socat -V)."
log "built $FRONT_IMAGE in $((SECONDS - START))s: haproxy $HAPROXY_VERSION."
