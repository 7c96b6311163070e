"""Quarantine release: after a mapping fix, rows re-enter once, nothing is lost."""

from __future__ import annotations

from typer.testing import CliRunner

from observatory import pipeline
from observatory.cli import app
from observatory.config import Config, load_config
from observatory.release import release, show, summary
from tests.conftest import DemoCity


def _counts(city: DemoCity) -> tuple[int, int, int]:
    with city.connect() as con:
        return con.execute(
            """
            select (select count(*) from validated.incidents),
                   (select count(*) from quarantine.incidents where released_at is null),
                   (select count(*) from quarantine.incidents)
            """
        ).fetchall()[0]


def test_list_and_show_name_the_reasons(demo_city: DemoCity) -> None:
    reasons = {(r["source"], r["reason"]): r["rows"] for r in summary(demo_city.cfg)}
    assert reasons[("incidents_polizia", "category not in the source's severity list")] == 6
    rows = show(demo_city.cfg, source="incidents_polizia", reason="category", limit=3)
    assert len(rows) == 3
    assert all('"category":"ufo_sighting"' in r["raw_row"] for r in rows)


def test_release_after_fixing_the_mapping(demo_copy: DemoCity) -> None:
    accepted0, open0, total0 = _counts(demo_copy)
    # Nothing changed yet: released rows fail again, under the release batch.
    again = release(demo_copy.cfg, "incidents_polizia", reason="category")
    assert (again.rows_read, again.rows_accepted, again.rows_quarantined) == (6, 0, 6)
    assert _counts(demo_copy) == (accepted0, open0, total0 + 6)

    # The data engineer adds the category to the source's severity map ...
    cfg = _amend_config(demo_copy, "assault = 4.0", "assault = 4.0\nufo_sighting = 0.1")
    fixed = release(cfg, "incidents_polizia", reason="category")
    assert (fixed.rows_read, fixed.rows_accepted, fixed.rows_quarantined) == (6, 6, 0)
    accepted1, open1, total1 = _counts(demo_copy)
    assert accepted1 == accepted0 + 6
    assert open1 == open0 - 6
    assert total1 == total0 + 6  # history kept: originals and the failed retry, released

    # ... and a second release finds nothing; the records are not duplicated.
    assert release(cfg, "incidents_polizia", reason="category").status == "skipped"
    assert _duplicated_records(demo_copy, "incidents") == []
    pipeline.build(cfg)
    with demo_copy.connect() as con:
        (n,) = con.execute(
            "select count(*) from staging.stg_incidents where category = 'ufo_sighting'"
        ).fetchall()[0]
    assert n == 6


def test_release_of_a_survey_row_releases_only_its_quarantined_item(demo_copy: DemoCity) -> None:
    # A night answer 'boh' was quarantined while the day answer of the same row was accepted.
    cfg = _amend_config(demo_copy, '"molto sicuro" = 5', '"molto sicuro" = 5\n"boh" = 3')
    report = release(cfg, "survey_quartieri", reason="label not in the label map")
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (6, 6, 0)
    assert _duplicated_records(demo_copy, "survey") == []


def test_cli_quarantine_commands(demo_copy: DemoCity) -> None:
    cfg = str(demo_copy.root / "observatory.toml")
    listed = CliRunner().invoke(app, ["quarantine", "list", "--config", cfg])
    assert listed.exit_code == 0 and "sensor not in the locations file" in listed.output
    released = CliRunner().invoke(
        app, ["quarantine", "release", "sensors_street", "--reason", "noise", "--config", cfg]
    )
    assert released.exit_code == 0, released.output
    assert "released 6 record(s)" in released.output and "6 still quarantined" in released.output


def _amend_config(demo: DemoCity, old: str, new: str) -> Config:
    """The data engineer's fix: one edit of the demo's project file, reloaded."""
    toml = demo.root / "observatory.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return load_config(toml)


def _duplicated_records(demo: DemoCity, kind: str) -> list[tuple]:
    with demo.connect() as con:
        return con.execute(
            f"select record_id from validated.{kind} group by 1 having count(*) > 1"
        ).fetchall()
