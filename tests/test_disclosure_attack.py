"""The attacker test (issue 13, item 7): suppression must survive differencing.

The attacker sees what a city publishes and nothing else: every mart, every export file
(CSV, Parquet, GeoJSON) and the figures embedded in every monthly HTML report. The test
builds a purpose-made city (ten zones, four months, three zone-months under k)
for every normalisation option, then rebuilds it with the withheld cells' answers changed
and compares every published value:

* **shifted**: every withheld cell's answers move by 30 points. The only figures allowed
  to move are the one design-weighted city total of each band-month (city_perception and
  its interval, in the mart, its exports and the publication log's content hash): one
  city total, not two.
* **disguised**: one primary cell of each band-month moves by 25 points and the other
  withheld cells of that band-month move the other way, so that their pooled
  (design-weighted) total stays the same, and every withheld cell's answers spread twice
  as far around their mean. Nothing published may move but the city total's interval
  (sampling variances, design effects and the Fay-Herriot fit learn from published cells
  only): the two cities are told apart by no published mean, yet each target cell differs
  by 25 points between them, so any reconstruction of it is more than 10 points off in
  one of them.

The three attacks of the issue are also played directly: two city totals, too few people
behind the withheld cells (the city total minus the published cells) and relative
normalisations (covered by the differencing above for minmax, zscore and rank).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from observatory import publish
from observatory.index.suppression import feasible_width
from observatory.pipeline import MART_MODELS
from observatory.report import write_report
from tests.test_index_fixtures import City, make_city, simulate_survey

MONTHS = [dt.date(2025, m, 1) for m in (1, 2, 3, 4)]
ZONES = [f"Z{i}" for i in range(10)]
#: (zone, month number) with fewer than k = 10 respondents, and the one with none.
SMALL = {("Z0", 2): 5, ("Z3", 3): 5, ("Z5", 4): 7}
EMPTY = {("Z9", 1)}
INDEX = {"uncertainty_draws": 100, "trend_min_periods": 3, "trend_window": 4}
NOW = dt.datetime(2025, 5, 10, 9, 0, tzinfo=dt.UTC)
#: Columns that say which build wrote a figure, not what it is.
STAMPS = {"build_id", "published_at"}
#: Keys that identify a row in the published tables, when present.
ROW_KEYS = ("mart", "zone_id", "time_band", "period_start", "term", "source_name", "reason")
CITY_TOTAL = ("city_perception", "city_perception_ci_low", "city_perception_ci_high")
#: Points an attacker must stay away from a withheld cell's mean (issue 13).
PROTECTION = 10.0


def city_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Zones, survey answers and incidents of the test city (fixed seed, fixed design)."""
    rng = np.random.default_rng(11)
    rows = []
    for month_no, period in enumerate(MONTHS, start=1):
        for i, zone in enumerate(ZONES):
            n = SMALL.get((zone, month_no), int(rng.integers(18, 40)))
            n = 0 if (zone, month_no) in EMPTY else n
            day, night = 45 + 3.5 * i + rng.normal(0, 3), 30 + 3 * i + rng.normal(0, 3)
            rows.append((zone, period, n, day, night))
    truth = pd.DataFrame(rows, columns=["zone_id", "period_start", "n", "day", "night"])
    survey = simulate_survey(truth[truth["n"] > 0], rng)
    incidents = []
    for zone in ZONES:
        for period in MONTHS:
            for hour in (11, 22):  # one day and one night hour, local time
                for _ in range(rng.poisson(8 + 2 * int(zone[1:]))):
                    at = pd.Timestamp(period, tz="Europe/Rome") + pd.Timedelta(
                        days=int(rng.integers(0, 27)), hours=hour
                    )
                    incidents.append((f"I{len(incidents)}", zone, at.tz_convert("UTC")))
    incidents = pd.DataFrame(incidents, columns=["incident_id", "zone_id", "occurred_at"]).assign(
        category="theft", severity=1.0
    )
    zones = pd.DataFrame({"zone_id": ZONES, "population": [4000.0 + 500 * i for i in range(10)]})
    return zones, survey, incidents


