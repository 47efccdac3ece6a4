"""The mlci error hierarchy. Library code raises these; only the CLI turns them into exits.

Exit codes are part of the interface (Jenkins stages and scripts branch on them):

    0  success
    1  a check ran and said no: data validation failed, evaluation gate failed, build failed
    2  bad input: configuration, arguments, unreadable or missing files
    3  refused by policy: model version not approved
    4  an external service failed or is unreachable: MLflow, Docker, the registry, Jenkins
    5  a deployment failed and was rolled back
"""

from __future__ import annotations


class MlciError(Exception):
    """Base class: a failure the user can act on, with a message that says how."""

    exit_code: int = 1


class CheckFailed(MlciError):
    """A check ran to completion and did not pass (validation, gate, smoke test)."""

    exit_code = 1


class ValidationFailed(CheckFailed):
    """The dataset broke its data contract."""


class GateFailed(CheckFailed):
    """The candidate model missed a threshold or regressed against the champion."""


class InputError(MlciError):
    """A file, argument or value given by the user is missing or malformed."""

    exit_code = 2


class ConfigError(InputError):
    """mlci.yaml or an MLCI_* variable is wrong; the message names the field."""


class NotApproved(MlciError):
    """A model version lacks the approval an action requires."""

    exit_code = 3


class ServiceError(MlciError):
    """MLflow, Docker, an image registry or Jenkins failed or could not be reached."""

    exit_code = 4


class DeployFailed(MlciError):
    """A deployment failed its checks; the previous version keeps serving."""

    exit_code = 5
