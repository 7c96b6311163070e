"""Survey design: design effects of cluster samples and the Rao-Wu rescaling bootstrap.

When a survey's mapping names its primary sampling units (`cluster_id`, e.g. the blocks or
streets where interviewers knocked) and optionally its strata (`stratum_id`), people of one
PSU answer alike, and a cell's mean is less certain than n independent answers suggest.

* **Design effect.** Each cell's ultimate-cluster variance (idx_perception.cluster_var) is
  noisy with 4 PSUs a cell, so it is pooled per band-month into a design effect
  deff = sum(cluster_var) / sum(s^2 / n_eff) over the cells with 2+ PSUs, which multiplies
  every D of that band-month (shrinkage.sampling_variance). Without PSUs deff is 1.
* **Rao-Wu bootstrap** (Rao and Wu 1988; Rao, Wu and Yue 1992). In every stratum of n_h
  PSUs, each draw picks n_h - 1 PSUs with replacement and gives each picked PSU the
  multiplier n_h / (n_h - 1) x times picked, shared by all its respondents (both bands).
  Strata are `stratum_id` x month where given, else zone x month (PSUs sampled per zone
  each month). A stratum with a single PSU cannot be resampled and keeps multiplier 1.
  Without PSUs the Poisson bootstrap of respondents (bootstrap.py) is used.

No maintained Python library draws these replicates in a form that scales to 100k
respondents x 500 draws without a dense weight matrix (samplics' ReplicateWeight builds
one), hence the vectorised draw here; its variance is checked against the
ultimate-cluster formula in the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def design_effects(
    cells: pd.DataFrame, groups: np.ndarray, n_groups: int, informs: np.ndarray | None = None
) -> np.ndarray:
    """Design effect per cell row: its band-month's pooled ratio (1 where no PSUs).

    Args:
        cells: rows with within_var, n_effective and cluster_var.
        groups: the band-month group number of each row.
        n_groups: number of groups.
        informs: rows whose variances the ratio is pooled from (default: all); withheld
            cells are left out, so their answers do not move published figures.
    """
    srs = cells["within_var"].to_numpy(dtype=float) / cells["n_effective"].to_numpy(dtype=float)
    clustered = cells["cluster_var"].to_numpy(dtype=float) if "cluster_var" in cells else srs * 0
    have = np.isfinite(srs) & np.isfinite(clustered) & (srs > 0)
    if informs is not None:
        have &= informs
    num = np.bincount(groups[have], weights=clustered[have], minlength=n_groups)
    den = np.bincount(groups[have], weights=srs[have], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = np.where(den > 0, num / den, 1.0)
    return deff[groups]


def rao_wu_multipliers(stratum: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Rao-Wu rescaling-bootstrap multipliers, (n_psu, draws).

    Args:
        stratum: the stratum code of each PSU (PSU i is position i).
        draws: number of draws.
        rng: seeded generator.
    """
    n_psu = len(stratum)
    order = np.argsort(stratum, kind="stable")
    strata, start, size = np.unique(stratum[order], return_index=True, return_counts=True)
    picks = np.maximum(size - 1, 0)
    owner = np.repeat(np.arange(len(strata)), picks)  # one entry per pick
    counts = np.zeros((draws, n_psu))
    for r in range(draws):
        chosen = start[owner] + np.floor(rng.random(len(owner)) * size[owner]).astype(int)
        counts[r] = np.bincount(order[chosen], minlength=n_psu)
    factor = np.where(size > 1, size / np.maximum(size - 1, 1), 1.0)
    psu_factor = np.empty(n_psu)
    psu_factor[order] = np.repeat(factor, size)
    single = np.zeros(n_psu, dtype=bool)
    single[order] = np.repeat(size == 1, size)
    out = np.where(single[None, :], 1.0, counts * psu_factor[None, :])
    return out.T
