"""The network's estimators on small fixtures with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.weightstats import DescrStatsW

from observatory.network import estimate as est


def _respondents(n: int, rng: np.random.Generator) -> pd.DataFrame:
    person = np.arange(n)
    day = rng.binomial(4, 0.7, n) * 25.0
    night = np.clip(day - rng.binomial(4, 0.2, n) * 25.0, 0, 100)
    weight = rng.uniform(0.5, 2.0, n)
    rows = [
        pd.DataFrame({"person": person, "time_band": band, "period_start": "2025-01-01",
                      "score": score, "weight": weight, "zone_id": "Z1"})
        for band, score in (("day", day), ("night", night))
    ]  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_perception_is_the_weighted_mean_with_the_linearised_standard_error() -> None:
    """Point: statsmodels' weighted mean; bootstrap SE: within 10% of the linearised SE of a
    weighted mean, sum(w^2 (y - m)^2) / sum(w)^2 (statsmodels: its `std_mean` with Kish n)."""
    frame = _respondents(800, np.random.default_rng(1))
    periods = pd.DatetimeIndex(["2025-01-01"])
    perc = est.city_perception(frame, periods, 2000, np.random.default_rng(2))
    for b, band in enumerate(est.BANDS):
        rows = frame[frame["time_band"] == band]
        y, w = rows["score"].to_numpy(), rows["weight"].to_numpy()
        stats = DescrStatsW(y, weights=w)
        assert np.isclose(perc.point[b, 0], stats.mean)
        linear = np.sqrt(np.sum(w**2 * (y - stats.mean) ** 2)) / w.sum()
        assert abs(np.nanstd(perc.draws[:, b, 0]) / linear - 1) < 0.10
        assert perc.n_respondents[b, 0] == 800


def test_the_gap_interval_keeps_the_correlation_of_a_persons_two_answers() -> None:
    """Day and night answers of one person move together: the gap's spread is well below
    what independent bands would give."""
    frame = _respondents(800, np.random.default_rng(3))
    perc = est.city_perception(frame, pd.DatetimeIndex(["2025-01-01"]), 1000,
                               np.random.default_rng(4))  # fmt: skip
    gap = perc.draws[:, 1, 0] - perc.draws[:, 0, 0]
    independent = np.hypot(perc.draws[:, 0, 0].std(), perc.draws[:, 1, 0].std())
    assert gap.std() < 0.8 * independent


def test_incident_ratio_is_the_rate_over_the_pooled_reference_rate() -> None:
    counts = np.array([[[10.0, 20.0]], [[30.0, np.nan]]]).reshape(2, 1, 2).repeat(2, axis=1)
    exposure = np.full((2, 2, 2), 1000.0)
    in_reference = np.array([True, False])
    draws = est.incident_draws(counts, 50, np.random.default_rng(5))
    point, drawn = est.incident_ratios(counts, draws, exposure, in_reference)
    # reference: (10 + 30) / 2000 per hour; city 0 month 1: 20 / 1000 -> ratio 1.0
    assert np.isclose(point[0, 0, 0], 0.5) and np.isclose(point[1, 0, 0], 1.5)
    assert np.isclose(point[0, 0, 1], 1.0) and np.isnan(point[1, 0, 1])
    assert drawn.shape == (50, 2, 2, 2) and np.isnan(drawn[:, 1, 0, 1]).all()


def test_ranks_and_their_intervals_follow_the_draws() -> None:
    point = np.array([[80.0, 50.0, 60.0]])
    draws = point[None, ...] + np.random.default_rng(6).normal(0, [0.1, 12, 12], (400, 1, 3))
    published = np.array([[True, True, True]])
    rank, low, high, n = est.rank_table(point, draws, published, 0.90)
    assert rank.tolist() == [[1, 3, 2]] and n.tolist() == [[3, 3, 3]]
    assert low[0, 0] == high[0, 0] == 1  # far ahead: always first
    assert (low[0, 1], high[0, 1]) == (2, 3) and (low[0, 2], high[0, 2]) == (2, 3)
