"""Great Expectations as the engine of record, run inside DuckDB (or on pandas, to cross-check).

GX 1.x has no DuckDB datasource, and its generic SQL datasource over duckdb-engine returns
empty metrics (GX issues #10738, #11579): `SqlAlchemyExecutionEngine.execute_query` returns a
cursor result after its connection went back to the pool, whose reset-on-return rollback
runs on the same DuckDB connection and drops the pending result. Here a private SQL
datasource swaps in, through GX's `execution_engine_override` hook, an execution engine that
fetches inside the connection. Its SQLAlchemy engine runs on the caller's database instance
(a `con.cursor()` per connection), so a database file the process already holds open
read-write is not opened a second time.

GX (and sqlalchemy/duckdb-engine) are imported on first use, so importing this is cheap.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from observatory.sql_util import literal, quote_ident

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

log = logging.getLogger(__name__)

RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 5}
_PARTIAL = int(RESULT_FORMAT["partial_unexpected_count"])


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, flattened from GX's ExpectationValidationResult."""

    expectation_type: str
    column: str | None
    kwargs: dict
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    sample_values: list
    result: dict


@contextmanager
def _quiet_gx() -> Iterator[None]:
    """Hold GX's loggers at WARNING for the duration, importing GX under that setting.

    GX logs a lot at INFO and DEBUG, and its import pins some of its loggers to INFO.
    """
    parent = logging.getLogger("great_expectations")
    saved = {parent: parent.level}
    parent.setLevel(logging.WARNING)
    try:
        import great_expectations  # noqa: F401, PLC0415

        for name, child in list(logging.root.manager.loggerDict.items()):
            if name.startswith("great_expectations.") and isinstance(child, logging.Logger):
                if logging.NOTSET < child.level < logging.WARNING:
                    saved[child] = child.level
                    child.setLevel(logging.WARNING)
        yield
    finally:
        for logger, level in saved.items():
            logger.setLevel(level)


