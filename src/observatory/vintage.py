"""Vintages: what each build published, and rebuilding a past publication exactly.

Every mart row carries the `build_id`, `method_version` and `published_at` of the build
that wrote it. `marts.publication_log` keeps one row per build x mart: the settings in
force (as JSON, with their hash), the batches the build read (`ops.publication_batches`),
the periods it held provisional, its reference period, and each mart's row count and
content hash. `reproduce` copies the warehouse, takes it back to what that build could
see (its batches, the quarantine as it then stood, the late declarations then made),
rebuilds with the logged settings, the same build id and the same clock, and compares
every mart's content hash (docs/methodology.md, "Frozen history and vintages").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from observatory.config import Config, IndexConfig, TimeBandsConfig
from observatory.sql_util import literal, quote_ident
from observatory.warehouse import columns_of, connect, table_exists

#: Columns every mart ends with; they are not part of a mart's content hash.
STAMP_COLUMNS = ("build_id", "method_version", "published_at")

_LOG_DDL = """
create table if not exists marts.publication_log (
    build_id varchar not null,
    published_at timestamptz not null,
    method_version varchar not null,
    city_id varchar not null,
    settings_hash varchar not null,
    settings json not null,
    n_batches bigint not null,
    batches_hash varchar not null,
    latest_period date,
    provisional_periods date[],
    reference_start date,
    reference_end date,
    mart varchar not null,
    n_rows bigint not null,
    content_hash varchar not null,
    own_content_hash varchar,
    carried_from varchar[]
);
create table if not exists ops.publication_batches (
    build_id varchar not null,
    batch_id varchar not null
);
"""


@dataclass(frozen=True)
class Stamp:
    """The identity of one build's publication."""

    build_id: str
    method_version: str
    published_at: dt.datetime


def stamp_mart(con: duckdb.DuckDBPyConnection, mart: str, stamp: Stamp) -> None:
    """End every row of `marts.<mart>` with the build's id, method version and time."""
    existing = set(columns_of(con, f"marts.{mart}"))
    values = {
        "build_id": ("varchar", stamp.build_id),
        "method_version": ("varchar", stamp.method_version),
        "published_at": ("timestamptz", stamp.published_at),
    }
    for column in STAMP_COLUMNS:
        if column in existing:  # a model's own copy moves to the end, with the build's value
            con.execute(f"alter table marts.{mart} drop column {column}")
        typ, value = values[column]
        # ALTER takes no bound parameters: the default is an escaped literal
        con.execute(
            f"alter table marts.{mart} add column {column} {typ} "
            f"default cast({literal(value)} as {typ})"
        )


