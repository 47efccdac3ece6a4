"""Job definitions in `jenkins/jobs/*.xml` and `apply`: make the controller match them.

Each file is one item's config.xml, named after the item and its place under jenkins.folder
(`train.xml` -> `<folder>/train`, `release/deploy.xml` -> `<folder>/release/deploy`), with
`${variable}` placeholders filled from settings (see `template_vars`). Sub-folders become
Jenkins folders: credentials are scoped to them (ml/jenkins/credentials.py), so the deploy job
alone sees the registry login and the retrain job alone the bot token. `plan()` compares the
controller's config with the rendered file and `apply()` writes only what differs, so a second
run makes zero writes.

The comparison is "desired is contained in actual": every element, attribute (except the
`plugin="name@version"` attributes Jenkins adds) and text in the file must be present in the
controller's config.xml, in order; extra elements that Jenkins adds on save are ignored.
Removing an element from a file therefore does not by itself trigger an update. Job properties
(children of `<properties>`) are a set in Jenkins, compared in any order.

A pipeline job's parameters and cron triggers are not written in its file: they are read from
its Jenkinsfile (`scriptPath`, relative to the project root) and put into the config.xml as
Declarative itself writes them on every run (ml/jenkins/declarative.py), so a build changes
nothing `apply` compares and the parameters exist before the first run.
"""

from __future__ import annotations

import difflib
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

from ml.config import Settings
from ml.errors import InputError
from ml.jenkins import declarative, library
from ml.jenkins.client import JenkinsClient

FOLDER_XML = (
    "<com.cloudbees.hudson.plugins.folder.Folder>"
    "<description>mlci jobs, managed by `mlci jenkins apply`</description>"
    "</com.cloudbees.hudson.plugins.folder.Folder>"
)
# Credential ids shared by the Jenkinsfiles, casc.yaml and `mlci jenkins credentials apply`.
REGISTRY_CREDENTIALS_ID = "mlci-registry"
MLFLOW_CREDENTIALS_ID = "mlci-mlflow"
JENKINS_CREDENTIALS_ID = "mlci-jenkins"  # lets the retrain job call the Jenkins API
STATE_CREDENTIALS_ID = "mlci-state"  # PGUSER/PGPASSWORD of state.url (deploy history, locks)
SCM_BRANCH = "main"


@dataclass(frozen=True)
class JobDefinition:
    name: str  # full name on the controller, e.g. ml/release/deploy
    source: Path
    config_xml: str


@dataclass(frozen=True)
class Change:
    action: str  # create-folder | create | update | unchanged
    name: str
    config_xml: str
    diff: str = ""


