"""The fear-gap baseline's bootstrap refits solved together (issue 18, item 3) give the
coefficients scikit-learn's weighted least squares gives refit by refit, from the same
draws of zones, including a refit whose drawn zones leave a month without cells."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

from observatory.index import models


def _one_by_one(x, y, w, zones, *, refits, rng):  # noqa: ANN001, ANN202 (the former loop)
    codes, zone_of = np.unique(zones, return_inverse=True)
    out = np.empty((refits, 1 + x.shape[1]))
    for r in range(refits):
        times = np.bincount(rng.integers(0, len(codes), len(codes)), minlength=len(codes))
        sw = w * times[zone_of]
        keep = sw > 0
        ols = LinearRegression().fit(x[keep], y[keep], sample_weight=sw[keep])
        out[r, 0], out[r, 1:] = ols.intercept_, ols.coef_
    return out


def _cells(n_zones: int, months: int, seed: int):  # noqa: ANN202
    g = np.random.default_rng(seed)
    zone = np.repeat([f"Z{i:03d}" for i in range(n_zones)], months)
    month = np.tile(np.arange(months), n_zones)
    core = np.column_stack(
        [
            np.log1p(g.gamma(2, 1, len(zone))),
            g.uniform(0, 30, len(zone)),
            g.uniform(50, 800, len(zone)),
        ]
    )
    x = np.column_stack([core] + [(month == m).astype(float) for m in range(1, months)])
    y = 60 - 5 * core[:, 0] + 0.3 * core[:, 1] + 0.01 * core[:, 2] + g.normal(0, 8, len(zone))
    return x, y, g.uniform(0.01, 0.2, len(zone)), zone, month


def test_refits_together_equal_scikit_learns_one_by_one() -> None:
    x, y, w, zone, _ = _cells(60, 13, seed=3)
    together = models._bootstrap_refits(
        x, y, w, zones=zone, refits=300, rng=np.random.default_rng(7)
    )
    expected = _one_by_one(x, y, w, zone, refits=300, rng=np.random.default_rng(7))
    np.testing.assert_allclose(together, expected, rtol=0, atol=1e-9)
    assert together[:, 1].std() > 0.1  # the refits differ: the draws were used


def test_a_refit_missing_a_month_is_fitted_as_before() -> None:
    x, y, w, zone, month = _cells(8, 4, seed=5)
    # the last month has cells in one zone only: a draw without that zone leaves it empty
    has = (month != 3) | (zone == "Z000")
    x, y, w, zone = x[has], y[has], w[has], zone[has]
    together = models._bootstrap_refits(
        x, y, w, zones=zone, refits=200, rng=np.random.default_rng(2)
    )
    expected = _one_by_one(x, y, w, zone, refits=200, rng=np.random.default_rng(2))
    np.testing.assert_allclose(together, expected, rtol=0, atol=1e-8)
