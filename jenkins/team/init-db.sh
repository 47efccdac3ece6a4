#!/usr/bin/env bash
# PostgreSQL init script (docker-entrypoint-initdb.d): the MLflow databases and the mlci state
# database, each with its own login role. Passwords come from the container's environment.
set -euo pipefail
: "${MLCI_PG_MLFLOW_PASSWORD:?}" "${MLCI_PG_STATE_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE mlflow LOGIN PASSWORD '${MLCI_PG_MLFLOW_PASSWORD}';
CREATE ROLE mlci_state LOGIN PASSWORD '${MLCI_PG_STATE_PASSWORD}';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
CREATE DATABASE mlci_state OWNER mlci_state;
SQL
