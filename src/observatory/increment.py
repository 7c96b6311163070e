"""What an incremental build recomputes, and what it keeps as published (issue 18).

A build recomputes the index layer as before (its pooled models need every month: see
docs/methodology.md section 13 and docs/build-graph.md, "What an increment recomputes"),
but publishes fresh rows only for the months that are **open**: provisional now, or
provisional in the previous publication, or touched by a batch since then (a batch
added, removed or changed in size), together with the `fear_gap_months` months after a
touched one (their change on the previous month and their fear gap read it). Every other
month published before is **frozen**: its rows in the period-grained marts are kept as
they were published, stamps included (their vintage is the build that computed them).

Nothing is frozen (a full build) when there is no earlier publication, when the method
version or the settings changed, when the incident reference period moved or a batch
touched one of its months, or when `full=True` (`observatory build --full`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import duckdb

from observatory.config import Config
from observatory.sql_util import quote_ident
from observatory.vintage import settings_of
from observatory.warehouse import columns_of, table_exists

log = logging.getLogger(__name__)

#: Inputs this close to the previous build's, as a fraction of their largest absolute
#: value, count as unchanged (`unchanged`): far below anything published, above the
#: noise a closed month's figures carry from build to build (DuckDB's parallel sums; a
#: variance pooled over every month moves a closed month's perception by ~1e-7 of its
#: 100 points when a day of an open month lands).
TOLERANCE = 1e-6


def unchanged(before: tuple[str, object] | None, now: tuple[str, object]) -> bool:
    """Whether a step's inputs are those of the previous build: `(digest, values)` pairs,
    the digest of what must be identical (the cells' layout, the settings) and the numbers
    it read, equal to within `TOLERANCE` of their largest absolute value (NaN where NaN
    was). A step that keeps its earlier result on this should keep the inputs it was made
    from as well, so that small moves cannot add up past the tolerance build after build."""
    import numpy as np  # noqa: PLC0415 (the ingest path imports this module)

    if before is None or before[0] != now[0]:
        return False
    old = np.asarray(before[1], dtype=np.float64)
    new = np.asarray(now[1], dtype=np.float64)
    if old.shape != new.shape:
        return False
    missing = np.isnan(old)
    if not np.array_equal(missing, np.isnan(new)):
        return False
    if missing.all():
        return True
    old, new = old[~missing], new[~missing]
    scale = max(float(np.abs(old).max()), float(np.abs(new).max()))
    return bool(np.abs(old - new).max() <= TOLERANCE * scale)


_DDL = """
create table if not exists ops.build_inputs (
    build_id varchar not null,
    batch_id varchar not null,
    n_rows bigint not null,
    first_at timestamptz,
    last_at timestamptz
);
create table if not exists ops.build_references (
    build_id varchar not null,
    reference_hash varchar not null
);
create table if not exists ops.build_periods (
    build_id varchar not null,
    period_start date not null,
    is_frozen boolean not null
);
"""

_VALIDATED_TIMES = (
    ("survey", "surveyed_at"),
    ("survey_non_response", "surveyed_at"),
    ("incidents", "occurred_at"),
    ("sensors", "measured_at"),
)


@dataclass
class Plan:
    """What this build will recompute (decided before the graph runs, completed after)."""

    full: bool
    reason: str
    previous_build: str | None = None
    touched: set[dt.date] = field(default_factory=set)
    frozen: tuple[dt.date, ...] = ()
    _previous_final: set[dt.date] = field(default_factory=set)
    _previous_periods: set[dt.date] = field(default_factory=set)
    _previous_reference: tuple[dt.date | None, dt.date | None] = (None, None)


def _month(ts: dt.datetime, tz: ZoneInfo) -> dt.date:
    return ts.astimezone(tz).date().replace(day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    n = day.year * 12 + day.month - 1 + months
    return dt.date(n // 12, n % 12 + 1, 1)


#: Reference tables a month's figures depend on beyond the settings: a new zone or a
#: redrawn one, a source added or its coverage changed, republish every month.
_REFERENCES = ("ref.zones", "ref.sources")


def reference_hash(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of the reference tables' rows (order-free)."""
    parts = []
    for table in _REFERENCES:
        schema, name = table.split(".")
        if table_exists(con, schema, name):
            parts.append(
                con.execute(
                    f"select md5(coalesce(string_agg(h, '' order by h), '')) from "  # noqa: S608 (reference tables from code)
                    f"(select md5(cast(t as varchar)) as h from {table} as t)"
                ).fetchone()[0]
            )
    return "|".join(parts)


def settings_hash(cfg: Config) -> str:
    """The hash `marts.publication_log` keeps of the settings a build used."""
    return hashlib.sha256(json.dumps(settings_of(cfg), sort_keys=True).encode()).hexdigest()


def current_inputs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, object, object]]:
    """Every batch the build reads: its accepted rows, first and last record time.

    A held batch (`ops.batch_holds`, not released) is not read, so it is not an input."""
    parts = [
        f"select batch_id, {column} as t from validated.{table}"  # noqa: S608 (tables and columns from code)
        for table, column in _VALIDATED_TIMES
        if table_exists(con, "validated", table)
    ]
    if not parts:
        return {}
    held = (
        "where batch_id not in (select batch_id from ops.batch_holds where released_at is null)"
        if table_exists(con, "ops", "batch_holds")
        else ""
    )
    rows = con.execute(
        f"select batch_id, count(*), min(t), max(t) from ({' union all '.join(parts)}) "  # noqa: S608 (parts and filter built above from code)
        f"{held} group by batch_id"
    ).fetchall()
    return {b: (n, first, last) for b, n, first, last in rows}


