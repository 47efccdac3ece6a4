#!/usr/bin/env bash
# start-registry.sh: run a private Docker registry (CNCF distribution v2,
# Debian package `docker-registry`) on 127.0.0.1 with htpasswd (bcrypt) auth.
#
# Usage: start-registry.sh [start|stop|status]     (default: start)
#
# `start` prints the registry address (127.0.0.1:PORT) on stdout; all
# progress goes to stderr. It is idempotent: a registry already running from
# this state directory is left alone.
#
# The registry runs as a plain background process with a pid file; the
# package's own systemd/init service is neither used nor started.
# Docker allows plain HTTP to registries on 127.0.0.0/8 without any
# "insecure-registries" setting, so `docker login/push 127.0.0.1:PORT` works.
#
# Environment:
#   MLCI_REGISTRY_PORT      port on 127.0.0.1 (default 5000)
#   MLCI_REGISTRY_USER      user name (default mlci)
#   MLCI_REGISTRY_PASSWORD  password; if unset, one is read from (or generated
#                           into) $MLCI_STATE_DIR/registry/password (mode 600)
#   MLCI_STATE_DIR          state directory (default ./.mlci); config, htpasswd,
#                           storage, log and pid file live in its registry/
#   MLCI_REGISTRY_TIMEOUT   seconds to wait for the registry to answer (default 30)
set -euo pipefail

readonly PROG="start-registry"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

ACTION="${1:-start}"
case "$ACTION" in
  start|stop|status) ;;
  -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown action '$ACTION'; usage: $0 [start|stop|status]" ;;
esac

