"""Correcting upstream files (issue 17, item 6): a changed file is reported, not quarantined
as duplicates of itself; supersede and retract withdraw a batch with full lineage; an
append-only file is read from its first new row; an erasure removes a person's rows from
raw, quarantine and validated, and logs no personal data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from observatory import corrections, pipeline
from observatory.cli import app
from observatory.config import Config, load_config
from tests.conftest import DemoCity
from tests.support import city_toml, police_source, query, write_zones

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
HEADER = "id,ts,lat,lon,cat\n"
ROWS = [
    "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n",
    "2,2025-06-01T11:00:00Z,45.05,7.62,theft\n",
    "3,2025-06-01T12:00:00Z,45.05,7.67,theft\n",
]


@pytest.fixture
def project(tmp_path: Path):
    def make(extra: str = "") -> Config:
        (tmp_path / "landing").mkdir(exist_ok=True)
        write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.05), ("B", "B", 7.65, 45.0, 0.05)], 1000)
        (tmp_path / "observatory.toml").write_text(
            city_toml() + police_source(extra, "theft = 1.0\nrobbery = 2.0"), encoding="utf-8"
        )
        return load_config(tmp_path / "observatory.toml")

    return make


def _land(cfg: Config, text: str, name: str = "a.csv") -> Path:
    path = cfg.base_dir / "landing" / name
    path.write_text(text, encoding="utf-8")
    return path


def _validated(cfg: Config) -> list[tuple]:
    return query(cfg, "select incident_id, category, batch_id from validated.incidents order by 1")


def _status(cfg: Config, batch_id: str) -> tuple:
    return query(
        cfg,
        "select status, supersedes, superseded_by, withdraw_reason is not null "
        "from ops.batches where batch_id = ?",
        [batch_id],
    )[0]


def test_a_corrected_file_is_reported_then_superseded_with_lineage(project) -> None:
    cfg = project()
    _land(cfg, HEADER + "".join(ROWS))
    [first] = pipeline.ingest(cfg, now=NOW)
    # upstream corrects row 2's category and deletes row 3, under the same name
    _land(cfg, HEADER + ROWS[0] + ROWS[1].replace("theft", "robbery"))
    [changed] = pipeline.ingest(cfg, now=NOW)
    assert changed.status == "failed"
    assert (
        "changed file" in changed.error and f"batches supersede {first.batch_id}" in changed.error
    )
    # not quarantined as duplicates of itself (it used to be: 'already ingested')
    assert query(cfg, "select count(*) from quarantine.incidents") == [(0,)]
    assert [r[:2] for r in _validated(cfg)] == [("1", "theft"), ("2", "theft"), ("3", "theft")]

    result = CliRunner().invoke(
        app, ["batches", "supersede", first.batch_id, "-c", str(cfg.base_dir / "observatory.toml")]
    )
    assert result.exit_code == 0, result.output
    new = changed.batch_id
    assert f"superseded by {new}" in result.output
    # the correction is in, the deleted row is retracted, and nothing is quarantined
    assert _validated(cfg) == [("1", "theft", new), ("2", "robbery", new)]
    assert query(cfg, "select count(*) from quarantine.incidents") == [(0,)]
    assert _status(cfg, first.batch_id) == ("superseded", None, new, True)
    assert _status(cfg, new) == ("loaded", first.batch_id, None, False)
    listed = CliRunner().invoke(app, ["batches", "-c", str(cfg.base_dir / "observatory.toml")])
    assert f"superseded: superseded by a.csv ({new})" in listed.output
    assert f"supersedes {first.batch_id}" in listed.output
    # re-running is safe: neither file is read again
    assert [r.status for r in pipeline.ingest(cfg, now=NOW)] == ["skipped"]
    _land(cfg, HEADER + "".join(ROWS), name="old_copy.csv")  # the old bytes, come back
    assert {r.status for r in pipeline.ingest(cfg, now=NOW)} == {"skipped"}
    assert len(_validated(cfg)) == 2


def test_corrections_replace_supersedes_on_ingest(project) -> None:
    cfg = project('corrections = "replace"')
    _land(cfg, HEADER + "".join(ROWS))
    [first] = pipeline.ingest(cfg, now=NOW)
    _land(cfg, HEADER + ROWS[0] + ROWS[1].replace("theft", "robbery"))
    [second] = pipeline.ingest(cfg, now=NOW)
    assert (second.status, second.rows_accepted, second.rows_quarantined) == ("loaded", 2, 0)
    assert [r[:2] for r in _validated(cfg)] == [("1", "theft"), ("2", "robbery")]
    assert _status(cfg, first.batch_id)[:3] == ("superseded", None, second.batch_id)


def test_a_replacing_correction_that_fails_is_a_failed_batch(project) -> None:
    cfg = project('corrections = "replace"')
    _land(cfg, HEADER + "".join(ROWS))
    [first] = pipeline.ingest(cfg, now=NOW)
    _land(cfg, "id,when\n1,2025-06-01\n")  # the "correction" lost its columns
    [second] = pipeline.ingest(cfg, now=NOW)
    assert second.status == "failed" and "stays loaded" in second.error
    assert len(_validated(cfg)) == 3 and _status(cfg, first.batch_id)[0] == "loaded"


def test_a_correction_that_fails_leaves_the_old_batch_loaded(project) -> None:
    cfg = project()
    _land(cfg, HEADER + "".join(ROWS))
    [first] = pipeline.ingest(cfg, now=NOW)
    before = _validated(cfg)
    broken = _land(cfg, "id,when\n1,2025-06-01\n", name="fixed.csv")
    with pytest.raises(corrections.CorrectionError, match="stays loaded"):
        corrections.supersede(cfg, first.batch_id, broken)
    assert _validated(cfg) == before
    assert _status(cfg, first.batch_id)[0] == "loaded"


def test_retract_withdraws_a_batch_and_closes_its_quarantine(project) -> None:
    cfg = project()
    _land(cfg, HEADER + "".join(ROWS) + "4,2025-06-01T12:00:00Z,45.05,7.62,alien\n")
    [batch] = pipeline.ingest(cfg, now=NOW)
    assert (batch.rows_accepted, batch.rows_quarantined) == (3, 1)
    w = corrections.retract(cfg, batch.batch_id, "the police withdrew the file")
    assert (w.rows_validated, w.quarantine_closed) == (3, 1)
    assert _validated(cfg) == []
    assert query(cfg, "select count(*) from quarantine.incidents where released_at is null") == [
        (0,)
    ]
    assert query(
        cfg, "select status, withdraw_reason from ops.batches where batch_id = ?", [batch.batch_id]
    ) == [("retracted", "the police withdrew the file")]
    # the retracted file is still in landing: it is not loaded again
    assert [r.status for r in pipeline.ingest(cfg, now=NOW)] == ["skipped"]
    with pytest.raises(corrections.CorrectionError, match="is retracted"):
        corrections.retract(cfg, batch.batch_id, "twice")


@pytest.mark.parametrize("append_only", [True, False])
def test_an_append_only_file_is_read_from_its_first_new_row(project, append_only) -> None:
    cfg = project("append_only = true" if append_only else "")
    path = _land(cfg, HEADER + "".join(ROWS))
    pipeline.ingest(cfg, now=NOW)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(
            "4,2025-06-02T10:00:00Z,45.05,7.62,theft\n5,2025-06-02T11:00:00Z,45.05,7.67,theft\n"
        )
    [grown] = pipeline.ingest(cfg, now=NOW)
    (quarantined,) = query(cfg, "select count(*) from quarantine.incidents")[0]
    assert quarantined == 0  # never the earlier rows as "already ingested" (60% here)
    if append_only:
        assert (grown.status, grown.rows_read, grown.rows_accepted) == ("loaded", 2, 2)
        assert [r[0] for r in _validated(cfg)] == ["1", "2", "3", "4", "5"]
        rows = query(cfg, "select row_number from validated.incidents where incident_id = '5'")
        assert rows == [(5,)]  # lineage: the row's place in the file
        # and it grows again
        with path.open("a", encoding="utf-8") as fh:
            fh.write("6,2025-06-03T10:00:00Z,45.05,7.62,theft\n")
        [again] = pipeline.ingest(cfg, now=NOW)
        assert (again.rows_read, again.rows_accepted) == (1, 1)
    else:  # an ordinary source: a changed file, reported
        assert grown.status == "failed" and "append_only = true" in grown.error


def test_erase_a_respondent_from_raw_quarantine_and_validated(demo_copy: DemoCity) -> None:
    cfg = demo_copy.cfg
    src = next(s for s in cfg.sources if s.kind == "survey")
    column = src.columns["respondent_id"]
    people = "select count(distinct respondent_id) from validated.survey"
    # someone with accepted answers and a quarantined row, if the demo has one
    person, n_rows = query(
        cfg,
        "select respondent_id, count(*) from validated.survey as v where source_name = ? "
        "group by 1 order by exists (select 1 from quarantine.survey as q "
        "where json_extract_string(q.raw_row, ?) = v.respondent_id) desc, 2 desc, 1 limit 1",
        [src.name, "$." + column],
    )[0]
    (before,) = query(cfg, people)[0]
    (built_before,) = query(cfg, "select count(distinct build_id) from marts.publication_log")[0]

    done = corrections.erase(cfg, src.name, respondent=person)
    assert done.rows_validated == n_rows and done.rows_raw >= 1
    assert query(
        cfg, "select count(*) from validated.survey where respondent_id = ?", [person]
    ) == [(0,)]
    assert query(
        cfg,
        "select count(*) from quarantine.survey where json_extract_string(raw_row, ?) = ?",
        ["$." + column, person],
    ) == [(0,)]
    raw_table = query(
        cfg,
        "select count(*) from information_schema.tables where table_schema = 'raw' "
        "and table_name = ?",
        [src.name],
    ) == [(1,)]
    if raw_table:
        sql = f'select count(*) from raw.{src.name} where "{column}" = ?'
        assert query(cfg, sql, [person]) == [(0,)]
    archived = (
        query(
            cfg,
            "select f.stored_path from raw.files as f where f.source_name = ? and exists ("
            "select 1 from information_schema.tables where table_schema = 'raw' "
            "and table_name = 'files')",
            [src.name],
        )
        if not raw_table
        else []
    )
    for (stored,) in archived:  # raw as archived files: the person's rows are emptied
        with duckdb.connect() as con:
            (n,) = con.execute(
                f'select count(*) from read_csv(?, all_varchar = true, delim = ?) where "{column}" = ?',
                [stored, src.read.get("delim", ","), person],
            ).fetchone()
        assert n == 0, stored
    log = query(cfg, "select * from ops.erasures")
    assert len(log) == 1 and log[0][6] == n_rows
    assert not any(person in str(v) for v in log[0])  # counts and a hash, not the id
    assert query(cfg, people) == [(before - 1,)]
    # and the marts were rebuilt without them
    assert query(cfg, "select count(distinct build_id) from marts.publication_log") == [
        (built_before + 1,)
    ]
    with pytest.raises(corrections.CorrectionError, match="no row"):
        corrections.erase(cfg, src.name, respondent=person)


def test_erase_scrubs_sampled_values_from_validation_results_and_data_docs(
    demo_copy: DemoCity,
) -> None:
    """Samples of failing values are values, not rows: every sample of a batch that held
    the person goes (ops.validation_results, GX's results, the Data Docs pages), counts stay,
    and other batches keep theirs."""
    from observatory.validation.data_docs import build_docs  # noqa: PLC0415

    cfg = demo_copy.cfg
    src = next(s for s in cfg.sources if s.kind == "survey")
    column = src.columns["respondent_id"]
    # a person with a quarantined row in a batch whose results sample failing values
    rows = query(
        cfg,
        "select json_extract_string(q.raw_row, ?) as person, q.batch_id from quarantine.survey as q "
        "where q.source_name = ? and json_extract_string(q.raw_row, ?) is not null "
        "and exists (select 1 from ops.validation_results as r where r.batch_id = q.batch_id "
        "and r.column_name is not null and json_array_length(r.sample_values) > 0) "
        "order by 2, 1 limit 1",
        ["$." + column, src.name, "$." + column],
    )
    assert rows, "the demo has no quarantined survey row in a batch with samples"
    person, _ = rows[0]
    touched = {
        b
        for (b,) in query(
            cfg,
            "select distinct batch_id from validated.survey where respondent_id = ? union "
            "select distinct batch_id from quarantine.survey where json_extract_string(raw_row, ?) = ?",
            [person, "$." + column, person],
        )
    }
    site = build_docs(cfg)
    samples = "select batch_id, expectation_type, column_name, unexpected_count, sample_values from ops.validation_results order by all"
    before = query(cfg, samples)

    corrections.erase(cfg, src.name, respondent=person, rebuild=False)

    after = query(cfg, samples)
    assert len(after) == len(before)
    scrubbed = 0
    for old, new in zip(before, after, strict=True):
        assert old[:4] == new[:4]  # counts stay
        if old[0] in touched and old[2] is not None and old[4] and json.loads(old[4]):
            assert json.loads(new[4]) == [corrections.ERASED] * len(json.loads(old[4]))
            scrubbed += 1
        else:
            assert new[4] == old[4]
    assert scrubbed
    for (text,) in query(
        cfg,
        f"select result_json from ops.validation_runs where batch_id in ({', '.join('?' for _ in touched)})",
        sorted(touched),
    ):
        for evr in json.loads(text)["results"]:
            res = evr.get("result") or {}
            assert set(res.get("partial_unexpected_list") or []) <= {corrections.ERASED}
            assert "partial_unexpected_index_list" not in res
    pages = [p.read_text("utf-8") for p in site.parent.rglob("*.html")]
    assert any(corrections.ERASED in page for page in pages), "Data Docs not rendered again"


def test_retracting_a_file_withdraws_the_rows_a_release_took_from_it(project) -> None:
    """A file's quarantined rows released (after a fix) into a release batch with another
    file's: retracting the file withdraws its own rows and the released ones it gave,
    and nothing of the other file."""
    from observatory.release import release  # noqa: PLC0415

    cfg = project()
    _land(cfg, HEADER + "".join(ROWS) + "4,2025-06-01T12:00:00Z,45.05,7.62,alien\n")
    _land(cfg, HEADER + "7,2025-06-02T10:00:00Z,45.05,7.62,theft\n"
          "8,2025-06-02T11:00:00Z,45.05,7.62,alien\n", "b.csv")  # fmt: skip
    first, second = pipeline.ingest(cfg, now=NOW)
    assert (first.rows_quarantined, second.rows_quarantined) == (1, 1)
    (cfg.base_dir / "observatory.toml").write_text(
        city_toml() + police_source("", "theft = 1.0\nrobbery = 2.0\nalien = 1.0"),
        encoding="utf-8",
    )
    cfg = load_config(cfg.base_dir / "observatory.toml")
    released = release(cfg, "police")
    assert (released.rows_read, released.rows_accepted) == (2, 2)
    assert len(released.batches) == 2  # one release batch per file
    origins = [
        row
        for batch in released.batches
        for row in query(
            cfg,
            f"select o.origin_batch_id, v.incident_id from ({corrections.release_origins_sql()}) "
            "as o join validated.incidents as v on v.batch_id = ? and v.row_number = o.row_number",
            [batch.batch_id, batch.batch_id],
        )
    ]
    assert sorted(origins, key=lambda r: r[1]) == [(first.batch_id, "4"), (second.batch_id, "8")]
    [(of_second,)] = query(
        cfg,
        "select distinct release_batch_id from ops.release_rows where origin_batch_id = ?",
        [second.batch_id],
    )

    w = corrections.retract(cfg, first.batch_id, "the police withdrew the file")
    assert w.rows_validated == 4  # its three rows and the one released from it
    assert _validated(cfg) == [("7", "theft", second.batch_id), ("8", "alien", of_second)]
