#!/usr/bin/env bash
# Runs gitlab-ci-local (executes .gitlab-ci.yml locally), pinned and installed into
# .mlci/tools/gitlab-ci-local the first time. 4.52.0 is the last release that runs on Node 20
# (later ones need Node 22). Its shell executor copies the project with rsync (apt-get install
# rsync). Usage: scripts/gitlab-ci-local.sh [gitlab-ci-local args...]; with --install-only it
# just installs and prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

version="4.52.0"
command -v rsync >/dev/null || { echo "gitlab-ci-local.sh: rsync is required (apt-get install rsync)" >&2; exit 2; }
bin="$("$here/npm-tool.sh" gitlab-ci-local gitlab-ci-local "$version")/node_modules/.bin/gitlab-ci-local"
if [ "${1:-}" = "--install-only" ]; then
  echo "$bin"
  exit 0
fi
export NO_UPDATE_NOTIFIER=1
exec "$bin" "$@"
