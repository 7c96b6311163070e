"""The lineage of released rows through erasures and corrections, and erasure in the
archived files of withdrawn batches.

A release batch's rows keep their origin file row in `ops.release_rows`, so a withdrawal
of the original file takes exactly its own released rows after an erasure or a supersede
has changed quarantine; a failed supersede puts back every row it withdrew."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from observatory import archive, corrections, pipeline
from observatory.config import Config, load_config
from observatory.release import release
from observatory.warehouse import connect
from tests.support import city_toml, police_source, query, write_zones

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
HEADER = "id,ts,lat,lon,cat\n"
FIXED = "theft = 1.0\nrobbery = 2.0\nalien = 1.0"


def _row(record: str, cat: str = "theft", hour: int = 10) -> str:
    return f"{record},2025-06-01T{hour:02d}:00:00Z,45.05,7.62,{cat}\n"


@pytest.fixture
def project(tmp_path: Path):
    def make(severity: str = "theft = 1.0\nrobbery = 2.0") -> Config:
        (tmp_path / "landing").mkdir(exist_ok=True)
        write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.05), ("B", "B", 7.65, 45.0, 0.05)], 1000)
        (tmp_path / "observatory.toml").write_text(
            city_toml() + police_source("", severity), encoding="utf-8"
        )
        return load_config(tmp_path / "observatory.toml")

    return make


def _land(cfg: Config, text: str, name: str) -> Path:
    path = cfg.base_dir / "landing" / name
    path.write_text(HEADER + text, encoding="utf-8")
    return path


def _validated(cfg: Config) -> list[tuple]:
    return query(cfg, "select incident_id, batch_id from validated.incidents order by 1")


def test_an_erasure_shifts_a_release_batchs_numbering_so_a_retract_withdraws_other_rows(
    project,
) -> None:
    """Erasure deletes the person's quarantine rows, released ones too: the release
    batches' origins are stored, so retracting the second file still withdraws its own
    released row and none of the first file's."""
    cfg = project()
    _land(cfg, _row("a0") + _row("a1", "alien") + _row("a2", "alien"), "a.csv")
    _land(cfg, _row("b0") + _row("b1", "alien") + _row("b2", "alien"), "b.csv")
    reports = pipeline.ingest(cfg, now=NOW)
    # the release numbers rows in (batch id, row) order: `first` is the one numbered first
    first, second = sorted(reports, key=lambda r: r.batch_id)
    p, q = ("a", "b") if Path(first.file).name == "a.csv" else ("b", "a")
    cfg = project(FIXED)
    released = release(cfg, "police")
    assert released.rows_accepted == 4
    corrections.erase(cfg, "police", record=f"{p}1", rebuild=False)

    w = corrections.retract(cfg, second.batch_id, "the police withdrew the second file")
    left = {r for r, _ in _validated(cfg)}
    assert left == {f"{p}0", f"{p}2"}, (
        f"after retracting {q}.csv: {sorted(left)} published ({q}2 should be withdrawn, {p}2 kept)"
    )
    assert w.rows_validated == 3


def test_a_supersede_whose_file_fails_puts_back_the_rows_a_release_took_from_it(
    project,
) -> None:
    """A supersede withdraws the file's rows and those a release took from it; when the
    corrected file fails, all of them are put back ("X stays loaded, its rows back in
    place", docs/operations.md)."""
    cfg = project()
    _land(cfg, _row("x0") + _row("x1", "alien"), "x.csv")
    [x] = pipeline.ingest(cfg, now=NOW)
    cfg = project(FIXED)
    released = release(cfg, "police")
    assert released.rows_accepted == 1
    before = _validated(cfg)
    assert before == [("x0", x.batch_id), ("x1", released.batch_id)]
    broken = cfg.base_dir / "broken.csv"
    broken.write_text("id,when\n1,2025-06-01\n", encoding="utf-8")  # lost its columns
    with pytest.raises(corrections.CorrectionError, match="stays loaded"):
        corrections.supersede(cfg, x.batch_id, broken)
    assert _validated(cfg) == before


def test_retracting_a_release_batch_after_a_supersede_withdraws_the_new_files_rows(
    project,
) -> None:
    """A successful supersede marks every quarantine row it closed with the new batch's id,
    the release batch's re-quarantined rows too; the new batch is no release for all that,
    and retracting the release batch withdraws nothing of the corrected file."""
    cfg = project()
    _land(cfg, _row("x0") + _row("x1", "alien") + _row("x2", "ufo", 11), "x.csv")
    [x] = pipeline.ingest(cfg, now=NOW)
    cfg = project(FIXED)  # half the fix: alien passes, ufo fails again
    released = release(cfg, "police")
    assert (released.rows_accepted, released.rows_quarantined) == (1, 1)
    corrected = _land(cfg, _row("x0") + _row("x1") + _row("x2", "theft", 11), "x2.csv")
    _, new = corrections.supersede(cfg, x.batch_id, corrected)
    assert {r for r, _ in _validated(cfg)} == {"x0", "x1", "x2"}
    corrections.retract(cfg, released.batch_id, "nothing of it is left anyway")
    assert {r for r, _ in _validated(cfg)} == {"x0", "x1", "x2"}, (
        "retracting the release batch withdrew rows of the corrected file " + new.batch_id
    )


def test_an_erasure_leaves_the_person_in_a_superseded_files_archive(project) -> None:
    """A superseded batch's file stays archived for lineage, though its validated rows are
    gone: the erasure finds the person in that file too and removes the row."""
    cfg = project()
    _land(cfg, _row("p1") + _row("p2"), "x.csv")
    [x] = pipeline.ingest(cfg, now=NOW)
    corrected = _land(cfg, _row("p1", "robbery") + _row("p2"), "x2.csv")
    corrections.supersede(cfg, x.batch_id, corrected)
    corrections.erase(cfg, "police", record="p1", rebuild=False)
    with connect(cfg, read_only=True) as con:
        path = archive.archived_path(con, x.batch_id)
        assert path is not None
        text = con.execute(
            "select string_agg(id, ',' order by id) from read_csv(?, all_varchar = true)",
            [str(path)],
        ).fetchall()[0][0]
    assert "p1" not in text.split(","), f"the erased record is still in {path}"


def test_a_warehouse_from_before_the_origins_table_gets_the_origins_its_releases_made(
    project,
) -> None:
    """`ops.release_rows` is new: a warehouse whose releases predate it gets their rows'
    origins back in the order the releases numbered them (no erasure since)."""
    cfg = project()
    _land(cfg, _row("a0") + _row("a1", "alien") + _row("a2", "alien", 11), "a.csv")
    _land(cfg, _row("b0") + _row("b1", "alien"), "b.csv")
    pipeline.ingest(cfg, now=NOW)
    cfg = project(FIXED)
    released = release(cfg, "police")
    assert len(released.batches) == 2
    stored = query(cfg, "select * from ops.release_rows order by all")
    assert len(stored) == 3
    with connect(cfg) as con:
        con.execute("drop table ops.release_rows")
        corrections.ensure_tables(con)
    assert query(cfg, "select * from ops.release_rows order by all") == stored
