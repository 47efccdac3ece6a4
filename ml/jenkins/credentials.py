"""Jenkins credentials for the pipelines: the one place that creates and updates them.

JCasC does not manage credentials (jenkins/casc.yaml has no `credentials:` section): JCasC's
`credentials:` replaces the whole global store on every apply (credentials plugin,
`SystemCredentialsProvider.setDomainCredentialsMap`), wiping what was added by hand or by this
module. `mlci jenkins credentials apply` creates or updates each credential through the REST API
in the folder store of the jobs that need it, and nowhere else (least privilege: a credential in
a folder store can be bound only by jobs inside that folder):

- `mlci-mlflow` (MLFLOW_TRACKING_USERNAME/PASSWORD): jenkins.folder itself, every pipeline;
- `mlci-registry` (registry.username_env/password_env): `<folder>/release`, the deploy job;
- `mlci-jenkins` (MLCI_JENKINS_BOT_USER/TOKEN, the CI bot): `<folder>/ct`, where the retrain
  job queues training with it, and `<folder>/release`, where the deploy job reads the approval
  input back through the Jenkins API (the approval proof).

Training branch jobs (`<folder>/train/<branch>`) therefore cannot bind the registry login or the
bot token. The global (system) store is refused: every job, so every branch's Jenkinsfile, can
bind a credential there.

Secrets travel only in the XML body of a POST to the credentials store; they are never part of
a URL, a message or a return value.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from ml.config import Settings
from ml.errors import InputError
from ml.jenkins.client import XML_HEADERS, JenkinsClient
from ml.jenkins.jobs import (
    JENKINS_CREDENTIALS_ID,
    MLFLOW_CREDENTIALS_ID,
    REGISTRY_CREDENTIALS_ID,
)

USERPASS = "com.cloudbees.plugins.credentials.impl.UsernamePasswordCredentialsImpl"

# Sub-folders of jenkins.folder that hold the jobs needing a scoped credential. The job layout
# (jenkins/jobs, `mlci jenkins apply`) puts the deploy job in RELEASE_FOLDER and the retrain
# job in CT_FOLDER; the multibranch training project stays at <folder>/train.
RELEASE_FOLDER = "release"
CT_FOLDER = "ct"
SCOPED_JOBS = {RELEASE_FOLDER: "the deploy job", CT_FOLDER: "the retrain job"}
# The bot user's id and API token for the retrain job: a user of its own (casc.yaml creates
# it), never the operator's token from jenkins.user_env/token_env.
BOT_USER_ENV = "MLCI_JENKINS_BOT_USER"
BOT_TOKEN_ENV = "MLCI_JENKINS_BOT_TOKEN"
MLFLOW_USER_ENV = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"


@dataclass(frozen=True)
class CredentialSpec:
    id: str
    description: str
    username: str
    password: str = field(repr=False)
    source: str = ""  # the env vars it came from, for messages
    folders: tuple[str, ...] = ("",)  # relative to jenkins.folder; "" = jenkins.folder itself

    def xml(self) -> str:
        root = ET.Element(USERPASS)
        for tag, value in (
            ("scope", "GLOBAL"),
            ("id", self.id),
            ("description", self.description),
            ("username", self.username),
            ("password", self.password),
        ):
            ET.SubElement(root, tag).text = value
        return ET.tostring(root, encoding="unicode")


@dataclass(frozen=True)
class CredentialHome:
    """Where one credential lives and which variables fill it."""

    id: str
    description: str
    user_env: str
    password_env: str
    folders: tuple[str, ...]  # relative to jenkins.folder; "" = jenkins.folder itself


def credential_homes(settings: Settings) -> list[CredentialHome]:
    return [
        CredentialHome(
            REGISTRY_CREDENTIALS_ID,
            f"image registry {settings.registry.url}, for the deploy job",
            settings.registry.username_env,
            settings.registry.password_env,
            (RELEASE_FOLDER,),
        ),
        CredentialHome(
            MLFLOW_CREDENTIALS_ID,
            "MLflow tracking server",
            MLFLOW_USER_ENV,
            MLFLOW_PASSWORD_ENV,
            ("",),
        ),
        CredentialHome(
            JENKINS_CREDENTIALS_ID,
            "Jenkins API as the CI bot: retrain queues training, deploy checks approvals",
            BOT_USER_ENV,
            BOT_TOKEN_ENV,
            (CT_FOLDER, RELEASE_FOLDER),
        ),
    ]


def store_of(settings: Settings, folder: str) -> str:
    """The full name of a credential's folder (`folder` relative to jenkins.folder)."""
    parts = [p for p in (settings.jenkins.folder.strip("/"), folder) if p]
    if not parts:
        raise InputError(
            "jenkins.folder is empty: mlci keeps its credentials in folder stores, never in "
            "the global store; set jenkins.folder in mlci.yaml (default 'ml')"
        )
    return "/".join(parts)


