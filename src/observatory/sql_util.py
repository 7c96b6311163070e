"""Small helpers for building DuckDB SQL safely and running the project's model files."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import duckdb

from observatory.resources import repo_dir  # noqa: F401 (re-exported: callers import it from here)


def quote_ident(name: str) -> str:
    """Quote an identifier (column or table name) for DuckDB."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value: Any) -> str:
    """Render a configuration value as a SQL literal (strings escaped, numbers checked).

    Used only where DuckDB cannot bind a parameter (table-function options, CASE lists
    compiled from a mapping); values from data are always bound.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} cannot be a SQL literal")
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def run_model(
    con: duckdb.DuckDBPyConnection,
    layer: str,
    model: str,
    params: dict[str, Any] | None = None,
    *,
    materialized: str = "table",
) -> None:
    """Build one SQL model (`sql/<layer>/<model>.sql`) as `<schema>.<model>`.

    The file holds a single `select`; it is materialised with `create or replace`, so a
    rebuild is idempotent. Named parameters (`$city_id`) are bound; a view cannot hold
    bound parameters, so for `materialized="view"` they are rendered as checked literals
    (they come from the validated configuration, never from data).
    """
    schema = {"staging": "staging", "index": "idx", "marts": "marts"}[layer]
    sql = (repo_dir("sql") / layer / f"{model}.sql").read_text(encoding="utf-8")
    used = set(re.findall(r"\$([a-z_]+)", sql))
    bound = {k: v for k, v in (params or {}).items() if k in used}
    missing = used - set(bound)
    if missing:
        raise ValueError(f"sql/{layer}/{model}.sql uses unbound parameters {sorted(missing)}")
    kind = con.execute(
        "select table_type from information_schema.tables "
        "where table_schema = ? and table_name = ?",
        [schema, model],
    ).fetchall()
    wanted = "VIEW" if materialized == "view" else "BASE TABLE"
    if kind and kind[0][0] != wanted:  # switching materialisation: drop the other kind
        con.execute(f"drop {'view' if kind[0][0] == 'VIEW' else 'table'} {schema}.{model}")
    if materialized == "view":
        for name in sorted(bound, key=len, reverse=True):
            sql = re.sub(rf"\${name}\b", literal(bound[name]), sql)
        con.execute(f"create or replace view {schema}.{model} as\n{sql}")
        return
    con.execute(f"create or replace table {schema}.{model} as\n{sql}", bound)