def content_hash(con: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> str:
    """A hash of a table's rows (stamp columns left out), independent of row order."""
    cols = [c for c in columns_of(con, table) if c not in STAMP_COLUMNS]
    row = ", ".join(quote_ident(c) for c in cols)
    value = con.execute(
        f"select md5(coalesce(string_agg(h, '' order by h), '')) from ("  # noqa: S608 (table from code or quoted; columns quoted; where fixed in code)
        f"select md5(cast(row({row}) as varchar)) as h from {table} where {where})"
    ).fetchone()[0]
    return str(value)


def _mart_hashes(
    con: duckdb.DuckDBPyConnection, mart: str, build_id: str
) -> tuple[int, str, str, list[str]]:
    """A mart's row count, `content_hash` of all its rows and of the rows `build_id`
    wrote, and the other builds whose rows it holds: one pass over the mart (four
    queries per mart took 0.2 s of a daily increment's build; issue 18)."""
    table = f"marts.{mart}"
    cols = [c for c in columns_of(con, table) if c not in STAMP_COLUMNS]
    row = ", ".join(quote_ident(c) for c in cols)
    n, whole, own, others = con.execute(
        "select count(*), md5(coalesce(string_agg(h, '' order by h), '')), "  # noqa: S608 (mart names from code; columns quoted; build bound)
        "md5(coalesce(string_agg(h, '' order by h) filter (where build_id = $b), '')), "
        "coalesce(list(distinct build_id order by build_id) filter (where build_id <> $b), []) "
        f"from (select md5(cast(row({row}) as varchar)) as h, build_id from {table})",
        {"b": build_id},
    ).fetchone()
    return int(n), str(whole), str(own), list(others)


def settings_of(cfg: Config) -> dict:
    """Everything in the project file that the build's figures depend on."""
    return {
        "city": cfg.city.model_dump(mode="json"),
        "time_bands": cfg.time_bands.model_dump(mode="json"),
        "index": cfg.index.model_dump(mode="json"),
        "sources": [
            {"name": s.name, "kind": s.kind, "coverage": s.coverage.model_dump(mode="json")}
            for s in cfg.sources
        ],
    }


def log_publication(
    con: duckdb.DuckDBPyConnection, cfg: Config, stamp: Stamp, marts: tuple[str, ...]
) -> None:
    """Append what this build published to `marts.publication_log` (same transaction).

    Besides the whole mart's hash, the log keeps the hash of the rows this build computed
    itself (`own_content_hash`) and the builds whose rows it kept (`carried_from`: the
    frozen months of an incremental build), so that `reproduce` can check each build on
    the rows it wrote."""
    con.execute(_LOG_DDL)
    for column, typ in (("own_content_hash", "varchar"), ("carried_from", "varchar[]")):
        if column not in columns_of(con, "marts.publication_log"):  # a log from before
            con.execute(f"alter table marts.publication_log add column {column} {typ}")
    con.execute(
        "insert into ops.publication_batches select distinct ?, batch_id from ("
        "select batch_id from validated.survey union all select batch_id from validated.incidents"
        " union all select batch_id from validated.sensors) as v where not exists ("
        "select 1 from ops.batch_holds as h where h.batch_id = v.batch_id "  # held: not read
        "and h.released_at is null)",
        [stamp.build_id],
    )
    n_batches, batches_hash = con.execute(
        "select count(*), md5(coalesce(string_agg(batch_id, ',' order by batch_id), '')) "
        "from ops.publication_batches where build_id = ?",
        [stamp.build_id],
    ).fetchone()
    settings = json.dumps(settings_of(cfg), sort_keys=True)
    latest, provisional = con.execute(
        "select max(period_start), list(period_start order by period_start) "
        "filter (where is_provisional) from idx.idx_periods"
    ).fetchone()
    reference = con.execute(
        "select min(reference_start), max(reference_end) from idx.idx_incidents"
    ).fetchone()
    rows = [
        (
            stamp.build_id,
            stamp.published_at,
            stamp.method_version,
            cfg.city.id,
            hashlib.sha256(settings.encode()).hexdigest(),
            settings,
            n_batches,
            batches_hash,
            latest,
            provisional or [],
            reference[0],
            reference[1],
            mart,
            *_mart_hashes(con, mart, stamp.build_id),
        )
        for mart in marts
    ]
    con.executemany(
        "insert into marts.publication_log (build_id, published_at, method_version, city_id, "
        "settings_hash, settings, n_batches, batches_hash, latest_period, provisional_periods, "
        "reference_start, reference_end, mart, n_rows, content_hash, own_content_hash, "
        "carried_from) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


@dataclass
class Reproduction:
    """The outcome of rebuilding a past publication."""

    build_id: str
    published_at: dt.datetime
    matches: dict[str, bool]  # mart -> the rows the build wrote hash as logged
    #: mart -> the earlier builds whose rows the publication kept (frozen months of an
    #: incremental build): reproduce those builds to check those rows
    carried_from: dict[str, list[str]] = field(default_factory=dict)
    #: the method version the build logged, and this code's: another method's draws
    #: (v3 -> v4: streams by month) cannot be reproduced by this version
    method_version: str = ""
    current_method: str = ""

    @property
    def exact(self) -> bool:
        """Every mart was reproduced to the last digit."""
        return bool(self.matches) and all(self.matches.values())


def publications(con: duckdb.DuckDBPyConnection) -> list[tuple[str, dt.datetime, date_]]:
    """The builds in the log, newest first: (build_id, published_at, latest period)."""
    if not table_exists(con, "marts", "publication_log"):
        return []
    return con.execute(
        "select build_id, any_value(published_at), any_value(latest_period) "
        "from marts.publication_log group by build_id order by 2 desc"
    ).fetchall()


date_ = dt.date


def reproduce(cfg: Config, build_id: str, workdir: Path | None = None) -> Reproduction:
    """Rebuild the publication of `build_id` from the warehouse, in a scratch copy.

    The copy is taken back to what the build could see: only the batches it read, the
    quarantine without later batches and releases, the late declarations made before it.
    The build then runs with the logged settings, build id and clock. The city's warehouse
    itself is only read.
    """
    from observatory import pipeline  # noqa: PLC0415 (pipeline imports this module)

    with connect(cfg, read_only=True) as con:
        own = "own_content_hash" in columns_of(con, "marts.publication_log")
        logged = con.execute(
            "select mart, "
            + ("coalesce(own_content_hash, content_hash), " if own else "content_hash, ")
            + ("coalesce(carried_from, []), " if own else "[], ")
            + "any_value(settings) over (), any_value(published_at) over (), "
            "any_value(method_version) over () "
            "from marts.publication_log where build_id = ?",
            [build_id],
        ).fetchall()
        if not logged:
            raise KeyError(f"build {build_id} is not in marts.publication_log")
        frozen = (
            [
                p
                for (p,) in con.execute(
                    "select period_start from ops.build_periods "
                    "where build_id = ? and is_frozen order by 1",
                    [build_id],
                ).fetchall()
            ]
            if table_exists(con, "ops", "build_periods")
            else []
        )
    settings = json.loads(logged[0][3])
    published_at = logged[0][4]
    scratch = Path(tempfile.mkdtemp(prefix="observatory-reproduce-", dir=workdir))
    try:
        copy = scratch / "warehouse.duckdb"
        shutil.copyfile(cfg.warehouse_path, copy)
        past = cfg.model_copy(
            update={
                "index": IndexConfig.model_validate(settings["index"]),
                "time_bands": TimeBandsConfig.model_validate(settings["time_bands"]),
                "project": cfg.project.model_copy(update={"warehouse": str(copy)}),
            }
        )
        con = duckdb.connect(str(copy))
        try:
            _roll_back_to(con, build_id, published_at)
        finally:
            con.close()
        pipeline.build(past, now=published_at, build_id=build_id, serve=False, full=True)
        # The rebuild is full: for the months an incremental build kept frozen it computes
        # fresh rows, which that build did not publish; only the rows it wrote are compared.
        with duckdb.connect(str(copy), read_only=True) as con:
            matches = {
                # the mart's name is read from publication_log: quoted, not trusted
                mart: content_hash(con, f"marts.{quote_ident(mart)}", _own_rows(con, mart, frozen))
                == logged_hash
                for mart, logged_hash, *_ in logged
            }
        carried = {mart: list(builds) for mart, _, builds, *_ in logged if builds}
        from observatory.index.steps import METHOD_VERSION  # noqa: PLC0415 (the index stack)

        return Reproduction(build_id, published_at, matches, carried, logged[0][5], METHOD_VERSION)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _own_rows(con: duckdb.DuckDBPyConnection, mart: str, frozen: list[date_]) -> str:
    """SQL: the rows of a full rebuild that the (incremental) build itself published."""
    if not frozen or "period_start" not in columns_of(con, f"marts.{quote_ident(mart)}"):
        return "true"
    return "period_start not in (" + ", ".join(f"date {literal(p)}" for p in frozen) + ")"


def _roll_back_to(con: duckdb.DuckDBPyConnection, build_id: str, published_at: dt.datetime) -> None:
    """Keep only what `build_id` could see (in the scratch copy)."""
    con.execute("begin")
    seen = "(select batch_id from ops.publication_batches where build_id = $build)"
    p = {"build": build_id}
    for kind in ("survey", "survey_non_response", "incidents", "sensors"):
        con.execute(f"delete from validated.{kind} where batch_id not in {seen}", p)  # noqa: S608 (kinds fixed in code; build bound)
        if kind == "survey_non_response":
            continue
        con.execute(
            f"delete from quarantine.{kind} where quarantined_at > $at",  # noqa: S608 (kinds fixed in code; time bound)
            {"at": published_at},
        )
        con.execute(
            f"update quarantine.{kind} set released_at = null, released_batch_id = null "  # noqa: S608 (kinds fixed in code; time bound)
            "where released_at > $at",
            {"at": published_at},
        )
    con.execute("delete from ops.batches where started_at > $at", {"at": published_at})
    con.execute("delete from ops.late_sources where declared_at > $at", {"at": published_at})
    con.execute("delete from ops.builds where started_at >= $at", {"at": published_at})
    con.execute("delete from marts.publication_log where published_at >= $at", {"at": published_at})
    con.execute("delete from ops.publication_batches where build_id = $build", p)
    con.execute("commit")