def plan(
    con: duckdb.DuckDBPyConnection,
    *,
    settings_hash: str,
    method_version: str,
    tz: str,
    fear_gap_months: int,
    full: bool = False,
) -> Plan:
    """Decide whether this build may freeze published months, and which months a batch
    touched since the previous publication."""
    con.execute(_DDL)
    last = _last_publication(con) if not full else None
    reason = (
        "full build asked for"
        if full
        else "no earlier publication"
        if last is None
        else f"method {last[2]} -> {method_version}"
        if last[2] != method_version
        else "settings changed"
        if last[1] != settings_hash
        else None
    )
    if reason or last is None:
        return Plan(True, reason or "")
    build_id, _, _, latest, provisional, ref_start, ref_end = last
    kept = con.execute(
        "select any_value(reference_hash) from ops.build_references where build_id = ?",
        [build_id],
    ).fetchone()[0]
    if kept != reference_hash(con):
        return Plan(True, "zones or sources changed" if kept else "no reference hash kept")
    before = {
        b: (n, first, last)
        for b, n, first, last in con.execute(
            "select batch_id, n_rows, first_at, last_at from ops.build_inputs where build_id = ?",
            [build_id],
        ).fetchall()
    }
    if not before:
        return Plan(True, f"build {build_id} recorded no inputs (an older warehouse)")
    now = current_inputs(con)
    zone = ZoneInfo(tz)
    touched: set[dt.date] = set()
    for batch in set(before) | set(now):
        if before.get(batch) == now.get(batch):
            continue
        for n, first, last_at in (v for v in (before.get(batch), now.get(batch)) if v):
            if n and first is not None:
                month, end = _month(first, zone), _month(last_at, zone)
                while month <= end:
                    for ahead in range(fear_gap_months + 1):  # its change and fear gap
                        touched.add(_add_months(month, ahead))
                    month = _add_months(month, 1)
    periods = (
        {r[0] for r in con.execute("select distinct period_start from marts.zone_index").fetchall()}
        if table_exists(con, "marts", "zone_index")
        else set()
    )
    final = {p for p in periods if p <= latest and p not in set(provisional or [])}
    return Plan(
        False,
        "incremental",
        build_id,
        touched,
        _previous_final=final,
        _previous_periods=periods,
        _previous_reference=(ref_start, ref_end),
    )


def _last_publication(con: duckdb.DuckDBPyConnection) -> tuple | None:
    if not table_exists(con, "marts", "publication_log"):
        return None
    return con.execute(
        "select build_id, settings_hash, method_version, latest_period, provisional_periods, "
        "reference_start, reference_end from marts.publication_log "
        "order by published_at desc limit 1"
    ).fetchone()


def settle(con: duckdb.DuckDBPyConnection, plan_: Plan) -> tuple[dt.date, ...]:
    """The months this build keeps frozen, once the index layer knows which are
    provisional now and where the incident reference period lies."""
    if plan_.full:
        return ()
    reference = con.execute(
        "select min(reference_start), max(reference_end) from idx.idx_incidents"
    ).fetchone()
    if tuple(reference) != tuple(plan_._previous_reference):
        plan_.full, plan_.reason = True, "the incident reference period moved"
        return ()
    ref_start, ref_end = reference
    if ref_start is not None and any(ref_start <= p <= ref_end for p in plan_.touched):
        plan_.full, plan_.reason = True, "a batch touched the incident reference period"
        return ()
    provisional = {
        r[0]
        for r in con.execute(
            "select period_start from idx.idx_periods where is_provisional"
        ).fetchall()
    }
    plan_.frozen = tuple(sorted(plan_._previous_final - provisional - plan_.touched))
    return plan_.frozen


