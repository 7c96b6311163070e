"""Files waiting in landing (not complete yet) are recorded with when they were first seen,
and alert once they have waited longer than `[monitoring] waiting_alert_hours`: a copy
that died half-way or a marker never written does not go unnoticed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from observatory import monitoring, pipeline
from observatory.cli import app
from observatory.config import Config, load_config
from observatory.ops.waiting import waiting_files
from observatory.warehouse import connect
from tests.support import city_toml, police_source, write_zones

T0 = dt.datetime(2025, 7, 1, 8, 0, tzinfo=dt.UTC)
CSV = "id,ts,lat,lon,cat\n1,2025-06-01T10:00:00Z,45.02,7.62,theft\n"


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    (tmp_path / "landing").mkdir()
    write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.05)], 1000)
    (tmp_path / "observatory.toml").write_text(
        city_toml() + police_source('completion = "marker"'), encoding="utf-8"
    )
    return load_config(tmp_path / "observatory.toml")


def _findings(cfg: Config, at: dt.datetime) -> list[monitoring.Finding]:
    with connect(cfg, read_only=True) as con:
        return monitoring.check_waiting(con, cfg, at)


def test_a_file_waiting_for_its_marker_alerts_after_the_limit_and_is_forgotten_once_loaded(
    cfg: Config,
) -> None:
    path = cfg.base_dir / "landing" / "a.csv"
    path.write_text(CSV, encoding="utf-8")
    [first] = pipeline.ingest(cfg, now=T0)
    assert first.status == "waiting"
    [again] = pipeline.ingest(cfg, now=T0 + dt.timedelta(hours=2))
    assert again.status == "waiting"
    with connect(cfg, read_only=True) as con:
        [row] = waiting_files(con)
    assert (row["file_path"], row["first_seen_at"], row["last_seen_at"]) == (
        str(path), T0, T0 + dt.timedelta(hours=2)
    )  # fmt: skip
    assert "marker" in row["reason"]
    assert _findings(cfg, T0 + dt.timedelta(hours=5)) == []  # within the 6 h allowed
    [late] = _findings(cfg, T0 + dt.timedelta(hours=7))
    assert late.check == "waiting" and late.subject == str(path) and late.value == 7.0
    assert "waiting 7.0 h" in late.message and "_SUCCESS" in late.message
    shown = CliRunner().invoke(app, ["status", "-c", str(cfg.base_dir / "observatory.toml")])
    assert "waiting since 2025-07-01T08:00" in shown.output, shown.output

    (cfg.base_dir / "landing" / "_SUCCESS").write_text("", encoding="utf-8")
    [loaded] = pipeline.ingest(cfg, now=T0 + dt.timedelta(hours=8))
    assert loaded.status == "loaded"
    with connect(cfg, read_only=True) as con:
        assert waiting_files(con) == []
    assert _findings(cfg, T0 + dt.timedelta(hours=9)) == []


def test_a_waiting_file_that_goes_away_is_forgotten(cfg: Config) -> None:
    path = cfg.base_dir / "landing" / "a.csv"
    path.write_text(CSV, encoding="utf-8")
    pipeline.ingest(cfg, now=T0)
    path.unlink()
    assert pipeline.ingest(cfg, now=T0 + dt.timedelta(hours=1)) == []
    with connect(cfg, read_only=True) as con:
        assert waiting_files(con) == []
