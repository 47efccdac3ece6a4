"""Registering a model version for image tests and benchmarks (real training, real MLflow)."""

from __future__ import annotations

from ml.config import Settings

TRAIN_ROWS = 3000


# One realistic request row (the features of mlci.yaml), shared by tests and benchmarks.
ROW = {
    "tenure_months": 3.0,
    "monthly_charges": 80.5,
    "total_charges": 241.5,
    "support_calls": 2.0,
    "senior_citizen": 0.0,
    "contract": "month-to-month",
    "payment_method": "electronic-check",
    "internet_service": "fiber",
}


def register_version(settings: Settings, approve: bool, rows: int | None = TRAIN_ROWS) -> str:
    """Train the project's pipeline on a slice of the bundled data, log and register it."""
    import mlflow
    from mlflow.models import infer_signature

    from ml.data.dataset import read_frame, resolve_dataset
    from ml.registry import ModelRegistry
    from ml.registry import tags as T
    from ml.registry.tracking import connect
    from ml.train.model import build_pipeline, feature_frame
    from ml.train.serialization import TRUSTED_TYPES

    dataset = resolve_dataset(settings)
    frame = read_frame(dataset, settings)
    if rows:
        frame = frame.head(rows)
    X, y = feature_frame(frame, settings), frame[settings.data.target]
    model = build_pipeline(settings).fit(X, y)
    exp_id = connect(settings)
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_metrics({"roc_auc": 0.84, "f1": 0.61})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X, model.predict(X)),
            input_example=X.head(2),
            serialization_format="skops",
            skops_trusted_types=TRUSTED_TYPES,
        )
    reg = ModelRegistry(settings)
    v = reg.register(
        info.model_uri,
        run.info.run_id,
        {
            T.DATASET_VERSION: dataset.version,
            T.DATASET_DIGEST: dataset.digest,
            T.GIT_COMMIT: "0123456789abcdef0123456789abcdef01234567",
            T.APPROVAL_STATUS: "pending",
        },
    )
    if approve:
        reg.approve(None, v.version, by="alice", reason="image tests")
    return v.version