#: Index models that aggregate each month from that month's rows alone (no window, no
#: pooling): an increment recomputes them from `recompute_since` on and keeps the earlier
#: months' rows (`run_by_month`). Their SQL reads its rows from `$recompute_since` (UTC).
BY_MONTH = ("idx_environment", "idx_respondents")

#: `$recompute_since` of a full build: every row.
EARLIEST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


def recompute_since(plan_: Plan) -> dt.date | None:
    """The first month an incremental build may republish, known before the graph runs:
    the earliest month touched, provisional in the previous publication, or after its
    last final month. Every month before it is frozen or unchanged (no batch touched it).
    None: every month (a full plan, or nothing final published)."""
    if plan_.full or not plan_._previous_final:
        return None
    after_final = _add_months(max(plan_._previous_final), 1)
    return min({after_final} | plan_.touched | (plan_._previous_periods - plan_._previous_final))


def run_by_month(
    con: duckdb.DuckDBPyConnection,
    model: str,
    params: dict[str, object],
    since: dt.date | None,
    tz: str,
) -> None:
    """Build `idx.<model>` (one of `BY_MONTH`) from `since` on, keeping its rows of the
    months before (an increment: those months' rows are a full build's, their input
    unchanged); the whole model when `since` is None or the kept rows do not fit."""
    from observatory.sql_util import run_model  # noqa: PLC0415

    table = f"idx.{model}"
    if since is None or not table_exists(con, "idx", model):
        run_model(con, "index", model, {**params, "recompute_since": EARLIEST})
        return
    kept = f"_kept_{model}"
    con.execute(
        f"create or replace temp table {kept} as select * from {table} where period_start < ?",  # noqa: S608 (model names from code)
        [since],
    )
    at = dt.datetime(since.year, since.month, 1, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    run_model(con, "index", model, {**params, "recompute_since": at})
    if columns_of(con, kept) == columns_of(con, table):
        con.execute(f"insert into {table} select * from {kept}")  # noqa: S608 (model names from code)
        log.info("%s: read from %s on, earlier months kept", table, since)
    else:  # the model's columns changed since the last build: every month again
        run_model(con, "index", model, {**params, "recompute_since": EARLIEST})
    con.execute(f"drop table {kept}")


#: The settled plan, as the Python index steps read it (`months_to_compute`): one row per
#: open month, present only while an incremental build runs on this connection.
_OPEN_MONTHS = "_increment_open_months"


def expose(con: duckdb.DuckDBPyConnection, plan_: Plan) -> None:
    """Make the settled plan readable by the index steps (`months_to_compute`).

    Called once the plan is settled; a full plan leaves nothing (every month is open)."""
    forget(con)
    if plan_.full:
        return
    con.execute(
        f"create temp table {_OPEN_MONTHS} as select distinct period_start "  # noqa: S608 (table name from code; months bound)
        "from idx.idx_periods where period_start not in (select unnest(cast($p as date[])))",
        {"p": list(plan_.frozen)},
    )


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the exposed plan (a build starts, or ends, on this connection)."""
    con.execute(f"drop table if exists temp.{_OPEN_MONTHS}")


def months_to_compute(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, ...] | None:
    """The months an index step must compute in this build, oldest first; None for every
    month (a full build, or no build plan on this connection).

    A step that computes only these months must give them the rows a full build would
    (the rule `tests/test_increment.py` checks); the other months' rows are never
    published by this build (the marts put back their frozen rows)."""
    exposed = con.execute(
        "select count(*) from duckdb_tables() where temporary and table_name = ?", [_OPEN_MONTHS]
    ).fetchall()[0][0]
    if not exposed:
        return None
    return tuple(
        r[0]
        for r in con.execute(
            f"select period_start from temp.{_OPEN_MONTHS} order by 1"  # noqa: S608 (table name from code)
        ).fetchall()
    )


def snapshot(con: duckdb.DuckDBPyConnection, mart: str, frozen: tuple[dt.date, ...]) -> bool:
    """Keep the published rows of the frozen months of `marts.<mart>` (before it is
    rebuilt); False if the mart has no months or did not exist."""
    if not frozen or not table_exists(con, "marts", mart):
        return False
    if "period_start" not in columns_of(con, f"marts.{mart}"):
        return False
    con.execute(
        f"create or replace temp table _frozen_{mart} as select * from marts.{mart} "  # noqa: S608 (mart names from code; months bound)
        "where period_start in (select unnest(cast($p as date[])))",
        {"p": list(frozen)},
    )
    return True


def restore(
    con: duckdb.DuckDBPyConnection,
    mart: str,
    frozen: tuple[dt.date, ...],
    grain: tuple[str, ...],
) -> None:
    """Put the frozen months' published rows back in place of the rebuilt ones.

    A mart whose grain is not by month (`zone_index_latest`: a zone's latest month) gets
    back only the rows whose key the rebuild did not publish for an open month."""
    old, new = columns_of(con, f"_frozen_{mart}"), columns_of(con, f"marts.{mart}")
    if old != new:
        con.execute(f"drop table _frozen_{mart}")
        raise RuntimeError(
            f"marts.{mart} changed its columns since the last publication but the method "
            "version did not: run `observatory build --full` (and bump METHOD_VERSION)"
        )
    con.execute(
        f"delete from marts.{mart} where period_start in (select unnest(cast($p as date[])))",  # noqa: S608 (mart names from code; months bound)
        {"p": list(frozen)},
    )
    same_key = (
        " and ".join(f"n.{quote_ident(k)} is not distinct from f.{quote_ident(k)}" for k in grain)
        or "false"
    )
    con.execute(
        f"insert into marts.{mart} select * from _frozen_{mart} as f "  # noqa: S608 (mart names from code; grain columns quoted)
        f"where not exists (select 1 from marts.{mart} as n where {same_key})"
    )
    con.execute(f"drop table _frozen_{mart}")


def record(
    con: duckdb.DuckDBPyConnection, build_id: str, plan_: Plan, inputs: dict | None = None
) -> None:
    """What this build read (`ops.build_inputs`) and which months it froze
    (`ops.build_periods`): the next build's plan starts from them."""
    inputs = current_inputs(con) if inputs is None else inputs
    con.execute("insert into ops.build_references values (?, ?)", [build_id, reference_hash(con)])
    rows = [[build_id, b, n, first, last] for b, (n, first, last) in sorted(inputs.items())]
    if rows:  # executemany refuses an empty list (a city with no rows yet)
        con.executemany("insert into ops.build_inputs values (?, ?, ?, ?, ?)", rows)
    periods = [
        r[0] for r in con.execute("select period_start from idx.idx_periods order by 1").fetchall()
    ]
    frozen = set(plan_.frozen)
    if periods:
        con.executemany(
            "insert into ops.build_periods values (?, ?, ?)",
            [[build_id, p, p in frozen] for p in periods],
        )


def nothing_new(
    con: duckdb.DuckDBPyConnection,
    *,
    settings_hash: str,
    method_version: str,
    tz: str,
    now: dt.datetime | None = None,
) -> str | None:
    """The previous build's id when a build now (the wall clock unless `now` is given)
    would publish the same thing (same inputs, settings and method, no late declaration
    since, and the city's calendar month unchanged, so no month has ended); None
    otherwise."""
    if not all(
        table_exists(con, schema, name)
        for schema, name in (
            ("marts", "publication_log"),
            ("ops", "build_inputs"),
            ("ops", "build_references"),
        )
    ):
        return None
    last = con.execute(
        "select build_id, published_at, settings_hash, method_version "
        "from marts.publication_log order by published_at desc limit 1"
    ).fetchone()
    if last is None or last[2] != settings_hash or last[3] != method_version:
        return None
    build_id, published_at = last[0], last[1]
    zone = ZoneInfo(tz)
    if _month(published_at, zone) != _month(now or dt.datetime.now(dt.UTC), zone):
        return None
    if table_exists(con, "ops", "late_sources"):
        late = con.execute(
            "select count(*) from ops.late_sources where declared_at > ?", [published_at]
        ).fetchone()[0]
        if late:
            return None
    before = {
        b: (n, first, last_at)
        for b, n, first, last_at in con.execute(
            "select batch_id, n_rows, first_at, last_at from ops.build_inputs where build_id = ?",
            [build_id],
        ).fetchall()
    }
    if not before or before != current_inputs(con):
        return None
    kept = con.execute(
        "select any_value(reference_hash) from ops.build_references where build_id = ?",
        [build_id],
    ).fetchone()
    # ref.sources is rewritten by the build from the settings (their hash is compared)
    zones = reference_hash(con).split("|")[0]
    return build_id if kept and kept[0] and kept[0].split("|")[0] == zones else None
