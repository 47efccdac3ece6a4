"""Configuration as Code applied to the double: what a JCasC apply changes on a controller.

Modelled from the sources of the plugins pinned in jenkins/plugins.txt:

- Variables: `${VAR}` is the controller's environment variable (unset: empty string, as JCasC's
  SecretSourceResolver leaves an unresolved variable), `${VAR:-default}` falls back to the
  default when VAR is unset; `^${...}` escapes.
- `credentials.system.domainCredentials`: the credentials plugin's JCasC support sets the whole
  map of the global store (`SystemCredentialsProvider.setDomainCredentialsMap`): every
  credential not listed is gone after an apply, the listed ones are re-created from the YAML
  (an empty `${VAR:-}` becomes an empty user name). Without a `credentials:` section the store
  is left alone. Folder stores are never touched by JCasC.
- `jenkins.crumbIssuer`: core 2.555.1+ `DefaultCrumbIssuer` has a no-argument
  `@DataBoundConstructor` and no setters, so any attribute under `standard:` is unknown, and
  JCasC rejects unknown attributes (`ConfigurationContext` default `Unknown.reject`).
- `jenkins.securityRealm.local` (core `HudsonPrivateSecurityRealm`): its users are created or
  updated (password; an existing user keeps its API token), and every user's authorities are
  only `authenticated`: no groups, so a group named in an input's `submitter` matches nobody
  (pipeline-input-step `InputStepExecution.canSettle`).
- `jenkins.authorizationStrategy.globalMatrix`: each user gets the double's role whose
  permissions are exactly its own entry's plus `authenticated`'s (`admin` with
  Overall/Administer); a set no role has is a CascError (the double's roles are fixed sets).
- `jenkins.numExecutors`, `jenkins.nodes` (permanent agents: name, labels, executors),
  `jenkins.globalNodeProperties` envVars, `unclassified.location.url`, the realm's users and
  the matrix entries are recorded (`nodes`, `global_env`, `location_url`, `casc_users`,
  `matrix`) for tests to inspect.
- `unclassified.globalLibraries.libraries` (pipeline-groovy-lib `GlobalLibraries`): each
  library's name and its `retriever.modernSCM.scm.git.remote` are recorded (`libraries`); the
  list replaces the previous one. Jenkinsfiles' `@Library('name@v')` resolve against it
  (declarative.py).

Not modelled: the rest of JCasC (other root elements pass through unchecked), secret sources
other than the environment, `casc.reload`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from tests.jenkins.double.common import ROLES, User
from tests.jenkins.double.credentials import Credential

if TYPE_CHECKING:
    from tests.jenkins.double.jobs import Item

USERPASS = "com.cloudbees.plugins.credentials.impl.UsernamePasswordCredentialsImpl"
STRING = "org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl"
_VAR = re.compile(r"\^?\$\{([A-Za-z_][A-Za-z0-9_.]*)(?::-([^}]*))?\}")


class CascError(Exception):
    """JCasC refused the configuration (the controller would not start with it)."""


@dataclass
class Node:
    name: str
    labels: tuple[str, ...]
    executors: int


@dataclass
class CascState:
    builtin_executors: int = 2  # a fresh controller's default
    nodes: list[Node] = field(default_factory=list)
    global_env: dict[str, str] = field(default_factory=dict)
    location_url: str | None = None
    casc_users: list[str] = field(default_factory=list)
    matrix: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (kind, name) -> perms
    libraries: dict[str, str] = field(default_factory=dict)  # global library name -> git remote


def resolve(text: str, environ: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(0).startswith("^"):
            return m.group(0)[1:]
        name, default = m.group(1), m.group(2)
        if name in environ:
            return environ[name]
        return default if default is not None else ""

    return _VAR.sub(one, text)


def _resolved(node: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return resolve(node, environ)
    if isinstance(node, list):
        return [_resolved(n, environ) for n in node]
    if isinstance(node, dict):
        return {k: _resolved(v, environ) for k, v in node.items()}
    return node


def _credential(entry: dict[str, Any]) -> Credential:
    (kind, attrs), *_ = entry.items()
    if kind == "usernamePassword":
        cls, names = USERPASS, ("scope", "id", "description", "username", "password")
    elif kind == "string":
        cls, names = STRING, ("scope", "id", "description", "secret")
    else:
        raise CascError(f"credentials: unknown credential type '{kind}'")
    fields = {n: "" if attrs.get(n) is None else str(attrs.get(n)) for n in names}
    return Credential(cls, fields)


def _role_for(name: str, perms: set[str]) -> str:
    if "Overall/Administer" in perms:
        return "admin"
    for role, granted in ROLES.items():
        if granted == perms:
            return role
    raise CascError(f"user {name}: the double has no role with exactly {sorted(perms)}")


class CascMixin:
    """`apply_casc` and the credentials a job can bind (`visible_credentials`)."""

    root: Item
    casc: CascState
    users: dict[str, User]

    def apply_casc(self, text: str, environ: Mapping[str, str]) -> None:
        """Apply a JCasC YAML document with `environ` as the controller's environment."""
        doc = _resolved(yaml.safe_load(text) or {}, environ)
        jenkins = doc.get("jenkins") or {}
        crumb = jenkins.get("crumbIssuer")
        if isinstance(crumb, dict) and isinstance(crumb.get("standard"), dict):
            unknown = sorted(crumb["standard"])
            if unknown:
                raise CascError(
                    "Invalid configuration elements for type: class "
                    "hudson.security.csrf.DefaultCrumbIssuer : " + ", ".join(unknown)
                )
        state = getattr(self, "casc", None) or CascState()
        if "numExecutors" in jenkins:
            state.builtin_executors = int(jenkins["numExecutors"])
        if "nodes" in jenkins:
            state.nodes = []
            for entry in jenkins["nodes"] or []:
                agent = entry.get("permanent") or {}
                state.nodes.append(
                    Node(
                        agent.get("name", ""),
                        tuple(str(agent.get("labelString", "")).split()),
                        int(agent.get("numExecutors", 1)),
                    )
                )
        for prop in jenkins.get("globalNodeProperties") or []:
            for pair in (prop.get("envVars") or {}).get("env") or []:
                state.global_env[str(pair["key"])] = str(pair.get("value") or "")
        realm = (jenkins.get("securityRealm") or {}).get("local") or {}
        if realm:
            state.casc_users = [str(u["id"]) for u in realm.get("users") or []]
        matrix = (jenkins.get("authorizationStrategy") or {}).get("globalMatrix")
        if matrix:
            state.matrix = {}
            for entry in matrix.get("entries") or []:
                (kind, attrs), *_ = entry.items()
                state.matrix[(kind, str(attrs["name"]))] = list(attrs.get("permissions") or [])
        if realm:
            for entry in realm.get("users") or []:
                uid, old = str(entry["id"]), self.users.get(str(entry["id"]))
                self.users[uid] = User(
                    uid, str(entry.get("password") or ""), old.token if old else None
                )
            for user in self.users.values():
                user.groups = ()  # the local realm grants `authenticated` only
        if state.matrix:
            everyone = set(state.matrix.get(("group", "authenticated"), []))
            for user in self.users.values():
                perms = everyone | set(state.matrix.get(("user", user.name), []))
                user.role = _role_for(user.name, perms)
        libs = ((doc.get("unclassified") or {}).get("globalLibraries") or {}).get("libraries")
        if libs is not None:  # GlobalLibraries.setLibraries: the whole list
            state.libraries = {}
            for lib in libs or []:
                scm = ((lib.get("retriever") or {}).get("modernSCM") or {}).get("scm") or {}
                remote = (scm.get("git") or {}).get("remote")
                if not lib.get("name"):
                    raise CascError(f"globalLibraries: library {lib!r} has no name")
                state.libraries[str(lib["name"])] = str(remote or "")
        location = (doc.get("unclassified") or {}).get("location") or {}
        if "url" in location:
            state.location_url = location["url"]
        system = (doc.get("credentials") or {}).get("system")
        if system is not None:
            replaced: dict[str, Credential] = {}
            for domain in system.get("domainCredentials") or []:
                for entry in domain.get("credentials") or []:
                    cred = _credential(entry)
                    replaced[cred.id] = cred
            self.root.credentials = replaced  # the whole global store, as setDomainCredentialsMap
        self.casc = state

    def visible_credentials(self, job: str) -> dict[str, str]:
        """Credential id -> store ('system' or a folder) that `job` can bind, nearest first,
        as credentials' FolderCredentialsProvider and SystemCredentialsProvider look them up."""
        item = self._find(job)  # type: ignore[attr-defined]
        found: dict[str, str] = {}
        folder = item.parent
        while folder is not None and not folder.is_root:
            for cred_id in folder.credentials:
                found.setdefault(cred_id, folder.full_name)
            folder = folder.parent
        for cred_id in self.root.credentials:
            found.setdefault(cred_id, "system")
        return found
