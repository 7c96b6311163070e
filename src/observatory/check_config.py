"""`observatory check-config`: a dry run of each source's mapping and suite on a sample.

Nothing is written to the warehouse: the sample is read into an in-memory DuckDB with the
city's zones (and sensor locations), conformed by the compiled mapping, given zones and
validated by the real suite, exactly as ingestion would. The result shows how rows map,
what would be quarantined and why, and which zone codes or sensor names found no match.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from observatory import progress
from observatory.config import Config, SourceConfig, respondent_warning
from observatory.ingest import _Batch, landing_files, refresh_sensor_locations, validate_batch
from observatory.sources.mapping import check_columns
from observatory.sources.readers import BatchError, drop_batch_table, load_file
from observatory.warehouse import SCHEMAS, columns_of
from observatory.zones import Zones, load_zones, write_zones


@dataclass
class SourceCheck:
    """What a source's sample would become."""

    source: str
    file: str | None
    rows_sampled: int = 0
    records: int = 0
    accepted: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _memory_warehouse(cfg: Config, zones: Zones) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for schema in SCHEMAS:
        con.execute(f"create schema {schema}")
    write_zones(con, cfg, zones)
    return con


def _check_source(
    con: duckdb.DuckDBPyConnection, cfg: Config, src: SourceConfig, zones: Zones, sample: int
) -> SourceCheck:
    files = landing_files(cfg, src)
    result = SourceCheck(src.name, str(files[0]) if files else None)
    warning = respondent_warning(src)
    if warning:
        result.warnings.append(warning)
    if not files:
        result.error = f"no files match {cfg.resolve(src.path)}"
        return result
    batch = _Batch(src, files[0], "0" * 64, dt.datetime.now(dt.UTC), label="check-")
    try:
        if src.kind == "sensors":
            refresh_sensor_locations(con, cfg, src, zones)
        whole = batch.table("whole")
        load_file(con, src.format, files[0], src.read, whole)
        con.execute(
            f"create or replace table {batch.table('b')} as "
            f"select * from {whole} where _row_number <= {int(sample)}"
        )
        drop_batch_table(con, whole)
        check_columns(src, columns_of(con, batch.table("b")), str(files[0]))
        validate_batch(con, cfg, batch, zones, dt.datetime.now(dt.UTC))
    except BatchError as exc:
        result.error = str(exc)
        return result
    zoned, flagged = batch.table("z"), batch.table("f")
    result.rows_sampled = con.execute(f"select count(*) from {batch.table('b')}").fetchall()[0][0]
    (result.records,) = con.execute(f"select count(*) from {zoned}").fetchall()[0]
    (failing,) = con.execute(f"select count(*) from {flagged}").fetchall()[0]
    result.accepted = result.records - failing
    result.quarantined = dict(
        con.execute(
            f"select unnest(_reasons) as reason, count(*) from {flagged} group by 1 order by 2 desc"
        ).fetchall()
    )
    key = "sensor_id" if src.kind == "sensors" else "zone_code"
    result.unmatched = [
        r[0]
        for r in con.execute(
            f"select distinct {key} from {zoned} where zone_id is null and {key} is not null "
            "order by 1 limit 20"
        ).fetchall()
    ]
    rel = con.execute(
        f"select z.* exclude (_row_hash), coalesce(f._reasons, cast([] as varchar[])) as _reasons "
        f"from {zoned} as z left join {flagged} as f on f._zrow = z.rowid "
        "order by z._row_number limit 5"
    )
    cols = [d[0] for d in rel.description]
    result.preview = [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
    return result


def check_config(
    cfg: Config, sources: list[str] | None = None, sample: int = 1000
) -> list[SourceCheck]:
    """Dry-run the mapping and suite of each source on the first `sample` rows of its first
    landing file; return what would be accepted and quarantined, and why."""
    zones = load_zones(cfg)
    selected = [cfg.source(s) for s in sources] if sources else list(cfg.sources)
    con = _memory_warehouse(cfg, zones)
    results = []
    try:
        with progress.task("check-config", len(selected), "sources") as bar:
            for src in selected:
                bar.update(item=src.name)
                results.append(_check_source(con, cfg, src, zones, sample))
                bar.advance(1, rows=results[-1].rows_sampled)
        return results
    finally:
        con.close()
