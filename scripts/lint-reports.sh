#!/usr/bin/env bash
# Machine-readable lint reports for Jenkins' Warnings NG plugin (`recordIssues` in the
# Jenkinsfile): ruff JSON (ruff.json), hadolint JSON (hadolint.json) and shellcheck checkstyle
# XML (shellcheck.xml), written into DIR for the same files scripts/lint.sh checks. Findings do
# not fail this script (scripts/lint.sh does that); a linter that cannot run does.
# Usage: scripts/lint-reports.sh DIR   (scripts/lint.sh calls it when LINT_REPORTS=DIR is set)
set -euo pipefail
[ "$#" -eq 1 ] || { echo "usage: scripts/lint-reports.sh DIR" >&2; exit 2; }
mkdir -p "$1"
out="$(cd "$1" && pwd)"
cd "$(dirname "$0")/.."
bin=.venv/bin
[ -x "$bin/ruff" ] || { echo "lint-reports.sh: run scripts/venv.sh dev first" >&2; exit 2; }

"$bin/ruff" check --quiet --exit-zero --output-format json --output-file "$out/ruff.json" \
  ml tests benchmarks scripts

mapfile -t shells < <(git ls-files '*.sh' .ci/run 2>/dev/null || ls scripts/*.sh)
status=0
"$bin/shellcheck" -f checkstyle "${shells[@]}" >"$out/shellcheck.xml" || status=$?
# Exit status of shellcheck: 0 clean, 1 findings; anything else: it could not check the files.
[ "$status" -le 1 ] || { echo "lint-reports.sh: shellcheck failed ($status)" >&2; exit 2; }

mapfile -t dockerfiles < <(ls docker/*.Dockerfile 2>/dev/null || true)
if [ "${#dockerfiles[@]}" -gt 0 ]; then
  "$bin/hadolint" --config docker/hadolint.yaml --no-fail --format json "${dockerfiles[@]}" \
    >"$out/hadolint.json"
else
  echo '[]' >"$out/hadolint.json"
fi
echo "lint-reports.sh: wrote ruff.json, shellcheck.xml, hadolint.json to $out" >&2
