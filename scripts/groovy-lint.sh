#!/usr/bin/env bash
# Lint the Jenkinsfiles and the shared library's steps (vars/*.groovy) with npm-groovy-lint
# (CodeNarc), offline. The pinned npm-groovy-lint is installed by npm into .mlci/tools/groovy-lint
# (git-ignored) the first time; after that no network is used: --noserver runs CodeNarc in-process, the machine's Java is named explicitly
# so java-caller never fetches a JRE, and usage statistics stay off (no --insight).
# Needs Node.js >= 20 and Java >= 17. Usage: scripts/groovy-lint.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."

version="16.2.0"   # 17+/18 need Node 22; 16.2.0 runs on Node 20

java_bin="$(command -v java || true)"
[ -n "$java_bin" ] || { echo "groovy-lint.sh: Java >= 17 is required (apt-get install openjdk-17-jre-headless)" >&2; exit 2; }
# Node.js >= 20 checked, and the pinned package installed once, by scripts/npm-tool.sh.
prefix="$(scripts/npm-tool.sh groovy-lint npm-groovy-lint "$version")"
bin="$prefix/node_modules/.bin/npm-groovy-lint"

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=(Jenkinsfile jenkins/*.Jenkinsfile vars/*.groovy)
fi
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "groovy-lint.sh: $f not found" >&2; exit 2; }
done

export NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false
# --failon warning: info-level style notes are printed but do not fail the build.
"$bin" --noserver --javaexecutable "$java_bin" --config jenkins/.groovylintrc.json --failon warning \
  --loglevel info "${files[@]}"
