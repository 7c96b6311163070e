"""The index on the small synthetic demo city, against the traits the generator hid in it
(landing/_synthetic_truth.csv): fear zones, dark zones, small-sample zones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from observatory import pipeline, publish
from observatory.contracts import load_contracts, render_tables_md
from tests.conftest import DemoCity

#: The index marts (data_quality and quarantine_reasons describe batches, not zones).
PUBLISHED_MARTS = [
    m for m in pipeline.MART_MODELS if m not in ("data_quality", "quarantine_reasons")
]


@pytest.fixture(scope="module")
def truth(demo_city: DemoCity) -> pd.DataFrame:
    return pd.read_csv(demo_city.root / "landing" / "_synthetic_truth.csv").set_index("zone_id")


def _query(demo_city: DemoCity, sql: str) -> pd.DataFrame:
    with demo_city.connect() as con:
        return con.execute(sql).df()


def test_fear_gap_ranks_the_fear_zones_first_every_month(
    demo_city: DemoCity, truth: pd.DataFrame
) -> None:
    fear = set(truth.index[truth["fear"]])
    ranked = _query(
        demo_city,
        "select period_start, zone_id, fear_gap_rank from marts.fear_gap "
        "where fear_gap_rank is not null",
    )
    for period, month in ranked.groupby("period_start"):
        present = fear & set(month["zone_id"])
        assert len(present) >= 2, f"{period}: fear zones should be published"
        top = set(month.nsmallest(len(present), "fear_gap_rank")["zone_id"])
        assert top == present, (period, month.sort_values("fear_gap_rank").head(6))


def test_fear_zones_are_named_as_fear_gaps(demo_city: DemoCity, truth: pd.DataFrame) -> None:
    flagged = _query(
        demo_city,
        "select zone_id, count(*) as months from marts.fear_gap where is_fear_gap group by 1",
    ).set_index("zone_id")["months"]
    fear = truth.index[truth["fear"]]
    dark = truth.index[truth["lighting"] < 0.3]
    assert (flagged.reindex(fear, fill_value=0) >= 5).all(), flagged
    # anyone else named feels unsafe beyond its incidents for another reason the generator
    # built in: darkness at night
    assert set(flagged.index) <= set(fear) | set(dark), flagged


def test_dark_zones_feel_much_less_safe_at_night(demo_city: DemoCity, truth: pd.DataFrame) -> None:
    gaps = _query(demo_city, "select * from marts.day_night_gap where not is_suppressed")
    dark = truth.index[truth["lighting"] < 0.3]
    lit = truth.index[truth["lighting"] > 0.8]
    by_zone = gaps.groupby("zone_id")["perception_gap"].mean()
    assert (
        by_zone.loc[by_zone.index.intersection(dark)].max()
        < by_zone.loc[by_zone.index.intersection(lit)].min()
    )
    significant = gaps[gaps["zone_id"].isin(dark)]["is_perception_gap_significant"]
    assert significant.mean() > 0.9
    assert (gaps["perception_gap_ci_low"] <= gaps["perception_gap_ci_high"]).all()


def test_small_sample_zones_are_shrunk_more_and_suppressed(demo_city: DemoCity) -> None:
    cells = _query(
        demo_city,
        """
        select e.time_band, e.period_start, e.n_respondents, e.shrinkage_weight,
               abs(e.perception_shrunk - e.perception_raw) as moved, s.is_suppressed
        from idx.idx_perception_eb as e join idx.idx_suppression as s
            using (zone_id, time_band, period_start)
        where e.n_respondents > 0
        """,
    )
    small, large = cells[cells["n_respondents"] < 6], cells[cells["n_respondents"] >= 25]
    assert len(small) and len(large)
    # within a band-month (one between-zone variance A, gamma = A / (A + D)): the night's A
    # is about twice the day's, so a small night cell may keep more weight than a large day one
    keys = ["time_band", "period_start"]
    gamma = "shrinkage_weight"
    assert (small.groupby(keys)[gamma].max() < large.groupby(keys)[gamma].min()).all()
    assert small["moved"].mean() > 3 * large["moved"].mean()
    assert small["is_suppressed"].all()


def test_marts_hold_no_respondent_level_data(demo_city: DemoCity) -> None:
    forbidden = {"respondent_id", "response_id", "score", "answer", "raw_row", "item_id", "weight"}
    for mart in PUBLISHED_MARTS:
        columns = set(_query(demo_city, f"describe marts.{mart}")["column_name"])
        # item non-response rates are per survey item: the item's id names a question
        allowed = {"item_id"} if mart == "item_nonresponse" else set()
        assert not columns & (forbidden - allowed), (mart, columns & forbidden)
        types = _query(demo_city, f"describe marts.{mart}")
        assert "method_version" in columns and "is_synthetic" in columns, mart
        assert len(types) > 3


def test_marts_have_their_documented_grain(demo_city: DemoCity) -> None:
    grains = {
        "zone_index": "zone_id, time_band, period_start",
        "zone_trends": "zone_id, time_band, period_start",
        "zone_index_latest": "zone_id, time_band",
        "day_night_gap": "zone_id, period_start",
        "zone_all_day": "zone_id, period_start",
        "incident_families": "zone_id, time_band, period_start, incident_family",
        "fear_gap": "zone_id, period_start",
        "fear_gap_model": "time_band, term",
        "city_summary": "time_band, period_start",
    }
    # the same grains the contracts declare (audited in every build)
    contracts = load_contracts()
    for mart, keys in grains.items():
        assert ", ".join(contracts[mart].grain) == keys, mart
    assert all(contracts[m].grain for m in PUBLISHED_MARTS)
    for mart, keys in grains.items():
        dupes = _query(
            demo_city, f"select {keys}, count(*) from marts.{mart} group by all having count(*) > 1"
        )
        assert dupes.empty, mart
    sizes = {m: len(_query(demo_city, f"select 1 from marts.{m}")) for m in grains}
    assert sizes == {
        "zone_index": 240,
        "zone_trends": 240,
        "zone_index_latest": 40,
        "day_night_gap": 120,
        "zone_all_day": 120,
        "incident_families": 240,  # one family: the demo's police reports
        "fear_gap": 120,
        # day: intercept, incidents, 5 months; night: the same and the lighting
        "fear_gap_model": 15,
        "city_summary": 12,
    }


def test_no_incident_component_reads_safe_from_missing_coverage(demo_city: DemoCity) -> None:
    """A component of 100 ("safe") only ever comes from a covered month with no incident."""
    cells = _query(
        demo_city,
        "select has_incident_coverage, incident_count, incident_ratio, incidents_component "
        "from marts.zone_index",
    )
    safe = cells[cells["incidents_component"] == 100.0]
    assert (safe["has_incident_coverage"] & (safe["incident_count"] == 0)).all()
    uncovered = cells[~cells["has_incident_coverage"]]
    assert uncovered["incidents_component"].isna().all()
    assert uncovered["incident_ratio"].isna().all()
    assert cells["has_incident_coverage"].mean() > 0.9  # the demo's sources cover its months


def test_every_published_cell_has_an_interval_around_it(demo_city: DemoCity) -> None:
    cells = _query(demo_city, "select * from marts.zone_index where not is_suppressed")
    assert cells["index_value"].notna().all()
    assert (cells["index_ci_low"] <= cells["index_ci_high"]).all()
    assert (cells["perception_ci_low"] <= cells["perception_score"]).all()
    assert (cells["perception_score"] <= cells["perception_ci_high"]).all()
    assert (cells["index_rank_ci_low"] <= cells["index_rank"]).mean() > 0.95
    assert (cells["index_rank"] <= cells["index_rank_ci_high"]).mean() > 0.95


def _unstamped(path: Path) -> list:
    """A CSV or GeoJSON export as written (row order and text), Parquet as read in file
    order, without the build's id and time."""
    if path.suffix == ".csv":
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
        drop = {i for i, name in enumerate(rows[0]) if name in ("build_id", "published_at")}
        return [[v for i, v in enumerate(row) if i not in drop] for row in rows]
    if path.suffix == ".geojson":
        doc = json.loads(path.read_text(encoding="utf-8"))
        for props in [doc, *(f["properties"] for f in doc["features"])]:
            props.pop("build_id", None), props.pop("published_at", None)
        return [json.dumps(doc, sort_keys=False)]
    with duckdb.connect() as con:
        return con.execute(
            "select * exclude (build_id, published_at) from read_parquet(?)", [str(path)]
        ).fetchall()


