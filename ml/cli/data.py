"""`mlci data`: generate snapshots, show the data contract, validate a dataset version."""

from __future__ import annotations

from pathlib import Path

import click

from ml.cli.common import echo_json, get_settings, handle_errors, json_option, progress
from ml.errors import InputError, ValidationFailed


@click.group()
def data() -> None:
    """Datasets: bundled snapshots, the data contract and its validation."""


@data.command()
@click.option(
    "--version",
    "version",
    default="2025Q1",
    show_default=True,
    help="Generator profile: 2025Q1 (reference) or 2025Q2 (drifted quarter).",
)
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=None,
    help="Rows to write [default: 20000, the bundled size].",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Random seed [default: the profile's seed, as used for the bundled files].",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output CSV [default: data/snapshots/<version>.csv for the bundled size, "
    "else data/generated/churn-<version>-<rows>.csv (git-ignored)].",
)
@handle_errors
def generate(version: str, rows: int | None, seed: int | None, out: Path | None) -> None:
    """Write a churn snapshot deterministically: the same options give a byte-identical file."""
    from ml.data.dataset import file_digest
    from ml.data.dvc import dvc_file, write_dvc_file
    from ml.data.generate import BUNDLED_ROWS, DEFAULT_SEEDS, PROFILES, write_snapshot

    if version not in PROFILES:
        raise InputError(
            f"--version {version!r}: unknown profile; expected one of {', '.join(PROFILES)}"
        )
    settings = get_settings()
    rows = rows or BUNDLED_ROWS
    seed = DEFAULT_SEEDS[version] if seed is None else seed
    if out is None:
        bundled = rows == BUNDLED_ROWS and seed == DEFAULT_SEEDS[version]
        out = (
            settings.dataset_path(version)
            if bundled
            else settings.path(f"data/generated/churn-{version}-{rows}.csv")
        )

    def report(done: int, total: int) -> None:
        if total > 200_000:
            progress(f"generate: {done:,}/{total:,} rows ({done * 100 // total}%)")

    try:
        path = write_snapshot(out, rows, seed, version, on_progress=report)
    except OSError as e:
        raise InputError(f"{out}: cannot write the snapshot: {e.strerror or e}") from None
    digest = file_digest(path)
    if dvc_file(path).is_file():
        write_dvc_file(path, digest)
        progress(f"generate: updated {dvc_file(path)}")
    click.echo(f"{path}  {rows} rows  md5 {digest}")


@data.command()
@json_option
@handle_errors
def contract(as_json: bool) -> None:
    """Show the data contract: every expectation and the risk it guards."""
    from ml.validate.contract import load_settings_contract

    c = load_settings_contract(get_settings())
    if as_json:
        echo_json(
            {
                "name": c.name,
                "path": str(c.path),
                "expectations": [
                    {
                        "title": e.title,
                        "type": e.type,
                        "column": e.column,
                        "kwargs": e.kwargs,
                        "risk": e.risk,
                        "why": e.meta.get("why", ""),
                    }
                    for e in c.expectations
                ],
            }
        )
        return
    click.echo(f"contract {c.name} ({c.path}): {len(c.expectations)} expectations")
    width = min(max(len(e.title) for e in c.expectations), 48)
    for e in c.expectations:
        click.echo(f"  {e.title:<{width}}  # {e.risk}")


@data.command()
@click.argument("source", required=False)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for junit.xml, report.md and result.json [default: <build>/validate].",
)
@json_option
@handle_errors
def validate(source: str | None, out_dir: Path | None, as_json: bool) -> None:
    """Check a dataset VERSION or PATH against the data contract (default: data.version).

    Exit 0 when every expectation passes, 1 when any fails (an empty or malformed CSV is a
    failure too, with reports written), 2 when the file or the contract does not exist.
    """
    from ml.data.dataset import resolve_dataset
    from ml.validate import validate_dataset

    settings = get_settings()
    dataset = resolve_dataset(settings, source)
    out_dir = out_dir or settings.build_dir / "validate"
    progress(f"validate: {dataset.version} ({dataset.path}) against {settings.data.contract}")
    report = validate_dataset(settings, dataset, out_dir)
    if report.setup_seconds >= 0.5:
        progress(f"validate: loading Great Expectations took {report.setup_seconds:.1f} s")
    if as_json:
        echo_json(report.to_dict())
    else:
        total = len(report.results)
        passed = sum(r.success for r in report.results)
        rows = f"{report.rows} rows" if report.rows is not None else "unreadable"
        click.echo(
            f"data {dataset.version} (md5 {dataset.digest}, {rows}): {passed}/{total} "
            f"checks passed in {report.seconds:.2f} s"
        )
        for r in report.failures:
            where = r.column or ("(file)" if r.type == "file_is_readable_csv" else "(table)")
            click.echo(f"  FAIL {where}: {r.message}")
        if report.not_evaluated:
            click.echo(
                f"  ({len(report.not_evaluated)} not evaluated because of the failures above)"
            )
        click.echo(f"reports: {', '.join(str(p) for p in report.outputs.values())}")
    from ml.cache.key import VALIDATION_FILE, write_validation_key

    stale = settings.build_dir / VALIDATION_FILE
    if report.success:
        write_validation_key(settings, dataset.digest)
    elif stale.exists():
        stale.unlink()
    if not report.success:
        raise ValidationFailed(
            f"dataset {dataset.version} broke its data contract: {len(report.failures)} of "
            f"{len(report.results)} checks failed (see {report.outputs['markdown']})"
        )


