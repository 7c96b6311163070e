"""Contracts of the source kinds: one definition per kind, `sql/sources/<kind>.toml`.

A kind's contract lists the columns of its validated table in order, each with a type, a
description and a role:

- `lineage`: where the row came from (`source_name`, `batch_id`, `row_number`), added at load;
- `mapped`: a canonical field a source maps from its own columns (`[sources.columns]`),
  `required = true` when every source of the kind must map it;
- `derived`: computed by the conform step (`record_id`, `score`, ...);
- `zoned`: added when the row is placed in a zone (`zone_id`).

`not_null = "<reason>"` makes the kind's suite refuse a null there, with that quarantine
reason. Extra `[tables.<name>]` are projections of the same columns (the survey's
non-response table).

Generated from the contracts: config's mappable and required fields, the conform step's
output columns (`sources.mapping`), the validated tables' DDL (`pipeline`), the suites'
not-null checks (`expectations/<kind>.json`), the validated tables in docs/tables.md and
the field table of docs/adding-a-source.md. `observatory contracts` fails when any of them
has drifted; `observatory contracts --write` regenerates the suites' checks and the docs.
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from observatory.resources import repo_dir

KINDS = ("survey", "incidents", "sensors")
ROLES = ("lineage", "mapped", "derived", "zoned")
#: Columns the conform step adds for the batch checks only (never stored in validated).
CHECK_COLUMNS = ("in_scope", "copy_number", "prior_batch_id", "is_non_response", "dst_issue")
#: The checks every kind's suite starts with (type, column): batch structure, not content.
BATCH_CHECKS = (
    ("expect_table_row_count_to_be_between", None),
    ("expect_column_values_to_be_in_set", "in_scope"),
    ("expect_column_values_to_be_in_set", "copy_number"),
    ("expect_column_values_to_be_unique", "record_id"),
    ("expect_column_values_to_be_null", "prior_batch_id"),
)
_NOT_NULL = "expect_column_values_to_not_be_null"


@dataclass(frozen=True)
class SourceColumn:
    """One column of a kind's validated table."""

    name: str
    type: str
    role: str
    description: str = ""
    required: bool = False
    not_null: str = ""


@dataclass(frozen=True)
class SourceContract:
    """The contract of one source kind."""

    kind: str
    row: str
    description: str
    columns: tuple[SourceColumn, ...]
    tables: dict[str, tuple[str, ...]]  # extra tables: name -> columns (a projection)
    table_descriptions: dict[str, str]

    def by_role(self, *roles: str) -> tuple[str, ...]:
        """The names of the columns with one of these roles, in table order."""
        return tuple(c.name for c in self.columns if c.role in roles)

    def column(self, name: str) -> SourceColumn:
        """One column by name."""
        return next(c for c in self.columns if c.name == name)


def _load(path: Path) -> SourceContract:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    columns = tuple(
        SourceColumn(
            name=c["name"],
            type=c["type"],
            role=c["role"],
            description=c.get("description", ""),
            required=bool(c.get("required", False)),
            not_null=c.get("not_null", ""),
        )
        for c in data["columns"]
    )
    contract = SourceContract(
        kind=data["kind"],
        row=data.get("row", ""),
        description=data.get("description", "").strip(),
        columns=columns,
        tables={n: tuple(t["columns"]) for n, t in data.get("tables", {}).items()},
        table_descriptions={n: t.get("description", "") for n, t in data.get("tables", {}).items()},
    )
    _check(contract, path)
    return contract


def _check(contract: SourceContract, path: Path) -> None:
    names = [c.name for c in contract.columns]
    problems = [f"{c.name}: role {c.role!r}" for c in contract.columns if c.role not in ROLES]
    problems += [f"{n}: listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [
        f"{c.name}: required but not mapped"
        for c in contract.columns
        if c.required and c.role != "mapped"
    ]
    for table, cols in contract.tables.items():
        problems += [f"{table}: unknown column {c}" for c in cols if c not in names]
    if contract.kind != path.stem:
        problems.append(f"kind {contract.kind!r} in a file named {path.name}")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))


