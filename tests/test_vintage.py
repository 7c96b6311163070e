"""Frozen history, vintages and provisional periods (issue 13, items 2 and 5).

The small demo city (6 months) is ingested through the real path in two deliveries: the
first four months, then the last two. A publication made after the first delivery must be
rebuilt exactly from the warehouse after the second; with a complete reference period the
second build must not revise the first four months' point figures; a month whose incidents
have not landed yet is provisional until they land or are declared late.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from observatory import pipeline, vintage
from observatory.cli import app
from observatory.config import load_config
from observatory.demo.generator import generate
from observatory.index import METHOD_VERSION
from observatory.warehouse import connect

LATE = ("2025_05", "2025_06")
FOLDERS = ("survey", "incidents", "sensors/readings")
#: Figures of a past month that a frozen reference period keeps as published.
POINT_COLUMNS = [
    "zone_id",
    "time_band",
    "period_start",
    "n_respondents",
    "incident_count",
    "incident_ratio",
    "incidents_component",
    "environment_component",
    "perception_raw",
    "perception_shrunk",
    "perception_score",
    "index_value",
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vintage_demo")
    generate(root, scale="small")
    return root


def _hold_back(root: Path, months: tuple[str, ...], folders: tuple[str, ...]) -> Path:
    """Move the landing files of `months` out of landing (a later delivery)."""
    held = root / "held"
    for folder in folders:
        for month in months:
            for f in (root / "landing" / folder).glob(f"*_{month}.csv"):
                target = held / folder / f.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(f, target)
    return held


def _deliver(root: Path, held: Path) -> None:
    for f in held.rglob("*.csv"):
        shutil.move(f, root / "landing" / f.relative_to(held))


def _city(generated: Path, tmp_path: Path, index: dict | None = None):  # noqa: ANN202
    root = tmp_path / "city"
    shutil.copytree(generated, root)
    # fewer Monte Carlo draws than the demo's 500: these tests compare builds, not intervals
    overrides = {"index": {"uncertainty_draws": 100, **(index or {})}}
    return root, load_config(root / "observatory.toml", overrides)


def _zone_index(cfg, until: dt.date) -> pd.DataFrame:  # noqa: ANN001
    with connect(cfg, read_only=True) as con:
        return con.execute(
            f"select {', '.join(POINT_COLUMNS)} from marts.zone_index "
            "where period_start <= ? order by zone_id, time_band, period_start",
            [until],
        ).df()


def test_a_past_publication_is_rebuilt_exactly_after_two_more_months(
    generated: Path, tmp_path: Path
) -> None:
    root, cfg = _city(generated, tmp_path)
    held = _hold_back(root, LATE, FOLDERS)
    pipeline.run(cfg)
    with connect(cfg, read_only=True) as con:
        (first_build, _, latest), *_ = vintage.publications(con)
        first_hashes = dict(
            con.execute(
                "select mart, content_hash from marts.publication_log where build_id = ?",
                [first_build],
            ).fetchall()
        )
        stamped = con.execute(
            "select distinct build_id, method_version from marts.zone_index"
        ).fetchall()
    assert latest == dt.date(2025, 4, 1)
    assert stamped == [(first_build, METHOD_VERSION)]
    _deliver(root, held)
    pipeline.run(cfg)
    with connect(cfg, read_only=True) as con:
        builds = vintage.publications(con)
        assert [b[2] for b in builds] == [dt.date(2025, 6, 1), dt.date(2025, 4, 1)]
        # the reference period grew from four to six months: the past *was* revised here,
        # and the log says so (the point of declaring or completing the reference period)
        refs = con.execute(
            "select distinct build_id, reference_end from marts.publication_log order by 2"
        ).fetchall()
    assert [r[1] for r in refs] == [dt.date(2025, 4, 1), dt.date(2025, 6, 1)]

    result = vintage.reproduce(cfg, first_build)
    assert result.exact, result.matches
    assert set(result.matches) == set(pipeline.MART_MODELS)
    assert set(first_hashes) == set(pipeline.MART_MODELS)
    # the warehouse itself is untouched by the reproduction
    with connect(cfg, read_only=True) as con:
        assert len(vintage.publications(con)) == 2

    # the command line says the same, and exits 1 for a build it cannot find
    runner = CliRunner()
    out = runner.invoke(app, ["reproduce", first_build, "--config", str(root / "observatory.toml")])
    assert out.exit_code == 0, out.output
    assert "reproduced exactly" in out.output
    missing = runner.invoke(app, ["reproduce", "nope", "--config", str(root / "observatory.toml")])
    assert missing.exit_code == 2 and "not in marts.publication_log" in missing.output


def test_a_changed_mart_is_not_called_reproduced(generated: Path, tmp_path: Path) -> None:
    """The comparison can fail: a build whose settings differ from the log's is caught."""
    root, cfg = _city(generated, tmp_path)
    pipeline.run(cfg)
    with connect(cfg, read_only=True) as con:
        (build_id, *_), *_ = vintage.publications(con)
    with connect(cfg) as con:  # an accepted row edited after publication
        con.execute(
            "update validated.incidents set severity = severity + 5 "
            "where row_number = (select min(row_number) from validated.incidents)"
        )
    result = vintage.reproduce(cfg, build_id)
    assert not result.exact
    assert not result.matches["zone_index"]
    assert result.matches["quarantine_reasons"]


