"""The drift report: a `DriftMatrix` as Markdown, and the `<run_key>.drift.json` / `.drift.md` files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from infracore_verify.redact import REDACTOR
from infracore_verify.smoke.drift_model import ATTRIBUTES, DriftCell, DriftMatrix


def render_markdown(matrix: DriftMatrix) -> str:
    """Return the report as Markdown: a system x attribute table, then every difference and error."""
    columns = [a for a in ATTRIBUTES if any(c.attribute == a for c in matrix.cells)]
    target = f"{matrix.environment or 'unknown'}" + (" (sandbox)" if matrix.sandbox else "")
    out = [
        "# Drift matrix",
        "",
        f"environment: {target}; captured_at: {matrix.captured_at or 'unknown'}",
        f"result: {matrix.summary()}",
        "",
        "| system | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for system in matrix.systems:
        row = [_cell_text(matrix.cell(system, a)) for a in columns]
        out.append(f"| {_md(system)} | " + " | ".join(row) + " |")
    out += [
        "",
        "Legend: -N missing (in the contracts, not live), +N extra (live only), ~N changed; "
        "(allowed) = covered by expected_drift; n/a = does not apply.",
        "",
    ]
    out.append("## Unexpected differences")
    out += [f"- {_md(line)}" for line in matrix.unexpected_lines()] or ["none"]
    allowed = [line for cell in matrix.drifting() for line in _allowed_lines(cell)]
    if allowed:
        out += ["", "## Allowed differences (expected_drift)"] + [f"- {_md(line)}" for line in allowed]
    if matrix.unused_allowances:
        out += ["", "## expected_drift entries that cover nothing"]
        out += [f"- {_md(line)}" for line in matrix.unused_allowances]
    if matrix.errors:
        out += ["", "## Not readable (not compared)"] + [f"- {_md(line)}" for line in matrix.errors]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _cell_text(cell: DriftCell | None) -> str:
    if cell is None:
        return "n/a"
    if cell.status == "error":
        return "error"
    if cell.status == "observed":
        return _md(f"observed: {cell.live}" if cell.live else "observed")
    if not cell.has_drift:
        return _md(f"ok ({cell.live})" if cell.live else "ok")
    parts = []
    for sign, names, allowed in (("-", cell.missing, cell.allowed_missing), ("+", cell.extra, cell.allowed_extra)):
        if names:
            shown = [f"{n} (allowed)" if n in allowed else n for n in names]
            parts.append(f"{sign}{len(names)} {', '.join(shown)}")
    if cell.changed:
        shown = [f"{c} (allowed)" if c.key in cell.allowed_changed else str(c) for c in cell.changed]
        parts.append(f"~{len(cell.changed)} {', '.join(shown)}")
    return _md("; ".join(parts))


def _allowed_lines(cell: DriftCell) -> list[str]:
    out = []
    if cell.allowed_missing:
        out.append(f"{cell.name} missing: {', '.join(cell.allowed_missing)}")
    if cell.allowed_extra:
        out.append(f"{cell.name} extra: {', '.join(cell.allowed_extra)}")
    if cell.allowed_changed:
        out.append(f"{cell.name} changed: {', '.join(cell.allowed_changed)}")
    return out


def write_report(matrix: DriftMatrix | Mapping[str, str], directory: Path, run_key: str) -> Path:
    """Write `<run_key>.drift.json` and `<run_key>.drift.md` into `directory` (registered secrets masked).

    `matrix` is a DriftMatrix, or the probe's `details["drift"]` mapping (`json` and `markdown` texts), which
    can travel from an xdist worker to the controller that writes the receipt. Returns the JSON file's path.
    """
    if isinstance(matrix, DriftMatrix):
        json_text, markdown = matrix.to_json(), matrix.to_markdown()
    else:
        json_text, markdown = str(matrix["json"]), str(matrix["markdown"])
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{run_key}.drift.json"
    json_path.write_text(REDACTOR.mask(json_text), encoding="utf-8")
    (directory / f"{run_key}.drift.md").write_text(REDACTOR.mask(markdown), encoding="utf-8")
    return json_path
