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

import numpy as np
from scipy.stats import rankdata

from observatory.config import IndexConfig
from observatory.index.aggregate import aggregate, components, scheme_weights


@dataclass(frozen=True)
class PerceptionModel:
    """Point estimates and the pieces the perception draws are built from, on the grid."""

    point: np.ndarray  # (B, T, Z) shrunk, or modelled where no respondents
    raw: np.ndarray  # (B, T, Z) raw means
    variance: np.ndarray  # D, sampling variance of the raw means
    gamma: np.ndarray  # weight on the zone's own mean
    city_mean: np.ndarray  # (B, T)
    city_mean_var: np.ndarray  # (B, T)
    modelled: np.ndarray  # (B, T, Z) bool
    model_rmse: float


@dataclass(frozen=True)
class Variants:
    """The method variant of each draw."""

    normalisation: np.ndarray  # (R,) method names
    weighting: np.ndarray  # (R,) scheme names
    weights: np.ndarray  # (R, 3) the scheme's weights, jittered
    aggregation: np.ndarray  # (R,) method names


def perception_draws(
    model: PerceptionModel, boot_means: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draws of each cell's true perception: (R, B, T, Z), clipped to 0-100.

    theta = gamma * raw* + (1 - gamma) * (city mean + its error) + N(0, gamma (1-gamma) D):
    the bootstrap mean raw* carries the sampling error, the last term the uncertainty of
    where the truth lies between the zone's own mean and the city's (together they give
    the Fay-Herriot posterior variance gamma * D). Modelled cells draw from N(prediction,
    CV RMSE^2). The bootstrap deviations are rescaled to the variance D the shrinkage
    assumes (as in Rao and Wu's rescaling bootstrap: resampling n people understates the
    variance by about (n-1)/n), keeping their shape and the day-night correlation.
    Where resampling cannot vary a cell (a single respondent, or everyone gave the same
    answer) or a draw picked nobody, raw* is drawn from N(raw, D) instead.
    """
    r = boot_means.shape[0]
    g, var = model.gamma, np.nan_to_num(model.variance)
    own = model.raw + _rescaled(boot_means - model.raw, var)
    own = np.where(np.isnan(own), model.raw + np.sqrt(var) * rng.standard_normal(own.shape), own)
    city = model.city_mean + np.sqrt(np.nan_to_num(model.city_mean_var)) * rng.standard_normal(
        (r, *model.city_mean.shape)
    )
    pull = np.where(g < 1.0, (1.0 - g) * np.nan_to_num(city)[..., None], 0.0)
    spread = np.sqrt(np.clip(g * (1.0 - g) * var, 0.0, None)) * rng.standard_normal(
        boot_means.shape
    )
    theta = g * own + pull + spread
    modelled = model.point + np.nan_to_num(model.model_rmse) * rng.standard_normal(boot_means.shape)
    theta = np.where(model.modelled, modelled, theta)
    return np.clip(theta, 0.0, 100.0)


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
    perception: np.ndarray,
    variants: Variants,
    goalposts: Mapping[str, tuple[float, float]],
) -> np.ndarray:
    """The index of each draw `(R, B, T, Z)` under that draw's method variant."""
    index = np.empty(perception.shape)
    for start in range(0, perception.shape[0], _DRAW_CHUNK):
        part = slice(start, start + _DRAW_CHUNK)
        chunk = Variants(
            variants.normalisation[part],
            variants.weighting[part],
            variants.weights[part],
            variants.aggregation[part],
        )
        index[part] = _composite_draws(indicators, perception[part], chunk, goalposts)
    return index


def _composite_draws(
    indicators: Mapping[str, np.ndarray],
    perception: np.ndarray,
    variants: Variants,
    goalposts: Mapping[str, tuple[float, float]],
) -> np.ndarray:
    comps = np.empty((*perception.shape, 3))
    for method in np.unique(variants.normalisation):
        sel = variants.normalisation == method
        comps[sel] = components({**indicators, "perception": perception[sel]}, method, goalposts)
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


def ranks(index: np.ndarray, published: np.ndarray) -> np.ndarray:
    """Rank of each published cell within its band-month (1 = highest index), NaN otherwise."""
    masked = np.where(published, -index, np.nan)
    return rankdata(masked, axis=-1, method="min", nan_policy="omit")


def first_order_sensitivity(draws: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Share of each cell's variance over the draws explained by one method choice.

    The first-order (main-effect) index Var(E[index | choice]) / Var(index), estimated
    from the draws grouped by the choice they made; NaN where the index does not vary.
    """
    overall = draws.mean(axis=0)
    between = np.zeros(draws.shape[1:])
    for label in np.unique(labels):
        sel = labels == label
        between += sel.mean() * (draws[sel].mean(axis=0) - overall) ** 2
    total = draws.var(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, between / total, np.nan)


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