def test_a_build_of_another_method_version_is_named_as_such(
    generated: Path, tmp_path: Path
) -> None:
    """A publication made by an older method (v3's draws were one stream per block, v4's
    one per month) cannot be reproduced by this code: reproduce says why."""
    root, cfg = _city(generated, tmp_path)
    pipeline.run(cfg)
    with connect(cfg) as con:
        (build_id, *_), *_ = vintage.publications(con)
        con.execute("update marts.publication_log set method_version = 'v3'")
    out = CliRunner().invoke(
        app, ["reproduce", build_id, "--config", str(root / "observatory.toml")]
    )
    assert f"built with method v3; this version computes {METHOD_VERSION}" in out.output


def test_the_logs_hashes_in_one_pass_are_content_hashs(generated: Path, tmp_path: Path) -> None:
    """`log_publication` hashes each mart in one pass (issue 18): the same hashes as
    `content_hash` over all rows and over one build's, and the same other builds."""
    _, cfg = _city(generated, tmp_path)
    pipeline.run(cfg)
    with connect(cfg) as con:
        (build_id, *_), *_ = vintage.publications(con)
        con.execute(  # rows "kept" from an earlier build, as an increment's frozen months
            "update marts.zone_index set build_id = 'b-earlier' "
            "where period_start = (select min(period_start) from marts.zone_index)"
        )
        for mart in ("zone_index", "data_quality"):
            n, whole, own, others = vintage._mart_hashes(con, mart, build_id)
            assert n == con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
            assert whole == vintage.content_hash(con, f"marts.{mart}")
            assert own == vintage.content_hash(con, f"marts.{mart}", f"build_id = '{build_id}'")
            assert others == (["b-earlier"] if mart == "zone_index" else [])
            assert (own != whole) == (mart == "zone_index")
        assert vintage._mart_hashes(con, "zone_index", "b-none")[2] == vintage.content_hash(
            con, "marts.zone_index", "false"
        )


