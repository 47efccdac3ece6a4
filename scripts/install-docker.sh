#!/usr/bin/env bash
# install-docker.sh: make sure a Docker Engine answers on this machine.
#
# If `docker info` already answers, there is nothing to do. Otherwise, on a
# Debian/Ubuntu host and as root, install Debian's `docker.io` package (engine,
# containerd, runc) and start `dockerd` in the background without systemd,
# then wait until the engine answers.
#
# Environment:
#   MLCI_STATE_DIR        if set, dockerd logs to $MLCI_STATE_DIR/docker/dockerd.log
#                         (otherwise /var/log/dockerd.log)
#   MLCI_DOCKERD_TIMEOUT  seconds to wait for the engine to answer (default 60)
#   MLCI_DOCKERD_FLAGS    extra flags for dockerd, space separated (default none)
#
# If dockerd cannot start with the overlay2 storage driver it is retried with
# --storage-driver=vfs; if it cannot program iptables it is retried with
# --iptables=false. Whatever worked is printed at the end.
set -euo pipefail

readonly PROG="install-docker"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

TIMEOUT="${MLCI_DOCKERD_TIMEOUT:-60}"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "MLCI_DOCKERD_TIMEOUT must be a whole number of seconds, got '$TIMEOUT'"

engine_answers() { docker info >/dev/null 2>&1; }

server_version() { docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "Docker engine already answers (server $(server_version)); nothing to do."
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  if [[ -S /var/run/docker.sock && ! -w /var/run/docker.sock ]]; then
    die "a Docker engine seems to run but you may not use /var/run/docker.sock. Ask an administrator to add you to the 'docker' group (then log in again), or run with sudo."
  fi
  die "no Docker engine answers and installing/starting one needs root. Run 'sudo $0', or ask an administrator to start dockerd and add you to the 'docker' group."
fi

# 1. Install the engine if it is missing.
if ! command -v dockerd >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 \
    || die "dockerd is not installed and apt-get is not available; install Docker Engine for your OS (https://docs.docker.com/engine/install/) and rerun."
  log "installing docker.io with apt-get (this takes a minute)..."
  export DEBIAN_FRONTEND=noninteractive
  apt_log="$(mktemp)"
  trap 'rm -f "$apt_log"' EXIT
  if ! apt-get update -qq >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "apt-get update failed; check network access to your apt mirror."
  fi
  if ! apt-get install -y -qq --no-install-recommends docker.io >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "apt-get install docker.io failed (output above)."
  fi
  log "installed: $(dockerd --version)"
else
  log "dockerd is installed ($(dockerd --version)); it is just not running."
fi
command -v docker >/dev/null 2>&1 || die "the docker client is missing from PATH although dockerd is installed."

# 2. Start dockerd in the background (no systemd here).
if [[ -n "${MLCI_STATE_DIR:-}" ]]; then
  LOG_DIR="$MLCI_STATE_DIR/docker"
else
  LOG_DIR="/var/log"
fi
mkdir -p "$LOG_DIR"
LOG_FILE="$(cd "$LOG_DIR" && pwd)/dockerd.log"
touch "$LOG_FILE" || die "cannot write the dockerd log $LOG_FILE."
PID_FILE="/var/run/docker.pid"   # dockerd's own default pid file

dockerd_pid() {
  local pid
  [[ -s "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

# Wait until the engine answers. Returns 0 when it answers, 1 when dockerd
# died, 2 on timeout.
wait_for_engine() {
  local pid="$1" waited=0
  while (( waited < TIMEOUT )); do
    engine_answers && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 1
    waited=$((waited + 1))
  done
  engine_answers && return 0
  return 2
}

start_dockerd() {
  # Start dockerd detached from this shell (own session, stdin closed).
  # Word splitting of the flags is intended.
  LOG_OFFSET="$(wc -c <"$LOG_FILE")"
  log "starting: dockerd${*:+ $*} (log: $LOG_FILE)"
  {
    printf '\n===== %s: %s starting dockerd %s =====\n' "$(date -u +%FT%TZ)" "$PROG" "$*"
  } >>"$LOG_FILE"
  setsid nohup dockerd "$@" </dev/null >>"$LOG_FILE" 2>&1 &
  DOCKERD_PID=$!
}

new_log() { tail -c +"$((LOG_OFFSET + 1))" "$LOG_FILE" 2>/dev/null || true; }

if pid="$(dockerd_pid)"; then
  log "dockerd (pid $pid) is already running but not answering yet; waiting up to ${TIMEOUT}s."
  rc=0
  wait_for_engine "$pid" || rc=$?
  if (( rc == 0 )); then
    log "Docker engine answers (server $(server_version))."
    exit 0
  fi
  (( rc == 1 )) \
    || die "dockerd (pid $pid) is running but 'docker info' does not answer after ${TIMEOUT}s. Check DOCKER_HOST and the dockerd log (e.g. $LOG_FILE)."
  log "dockerd (pid $pid) was ending (killed, or a zombie); starting a new one."
fi
# A dockerd that was killed leaves its pid files behind; the new one refuses to start on them.
if ! dockerd_pid >/dev/null; then
  rm -f "$PID_FILE" /var/run/docker/containerd/containerd.pid
fi

# shellcheck disable=SC2206  # MLCI_DOCKERD_FLAGS is a space separated list
FLAGS=(${MLCI_DOCKERD_FLAGS:-})
tried_vfs=0
tried_noipt=0
while :; do
  start_dockerd "${FLAGS[@]}"
  rc=0
  wait_for_engine "$DOCKERD_PID" || rc=$?
  if (( rc == 0 )); then
    break
  fi
  if (( rc == 2 )); then
    log "dockerd did not answer within ${TIMEOUT}s; last log lines:"
    tail -n 30 "$LOG_FILE" >&2 || true
    die "Docker engine did not come up (dockerd pid $DOCKERD_PID still running; stop it with 'kill $DOCKERD_PID'). Raise MLCI_DOCKERD_TIMEOUT or inspect $LOG_FILE."
  fi
  # dockerd exited: look at why and retry once per known cause.
  wait "$DOCKERD_PID" 2>/dev/null || true
  # Only the error lines: info lines mention overlay/bridge plugins routinely.
  output="$(new_log | grep -iE 'level=(error|fatal)|failed to start' || true)"
  if (( ! tried_vfs )) && grep -qiE 'overlay|storage.driver|graphdriver' <<<"$output"; then
    tried_vfs=1
    log "dockerd failed on its storage driver; retrying with --storage-driver=vfs (slower, uses more disk)."
    FLAGS+=(--storage-driver=vfs)
    continue
  fi
  if (( ! tried_noipt )) && grep -qiE 'iptables|nat chain|bridge' <<<"$output"; then
    tried_noipt=1
    log "dockerd failed to set up iptables/bridge networking; retrying with --iptables=false (containers get no NAT to the outside)."
    FLAGS+=(--iptables=false)
    continue
  fi
  log "dockerd exited; last log lines:"
  tail -n 30 "$LOG_FILE" >&2 || true
  die "dockerd failed to start; see $LOG_FILE. Extra flags can be passed with MLCI_DOCKERD_FLAGS."
done

log "Docker engine answers: server $(server_version), storage driver $(docker info --format '{{.Driver}}' 2>/dev/null || echo '?'), dockerd pid $DOCKERD_PID${FLAGS[*]:+, flags: ${FLAGS[*]}}."
docker version --format 'client {{.Client.Version}} (API {{.Client.APIVersion}}) <-> server {{.Server.Version}} (API {{.Server.APIVersion}})' >&2 \
  || die "the docker client cannot talk to the engine; check 'docker version'."
