"""In-database GX validation on DuckDB, cross-checked with GX on pandas and with row-level SQL.

Real GX, real DuckDB, no mocks. GX's first import takes a few seconds; the suite runs once
per path (module-scoped fixtures) to keep the file fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from observatory.validation.gx_engine import (
    ExpectationOutcome,
    row_failure_sql,
    validate_dataframe,
    validate_table,
    validate_table_single_pass,
)

ROWS = """
    (1, 'k1', 10.0,  'a',  'AB-1',  'lux'),
    (2, 'k2', -5.0,  'b',  'AB-2',  'lux'),
    (3, null, 50.0,  'c',  'xx',    'lux'),
    (3, 'k4', 120.0, 'a',  'AB-4',  'footfall'),
    (5, null, null,  null, null,    'footfall'),
    (6, 'k6', 100.0, 'z',  'AB-66', 'footfall'),
    (7, 'k7', 0.0,   'b',  'ab-7',  'lux'),
    (7, 'k8', 99.9,  'y',  'AB-8',  'footfall'),
    (7, 'k9', 30.0,  'a',  'AB-9',  'lux')
"""
COLUMNS = "id, key, amount, category, code, metric"


def _exp(kind: str, severity: str | None = "error", **kwargs: object) -> dict:
    exp: dict = {"type": f"expect_{kind}", "kwargs": kwargs}
    if severity is not None:
        exp["meta"] = {"severity": severity, "reason": kind}
    return exp


# (expectation, unexpected_count expected from GX and from the row-level SQL)
# The project's suites use GX's legacy string row conditions on purpose; GX warns about them.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(The condition_parser|Passing a string to the row_condition):DeprecationWarning"
)

CASES: list[tuple[dict, int | None]] = [
    (_exp("column_values_to_not_be_null", "warn", column="key"), 2),
    (_exp("column_values_to_be_null", column="key"), 7),
    (_exp("column_values_to_be_between", column="amount", min_value=0, max_value=100), 2),
    (
        _exp(
            "column_values_to_be_between",
            column="amount",
            min_value=0,
            max_value=100,
            strict_min=True,
            strict_max=True,
        ),
        4,
    ),
    (_exp("column_values_to_be_between", None, column="amount", min_value=50), 4),
    (_exp("column_values_to_be_between", column="amount", max_value=99.9, mostly=0.5), 2),
    (_exp("column_values_to_be_in_set", column="category", value_set=["a", "b", "c"]), 2),
    (_exp("column_values_to_not_be_in_set", column="category", value_set=["z"]), 1),
    (_exp("column_values_to_match_regex", column="code", regex=r"^AB-\d$"), 3),
    (_exp("column_values_to_be_unique", column="id"), 5),
    (
        _exp(
            "column_values_to_be_unique",
            column="id",
            row_condition={
                "type": "comparison",
                "column": {"name": "metric"},
                "operator": "==",
                "parameter": "lux",
            },
        ),
        2,
    ),
    (
        _exp(
            "column_values_to_be_between",
            column="amount",
            max_value=50,
            row_condition='col("category")=="a"',
            condition_parser="great_expectations",
        ),
        1,
    ),
    (_exp("table_row_count_to_be_between", min_value=1, max_value=100), None),
    (_exp("table_columns_to_match_set", column_set=COLUMNS.split(", ")), None),
    (_exp("column_to_exist", column="amount"), None),
]
SUITE = {"name": "gx_engine_test", "expectations": [exp for exp, _ in CASES]}


def _make_table(con: duckdb.DuckDBPyConnection, name: str = "work.batch_x") -> None:
    con.execute("create schema if not exists work")
    con.execute(f"create table {name} as select * from (values {ROWS}) t({COLUMNS})")


def _row_count(con: duckdb.DuckDBPyConnection, table: str, expression: str) -> int:
    """Rows flagged by a row_failure_sql expression (evaluated in a select list)."""
    sql = f"select count(*) from (select {expression} as bad from {table}) where bad"
    return con.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    _make_table(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def in_db(con: duckdb.DuckDBPyConnection) -> list[ExpectationOutcome]:
    return validate_table(con, "work.batch_x", SUITE)


@pytest.fixture(scope="module")
def on_pandas(con: duckdb.DuckDBPyConnection) -> list[ExpectationOutcome]:
    df = con.execute("select * from work.batch_x").df()
    return validate_dataframe(df, SUITE)


@pytest.fixture(scope="module")
def single_pass(con: duckdb.DuckDBPyConnection) -> list[ExpectationOutcome]:
    return validate_table_single_pass(con, "work.batch_x", SUITE)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_single_pass_agrees_with_gx_sql_and_pandas(
    in_db: list[ExpectationOutcome],
    on_pandas: list[ExpectationOutcome],
    single_pass: list[ExpectationOutcome],
    index: int,
) -> None:
    """The one-query path gives GX's own result for every kind of failure in the fixture."""
    one, sql, pd_ = single_pass[index], in_db[index], on_pandas[index]
    assert one == sql  # every field: kwargs, severity, counts, percentages, samples
    assert (one.success, one.unexpected_count, one.element_count) == (
        pd_.success,
        pd_.unexpected_count,
        pd_.element_count,
    )
    assert CASES[index][1] == one.unexpected_count