def _square(i: int) -> str:
    x, y = 7.60 + 0.01 * (i % 5), 45.00 + 0.01 * (i // 5)
    ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def build(root: Path, survey: pd.DataFrame, index: dict[str, Any]) -> City:
    """Build the city in `root` (emptied first: both worlds live at the same path, so that
    nothing path-dependent differs), with zone outlines for the map and the GeoJSON."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    zones, _, incidents = city_frames()
    city = make_city(root, zones, survey, incidents, index=index)
    with duckdb.connect(str(city.path)) as con:
        con.execute("alter table ref.zones alter geometry_geojson type varchar")
        for i, zone in enumerate(ZONES):
            con.execute(
                "update ref.zones set geometry_geojson = ? where zone_id = ?", [_square(i), zone]
            )
    return city


def published(city: City, root: Path) -> dict[tuple, Any]:
    """Every value the city publishes, flat: (artifact, row key, column) -> value.

    Artifacts: each mart (and the publication log) as stored, each export file (CSV read
    as text, Parquet as typed), the GeoJSON's properties, and the JSON data of the report
    of every month.
    """
    values: dict[tuple, Any] = {}
    with duckdb.connect(str(city.path), read_only=True) as con:
        for mart in (*MART_MODELS, "publication_log"):
            _flatten_table(values, f"mart {mart}", con.execute(f"select * from marts.{mart}").df())
    out = root / "exports"
    publish.export(city.cfg, out)
    for path in sorted(out.iterdir()):
        if path.suffix == ".csv":
            _flatten_table(values, path.name, pd.read_csv(path, dtype=str, keep_default_na=False))
        elif path.suffix == ".parquet":
            with duckdb.connect() as con:
                frame = con.execute("select * from read_parquet(?)", [str(path)]).df()
            _flatten_table(values, path.name, frame)
        elif path.suffix == ".geojson":
            doc = json.loads(path.read_text(encoding="utf-8"))
            props = pd.DataFrame([f["properties"] for f in doc["features"]])
            _flatten_table(values, path.name, props)
    for period in MONTHS:
        page = write_report(city.cfg, f"{period:%Y-%m}", root / f"report_{period:%Y-%m}.html", NOW)
        data = re.search(
            r'<script type="application/json" id="report-data">(.*?)</script>',
            page.read_text(encoding="utf-8"),
            re.S,
        )
        assert data, f"{page}: no embedded report data"
        _flatten_json(values, (f"report {period:%Y-%m}",), json.loads(data.group(1)))
    return values


def _flatten_table(values: dict[tuple, Any], artifact: str, frame: pd.DataFrame) -> None:
    keys = [c for c in ROW_KEYS if c in frame.columns]
    seen: dict[tuple, int] = {}
    for row in frame.to_dict("records"):
        key = tuple(str(row[k]) for k in keys)
        seen[key] = seen.get(key, -1) + 1  # a build number for the publication log's rows
        for column, value in row.items():
            if column not in STAMPS:
                values[(artifact, (*key, seen[key]), column)] = _plain(value)


def _flatten_json(values: dict[tuple, Any], path: tuple, node: Any) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _flatten_json(values, (*path, k), v)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _flatten_json(values, (*path, i), v)
    else:
        values[(path[0], path[1:-1], path[-1])] = _plain(node)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return tuple(_plain(v) for v in value)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | dt.date):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def differences(a: dict[tuple, Any], b: dict[tuple, Any]) -> dict[tuple, tuple[Any, Any]]:
    """The published values that differ between two builds (or exist in only one)."""
    return {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


# --- the worlds -------------------------------------------------------------------------


def withheld_cells(city: City) -> pd.DataFrame:
    """The withheld cells with respondents: keys, reason, respondents, raw mean, weight."""
    return city.query(
        """
        select s.zone_id, s.time_band, s.period_start, s.n_respondents, s.suppression_reason,
            p.perception_score as raw_mean, p.sum_weight
        from idx.idx_suppression as s
        join idx.idx_perception as p using (zone_id, time_band, period_start)
        where s.is_suppressed and s.n_respondents > 0
        order by s.period_start, s.time_band, s.zone_id
        """
    )


def _cell_of(survey: pd.DataFrame) -> pd.Series:
    month = pd.to_datetime(survey["surveyed_at"]).dt.tz_convert(None).dt.to_period("M")
    return survey["zone_id"] + "|" + survey["time_band"] + "|" + month.astype(str)


def _key(cell: Any) -> str:
    return f"{cell.zone_id}|{cell.time_band}|{pd.Timestamp(cell.period_start):%Y-%m}"


def shifted(survey: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Every withheld cell's answers 30 points toward the other end of the scale."""
    out = survey.copy()
    at = _cell_of(out)
    for cell in cells.itertuples():
        out.loc[at == _key(cell), "score"] += 30.0 if cell.raw_mean < 50 else -30.0
    return out


def compensated(survey: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """In each band-month, the first primary cell's answers move 25 points and the other
    withheld cells' the other way, keeping the withheld cells' weighted total."""
    out = survey.copy()
    at = _cell_of(out)
    for _, group in cells.groupby(["period_start", "time_band"]):
        target = group[group["suppression_reason"].str.startswith("primary")].iloc[0]
        others = group.drop(index=target.name)
        delta = 25.0 if target["raw_mean"] < 50 else -25.0
        out.loc[at == _key(target), "score"] += delta
        pooled_shift = -delta * target["sum_weight"] / others["sum_weight"].sum()
        for cell in others.itertuples():
            out.loc[at == _key(cell), "score"] += pooled_shift
    return out


def disguised(survey: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The compensated shift, and every withheld cell's answers twice as far from their
    (weighted) cell mean."""
    out = compensated(survey, cells)
    at = _cell_of(out)
    for cell in cells.itertuples():
        rows = at == _key(cell)
        mean = np.average(out.loc[rows, "score"], weights=out.loc[rows, "weight"])
        out.loc[rows, "score"] = mean + 2.0 * (out.loc[rows, "score"] - mean)
    return out


WORLDS: dict[str, Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]] = {
    "shifted": shifted,
    "disguised": disguised,
}


@pytest.fixture(scope="module", params=["goalposts", "minmax", "zscore", "rank"])
def worlds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The city built three times under one normalisation: as drawn, and in each world."""
    root = tmp_path_factory.mktemp(f"attack_{request.param}") / "city"
    index = {**INDEX, "normalisation": request.param}
    _, survey, _ = city_frames()
    base = build(root, survey, index)
    cells = withheld_cells(base)
    out = {"cells": cells, "base": published(base, root), "truth": {}}
    out["truth"]["base"] = _truth(base)
    for name, world in WORLDS.items():
        city = build(root, world(survey, cells), index)
        out[name] = published(city, root)
        out["truth"][name] = _truth(city)
    return out


def _truth(city: City) -> pd.Series:
    """The raw mean of every cell (what the attacker wants), by zone|band|month."""
    frame = city.query(
        "select zone_id, time_band, period_start, perception_score from idx.idx_perception"
    )
    return frame.set_index(frame.apply(_key, axis=1))["perception_score"]


def _city_summary_figure(key: tuple, columns: tuple[str, ...]) -> bool:
    artifact, _, column = key
    if column in ("content_hash", "own_content_hash"):  # the log's hashes of the city summary
        return "publication_log" in artifact and key[1][0] == "city_summary"
    return "city_summary" in artifact and column in columns


def _band_month(key: tuple) -> tuple[str, str]:
    band, period = key[1][0], key[1][1]
    return band, str(period)[:7]


def test_withheld_answers_move_only_the_one_city_total(worlds: dict) -> None:
    """Attack 1 (two city totals): with every withheld cell's answers 30 points off, the
    only published figure that moves is the city total of the band-months that have
    withheld cells: one design-weighted total each, in the mart and its exports."""
    diff = differences(worlds["base"], worlds["shifted"])
    others = {k: v for k, v in diff.items() if not _city_summary_figure(k, CITY_TOTAL)}
    assert not others, _describe(others)
    moved = {_band_month(k) for k in diff if k[2] == "city_perception"}
    cells = worlds["cells"]
    withheld = {(r.time_band, f"{pd.Timestamp(r.period_start):%Y-%m}") for r in cells.itertuples()}
    assert moved == withheld, "one city total per band-month, and it holds the withheld cells"


def test_withheld_cells_can_move_without_any_published_trace(worlds: dict) -> None:
    """Differencing (attacks 2 and 3): one primary cell per band-month 25 points off, the
    other withheld cells compensating (same pooled total), every withheld cell's answers
    twice as spread: the cities are told apart by no published figure but the city
    total's interval (which reflects the pooled spread: test_primary_cells_keep_...), so
    no reconstruction of the target cells is within 10 points in both cities."""
    diff = differences(worlds["base"], worlds["disguised"])
    interval = ("city_perception_ci_low", "city_perception_ci_high")
    others = {k: v for k, v in diff.items() if not _city_summary_figure(k, interval)}
    assert not others, _describe(others)
    moved = worlds["truth"]["disguised"] - worlds["truth"]["base"]
    targets = moved[moved.abs() > 2 * PROTECTION]
    assert len(targets) == worlds["cells"].groupby(["period_start", "time_band"]).ngroups


def _describe(diff: dict) -> str:
    lines = [f"{len(diff)} published values differ, e.g.:"]
    for key in sorted(diff, key=str)[:25]:
        lines.append(f"  {key}: {diff[key][0]!r} -> {diff[key][1]!r}")
    return "\n".join(lines)


# --- attack 2: too few people behind the withheld cells ---------------------------------

#: The attacker's side reads published marts only; the truth side reads the index layer.
_PUBLISHED_CELLS = """
    select i.period_start, i.time_band, i.zone_id, i.n_respondents, i.is_suppressed,
        i.suppression_reason, i.perception_raw, c.n_respondents as n_city, c.city_perception
    from marts.zone_index as i
    join marts.city_summary as c using (period_start, time_band)
    where c.city_perception is not null and c.n_zones_suppressed > 0
"""
_TRUTH = """
    select s.period_start, s.time_band, s.zone_id, p.perception_score as truth,
        a.sum_w, a.sum_wy, a.sum_wyy
    from idx.idx_suppression as s
    join idx.idx_perception as p using (zone_id, time_band, period_start)
    join (
        select zone_id, time_band, period_start, sum(weight) as sum_w,
            sum(weight * score) as sum_wy, sum(weight * score * score) as sum_wyy
        from idx.idx_respondents group by all
    ) as a using (zone_id, time_band, period_start)
"""


def city_total_attack(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Attack 2 on every band-month with withheld cells and a published city total.

    The attacker subtracts the published cells from the city total (respondent counts as
    weights: the design weights are not published) and takes the pooled mean left over as
    each withheld cell's mean. Returns one row per withheld cell with respondents: its
    reason, respondents, the band-month's withheld respondents and cells, the attacker's
    error, and the width of the range its mean could lie in given the exact pooled mean,
    the 0-100 scale and the exact pooled spread (more than the attacker can know).
    """
    cells = con.execute(_PUBLISHED_CELLS).df()
    group = ["period_start", "time_band"]
    shown = cells[~cells["is_suppressed"]]
    known = shown.assign(total=shown["n_respondents"] * shown["perception_raw"])
    known = known.groupby(group).agg(n_shown=("n_respondents", "sum"), total=("total", "sum"))
    city = cells.groupby(group)[["n_city", "city_perception"]].first().join(known)
    city["n_withheld"] = city["n_city"] - city["n_shown"]
    city["guess"] = (city["n_city"] * city["city_perception"] - city["total"]) / city["n_withheld"]
    withheld = cells[cells["is_suppressed"] & (cells["n_respondents"] > 0)]
    out = withheld.merge(con.execute(_TRUTH).df(), on=[*group, "zone_id"])
    out = out.merge(city[["n_withheld", "guess"]].reset_index(), on=group)
    out["n_cells"] = out.groupby(group)["zone_id"].transform("count")
    out["error"] = (out["guess"] - out["truth"]).abs()
    everyone = pd.Series(True, index=out.index)
    out["width"] = feasible_width(out, everyone, [out["period_start"], out["time_band"]])
    out["is_primary"] = out["suppression_reason"].str.startswith("primary")
    return out


def _assert_protected(attack: pd.DataFrame, k: int) -> None:
    assert not attack.empty, "the city has withheld cells under a published city total"
    assert (attack["n_withheld"] >= k).all(), attack[attack["n_withheld"] < k]
    assert (attack["n_cells"] >= 2).all(), attack[attack["n_cells"] < 2]
    primary = attack[attack["is_primary"]]
    assert (primary["width"] >= 2 * PROTECTION).all(), primary[primary["width"] < 2 * PROTECTION]


def test_the_city_total_minus_published_cells_pins_no_primary_cell(tmp_path: Path) -> None:
    """Attack 2 on the test city: the withheld cells hold >= k respondents together, and
    what is left of the city total leaves every primary cell's mean free over a range
    wider than 20 points (so no reconstruction is within 10 points of every mean it
    could be)."""
    _, survey, _ = city_frames()
    city = build(tmp_path / "city", survey, INDEX)
    with duckdb.connect(str(city.path), read_only=True) as con:
        attack = city_total_attack(con)
    _assert_protected(attack, city.cfg.index.min_respondents)
    assert attack["is_primary"].sum() == 2 * len(SMALL)


def test_the_demo_city_total_pins_no_primary_cell(demo_city) -> None:
    """Attack 2 on the small demo, as the issue played it (there the withheld cells held
    4-9 respondents in 10 of 12 months)."""
    with demo_city.connect() as con:
        attack = city_total_attack(con)
    _assert_protected(attack, demo_city.cfg.index.min_respondents)


def test_a_city_that_withholds_its_total_publishes_no_trace_of_withheld_answers(
    tmp_path: Path,
) -> None:
    """`city_total = "withheld_with_cells"`: the city total of every band-month with a
    withheld cell is withheld, and then nothing published moves at all when every withheld
    cell's answers are 30 points off, though no cell was withheld across zones."""
    index = {**INDEX, "city_total": "withheld_with_cells"}
    root = tmp_path / "city"
    _, survey, _ = city_frames()
    base = build(root, survey, index)
    cells = withheld_cells(base)
    assert not cells.empty
    assert not cells["suppression_reason"].str.contains("city total").any()
    totals = base.query(
        "select time_band, period_start, bool_or(is_total_suppressed) as withheld "
        "from idx.idx_suppression group by all"
    )
    with_cells = {(r.time_band, pd.Timestamp(r.period_start)) for r in cells.itertuples()}
    withheld_totals = {
        (r.time_band, pd.Timestamp(r.period_start)) for r in totals.itertuples() if r.withheld
    }
    assert withheld_totals == with_cells  # every band-month with a withheld cell, no other
    before = published(base, root)
    after = published(build(root, shifted(survey, cells), index), root)
    diff = differences(before, after)
    assert not diff, _describe(diff)
    # and the default publishes the totals, withholding more cells to protect them
    default = withheld_cells(build(root, survey, INDEX))
    assert len(default) > len(cells)
