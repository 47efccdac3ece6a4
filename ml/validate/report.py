"""Write a ValidationReport as JUnit XML (for Jenkins), Markdown (for people) and JSON (for tools).

Files are written to a temporary name and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ml.validate.validation import FAILED, NOT_EVALUATED, PASSED, ValidationReport

FILES = {"junit": "junit.xml", "markdown": "report.md", "json": "result.json"}
_MARK = {PASSED: "pass", FAILED: "**FAIL**", NOT_EVALUATED: "not evaluated"}


def write_reports(report: ValidationReport, out_dir: Path) -> dict[str, Path]:
    """Write the three reports into `out_dir`; returns their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in FILES.items()}
    _atomic_write(paths["junit"], junit_xml(report))
    _atomic_write(paths["markdown"], markdown(report))
    _atomic_write(paths["json"], json.dumps(report.to_dict(), indent=2, default=_jsonable) + "\n")
    return paths


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def junit_xml(report: ValidationReport) -> str:
    """One testcase per expectation, classname `data.<version>`, named by its title."""
    classname = f"data.{report.dataset.version}"
    suite = ET.Element(
        "testsuite",
        {
            "name": classname,
            "tests": str(len(report.results)),
            "failures": str(len(report.failures)),
            "skipped": str(len(report.not_evaluated)),
            "errors": "0",
            "time": f"{report.seconds:.3f}",
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("dataset.path", report.dataset.path),
        ("dataset.digest", report.dataset.digest),
        ("contract", report.contract),
        ("rows", report.rows),
    ):
        ET.SubElement(props, "property", {"name": name, "value": str(value)})
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": r.title})
        detail = json.dumps(
            {
                "type": r.type,
                "column": r.column,
                "risk": r.risk,
                "kwargs": r.kwargs,
                "observed": r.observed,
                "unexpected_count": r.unexpected_count,
                "samples": r.samples[:5],
            },
            default=_jsonable,
            indent=1,
        )
        if r.status == FAILED:
            ET.SubElement(case, "failure", {"message": r.message, "type": r.type}).text = detail
        elif r.status == NOT_EVALUATED:
            ET.SubElement(case, "skipped", {"message": r.message})
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: ValidationReport) -> str:
    """A page for people: verdict, dataset identity, failures first, then every expectation."""
    d = report.dataset
    verdict = "PASSED" if report.success else "FAILED"
    lines = [
        f"# Data validation {verdict}: {d.version}",
        "",
        f"- dataset: `{d.path}`",
        f"- digest (MD5): `{d.digest}`",
        f"- rows: {report.rows if report.rows is not None else 'unreadable'}",
        f"- contract: `{report.contract}`",
        f"- expectations: {sum(r.success for r in report.results)} passed, "
        f"{len(report.failures)} failed, {len(report.not_evaluated)} not evaluated "
        f"({report.seconds:.2f} s)",
        "",
    ]
    if report.failures:
        lines += ["## Failures", ""]
        lines += [f"- {_cell(r.message)} _(guards: {r.risk})_" for r in report.failures]
        lines.append("")
    lines += [
        "## Expectations",
        "",
        "| result | expectation | risk | observed |",
        "|---|---|---|---|",
    ]
    for r in report.results:
        observed = (
            r.observed
            if r.unexpected_count is None
            else (f"{r.unexpected_count} unexpected of {r.element_count}")
        )
        lines.append(
            f"| {_MARK[r.status]} | {_cell(r.title)} | {_cell(r.risk)} | "
            f"{_cell(observed if observed is not None else '')} |"
        )
    return "\n".join(lines) + "\n"
