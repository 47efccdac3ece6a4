#!/usr/bin/env bash
# Entry point of the team MLflow container: create the artifact bucket, write the basic-auth
# config (no secret in it: the admin password comes from MLFLOW_AUTH_ADMIN_PASSWORD, the
# database password from PGPASSWORD), then run the server.
set -euo pipefail
: "${MLCI_PG_HOST:?}" "${MLCI_S3_BUCKET:?}" "${MLFLOW_S3_ENDPOINT_URL:?}"
python3 - <<'PY'
import os, time, boto3, botocore.exceptions as bx
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
for attempt in range(60):
    try:
        try:
            s3.head_bucket(Bucket=os.environ["MLCI_S3_BUCKET"])
        except bx.ClientError:
            s3.create_bucket(Bucket=os.environ["MLCI_S3_BUCKET"])
        break
    except (bx.EndpointConnectionError, bx.ClientError):
        time.sleep(2)
else:
    raise SystemExit(f"cannot reach {os.environ['MLFLOW_S3_ENDPOINT_URL']}")
PY
cat >/tmp/basic_auth.ini <<INI
[mlflow]
default_permission = EDIT
database_uri = postgresql://mlflow@${MLCI_PG_HOST}:5432/mlflow_auth
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH=/tmp/basic_auth.ini MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
exec mlflow server --backend-store-uri "postgresql://mlflow@${MLCI_PG_HOST}:5432/mlflow" \
  --serve-artifacts --artifacts-destination "s3://${MLCI_S3_BUCKET}/artifacts" \
  --app-name basic-auth --host 0.0.0.0 --port 5000 --workers "${MLFLOW_WORKERS:-2}" \
  --allowed-hosts "*" --uvicorn-opts "--timeout-worker-healthcheck 120"
