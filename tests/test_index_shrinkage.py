"""Fay-Herriot shrinkage: small-n zones move toward the city mean, large-n zones stay put."""

from __future__ import annotations

import numpy as np
import pytest

from observatory.index.shrinkage import fay_herriot, no_shrinkage, sampling_variance

# One band-month, six zones: raw means and respondents; sampling variance D = 400 / n.
RAW = np.array([[40.0, 55.0, 60.0, 65.0, 80.0, 90.0]])
N = np.array([[3.0, 200.0, 150.0, 180.0, 4.0, 250.0]])
D = 400.0 / N


def test_fit_matches_the_worked_example() -> None:
    fit = fay_herriot(RAW, D)
    assert fit.between_var[0] == pytest.approx(264.0769, abs=1e-3)
    assert fit.mean[0] == pytest.approx(65.7918, abs=1e-3)
    np.testing.assert_allclose(
        fit.shrunk, [[48.6533, 55.0811, 60.0579, 65.0066, 76.0975, 89.8542]], atol=1e-3
    )
    np.testing.assert_allclose(
        fit.gamma, [[0.6645, 0.9925, 0.9900, 0.9917, 0.7253, 0.9940]], atol=1e-4
    )


def test_between_variance_solves_the_fay_herriot_moment_equation() -> None:
    fit = fay_herriot(RAW, D)
    w = 1.0 / (fit.between_var[0] + D[0])
    mu = np.sum(w * RAW[0]) / np.sum(w)
    assert mu == pytest.approx(fit.mean[0])
    assert np.sum(w * (RAW[0] - mu) ** 2) == pytest.approx(RAW.shape[1] - 1)
    # shrunk = gamma * raw + (1 - gamma) * mean, gamma = A / (A + D)
    gamma = fit.between_var[0] / (fit.between_var[0] + D[0])
    np.testing.assert_allclose(fit.shrunk[0], gamma * RAW[0] + (1 - gamma) * mu)


def test_small_zones_are_pulled_toward_the_mean_and_large_ones_barely_move() -> None:
    fit = fay_herriot(RAW, D)
    moved = fit.shrunk[0] - RAW[0]
    small, large = N[0] < 10, N[0] >= 100
    assert (np.abs(moved[small]) > 3.0).all()
    assert (np.sign(moved[small]) == np.sign(fit.mean[0] - RAW[0][small])).all()
    assert (np.abs(moved[large]) < 0.2).all()
    # ...and the shrunk estimate is more certain than the raw one where it moved
    assert (fit.mse[0][small] < D[0][small]).all()


def test_groups_are_fitted_separately_and_missing_zones_stay_missing() -> None:
    raw = np.vstack([RAW, RAW + 20.0])
    raw[1, 2] = np.nan  # a zone with no respondents in the second group
    fit = fay_herriot(raw, np.vstack([D, D]))
    alone = fay_herriot(raw[1:], D)
    np.testing.assert_allclose(fit.shrunk[1], alone.shrunk[0])
    np.testing.assert_allclose(fit.shrunk[0], fay_herriot(RAW, D).shrunk[0])
    assert np.isnan(fit.shrunk[1, 2]) and np.isnan(fit.gamma[1, 2])


def test_too_few_zones_means_no_shrinkage() -> None:
    fit = fay_herriot(np.array([[40.0, 80.0, np.nan]]), np.array([[50.0, 50.0, np.nan]]))
    np.testing.assert_allclose(fit.shrunk[0, :2], [40.0, 80.0])
    assert np.isnan(fit.between_var[0])


def test_no_shrinkage_option_returns_the_raw_means() -> None:
    fit = no_shrinkage(RAW, D)
    np.testing.assert_allclose(fit.shrunk, RAW)
    np.testing.assert_allclose(fit.mse, D)


def test_sampling_variance_pools_the_within_zone_variance() -> None:
    # pooled = (400 * 10 + 100 * 2) / 12 = 350 (a single respondent adds nothing)
    got = sampling_variance(np.array([[400.0, 100.0, np.nan]]), np.array([[11.0, 3.0, 1.0]]))
    np.testing.assert_allclose(got, [[350 / 11, 350 / 3, 350.0]])
