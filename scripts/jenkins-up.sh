#!/usr/bin/env bash
# Start a real Jenkins controller for mlci (jenkins/jenkins LTS + jenkins/plugins.txt +
# jenkins/casc.yaml) and its `docker` agent with Docker Compose, and wait until both answer.
# Needs: Docker Engine with the compose plugin, and access to Docker Hub and the Jenkins
# update center (the image builds download the base images and the plugins).
# Env: JENKINS_ADMIN_PASSWORD, JENKINS_APPROVER_PASSWORD, JENKINS_BOT_PASSWORD (required: the
#      passwords of the users casc.yaml creates); JENKINS_PORT (8080); JENKINS_URL (default
#      http://<this host's name>:<port>/, the URL agents reach the controller at);
#      MLCI_APPROVERS (default: JENKINS_APPROVER_ID, else approver); MLCI_MLFLOW__TRACKING_URI
#      (default http://127.0.0.1:<MLCI_MLFLOW_PORT, 5050>), MLCI_REGISTRY__URL (default in
#      jenkins/compose.yaml): the builds' global environment.
#      Credentials are not made here: see `mlci jenkins credentials apply` (docs/jenkins.md).
# Usage: scripts/jenkins-up.sh [up|down|logs]
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:-up}"
compose=(docker compose -p mlci-jenkins -f jenkins/compose.yaml)
command -v docker >/dev/null || { echo "jenkins-up.sh: docker is not installed (scripts/install-docker.sh)" >&2; exit 2; }
docker compose version >/dev/null 2>&1 \
  || { echo "jenkins-up.sh: the docker compose plugin is missing (apt-get install docker-compose-plugin)" >&2; exit 2; }

port="${JENKINS_PORT:-8080}"
if [ -z "${JENKINS_URL:-}" ]; then
  host="$(hostname -f 2>/dev/null || hostname)"
  getent hosts "$host" >/dev/null 2>&1 || host=127.0.0.1
  JENKINS_URL="http://$host:$port/"
fi
export JENKINS_URL
export MLCI_APPROVERS="${MLCI_APPROVERS:-${JENKINS_APPROVER_ID:-approver}}"
export MLCI_MLFLOW__TRACKING_URI="${MLCI_MLFLOW__TRACKING_URI:-http://127.0.0.1:${MLCI_MLFLOW_PORT:-5050}}"
DOCKER_GID="$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)"
export DOCKER_GID

if [ "$action" != up ]; then  # compose interpolates the whole file even to stop or follow it
  export JENKINS_ADMIN_PASSWORD="${JENKINS_ADMIN_PASSWORD:-unused}" \
    JENKINS_APPROVER_PASSWORD="${JENKINS_APPROVER_PASSWORD:-unused}" \
    JENKINS_BOT_PASSWORD="${JENKINS_BOT_PASSWORD:-unused}"
fi
case "$action" in
  down) exec "${compose[@]}" down ;;
  logs) exec "${compose[@]}" logs -f jenkins agent-docker ;;
  up) ;;
  *) echo "jenkins-up.sh: unknown action '$action' (expected up, down or logs)" >&2; exit 2 ;;
esac

for var in JENKINS_ADMIN_PASSWORD JENKINS_APPROVER_PASSWORD JENKINS_BOT_PASSWORD; do
  [ -n "${!var:-}" ] || { echo "jenkins-up.sh: set $var (the password of that Jenkins user)" >&2; exit 2; }
done

"${compose[@]}" up -d --build jenkins
url="${JENKINS_URL%/}"
admin="${JENKINS_ADMIN_ID:-admin}"
echo "jenkins-up.sh: waiting for $url (up to 5 minutes)" >&2
up=""
for _ in $(seq 1 150); do
  code="$(curl -s -o /dev/null -w '%{http_code}' "$url/login" || true)"
  if [ "$code" = "200" ]; then up=yes; break; fi
  sleep 2
done
[ -n "$up" ] || {
  echo "jenkins-up.sh: Jenkins did not answer at $url/login within 5 minutes; see: scripts/jenkins-up.sh logs" >&2
  exit 1
}

# The inbound agent's secret exists only once the controller has created the node (casc.yaml).
# Read as the admin; the secret goes to compose's environment, never to a file or the terminal.
jnlp="$(curl -fsS -u "$admin:$JENKINS_ADMIN_PASSWORD" "$url/computer/docker/jenkins-agent.jnlp")" || {
  echo "jenkins-up.sh: cannot read the agent secret from $url/computer/docker/jenkins-agent.jnlp as $admin" >&2
  exit 1
}
MLCI_AGENT_SECRET="$(printf '%s' "$jnlp" | sed -n 's:.*<argument>\([0-9a-f]\{64\}\)</argument>.*:\1:p' | head -n 1)"
[ -n "$MLCI_AGENT_SECRET" ] || { echo "jenkins-up.sh: no agent secret in $url/computer/docker/jenkins-agent.jnlp" >&2; exit 1; }
export MLCI_AGENT_SECRET
"${compose[@]}" up -d --build agent-docker

echo "jenkins-up.sh: waiting for the agent 'docker' to connect (up to 2 minutes)" >&2
for _ in $(seq 1 60); do
  if curl -fsS -u "$admin:$JENKINS_ADMIN_PASSWORD" "$url/computer/docker/api/json?tree=offline" \
      | grep -q '"offline":false'; then
    cat >&2 <<MSG
jenkins-up.sh: Jenkins is up at $url with the agent 'docker'
Next: log in as $admin and as ${JENKINS_BOT_ID:-mlci-bot}, create an API token for each (user menu >
Security), then
  export JENKINS_USER=$admin JENKINS_TOKEN=<admin token> MLCI_JENKINS__URL=$url
  mlci jenkins plugins check && mlci jenkins apply
  MLCI_JENKINS_BOT_USER=${JENKINS_BOT_ID:-mlci-bot} MLCI_JENKINS_BOT_TOKEN=<bot token> \\
    MLCI_REGISTRY_USER=... MLCI_REGISTRY_PASSWORD=... \\
    MLFLOW_TRACKING_USERNAME=... MLFLOW_TRACKING_PASSWORD=... mlci jenkins credentials apply
MSG
    exit 0
  fi
  sleep 2
done
echo "jenkins-up.sh: the agent 'docker' did not connect within 2 minutes; see: scripts/jenkins-up.sh logs" >&2
exit 1
