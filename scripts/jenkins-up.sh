#!/usr/bin/env bash
# Start a real Jenkins controller for mlci (jenkins/jenkins LTS + jenkins/plugins.txt +
# jenkins/casc.yaml) with Docker Compose, and wait until it answers.
# Needs: Docker Engine with the compose plugin, and access to Docker Hub and the Jenkins
# update center (the image build downloads the plugins).
# Env: JENKINS_ADMIN_PASSWORD and JENKINS_APPROVER_PASSWORD (required); JENKINS_PORT (8080);
#      MLCI_REGISTRY_USER/PASSWORD, MLFLOW_TRACKING_USERNAME/PASSWORD,
#      MLCI_JENKINS_BOT_USER/TOKEN become the credentials mlci-registry, mlci-mlflow, mlci-jenkins.
# Usage: scripts/jenkins-up.sh [up|down|logs]
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:-up}"
compose=(docker compose -f jenkins/compose.yaml)
command -v docker >/dev/null || { echo "jenkins-up.sh: docker is not installed (scripts/install-docker.sh)" >&2; exit 2; }
docker compose version >/dev/null 2>&1 \
  || { echo "jenkins-up.sh: the docker compose plugin is missing (apt-get install docker-compose-plugin)" >&2; exit 2; }

case "$action" in
  down) exec "${compose[@]}" down ;;
  logs) exec "${compose[@]}" logs -f jenkins ;;
  up) ;;
  *) echo "jenkins-up.sh: unknown action '$action' (expected up, down or logs)" >&2; exit 2 ;;
esac

for var in JENKINS_ADMIN_PASSWORD JENKINS_APPROVER_PASSWORD; do
  [ -n "${!var:-}" ] || { echo "jenkins-up.sh: set $var (the password of that Jenkins user)" >&2; exit 2; }
done
DOCKER_GID="$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)"
export DOCKER_GID

"${compose[@]}" up -d --build
port="${JENKINS_PORT:-8080}"
url="http://localhost:$port"
echo "jenkins-up.sh: waiting for $url (up to 5 minutes)" >&2
for _ in $(seq 1 150); do
  code="$(curl -s -o /dev/null -w '%{http_code}' "$url/login" || true)"
  if [ "$code" = "200" ]; then
    cat >&2 <<MSG
jenkins-up.sh: Jenkins is up at $url
Next: log in as ${JENKINS_ADMIN_ID:-admin}, create an API token (user menu > Security), then
  export JENKINS_USER=${JENKINS_ADMIN_ID:-admin} JENKINS_TOKEN=<token> MLCI_JENKINS__URL=$url
  mlci jenkins plugins check && mlci jenkins apply && mlci jenkins credentials apply
MSG
    exit 0
  fi
  sleep 2
done
echo "jenkins-up.sh: Jenkins did not answer at $url/login within 5 minutes; see: scripts/jenkins-up.sh logs" >&2
exit 1