@functools.cache
def load_source_contracts(root: Path | None = None) -> dict[str, SourceContract]:
    """Every source kind's contract, by kind (read once per process)."""
    folder = (root or repo_dir("sql")) / "sources"
    return {kind: _load(folder / f"{kind}.toml") for kind in KINDS}


# --- what the rest of the code reads ---------------------------------------------------------


def mappable_fields() -> dict[str, tuple[str, ...]]:
    """Per kind, the canonical fields a source may map (config's `CANONICAL_FIELDS`)."""
    return {k: c.by_role("mapped") for k, c in load_source_contracts().items()}


def required_fields() -> dict[str, tuple[str, ...]]:
    """Per kind, the fields every source of the kind must map."""
    return {
        k: tuple(col.name for col in c.columns if col.required)
        for k, c in load_source_contracts().items()
    }


def conformed_columns() -> dict[str, tuple[str, ...]]:
    """Per kind, the conform step's output columns, in order (`sources.mapping`)."""
    return {k: c.by_role("mapped", "derived") for k, c in load_source_contracts().items()}


def validated_ddl() -> dict[str, str]:
    """Per validated table, its column list as DDL (`name type, ...`)."""
    out = {}
    for kind, contract in load_source_contracts().items():
        out[kind] = ", ".join(f"{c.name} {c.type}" for c in contract.columns)
        for table, cols in contract.tables.items():
            out[table] = ", ".join(f"{n} {contract.column(n).type}" for n in cols)
    return out


# --- the suites' generated part --------------------------------------------------------------


def _not_null_check(column: str, reason: str) -> dict:
    return {
        "type": _NOT_NULL,
        "kwargs": {"column": column},
        "meta": {"severity": "error", "reason": reason},
    }


def _plain_not_null(expectation: dict) -> str | None:
    kwargs = expectation.get("kwargs", {})
    if expectation.get("type") == _NOT_NULL and set(kwargs) == {"column"}:
        return kwargs["column"]
    return None


def suite_drift(kind: str, suite: dict) -> list[str]:
    """How a suite disagrees with its kind's contract (empty: it agrees).

    The contract owns the suite's plain not-null checks (which columns, which reason) and
    the columns any check may name; the batch checks must be present.
    """
    contract = load_source_contracts()[kind]
    wanted = {c.name: c.not_null for c in contract.columns if c.not_null}
    known = set(contract.by_role("mapped", "derived", "zoned")) | set(CHECK_COLUMNS)
    problems = []
    found: dict[str, str] = {}
    for e in suite.get("expectations", []):
        column = _plain_not_null(e)
        if column is not None:
            found[column] = e.get("meta", {}).get("reason", "")
        named = e.get("kwargs", {}).get("column")
        if named is not None and named not in known:
            problems.append(f"a check names column {named!r}, which is not in the contract")
    for column, reason in wanted.items():
        if column not in found:
            problems.append(f"no not-null check on {column} (contract: not_null)")
        elif found[column] != reason:
            problems.append(
                f"not-null check on {column} has reason {found[column]!r}, not {reason!r}"
            )
    problems += [
        f"not-null check on {c}, which the contract does not mark not_null"
        for c in found
        if c not in wanted
    ]
    present = {
        (e.get("type"), e.get("kwargs", {}).get("column")) for e in suite.get("expectations", [])
    }
    problems += [
        f"batch check {t} ({c or 'table'}) missing"
        for t, c in BATCH_CHECKS
        if (t, c) not in present
    ]
    return problems


def regenerate_suite(kind: str, suite: dict) -> dict:
    """The suite with its not-null checks as the contract says (other checks untouched):
    reasons corrected, missing checks appended, checks the contract dropped removed."""
    contract = load_source_contracts()[kind]
    wanted = {c.name: c.not_null for c in contract.columns if c.not_null}
    kept, seen = [], set()
    for e in suite.get("expectations", []):
        column = _plain_not_null(e)
        if column is None:
            kept.append(e)
        elif column in wanted and column not in seen:
            kept.append(_not_null_check(column, wanted[column]))
            seen.add(column)
    kept += [_not_null_check(c, r) for c, r in wanted.items() if c not in seen]
    return {**suite, "expectations": kept}