def test_single_pass_is_one_query_and_hands_the_rest_to_gx(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Expectations it does not compute (or naming a missing column) run through GX's path,
    in suite order among the others; an empty table runs wholly through GX."""
    suite = {
        "name": "mixed",
        "expectations": [
            _exp("column_values_to_be_between", column="amount", min_value=0, max_value=100),
            _exp("column_value_lengths_to_be_between", column="code", min_value=3, max_value=4),
            _exp("column_values_to_not_be_null", column="nope"),
            _exp("column_values_to_be_in_set", column="category", value_set=["a", "b", "c"]),
        ],
    }
    between, lengths, missing, in_set = validate_table_single_pass(con, "work.batch_x", suite)
    assert (between.unexpected_count, in_set.unexpected_count) == (2, 2)
    assert lengths.expectation_type == "expect_column_value_lengths_to_be_between"
    assert lengths.unexpected_count == 2  # 'xx' and 'AB-66', computed by GX
    assert not missing.success and "nope" in missing.result["exception_message"]
    con.execute("create or replace table work.empty_sp as select * from work.batch_x limit 0")
    empty = {"name": "e", "expectations": [_exp("table_row_count_to_be_between", min_value=1)]}
    (rows,) = validate_table_single_pass(con, "work.empty_sp", empty)
    assert not rows.success and rows.result["observed_value"] == 0


def test_outcomes_come_back_in_suite_order(in_db: list[ExpectationOutcome]) -> None:
    assert [o.expectation_type for o in in_db] == [exp["type"] for exp, _ in CASES]
    assert [o.column for o in in_db] == [exp["kwargs"].get("column") for exp, _ in CASES]


@pytest.mark.parametrize("index", range(len(CASES)))
def test_in_database_counts_are_exact(in_db: list[ExpectationOutcome], index: int) -> None:
    exp, expected = CASES[index]
    outcome = in_db[index]
    assert outcome.unexpected_count == expected, outcome
    assert "exception_message" not in outcome.result
    if expected is not None:
        # GX counts elements after the row_condition: 5 'lux' rows, 3 of category 'a'.
        rows = {"metric": 5, "category": 3}
        condition = str(exp["kwargs"].get("row_condition", ""))
        assert outcome.element_count == next((n for c, n in rows.items() if c in condition), 9)
        assert outcome.success == (expected == 0 or "mostly" in exp["kwargs"])
        assert len(outcome.sample_values) == min(expected, 5)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_pandas_path_agrees(
    in_db: list[ExpectationOutcome], on_pandas: list[ExpectationOutcome], index: int
) -> None:
    db, pd_ = in_db[index], on_pandas[index]
    assert (db.unexpected_count, db.element_count, db.success) == (
        pd_.unexpected_count,
        pd_.element_count,
        pd_.success,
    )
    assert sorted(map(str, db.sample_values)) == sorted(map(str, pd_.sample_values))


@pytest.mark.parametrize("index", range(len(CASES)))
def test_row_failure_sql_agrees(
    con: duckdb.DuckDBPyConnection, in_db: list[ExpectationOutcome], index: int
) -> None:
    exp, expected = CASES[index]
    from_suite = row_failure_sql(exp["type"], exp["kwargs"])
    # The outcome carries GX's normalised kwargs (e.g. a string row_condition as a dict).
    from_outcome = row_failure_sql(in_db[index].expectation_type, in_db[index].kwargs)
    if expected is None:
        assert from_suite is None and from_outcome is None
    else:
        assert _row_count(con, "work.batch_x", from_suite) == expected
        assert _row_count(con, "work.batch_x", from_outcome) == expected


def test_severity_and_json(in_db: list[ExpectationOutcome]) -> None:
    assert in_db[0].severity == "warn"
    assert in_db[1].severity == "error"
    assert in_db[4].severity == "error"  # no meta at all
    assert in_db[0].sample_values == [None, None]
    assert in_db[9].kwargs == {"column": "id"}
    assert in_db[12].sample_values == [9]  # observed_value of a table-level expectation
    json.dumps([o.__dict__ for o in in_db])


def test_row_count_fails_on_empty_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create table work.empty_batch as select * from work.batch_x limit 0")
    suite = {
        "name": "empty",
        "expectations": [
            _exp("table_row_count_to_be_between", "error", min_value=1),
            _exp("column_values_to_not_be_null", "warn", column="id"),
        ],
    }
    rows, nulls = validate_table(con, "work.empty_batch", suite)
    assert not rows.success and rows.severity == "error"
    assert rows.result["observed_value"] == 0 and rows.sample_values == [0]
    # GX reports no counts for a map expectation on an empty table, and calls it a success.
    assert nulls.success and nulls.severity == "warn"
    assert (nulls.element_count, nulls.unexpected_count, nulls.sample_values) == (0, None, [])


def test_missing_column_is_a_failure_with_the_error(con: duckdb.DuckDBPyConnection) -> None:
    suite = {"name": "bad", "expectations": [_exp("column_values_to_not_be_null", column="nope")]}
    (outcome,) = validate_table(con, "work.batch_x", suite)
    assert not outcome.success
    assert "nope" in outcome.result["exception_message"]


def test_file_database_held_open_by_the_caller(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "city.duckdb"))
    try:
        _make_table(con)
        con.execute(f"create table plain as select * from (values {ROWS}) t({COLUMNS})")
        suite = {"name": "file", "expectations": [exp for exp, _ in CASES[:3]]}
        for table in ("work.batch_x", "plain", "work.batch_x"):
            counts = [o.unexpected_count for o in validate_table(con, table, suite)]
            assert counts == [n for _, n in CASES[:3]]
        # The caller's connection is untouched and still read-write.
        con.execute("insert into work.batch_x (id) values (99)")
        assert con.execute("select count(*) from work.batch_x").fetchone()[0] == 10
        (nulls,) = validate_table(con, "work.batch_x", {"name": "f", "expectations": [CASES[0][0]]})
        assert nulls.unexpected_count == 3
    finally:
        con.close()
    # Nothing of GX's still holds the database: it reopens with a different configuration.
    with duckdb.connect(str(tmp_path / "city.duckdb"), read_only=True) as ro:
        assert ro.execute("select count(*) from work.batch_x").fetchone()[0] == 10


def test_plain_gx_engine_loses_results_and_ours_does_not(con: duckdb.DuckDBPyConnection) -> None:
    """GX #10738 on this stack. If the first assert fails, GX fixed it upstream."""
    import sqlalchemy as sa  # noqa: PLC0415
    from duckdb_engine import ConnectionWrapper  # noqa: PLC0415
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine  # noqa: PLC0415
    from sqlalchemy.pool import StaticPool  # noqa: PLC0415

    from observatory.validation.gx_engine import _datasource_class  # noqa: PLC0415

    engine = sa.create_engine(
        "duckdb://", creator=lambda: ConnectionWrapper(con.cursor()), poolclass=StaticPool
    )
    query = sa.text("select count(*) from work.batch_x")
    try:
        assert SqlAlchemyExecutionEngine(engine=engine).execute_query(query).fetchall() == []
        ours = _datasource_class().execution_engine_override(engine=engine)
        assert ours.execute_query(query).fetchall() == [(9,)]
    finally:
        engine.dispose()


def test_row_failure_sql_rendering() -> None:
    assert row_failure_sql("expect_table_row_count_to_be_between", {"min_value": 1}) is None
    assert row_failure_sql("expect_column_to_exist", {"column": "x"}) is None
    assert row_failure_sql(
        "expect_column_values_to_be_in_set", {"column": 'a"b', "value_set": ["O'Brien", 2, 2.5]}
    ) == ("""("a""b" is not null and "a""b" not in ('O''Brien', 2, 2.5))""")
    assert row_failure_sql(
        "expect_column_values_to_be_in_set", {"column": "x", "value_set": []}
    ) == ('("x" is not null)')
    with pytest.raises(ValueError, match="min_value or max_value"):
        row_failure_sql("expect_column_values_to_be_between", {"column": "x"})


def test_import_does_not_load_gx() -> None:
    code = (
        "import sys, observatory.validation.gx_engine; "
        "sys.exit('great_expectations' in sys.modules or 'sqlalchemy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("operator", ["; drop table t; --", "LIKE", "= 1 or 1"])
def test_a_row_condition_operator_outside_gx_comparisons_is_refused(operator: str) -> None:
    # the operator is the one part of a row condition pasted into SQL
    from observatory.validation.gx_engine import _condition_sql  # noqa: PLC0415

    condition = {
        "type": "comparison",
        "column": {"name": "metric"},
        "operator": operator,
        "parameter": "lux",
    }
    with pytest.raises(ValueError, match="unsupported row_condition operator"):
        _condition_sql(condition)
    assert _condition_sql({**condition, "operator": "=="}) == "\"metric\" = 'lux'"