def desired_credentials(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[list[CredentialSpec], list[str]]:
    """The credentials whose variables are set, and notes on those skipped.

    A pair with neither variable set is skipped; one set without the other, or a variable set
    to an empty (or blank) value, is an error naming the variable: Jenkins would store a
    credential with an empty user name or password, and every build using it would fail late.
    """
    env = os.environ if environ is None else environ
    homes = credential_homes(settings)
    specs, skipped = [], []
    for home in homes:
        user_var, pass_var = home.user_env, home.password_env
        present = [v for v in (user_var, pass_var) if v in env]
        for var in present:
            if not env[var].strip():
                raise InputError(
                    f"{var} is set but empty: set it to the value for the Jenkins credential "
                    f"'{home.id}', or unset both {user_var} and {pass_var} to skip it"
                )
        if len(present) == 2:
            specs.append(
                CredentialSpec(
                    home.id,
                    f"{home.description} (mlci)",
                    env[user_var],
                    env[pass_var],
                    f"{user_var}/{pass_var}",
                    home.folders,
                )
            )
        elif present:
            missing = pass_var if present[0] == user_var else user_var
            raise InputError(
                f"{missing} is not set but {present[0]} is: "
                f"set both to create the Jenkins credential '{home.id}'"
            )
        else:
            skipped.append(f"{home.id}: {user_var} and {pass_var} not set")
    if not specs:
        raise InputError(
            "no credentials to apply: set "
            + "; ".join(f"{h.user_env} and {h.password_env} (for '{h.id}')" for h in homes)
        )
    return specs, skipped


def apply_credentials(
    client: JenkinsClient,
    settings: Settings,
    specs: list[CredentialSpec],
    store: str | None = None,
) -> list[tuple[str, str, str]]:
    """Create each credential in its folder store (or `store`, a folder's full name), or update
    it when the id exists there (409). Returns (id, store, action) per credential and store."""
    if store is not None and store.strip("/") in ("", "system"):
        raise InputError(
            f"--store {store or repr(store)}: mlci does not write to the global credentials "
            "store (every job, so every branch's Jenkinsfile, can bind credentials there); "
            "leave --store out to use each credential's folder, or name a folder"
        )
    done = []
    for spec in specs:
        if store:
            targets = [(store.strip("/"), "")]
        else:
            targets = [(store_of(settings, f), f) for f in spec.folders]
        for target, folder in targets:
            done.append((spec.id, target, _apply_one(client, spec, target, folder)))
    return done


def _apply_one(client: JenkinsClient, spec: CredentialSpec, target: str, folder: str) -> str:
    base = client.credentials_path(target)
    missing = (
        f"credentials store of folder '{target}' not found (does the folder exist? run "
        "`mlci jenkins apply` first; the credentials plugin must be installed)"
    )
    if folder in SCOPED_JOBS:
        missing += (
            f"; {spec.id} is kept there for {SCOPED_JOBS[folder]} only: its job file "
            f"belongs in jenkins/jobs/{folder}/"
        )
    response = client.request(
        "POST",
        base + "createCredentials",
        data=spec.xml(),
        headers=XML_HEADERS,
        not_found=missing,
        accept=(409,),
    )
    if response.status_code != 409:
        return "created"
    client.request(
        "POST",
        f"{base}credential/{spec.id}/config.xml",
        data=spec.xml(),
        headers=XML_HEADERS,
        not_found=missing,
    )
    return "updated"