def test_rebuild_is_deterministic(demo_copy: DemoCity) -> None:
    # every figure, not the stamp of the build that wrote it
    query = (
        "select * exclude (build_id, published_at) from marts.zone_index "
        "order by zone_id, period_start, time_band"
    )
    cfg = demo_copy.cfg
    # four DuckDB threads, then one: a different row order must not change a figure
    many = cfg.model_copy(update={"project": cfg.project.model_copy(update={"threads": 4})})
    pipeline.build(many, full=True)  # every month recomputed
    before = _query(demo_copy, query)
    first = publish.export(many, demo_copy.root / "first")
    single = cfg.model_copy(update={"project": cfg.project.model_copy(update={"threads": 1})})
    pipeline.build(single, full=True)
    pd.testing.assert_frame_equal(before, _query(demo_copy, query))
    second = publish.export(single, demo_copy.root / "second")
    # the exports are the same files, byte for byte, but for the stamp of the build
    for a, b in zip(first, second, strict=True):
        if a.name.startswith("publication_log."):  # the log of builds: it grew by one
            continue
        assert _unstamped(a) == _unstamped(b), a.name
    # and every other published table, by the content hashes the publication log keeps
    hashes = _query(
        demo_copy,
        "select build_id, mart, content_hash from marts.publication_log "
        "where build_id in (select build_id from marts.publication_log "
        "order by published_at desc limit 2 * (select count(distinct mart) from "
        "marts.publication_log)) order by mart, build_id",
    )
    by_mart = hashes.groupby("mart")["content_hash"].agg(["nunique", "count"])
    assert set(by_mart.index) == set(pipeline.MART_MODELS)
    assert (by_mart["count"] == 2).all(), by_mart
    assert (by_mart["nunique"] == 1).all(), by_mart[by_mart["nunique"] > 1].index.tolist()