def suite_path(kind: str) -> Path:
    """Where a kind's suite lives."""
    return repo_dir("expectations") / f"{kind}.json"


def dump_suite(suite: dict) -> str:
    """A suite as the repository keeps it (two-space JSON, trailing newline)."""
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"


# --- docs ------------------------------------------------------------------------------------

SOURCES_MARKER = "{{validated}}"
FIELDS_START = "<!-- contract fields: generated from sql/sources/*.toml -->"
FIELDS_END = "<!-- end of contract fields -->"


def render_validated_section() -> str:
    """The validated tables' sections of docs/tables.md."""
    parts = []
    for contract in load_source_contracts().values():
        tables = {contract.kind: contract.by_role(*ROLES), **contract.tables}
        for table, cols in tables.items():
            description = (
                contract.description
                if table == contract.kind
                else contract.table_descriptions.get(table, "")
            )
            parts += [f"### validated.{table}", ""]
            if description:
                parts += [description, ""]
            parts += ["| column | type | role | meaning |", "|---|---|---|---|"]
            for name in cols:
                c = contract.column(name)
                role = c.role + (", required" if c.required else "")
                meaning = c.description + (
                    f" (null: quarantined, {c.not_null!r})" if c.not_null else ""
                )
                parts.append(f"| {c.name} | {c.type} | {role} | {meaning} |")
            parts.append("")
    return "\n".join(parts)


def render_fields_table() -> str:
    """The field table of docs/adding-a-source.md, section 1."""
    lines = [
        FIELDS_START,
        "| kind | one row per | fields you map (`[sources.columns]`) | required |",
        "|---|---|---|---|",
    ]
    for contract in load_source_contracts().values():
        mapped = ", ".join(f"`{n}`" for n in contract.by_role("mapped"))
        required = ", ".join(f"`{c.name}`" for c in contract.columns if c.required)
        lines.append(f"| `{contract.kind}` | {contract.row} | {mapped} | {required} |")
    lines.append(FIELDS_END)
    return "\n".join(lines)


def replace_fields_table(text: str) -> str:
    """docs/adding-a-source.md with its field table regenerated."""
    if FIELDS_START not in text or FIELDS_END not in text:
        raise ValueError("docs/adding-a-source.md has no generated field table markers")
    head, _, rest = text.partition(FIELDS_START)
    _, _, tail = rest.partition(FIELDS_END)
    return head + render_fields_table() + tail


# --- everything generated from the contracts -------------------------------------------------


def generated_files() -> dict[Path, str]:
    """Every file generated (in part) from the marts' and the kinds' contracts, with the
    text it should have: docs/tables.md, docs/adding-a-source.md and the suites."""
    from observatory.contracts import render_tables_md  # noqa: PLC0415 (contracts imports us)

    docs = repo_dir("sql").parent / "docs"
    out = {docs / "tables.md": render_tables_md()}
    howto = docs / "adding-a-source.md"
    out[howto] = replace_fields_table(howto.read_text(encoding="utf-8"))
    for kind in KINDS:
        path = suite_path(kind)
        out[path] = dump_suite(regenerate_suite(kind, json.loads(path.read_text(encoding="utf-8"))))
    return out


def drift() -> list[str]:
    """What disagrees with the contracts (empty: everything agrees)."""
    problems = []
    for kind in KINDS:
        suite = json.loads(suite_path(kind).read_text(encoding="utf-8"))
        problems += [f"expectations/{kind}.json: {p}" for p in suite_drift(kind, suite)]
    for path, text in generated_files().items():
        if path.read_text(encoding="utf-8") != text and path.suffix == ".md":
            problems.append(f"docs/{path.name} differs from the contracts")
    return problems
