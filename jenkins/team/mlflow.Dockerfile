# The team's MLflow tracking server (jenkins/compose.yaml, service mlflow): PostgreSQL backend,
# artifacts served from S3 (MinIO in compose), basic-auth. Secrets arrive as environment
# variables at run time; none is baked into the image.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
RUN python3 -m pip install --no-cache-dir "mlflow[auth]==3.17.2" "psycopg[binary]==3.3.9" "boto3==1.44.8"
COPY team/mlflow-entrypoint.sh /usr/local/bin/mlflow-entrypoint.sh
USER 65534
EXPOSE 5000
ENTRYPOINT ["/usr/local/bin/mlflow-entrypoint.sh"]
