"""Proof kind `local-ed25519`: the approver's own key signs the statement.

The private key lives outside any workspace: `approval.key_file`, default
`$XDG_CONFIG_HOME/mlci/approver-ed25519.pem` (`~/.config/mlci/...`), created on first use with
mode 600 in a mode-700 folder, refused when group or others can read it. Its public half sits
next to it (`approver-ed25519.pub`, one line `ed25519:<base64> <user>@<host>`), and that line is
what goes into `approval.trusted_keys` in mlci.yaml.

Which keys are trusted: those in `approval.trusted_keys`. When that list is empty, the key of
the user running mlci is trusted, but only outside CI (none of CI_MARKERS set): on a laptop
`mlci model approve` then `mlci model push` just works, while a Jenkins agent, whose home any
branch's Jenkinsfile can write, never trusts a key that mlci.yaml does not list.

Evidence: {"key": "ed25519:<base64 public key>", "sig": "<base64 signature>"}; the signature
covers `Statement.canonical()`. The private key is never logged, tagged or archived.
"""

from __future__ import annotations

import base64
import getpass
import os
import socket
import stat
from pathlib import Path
from typing import Any

from ml.config import Settings
from ml.errors import ConfigError, InputError, NotApproved
from ml.registry.approval import Statement

KEY_NAME = "approver-ed25519.pem"
PREFIX = "ed25519:"
CI_MARKERS = ("JENKINS_URL", "BUILD_URL", "GITLAB_CI", "GITHUB_ACTIONS")


def default_key_file(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "mlci" / KEY_NAME


def key_file(settings: Settings) -> Path:
    """Where the approver key lives; ConfigError when that is inside the project folder."""
    configured = settings.approval.key_file
    path = (settings.path(configured.expanduser()) if configured else default_key_file()).resolve()
    root = settings.root.resolve()
    if path == root or root in path.parents:
        raise ConfigError(
            f"approval.key_file {path} is inside the project folder {root}: a private key "
            f"must not live in a workspace (CI archives, caches and shares it); use a path "
            f"under $XDG_CONFIG_HOME or ~/.config"
        )
    return path


def public_id(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public(entry: str) -> Any:
    """`ed25519:<base64>[ label]` -> an Ed25519 public key; ValueError when malformed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    token = entry.strip().split()[0] if entry.strip() else ""
    if not token.startswith(PREFIX):
        raise ValueError(f"expected {PREFIX}<base64>, got {entry!r}")
    try:
        raw = base64.b64decode(token[len(PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise ValueError(f"{entry!r} is not an Ed25519 public key ({e})") from None


def in_ci(environ: dict[str, str] | None = None) -> str | None:
    """The CI marker variable that is set, or None on a laptop."""
    env = os.environ if environ is None else environ
    return next((v for v in CI_MARKERS if env.get(v)), None)


class LocalKeyProof:
    kind = "local-ed25519"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.created: Path | None = None  # set when issue() created the key

    # -- the key ----------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return key_file(self.settings)

    def _load(self, path: Path) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise InputError(
                f"approver key {path} has mode {mode:o}: group or others can read it; "
                f"`chmod 600 {path}` (or delete it to make a new one)"
            )
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError):
            raise InputError(f"approver key {path} is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(f"approver key {path} is not an Ed25519 key")
        return key

    def _create(self, path: Path) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another mlci made it meanwhile
            return self._load(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        label = f"{getpass.getuser()}@{socket.gethostname()}"
        pub = path.with_suffix(".pub")
        pub.write_text(f"{public_id(key.public_key())} {label}\n", encoding="utf-8")
        self.created = path
        return key

    def private_key(self, create: bool = True) -> Any | None:
        path = self.path
        if path.exists():
            return self._load(path)
        return self._create(path) if create else None

    def public_line(self) -> str:
        """The line to put under approval.trusted_keys for this machine's key."""
        key = self.private_key(create=False)
        if key is None:
            raise InputError(f"no approver key at {self.path} yet; `mlci model approve` makes it")
        pub = self.path.with_suffix(".pub")
        if pub.is_file():
            return pub.read_text(encoding="utf-8").strip()
        return public_id(key.public_key())

    # -- trust ------------------------------------------------------------------------------
    def trusted(self) -> dict[str, str]:
        """Trusted public ids -> where the trust comes from."""
        listed = self.settings.approval.trusted_keys
        if listed:
            out = {}
            for entry in listed:
                try:
                    parse_public(entry)
                except ValueError as e:
                    raise ConfigError(f"approval.trusted_keys: {e}") from None
                out[entry.split()[0]] = "approval.trusted_keys"
            return out
        if in_ci():
            return {}
        own = self.private_key(create=False)
        return {public_id(own.public_key()): f"this machine's key {self.path}"} if own else {}

    # -- the proof --------------------------------------------------------------------------
    def issue(self, statement: Statement) -> dict[str, Any]:
        key = self.private_key(create=True)
        signature = key.sign(statement.canonical())
        return {
            "key": public_id(key.public_key()),
            "sig": base64.b64encode(signature).decode("ascii"),
        }

    def verify(self, statement: Statement, evidence: dict[str, Any]) -> None:
        from cryptography.exceptions import InvalidSignature

        what = statement.describe()
        key_id = str(evidence.get("key", ""))
        trusted = self.trusted()
        if key_id not in trusted:
            if trusted:
                why = "it is not listed in approval.trusted_keys in mlci.yaml"
            elif self.settings.approval.trusted_keys == [] and in_ci():
                why = (
                    f"approval.trusted_keys in mlci.yaml is empty, and in CI ({in_ci()} is "
                    f"set) an unlisted key is never trusted: list the approvers' public keys"
                )
            else:
                why = "approval.trusted_keys is empty and this machine has no approver key"
            raise NotApproved(
                f"the approval of {what} by {statement.by!r} is signed by key {key_id[:20]}..., "
                f"which is not trusted: {why}"
            )
        try:
            public = parse_public(key_id)
            signature = base64.b64decode(str(evidence.get("sig", "")), validate=True)
            public.verify(signature, statement.canonical())
        except (ValueError, InvalidSignature):
            raise NotApproved(
                f"the signature on the approval of {what} does not match its statement "
                f"(key {key_id[:20]}..., {trusted[key_id]}): the proof was altered or forged"
            ) from None
