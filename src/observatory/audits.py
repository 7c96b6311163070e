"""Audits of the published tables, run inside the build's transaction.

Each audit is a query returning the rows that break a rule; a build publishes only when
every audit returns none. The rules come from the marts' contracts (`sql/marts/<mart>.toml`,
`observatory.contracts`):

* **grain**: the declared key columns are never null and never repeat;
* **intervals**: every `<x>_ci_low` / `<x>_ci_high` pair is ordered, and holds `<x>` (or
  `<x>_value`) where the contract does not exempt it (`interval_exempt`: a percentile
  interval of ranks need not hold the rank of the default method);
* **suppression**: every survey-based column (`survey_columns`) is null where the row is
  withheld (`suppressed_flag`, default `is_suppressed`);
* **reconciliation**: every loaded batch reconciles (`marts.data_quality`).

A failing audit raises `AuditError`: the build's transaction rolls back, so the previous
publication stays in place, and `ops.audit_failures` records what failed and an example.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import duckdb

from observatory.contracts import Contract
from observatory.warehouse import columns_of

_DDL = """
create table if not exists ops.audit_failures (
    build_id varchar not null,
    failed_at timestamptz not null,
    mart varchar not null,
    audit varchar not null,
    n_rows bigint not null,
    example json
)
"""


@dataclass(frozen=True)
class Audit:
    """One rule on one mart: a query that returns the rows breaking it."""

    mart: str
    name: str
    sql: str


@dataclass(frozen=True)
class Failure:
    """An audit that found rows."""

    mart: str
    audit: str
    n_rows: int
    example: dict


class AuditError(RuntimeError):
    """Some audits found rows: the build must not publish."""

    def __init__(self, failures: list[Failure]) -> None:
        self.failures = failures
        shown = "; ".join(f"marts.{f.mart} {f.audit} ({f.n_rows} rows)" for f in failures[:5])
        super().__init__(f"{len(failures)} audit(s) failed, nothing published: {shown}")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def audits_for(con: duckdb.DuckDBPyConnection, contract: Contract) -> list[Audit]:
    """The audits of one mart, from its contract and its actual columns."""
    table = f"marts.{contract.mart}"
    cols = columns_of(con, table)
    out: list[Audit] = []
    if contract.grain:
        keys = ", ".join(_q(k) for k in contract.grain)
        nulls = " or ".join(f"{_q(k)} is null" for k in contract.grain)
        out.append(Audit(contract.mart, "grain not null", f"select * from {table} where {nulls}"))  # noqa: S608 (mart from the repo's contracts; columns quoted)
        out.append(
            Audit(
                contract.mart,
                "grain unique",
                f"select {keys}, count(*) as n from {table} group by all having count(*) > 1",  # noqa: S608 (mart from the repo's contracts; columns quoted)
            )
        )
    exempt = set(contract.extra.get("interval_exempt", ()))
    for low in (c for c in cols if c.endswith("_ci_low")):
        stem = low.removesuffix("_ci_low")
        high = f"{stem}_ci_high"
        if high not in cols:
            continue
        out.append(
            Audit(
                contract.mart,
                f"{stem} interval ordered",
                f"select * from {table} where {_q(low)} > {_q(high)}",  # noqa: S608 (mart from the repo's contracts; columns quoted)
            )
        )
        value = next((v for v in (stem, f"{stem}_value") if v in cols), None)
        if value and stem not in exempt:
            out.append(
                Audit(
                    contract.mart,
                    f"{stem} inside its interval",
                    f"select * from {table} where {_q(value)} < {_q(low)} "  # noqa: S608 (mart from the repo's contracts; columns quoted)
                    f"or {_q(value)} > {_q(high)}",
                )
            )
    flag = contract.extra.get("suppressed_flag", "is_suppressed")
    survey = [c for c in contract.survey_columns if c in cols]
    if survey and flag in cols:
        filled = " or ".join(f"{_q(c)} is not null" for c in survey)
        out.append(
            Audit(
                contract.mart,
                "withheld cells hold no survey figure",
                f"select * from {table} where {_q(flag)} and ({filled})",  # noqa: S608 (mart from the repo's contracts; columns quoted)
            )
        )
    if contract.mart == "data_quality":
        out.append(
            Audit(
                contract.mart,
                "batches reconcile",
                f"select * from {table} where status = 'loaded' and not is_reconciled",  # noqa: S608 (mart from the repo's contracts)
            )
        )
    return out


def run_audits(
    con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract], marts: tuple[str, ...]
) -> list[Failure]:
    """Run every audit of the built marts; the failures (empty when all pass)."""
    failures = []
    for mart in marts:
        contract = contracts.get(mart)
        if contract is None:
            fix = {"fix": f"add sql/marts/{mart}.toml"}
            failures.append(Failure(mart, "has a contract", 1, fix))
            continue
        for audit in audits_for(con, contract):
            cur = con.execute(f"select count(*) over () as _n, * from ({audit.sql}) limit 1")  # noqa: S608 (audit SQL built above from contracts)
            row = cur.fetchone()
            if row is None:
                continue
            names = [d[0] for d in cur.description][1:]
            example = {k: _plain(v) for k, v in zip(names, row[1:], strict=True)}
            failures.append(Failure(mart, audit.name, int(row[0]), example))
    return failures


def _plain(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def record_failures(con: duckdb.DuckDBPyConnection, build_id: str, failures: list[Failure]) -> None:
    """Keep what failed (outside the rolled-back build) for `ops.audit_failures`."""
    con.execute(_DDL)
    now = dt.datetime.now(dt.UTC)
    con.executemany(
        "insert into ops.audit_failures values (?, ?, ?, ?, ?, ?)",
        [[build_id, now, f.mart, f.audit, f.n_rows, json.dumps(f.example)] for f in failures],
    )
