"""Survey design: the Rao-Wu bootstrap reproduces the ultimate-cluster variance of a cluster
sample, and the pooled design effect finds the clustering a simple-random formula misses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatory.index.bootstrap import bootstrap_sums
from observatory.index.design import design_effects, rao_wu_multipliers


def _cluster_sample(rng: np.random.Generator, strata: int, psus: int, size: int) -> pd.DataFrame:
    rows = []
    for h in range(strata):
        for c in range(psus):
            effect = rng.normal(0.0, 6.0)
            for j in range(size):
                rows.append(
                    (f"s{h}", f"s{h}c{c}", f"s{h}c{c}p{j}", 60 + effect + rng.normal(0, 15))
                )
    return pd.DataFrame(rows, columns=["stratum", "psu", "person", "score"]).assign(weight=1.0)


def test_rao_wu_multipliers_resample_n_minus_one_psus_per_stratum() -> None:
    rng = np.random.default_rng(3)
    stratum = np.array([0, 0, 0, 0, 1, 1, 2])  # stratum 2 has a single PSU
    g = rao_wu_multipliers(stratum, 5000, rng)
    assert g.shape == (7, 5000)
    # in a stratum of 4 PSUs, 3 picks x 4/3: the multipliers sum to 4 in every draw
    np.testing.assert_allclose(g[:4].sum(axis=0), 4.0)
    np.testing.assert_allclose(g[4:6].sum(axis=0), 2.0)
    np.testing.assert_allclose(g[6], 1.0)  # cannot be resampled
    # unbiased: mean multiplier 1 (standard error about 0.015 over 5000 draws)
    np.testing.assert_allclose(g.mean(axis=1)[:6], 1.0, atol=0.06)


def test_rao_wu_bootstrap_variance_matches_the_ultimate_cluster_formula() -> None:
    rng = np.random.default_rng(11)
    frame = _cluster_sample(rng, strata=1, psus=8, size=12)
    cell = np.zeros(len(frame), dtype=int)
    boot = bootstrap_sums(frame, cell, 1, 4000, np.random.default_rng(5))
    boot_var = np.var(boot.means()[:, 0])
    psu_means = frame.groupby("psu")["score"].mean()
    z = (psu_means - frame["score"].mean()) / len(psu_means)  # equal-size PSUs
    ultimate = len(psu_means) / (len(psu_means) - 1) * np.sum(z**2)
    assert abs(boot_var / ultimate - 1.0) < 0.1, (boot_var, ultimate)
    # ... far above the simple-random variance the Poisson bootstrap of people would give
    srs = frame["score"].var() / len(frame)
    assert ultimate > 1.5 * srs


def test_design_effect_is_pooled_per_band_month_and_one_without_psus() -> None:
    cells = pd.DataFrame(
        {
            "within_var": [200.0, 300.0, 250.0, 250.0],
            "n_effective": [20.0, 30.0, 25.0, 25.0],
            "cluster_var": [20.0, 30.0, np.nan, np.nan],
        }
    )
    deff = design_effects(cells, np.array([0, 0, 1, 1]), 2)
    # (20 + 30) / (200 / 20 + 300 / 30) = 2.5; the second band-month has no PSUs
    np.testing.assert_allclose(deff, [2.5, 2.5, 1.0, 1.0])