def scm_url(settings: Settings) -> str:
    """jenkins.scm_url, else the `origin` remote of the project's git checkout."""
    if settings.jenkins.scm_url:
        return settings.jenkins.scm_url
    try:
        out = subprocess.run(
            ["git", "-C", str(settings.root), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        out = None
    if out is None or out.returncode != 0 or not out.stdout.strip():
        raise InputError(
            "jenkins.scm_url is not set and the project has no git remote 'origin': set "
            "jenkins.scm_url in mlci.yaml (or MLCI_JENKINS__SCM_URL) to the repository URL "
            "Jenkins should check out"
        )
    return out.stdout.strip()


def template_vars(settings: Settings) -> dict[str, str]:
    return {
        "folder": settings.jenkins.folder,
        "scm_url": scm_url(settings),
        "scm_credentials_id": settings.jenkins.scm_credentials_id,
        "scm_branch": SCM_BRANCH,
        "model_name": settings.mlflow.model_name,
        "registry_credentials_id": REGISTRY_CREDENTIALS_ID,
        "mlflow_credentials_id": MLFLOW_CREDENTIALS_ID,
        "jenkins_credentials_id": JENKINS_CREDENTIALS_ID,
    }


def jobs_dir(settings: Settings) -> Path:
    """jenkins.jobs_dir; when that folder does not exist in the project (a user's repository
    has none), the job templates shipped with mlci (the same jobs for every project: names and
    credentials scope come from jenkins.folder)."""
    configured = settings.path(settings.jenkins.jobs_dir)
    if configured.is_dir():
        return configured
    templates = library.shipped("jenkins", "jobs")
    return templates if templates.is_dir() else configured


def load_definitions(settings: Settings, directory: Path | None = None) -> list[JobDefinition]:
    """Render every `*.xml` in the jobs folder; errors name the file and what is wrong."""
    directory = directory or jobs_dir(settings)
    files = sorted(directory.rglob("*.xml")) if directory.is_dir() else []
    if not files:
        raise InputError(
            f"{directory}: no job definitions (*.xml) found; set jenkins.jobs_dir "
            "in mlci.yaml or pass --jobs-dir"
        )
    values = {k: escape(v) for k, v in template_vars(settings).items()}
    folder = settings.jenkins.folder.strip("/")
    out = []
    for path in files:
        try:
            text = Template(path.read_text(encoding="utf-8")).substitute(values)
        except KeyError as e:
            raise InputError(
                f"{path}: unknown placeholder ${{{e.args[0]}}}; known: " + ", ".join(sorted(values))
            ) from None
        except ValueError as e:
            raise InputError(f"{path}: bad placeholder ({e}); write a literal $ as $$") from None
        try:
            root = ET.fromstring(text.encode("utf-8"))
        except ET.ParseError as e:
            raise InputError(f"{path}: not well-formed XML: {e}") from None
        text = with_declared_properties(settings, path, root, text)
        relative = path.relative_to(directory).with_suffix("").as_posix()
        name = f"{folder}/{relative}" if folder else relative
        out.append(JobDefinition(name, path, text))
    return out


def with_declared_properties(settings: Settings, path: Path, root: ET.Element, text: str) -> str:
    """A pipeline job's XML with the parameters and cron triggers of its Jenkinsfile."""
    script = root.findtext("definition/scriptPath")
    if root.tag != "flow-definition" or not script:
        return text
    props = root.find("properties")
    for managed in declarative.MANAGED:
        if props is not None and props.find(managed) is not None:
            raise InputError(
                f"{path}: defines {managed.rsplit('.', 1)[-1]}, which Declarative rewrites from "
                f"{script} on every run; declare it only in the Jenkinsfile"
            )
    jenkinsfile = settings.root / script
    if not jenkinsfile.is_file():
        raise InputError(
            f"{path}: its Jenkinsfile {script} (scriptPath) is not at {jenkinsfile}; run "
            "`mlci jenkins apply` from the repository whose jobs these are"
        )
    elements = declarative.property_elements(
        declarative.read_jenkinsfile(jenkinsfile, settings.root)
    )
    if not elements:
        return text
    if props is None:
        props = ET.Element("properties")
        root.insert(0, props)
    props.extend(elements)
    return "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode")


def _strip(el: ET.Element) -> ET.Element:
    el.attrib.pop("plugin", None)
    for child in el:
        _strip(child)
    return el


def _contains(actual: ET.Element, desired: ET.Element) -> bool:
    if actual.tag != desired.tag:
        return False
    for k, v in desired.attrib.items():
        if actual.attrib.get(k) != v:
            return False
    if len(desired) == 0 and (desired.text or "").strip() != (actual.text or "").strip():
        return False
    pool = list(actual)
    if desired.tag == "properties":  # a set of job properties: any order
        return all(any(_contains(a, want) for a in pool) for want in desired)
    i = 0
    for want in desired:
        while i < len(pool) and not _contains(pool[i], want):
            i += 1
        if i == len(pool):
            return False
        i += 1
    return True


def same_config(actual_xml: str, desired_xml: str) -> bool:
    try:
        actual = _strip(ET.fromstring(actual_xml.encode("utf-8")))
    except ET.ParseError:
        return False
    return _contains(actual, _strip(ET.fromstring(desired_xml.encode("utf-8"))))


def _pretty(xml: str) -> list[str]:
    try:
        root = _strip(ET.fromstring(xml.encode("utf-8")))
    except ET.ParseError:
        return xml.splitlines()
    for el in root.iter():
        if len(el):
            el.text = None
        el.tail = None
        if el.text is not None:
            el.text = el.text.strip()
    ET.indent(root)
    return ET.tostring(root, encoding="unicode").splitlines()


def config_diff(name: str, actual_xml: str, desired_xml: str) -> str:
    lines = difflib.unified_diff(
        _pretty(actual_xml),
        _pretty(desired_xml),
        f"{name} (controller)",
        f"{name} (jenkins/jobs)",
        lineterm="",
    )
    return "\n".join(lines)


def plan(
    client: JenkinsClient, settings: Settings, definitions: list[JobDefinition]
) -> list[Change]:
    """What `apply` would do, without writing anything."""
    changes: list[Change] = []
    missing: set[str] = set()
    for folder in _folders(settings, definitions):
        parent = folder.rpartition("/")[0]
        if parent in missing or not client.item_exists(folder):
            missing.add(folder)
            changes.append(Change("create-folder", folder, FOLDER_XML))
    for d in definitions:
        current = None if d.name.rpartition("/")[0] in missing else client.get_config(d.name)
        if current is None:
            changes.append(
                Change("create", d.name, d.config_xml, config_diff(d.name, "", d.config_xml))
            )
        elif same_config(current, d.config_xml):
            changes.append(Change("unchanged", d.name, d.config_xml))
        else:
            changes.append(
                Change("update", d.name, d.config_xml, config_diff(d.name, current, d.config_xml))
            )
    return changes


def _folders(settings: Settings, definitions: list[JobDefinition]) -> list[str]:
    """jenkins.folder and every folder the definitions sit in, parents first."""
    out: list[str] = []
    names = [f"{settings.jenkins.folder.strip('/')}/_"] + [d.name for d in definitions]
    for name in names:
        prefix = ""
        for part in [p for p in name.split("/")[:-1] if p]:
            prefix = f"{prefix}/{part}" if prefix else part
            if prefix not in out:
                out.append(prefix)
    return out


def apply(client: JenkinsClient, changes: list[Change]) -> None:
    """Carry out a plan in order (folders first)."""
    for c in changes:
        if c.action in ("create-folder", "create"):
            client.create_item(c.name, c.config_xml)
        elif c.action == "update":
            client.update_item(c.name, c.config_xml)
