#!/usr/bin/env bash
# Lint the Jenkinsfiles with npm-groovy-lint (CodeNarc), offline. The pinned npm-groovy-lint is
# installed by npm into .mlci/tools/groovy-lint (git-ignored) the first time; after that no
# network is used: --noserver runs CodeNarc in-process, the machine's Java is named explicitly
# so java-caller never fetches a JRE, and usage statistics stay off (no --insight).
# Needs Node.js >= 20 and Java >= 17. Usage: scripts/groovy-lint.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."

version="16.2.0"   # 17+/18 need Node 22; 16.2.0 runs on Node 20
prefix=".mlci/tools/groovy-lint"
bin="$prefix/node_modules/.bin/npm-groovy-lint"

command -v node >/dev/null || { echo "groovy-lint.sh: Node.js >= 20 is required (apt-get install nodejs)" >&2; exit 2; }
node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)' \
  || { echo "groovy-lint.sh: Node.js >= 20 is required, found $(node --version)" >&2; exit 2; }
java_bin="$(command -v java || true)"
[ -n "$java_bin" ] || { echo "groovy-lint.sh: Java >= 17 is required (apt-get install openjdk-17-jre-headless)" >&2; exit 2; }

installed=""
if [ -f "$prefix/node_modules/npm-groovy-lint/package.json" ]; then
  installed="$(node -p "require('./$prefix/node_modules/npm-groovy-lint/package.json').version")"
fi
if [ "$installed" != "$version" ]; then
  command -v npm >/dev/null || { echo "groovy-lint.sh: npm is required to install npm-groovy-lint" >&2; exit 2; }
  echo "groovy-lint.sh: installing npm-groovy-lint@$version into $prefix" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
    "npm-groovy-lint@$version" >&2
fi

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=(Jenkinsfile jenkins/*.Jenkinsfile)
fi
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "groovy-lint.sh: $f not found" >&2; exit 2; }
done

export NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false
# --failon warning: info-level style notes are printed but do not fail the build.
"$bin" --noserver --javaexecutable "$java_bin" --config jenkins/.groovylintrc.json --failon warning \
  --loglevel info "${files[@]}"