PORT="${MLCI_REGISTRY_PORT:-5000}"
REG_USER="${MLCI_REGISTRY_USER:-mlci}"
TIMEOUT="${MLCI_REGISTRY_TIMEOUT:-30}"
if ! [[ "$PORT" =~ ^[0-9]{1,5}$ ]] || (( 10#$PORT < 1 || 10#$PORT > 65535 )); then
  die "MLCI_REGISTRY_PORT must be a port number (1-65535), got '$PORT'"
fi
PORT=$((10#$PORT))
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "MLCI_REGISTRY_TIMEOUT must be a whole number of seconds, got '$TIMEOUT'"
[[ -n "$REG_USER" && "$REG_USER" != *:* ]] || die "MLCI_REGISTRY_USER must be non-empty and must not contain ':'"

STATE_DIR="${MLCI_STATE_DIR:-$PWD/.mlci}"
mkdir -p "$STATE_DIR/registry"
REG_DIR="$(cd "$STATE_DIR/registry" && pwd)"
CONFIG="$REG_DIR/config.yml"
HTPASSWD="$REG_DIR/htpasswd"
PASSWORD_FILE="$REG_DIR/password"
SECRET_FILE="$REG_DIR/http-secret"
PID_FILE="$REG_DIR/registry.pid"
LOG_FILE="$REG_DIR/registry.log"
DATA_DIR="$REG_DIR/data"
ADDR="127.0.0.1:$PORT"
URL="http://$ADDR/v2/"

command -v curl >/dev/null 2>&1 || die "curl is required (apt-get install curl)."

# HTTP status of GET /v2/ without credentials ("000" if nothing answers).
http_status() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$URL" 2>/dev/null || true; }

# Pid of the registry recorded in the pid file, if that process still runs
# and is a docker-registry.
running_pid() {
  local pid
  [[ -s "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'docker-registry' || return 1
  printf '%s\n' "$pid"
}

# Does the registry accept USER:PASSWORD? Credentials go to curl on stdin,
# never on its command line.
credentials_ok() {
  local code cred="$REG_USER:$1"
  cred="${cred//\\/\\\\}"   # escape \ and " for curl's config syntax
  cred="${cred//\"/\\\"}"
  code="$(printf 'user = "%s"\n' "$cred" \
          | curl -s -o /dev/null -m 3 -w '%{http_code}' -K - "$URL" 2>/dev/null || true)"
  [[ "$code" == "200" ]]
}

stop_registry() {
  local pid i
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "no registry from $REG_DIR is running."
    return 0
  fi
  log "stopping registry (pid $pid)..."
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "registry did not stop within 10s; sending SIGKILL."
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped."
}

if [[ "$ACTION" == "stop" ]]; then
  stop_registry
  exit 0
fi

if [[ "$ACTION" == "status" ]]; then
  if pid="$(running_pid)"; then
    log "running (pid $pid) on $ADDR, GET /v2/ -> $(http_status)."
    printf '%s\n' "$ADDR"
    exit 0
  fi
  log "not running (state dir $REG_DIR)."
  exit 3
fi

# ---- start ----------------------------------------------------------------

# Password: from the environment, else the saved file, else a new random one.
resolve_password() {
  if [[ -n "${MLCI_REGISTRY_PASSWORD:-}" ]]; then
    PASSWORD="$MLCI_REGISTRY_PASSWORD"
  elif [[ -s "$PASSWORD_FILE" ]]; then
    PASSWORD="$(cat "$PASSWORD_FILE")"
    log "using the password saved in $PASSWORD_FILE."
  else
    PASSWORD="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    (umask 077 && printf '%s\n' "$PASSWORD" >"$PASSWORD_FILE")
    chmod 600 "$PASSWORD_FILE"
    log "generated a random password for user '$REG_USER' in $PASSWORD_FILE (mode 600)."
  fi
  [[ "$PASSWORD" != *$'\n'* ]] || die "the registry password must be a single line."
}

# Already running?
if pid="$(running_pid)"; then
  status="$(http_status)"
  if [[ "$status" == "401" ]]; then
    resolve_password
    if credentials_ok "$PASSWORD"; then
      log "registry already running (pid $pid) on $ADDR; nothing to do."
    else
      log "WARNING: registry already running (pid $pid) on $ADDR, but it rejects user '$REG_USER' with the current password. Run '$0 stop' and start again to apply new credentials."
    fi
    printf '%s\n' "$ADDR"
    exit 0
  fi
  die "a registry (pid $pid from $PID_FILE) runs but GET $URL answers '$status', not 401; is it serving another port? Run '$0 stop' (same MLCI_STATE_DIR) and try again."
fi
rm -f "$PID_FILE"

status="$(http_status)"
if [[ "$status" != "000" ]]; then
  die "something else already answers on $ADDR (GET /v2/ -> $status) and it is not the registry from $REG_DIR. Choose another MLCI_REGISTRY_PORT, or stop that service (the Debian package's own service: 'systemctl disable --now docker-registry' or 'service docker-registry stop')."
fi

resolve_password

# Install what is missing: the registry and a bcrypt htpasswd tool.
need_pkgs=()
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || python3 -c 'import bcrypt' 2>/dev/null || need_pkgs+=(apache2-utils)
if (( ${#need_pkgs[@]} )); then
  [[ "$(id -u)" -eq 0 ]] || die "missing ${need_pkgs[*]}; install them as root ('sudo apt-get install ${need_pkgs[*]}') and rerun."
  command -v apt-get >/dev/null 2>&1 || die "missing ${need_pkgs[*]} and apt-get is not available; install the CNCF distribution registry ('registry' binary) and htpasswd by hand."
  log "installing ${need_pkgs[*]} with apt-get..."
  # Keep the package's own service from starting (no policy-rc.d is left behind).
  policy_created=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from %s\nexit 101\n' "$PROG" >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  apt_log="$(mktemp)"
  apt_rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"; } >"$apt_log" 2>&1 || apt_rc=$?
  (( policy_created )) && rm -f /usr/sbin/policy-rc.d
  if (( apt_rc != 0 )); then
    tail -n 20 "$apt_log" >&2
    rm -f "$apt_log"
    die "apt-get install ${need_pkgs[*]} failed (output above)."
  fi
  rm -f "$apt_log"
  # If a service manager started the package's service anyway, say so.
  if [[ "$(http_status)" != "000" ]]; then
    die "after installing docker-registry something answers on $ADDR (probably the package's own service). Stop and disable it ('systemctl disable --now docker-registry'), or use another MLCI_REGISTRY_PORT."
  fi
fi

# htpasswd file (bcrypt is the only hash the registry accepts).
write_htpasswd() {
  local tmp="$HTPASSWD.tmp"
  rm -f "$tmp"
  if command -v htpasswd >/dev/null 2>&1; then
    (umask 077 && printf '%s\n' "$PASSWORD" | htpasswd -c -i -B -C 10 "$tmp" "$REG_USER" 2>/dev/null) \
      || die "htpasswd failed to write $tmp."
  else
    (umask 077 && printf '%s\n' "$PASSWORD" | python3 -c '
import sys, bcrypt
user, out = sys.argv[1], sys.argv[2]
pw = sys.stdin.readline().rstrip("\n").encode()
with open(out, "w") as f:
    f.write(user + ":" + bcrypt.hashpw(pw, bcrypt.gensalt(10)).decode() + "\n")
' "$REG_USER" "$tmp") || die "python bcrypt failed to write $tmp."
  fi
  chmod 600 "$tmp"
  mv -f "$tmp" "$HTPASSWD"
}
write_htpasswd

if [[ ! -s "$SECRET_FILE" ]]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET_FILE")
fi
mkdir -p "$DATA_DIR"

(umask 077 && cat >"$CONFIG" <<EOF
# Written by $PROG; regenerated on every start.
version: 0.1
log:
  level: info
  fields:
    service: mlci-registry
storage:
  filesystem:
    rootdirectory: $DATA_DIR
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $ADDR
  secret: $(cat "$SECRET_FILE")
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: mlci-registry
    path: $HTPASSWD
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
)

log "starting docker-registry on $ADDR (config $CONFIG, log $LOG_FILE)..."
printf '\n===== %s: %s starting registry on %s =====\n' "$(date -u +%FT%TZ)" "$PROG" "$ADDR" >>"$LOG_FILE"
setsid nohup docker-registry serve "$CONFIG" </dev/null >>"$LOG_FILE" 2>&1 &
pid=$!
printf '%s\n' "$pid" >"$PID_FILE"

waited=0
while :; do
  status="$(http_status)"
  [[ "$status" == "401" ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PID_FILE"
    tail -n 20 "$LOG_FILE" >&2 || true
    die "docker-registry exited right after starting (log above, full log $LOG_FILE)."
  fi
  if (( waited >= TIMEOUT * 5 )); then
    tail -n 20 "$LOG_FILE" >&2 || true
    die "docker-registry (pid $pid) did not answer 401 on $URL within ${TIMEOUT}s (last status '$status'); stop it with '$0 stop'."
  fi
  sleep 0.2
  waited=$((waited + 1))
done

credentials_ok "$PASSWORD" || die "the registry runs but rejects user '$REG_USER'; check $HTPASSWD and $LOG_FILE."
log "registry running (pid $pid) on $ADDR, user '$REG_USER'; log in with: docker login $ADDR -u $REG_USER --password-stdin"
printf '%s\n' "$ADDR"