def test_a_complete_reference_period_does_not_revise_the_past(
    generated: Path, tmp_path: Path
) -> None:
    root, cfg = _city(generated, tmp_path, index={"reference_months": 3})
    held = _hold_back(root, LATE, FOLDERS)
    pipeline.run(cfg)
    before = _zone_index(cfg, dt.date(2025, 4, 1))
    _deliver(root, held)
    pipeline.run(cfg)
    after = _zone_index(cfg, dt.date(2025, 4, 1))
    assert before["incident_ratio"].notna().sum() > 100
    pd.testing.assert_frame_equal(before, after)
    with connect(cfg, read_only=True) as con:
        ref = con.execute(
            "select distinct incident_reference_start, incident_reference_end "
            "from marts.city_summary"
        ).fetchall()
    assert ref == [(dt.date(2025, 1, 1), dt.date(2025, 3, 1))]

    # the second build was incremental: it kept the frozen months' rows of the first, and
    # reproducing it checks the rows it wrote itself and names the build of the others
    with connect(cfg, read_only=True) as con:
        (second, *_), (first, *_) = vintage.publications(con)
        frozen = con.execute(
            "select count(*) from ops.build_periods where build_id = ? and is_frozen", [second]
        ).fetchone()[0]
    assert frozen > 0
    result = vintage.reproduce(cfg, second)
    assert result.exact, result.matches
    assert result.carried_from["zone_index"] == [first]


def test_a_declared_reference_period_is_used(generated: Path, tmp_path: Path) -> None:
    period = {"start": "2025-02-01", "end": "2025-03-31"}
    _, cfg = _city(generated, tmp_path, index={"reference_period": period})
    pipeline.run(cfg)
    with connect(cfg, read_only=True) as con:
        rows = con.execute(
            "select distinct reference_start, reference_end, reference_n_months "
            "from idx.idx_incidents where reference_rate is not null"
        ).fetchall()
    assert rows == [(dt.date(2025, 2, 1), dt.date(2025, 3, 1), 2)]


def _periods(cfg) -> dict[dt.date, tuple[bool, list[str] | None]]:  # noqa: ANN001
    with connect(cfg, read_only=True) as con:
        rows = con.execute(
            "select period_start, any_value(is_provisional), any_value(awaiting_sources) "
            "from marts.city_summary group by all order by 1"
        ).fetchall()
        flags = con.execute(
            "select distinct period_start, is_provisional from marts.zone_index order by 1"
        ).fetchall()
    by_month = {r[0]: (r[1], r[2]) for r in rows}
    assert {p: f for p, f in flags} == {p: v[0] for p, v in by_month.items()}
    return by_month


def test_a_month_is_provisional_until_its_incidents_land(generated: Path, tmp_path: Path) -> None:
    root, cfg = _city(generated, tmp_path)
    # June's survey and sensors arrived; June's incidents have not
    held = _hold_back(root, ("2025_06",), ("incidents",))
    pipeline.run(cfg)
    periods = _periods(cfg)
    june = dt.date(2025, 6, 1)
    assert periods[june] == (True, ["incidents_polizia"])
    assert not any(p for month, (p, _) in periods.items() if month != june)
    with connect(cfg, read_only=True) as con:
        log = con.execute(
            "select distinct provisional_periods from marts.publication_log"
        ).fetchall()
        reference = con.execute(
            "select distinct reference_end from idx.idx_incidents where reference_end is not null"
        ).fetchall()
    assert log == [([june],)]
    assert reference == [(dt.date(2025, 5, 1),)]  # a provisional month is not in the reference

    # declared late: June becomes final without it (its incident component is missing)
    runner = CliRunner()
    toml = str(root / "observatory.toml")
    out = runner.invoke(
        app, ["declare-late", "incidents_polizia", "--period", "2025-06", "-c", toml]
    )
    assert out.exit_code == 0, out.output
    pipeline.build(cfg)
    assert _periods(cfg)[june] == (False, None)

    # a second city: the incidents land instead, and June is final with them
    _deliver(root, held)
    pipeline.run(cfg)
    assert _periods(cfg)[june] == (False, None)
    bad = runner.invoke(app, ["declare-late", "incidents_polizia", "--period", "June", "-c", toml])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output


def test_a_month_that_has_not_ended_is_provisional(generated: Path, tmp_path: Path) -> None:
    _, cfg = _city(generated, tmp_path)
    pipeline.ingest(cfg)
    pipeline.build(cfg, now=dt.datetime(2025, 6, 20, 12, tzinfo=dt.UTC))
    periods = _periods(cfg)
    assert periods[dt.date(2025, 6, 1)] == (True, None)
    assert not periods[dt.date(2025, 5, 1)][0]