@functools.cache
def _datasource_class() -> type:
    """The private SQL datasource whose execution engine fetches inside the connection.

    The leading underscore in its name keeps GX from registering it as a public
    `context.data_sources.add_*` factory; nothing global in GX is patched.
    """
    import sqlalchemy as sa  # noqa: PLC0415
    from great_expectations.datasource.fluent import SQLDatasource  # noqa: PLC0415
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine  # noqa: PLC0415
    from sqlalchemy.dialects import postgresql  # noqa: PLC0415

    class _FetchingSqlAlchemyExecutionEngine(SqlAlchemyExecutionEngine):
        """Returns buffered results, fetched before the connection goes back to the pool."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # GX picks regex operators by dialect module and knows none for "duckdb"; the
            # duckdb-engine dialect derives from PostgreSQL's and DuckDB runs `~` and `!~`.
            self.dialect_module = postgresql

        def execute_query(self, query: Any) -> sa.Result[Any]:
            with self.get_connection() as connection:
                result = self._execute_query_with_recovery(connection, query)
                return result.freeze()() if result.returns_rows else result

    class _DuckDBConnectionDatasource(SQLDatasource):
        execution_engine_override = _FetchingSqlAlchemyExecutionEngine

    return _DuckDBConnectionDatasource


def _context() -> Any:
    """A fresh ephemeral GX context, without progress bars."""
    import great_expectations as gx  # noqa: PLC0415
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _exception_message(info: dict) -> str | None:
    """The message(s) of the exception(s) GX caught, from single or per-metric info."""
    entries = [info] if "raised_exception" in info else list(info.values())
    messages = [
        str(e.get("exception_message"))
        for e in entries
        if isinstance(e, dict) and e.get("raised_exception")
    ]
    return "; ".join(messages) or None


def _outcome(evr: Any) -> ExpectationOutcome:
    """Flatten one ExpectationValidationResult into JSON-serialisable fields."""
    d = evr.to_json_dict()
    config = d["expectation_config"]
    kwargs = {k: v for k, v in config.get("kwargs", {}).items() if k != "batch_id"}
    result = dict(d.get("result") or {})
    error = _exception_message(d.get("exception_info") or {})
    if error:
        result["exception_message"] = error
        log.warning("GX could not evaluate %s %s: %s", config["type"], kwargs, error)
    if "partial_unexpected_list" in result:
        sample = list(result["partial_unexpected_list"])
    else:
        sample = [result["observed_value"]] if "observed_value" in result else []
    percent = result.get("unexpected_percent")
    return ExpectationOutcome(
        expectation_type=config["type"],
        column=kwargs.get("column"),
        kwargs=kwargs,
        severity=str((config.get("meta") or {}).get("severity", "error")),
        success=bool(d["success"]),
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=None if percent is None else float(percent),
        sample_values=sample,
        result=result,
    )


def _run(batch: Any, suite: dict) -> list[ExpectationOutcome]:
    """Validate a batch; GX returns results grouped its own way, so restore suite order."""
    import great_expectations as gx  # noqa: PLC0415

    expectations = suite.get("expectations", [])
    ids = [str(uuid.uuid4()) for _ in expectations]
    tagged = [{**e, "id": i} for e, i in zip(expectations, ids, strict=True)]
    gx_suite = gx.ExpectationSuite(**{**suite, "expectations": tagged})
    validation = batch.validate(gx_suite, result_format=RESULT_FORMAT)
    by_id = {r.expectation_config.id: r for r in validation.results}
    outcomes = [_outcome(by_id[i]) for i in ids]
    failed = sum(not o.success for o in outcomes)
    log.debug("suite %s: %d expectations, %d failed", suite.get("name"), len(outcomes), failed)
    return outcomes


class _Cursors:
    """A SQLAlchemy `creator` handing out cursors of the caller's connection.

    GX keeps its last context (and so this datasource and its engine) reachable from a
    module global, so `close()` drops the caller's connection as well as the cursors.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str | None) -> None:
        self._con: duckdb.DuckDBPyConnection | None = con
        self._schema = schema
        self._opened: list[duckdb.DuckDBPyConnection] = []

    def __call__(self) -> Any:
        from duckdb_engine import ConnectionWrapper  # noqa: PLC0415

        if self._con is None:
            raise RuntimeError("the validation that owned this engine has finished")
        cursor = self._con.cursor()
        self._opened.append(cursor)
        if self._schema:
            cursor.execute(f"use {self._schema}")
        return ConnectionWrapper(cursor)

    def close(self) -> None:
        for cursor in self._opened:
            cursor.close()
        self._opened.clear()
        self._con = None


def validate_table(
    con: duckdb.DuckDBPyConnection, table: str, suite: dict
) -> list[ExpectationOutcome]:
    """Validate a committed DuckDB table (e.g. 'work.batch_x') in-database with GX.

    GX's queries run on cursors of `con` (same database instance, their own transactions),
    so they see what `con` has committed. The table's schema (or `catalog.schema`) becomes
    the cursors' default schema, because GX's column reflection ignores an asset's schema.

    Args:
        con: An open DuckDB connection (to a file or in-memory); it is left open.
        table: `table`, `schema.table` or `catalog.schema.table`, unquoted.
        suite: A GX 1.x ExpectationSuite as a JSON dict.
        repeated: column -> a table (`schema.table`, unquoted) holding, in a column of
            the same name, every non-null value that occurs more than once in that column
            of `table` (more is allowed): a uniqueness expectation on the column then
            counts its repeats among those values only, the same count for less work
            (the ingest computes them once per batch for its copy numbers too).

    Returns:
        One outcome per expectation, in suite order.
    """
    from sqlalchemy.pool import StaticPool  # noqa: PLC0415

    *prefix, table_name = table.split(".")
    schema = ".".join(quote_ident(p) for p in prefix) or None
    cursors = _Cursors(con, schema)
    with _quiet_gx():
        datasource = _context().add_datasource(
            datasource=_datasource_class()(
                name="duckdb",
                connection_string="duckdb://",
                kwargs={"creator": cursors, "poolclass": StaticPool},
            )
        )
        try:
            asset = datasource.add_table_asset(name=table, table_name=table_name)
            return _run(asset.add_batch_definition_whole_table("whole").get_batch(), suite)
        finally:
            # The datasource's own engine (connection tests) and the execution engine's.
            datasource.get_engine().dispose()
            datasource.get_execution_engine().engine.dispose()
            cursors.close()


