"""The text of the deploy job's approval input: the facts an approver decides on.

For a deployment: the model version's gate verdict and primary metric, its dataset and commit,
its approval state so far, and a link to the champion-vs-challenger report of the training
build that registered it (tag `ci.build_url` + the HTML Publisher page `model-report`). For a
rollback: what the environment serves now and what a rollback does. The inputs are the JSON
that `mlci model show --json` and `mlci deploy status ENV --json` print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ml.errors import InputError
from ml.registry import tags as T

# reportName of publishHTML in the Jenkinsfile; HTML Publisher keeps letters, digits and '-'
# in the page's URL segment as they are (HtmlPublisherTarget.sanitizeReportName).
REPORT_PAGE = "model-report"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read it ({e.strerror})") from None
    except ValueError as e:
        raise InputError(f"{path}: not JSON ({e})") from None


def report_url(build_url: str | None) -> str | None:
    return f"{build_url.rstrip('/')}/{REPORT_PAGE}/" if build_url else None


def deploy_message(version: dict[str, Any], environment: str = "production") -> str:
    """The approval question for deploying `version` (`mlci model show --json` output)."""
    try:
        name, number = version["name"], version["version"]
    except (KeyError, TypeError):
        raise InputError(
            "not the output of `mlci model show --json`: no name and version"
        ) from None
    tags = version.get("tags") or {}
    verdict = tags.get(T.GATE_VERDICT, "not evaluated")
    metric = tags.get(T.GATE_PRIMARY_METRIC)
    commit = tags.get(T.GIT_COMMIT, "unknown")
    lines = [
        f"Deploy {name} version {number} to {environment}?",
        f"Gate: {verdict}" + (f" ({metric})" if metric else ""),
        f"Dataset: {tags.get(T.DATASET_VERSION, 'unknown')} "
        f"(digest {tags.get(T.DATASET_DIGEST, 'unknown')})",
        f"Commit: {commit[:12]} on {tags.get(T.GIT_BRANCH, 'unknown')}",
        f"Approval so far: {version.get('approval', 'pending')}",
    ]
    url = report_url(tags.get(T.CI_BUILD_URL))
    lines.append(
        f"Report: {url}"
        if url
        else "Report: not linked (registered without --build-url; see the training build)"
    )
    return "\n".join(lines)


def rollback_message(status: list[dict[str, Any]] | dict[str, Any], environment: str) -> str:
    """The approval question for rolling `environment` back (`mlci deploy status ENV --json`)."""
    rows = status if isinstance(status, list) else [status]
    row = next((r for r in rows if isinstance(r, dict) and r.get("env") == environment), None)
    if row is None:
        raise InputError(
            f"no environment {environment!r} in the `mlci deploy status --json` output"
        )
    now = f"{row['model']} version {row['version']}" if row.get("version") else "nothing running"
    by = (
        f", deployed by {row['deployed_by']} at {row['deployed_at']}"
        if row.get("deployed_by")
        else ""
    )
    return "\n".join(
        [
            f"Roll {environment} back to the version that served before the current one?",
            f"Now serving: {now}{by} (state {row.get('state')}, health {row.get('health')})",
            "The previous version is redeployed with the same checks as a deploy "
            "(approval, smoke test; the current one keeps serving if they fail).",
        ]
    )
