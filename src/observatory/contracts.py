"""Contracts of the published tables: one definition per mart, next to its SQL.

`sql/marts/<mart>.toml` holds what a data engineer or dashboard builder needs to know and
what the build checks:

    position = 10                     # where the mart appears in docs/tables.md
    grain = ["zone_id", "time_band", "period_start"]   # unique, never null (audited)
    survey_columns = ["perception_raw", ...]           # null where is_suppressed (audited)
    description = \"\"\"Prose shown under the mart's heading.\"\"\"
    notes = \"\"\"Prose shown after its column table (optional).\"\"\"

    [[columns]]
    names = ["index_ci_low", "index_ci_high"]
    type = "double"
    description = "its 90% sampling interval"

docs/tables.md is generated from these and `docs/tables.template.md` (the prose around
the marts; `{{marts}}` marks where they go): `observatory contracts --write` rewrites it,
and a test fails when the committed file, the contracts and the built marts disagree.
Every build audits its marts against the contracts (`observatory.audits`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from observatory import source_contracts
from observatory.sql_util import repo_dir

MARKER = "{{marts}}"


@dataclass(frozen=True)
class ColumnGroup:
    """One row of a mart's column table: one or more columns sharing a type and meaning."""

    names: tuple[str, ...]
    type: str = ""
    description: str = ""


@dataclass(frozen=True)
class Contract:
    """The published definition of one mart."""

    mart: str
    description: str
    columns: tuple[ColumnGroup, ...]
    grain: tuple[str, ...] = ()
    survey_columns: tuple[str, ...] = ()
    notes: str = ""
    position: int = 1000
    extra: dict = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """Every documented column, in table order."""
        return [n for group in self.columns for n in group.names]


def contract_path(mart: str, root: Path | None = None) -> Path:
    """Where a mart's contract lives: beside its SQL."""
    return (root or repo_dir("sql")) / "marts" / f"{mart}.toml"


def load_contracts(root: Path | None = None) -> dict[str, Contract]:
    """Every mart contract under sql/marts/, by mart name."""
    out = {}
    for path in sorted(((root or repo_dir("sql")) / "marts").glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out[path.stem] = Contract(
            mart=path.stem,
            description=data.get("description", "").strip(),
            columns=tuple(
                ColumnGroup(tuple(c["names"]), c.get("type", ""), c.get("description", ""))
                for c in data.get("columns", [])
            ),
            grain=tuple(data.get("grain", ())),
            survey_columns=tuple(data.get("survey_columns", ())),
            notes=data.get("notes", "").strip(),
            position=int(data.get("position", 1000)),
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )
    return out


_KNOWN = {"description", "columns", "grain", "survey_columns", "notes", "position"}


def render_section(contract: Contract) -> str:
    """The markdown section of one mart."""
    rows = "\n".join(
        "|"
        + "|".join(f" {c} " if c else " " for c in (", ".join(g.names), g.type, g.description))
        + "|"
        for g in contract.columns
    )
    parts = [f"## marts.{contract.mart}", ""]
    if contract.description:
        parts += [contract.description, ""]
    parts += ["| column | type | meaning |", "|---|---|---|", rows, ""]
    if contract.notes:
        parts += [contract.notes, ""]
    return "\n".join(parts)


def render_tables_md(
    contracts: dict[str, Contract] | None = None, template: Path | None = None
) -> str:
    """docs/tables.md as generated from the contracts and the template."""
    contracts = contracts if contracts is not None else load_contracts()
    text = (template or _docs_dir() / "tables.template.md").read_text(encoding="utf-8")
    if MARKER not in text:
        raise ValueError(f"docs/tables.template.md has no {MARKER} marker")
    ordered = sorted(contracts.values(), key=lambda c: (c.position, c.mart))
    body = "\n".join(render_section(c) for c in ordered)
    text = (
        text.replace(MARKER + "\n", body, 1)
        if MARKER + "\n" in text
        else text.replace(MARKER, body, 1)
    )
    # the validated tables, from the source kinds' contracts (sql/sources/<kind>.toml)
    marker = source_contracts.SOURCES_MARKER
    if marker + "\n" in text:
        text = text.replace(marker + "\n", source_contracts.render_validated_section(), 1)
    return text


def _docs_dir() -> Path:
    return repo_dir("sql").parent / "docs"


# --- one-off import of a hand-written docs/tables.md into contracts -------------------------

_SECTION = re.compile(r"^## marts\.([a-z_0-9]+)\s*$", re.MULTILINE)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if "\n" in text:  # a multi-line basic string: the newline after the quotes is dropped
        return '"""\n' + escaped + '"""'
    return '"' + escaped + '"'


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def dump_contract(contract: Contract) -> str:
    """A contract as TOML (written by `import_tables_md`; hand edits keep this shape)."""
    lines = [f"# Contract of marts.{contract.mart}: docs/tables.md is generated from it."]
    lines.append(f"position = {contract.position}")
    if contract.grain:
        lines.append(f"grain = {_toml_list(contract.grain)}")
    if contract.survey_columns:
        lines.append(f"survey_columns = {_toml_list(contract.survey_columns)}")
    for key, value in sorted(contract.extra.items()):
        rendered = _toml_list(value) if isinstance(value, list | tuple) else _toml_string(value)
        lines.append(f"{key} = {rendered}")
    lines.append(f"description = {_toml_string(contract.description)}")
    if contract.notes:
        lines.append(f"notes = {_toml_string(contract.notes)}")
    for group in contract.columns:
        lines += [
            "",
            "[[columns]]",
            f"names = {_toml_list(group.names)}",
            f"type = {_toml_string(group.type)}",
            f"description = {_toml_string(group.description)}",
        ]
    return "\n".join(lines) + "\n"


def import_tables_md(text: str, existing: dict[str, Contract]) -> tuple[str, dict[str, Contract]]:
    """Split a hand-written tables.md into its template and one contract per mart section.

    Audit keys (grain, survey_columns) of existing contracts are kept.
    """
    contracts: dict[str, Contract] = {}
    pieces = _SECTION.split(text)
    template = [pieces[0]]
    placed = False
    for position, (mart, body) in enumerate(zip(pieces[1::2], pieces[2::2], strict=True)):
        # a section runs to the next "## " heading (a non-mart section stays in the template)
        own, _, rest = body.partition("\n## ")
        rest = ("## " + rest) if rest else ""
        lines = own.strip("\n").splitlines()
        table = [i for i, line in enumerate(lines) if line.startswith("|")]
        first, last = (table[0], table[-1]) if table else (len(lines), len(lines) - 1)
        description = "\n".join(lines[:first]).strip()
        notes = "\n".join(lines[last + 1 :]).strip()
        groups = []
        for line in lines[first + 2 : last + 1]:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            names = tuple(n.strip() for n in cells[0].split(","))
            groups.append(ColumnGroup(names, cells[1], " | ".join(cells[2:])))
        old = existing.get(mart)
        contracts[mart] = Contract(
            mart=mart,
            description=description,
            columns=tuple(groups),
            grain=old.grain if old else (),
            survey_columns=old.survey_columns if old else (),
            notes=notes,
            position=(position + 1) * 10,
            extra=old.extra if old else {},
        )
        if not placed:
            template.append(MARKER + "\n\n")
            placed = True
        if rest:
            template.append(rest)
    return "".join(template), contracts
