#!/usr/bin/env bash
# The whole test suite on a fresh machine: locked environment, services (Docker Engine, a
# locally built base image), linters, then pytest. Extra arguments go to pytest.
# Under CI=true a service that cannot start is a failure; elsewhere Docker tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh dev
scripts/lint.sh

if scripts/install-docker.sh; then
  scripts/bootstrap-base-image.sh
  scripts/bootstrap-front-image.sh   # HAProxy for the environments' stable ports (tests/deploy)
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: Docker Engine could not be started, and CI=true requires it" >&2
  exit 1
else
  echo "test.sh: no Docker Engine; tests marked 'docker' will skip (CI would fail)" >&2
fi

# Debian's Chromium for the report's browser test (tests/report/test_browser.py).
if ! scripts/install-chromium.sh; then
  if [ "${CI:-}" = "true" ]; then
    echo "test.sh: Chromium could not be installed, and CI=true requires it" >&2
    exit 1
  fi
  echo "test.sh: no Chromium; the report's browser tests will skip (CI would fail)" >&2
fi

# rsync and the pinned gitlab-ci-local for the executed GitLab pipeline (tests/ci).
if ! { scripts/install-rsync.sh && scripts/gitlab-ci-local.sh --install-only >/dev/null; }; then
  if [ "${CI:-}" = "true" ]; then
    echo "test.sh: rsync or gitlab-ci-local could not be installed, and CI=true requires them" >&2
    exit 1
  fi
  echo "test.sh: no gitlab-ci-local; tests/ci/test_gitlab_local.py will skip (CI would fail)" >&2
fi

# Debian's docker-compose (v1) checks jenkins/compose.yaml (tests/jenkins/test_controller.py).
if ! command -v docker-compose >/dev/null && [ "$(id -u)" -eq 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends docker-compose; } >/dev/null 2>&1 \
    || echo "test.sh: apt-get install docker-compose failed; the compose tests need it" >&2
fi

exec .venv/bin/pytest "$@"
