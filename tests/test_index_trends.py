"""Trends: change on the previous month with its interval, and a Mann-Kendall test over at
least six months that flags a steady rise and leaves flat zones alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from tests.test_index_fixtures import make_city, simulate_survey

MONTHS = [dt.date(2025, m, 1) for m in range(1, 9)]


def test_steady_rise_is_a_significant_trend_and_flat_zones_are_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    zones = [f"Z{i}" for i in range(6)]
    truth = pd.DataFrame(
        [
            {
                "zone_id": z,
                "period_start": m,
                "n": 40,
                # Z0 gains 4 points a month; the others stay where they are
                "day": 50.0 + (4.0 * t if z == "Z0" else 0.0) + 3.0 * i,
                "night": 35.0 + (4.0 * t if z == "Z0" else 0.0) + 3.0 * i,
            }
            for i, z in enumerate(zones)
            for t, m in enumerate(MONTHS)
        ]
    )
    city = make_city(
        tmp_path,
        pd.DataFrame({"zone_id": zones, "population": 5000.0}),
        simulate_survey(truth, rng),
        index={"uncertainty_draws": 200},
    )
    trends = city.query("select * from marts.zone_trends order by zone_id, time_band, period_start")
    last = trends[trends["period_start"].dt.date == MONTHS[-1]].set_index(["zone_id", "time_band"])
    assert last.loc[("Z0", "day"), "trend_direction"] == "rising"
    assert last.loc[("Z0", "night"), "is_trend_significant"]
    assert 2.5 < last.loc[("Z0", "day"), "sen_slope_per_month"] < 5.5
    flat = last.drop(index="Z0", level="zone_id")
    assert flat["is_trend_significant"].mean() <= 0.2  # 10% tests: allow a false alarm
    # fewer than six months in the window: no verdict
    early = trends[trends["period_start"].dt.date == MONTHS[4]]
    assert (early["trend_direction"] == "too few periods").all()
    assert early["is_trend_significant"].eq(False).all()
    # change on the previous month: absent in the first month, ~+4 for Z0 afterwards
    first = trends[trends["period_start"].dt.date == MONTHS[0]]
    assert first["change_vs_previous"].isna().all()
    z0 = trends[(trends["zone_id"] == "Z0") & (trends["period_start"].dt.date > MONTHS[0])]
    assert z0["change_vs_previous"].between(-6, 14).all()
    assert 2.0 < z0["change_vs_previous"].mean() < 6.0
    assert (z0["change_ci_low"] <= z0["change_vs_previous"]).all()
    assert (z0["change_vs_previous"] <= z0["change_ci_high"]).all()
    latest = city.query("select * from marts.zone_index_latest")
    assert len(latest) == 12 and (latest["period_start"].dt.date == MONTHS[-1]).all()
    assert (
        latest.set_index(["zone_id", "time_band"]).loc[("Z0", "day"), "trend_direction"] == "rising"
    )
