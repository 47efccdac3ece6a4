#!/usr/bin/env bash
# Every linter the project uses, offline, from .venv and the project's own installers.
# With LINT_REPORTS=DIR it first writes machine-readable reports there for Jenkins' Warnings NG
# (scripts/lint-reports.sh: ruff.json, hadolint.json, shellcheck.xml), then checks as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
[ -x "$bin/ruff" ] || { echo "lint.sh: run scripts/venv.sh dev first" >&2; exit 2; }

if [ -n "${LINT_REPORTS:-}" ]; then
  echo "lint: reports for Warnings NG in $LINT_REPORTS" >&2
  scripts/lint-reports.sh "$LINT_REPORTS"
fi

echo "lint: ruff format --check + ruff check" >&2
"$bin/ruff" format --check --quiet ml tests benchmarks scripts
"$bin/ruff" check --quiet ml tests benchmarks scripts

echo "lint: shellcheck" >&2
mapfile -t shells < <(git ls-files '*.sh' .ci/run 2>/dev/null || ls scripts/*.sh .ci/run)
"$bin/shellcheck" "${shells[@]}"

mapfile -t dockerfiles < <(ls docker/*.Dockerfile jenkins/*.Dockerfile 2>/dev/null || true)
if [ "${#dockerfiles[@]}" -gt 0 ]; then
  echo "lint: hadolint ${dockerfiles[*]}" >&2
  "$bin/hadolint" --config docker/hadolint.yaml "${dockerfiles[@]}"
fi

if [ -f scripts/groovy-lint.sh ]; then
  echo "lint: npm-groovy-lint (Jenkinsfiles, vars/)" >&2
  scripts/groovy-lint.sh
fi
if compgen -G ".github/workflows/*.yml" >/dev/null; then
  echo "lint: actionlint (GitHub workflows)" >&2
  scripts/actionlint.sh
fi
echo "lint: all clean" >&2
