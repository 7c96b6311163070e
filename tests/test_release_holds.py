"""A quarantine release of several files' rows and the holds on those files.

A release may take rows of several files (`observatory quarantine release SOURCE` without
`--batch`, or with `--reason`); it makes one release batch per file, so that a release
batch held with a held file holds nothing of another file's (`holds.after_quarantine_release`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from observatory import pipeline
from observatory.config import Config, load_config
from observatory.ops import holds
from observatory.release import release as quarantine_release
from tests.support import city_toml, police_source, query, write_zones

NOW = dt.datetime(2025, 7, 15, tzinfo=dt.UTC)
HEADER = "id,ts,lat,lon,cat\n"


def _rows(prefix: str, n: int, cat: str = "theft") -> str:
    return "".join(
        f"{prefix}{i},2025-06-{1 + i % 27:02d}T{10 + i % 8}:00:00Z,45.02,7.62,{cat}\n"
        for i in range(n)
    )


@pytest.fixture
def project(tmp_path: Path):
    def make(severity: str = "theft = 1.0") -> Config:
        (tmp_path / "landing").mkdir(exist_ok=True)
        write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.05), ("B", "B", 7.65, 45.0, 0.05)], 1000)
        (tmp_path / "observatory.toml").write_text(
            city_toml() + police_source("", severity), encoding="utf-8"
        )
        return load_config(tmp_path / "observatory.toml")

    return make


def _land(cfg: Config, name: str, text: str) -> None:
    (cfg.base_dir / "landing" / name).write_text(HEADER + text, encoding="utf-8")


def _staged(cfg: Config, prefix: str) -> int:
    (n,) = query(
        cfg,
        "select count(*) from staging.stg_incidents where starts_with(incident_id, ?)",
        [prefix],
    )[0]
    return int(n)


def test_an_unheld_files_fixed_rows_are_not_held_with_another_file(project) -> None:
    """File c is not held (1 of 20 rows quarantined); file h is (10 of 20). One release of
    the source's quarantine after half a fix: h stays held, and so does h's release batch,
    but c's fixed row is published: nothing holds c."""
    cfg = project()
    _land(cfg, "c.csv", _rows("c", 19) + _rows("cx", 1, "alien"))
    _land(cfg, "h.csv", _rows("h", 10) + _rows("hx", 5, "alien") + _rows("hu", 5, "ufo"))
    reports = {Path(r.file).name: r for r in pipeline.ingest(cfg, now=NOW)}
    assert not reports["c.csv"].held and reports["h.csv"].held
    cfg = project("theft = 1.0\nalien = 1.0")  # half the fix: ufo stays unknown
    released = quarantine_release(cfg, "police")
    assert (released.rows_accepted, released.rows_quarantined) == (6, 5)
    pipeline.build(cfg)
    assert _staged(cfg, "cx") == 1, "c.csv's fixed row is held back with h.csv"


def test_releasing_one_of_two_held_files_publishes_its_fixed_rows(project) -> None:
    """Two held files, one release of both after half a fix: both stay held, each with its
    own release batch. Releasing h's hold releases h's release batch too ("releasing the
    batch releases both", docs/operations.md): all of h is published, nothing of g."""
    cfg = project()
    _land(cfg, "g.csv", _rows("g", 10) + _rows("gx", 5, "alien") + _rows("gu", 5, "ufo"))
    _land(cfg, "h.csv", _rows("h", 10) + _rows("hx", 5, "alien") + _rows("hu", 5, "ufo"))
    reports = {Path(r.file).name: r for r in pipeline.ingest(cfg, now=NOW)}
    assert reports["g.csv"].held and reports["h.csv"].held
    cfg = project("theft = 1.0\nalien = 1.0")
    released = quarantine_release(cfg, "police")
    assert (released.rows_accepted, released.rows_quarantined) == (10, 10)
    holds.release(cfg, reports["h.csv"].batch_id, by="analyst", note="ufo is out of scope")
    pipeline.build(cfg)
    assert _staged(cfg, "h") - _staged(cfg, "hx") == 10  # h's good rows are published
    assert _staged(cfg, "hx") == 5, "h.csv is released, but its fixed rows stay held"
    assert _staged(cfg, "g") == 0, "g.csv is still held, and its release batch with it"
