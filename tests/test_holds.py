"""Write-audit-publish: a batch over its quarantine limit is loaded but held, the periods it
touches are not republished until it is released, and the hold and release are recorded."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from observatory import pipeline
from observatory.cli import app
from observatory.config import Config, ConfigError, load_config
from observatory.ops import holds
from observatory.release import release as quarantine_release
from observatory.warehouse import connect
from tests.support import city_toml, police_source, query, write_zones

NOW = dt.datetime(2025, 7, 15, tzinfo=dt.UTC)
HEADER = "id,ts,lat,lon,cat\n"


def _rows(prefix: str, n: int, month: str, *, bad: bool = False) -> str:
    """`n` incidents in zone A in `month`; `bad` ones have an unknown category."""
    cat = "alien" if bad else "theft"
    return "".join(
        f"{prefix}{i},2025-{month}-{1 + i % 27:02d}T{10 + i % 8}:00:00Z,45.02,7.62,{cat}\n"
        for i in range(n)
    )


@pytest.fixture
def project(tmp_path: Path):
    def make(extra: str = "") -> Config:
        (tmp_path / "landing").mkdir(exist_ok=True)
        write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.05), ("B", "B", 7.65, 45.0, 0.05)], 1000)
        (tmp_path / "observatory.toml").write_text(
            city_toml() + police_source(extra), encoding="utf-8"
        )
        return load_config(tmp_path / "observatory.toml")

    return make


def _land(cfg: Config, name: str, text: str) -> None:
    (cfg.base_dir / "landing" / name).write_text(HEADER + text, encoding="utf-8")


def _june_incidents(cfg: Config) -> list[tuple]:
    return query(
        cfg,
        "select zone_id, time_band, incident_count from idx.idx_incidents "
        "where period_start = date '2025-06-01' order by all",
    )


def _held_city(cfg: Config) -> str:
    """May and June published; then a June file half quarantined: held. Its batch id."""
    _land(cfg, "a.csv", _rows("a", 10, "05") + _rows("b", 10, "06"))
    pipeline.ingest(cfg, now=NOW)
    pipeline.build(cfg)
    _land(cfg, "b.csv", _rows("c", 10, "06") + _rows("d", 10, "06", bad=True))
    [report] = [r for r in pipeline.ingest(cfg, now=NOW) if r.status == "loaded"]
    assert (report.rows_read, report.rows_quarantined) == (20, 10)
    assert report.held and "10 of 20 rows (50.0%)" in report.held and "20%" in report.held
    return report.batch_id


def test_a_half_quarantined_batch_is_held_and_its_period_not_republished(project) -> None:
    cfg = project()
    _land(cfg, "a.csv", _rows("a", 10, "05") + _rows("b", 10, "06"))
    pipeline.ingest(cfg, now=NOW)
    pipeline.build(cfg)
    before = _june_incidents(cfg)
    batch_id = _held_city(cfg)
    pipeline.build(cfg)
    # loaded (nothing lost, rows reconcile) but not in any staging model: June as before
    assert query(cfg, "select count(*) from validated.incidents where batch_id = ?", [batch_id])[
        0
    ] == (10,)
    assert query(cfg, "select count(*) from staging.stg_incidents where batch_id = ?", [batch_id])[
        0
    ] == (0,)
    assert _june_incidents(cfg) == before
    periods = dict(query(cfg, "select period_start::varchar, held_batches from idx.idx_periods"))
    assert periods == {"2025-05-01": [], "2025-06-01": [batch_id]}
    (june_provisional,) = query(
        cfg, "select is_provisional from idx.idx_periods where period_start = '2025-06-01'"
    )[0]
    assert june_provisional
    (n_published,) = query(
        cfg,
        "select count(*) from ops.publication_batches where batch_id = ? and build_id = "
        "(select max(build_id) from ops.publication_batches)",
        [batch_id],
    )[0]
    assert n_published == 0

    holds.release(cfg, batch_id, by="analyst", note="the alien category is new: mapped later")
    pipeline.build(cfg)
    after = _june_incidents(cfg)
    assert sum(n for *_, n in after) == sum(n for *_, n in before) + 10
    assert query(cfg, "select held_batches from idx.idx_periods") == [([],), ([],)]


def test_the_hold_and_its_release_are_recorded_and_listed_by_the_cli(project) -> None:
    cfg = project()
    batch_id = _held_city(cfg)
    runner = CliRunner()
    config = str(cfg.base_dir / "observatory.toml")
    held = runner.invoke(app, ["batches", "held", "--config", config, "--json"])
    assert held.exit_code == 0, held.output
    [row] = json.loads(held.output)
    assert row["batch_id"] == batch_id and row["periods"] == ["2025-06"]
    assert row["file_path"].endswith("b.csv") and row["quarantined_share"] == 0.5
    assert "most often: category not in the source's severity list (10 rows)" in row["reason"]

    done = runner.invoke(
        app, ["batches", "release", batch_id, "--config", config, "--note", "checked"]
    )
    assert done.exit_code == 0, done.output
    assert f"released {batch_id} (police)" in done.output
    again = runner.invoke(app, ["batches", "release", batch_id, "--config", config])
    assert again.exit_code == 0 and "already released" in again.output
    assert runner.invoke(app, ["batches", "held", "--config", config]).output.strip() == (
        "no batch is held"
    )
    ((released_by, note, released_at),) = query(
        cfg, "select released_by, note, released_at from ops.batch_holds"
    )
    assert note == "checked" and released_by and released_at is not None
    listed = runner.invoke(app, ["batches", "--config", config])  # the group still lists
    assert listed.exit_code == 0 and batch_id in listed.output


def test_releasing_a_batch_that_is_not_held_names_the_held_ones(project) -> None:
    cfg = project()
    batch_id = _held_city(cfg)
    with pytest.raises(ConfigError, match=f"'police:nope' is not held .*held now: {batch_id}"):
        holds.release(cfg, "police:nope")
    with pytest.raises(ConfigError, match="is a batch of 'police', not 'other'"):
        holds.release(cfg, batch_id, source="other")


def test_a_source_may_allow_more_quarantine(project) -> None:
    cfg = project("max_quarantine_share = 0.6")
    _land(cfg, "b.csv", _rows("c", 10, "06") + _rows("d", 10, "06", bad=True))
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "loaded" and report.held is None
    assert query(cfg, "select count(*) from ops.batch_holds") == [(0,)]


def test_unconsumed_batches_are_those_the_last_build_did_not_read(project) -> None:
    cfg = project()
    _land(cfg, "early.csv", _rows("e", 10, "04"))
    [first] = pipeline.ingest(cfg, now=NOW)
    con = connect(cfg)
    try:
        assert holds.unconsumed(con, "police") == [first.batch_id]  # no build yet
        pipeline.build(cfg, con=con)
        assert holds.unconsumed(con, "police") == []
    finally:
        con.close()
    batch_id = _held_city(cfg)
    con = connect(cfg)
    try:
        assert holds.unconsumed(con, "police") == []  # held: nothing to publish yet
        holds.release(cfg, batch_id, con=con)
        assert holds.unconsumed(con, "police") == [batch_id]
    finally:
        con.close()


def test_the_cli_ingest_says_a_batch_is_held(project) -> None:
    cfg = project()
    _land(cfg, "b.csv", _rows("c", 10, "06") + _rows("d", 10, "06", bad=True))
    config = str(cfg.base_dir / "observatory.toml")
    result = CliRunner().invoke(app, ["ingest", "--config", config])
    assert result.exit_code == 0, result.output
    [(batch_id,)] = query(cfg, "select batch_id from ops.batch_holds")
    assert f"HELD    {batch_id}: 10 of 20 rows (50.0%) went to quarantine" in result.output
    assert f"`observatory batches release {batch_id}`" in result.output


def test_status_counts_the_held_batches(project) -> None:
    cfg = project()
    _held_city(cfg)
    config = str(cfg.base_dir / "observatory.toml")
    result = CliRunner().invoke(app, ["status", "--config", config, "--json"])
    assert result.exit_code == 0, result.output
    [police] = json.loads(result.output)["sources"]
    assert (police["batches_loaded"], police["batches_held"]) == (2, 1)
    text = CliRunner().invoke(app, ["status", "--config", config]).output
    assert "(failed 0, held 1)" in text


def _fix_categories(cfg: Config, severity: str) -> Config:
    """The data engineer's fix: the source's severity list gains categories."""
    (cfg.base_dir / "observatory.toml").write_text(
        city_toml() + police_source("", severity), encoding="utf-8"
    )
    return load_config(cfg.base_dir / "observatory.toml")


def _june_total(cfg: Config) -> int:
    return sum(n for *_, n in _june_incidents(cfg))


def test_releasing_a_held_batchs_quarantine_after_a_fix_lifts_the_hold(project) -> None:
    cfg = project()
    batch_id = _held_city(cfg)
    pipeline.build(cfg)
    before = _june_total(cfg)
    # released without a fix: the rows fail again, so the batch stays held
    unfixed = quarantine_release(cfg, "police", batch_id=batch_id)
    assert (unfixed.rows_accepted, unfixed.rows_quarantined) == (0, 10)
    with connect(cfg, read_only=True) as con:
        assert holds.open_hold(con, batch_id)
    # the fix, then the release of what failed again: nothing of the file is in quarantine
    cfg = _fix_categories(cfg, "theft = 1.0\nalien = 1.0")
    fixed = quarantine_release(cfg, "police")
    assert (fixed.rows_accepted, fixed.rows_quarantined) == (10, 0)
    with connect(cfg, read_only=True) as con:
        assert holds.open_hold(con, batch_id) is None
        (note,) = con.execute(
            "select note from ops.batch_holds where batch_id = ?", [batch_id]
        ).fetchall()[0]
    assert f"lifted by quarantine release {fixed.batch_id}" in note and "0.0%" in note
    pipeline.build(cfg)
    assert _june_total(cfg) == before + 20  # the file's 10 good rows and its 10 fixed ones


def test_a_release_that_leaves_too_much_in_quarantine_is_held_with_its_file(project) -> None:
    cfg = project()
    _land(cfg, "a.csv", _rows("a", 10, "05") + _rows("b", 10, "06"))
    pipeline.ingest(cfg, now=NOW)
    pipeline.build(cfg)
    before = _june_total(cfg)
    bad = _rows("d", 5, "06", bad=True) + _rows("u", 5, "06").replace("theft", "ufo")
    _land(cfg, "b.csv", _rows("c", 10, "06") + bad)
    [report] = [r for r in pipeline.ingest(cfg, now=NOW) if r.status == "loaded"]
    assert report.held and report.rows_quarantined == 10
    # half the fix: the 5 'alien' rows pass, the 5 'ufo' rows fail again (25% > 20%)
    cfg = _fix_categories(cfg, "theft = 1.0\nalien = 1.0")
    partial = quarantine_release(cfg, "police", batch_id=report.batch_id)
    assert (partial.rows_accepted, partial.rows_quarantined) == (5, 5)
    with connect(cfg, read_only=True) as con:
        assert holds.open_hold(con, report.batch_id)
        held_with = holds.open_hold(con, partial.batch_id)
    assert held_with and f"held batch {report.batch_id} (25.0%" in held_with
    pipeline.build(cfg)
    assert _june_total(cfg) == before  # neither the file nor its released part
    holds.release(cfg, report.batch_id, by="analyst", note="ufo reports are kept out")
    with connect(cfg, read_only=True) as con:
        assert holds.open_hold(con, partial.batch_id) is None  # released with it
    pipeline.build(cfg)
    assert _june_total(cfg) == before + 15
