"""The incremental build (issue 18, item 3): closed months nobody touched keep their
published rows, a batch that touches an old month republishes it, `--full` republishes
every month, and a run with nothing new builds nothing.

The small demo city (6 months) is ingested through the real path in deliveries, as in
tests/test_vintage.py, with the incident reference period declared (January) so that it
does not move between builds (docs/methodology.md section 13).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from observatory import increment, pipeline
from observatory.config import load_config
from observatory.demo.generator import generate
from observatory.index.outputs import DRAWN_COLUMNS
from observatory.interventions.step import same_inputs
from observatory.vintage import STAMP_COLUMNS
from observatory.warehouse import connect

#: Period-grained marts (a `period_start` column): the ones an increment can freeze.
PERIOD_MARTS = ("zone_index", "city_summary", "fear_gap", "day_night_gap", "zone_trends")
FOLDERS = ("survey", "incidents", "sensors/readings")
OVERRIDES = {
    "index": {
        "uncertainty_draws": 100,  # these tests compare builds, not intervals
        "reference_period": {"start": "2025-01-01", "end": "2025-01-31"},
    }
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("increment_demo")
    generate(root, scale="small")
    return root


def _city(generated: Path, tmp_path: Path, held: list[str]):  # noqa: ANN202
    """A copy of the city with the landing files named in `held` moved aside."""
    root = tmp_path / "city"
    shutil.copytree(generated, root)
    aside = root / "held"
    for pattern in held:
        for f in (root / "landing").glob(pattern):
            target = aside / f.relative_to(root / "landing")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(f, target)
    return root, load_config(root / "observatory.toml", OVERRIDES), aside


def _deliver(root: Path, aside: Path, pattern: str = "**/*.csv") -> None:
    for f in aside.glob(pattern):
        shutil.move(f, root / "landing" / f.relative_to(aside))


def _rows(cfg, mart: str, months: list[dt.date], stamps: bool = True) -> pd.DataFrame:  # noqa: ANN001
    with connect(cfg, read_only=True) as con:
        frame = con.execute(
            f"select * from marts.{mart} where period_start in (select unnest(?)) order by all",
            [months],
        ).df()
    return frame if stamps else frame.drop(columns=list(STAMP_COLUMNS))


def _frozen(cfg) -> list[dt.date]:  # noqa: ANN001
    with connect(cfg, read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "select period_start from ops.build_periods where is_frozen and build_id = "
                "(select max(build_id) from ops.build_periods) order by 1"
            ).fetchall()
        ]


def test_frozen_months_keep_their_published_rows_and_full_matches_incremental(
    generated: Path, tmp_path: Path
) -> None:
    root, cfg, aside = _city(generated, tmp_path, ["**/*_2025_05.csv", "**/*_2025_06.csv"])
    pipeline.run(cfg)
    closed = [dt.date(2025, m, 1) for m in (1, 2, 3, 4)]
    before = {m: _rows(cfg, m, closed) for m in PERIOD_MARTS}
    assert len(before["zone_index"]) > 100

    _deliver(root, aside)  # May and June arrive
    pipeline.run(cfg)
    assert _frozen(cfg) == closed
    for mart in PERIOD_MARTS:  # byte for byte, stamps included: their vintage is build 1
        pd.testing.assert_frame_equal(before[mart], _rows(cfg, mart, closed), obj=mart)
    incremental = {m: _rows(cfg, m, closed + [dt.date(2025, 5, 1)], False) for m in PERIOD_MARTS}

    # a full build over the same data: the same marts, except what pools months
    # (section 13: intervals, trends), which a frozen month keeps as published
    pipeline.build(cfg, full=True)
    assert _frozen(cfg) == []
    full = {m: _rows(cfg, m, closed + [dt.date(2025, 5, 1)], False) for m in PERIOD_MARTS}
    may = dt.date(2025, 5, 1)
    for mart in PERIOD_MARTS:  # recomputed months: identical
        recomputed = incremental[mart][incremental[mart]["period_start"] == pd.Timestamp(may)]
        assert len(recomputed) > 0, mart
        pd.testing.assert_frame_equal(
            recomputed.reset_index(drop=True),
            full[mart][full[mart]["period_start"] == pd.Timestamp(may)].reset_index(drop=True),
            obj=mart,
        )
    points = ["zone_id", "time_band", "period_start", "incident_count", "perception_raw"]
    points += ["perception_shrunk", "index_value", "n_respondents"]
    pd.testing.assert_frame_equal(incremental["zone_index"][points], full["zone_index"][points])
    # and the freezing did something: the pooled intervals of a closed month moved
    moved = incremental["zone_index"]["index_ci_low"] != full["zone_index"]["index_ci_low"]
    assert moved.any()


def test_a_batch_touching_a_closed_month_republishes_it(generated: Path, tmp_path: Path) -> None:
    # February's incidents come late, after March-June's: February is closed without them
    root, cfg, aside = _city(generated, tmp_path, ["incidents/*_2025_02.csv"])
    pipeline.run(cfg)
    feb, jan = dt.date(2025, 2, 1), dt.date(2025, 1, 1)
    before = _rows(cfg, "zone_index", [jan, feb])
    assert len(before[before["period_start"] == pd.Timestamp(feb)]) == 40
    assert before["incident_count"][before["period_start"] == pd.Timestamp(feb)].sum() == 0

    _deliver(root, aside)
    pipeline.run(cfg)
    after = _rows(cfg, "zone_index", [jan, feb])
    # January is frozen as published; February and the fear_gap_months (3) after it, whose
    # change and fear gap read it, are recomputed with February's incidents; June is not
    assert _frozen(cfg) == [jan, dt.date(2025, 6, 1)]
    january = [f[f["period_start"] == pd.Timestamp(jan)] for f in (before, after)]
    assert len(january[0]) == 40
    pd.testing.assert_frame_equal(*january)
    feb_rows = after[after["period_start"] == pd.Timestamp(feb)]
    assert feb_rows["incident_count"].sum() > 0
    assert feb_rows["build_id"].nunique() == 1
    assert feb_rows["build_id"].iloc[0] != before["build_id"].iloc[0]


def test_a_run_with_nothing_new_builds_nothing(generated: Path, tmp_path: Path) -> None:
    _, cfg, _ = _city(generated, tmp_path, [])
    first = pipeline.run(cfg)
    assert first.built and first.unchanged_since is None
    again = pipeline.run(cfg)
    assert again.built == []
    assert again.batches and not any(b.rows_accepted for b in again.batches)  # all seen
    with connect(cfg, read_only=True) as con:
        (latest,) = con.execute("select max(build_id) from marts.publication_log").fetchone()
    assert again.unchanged_since == latest
    # a changed setting is something new: the same data is built again
    changed = cfg.model_copy(
        update={"index": cfg.index.model_copy(update={"uncertainty_draws": 101})}
    )
    assert increment.settings_hash(changed) != increment.settings_hash(cfg)
    assert pipeline.run(changed).built


def test_the_monte_carlo_in_blocks_of_months(demo_copy, monkeypatch) -> None:  # noqa: ANN001
    """Item 4: a history longer than a block runs the composite and the group bootstrap per
    block of months. Cut the 6-month demo into blocks of 2: every cell is still published
    once, with the same point figures (they pool no months), intervals that hold them, and
    the audits pass (the build would have rolled back otherwise)."""
    from observatory.index import blocks  # noqa: PLC0415

    points = "zone_id, time_band, period_start, n_respondents, perception_shrunk, index_value"
    query = f"select {points} from marts.zone_index order by all"
    with connect(demo_copy.cfg, read_only=True) as con:
        one_block = con.execute(query).df()
    monkeypatch.setattr(blocks, "BLOCK_MONTHS", 2)
    assert len(blocks.period_blocks(one_block["period_start"].unique())) == 3
    pipeline.build(demo_copy.cfg, full=True)
    with connect(demo_copy.cfg, read_only=True) as con:
        pd.testing.assert_frame_equal(one_block, con.execute(query).df())
        outside = con.execute(
            "select count(*) from marts.zone_index where index_value is not null "
            "and not index_value between index_ci_low - 1e-9 and index_ci_high + 1e-9"
        ).fetchone()[0]
        (groups,) = con.execute("select count(*) from idx.idx_groups").fetchone()
    assert outside <= 0.2 * len(one_block)  # a percentile interval need not hold the point
    assert groups > 0


def test_the_bootstrap_in_smaller_pieces_gives_the_same_sums(monkeypatch) -> None:  # noqa: ANN001
    """Item 4: the Poisson counts of a chunk of draws are multiplied a few draws at a time
    when the rows are many (the group cells' 3M rows x 32 draws took 800 MB); each draw's
    sums are computed on their own, so every figure is the same, designed survey or not."""
    import numpy as np  # noqa: PLC0415

    from observatory.index import bootstrap  # noqa: PLC0415

    rng = np.random.default_rng(1)
    rows = pd.DataFrame(
        {
            "person": rng.integers(0, 1500, 5000),
            "score": rng.uniform(0, 100, 5000),
            "weight": rng.uniform(0.5, 2, 5000),
        }
    )
    cell = rng.integers(0, 300, 5000)
    designed = rows.assign(psu=(rows["person"] // 3).astype(str), stratum=rows["person"] % 5)
    for frame in (rows, designed):
        whole = bootstrap.bootstrap_sums(frame, cell, 300, 100, np.random.default_rng(7))
        monkeypatch.setattr(bootstrap, "_ROW_ENTRIES", 3 * len(frame))  # 3 draws at a time
        pieces = bootstrap.bootstrap_sums(frame, cell, 300, 100, np.random.default_rng(7))
        monkeypatch.undo()
        assert np.array_equal(whole.score, pieces.score)
        assert np.array_equal(whole.weight, pieces.weight)
        assert np.isfinite(whole.score).all() and whole.score.std() > 0


def test_months_to_compute_is_the_settled_plans_open_months() -> None:
    """The Python steps read the plan through `increment.months_to_compute`: the months
    of idx_periods the plan does not freeze; None (every month) for a full plan or when
    no build runs on the connection."""
    import duckdb  # noqa: PLC0415

    con = duckdb.connect()
    con.execute("create schema idx")
    months = [dt.date(2025, m, 1) for m in (1, 2, 3, 4)]
    con.execute(
        "create table idx.idx_periods as select unnest(cast(? as date[])) as period_start",
        [months],
    )
    assert increment.months_to_compute(con) is None
    plan = increment.Plan(False, "incremental", frozen=(months[0], months[2]))
    increment.expose(con, plan)
    assert increment.months_to_compute(con) == (months[1], months[3])
    increment.expose(con, increment.Plan(True, "full build asked for"))
    assert increment.months_to_compute(con) is None
    increment.expose(con, plan)
    increment.forget(con)
    assert increment.months_to_compute(con) is None


def _every_period_mart() -> list[str]:
    from observatory.contracts import load_contracts  # noqa: PLC0415

    return sorted(k for k, c in load_contracts().items() if "period_start" in c.column_names)


def _land_first_day(root: Path, aside: Path, day: int = 1) -> None:
    """June's first day (or `day`) of every source, as new landing files (what a daily
    run gets)."""
    import duckdb  # noqa: PLC0415

    con = duckdb.connect()
    for folder, column, prefix, delim in (
        ("survey", "data_compilazione", f"{day:02d}/06/2025", ";"),
        ("incidents", "occurred_at", f"2025-06-{day:02d}", ","),
        ("sensors/readings", "timestamp", f"2025-06-{day:02d}", ","),
    ):
        [src] = sorted((aside / folder).glob("*_2025_06.csv"))
        out = root / "landing" / folder / f"{src.stem}_day{day:02d}.csv"
        con.execute(
            f"copy (select * from read_csv('{src}', all_varchar = true, delim = '{delim}') "  # noqa: S608 (test paths and constants)
            f"where starts_with({column}, ?)) to '{out}' (header, delimiter '{delim}')",
            [prefix],
        )
    con.close()


def test_one_more_day_recomputes_what_a_full_build_gives(
    generated: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18, item 3: the Python steps compute only the open months
    (`increment.months_to_compute`: the group cells, the trend tests), yet every period
    mart's open-month rows after one more day equal those of `build --full`."""
    root, cfg, aside = _city(generated, tmp_path, ["**/*_2025_06.csv"])
    pipeline.run(cfg)
    _land_first_day(root, aside)
    caplog.clear()
    with caplog.at_level("INFO", logger="observatory"):
        pipeline.run(cfg)
    june = dt.date(2025, 6, 1)
    assert "idx.idx_environment: read from 2025-06-01 on" in caplog.text
    assert "idx.idx_respondents: read from 2025-06-01 on" in caplog.text
    # the composite drew June and the months its windows read (the fear gap's 3)
    assert re.findall(r"composite: (\d+) of (\d+) months drawn", caplog.text) == [("3", "6")]
    # the perception model trains on final months, unchanged: its fits were loaded
    assert re.search(r"perception model: [13] fits kept", caplog.text), caplog.text[-3000:]
    assert _frozen(cfg) == [dt.date(2025, m, 1) for m in (1, 2, 3, 4, 5)]
    marts = _every_period_mart()
    assert {"group_index", "zone_index", "zone_trends", "fear_gap"} <= set(marts)
    with connect(cfg, read_only=True) as con:  # the steps wrote the open month only
        assert con.execute("select min(period_start) from idx.idx_trends").fetchone()[0] == june
    incremental = {m: _rows(cfg, m, [june], stamps=False) for m in marts}
    drawn = "select * from idx.{} where period_start = ? order by all"
    composite = ("idx_composite", "idx_day_night_gap", "idx_fear_gap", "idx_city")
    with connect(cfg, read_only=True) as con:
        june_idx = {t: con.execute(drawn.format(t), [june]).df() for t in composite}
    assert len(incremental["group_index"]) > 0 and len(incremental["zone_trends"]) > 0
    by_month = {  # read from June on, the months before kept
        m: f"select * from idx.{m} order by all" for m in ("idx_environment", "idx_respondents")
    }
    with connect(cfg, read_only=True) as con:
        kept = {m: con.execute(q).df() for m, q in by_month.items()}
    assert all(k["period_start"].nunique() == 6 for k in kept.values())
    pipeline.build(cfg, full=True)
    with connect(cfg, read_only=True) as con:
        for m, q in by_month.items():
            pd.testing.assert_frame_equal(kept[m], con.execute(q).df(), obj=m)
        assert june_idx["idx_composite"][DRAWN_COLUMNS["idx_composite"][0]].notna().any()
        for table, rows in june_idx.items():  # June's intervals: the full build's draws
            pd.testing.assert_frame_equal(
                rows, con.execute(drawn.format(table), [june]).df(), obj=table
            )
    for mart in marts:
        pd.testing.assert_frame_equal(
            incremental[mart], _rows(cfg, mart, [june], stamps=False), obj=mart
        )


