"""Survey questions that name no time of day (band `any`), and incidents with no known time
(issue 13, item 4): they make the all-day figures, never a day/night gap.

A city whose respondents answer a day, a night and a general question keeps the general one
out of both bands; a city with only general questions has a perception per band, flagged,
and no gap (it would be zero by construction); `marts.zone_all_day` holds the general
question's mean and every incident, those of unknown time included.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_index_fixtures import make_city, simulate_survey

MONTHS = [dt.date(2025, 3, 1), dt.date(2025, 4, 1)]
ZONES = [f"Z{i}" for i in range(8)]
N = 20


def _survey(rng: np.random.Generator) -> pd.DataFrame:
    truth = pd.DataFrame(
        [
            {"zone_id": z, "period_start": m, "n": N, "day": 70.0 + i, "night": 40.0 + i}
            for i, z in enumerate(ZONES)
            for m in MONTHS
        ]
    )
    banded = simulate_survey(truth, rng)
    general = banded[banded["time_band"] == "day"].copy()
    general["time_band"] = "any"
    general["item_id"] = "safe_general"
    general["score"] = 55.0 + rng.normal(0.0, 15.0, len(general))
    return pd.concat([banded, general], ignore_index=True)


def _incidents() -> pd.DataFrame:
    rows = []
    for z in ZONES[:4]:
        for m in MONTHS:
            for k, known in enumerate([True, True, False]):
                rows.append(
                    {
                        "incident_id": f"I{z}{m:%m}{k}",
                        "occurred_at": pd.Timestamp(m, tz="UTC") + pd.Timedelta(days=3 + k),
                        "zone_id": z,
                        "category": "theft",
                        "severity": 1.0,
                        "is_time_known": known,
                    }
                )
    return pd.DataFrame(rows)


def _weighted(frame: pd.DataFrame) -> pd.Series:
    frame = frame.assign(period_start=frame["surveyed_at"].dt.date.map(lambda d: d.replace(day=1)))
    grouped = frame.assign(wy=frame["score"] * frame["weight"]).groupby(["zone_id", "period_start"])
    return (grouped["wy"].sum() / grouped["weight"].sum()).round(1)


@pytest.fixture(scope="module")
def answers() -> pd.DataFrame:
    return _survey(np.random.default_rng(11))


def _city(tmp_path: Path, survey: pd.DataFrame):  # noqa: ANN202
    zones = pd.DataFrame({"zone_id": ZONES, "population": 4000.0})
    return make_city(tmp_path, zones, survey, _incidents(), index={"uncertainty_draws": 100})


def test_a_general_question_stays_out_of_the_day_and_night_cells(
    tmp_path: Path, answers: pd.DataFrame
) -> None:
    city = _city(tmp_path, answers)
    cells = city.query(
        "select zone_id, time_band, period_start, perception_raw, perception_any_band_share "
        "from marts.zone_index order by all"
    )
    assert (cells["perception_any_band_share"] == 0).all()
    for band in ("day", "night"):
        expected = _weighted(answers[answers["time_band"] == band])
        got = cells[cells["time_band"] == band].set_index(["zone_id", "period_start"])
        got.index = got.index.set_levels(got.index.levels[1].date, level=1)
        pd.testing.assert_series_equal(
            got["perception_raw"], expected, check_names=False, check_index_type=False
        )
    gaps = city.query("select * from marts.day_night_gap")
    assert gaps["has_band_specific_answers"].all() and gaps["perception_gap"].notna().all()
    assert (gaps["perception_gap"] < -15).all()  # night 30 points below day, by design

    all_day = city.query("select * from marts.zone_all_day order by zone_id, period_start")
    expected = _weighted(answers[answers["time_band"] == "any"])
    assert all_day["perception_all_day"].tolist() == expected.tolist()
    assert (all_day["n_respondents_any"] == N).all() and not all_day["is_suppressed"].any()
    assert (all_day["perception_all_day_ci_low"] < all_day["perception_all_day"]).all()
    assert (all_day["perception_all_day"] < all_day["perception_all_day_ci_high"]).all()
    # incidents of unknown time are in no band cell, and in the all-day count
    band_counts = city.query(
        "select zone_id, period_start, sum(incident_count) as n from marts.zone_index "
        "group by all order by all"
    )
    assert band_counts[band_counts["zone_id"].isin(ZONES[:4])]["n"].eq(2).all()
    counted = all_day[all_day["zone_id"].isin(ZONES[:4])]
    assert counted["incident_count"].eq(3).all()
    assert counted["incident_count_time_unknown"].eq(1).all()
    assert all_day[~all_day["zone_id"].isin(ZONES[:4])]["incident_count"].eq(0).all()


def test_a_survey_with_only_a_general_question_has_no_day_night_gap(
    tmp_path: Path, answers: pd.DataFrame
) -> None:
    general = answers[answers["time_band"] == "any"]
    city = _city(tmp_path, general)
    cells = city.query(
        "select zone_id, time_band, period_start, perception_raw, perception_any_band_share "
        "from marts.zone_index order by zone_id, period_start, time_band"
    )
    assert (cells["perception_any_band_share"] == 1).all()
    day = cells[cells["time_band"] == "day"]["perception_raw"].to_numpy()
    night = cells[cells["time_band"] == "night"]["perception_raw"].to_numpy()
    np.testing.assert_array_equal(day, night)
    assert day.tolist() == _weighted(general).tolist()
    gaps = city.query("select * from marts.day_night_gap")
    assert not gaps["has_band_specific_answers"].any()
    for column in ("index_gap", "perception_gap", "perception_gap_ci_low", "index_gap_ci_high"):
        assert gaps[column].isna().all(), column
    assert not gaps["is_perception_gap_significant"].any()
    all_day = city.query("select perception_all_day from marts.zone_all_day order by all")
    assert sorted(all_day["perception_all_day"]) == sorted(day.tolist())


def test_a_general_answer_stands_in_only_for_whoever_answered_nothing_for_the_band(
    tmp_path: Path, answers: pd.DataFrame
) -> None:
    """Half the respondents skipped the night question: for them, and only for them, the
    general answer is their night answer."""
    skipped = answers["response_id"].str.rsplit("-", n=1).str[1].astype(int) % 2 == 0
    survey = answers[~((answers["time_band"] == "night") & skipped)]
    city = _city(tmp_path, survey)
    night = city.query(
        "select zone_id, period_start, perception_raw, perception_any_band_share "
        "from marts.zone_index where time_band = 'night' order by zone_id, period_start"
    )
    stand_in = survey[(survey["time_band"] == "night") | ((survey["time_band"] == "any") & skipped)]
    assert night["perception_raw"].tolist() == _weighted(stand_in).tolist()
    assert night["perception_any_band_share"].between(0.2, 0.8).all()
    gaps = city.query("select has_band_specific_answers, perception_gap from marts.day_night_gap")
    assert not gaps["has_band_specific_answers"].any() and gaps["perception_gap"].isna().all()


def test_a_small_all_day_cell_is_withheld(tmp_path: Path, answers: pd.DataFrame) -> None:
    few = answers["response_id"].str.rsplit("-", n=1).str[1].astype(int) >= 6  # 6 of 20 left
    survey = answers[~((answers["time_band"] == "any") & few & (answers["zone_id"] == "Z0"))]
    city = _city(tmp_path, survey)
    all_day = city.query(
        "select zone_id, n_respondents_any, is_suppressed, perception_all_day, "
        "perception_all_day_ci_low from marts.zone_all_day order by zone_id, period_start"
    )
    small = all_day[all_day["zone_id"] == "Z0"]
    assert small["n_respondents_any"].eq(6).all() and small["is_suppressed"].all()
    assert (
        small["perception_all_day"].isna().all() and small["perception_all_day_ci_low"].isna().all()
    )
    assert all_day[all_day["zone_id"] != "Z0"]["perception_all_day"].notna().all()