def validate_dataframe(df: pd.DataFrame, suite: dict) -> list[ExpectationOutcome]:
    """Same suite on the pandas path (used to cross-check the in-database path).

    Args:
        df: The data.
        suite: A GX 1.x ExpectationSuite as a JSON dict.
        repeated: column -> a table (`schema.table`, unquoted) holding, in a column of
            the same name, every non-null value that occurs more than once in that column
            of `table` (more is allowed): a uniqueness expectation on the column then
            counts its repeats among those values only, the same count for less work
            (the ingest computes them once per batch for its copy numbers too).

    Returns:
        One outcome per expectation, in suite order.
    """
    with _quiet_gx():
        asset = _context().data_sources.add_pandas("pandas").add_dataframe_asset("frame")
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        return _run(batch_definition.get_batch(batch_parameters={"dataframe": df}), suite)


_COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")


def _condition_sql(condition: Any) -> str:
    """A GX row condition as DuckDB SQL.

    Accepts GX 1.x Condition objects or their JSON dicts (GX turns legacy strings into
    these, so validation results carry them) and legacy `great_expectations`-parser strings.
    """
    if isinstance(condition, str):
        from duckdb_engine import Dialect  # noqa: PLC0415
        from great_expectations.expectations import legacy_row_conditions  # noqa: PLC0415

        clause = legacy_row_conditions.parse_condition_to_sqlalchemy(condition)
        return str(clause.compile(dialect=Dialect(), compile_kwargs={"literal_binds": True}))
    if not isinstance(condition, dict):
        condition = condition.dict()
    kind = condition.get("type")
    if kind in ("and", "or"):
        return "(" + f" {kind} ".join(_condition_sql(c) for c in condition["conditions"]) + ")"
    col = quote_ident(condition["column"]["name"])
    if kind == "nullity":
        return f"{col} is {'' if condition['is_null'] else 'not '}null"
    if kind == "comparison":
        op, parameter = str(condition["operator"]), condition["parameter"]
        if op in ("IN", "NOT_IN"):
            values = ", ".join(literal(v) for v in parameter)
            return f"{col} {'in' if op == 'IN' else 'not in'} ({values})"
        if op not in _COMPARISONS:  # the operator is pasted into SQL: only these pass
            raise ValueError(f"unsupported row_condition operator {op!r}")
        return f"{col} {'=' if op == '==' else op} {literal(parameter)}"
    raise ValueError(f"unsupported row_condition {condition!r}")


