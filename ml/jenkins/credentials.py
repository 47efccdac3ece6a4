"""Jenkins credentials for the pipelines, created or updated from environment variables.

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
    STATE_CREDENTIALS_ID,
)

USERPASS = "com.cloudbees.plugins.credentials.impl.UsernamePasswordCredentialsImpl"


@dataclass(frozen=True)
class CredentialSpec:
    id: str
    description: str
    username: str
    password: str = field(repr=False)
    source: str = ""  # the env vars it came from, for messages

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


def desired_credentials(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[list[CredentialSpec], list[str]]:
    """The credentials whose variables are set, and notes on those skipped."""
    env = os.environ if environ is None else environ
    pairs = [
        (
            REGISTRY_CREDENTIALS_ID,
            f"image registry {settings.registry.url}",
            settings.registry.username_env,
            settings.registry.password_env,
        ),
        (
            MLFLOW_CREDENTIALS_ID,
            "MLflow tracking server",
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
        ),
        (
            JENKINS_CREDENTIALS_ID,
            "Jenkins API, for the retrain job (use a bot user)",
            settings.jenkins.user_env,
            settings.jenkins.token_env,
        ),
    ]
    if settings.state.shared:  # deploy history and locks in PostgreSQL (docs/team.md)
        pairs.insert(
            2, (STATE_CREDENTIALS_ID, f"PostgreSQL {settings.state.url}", "PGUSER", "PGPASSWORD")
        )
    specs, skipped = [], []
    for cred_id, description, user_var, pass_var in pairs:
        user, password = env.get(user_var, ""), env.get(pass_var, "")
        if user and password:
            specs.append(
                CredentialSpec(
                    cred_id, f"{description} (mlci)", user, password, f"{user_var}/{pass_var}"
                )
            )
        elif user or password:
            missing = pass_var if user else user_var
            raise InputError(
                f"{missing} is not set but {user_var if user else pass_var} is: "
                f"set both to create the Jenkins credential '{cred_id}'"
            )
        else:
            skipped.append(f"{cred_id}: {user_var} and {pass_var} not set")
    if not specs:
        raise InputError(
            "no credentials to apply: set "
            + "; ".join(f"{u} and {p} (for '{c}')" for c, _, u, p in pairs)
        )
    return specs, skipped


def apply_credentials(
    client: JenkinsClient, store: str, specs: list[CredentialSpec]
) -> list[tuple[str, str]]:
    """Create each credential, or update it when the id exists (409). Returns (id, action)."""
    base = client.credentials_path(store)
    missing = (
        f"credentials store of '{store}' not found (does the folder exist? run "
        "`mlci jenkins apply` first; the credentials plugin must be installed)"
    )
    done = []
    for spec in specs:
        response = client.request(
            "POST",
            base + "createCredentials",
            data=spec.xml(),
            headers=XML_HEADERS,
            not_found=missing,
            accept=(409,),
        )
        if response.status_code == 409:
            client.request(
                "POST",
                f"{base}credential/{spec.id}/config.xml",
                data=spec.xml(),
                headers=XML_HEADERS,
                not_found=missing,
            )
            done.append((spec.id, "updated"))
        else:
            done.append((spec.id, "created"))
    return done
