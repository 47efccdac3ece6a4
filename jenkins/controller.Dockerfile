# A Jenkins controller for mlci: the LTS core on Java 21 + the pinned plugins + JCasC
# (jenkins/casc.yaml). Built by jenkins/compose.yaml (scripts/jenkins-up.sh); the build needs
# Docker Hub and the Jenkins update center.
# The controller runs no builds (casc.yaml: numExecutors 0): no Docker CLI, no Docker socket.
# Builds run on the `docker` agent (jenkins/agent.Dockerfile).
# Core 2.568.2 (LTS, jenkinsci/jenkins tag jenkins-2.568.2; Java 21 and 25 only since 2.555.1):
# it must be >= every `core>=` in plugins.txt (tests/jenkins/test_controller.py checks).
ARG JENKINS_IMAGE=jenkins/jenkins:2.568.2-lts-jdk21
FROM ${JENKINS_IMAGE}

ENV JAVA_OPTS="-Djenkins.install.runSetupWizard=false" \
    CASC_JENKINS_CONFIG=/usr/share/jenkins/ref/casc.yaml
COPY plugins.txt /usr/share/jenkins/ref/plugins.txt
# --latest=false: install exactly the pinned versions (the default, true, upgrades dependencies
# past the pins and can pull in plugins that need a newer core).
RUN jenkins-plugin-cli --latest=false --verbose --plugin-file /usr/share/jenkins/ref/plugins.txt
COPY casc.yaml /usr/share/jenkins/ref/casc.yaml
