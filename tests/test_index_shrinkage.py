"""Fay-Herriot shrinkage: small-n zones move toward the city mean, large-n zones stay put."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from observatory.index.shrinkage import (
    adjusted_log_likelihood,
    fay_herriot,
    no_shrinkage,
    sampling_variance,
)

# One band-month, six zones: raw means and respondents; sampling variance D = 400 / n.
RAW = np.array([[40.0, 55.0, 60.0, 65.0, 80.0, 90.0]])
N = np.array([[3.0, 200.0, 150.0, 180.0, 4.0, 250.0]])
D = 400.0 / N


def test_between_variance_maximises_the_adjusted_likelihood_as_scipy_finds_it() -> None:
    valid = np.ones_like(RAW, dtype=bool)
    for estimator in ("yoshimori_lahiri", "li_lahiri"):
        fit = fay_herriot(RAW, D, estimator)

        def minus_loglik(log_a: float, est: str = estimator) -> float:
            a = np.array([[np.exp(log_a)]])
            return -adjusted_log_likelihood(a, RAW, D, valid, est)[0, 0]

        best = minimize_scalar(minus_loglik, bounds=(-10, 12), method="bounded")
        assert fit.between_var[0] == pytest.approx(np.exp(best.x), rel=1e-4)
    # the shrunk value is the precision-weighted mix of the zone and the city mean
    fit = fay_herriot(RAW, D)
    w = 1.0 / (fit.between_var[0] + D[0])
    mu = np.sum(w * RAW[0]) / np.sum(w)
    assert mu == pytest.approx(fit.mean[0])
    gamma = fit.between_var[0] / (fit.between_var[0] + D[0])
    np.testing.assert_allclose(fit.shrunk[0], gamma * RAW[0] + (1 - gamma) * mu)


def test_between_variance_is_never_zero_where_the_moment_estimator_collapses() -> None:
    # nine zones of ~100 people whose raw means differ less than sampling noise would say,
    # and the extreme case of identical means (8 items averaged to the same value)
    raw = np.array([[58.0, 58.5, 59.0, 59.2, 59.4, 59.6, 60.0, 60.5, 61.0], [60.0] * 9])
    d = np.full(raw.shape, 225.0 / 100.0)
    fit = fay_herriot(raw, d)
    assert (fit.between_var > 0).all()
    assert (fit.gamma > 0).all() and (fit.gamma < 1).all()
    # ... and the MSE carries the uncertainty of A: above the g1 + g2 of a known A
    g1 = fit.gamma * d
    g2 = (1 - fit.gamma) ** 2 * fit.mean_var[:, None]
    assert (fit.mse > g1 + g2).all()


def test_intervals_from_the_mse_cover_the_truth_when_the_model_holds() -> None:
    # 400 band-months of nine zones, true between-zone SD 3, ~100 respondents (SD 15) each
    rng = np.random.default_rng(7)
    groups, zones = 400, 9
    d = 225.0 / rng.integers(80, 120, (groups, zones))
    truth = 60.0 + rng.normal(0.0, 3.0, (groups, zones))
    raw = truth + rng.normal(0.0, np.sqrt(d))
    fit = fay_herriot(raw, d)
    half = 1.645 * np.sqrt(fit.mse)
    coverage = np.mean(np.abs(fit.shrunk - truth) <= half)
    assert 0.87 <= coverage <= 0.93, coverage
    # the published spread keeps most of the true spread (no collapse to the city mean)
    assert np.mean(fit.shrunk.std(axis=1) / truth.std(axis=1)) > 0.6


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


def test_sampling_variance_is_the_zones_own_moderated_toward_the_pooled_one() -> None:
    # pooled = (400 * 10 + 100 * 2) / 12 = 350; prior 4 df of it:
    # zone 1: (400 * 10 + 4 * 350) / 14 = 385.71 / 11; zone 2: (100 * 2 + 4 * 350) / 6 / 3;
    # a single respondent has no variance of its own: the pooled one
    got = sampling_variance(np.array([[400.0, 100.0, np.nan]]), np.array([[11.0, 3.0, 1.0]]))
    np.testing.assert_allclose(got, [[(4000 + 1400) / 14 / 11, (200 + 1400) / 6 / 3, 350.0]])
    # without the floor, each zone keeps its own; a design effect scales D
    own = sampling_variance(np.array([[400.0, 100.0]]), np.array([[11.0, 3.0]]), prior_df=0.0)
    np.testing.assert_allclose(own, [[400 / 11, 100 / 3]])
    deff = sampling_variance(
        np.array([[400.0, 100.0]]), np.array([[11.0, 3.0]]), 0.0, design_effect=2.0
    )
    np.testing.assert_allclose(deff, 2 * own)


def test_pooling_months_steadies_the_between_variance_of_a_city_with_few_zones() -> None:
    # two bands x 24 months of nine zones (~100 people each), true between-zone SD 3
    rng = np.random.default_rng(12)
    d_var = 225.0 / rng.integers(80, 120, (2, 24, 9))
    truth = 60.0 + rng.normal(0.0, 3.0, (2, 1, 9)) + rng.normal(0.0, 1.0, (2, 24, 1))
    raw = truth + rng.normal(0.0, np.sqrt(d_var))
    alone = fay_herriot(raw, d_var)
    same = fay_herriot(raw, d_var, pool=np.eye(24))
    np.testing.assert_allclose(same.between_var, alone.between_var, rtol=1e-6)
    months = np.arange(24)
    window = (months[:, None] - months[None, :] >= 0) & (months[:, None] - months[None, :] < 6)
    pooled = fay_herriot(raw, d_var, pool=window.astype(float))
    # trailing window: the first month is fitted on its own zones only
    np.testing.assert_allclose(pooled.between_var[:, 0], alone.between_var[:, 0], rtol=1e-6)
    spread = lambda fit: np.std(np.log(fit.between_var[:, 6:]))  # noqa: E731
    assert spread(pooled) < 0.6 * spread(alone)
    # each month keeps its own city mean
    assert np.ptp(pooled.mean, axis=1).min() > 0.5


def test_a_predictive_covariate_shrinks_toward_the_regression_and_lowers_the_error() -> None:
    # 300 band-months of 20 zones whose truth follows a zone covariate, small samples
    rng = np.random.default_rng(21)
    groups, zones = 300, 20
    covariate = rng.normal(0.0, 1.0, (groups, zones))
    truth = 60.0 + 6.0 * covariate + rng.normal(0.0, 2.0, (groups, zones))
    d = 225.0 / rng.integers(8, 20, (groups, zones))
    raw = truth + rng.normal(0.0, np.sqrt(d))
    design = np.stack([np.ones_like(covariate), covariate], axis=-1)
    plain = fay_herriot(raw, d)
    with_x = fay_herriot(raw, d, design=design)
    rmse = lambda fit: np.sqrt(np.mean((fit.shrunk - truth) ** 2))  # noqa: E731
    assert rmse(with_x) < 0.8 * rmse(plain)
    # A is now the variance around the regression (about 4), not around the mean (about 40)
    assert np.median(with_x.between_var) < 0.3 * np.median(plain.between_var)
    half = 1.645 * np.sqrt(with_x.mse)
    assert 0.87 <= np.mean(np.abs(with_x.shrunk - truth) <= half) <= 0.94
    # with the intercept alone, the design gives back the plain fit
    same = fay_herriot(raw, d, design=design[..., :1])
    np.testing.assert_allclose(same.shrunk, plain.shrunk, rtol=1e-6)
