"""Sampling error: a Poisson bootstrap of respondents, vectorised over cells and draws.

Each draw gives every respondent a random count from Poisson(1), the number of times they
are drawn (the Poisson bootstrap: resampling with replacement without fixing the sample
size, whose variance for a weighted mean matches the usual sum(w^2)/sum(w)^2 formula),
multiplied by the design weight; a cell whose draw picks nobody gives NaN for that draw.
The same count is used for a respondent's answers in both bands, so the draws keep the
correlation between a zone's day and night means, which the night-minus-day gap needs.
The per-cell sums are one sparse matrix product per chunk of draws, so 100k respondents x
500 draws take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import poisson, sampling

from observatory.index.design import rao_wu_multipliers

_CHUNK = 32
#: Cap (in matrix entries) on the per-row counts multiplied at once: the group cells' rows
#: (respondents x groupings x zone and city) times 32 draws took 800 MB on the benchmark.
_ROW_ENTRIES = 8_000_000
#: Poisson(1) counts by inversion of the generator's uniforms through a guide table
#: (scipy's UNU.RAN DGT: exact to the doubles' precision over 0-29, beyond which the mass
#: is below 1e-30): 3.5x faster than `Generator.poisson`, the bootstrap's largest cost
#: (issue 18; 50M counts 1.47 -> 0.42 s).
_POISSON_TABLE = None


def poisson_counts(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Poisson(1) counts of `shape` from `rng` (by inversion: one uniform per count)."""
    global _POISSON_TABLE  # noqa: PLW0603 (built once: its set-up is the same every time)
    if _POISSON_TABLE is None:
        _POISSON_TABLE = sampling.DiscreteGuideTable(poisson.pmf(np.arange(30), 1.0))
    return _POISSON_TABLE.rvs(shape, random_state=rng)


@dataclass(frozen=True)
class BootstrapSums:
    """Weighted score and weight totals per cell and draw: means are `score / weight`."""

    score: np.ndarray  # (draws, cells)
    weight: np.ndarray  # (draws, cells)

    def means(self) -> np.ndarray:
        """Bootstrap means per draw and cell (NaN for cells without respondents)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.score / self.weight


def bootstrap_sums(
    respondents: pd.DataFrame,
    cell: np.ndarray,
    n_cells: int,
    draws: int,
    rng: np.random.Generator,
    *,
    by_person: bool = False,
) -> BootstrapSums:
    """Poisson-bootstrap the weighted sums of every cell.

    Args:
        respondents: one row per respondent x cell, with `person` (an id shared by the
            rows of one respondent, e.g. across bands), `score` and `weight`; with
            `psu` and `stratum` columns the draws are Rao-Wu's over PSUs within strata.
        cell: the cell position (0..n_cells-1) of each row.
        n_cells: number of cells.
        draws: number of bootstrap draws.
        rng: the seeded generator (builds are deterministic).
        by_person: sum each respondent's rows of a cell before the draws (the same
            totals up to rounding, without expanding the counts to every row; for
            callers whose rows repeat people many times, e.g. the group cells).

    Returns:
        Score and weight totals per draw and cell.
    """
    person = pd.factorize(respondents["person"])[0]
    designed = "psu" in respondents and "stratum" in respondents
    weight = respondents["weight"].to_numpy(dtype=float)
    score = respondents["score"].to_numpy(dtype=float)
    n_people = int(person.max()) + 1 if len(person) else 0
    rows = person if by_person and not designed else np.arange(len(respondents))
    shape = (n_cells, n_people if by_person and not designed else len(respondents))
    by_score = sparse.csr_matrix((weight * score, (cell, rows)), shape=shape)
    by_weight = sparse.csr_matrix((weight, (cell, rows)), shape=shape)
    score_sums = np.zeros((draws, n_cells))
    weight_sums = np.zeros((draws, n_cells))
    if designed:  # Rao-Wu: multipliers per PSU within strata (design.py)
        _, first = np.unique(pd.factorize(respondents["psu"])[0], return_index=True)
        strata = pd.factorize(respondents["stratum"])[0][first]
        unit = pd.factorize(respondents["psu"])[0]
    # draws multiplied together: each draw's column of the product is computed on its own,
    # so splitting a chunk changes no figure, only how many rows x draws are held at once
    step = max(1, min(_CHUNK, _ROW_ENTRIES // max(shape[1], 1)))
    for start in range(0, draws, _CHUNK):
        size = min(_CHUNK, draws - start)
        if designed:
            per_unit, of_row = rao_wu_multipliers(strata, size, rng), unit
        else:
            per_unit, of_row = poisson_counts((n_people, size), rng), person
        for j in range(0, size, step):
            g = per_unit[:, j : j + step].astype(float)
            g = g if by_person and not designed else g[of_row]
            part = slice(start + j, start + min(j + step, size))
            score_sums[part] = (by_score @ g).T
            weight_sums[part] = (by_weight @ g).T
    return BootstrapSums(score_sums, weight_sums)


def nan_percentiles(draws: np.ndarray, quantiles: tuple[float, ...]) -> list[np.ndarray]:
    """`numpy.nanquantile(draws, q, axis=0)` (linear interpolation) for every q, computed
    with one sort of all columns instead of one call per column (NaN for a column with
    no finite draw)."""
    ordered = np.sort(draws, axis=0)  # NaN last
    n = (~np.isnan(draws)).sum(axis=0)
    cols = np.arange(draws.shape[1])
    out = []
    for q in quantiles:
        at = q * np.maximum(n - 1, 0)
        low = np.floor(at).astype(np.int64)
        high = np.minimum(low + 1, np.maximum(n - 1, 0))
        t = at - low
        a, b = ordered[low, cols], ordered[high, cols]
        with np.errstate(invalid="ignore"):
            diff = b - a
            value = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)  # numpy's _lerp
        out.append(np.where(n > 0, value, np.nan))
    return out
