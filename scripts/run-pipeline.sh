#!/usr/bin/env bash
# The main job on a fresh machine: install the locked environment, then run the pipeline
# (validate -> train -> evaluate -> register) on the bundled data with embedded defaults
# (MLflow on SQLite under .mlci/). Extra arguments go to `mlci pipeline run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh runtime
exec .venv/bin/mlci pipeline run "$@"
