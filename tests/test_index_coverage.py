"""Calibration: on seeded simulations with known true perception, the 90% intervals of the
published perception contain the truth at least 85% of the time (nominal 90%)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from tests.test_index_fixtures import make_city, simulate_survey

N_ZONES = 40
PERIODS = [dt.date(2025, 1, 1), dt.date(2025, 2, 1)]
SEEDS = (0, 1, 2)  # three independent cities: 480 published cells in all


def _truth(rng: np.random.Generator) -> pd.DataFrame:
    zones = [f"Z{i:02d}" for i in range(N_ZONES)]
    day = rng.normal(65.0, 8.0, N_ZONES)
    night = day - 15.0 + rng.normal(0.0, 8.0, N_ZONES)
    return pd.DataFrame(
        [
            {
                "zone_id": z,
                "period_start": p,
                # a wide range of sample sizes, including small published cells
                "n": int(rng.integers(10, 60)),
                "day": day[i] + rng.normal(0.0, 2.0),
                "night": night[i] + rng.normal(0.0, 2.0),
            }
            for i, z in enumerate(zones)
            for p in PERIODS
        ]
    )


def _intervals_and_truth(tmp_path: Path, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = _truth(rng)
    zones = pd.DataFrame({"zone_id": truth["zone_id"].unique(), "population": 5000.0})
    city = make_city(tmp_path / f"city{seed}", zones, simulate_survey(truth, rng))
    published = city.query(
        """
        select zone_id, period_start, time_band, perception_ci_low, perception_ci_high
        from marts.zone_index where not is_suppressed
        """
    )
    long = truth.melt(["zone_id", "period_start", "n"], ["day", "night"], "time_band", "true")
    long["period_start"] = pd.to_datetime(long["period_start"])
    return published.merge(long, on=["zone_id", "period_start", "time_band"])


def test_90_percent_intervals_cover_the_true_perception(tmp_path: Path) -> None:
    cells = pd.concat([_intervals_and_truth(tmp_path, seed) for seed in SEEDS])
    assert len(cells) == len(SEEDS) * 2 * N_ZONES * len(PERIODS)
    # published values are rounded to 0.1: allow that much at the ends
    covered = cells["true"].between(
        cells["perception_ci_low"] - 0.05, cells["perception_ci_high"] + 0.05
    )
    assert covered.mean() >= 0.85, cells.loc[~covered]
    # ... and the intervals are informative, not just wide: about +-1.645 x 15 / sqrt(n)
    assert (cells["perception_ci_high"] - cells["perception_ci_low"]).median() < 12.0
