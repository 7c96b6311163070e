"""The Poisson bootstrap's shortcuts (issue 18): summing a respondent's rows before the
draws, and the percentiles of every cell from one sort, give what the direct computation
gives."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from observatory.index.bootstrap import bootstrap_sums, nan_percentiles


def test_summing_by_person_first_gives_the_same_totals() -> None:
    rng = np.random.default_rng(11)
    people = rng.integers(0, 400, 3000)  # people repeat, in no order, across 50 cells
    frame = pd.DataFrame(
        {
            "person": [f"r{p:04d}" for p in people],
            "score": rng.uniform(0, 100, len(people)),
            "weight": rng.uniform(0.5, 2.0, len(people)),
        }
    )
    cell = rng.integers(0, 50, len(people))
    direct = bootstrap_sums(frame, cell, 50, 70, np.random.default_rng(3))
    summed = bootstrap_sums(frame, cell, 50, 70, np.random.default_rng(3), by_person=True)
    np.testing.assert_allclose(summed.score, direct.score, rtol=1e-12)
    np.testing.assert_allclose(summed.weight, direct.weight, rtol=1e-12)
    assert direct.score.std(axis=0).min() > 0  # the draws do vary


def test_percentiles_from_one_sort_equal_numpy_nanquantile() -> None:
    rng = np.random.default_rng(5)
    draws = rng.normal(size=(500, 400))
    draws[rng.random(draws.shape) < 0.3] = np.nan
    draws[:, 0] = np.nan  # a cell no draw reached
    draws[:, 1] = 2.5  # a constant cell
    draws[1:, 2] = np.nan  # a cell with a single draw
    quantiles = (0.025, 0.975, 0.5, 0.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanquantile(draws, quantiles, axis=0)
    for want, got in zip(expected, nan_percentiles(draws, quantiles), strict=True):
        assert np.array_equal(got, want, equal_nan=True)