def _out_of_range_sql(col: str, kwargs: dict) -> str:
    """The violation of expect_column_values_to_be_between, for a non-null value."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        raise ValueError("expect_column_values_to_be_between needs min_value or max_value")
    bounds = []
    if low is not None:
        bounds.append(f"{col} {'<=' if kwargs.get('strict_min') else '<'} {literal(low)}")
    if high is not None:
        bounds.append(f"{col} {'>=' if kwargs.get('strict_max') else '>'} {literal(high)}")
    return " or ".join(bounds)


def row_failure_sql(expectation_type: str, kwargs: dict) -> str | None:
    """SQL boolean expression (DuckDB dialect) that is TRUE for a row violating a map expectation.

    Mirrors GX: NULLs are ignored except by the (not_)null expectations, `mostly` is
    ignored (every violating row is flagged), a `row_condition` restricts the rows. The
    uniqueness expression holds a window function, which `where` does not allow: evaluate
    it in a select list, e.g. `select count(*) from (select <expr> as bad from t) where bad`.

    Args:
        expectation_type: e.g. "expect_column_values_to_be_between".
        kwargs: The expectation's kwargs (as in the suite, or `ExpectationOutcome.kwargs`).

    Returns:
        The expression, or None for table-level (and unsupported) expectations.
    """
    if "column" not in kwargs:
        return None
    col = quote_ident(kwargs["column"])
    present = f"{col} is not null"
    condition = _condition_sql(kwargs["row_condition"]) if kwargs.get("row_condition") else None
    kind = expectation_type.removeprefix("expect_column_values_to_")
    if kind == "not_be_null":
        failure = f"{col} is null"
    elif kind == "be_null":
        failure = present
    elif kind == "be_between":
        failure = f"{present} and ({_out_of_range_sql(col, kwargs)})"
    elif kind in ("be_in_set", "not_be_in_set"):
        values = ", ".join(literal(v) for v in kwargs.get("value_set") or [])
        if not values:
            failure = present if kind == "be_in_set" else "false"
        else:
            failure = f"{present} and {col} {'not in' if kind == 'be_in_set' else 'in'} ({values})"
    elif kind == "match_regex":
        pattern = literal(str(kwargs["regex"]))
        failure = f"{present} and not regexp_matches(cast({col} as varchar), {pattern})"
    elif kind == "be_unique":
        # GX counts duplicates among the rows that the row_condition keeps.
        counted = f"count(*) filter (where {condition})" if condition else "count(*)"
        failure = f"{present} and {counted} over (partition by {col}) > 1"
    else:
        return None
    return f"({condition}) and ({failure})" if condition else f"({failure})"


#: Expectations the single-pass path computes; any other runs through GX's own SQL path.
_SINGLE_PASS_MAP = {
    "expect_column_values_to_not_be_null": "column_values.nonnull",
    "expect_column_values_to_be_null": "column_values.null",
    "expect_column_values_to_be_between": "column_values.between",
    "expect_column_values_to_be_in_set": "column_values.in_set",
    "expect_column_values_to_not_be_in_set": "column_values.not_in_set",
    "expect_column_values_to_match_regex": "column_values.match_regex",
    "expect_column_values_to_be_unique": "column_values.unique",
}
_SINGLE_PASS_TABLE = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_columns_to_match_set",
        "expect_column_to_exist",
    }
)


def _condition_columns(condition: Any) -> set[str]:
    """The columns a row condition (JSON dict form) names; a legacy string names none here."""
    if not isinstance(condition, dict):
        return set()
    if condition.get("type") in ("and", "or"):
        return set().union(*(_condition_columns(c) for c in condition["conditions"]))
    return {condition["column"]["name"]}


def _metric_sql(
    i: int, exp: dict, table: str, repeated: dict[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """Inner select items and outer aggregates of one map expectation (`_e<i>_*` columns).

    Plain `count_if`s (a FILTER clause per aggregate costs far more on a wide select). A
    uniqueness expectation counts its repeated values with a group-by of its own, a scalar
    subquery of the same statement, instead of a window over the batch; over only the
    values of `repeated[column]` when the caller knows them (see
    `validate_table_single_pass`)."""
    kwargs = exp["kwargs"]
    col = quote_ident(kwargs["column"])
    condition = _condition_sql(kwargs["row_condition"]) if kwargs.get("row_condition") else None
    inner, outer = [], []
    if condition:
        inner.append(f"coalesce({condition}, false) as _e{i}_in")
        outer += [
            f"count_if(_e{i}_in) as _e{i}_rows",
            f"count_if(_e{i}_in and {col} is null) as _e{i}_nulls",
        ]
    else:
        outer += [f"count(*) as _e{i}_rows", f"count(*) - count({col}) as _e{i}_nulls"]
    if exp["type"] == "expect_column_values_to_be_unique":
        where = f"({condition}) and {col} is not null" if condition else f"{col} is not null"
        if repeated and kwargs["column"] in repeated:
            known = ".".join(quote_ident(p) for p in repeated[kwargs["column"]].split("."))
            where += f" and {col} in (select {col} from {known})"  # noqa: S608 (column and table quoted)
        outer.append(
            f"(select coalesce(sum(n), 0) from (select count(*) as n from {table} where {where} "  # noqa: S608 (column quoted; condition compiled with literal(); table from code)
            f"group by {col} having count(*) > 1)) as _e{i}_unexpected"
        )
    else:
        inner.append(f"coalesce({row_failure_sql(exp['type'], kwargs)}, false) as _e{i}_bad")
        outer.append(f"count_if(_e{i}_bad) as _e{i}_unexpected")
    return inner, outer


def _unexpected_values(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns_sql: str,
    failing: dict[int, dict],
) -> dict[int, list]:
    """The first unexpected values (in table order, as GX's SQL path samples them) of the
    expectations that failed, in one query over the rows failing any of them."""
    if not failing:
        return {}
    bad = {
        i: f"coalesce({row_failure_sql(e['type'], e['kwargs'])}, false)" for i, e in failing.items()
    }
    inner = ", ".join(f"{expr} as _e{i}_bad" for i, expr in bad.items())
    samples = ", ".join(
        f"min_by({quote_ident(e['kwargs']['column'])}, _rowid, {_PARTIAL}) "
        f"filter (where _e{i}_bad) as _e{i}_values"
        for i, e in failing.items()
    )
    any_bad = " or ".join(f"_e{i}_bad" for i in failing)
    sql = (
        f"select {samples} from (select rowid as _rowid, {columns_sql}, {inner} from {table}) "  # noqa: S608 (columns quoted; predicates from row_failure_sql; table from code)
        f"where {any_bad}"
    )
    (row,) = con.execute(sql).fetchall()
    return {i: list(v or []) for i, v in zip(failing, row, strict=True)}


def validate_table_single_pass(
    con: duckdb.DuckDBPyConnection,
    table: str,
    suite: dict,
    *,
    repeated: dict[str, str] | None = None,
) -> list[ExpectationOutcome]:
    """Validate a DuckDB table with GX, computing every expectation's metrics in one query.

    GX's SQL path runs a query or two per expectation (and GX's own Python for each); on a
    batch of a million rows that costs more than reading it. Here the metrics GX would ask
    the database for (`table.row_count` and the null count in the expectation's domain,
    `<map metric>.unexpected_count`, `table.columns`) are computed for every column and
    table-level expectation in one aggregate select, and each expectation's own GX
    `_validate` turns them into its result (GX's success rule with `mostly`, GX's result
    format), wrapped in GX's ExpectationValidationResult and flattened as `validate_table`
    does. The first unexpected values of the expectations that failed come from a second
    query over the failing rows only (none when nothing failed). The row predicates are
    `row_failure_sql`'s, the ones that flag quarantined rows. An expectation this path does
    not know, or one naming a column the table lacks (GX reports the error), runs through
    `validate_table` (GX's SQL path), as does an empty table. tests/test_gx_engine.py
    checks that the paths agree.

    Args:
        con: An open DuckDB connection; it is left open.
        table: `schema.table` (unquoted), a table (its rowid orders the sampled values).
        suite: A GX 1.x ExpectationSuite as a JSON dict.
        repeated: column -> a table (`schema.table`, unquoted) holding, in a column of
            the same name, every non-null value that occurs more than once in that column
            of `table` (more is allowed): a uniqueness expectation on the column then
            counts its repeats among those values only, the same count for less work
            (the ingest computes them once per batch for its copy numbers too).

    Returns:
        One outcome per expectation, in suite order.
    """
    import duckdb  # noqa: PLC0415
    from great_expectations.expectations.expectation_configuration import (  # noqa: PLC0415
        ExpectationConfiguration,
    )

    qualified = ".".join(quote_ident(p) for p in table.split("."))
    columns = [r[0] for r in con.execute(f"select * from {qualified} limit 0").description]  # noqa: S608 (table name quoted)
    expectations = suite.get("expectations", [])
    mine: dict[int, Any] = {}  # suite position -> GX expectation computed here
    inner, outer = [], ["count(*) as _rows"]
    # Only the columns the expectations name go through the select (a legacy string
    # condition names columns this cannot see, so then every column goes).
    used: set[str] = set()
    every_column = False
    with _quiet_gx():
        for i, exp in enumerate(expectations):
            kwargs = exp.get("kwargs", {})
            needs = {kwargs["column"]} if "column" in kwargs else set()
            needs |= _condition_columns(kwargs.get("row_condition"))
            if exp["type"] in _SINGLE_PASS_MAP:
                if not needs <= set(columns):
                    continue
                used |= needs
                every_column |= isinstance(kwargs.get("row_condition"), str)
                item_inner, item_outer = _metric_sql(i, exp, qualified, repeated)
                inner += item_inner
                outer += item_outer
            elif exp["type"] not in _SINGLE_PASS_TABLE:
                continue
            config = ExpectationConfiguration(
                type=exp["type"], kwargs=kwargs, meta=exp.get("meta") or None
            )
            mine[i] = config.to_domain_obj()
        columns_sql = (
            "*" if every_column else ", ".join(quote_ident(c) for c in columns if c in used)
        ) or "1 as _none"
        sql = (
            f"select {', '.join(outer)} from "  # noqa: S608 (columns quoted; expressions compiled above; table quoted)
            f"(select {', '.join([columns_sql, *inner])} from {qualified})"
        )
        log.debug("single-pass metrics: %s", sql)
        try:
            row = con.execute(sql)
            names = [d[0] for d in row.description]
            metrics_row = dict(zip(names, row.fetchall()[0], strict=True))
            if metrics_row["_rows"] == 0:
                return validate_table(con, table, suite)
            failing = {
                i: expectations[i]
                for i in mine
                if expectations[i]["type"] in _SINGLE_PASS_MAP
                and expectations[i]["type"] != "expect_column_values_to_not_be_null"
                and metrics_row[f"_e{i}_unexpected"]
            }
            values = _unexpected_values(con, qualified, columns_sql, failing)
        except duckdb.Error as exc:  # e.g. a legacy row condition naming a missing column
            log.warning("single-pass metrics failed (%s); validating with GX's SQL path", exc)
            return validate_table(con, table, suite)
        results = _verdicts(mine, expectations, metrics_row, values, columns)
    rest = [i for i in range(len(expectations)) if i not in results]
    if rest:
        others = validate_table(
            con, table, {**suite, "expectations": [expectations[i] for i in rest]}
        )
        results.update(zip(rest, others, strict=True))
    return [results[i] for i in range(len(expectations))]


def _verdicts(
    mine: dict[int, Any],
    expectations: list[dict],
    metrics_row: dict,
    unexpected_values: dict[int, list],
    columns: list[str],
) -> dict[int, ExpectationOutcome]:
    """Each expectation's GX `_validate` on the metrics computed for it, as outcomes."""
    from great_expectations.core.expectation_validation_result import (  # noqa: PLC0415
        ExpectationValidationResult,
    )

    results: dict[int, ExpectationOutcome] = {}
    runtime = {"result_format": RESULT_FORMAT}
    for i, expectation in mine.items():
        exp = expectations[i]
        metrics: dict[str, Any] = {
            "table.row_count": metrics_row["_rows"],
            "table.columns": columns,
        }
        if exp["type"] in _SINGLE_PASS_MAP:
            name = _SINGLE_PASS_MAP[exp["type"]]
            metrics["table.row_count"] = metrics_row[f"_e{i}_rows"]
            metrics["column_values.nonnull.unexpected_count"] = metrics_row[f"_e{i}_nulls"]
            metrics[f"{name}.unexpected_count"] = metrics_row[f"_e{i}_unexpected"]
            values = unexpected_values.get(i, [])
            if exp["type"] == "expect_column_values_to_not_be_null":
                # the unexpected values are NULLs (which min_by would skip)
                values = [None] * min(metrics_row[f"_e{i}_unexpected"], _PARTIAL)
            metrics[f"{name}.unexpected_values"] = values
        verdict = expectation._validate(metrics, runtime_configuration=runtime)
        evr = ExpectationValidationResult(
            success=bool(verdict["success"]),
            expectation_config=expectation.configuration,
            result=verdict.get("result") or {},
        )
        results[i] = _outcome(evr)
    return results
