"""Uncertainty: Monte Carlo over sampling error and method choices, like COINr.

Every draw (1) re-estimates each cell's perception from a bootstrap of its respondents,
passed through the same shrinkage, and (2) picks a method variant: a normalisation, a
weighting scheme with jittered weights, and an aggregation. The 90% interval of a cell is
the 5th-95th percentile of its index over the draws; ranks are taken within each draw, so
rank intervals show how firmly a zone's position holds.

Variants put the index on different scales (a percentile rank is not a goalpost score), so
each draw's index is carried onto the default method's scale: in every band-month it is
shifted and stretched so that the variant's index *at the point estimates* has the mean and
spread over zones that the default index has. What survives is how the variant reorders and
spaces the zones, plus the sampling error. See docs/methodology.md, "Uncertainty".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy.stats import rankdata

from observatory.config import IndexConfig
from observatory.index.aggregate import aggregate, components, scheme_weights
from observatory.index.streams import MonthStreams

#: The perception draws' stream of each month (streams.py).
_STREAM = "perception"


@dataclass(frozen=True)
class PerceptionModel:
    """Point estimates and the pieces the perception draws are built from, on the grid."""

    point: np.ndarray  # (B, T, Z) shrunk, or modelled where no respondents
    raw: np.ndarray  # (B, T, Z) raw means
    variance: np.ndarray  # D, sampling variance of the raw means
    gamma: np.ndarray  # weight on the zone's own mean
    mse: np.ndarray  # Fay-Herriot MSE (g1 + g2 + 2 g3 - bias), the draws' target variance
    target: np.ndarray  # (B, T, Z) what each cell is shrunk toward (the city mean, or x' beta)
    target_var: np.ndarray  # (B, T, Z) its variance
    modelled: np.ndarray  # (B, T, Z) bool
    model_rmse: float
    model_low: np.ndarray | None = None  # (B, T, Z) modelled cells' prediction interval
    model_high: np.ndarray | None = None
    level: float = 0.90  # the level of that interval


@dataclass(frozen=True)
class Variants:
    """The method variant of each draw."""

    normalisation: np.ndarray  # (R,) method names
    weighting: np.ndarray  # (R,) scheme names
    weights: np.ndarray  # (R, 3) the scheme's weights, jittered
    aggregation: np.ndarray  # (R,) method names


def perception_draws(
    model: PerceptionModel, boot_means: np.ndarray, streams: MonthStreams
) -> np.ndarray:
    """Draws of each cell's true perception: (R, B, T, Z), clipped to 0-100.

    theta = gamma * raw* + (1 - gamma) * (target + its error) + N(0, gamma (1-gamma) D):
    the bootstrap mean raw* carries the sampling error, the last term the uncertainty of
    where the truth lies between the zone's own mean and the city's (together they give
    the Fay-Herriot posterior variance gamma * D). Modelled cells draw from N(prediction,
    CV RMSE^2). The bootstrap deviations are rescaled to the variance D the shrinkage
    assumes (as in Rao and Wu's rescaling bootstrap: resampling n people understates the
    variance by about (n-1)/n), keeping their shape and the day-night correlation.
    Where resampling cannot vary a cell (a single respondent, or everyone gave the same
    answer) or a draw picked nobody, raw* is drawn from N(raw, D) instead. Every normal
    of month t comes from month t's stream (streams.py), so a month's draws do not
    depend on the months drawn with it.
    """
    r = boot_means.shape[0]
    g, var = model.gamma, np.nan_to_num(model.variance)
    # the arrays are (draws x cells): summed in place, and each freed once added, so that
    # five years of 200 zones hold a few of them at a time (the same figures, issue 18)
    own = model.raw + _rescaled(boot_means - model.raw, var)
    fallback = streams.normal(_STREAM, own.shape, axis=2)
    fallback *= np.sqrt(var)
    fallback += model.raw
    np.copyto(own, fallback, where=np.isnan(own))
    del fallback
    # one normal per band-month: exact for the city mean, and for covariates it treats the
    # target's errors in the zones of a band-month as perfectly correlated
    shared = streams.normal(_STREAM, (r, *model.target.shape[:-1]), axis=2)[..., None]
    city = model.target + np.sqrt(np.nan_to_num(model.target_var)) * shared
    pull = np.where(g < 1.0, (1.0 - g) * np.nan_to_num(city), 0.0)
    del city
    theta = g * own
    del own
    theta += pull
    del pull
    spread = streams.normal(_STREAM, boot_means.shape, axis=2)
    spread *= np.sqrt(np.clip(g * (1.0 - g) * var, 0.0, None))
    theta += spread
    del spread
    # the estimation of A (g3 and the adjustment's bias term) widens the posterior
    extra_var = np.clip(
        np.nan_to_num(model.mse) - g * var - (1.0 - g) ** 2 * np.nan_to_num(model.target_var),
        0.0,
        None,
    )
    extra = streams.normal(_STREAM, boot_means.shape, axis=2)
    extra *= np.sqrt(np.where(np.isnan(g), 0.0, extra_var))
    theta += extra
    del extra
    modelled = _modelled_draws(model, boot_means.shape, streams)
    np.copyto(theta, modelled, where=np.broadcast_to(model.modelled, theta.shape))
    del modelled
    return np.clip(theta, 0.0, 100.0, out=theta)


def _modelled_draws(
    model: PerceptionModel, shape: tuple[int, ...], streams: MonthStreams
) -> np.ndarray:
    """Modelled cells: a two-piece normal through the cell's own prediction interval
    (its 5th and 95th percentiles are the interval's ends), else N(prediction, CV RMSE^2)."""
    z = streams.normal(_STREAM, shape, axis=2)
    rmse = np.nan_to_num(model.model_rmse)
    if model.model_low is None or model.model_high is None:
        return model.point + rmse * z
    crit = NormalDist().inv_cdf(1.0 - (1.0 - model.level) / 2.0)
    below = np.where(np.isnan(model.model_low), rmse, (model.point - model.model_low) / crit)
    above = np.where(np.isnan(model.model_high), rmse, (model.model_high - model.point) / crit)
    return model.point + np.where(z < 0, np.maximum(below, 0.0), np.maximum(above, 0.0)) * z


def widen_to_direct(theta: np.ndarray, model: PerceptionModel, level: float) -> np.ndarray:
    """Stretch each shrunk cell's draws so its interval also spans the direct interval.

    The Fay-Herriot interval covers the truth at the nominal rate *on average over zones*,
    but it is centred on a value pulled toward the city mean, so for the zones furthest from
    the mean it misses on the far side. The direct interval (raw mean +- z sqrt(D)) covers
    every zone at the nominal rate, atypical or not. The published interval is the hull of
    the two: draws below the point are stretched linearly (about the point) so their lower
    percentile reaches the lower of the two intervals' ends, and likewise above. The point
    estimate stays the shrunk one; the draws' ranks, and so the pairing of draws across
    cells, are kept.
    """
    alpha = 1.0 - level
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    low, high = percentile_interval(theta, level)
    half = z * np.sqrt(np.nan_to_num(model.variance))
    direct_low = np.clip(model.raw - half, 0.0, 100.0)
    direct_high = np.clip(model.raw + half, 0.0, 100.0)
    point = model.point
    shrunk = ~model.modelled & (model.gamma < 1.0) & ~np.isnan(model.raw)
    with np.errstate(invalid="ignore", divide="ignore"):
        down = np.where(
            shrunk & (point - low > 1e-9),
            np.maximum(point - np.fmin(low, direct_low), 0.0) / (point - low),
            1.0,
        )
        up = np.where(
            shrunk & (high - point > 1e-9),
            np.maximum(np.fmax(high, direct_high) - point, 0.0) / (high - point),
            1.0,
        )
    stretched = point + (theta - point) * np.where(theta < point, down, up)
    return np.clip(stretched, 0.0, 100.0)


def draw_variants(
    cfg: IndexConfig, pca: np.ndarray, draws: int, rng: np.random.Generator
) -> Variants:
    """Sample a method variant per draw, uniformly over the configured alternatives."""
    norm = rng.choice(np.array(cfg.mc_normalisations), draws)
    schemes = rng.choice(np.array(cfg.mc_weightings), draws)
    base = np.stack([scheme_weights(s, cfg.weights, pca) for s in schemes])
    noise = rng.uniform(1.0 - cfg.mc_weight_noise, 1.0 + cfg.mc_weight_noise, base.shape)
    weights = base * noise / (base * noise).sum(axis=1, keepdims=True)
    return Variants(norm, schemes, weights, rng.choice(np.array(cfg.mc_aggregations), draws))


#: Draws computed together in `composite`: each draw is independent (normalisation groups
#: are the zones of one band and period), and chunking keeps the temporaries (components
#: per draw, cell and indicator) from growing with the number of draws times periods.
_DRAW_CHUNK = 50


def composite(
    indicators: Mapping[str, np.ndarray],
    drawn: Mapping[str, np.ndarray],
    variants: Variants,
    goalposts: Mapping[str, tuple[float, float]],
    published: np.ndarray | None = None,
) -> np.ndarray:
    """The index of each draw `(R, B, T, Z)` under that draw's method variant.

    Args:
        indicators: indicators fixed across draws, (B, T, Z).
        drawn: indicators that vary by draw, (R, B, T, Z); must include "perception".
        variants: the method variant of each draw.
        goalposts: (worst, best) per indicator.
        published: cells whose survey figures are published (see `components`).
    """
    shape = drawn["perception"].shape
    index = np.empty(shape)
    for start in range(0, shape[0], _DRAW_CHUNK):
        part = slice(start, start + _DRAW_CHUNK)
        chunk = Variants(
            variants.normalisation[part],
            variants.weighting[part],
            variants.weights[part],
            variants.aggregation[part],
        )
        index[part] = _composite_draws(
            indicators, {k: v[part] for k, v in drawn.items()}, chunk, goalposts, published
        )
    return index


def default_variants(cfg: IndexConfig, weights: np.ndarray, draws: int) -> Variants:
    """Every draw on the default method (the sampling-only Monte Carlo)."""
    return Variants(
        np.full(draws, cfg.normalisation),
        np.full(draws, cfg.weighting),
        np.tile(weights, (draws, 1)),
        np.full(draws, cfg.aggregation),
    )


def _composite_draws(
    indicators: Mapping[str, np.ndarray],
    drawn: Mapping[str, np.ndarray],
    variants: Variants,
    goalposts: Mapping[str, tuple[float, float]],
    published: np.ndarray | None,
) -> np.ndarray:
    perception = drawn["perception"]
    comps = np.empty((*perception.shape, 3))
    for method in np.unique(variants.normalisation):
        sel = variants.normalisation == method
        comps[sel] = components(
            {**indicators, **{k: v[sel] for k, v in drawn.items()}}, method, goalposts, published
        )
    index = np.empty(perception.shape)
    extra = (None,) * (perception.ndim - 1)
    for method in np.unique(variants.aggregation):
        sel = variants.aggregation == method
        index[sel] = aggregate(comps[sel], variants.weights[sel][(slice(None), *extra)], method)
    return index


def onto_nominal_scale(
    draws: np.ndarray, at_point: np.ndarray, nominal: np.ndarray, published: np.ndarray
) -> np.ndarray:
    """Carry each draw's index onto the default method's scale, per band-month.

    Args:
        draws: index per draw (R, ..., Z).
        at_point: the same variants' index at the point estimates (R, ..., Z).
        nominal: the default method's index (..., Z).
        published: cells whose values set the scale (suppressed cells must not shape the
            intervals of published ones).
    """
    m_pt, s_pt = _moments(np.where(published, at_point, np.nan))
    m_nom, s_nom = _moments(np.where(published, nominal, np.nan))
    stretch = np.where((s_pt > 0) & (s_nom > 0), s_nom / np.where(s_pt > 0, s_pt, 1.0), 1.0)
    return (draws - m_pt) * stretch + m_nom


#: Band-months ranked at once: rankdata's temporaries over every draw of five years of
#: 200 zones took 160 MB (issue 18), and with 20,000 rows at once 140 MB of a 13-month
#: block's were still the 5-year run's peak (session 9); each band-month is ranked on its
#: own either way.
_RANK_ROWS = 4_000


def ranks(index: np.ndarray, published: np.ndarray) -> np.ndarray:
    """Rank of each published cell within its band-month (1 = highest index), NaN otherwise."""
    masked = np.where(published, -index, np.nan)
    if masked.size <= _RANK_ROWS * max(masked.shape[-1], 1):
        return rankdata(masked, axis=-1, method="min", nan_policy="omit")
    rows = masked.reshape(-1, masked.shape[-1])
    out = np.empty(rows.shape)
    for start in range(0, len(rows), _RANK_ROWS):
        part = slice(start, start + _RANK_ROWS)
        out[part] = rankdata(rows[part], axis=-1, method="min", nan_policy="omit")
    return out.reshape(masked.shape)


def factorial_sobol(values: np.ndarray, n_factors: int) -> tuple[np.ndarray, np.ndarray]:
    """First- and total-order Sobol indices of each factor, exact on a full factorial.

    Args:
        values: the index under every combination of the method choices, with one
            leading axis per choice (levels equally likely), then the cells.
        n_factors: the number of leading choice axes.

    Returns:
        (first, total), each of shape (choices, *cells): first-order
        Var(E[Y | X_i]) / Var(Y) and total-order E[Var(Y | X_~i)] / Var(Y); NaN where the
        index does not vary. With every combination evaluated the variance decomposition
        is exact, so no sampling estimator (Saltelli, Jansen) is needed.
    """
    axes = tuple(range(n_factors))
    variance = values.var(axis=axes)
    first, total = [], []
    for i in axes:
        others = tuple(a for a in axes if a != i)
        first.append(values.mean(axis=others).var(axis=0))
        total.append(values.var(axis=i).mean(axis=tuple(range(n_factors - 1))))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(variance > 1e-12, variance, np.nan)
        return np.stack(first) / scale, np.stack(total) / scale


#: Bootstrap spread (points^2) below which a cell's draws carry no information (everyone
#: gave the same answer): rescaling them would only amplify rounding noise.
_NO_SPREAD = 1e-12


def _rescaled(deviations: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Scale each cell's draws of deviations (axis 0) to the given variance.

    Cells whose draws do not vary come back NaN, so the caller draws them parametrically.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells without draws stay NaN
        spread = np.nanmean(deviations**2, axis=0)
    varies = spread > _NO_SPREAD
    scale = np.sqrt(variance / np.where(varies, spread, 1.0))
    return np.where(varies, deviations * scale, np.nan)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    valid = ~np.isnan(x)
    n = valid.sum(axis=-1, keepdims=True)
    mean = np.where(valid, x, 0.0).sum(axis=-1, keepdims=True) / np.maximum(n, 1)
    var = np.where(valid, (x - mean) ** 2, 0.0).sum(axis=-1, keepdims=True) / np.maximum(n, 1)
    return mean, np.sqrt(var)


def percentile_interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the draws (axis 0), ignoring NaN draws; NaN if none.

    The same linear interpolation as np.nanquantile, vectorised (nanquantile loops in
    Python over cells).
    """
    alpha = 1.0 - level
    ordered = np.sort(draws, axis=0)  # NaN sorts last
    valid = (~np.isnan(draws)).sum(axis=0)
    bounds = []
    for q in (alpha / 2.0, 1.0 - alpha / 2.0):
        pos = q * np.maximum(valid - 1, 0)
        below = np.floor(pos).astype(int)
        above = np.minimum(below + 1, np.maximum(valid - 1, 0))
        low = np.take_along_axis(ordered, below[None], axis=0)[0]
        high = np.take_along_axis(ordered, above[None], axis=0)[0]
        bounds.append(np.where(valid > 0, low + (pos - below) * (high - low), np.nan))
    return bounds[0], bounds[1]