def test_every_mart_matches_its_contract_and_the_docs_are_generated(demo_city: DemoCity) -> None:
    """docs/tables.md is generated from the contracts (sql/marts/<mart>.toml), and every
    built mart has exactly the columns its contract lists, in order."""
    contracts = load_contracts()
    assert set(pipeline.MART_MODELS) | {"publication_log"} == set(contracts)
    for mart in (*pipeline.MART_MODELS, "publication_log"):
        actual = _query(demo_city, f"describe marts.{mart}")["column_name"].tolist()
        assert contracts[mart].column_names == actual, mart
    committed = (Path(__file__).parents[1] / "docs" / "tables.md").read_text(encoding="utf-8")
    assert committed == render_tables_md(contracts), "run `observatory contracts --write`"


def test_change_and_trend_flags_are_as_rare_as_a_static_truth_allows(
    demo_city: DemoCity,
) -> None:
    """The demo's true perception and incident rates never change. With Benjamini-Hochberg
    at q = 0.10 over each month's tests, a month where nothing changed raises any flag with
    probability at most 0.10, so a year of months should raise about one flag, not the
    quarter of all changes the unadjusted 90% intervals flagged (102 of 396). The limits
    are three times that expectation, and the counts measured are in the message."""
    flags = _query(
        demo_city,
        "select count(*) filter (where change_p_value is not null) as tested, "
        "count(*) filter (where is_change_significant) as changes, "
        "count(*) filter (where trend_p_value is not null) as trend_tested, "
        "count(*) filter (where is_trend_significant) as trends, "
        "count(distinct period_start) as months, any_value(fdr_q) as q "
        "from marts.zone_trends",
    ).iloc[0]
    assert flags["q"] == 0.10
    expected = flags["q"] * (flags["months"] - 1)  # at most one flagged family per month
    assert flags["changes"] <= max(3.0, 3 * expected), flags.to_dict()
    assert flags["trends"] <= max(3.0, 3 * expected), flags.to_dict()
    assert flags["tested"] > 100 and flags["trend_tested"] > 20, flags.to_dict()  # they ran
