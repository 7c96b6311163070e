"""The single-pass validation told a column's repeated values (issue 18): the ingest finds
a batch's repeated record ids once, for its copy numbers, and the uniqueness expectation
counts among them only; every outcome stays GX's and the same, field for field."""

from __future__ import annotations

import duckdb
import pytest

from observatory import pipeline
from observatory.validation.gx_engine import validate_table_single_pass
from tests.support import query
from tests.test_gx_engine import SUITE, _make_table
from tests.test_ingest import HEADER, NOW, _land, project  # noqa: F401 (fixture)

pytestmark = pytest.mark.filterwarnings(
    "ignore:(The condition_parser|Passing a string to the row_condition):DeprecationWarning"
)


def test_repeated_values_give_the_same_outcomes() -> None:
    con = duckdb.connect()
    _make_table(con)
    plain = validate_table_single_pass(con, "work.batch_x", SUITE)
    con.execute(
        "create table work.repeated as select id from work.batch_x "
        "where id is not null group by 1 having count(*) > 1"
    )
    # more values than repeat is allowed (a superset): the same counts
    con.execute("create table work.more as select distinct id from work.batch_x")
    for table in ("work.repeated", "work.more"):
        told = validate_table_single_pass(con, "work.batch_x", SUITE, repeated={"id": table})
        assert told == plain
    unique = [o for o in plain if o.expectation_type == "expect_column_values_to_be_unique"]
    assert [o.unexpected_count for o in unique] == [5, 2]  # the fixture's repeats, found


def test_copies_and_repeats_are_found_with_one_group_by(project) -> None:  # noqa: F811
    """Exact copies (with and without a record id) and ids repeated with other content: the
    reasons the two group-bys gave (checked against the code before the change)."""
    cfg = project()
    _land(
        cfg,
        "a.csv",
        HEADER
        + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n"
        + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n"  # exact copy: the first kept
        + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n"  # and another
        + "2,2025-06-01T10:00:00Z,45.05,7.62,theft\n"
        + "2,2025-06-01T11:00:00Z,45.05,7.62,theft\n"  # id 2 with other content
        + "2,2025-06-01T11:00:00Z,45.05,7.62,theft\n"  # and a copy of that
        + ",2025-06-01T10:00:00Z,45.05,7.62,theft\n"  # no id
        + ",2025-06-01T10:00:00Z,45.05,7.62,theft\n"  # no id, a copy
        + "3,2025-06-01T10:00:00Z,45.05,7.62,theft\n",
    )
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (9, 2, 7)
    reasons = dict(query(cfg, "select row_number, reason from quarantine.incidents"))
    copy, repeated, missing = "exact copy of an earlier row", "different content", "id missing"
    assert copy in reasons[2] and copy in reasons[3] and repeated not in reasons[2]
    assert repeated in reasons[4] and repeated in reasons[5] and copy not in reasons[5]
    assert copy in reasons[6] and repeated not in reasons[6]  # only the copy is counted
    assert missing in reasons[7] and copy not in reasons[7]
    assert missing in reasons[8] and copy in reasons[8]
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert query(cfg, "select incident_id from validated.incidents order by 1") == [("1",), ("3",)]
    [(unique,)] = query(
        cfg,
        "select unexpected_count from ops.validation_results "
        "where expectation_type = 'expect_column_values_to_be_unique'",
    )
    assert unique == 2  # rows 4 and 5 (row 6 is a copy: not counted)
