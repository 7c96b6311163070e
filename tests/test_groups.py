"""Who feels unsafe (issue 15, item 1): respondent-group cells, their disclosure control,
the demo's planted night gender gap, and the attacker test on marts.group_index."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from observatory.index.group_suppression import (
    ACROSS_GROUPS,
    ACROSS_ZONES,
    CITY,
    UNSTATED,
    suppress_groups,
)
from observatory.index.groups import build_groups
from tests.conftest import DemoCity
from tests.test_index_fixtures import make_city, simulate_survey

P = dt.date(2025, 1, 1)


def _cells(rows: list[tuple[str, str, int]], margin_out: set[str] = frozenset()) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "group_by": "gender",
                "zone_id": zone,
                "time_band": "night",
                "period_start": P,
                "group_label": group,
                "n_respondents": n,
                "modal_share": 0.3,
                "is_margin_suppressed": zone in margin_out,
            }
            for zone, group, n in rows
        ]
    )


def test_a_small_group_is_protected_in_its_row_and_its_column() -> None:
    rows = [
        ("A", "women", 4), ("A", "men", 20), ("A", UNSTATED, 0),
        ("B", "women", 15), ("B", "men", 18), ("B", UNSTATED, 0),
        ("C", "women", 30), ("C", "men", 25), ("C", UNSTATED, 0),
        (CITY, "women", 49), (CITY, "men", 63), (CITY, UNSTATED, 0),
    ]  # fmt: skip
    cells = _cells(rows)
    reason = suppress_groups(cells, k=10)
    keys = zip(cells["zone_id"], cells["group_label"], strict=True)
    withheld = dict(zip(keys, reason, strict=True))
    assert withheld[("A", "women")].startswith("primary")
    # A's men would be A's zone cell minus its women: withheld with them
    assert withheld[("A", "men")] == ACROSS_GROUPS
    # the city's women minus B's and C's would be A's 4 women: the smallest other zone goes
    assert withheld[("B", "women")] == ACROSS_ZONES
    # and B's men (else B's zone cell minus them gives B's women; they also protect A's men
    # from the city's men)
    assert withheld[("B", "men")] in (ACROSS_GROUPS, ACROSS_ZONES)
    assert pd.isna(withheld[("C", "women")]) and pd.isna(withheld[(CITY, "women")])


def test_a_large_not_stated_group_needs_no_partner() -> None:
    rows = [("A", "women", 30), ("A", "men", 28), ("A", UNSTATED, 12)]
    rows += [(CITY, "women", 30), (CITY, "men", 28), (CITY, UNSTATED, 12)]
    reason = suppress_groups(_cells(rows), k=10)
    assert reason.isna().sum() == 4  # only the two "not stated" cells are withheld


def test_demo_recovers_the_night_gender_gap(demo_city: DemoCity) -> None:
    truth = pd.read_csv(demo_city.root / "landing" / "_synthetic_truth.csv")
    with demo_city.connect() as con:
        city = con.execute(
            "select time_band, period_start, gap_to_rest, gap_ci_high, gap_ci_low "
            "from marts.group_index where level = 'city' and group_label = 'women'"
        ).df()
        zones = con.execute(
            "select zone_id, sum(gap_to_rest * n_respondents) / sum(n_respondents) as gap "
            "from idx.idx_groups where group_label = 'women' and time_band = 'night' "
            "and zone_id <> '_all' group by 1"
        ).df()
    night, day = city[city["time_band"] == "night"], city[city["time_band"] == "day"]
    # women feel less safe at night, every month, beyond the sampling interval
    assert len(night) == 6 and (night["gap_ci_high"] < 0).all()
    assert night["gap_to_rest"].mean() < -10
    # and not by day (no gap is planted there)
    assert abs(day["gap_to_rest"].mean()) < 2.5
    # the gap is larger in the dark zones
    by_zone = zones.merge(truth, on="zone_id")
    dark = by_zone[by_zone["lighting"] < 0.3]["gap"].mean()
    lit = by_zone[by_zone["lighting"] > 0.8]["gap"].mean()
    assert dark < lit - 5, (dark, lit)
    slope = np.polyfit(by_zone["lighting"], by_zone["gap"], 1)[0]
    assert slope > 0  # more light, smaller (less negative) gap


# --- the attacker test on the group marts --------------------------------------------

ZONES = [f"Z{i}" for i in range(8)]
MONTHS = [dt.date(2025, m, 1) for m in (1, 2, 3)]
INDEX = {"uncertainty_draws": 100, "trend_min_periods": 3, "trend_window": 3}
SHIFT = 25.0


def _survey() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    truth = pd.DataFrame(
        [
            (zone, month, int(rng.integers(22, 40)), 50 + 3 * i, 35 + 3 * i)
            for i, zone in enumerate(ZONES)
            for month in MONTHS
        ],
        columns=["zone_id", "period_start", "n", "day", "night"],
    )
    survey = simulate_survey(truth, rng)
    people = survey.drop_duplicates("respondent_id")
    # mostly women and men; a few say nothing; in two zones only a handful of men
    draw = rng.choice(["women", "men", None], size=len(people), p=[0.52, 0.42, 0.06])
    few = people["zone_id"].isin(["Z1", "Z4"]).to_numpy() & (draw == "men")
    draw[few & (rng.random(len(people)) < 0.8)] = "women"
    survey["group"] = survey["respondent_id"].map(
        dict(zip(people["respondent_id"], draw, strict=True))
    )
    survey["respondent_groups"] = [
        json.dumps({"gender": g}, separators=(",", ":")) if isinstance(g, str) else None
        for g in survey["group"]
    ]
    return survey


def _build(root: Path, survey: pd.DataFrame) -> pd.DataFrame:
    zones = pd.DataFrame({"zone_id": ZONES, "population": 5000.0})
    city = make_city(root, zones, survey.drop(columns=["group"]), index=INDEX)
    with duckdb.connect(str(city.path), read_only=True) as con:
        published = con.execute("select * exclude (build_id, published_at) from marts.group_index")
        return (
            published.df(),
            con.execute("select * from idx.idx_groups").df(),
            con.execute(
                "select zone_id, time_band, period_start, is_suppressed from idx.idx_suppression"
            ).df(),
        )


def _rectangles(cells: pd.DataFrame, zone_cells: pd.DataFrame) -> list[list[tuple]]:
    """Withheld zone-level group cells (z, g), each with partners (z, h), (z', g), (z', h)
    all withheld and non-empty, in zones whose zone cell is published: shifting the four
    against each other keeps every row and column total."""
    published_zones = set(
        map(
            tuple,
            zone_cells[~zone_cells["is_suppressed"]][
                ["zone_id", "time_band", "period_start"]
            ].to_numpy(),
        )
    )
    out = []
    night = cells[(cells["time_band"] == "night") & (cells["zone_id"] != CITY)]
    for (_, period), block in night.groupby(["time_band", "period_start"]):
        held = block[block["is_suppressed"] & (block["n_respondents"] > 0)]
        ok = {
            (r.zone_id, r.group_label)
            for r in held.itertuples()
            if (r.zone_id, "night", r.period_start) in published_zones
        }
        for z, g in sorted(ok):
            if g == UNSTATED:
                continue
            found = [
                (z2, h)
                for z2 in sorted({zz for zz, _ in ok} - {z})
                for h in sorted({hh for _, hh in ok} - {g})
                if {(z, h), (z2, g), (z2, h)} <= ok
            ]
            used = {(c[0], c[1], c[2]) for rect in out for c in rect}
            found = [
                f
                for f in found
                if not {(period, *c) for c in [(z, g), (z, f[1]), *[(f[0], g), f]]} & used
            ]
            if found:
                z2, h = found[0]
                out.append(
                    [
                        (period, z, g, +1),
                        (period, z, h, -1),
                        (period, z2, g, -1),
                        (period, z2, h, +1),
                    ]
                )
    return out


def _night_rows(frame: pd.DataFrame, label: pd.Series, month: pd.Series, cell: tuple) -> pd.Series:
    zone, group, period = cell
    return (
        (frame["zone_id"] == zone)
        & (label == group)
        & (month == pd.Timestamp(period).date())
        & (frame["time_band"] == "night")
    )


def _perception(cells: pd.DataFrame, zone: str, group: str, period: object) -> float:
    row = cells[
        (cells["zone_id"] == zone)
        & (cells["group_label"] == group)
        & (cells["time_band"] == "night")
        & (pd.to_datetime(cells["period_start"]) == pd.Timestamp(period))
    ]
    return float(row["perception"].iloc[0])


def test_withheld_group_cells_cannot_be_recovered(tmp_path: Path) -> None:
    survey = _survey()
    published_a, cells, zone_cells = _build(tmp_path / "a", survey)
    rectangles = _rectangles(cells, zone_cells)  # disjoint: each cell in one at most
    assert len(rectangles) >= 3, "the test city should withhold group cells worth attacking"
    # world B: the target of each rectangle moves SHIFT points, its partners compensate so
    # that every zone cell, city cell and other group cell keeps its weighted total
    shifted = survey.copy()
    label = shifted["group"].fillna(UNSTATED)
    month = (
        pd.to_datetime(shifted["surveyed_at"])
        .dt.tz_convert("Europe/Rome")
        .dt.date.map(lambda d: d.replace(day=1))
    )
    targets = []
    for rect in rectangles[:6]:
        period, z, g, _ = rect[0]
        delta = (
            SHIFT * shifted.loc[_night_rows(shifted, label, month, (z, g, period)), "weight"].sum()
        )
        for _, zz, gg, sign in rect:
            mask = _night_rows(shifted, label, month, (zz, gg, period))
            shifted.loc[mask, "score"] += sign * delta / shifted.loc[mask, "weight"].sum()
        targets.append((z, g, period))
    published_b, cells_b, _ = _build(tmp_path / "b", shifted)
    # the targets really differ by SHIFT points between the two worlds...
    for z, g, period in targets:
        moved_by = _perception(cells_b, z, g, period) - _perception(cells, z, g, period)
        assert abs(moved_by - SHIFT) < 1e-6
    # ...yet everything the group mart publishes is the same, but for the intervals of
    # published cells whose own members were shifted (an interval tells its cell's spread)
    keys = ["group_by", "group_label", "zone_id", "time_band", "period_start"]
    a = published_a.set_index(keys).sort_index()
    b = published_b.set_index(keys).sort_index()
    points = ["n_respondents", "perception", "gap_to_rest", "is_suppressed", "suppression_reason"]
    pd.testing.assert_frame_equal(a[points], b[points])
    moved = a.index[~((a == b) | (a.isna() & b.isna())).all(axis=1)]
    touched = {(zz, pd.Timestamp(p)) for rect in rectangles[:6] for p, zz, _, _ in rect}
    for _, _, zone, band, period in moved:
        assert band == "night" and (zone == CITY or (zone, pd.Timestamp(period)) in touched)
    # no withheld target can be placed within +-10 points in both worlds
    assert SHIFT > 2 * 10


# --- one month at a time (issue 18, item 4) -------------------------------------------


def test_a_month_computed_alone_gets_the_rows_of_a_full_run(demo_copy: DemoCity) -> None:
    order = "order by group_by, zone_id, time_band, period_start, group_label"
    with duckdb.connect(str(demo_copy.cfg.warehouse_path)) as con:
        full = con.execute(f"select * from idx.idx_groups {order}").df()  # noqa: S608 (constant)
        months = sorted(full["period_start"].unique())
        assert len(months) == 6 and full["gap_ci_low"].notna().any()
        one, two = months[1].date(), months[4].date()
        # alone, into a warehouse without the table: exactly that month's rows
        con.execute("drop table idx.idx_groups")
        build_groups(con, demo_copy.cfg.index, months={one})
        alone = con.execute(f"select * from idx.idx_groups {order}").df()  # noqa: S608 (constant)
        # beside the other months' rows: they stay as they are, the month is replaced
        con.execute("drop table idx.idx_groups")
        con.register("_full", full)
        con.execute("create table idx.idx_groups as select * from _full")
        con.execute("update idx.idx_groups set perception = -1 where period_start = ?", [two])
        build_groups(con, demo_copy.cfg.index, months=[two])
        again = con.execute(f"select * from idx.idx_groups {order}").df()  # noqa: S608 (constant)
    expected = full[full["period_start"] == pd.Timestamp(one)].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected)
    pd.testing.assert_frame_equal(again, full)
