"""Dataset versions in DVC: `.dvc` records in git, their content in a DVC remote.

A snapshot `<data.dir>/<version>.csv` is tracked by `<version>.csv.dvc` (committed); its bytes
live in a DVC remote, addressed by their MD5 (DVC 3: `files/md5/<2>/<30>`), the same value mlci
stores as `dataset.digest`. The bundled remote is a folder committed inside the repository
(`data/remote/`), so a fresh clone works offline; a team points `dvc.url` at an S3-compatible
bucket (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment).

Reading a record needs no DVC import; fetching and pushing open the DVC repository (about 1.5 s
of imports), and only when the working file is missing or a version is added.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from ml.errors import InputError, ServiceError

if TYPE_CHECKING:
    from ml.config import Settings

# One naming convention for dataset versions, used by `data.version`, `mlci data add --version`
# and the snapshot file name `<data.dir>/<version>.csv`: a letter or digit, then letters, digits,
# dots, underscores or dashes (e.g. 2025Q1, 2025-06-30, v3).
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VERSION_RULE = "a letter or digit, then up to 63 letters, digits, '.', '_' or '-' (e.g. 2025Q1)"


def dvc_file(path: Path) -> Path:
    return path.with_name(path.name + ".dvc")


def dvc_md5(path: Path) -> str | None:
    """The md5 recorded in `<path>.dvc`, or None when the file is not tracked by DVC."""
    meta = dvc_file(path)
    if not meta.is_file():
        return None
    try:
        # BaseLoader keeps every scalar a string: an all-digit md5 must not become an int.
        doc = yaml.load(meta.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
        outs = doc["outs"]
        entry = next(o for o in outs if o.get("path") == path.name) if len(outs) > 1 else outs[0]
        return str(entry["md5"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError, StopIteration):
        raise InputError(f"{meta}: not a DVC file with outs[].md5 for {path.name}") from None


def write_dvc_file(path: Path, md5: str) -> Path:
    """Write `<path>.dvc` as `dvc add` writes it (DVC 3 layout)."""
    meta = dvc_file(path)
    meta.write_text(
        f"outs:\n- md5: {md5}\n  size: {path.stat().st_size}\n  hash: md5\n  path: {path.name}\n",
        encoding="utf-8",
    )
    return meta


def check_version_name(name: str) -> str:
    if not VERSION_RE.fullmatch(name):
        raise InputError(f"dataset version {name!r}: not a valid name; expected {VERSION_RULE}")
    return name


def dvc_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding a `.dvc/` directory (the DVC project)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass
class DataRemote:
    """One DVC remote of one DVC project, opened through DVC's own API."""

    root: Path
    name: str
    url: str
    endpoint: str | None
    _repo: Any
    _odb: Any

    def has(self, md5: str) -> bool:
        # `exists` of some filesystems (http) answers False for an unreachable server; `info`
        # tells a missing object (FileNotFoundError) from a remote that is down.
        try:
            self._odb.fs.info(self._odb.oid_to_path(md5))
        except FileNotFoundError:
            return False
        except Exception as e:
            raise _remote_down(self, e) from None
        return True

    def probe(self) -> None:
        """Raise ServiceError when a network remote's host does not accept a connection.

        fsspec's HTTP filesystem reports a refused connection as FileNotFoundError, which
        would read as "the remote lacks the data"; this tells the two apart.
        """
        endpoint = self.endpoint or self.url
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=5).close()
        except OSError as e:
            raise _remote_down(self, e) from None

    def object_path(self, md5: str) -> str:
        return str(self._odb.oid_to_path(md5))

    def fetch(self, md5: str, dest: Path, verify: bool = True) -> Path:
        """Copy the object `md5` from the remote to `dest`, checked by digest, atomically.

        `verify=False` keeps an object whose bytes no longer match its name (for
        `mlci reproduce`, which reports that as a data difference).
        """
        if not self.has(md5):
            self.probe()
            raise MissingData(
                f"DVC remote {self.name!r} ({self.url}) has no object for md5 {md5} "
                f"(expected at {self.object_path(md5)}); push it with "
                f"`dvc push {dest.name}.dvc` or `mlci data add`"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            try:
                self._odb.fs.get_file(self._odb.oid_to_path(md5), str(tmp))
            except Exception as e:
                raise _remote_down(self, e) from None
            got = _md5(tmp)
            if verify and got != md5:
                raise InputError(
                    f"DVC remote {self.name!r} ({self.url}): object {md5} has md5 {got}; "
                    f"the remote's copy is corrupt (re-push it from a good copy)"
                )
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return dest

    def push(self, path: Path) -> str:
        """`dvc add` + `dvc push` one file; returns its md5 (the object now in the remote)."""
        repo = self._repo
        target = str(path.resolve())
        self.probe()
        # DVC prints its hints ("To track the changes with git...") on stdout; keep stdout
        # for mlci's own output (--json).
        with contextlib.redirect_stdout(sys.stderr):
            try:
                repo.add([target])
            except Exception as e:
                raise InputError(f"{path}: dvc add failed: {_first_line(e)}") from None
            try:
                repo.push(targets=[target + ".dvc"], remote=self.name)
            except Exception as e:
                raise _remote_down(self, e) from None
        md5 = dvc_md5(path)
        if md5 is None or not self.has(md5):
            raise ServiceError(f"DVC remote {self.name!r} ({self.url}): push of {path} not found")
        return md5


class MissingData(InputError):
    """A dataset version, or its content in the remote, does not exist."""


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _remote_down(remote: DataRemote, e: Exception) -> ServiceError:
    first = _first_line(e)
    return ServiceError(
        f"DVC remote {remote.name!r} ({remote.url}) cannot be reached: {first} "
        f"(check dvc.url / dvc.endpoint_url and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
    )


def _remote_config(settings: Settings | None) -> tuple[str | None, dict[str, Any]]:
    if settings is None:
        return None, {}
    conf = settings.dvc
    if not conf.url:
        return conf.remote, {}
    name = conf.remote or "mlci"
    remote: dict[str, Any] = {"url": conf.url}
    if conf.endpoint_url:
        remote["endpointurl"] = conf.endpoint_url
    return name, {"remote": {name: remote}}


def open_remote(start: Path, settings: Settings | None = None) -> DataRemote:
    """The DVC remote datasets under `start` use: `dvc.remote` / `dvc.url` from the settings,
    else the default remote of the DVC project (`core.remote` in `.dvc/config`)."""
    root = dvc_root(start)
    if root is None:
        raise InputError(
            f"{start}: not inside a DVC project (no .dvc/ folder above it); run `dvc init` "
            f"and add a remote (docs/data.md)"
        )
    name, config = _remote_config(settings)
    try:
        from dvc.exceptions import DvcException
        from dvc.repo import Repo
    except ImportError as e:  # pragma: no cover - dvc is a core dependency
        raise InputError(f"DVC is not installed ({e})") from None
    try:
        repo = Repo(str(root), config=config or None)
        remote = repo.cloud.get_remote(name)
        odb = repo.cloud.get_remote_odb(remote.name)
    except DvcException as e:
        raise InputError(f"{root}/.dvc/config: {_first_line(e)}") from None
    except ImportError as e:  # an S3 remote without the dvc-s3 plugin
        raise InputError(
            f"DVC remote {name or '(default)'}: its plugin is not installed ({e}); "
            f"install mlci[s3] for S3-compatible remotes"
        ) from None
    conf = repo.config["remote"].get(remote.name, {})
    return DataRemote(
        root=root,
        name=remote.name,
        url=str(conf.get("url", remote.path)),
        endpoint=conf.get("endpointurl"),
        _repo=repo,
        _odb=odb,
    )


def ensure_version(path: Path, settings: Settings | None = None, strict: bool = True) -> str | None:
    """Make `path` hold exactly the content its `.dvc` records, fetching it from the remote.

    Returns the recorded md5, or None when `path` is not DVC-tracked. With `strict`, a working
    file whose bytes differ from its record is refused: it is not the version asked for.
    """
    md5 = dvc_md5(path)
    if md5 is None:
        return None
    if path.is_file():
        if not strict:
            return md5
        got = _md5(path)
        if got != md5:
            raise InputError(
                f"{path}: its bytes (md5 {got}) are not the version {dvc_file(path).name} "
                f"records (md5 {md5}); restore it with `dvc checkout {dvc_file(path)}` or "
                f"record a new version with `mlci data add {path} --version NAME`"
            )
        return md5
    open_remote(path.parent, settings).fetch(md5, path)
    return md5


def fetch_by_digest(md5: str, dest: Path, start: Path, settings: Settings | None = None) -> Path:
    """Fetch the object `md5` from the DVC remote of the project at `start` into `dest`."""
    return open_remote(start, settings).fetch(md5, dest)


def tracked_versions(folder: Path) -> list[str]:
    """Version names with a `.dvc` record in `folder` (sorted)."""
    return sorted(p.name[: -len(".csv.dvc")] for p in folder.glob("*.csv.dvc"))


@dataclass(frozen=True)
class AddedVersion:
    version: str
    path: Path
    dvc_file: Path
    digest: str
    remote: str
    url: str
    created: bool  # False when the same bytes were already this version


def add_version(settings: Settings, source: Path, version: str) -> AddedVersion:
    """Copy `source` to `<data.dir>/<version>.csv`, `dvc add` and `dvc push` it.

    Idempotent for the same bytes; refuses to overwrite an existing version with other bytes
    (a version name always means one digest).
    """
    check_version_name(version)
    if not source.is_file():
        raise InputError(f"{source}: no such file (expected a CSV to add as a dataset version)")
    dest = settings.dataset_path(version)
    digest = _md5(source)
    recorded = dvc_md5(dest)
    if recorded is not None and recorded != digest:
        raise InputError(
            f"dataset version {version!r} already exists with md5 {recorded} "
            f"({dvc_file(dest)}); {source} has md5 {digest}: choose a new version name"
        )
    remote = open_remote(dest.parent, settings)
    created = recorded is None
    if source.resolve() != dest.resolve():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    pushed = remote.push(dest)
    if pushed != digest:  # pragma: no cover - the file changed while adding
        raise InputError(f"{dest}: changed while it was added (md5 {digest} -> {pushed})")
    return AddedVersion(version, dest, dvc_file(dest), digest, remote.name, remote.url, created)


LOCAL_REMOTE = "data/remote"  # the bundled-style remote of a new project, relative to its root
_NEW_CONFIG = (
    "[core]\n    remote = local\n    analytics = false\n"
    "['remote \"local\"']\n    url = ../" + LOCAL_REMOTE + "\n"
)


def ensure_dvc_project(root: Path) -> tuple[Path, list[Path]]:
    """The DVC project holding `root`; when there is none, make `root` one, with a local remote
    in `data/remote/` (committed with the project, as the bundled example does). Returns the
    project folder and the files written."""
    found = dvc_root(root)
    if found is not None:
        return found, []
    written = []
    (root / ".dvc").mkdir(parents=True, exist_ok=True)
    here = root.resolve()
    in_git = any((f / ".git").exists() for f in (here, *here.parents))
    # Outside git DVC needs no_scm (remove the line after `git init`).
    config = (
        _NEW_CONFIG.replace("[core]\n", "[core]\n    no_scm = true\n")
        if not in_git
        else _NEW_CONFIG
    )
    for path, text in (
        (root / ".dvc" / "config", config),
        (root / ".dvc" / ".gitignore", "/config.local\n/tmp\n/cache\n"),
        (root / ".dvcignore", f"/{LOCAL_REMOTE}\n/build\n/.mlci\n"),
    ):
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return root, written


def track_version(
    path: Path, project_root: Path, settings: Settings | None = None
) -> tuple[str, list[Path]]:
    """`dvc add` + `dvc push` an existing snapshot, in the DVC project holding `project_root`
    (made when there is none: mlci init). Returns its md5 and the files written."""
    _, written = ensure_dvc_project(project_root)
    md5 = open_remote(path.parent, settings).push(path)
    ignore = path.parent / ".gitignore"  # dvc add writes it inside git only
    lines = ignore.read_text(encoding="utf-8").split() if ignore.exists() else []
    if f"/{path.name}" not in lines:
        with ignore.open("a", encoding="utf-8") as fh:
            fh.write(f"/{path.name}\n")
    return md5, [*written, dvc_file(path), ignore]
