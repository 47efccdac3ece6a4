# A Jenkins controller for mlci: LTS + the pinned plugins + JCasC (jenkins/casc.yaml).
# Built by jenkins/compose.yaml (scripts/jenkins-up.sh); needs access to Docker Hub and the
# Jenkins update center at build time.
ARG JENKINS_IMAGE=jenkins/jenkins:2.479.3-lts-jdk17
FROM ${JENKINS_IMAGE}

USER root
# The docker CLI, for `agent { docker ... }` stages against the host's engine (socket mounted).
# Unpinned: the version follows the Debian release of the pinned Jenkins base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends docker.io \
    && rm -rf /var/lib/apt/lists/*
USER jenkins

ENV JAVA_OPTS="-Djenkins.install.runSetupWizard=false" \
    CASC_JENKINS_CONFIG=/usr/share/jenkins/ref/casc.yaml
COPY plugins.txt /usr/share/jenkins/ref/plugins.txt
RUN jenkins-plugin-cli --verbose --plugin-file /usr/share/jenkins/ref/plugins.txt
COPY casc.yaml /usr/share/jenkins/ref/casc.yaml
