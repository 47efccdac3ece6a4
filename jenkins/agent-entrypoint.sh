#!/usr/bin/env bash
# Entry point of the `docker` agent image (jenkins/agent.Dockerfile): fetch agent.jar from the
# controller, then connect as an inbound agent over WebSocket.
# Env: JENKINS_URL (the controller, as this host reaches it), JENKINS_AGENT_NAME (the node,
# `docker`), JENKINS_SECRET (the node's secret, from /computer/<name>/jenkins-agent.jnlp),
# JENKINS_AGENT_WORKDIR (default /home/jenkins/agent).
set -euo pipefail

url="${JENKINS_URL:?mlci-jenkins-agent: set JENKINS_URL to the controller URL}"
name="${JENKINS_AGENT_NAME:?mlci-jenkins-agent: set JENKINS_AGENT_NAME (the node name, e.g. docker)}"
workdir="${JENKINS_AGENT_WORKDIR:-/home/jenkins/agent}"
if [ -z "${JENKINS_SECRET:-}" ]; then
  echo "mlci-jenkins-agent: JENKINS_SECRET is empty: scripts/jenkins-up.sh reads it from" \
    "${url%/}/computer/${name}/jenkins-agent.jnlp (as an admin) and passes it as MLCI_AGENT_SECRET" >&2
  exit 2
fi

jar="$(mktemp -d)/agent.jar"
for attempt in $(seq 1 60); do
  if curl -fsS -o "$jar" "${url%/}/jnlpJars/agent.jar"; then
    break
  fi
  [ "$attempt" -lt 60 ] || { echo "mlci-jenkins-agent: no agent.jar from ${url%/}/jnlpJars/ after 60 tries" >&2; exit 1; }
  sleep 5
done

# remoting reads the secret only from its command line (hudson.remoting.Launcher -secret), as
# the upstream inbound-agent image passes it; the container is the only process space.
exec java -jar "$jar" -url "$url" -name "$name" -secret "$JENKINS_SECRET" -webSocket \
  -workDir "$workdir"