def test_recompute_since_is_the_first_month_an_increment_may_republish() -> None:
    """The by-month index models read from the earliest month touched, provisional in the
    previous publication, or after its last final month; a full plan reads every month."""
    months = [dt.date(2025, m, 1) for m in range(1, 7)]
    plan = increment.Plan(
        False, "incremental", _previous_final=set(months[:5]), _previous_periods=set(months)
    )
    assert increment.recompute_since(plan) == months[5]  # June was provisional
    plan.touched = {months[2], months[3]}  # a late batch of March
    assert increment.recompute_since(plan) == months[2]
    plan._previous_periods = set(months[:5])
    plan.touched = set()
    assert increment.recompute_since(plan) == months[5]  # a new month after May
    assert increment.recompute_since(increment.Plan(True, "full build asked for")) is None


def test_a_multi_block_increment_computes_only_the_open_block(
    generated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 18 (session 7): in blocks of 2 months the 6-month demo is three blocks; after
    one more day of June, the blocks of January-February and March-April (their months and
    the months their windows read all frozen) are not computed again, yet every period
    mart's open-month rows, and the interventions' effects (which read every month), are
    those of `build --full`."""
    from observatory.index import blocks, steps  # noqa: PLC0415

    monkeypatch.setattr(blocks, "BLOCK_MONTHS", 2)
    computed: list[object] = []
    real = steps._composite

    def spy(cells, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        computed.append(pd.to_datetime(cells["period_start"]).max())
        return real(cells, *args, **kwargs)

    monkeypatch.setattr(steps, "_composite", spy)
    root, cfg, aside = _city(generated, tmp_path, ["**/*_2025_06.csv"])
    pipeline.run(cfg)
    assert len(computed) == 3  # January-May: three blocks, the last of May alone
    _land_first_day(root, aside)
    computed.clear()
    with caplog.at_level("INFO", logger="observatory.index.steps"):
        pipeline.run(cfg)
    june = dt.date(2025, 6, 1)
    assert _frozen(cfg) == [dt.date(2025, m, 1) for m in (1, 2, 3, 4, 5)]
    assert computed == [pd.Timestamp(june)]  # the block of May and June alone
    assert "block from 2025-01-01" in caplog.text and "block from 2025-03-01" in caplog.text
    marts = _every_period_mart()
    incremental = {m: _rows(cfg, m, [june], stamps=False) for m in marts}
    drawn = "select * from idx.{} where period_start = ? order by all"
    composite = ("idx_composite", "idx_day_night_gap", "idx_fear_gap", "idx_city")
    with connect(cfg, read_only=True) as con:
        june_idx = {t: con.execute(drawn.format(t), [june]).df() for t in composite}
    assert len(incremental["zone_trends"]) > 0
    effects = (
        "select * exclude (build_id, published_at) from marts.intervention_effects order by all"
    )
    with connect(cfg, read_only=True) as con:
        kept = con.execute("select count(distinct period_start) from idx.idx_composite").fetchone()
        incremental_effects = con.execute(effects).df()
    assert kept == (6,)  # the frozen blocks' rows stay, for the trends and interventions
    computed.clear()
    pipeline.build(cfg, full=True)
    assert len(computed) == 3
    for mart in marts:
        pd.testing.assert_frame_equal(
            incremental[mart], _rows(cfg, mart, [june], stamps=False), obj=mart
        )
    with connect(cfg, read_only=True) as con:
        pd.testing.assert_frame_equal(incremental_effects, con.execute(effects).df())


def test_an_increment_keeps_the_evaluations_whose_inputs_are_unchanged(
    generated: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18: an intervention that ended in May reads nothing of June's first day, so
    the increment keeps its evaluations whose input digests are the previous build's
    (the measured outcomes; the index is pooled over every month and may move), evaluates
    the others again, and gives the tables a full build gives, row for row."""
    root, _, aside = _city(generated, tmp_path, ["**/*_2025_06.csv"])
    toml = root / "observatory.toml"
    text = toml.read_text(encoding="utf-8")
    assert text.count("start = 2025-05-01\n") == 1
    toml.write_text(
        text.replace("start = 2025-05-01\n", "start = 2025-05-01\nend = 2025-05-31\n"), "utf-8"
    )
    cfg = load_config(toml, OVERRIDES)
    digests = (
        "select intervention_id, outcome, time_band, input_hash, outcomes "
        "from idx.idx_intervention_inputs"
    )

    def inputs(con) -> dict:  # noqa: ANN001
        return {(i, o, b): (h, np.array(y)) for i, o, b, h, y in con.execute(digests).fetchall()}

    pipeline.run(cfg)
    with connect(cfg, read_only=True) as con:
        before = inputs(con)
    _land_first_day(root, aside)
    caplog.clear()  # the first build may have logged here too, whatever the suite's levels
    with caplog.at_level("INFO", logger="observatory.interventions.step"):
        pipeline.run(cfg)
    assert _frozen(cfg)  # an incremental build
    effects = "select * from idx.idx_intervention_effects"
    events = "select * from idx.idx_intervention_event_study"
    with connect(cfg, read_only=True) as con:
        after = inputs(con)
        incremental = [con.execute(q).df() for q in (effects, events)]
    unchanged = {key for key in before if same_inputs(before[key], after[key])}
    kept = re.findall(r"\((\d+) kept: their inputs unchanged\)", caplog.text)
    assert len(kept) == 1, caplog.text
    n_kept = int(kept[0])
    assert n_kept == len(unchanged) > 0, caplog.text
    # the ended intervention's measured outcomes read nothing new (an open one's are kept
    # only where June's day adds no published cell, e.g. a withheld perception)
    assert ("relight_dora_nord", "lux", "night") in unchanged
    assert len(after) == len(incremental[0]) == 27
    pipeline.build(cfg, full=True)
    with connect(cfg, read_only=True) as con:
        for got, query in zip(incremental, (effects, events), strict=True):
            pd.testing.assert_frame_equal(got, con.execute(query).df())


def test_evaluations_read_final_months_only_so_a_day_of_the_open_month_keeps_them(
    generated: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A daily run lands in the month still being delivered: that month is provisional
    (its incidents are counted over part of it), so no evaluation and no perception
    model reads it, a second day of it keeps every evaluation (pyfixest is not even
    needed) and the model's cross-validation, as a full build would give them, and the
    month enters the evaluations once it is final, as a full build would evaluate it."""
    root, cfg, aside = _city(generated, tmp_path, ["**/*_2025_06.csv"])
    digests = (
        "select intervention_id, outcome, time_band, input_hash from idx.idx_intervention_inputs"
    )
    effects = "select * from idx.idx_intervention_effects"
    events = "select * from idx.idx_intervention_event_study"
    june = dt.date(2025, 6, 1)

    def daily_run(day: int, clock: dt.datetime) -> None:
        _land_first_day(root, aside, day)
        pipeline.ingest(cfg)
        caplog.clear()
        with (
            caplog.at_level("INFO", logger="observatory.interventions.step"),
            caplog.at_level("INFO", logger="observatory.index.steps"),
        ):
            pipeline.build(cfg, now=clock)

    daily_run(1, dt.datetime(2025, 6, 2, 6, tzinfo=dt.UTC))
    with connect(cfg, read_only=True) as con:
        assert con.execute(
            "select is_provisional from idx.idx_periods where period_start = ?", [june]
        ).fetchone() == (True,)
        first = set(con.execute(digests).fetchall())
        assert con.execute(f"select max(post_end) from ({effects})").fetchone()[0] < june  # noqa: S608 (test constants)
        assert con.execute(f"select max(period_start) from ({events})").fetchone()[0] < june  # noqa: S608 (test constants)
        assert con.execute(f"select count(*) from ({effects})").fetchone()[0] == 27  # noqa: S608 (test constants)

    daily_run(2, dt.datetime(2025, 6, 3, 6, tzinfo=dt.UTC))
    assert _frozen(cfg)  # an incremental build
    kept = re.findall(r"\((\d+) kept: their inputs unchanged\)", caplog.text)
    assert kept == ["27"], caplog.text
    # the perception model trains on final months too: its cross-validation is kept
    assert "training cells unchanged, their cross-validation kept" in caplog.text
    perception = "select * from idx.idx_perception_eb order by all"
    with connect(cfg, read_only=True) as con:
        assert set(con.execute(digests).fetchall()) == first
        incremental_perception = con.execute(perception).df()
    pipeline.build(cfg, full=True, now=dt.datetime(2025, 6, 3, 6, 0, 1, tzinfo=dt.UTC))
    with connect(cfg, read_only=True) as con:
        pd.testing.assert_frame_equal(incremental_perception, con.execute(perception).df())

    daily_run(3, dt.datetime(2025, 7, 2, 6, tzinfo=dt.UTC))  # June has ended: it is final
    with connect(cfg, read_only=True) as con:
        assert con.execute(
            "select is_provisional from idx.idx_periods where period_start = ?", [june]
        ).fetchone() == (False,)
        assert con.execute(f"select max(post_end) from ({effects})").fetchone()[0] == june  # noqa: S608 (test constants)
        incremental = [con.execute(q).df() for q in (effects, events)]
    pipeline.build(cfg, full=True, now=dt.datetime(2025, 7, 2, 7, tzinfo=dt.UTC))
    with connect(cfg, read_only=True) as con:
        for got, query in zip(incremental, (effects, events), strict=True):
            pd.testing.assert_frame_equal(got, con.execute(query).df())
