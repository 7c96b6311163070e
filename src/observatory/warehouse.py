"""The warehouse: one DuckDB file per city, its schemas and its bookkeeping tables."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from observatory.config import Config, check_memory_limit

log = logging.getLogger(__name__)

SCHEMAS = ("raw", "validated", "quarantine", "ref", "staging", "idx", "marts", "ops", "work")

_OPS_DDL = """
create table if not exists ops.batches (
    batch_id varchar primary key,
    source_name varchar not null,
    source_kind varchar not null,
    file_path varchar not null,
    file_hash varchar not null,
    file_bytes bigint,
    status varchar not null,
    rows_in_file bigint,
    rows_read bigint,
    rows_accepted bigint,
    rows_quarantined bigint,
    error varchar,
    started_at timestamptz not null,
    finished_at timestamptz,
    file_modified_at timestamptz
);
create table if not exists ops.validation_runs (
    run_id varchar primary key,
    batch_id varchar not null,
    source_name varchar not null,
    suite_name varchar not null,
    success boolean not null,
    expectations_evaluated integer not null,
    expectations_failed integer not null,
    engine varchar not null,
    validated_at timestamptz not null,
    result_json json
);
alter table ops.validation_runs add column if not exists result_json json;
-- item non-response ("don't know"): its own outcome, rows read = accepted + it + quarantined
alter table ops.batches add column if not exists rows_non_response bigint;
-- rows of only delimiters or spaces: read and counted, not records (sources.readers)
alter table ops.batches add column if not exists rows_blank bigint;
create table if not exists ops.validation_results (
    run_id varchar not null,
    batch_id varchar not null,
    expectation_type varchar not null,
    column_name varchar,
    kwargs json,
    severity varchar not null,
    success boolean not null,
    element_count bigint,
    unexpected_count bigint,
    unexpected_percent double,
    sample_values json
);
create table if not exists ops.builds (
    build_id varchar primary key,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    error varchar
);
create table if not exists ops.late_sources (
    source_name varchar not null,
    period_start date not null,
    declared_at timestamptz not null,
    reason varchar
);
-- write-audit-publish: a batch over its quarantine limit is held until released
-- (observatory.ops.holds); rows are never deleted: the record of every hold and release
create table if not exists ops.batch_holds (
    batch_id varchar not null,
    source_name varchar not null,
    held_at timestamptz not null,
    reason varchar not null,
    quarantined_share double not null,
    max_share double not null,
    released_at timestamptz,
    released_by varchar,
    note varchar
);
create table if not exists ops.build_steps (
    build_id varchar not null,
    step varchar not null,
    seconds double not null
);
-- where each batch's time went: read, conform, validate, flag, archive, append, commit
create table if not exists ops.batch_steps (
    batch_id varchar not null,
    step varchar not null,
    seconds double not null
);
-- and the CPU seconds of each (the process's, DuckDB's threads included)
alter table ops.batch_steps add column if not exists cpu_seconds double;
-- the raw layer: each landing file archived under its SHA-256 (observatory.archive)
create table if not exists raw.files (
    source_name varchar not null,
    original_path varchar not null,
    sha256 varchar not null,
    file_bytes bigint not null,
    stored_path varchar not null,
    stored_bytes bigint not null,
    compression varchar,
    rows bigint,
    batch_id varchar not null,
    archived_at timestamptz not null,
    erased_rows bigint not null default 0,
    previous_sha256 varchar,
    note varchar
);
"""

_QUARANTINE_DDL = """
create table if not exists quarantine.{kind} (
    source_name varchar not null,
    batch_id varchar not null,
    row_number bigint not null,
    record_id varchar,
    raw_row json,
    failed_expectations varchar[],
    reason varchar not null,
    quarantined_at timestamptz not null,
    released_at timestamptz,
    released_batch_id varchar
);
"""


def connect(cfg: Config, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the city's warehouse, with schemas and ops tables in place.

    Timestamps are handled in UTC (session TimeZone) and DuckDB's memory is capped by
    `project.memory_limit`, so large loads spill to disk instead of growing without bound.
    """
    path = cfg.warehouse_path
    if read_only:
        if not path.is_file():
            raise FileNotFoundError(f"no warehouse at {path}: run `observatory run` first")
        con = duckdb.connect(str(path), read_only=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
    con.execute("set TimeZone = 'UTC'")
    set_memory_limit(con, cfg.project.memory_limit)
    if cfg.project.threads:
        con.execute("set threads = ?", [int(cfg.project.threads)])
    if not read_only:
        for schema in SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
        con.execute(_OPS_DDL)
        for kind in ("survey", "incidents", "sensors"):
            con.execute(_QUARANTINE_DDL.format(kind=kind))
    return con


def set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """Cap DuckDB's memory at `limit` (e.g. '400MB'): checked, then bound, never pasted."""
    con.execute("set memory_limit = ?", [check_memory_limit(limit)])


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All-or-nothing: commit on success, roll back on any error (then re-raise)."""
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `schema.table` exists."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0]
    return bool(row and row[0])


def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Column names of a table or view, in order."""
    rows = con.execute(f"describe {table}").fetchall()
    return [r[0] for r in rows]
