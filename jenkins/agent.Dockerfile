# The `docker` agent for mlci's pipelines (jenkins/compose.yaml, service agent-docker): an
# inbound agent over WebSocket with what the stages need on the node:
#   Java 21 (the remoting agent of a 2.555+ controller, and npm-groovy-lint's CodeNarc),
#   CPython 3.11 with pip and uv (scripts/venv.sh), the Docker CLI (stage images, through the
#   host's socket), git (checkout), Node.js + npm (npm-groovy-lint in the lint stage).
# agent.jar is downloaded from the controller at start (jenkins/agent-entrypoint.sh), so its
# remoting version always matches the controller's.
# Debian 13 (trixie): Python 3.11 from the python image, OpenJDK 21 and Node.js 20 from Debian.
ARG BASE_IMAGE=python:3.11-slim-trixie
FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Unpinned apt packages: their versions follow the Debian release of the pinned base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        openjdk-21-jre-headless git docker-cli nodejs npm curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# uv as scripts/venv.sh pins it.
RUN python3 -m pip install --no-cache-dir 'uv==0.13.9'

ARG AGENT_UID=1000
RUN useradd --create-home --uid "${AGENT_UID}" --shell /bin/bash jenkins \
    && mkdir -p /home/jenkins/agent \
    && chown jenkins:jenkins /home/jenkins/agent
COPY --chmod=0755 agent-entrypoint.sh /usr/local/bin/mlci-jenkins-agent
USER ${AGENT_UID}
WORKDIR /home/jenkins
ENV JENKINS_AGENT_WORKDIR=/home/jenkins/agent
ENTRYPOINT ["/usr/local/bin/mlci-jenkins-agent"]