@data.command()
@click.argument("source", required=False)
@json_option
@handle_errors
def version(source: str | None, as_json: bool) -> None:
    """Show a dataset's version name, MD5 digest, row count and the md5 its .dvc file records."""
    from ml.data.dataset import resolve_dataset
    from ml.data.dvc import dvc_md5

    dataset = resolve_dataset(get_settings(), source, strict=False)
    with dataset.path.open("rb") as fh:
        rows = max(sum(1 for _ in fh) - 1, 0)
    recorded = dvc_md5(dataset.path)
    info = {
        "version": dataset.version,
        "path": str(dataset.path),
        "digest": dataset.digest,
        "rows": rows,
        "dvc_md5": recorded,
        "dvc_matches": None if recorded is None else recorded == dataset.digest,
    }
    if as_json:
        echo_json(info)
    else:
        dvc = (
            "no .dvc file"
            if recorded is None
            else f"{recorded} ({'matches' if info['dvc_matches'] else 'DIFFERS: run dvc add'})"
        )
        click.echo(
            f"version  {dataset.version}\npath     {dataset.path}\n"
            f"digest   {dataset.digest}\nrows     {rows}\ndvc md5  {dvc}"
        )
    if recorded is not None and not info["dvc_matches"]:
        raise ValidationFailed(
            f"{dataset.path}: its .dvc file records md5 {recorded} but the "
            f"file's md5 is {dataset.digest}; run `dvc add {dataset.path}`"
        )


@data.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--version",
    "version",
    required=True,
    help="Version name for data.version: a letter or digit, then letters, digits, . _ - "
    "(e.g. 2025Q3).",
)
@json_option
@handle_errors
def add(path: Path, version: str, as_json: bool) -> None:
    """Add PATH as dataset VERSION: copy it to <data.dir>/<VERSION>.csv, dvc add, dvc push.

    The version name, the digest in its .dvc record and the object in the DVC remote agree
    when this returns; commit the .dvc file (and, for the bundled remote, data/remote/).
    """
    from ml.data.dvc import add_version

    added = add_version(get_settings(), path, version)
    info = {
        "version": added.version,
        "path": str(added.path),
        "dvc_file": str(added.dvc_file),
        "digest": added.digest,
        "remote": added.remote,
        "url": added.url,
        "created": added.created,
    }
    if as_json:
        echo_json(info)
        return
    state = "added" if added.created else "already recorded"
    click.echo(
        f"dataset {added.version} {state}: md5 {added.digest}, {added.dvc_file}, "
        f"pushed to DVC remote {added.remote} ({added.url})"
    )
    click.echo(f"next: git add {added.dvc_file} {added.path.parent / '.gitignore'}")


@data.command()
@click.argument("versions", nargs=-1)
@handle_errors
def pull(versions: tuple[str, ...]) -> None:
    """Fetch dataset VERSIONS (default: every tracked version) from the DVC remote.

    A version already present with the recorded digest is left alone; one whose bytes differ
    from its .dvc record is an error (exit 2).
    """
    from ml.data.dataset import resolve_dataset
    from ml.data.dvc import tracked_versions

    settings = get_settings()
    names = list(versions) or tracked_versions(settings.path(settings.data.dir))
    for name in names:
        ds = resolve_dataset(settings, name)
        click.echo(f"{ds.version}  {ds.path}  md5 {ds.digest}")
