"""A zone-month with no survey answers gets a modelled perception, flagged, with the model's
cross-validated error, and an index with an interval wide enough to say so."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from tests.test_index_fixtures import make_city, simulate_survey

MONTHS = [dt.date(2025, m, 1) for m in (1, 2, 3)]


def test_zone_without_respondents_is_modelled_from_incidents(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    zones = [f"Z{i}" for i in range(10)]
    level = np.linspace(0.0, 9.0, 10)  # incidents per month: more incidents, less safe
    truth = pd.DataFrame(
        [
            {
                "zone_id": z,
                "period_start": m,
                "n": 25,
                "day": 80 - 3 * level[i],
                "night": 60 - 3 * level[i],
            }
            for i, z in enumerate(zones)
            for m in MONTHS
            if not (z == "Z9" and m == MONTHS[-1])  # nobody answered in Z9 in March
        ]
    )
    incidents = pd.DataFrame(
        [
            {
                "incident_id": f"I{z}{m:%m}{k}",
                "occurred_at": pd.Timestamp(m, tz="UTC")
                + pd.Timedelta(days=k % 28, hours=12 + 10 * (k % 2)),
                "zone_id": z,
                "category": "theft",
                "severity": 1.0,
            }
            for i, z in enumerate(zones)
            for m in MONTHS
            for k in range(int(2 * level[i]))
        ]
    )
    city = make_city(
        tmp_path,
        pd.DataFrame({"zone_id": zones, "population": 5000.0}),
        simulate_survey(truth, rng),
        incidents,
        index={"uncertainty_draws": 100},
    )
    out = city.query("select * from marts.zone_index order by zone_id, period_start, time_band")
    modelled = out[out["is_modelled"]]
    cells = zip(modelled["zone_id"], modelled["period_start"].dt.date, strict=True)
    assert set(cells) == {("Z9", MONTHS[-1])}
    assert (modelled["n_respondents"] == 0).all()
    assert not modelled["is_suppressed"].any(), "no respondent to protect"
    assert modelled["perception_raw"].isna().all() and modelled["perception_shrunk"].isna().all()
    assert modelled["model_cv_rmse"].notna().all() and (modelled["model_cv_rmse"] > 0).all()
    assert modelled["index_value"].notna().all()
    # Z9 has the most incidents: the model should place it among the least safe zones
    day = out[(out["period_start"].dt.date == MONTHS[-1]) & (out["time_band"] == "day")]
    assert day.set_index("zone_id")["perception_score"].rank().loc["Z9"] <= 3
    # the interval carries the model's error (nominally 2 x 1.645 x CV RMSE wide)
    width = modelled["perception_ci_high"] - modelled["perception_ci_low"]
    assert (width >= 1.645 * modelled["model_cv_rmse"]).all()
    # only direct survey answers make a fear gap
    gap = city.query(
        "select * from marts.fear_gap where zone_id = 'Z9' and period_start = '2025-03-01'"
    )
    assert gap["fear_gap"].isna().all()


def test_prediction_intervals_are_per_cell_and_cover_unseen_zones() -> None:
    # 60 zones x 12 months; perception falls with incidents, noisier where incidents are high
    from observatory.index.models import prediction_intervals  # noqa: PLC0415

    rng = np.random.default_rng(8)
    zones = np.repeat([f"Z{i:02d}" for i in range(60)], 12)
    ratio = np.repeat(rng.uniform(0.2, 3.0, 60), 12)
    raw = 75 - 8 * ratio + rng.normal(0, 2 + 3 * ratio)
    cells = pd.DataFrame(
        {
            "zone_id": zones,
            "time_band": "night",
            "incident_ratio": ratio,
            "incident_rate_per_1000": ratio,
            "lux_mean": np.nan,
            "footfall_per_hour": np.nan,
            "noise_leq_db": np.nan,
            "perception_raw": raw,
        }
    )
    held_out = np.isin(zones, [f"Z{i:02d}" for i in range(45, 60)])
    low, high, _, _ = prediction_intervals(cells, ~held_out, seed=1, level=0.9)
    covered = (low <= raw) & (raw <= high)
    assert 0.8 <= covered[held_out].mean() <= 0.98  # 180 held-out cells
    width = high - low
    assert width[ratio > 2.5].mean() > 1.5 * width[ratio < 0.7].mean()  # its own, not one RMSE
    # an increment whose training cells are unchanged passes the margin back: the same bounds
    again = prediction_intervals(cells, ~held_out, seed=1, level=0.9)
    kept = prediction_intervals(cells, ~held_out, seed=1, level=0.9, margin=again[2])
    np.testing.assert_array_equal(kept[0], low)
    np.testing.assert_array_equal(kept[1], high)
    assert kept[2] == again[2]
    # and given the earlier fit's models too, they predict without a fit: the same bounds
    loaded = prediction_intervals(cells, ~held_out, 1, 0.9, again[2], fitted=again[3])
    assert loaded[3][0] is again[3][0] and loaded[3][1] is again[3][1]
    np.testing.assert_array_equal(loaded[0], low)
    np.testing.assert_array_equal(loaded[1], high)
    # and the point model given its earlier cross-validated figures predicts the same
    from observatory.index.models import model_perception  # noqa: PLC0415

    cells["n_effective"] = 10.0
    cells["period_start"] = "2025-01-01"
    full = model_perception(cells, ~held_out, seed=1)
    reused = model_perception(cells, ~held_out, seed=1, cv=(full.cv_rmse, full.null_rmse))
    np.testing.assert_array_equal(full.prediction, reused.prediction)
    assert (reused.cv_rmse, reused.null_rmse) == (full.cv_rmse, full.null_rmse)
    cv = (full.cv_rmse, full.null_rmse)
    given = model_perception(cells, ~held_out, seed=1, cv=cv, fitted=full.model)
    assert given.model is full.model
    np.testing.assert_array_equal(full.prediction, given.prediction)
