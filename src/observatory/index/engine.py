"""The index computation on the grid: point estimates, draws and every interval derived.

Pure: arrays in, arrays out. The default method gives the published value of each cell;
the Monte Carlo draws (montecarlo.py) give the intervals of the index, of its rank, and of
the derived figures (night-minus-day gap, change on the previous month, fear gap, city
perception), each taken from the same draws so correlations are respected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from observatory.config import IndexConfig
from observatory.index.aggregate import aggregate, components, pca_weights, scheme_weights
from observatory.index.bootstrap import BootstrapSums
from observatory.index.flags import benjamini_hochberg, change_p_values, deficit_p_values
from observatory.index.incidents import dispersion, ratio_draws, severity_unit
from observatory.index.montecarlo import (
    PerceptionModel,
    Variants,
    composite,
    default_variants,
    draw_variants,
    factorial_sobol,
    onto_nominal_scale,
    perception_draws,
    ranks,
    widen_to_direct,
)
from observatory.index.montecarlo import percentile_interval as _interval

Interval = tuple[np.ndarray, np.ndarray, np.ndarray]  # point, low, high


@dataclass(frozen=True)
class IndexInputs:
    """Everything the index needs, on the (band, period, zone) grid."""

    indicators: dict[str, np.ndarray]  # incident_ratio, lux, footfall, noise_db
    incident_severity: np.ndarray  # (B, T, Z) observed severity totals behind the ratio
    incident_severity_sq: np.ndarray  # (B, T, Z) sums of squared severities
    incident_expected: np.ndarray  # (B, T, Z) expected severity at the city's rate
    perception: PerceptionModel
    published: np.ndarray  # cells not suppressed
    expected: np.ndarray  # the perception incidents and lighting predict (fear-gap baseline)
    expected_draws: np.ndarray  # (R, B, T, Z) the baseline refitted on resampled zones
    boot: BootstrapSums  # (R, B*T*Z)
    single: np.ndarray  # cells with one respondent (the bootstrap cannot vary them)
    previous: np.ndarray  # (T,) position of the previous month, -1 if absent
    fear_window: np.ndarray  # (T, T) 1 where month s is pooled into month t's fear gap
    city_perception: np.ndarray  # (B, T) design-weighted mean over all respondents


@dataclass(frozen=True)
class IndexResult:
    """Published values and their intervals."""

    components: np.ndarray  # (B, T, Z, 3)
    weights: np.ndarray  # (3,) the default weights
    pca_weights: np.ndarray  # (3,)
    index: Interval  # (B, T, Z) with the 90% sampling interval
    method_band: tuple[np.ndarray, np.ndarray]  # (B, T, Z) spread over method variants
    perception: Interval  # (B, T, Z)
    rank: Interval  # (B, T, Z)
    day_night_index: Interval  # (T, Z) night minus day
    day_night_perception: Interval  # (T, Z)
    change: Interval  # (B, T, Z) on the previous month
    change_p_value: np.ndarray  # (B, T, Z)
    is_change_significant: np.ndarray  # (B, T, Z) Benjamini-Hochberg per period
    incident_dispersion: np.ndarray  # (B,) 1/k, 0 = Poisson
    expected: Interval  # (B, T, Z) the fear-gap baseline and its interval
    fear_gap: Interval  # (T, Z) mean over bands and the window's months
    fear_gap_p_value: np.ndarray  # (T, Z) one-sided: the gap is not below -fear_gap_min_points
    is_fear_gap: np.ndarray  # (T, Z) Benjamini-Hochberg per period, interval below the minimum
    fear_gap_by_band: np.ndarray  # (B, T, Z)
    city_perception: Interval  # (B, T)
    sensitivity: dict[str, np.ndarray]  # (B, T) mean first-order index per method choice
    sensitivity_total: dict[str, np.ndarray]  # (B, T) mean total-order index per choice


def compute_index(inp: IndexInputs, cfg: IndexConfig, rng: np.random.Generator) -> IndexResult:
    """Compute the index with the default method and its uncertainty by Monte Carlo.

    Args:
        inp: the inputs on the grid, including the bootstrap sums.
        cfg: the index settings (method, level, Monte Carlo alternatives).
        rng: the seeded generator of the Monte Carlo (independent of the bootstrap's).
    """
    shape = inp.published.shape
    draws = inp.boot.score.shape[0]
    point = inp.perception.point
    indicators = {**inp.indicators, "perception": point}
    comps = components(indicators, cfg.normalisation, cfg.goalposts, inp.published)
    pca = pca_weights(comps[inp.published & ~inp.perception.modelled])
    weights = scheme_weights(cfg.weighting, cfg.weights, pca)
    index = aggregate(comps, weights, cfg.aggregation)

    # (1) sampling: perception and incident counts drawn, the default method throughout
    boot_means = inp.boot.means().reshape(draws, *shape)
    boot_means[:, inp.single] = np.nan
    theta = perception_draws(inp.perception, boot_means, rng)
    if cfg.perception_interval == "robust":
        theta = widen_to_direct(theta, inp.perception, cfg.confidence)
    observed = np.where(np.isnan(inp.indicators["incident_ratio"]), np.nan, inp.incident_severity)
    unit = severity_unit(observed, inp.incident_severity_sq)
    inv_k = dispersion(observed, unit)
    ratio = ratio_draws(
        inp.indicators["incident_ratio"],
        observed,
        inp.incident_expected,
        unit,
        inv_k,
        draws=draws,
        rng=rng,
    )
    fixed = {k: v for k, v in inp.indicators.items() if k != "incident_ratio"}
    index_draws = composite(
        fixed,
        {"perception": theta, "incident_ratio": ratio},
        default_variants(cfg, weights, draws),
        cfg.goalposts,
        inp.published,
    )
    # (2) method: every variant at the point estimates, on the default method's scale
    variants = draw_variants(cfg, pca, draws, rng)
    method_band = _interval(_at_point(inp, point, variants, index, cfg), cfg.confidence)

    level = cfg.confidence
    rank_draws = ranks(index_draws, inp.published)
    prev = inp.previous
    has_prev = prev >= 0
    change = np.where(has_prev[:, None], index - index[:, prev], np.nan)
    change = np.where(inp.published & inp.published[:, prev], change, np.nan)
    change_draws = np.where(has_prev[:, None], index_draws - index_draws[:, :, prev], np.nan)
    change_p = change_p_values(change, change_draws)
    period_of = np.broadcast_to(np.arange(shape[1])[None, :, None], shape)
    significant = benjamini_hochberg(change_p, period_of, cfg.fdr_q).reshape(shape)
    eligible = inp.published & ~inp.perception.modelled & ~np.isnan(inp.expected)
    gap_by_band = np.where(eligible, point - inp.expected, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):  # band-months without answers
        city = inp.boot.score.reshape(draws, *shape).sum(-1) / inp.boot.weight.reshape(
            draws, *shape
        ).sum(-1)
    first, total = _sensitivity(inp, point, pca, index, cfg)
    return IndexResult(
        components=comps,
        weights=weights,
        pca_weights=pca,
        index=(index, *_interval(index_draws, level)),
        method_band=method_band,
        perception=(point, *_interval(theta, level)),
        rank=(ranks(index, inp.published), *_interval(rank_draws, level)),
        day_night_index=(
            index[1] - index[0],
            *_interval(index_draws[:, 1] - index_draws[:, 0], level),
        ),
        day_night_perception=(point[1] - point[0], *_interval(theta[:, 1] - theta[:, 0], level)),
        change=(change, *_interval(change_draws, level)),
        change_p_value=change_p,
        is_change_significant=significant,
        incident_dispersion=inv_k,
        expected=(inp.expected, *_interval(inp.expected_draws, level)),
        **_fear_gaps(point, theta, inp, eligible, cfg),
        fear_gap_by_band=gap_by_band,
        city_perception=(inp.city_perception, *_interval(city, level)),
        sensitivity=first,
        sensitivity_total=total,
    )


def _at_point(
    inp: IndexInputs, point: np.ndarray, variants: Variants, index: np.ndarray, cfg: IndexConfig
) -> np.ndarray:
    """The index of every method variant at the point estimates, on the default scale."""
    at_point = composite(
        inp.indicators,
        {"perception": np.broadcast_to(point, (len(variants.normalisation), *point.shape))},
        variants,
        cfg.goalposts,
        inp.published,
    )
    return onto_nominal_scale(at_point, at_point, index, inp.published)


_CHOICES = ("normalisation", "weighting", "aggregation")


def _sensitivity(
    inp: IndexInputs, point: np.ndarray, pca: np.ndarray, index: np.ndarray, cfg: IndexConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """First- and total-order Sobol indices of each method choice, averaged over zones.

    Every combination of the configured normalisations, weightings and aggregations is
    evaluated at the point estimates (a full factorial, no weight jitter).
    """
    levels = (cfg.mc_normalisations, cfg.mc_weightings, cfg.mc_aggregations)
    combos = [(n, w, a) for n in levels[0] for w in levels[1] for a in levels[2]]
    variants = Variants(
        np.array([c[0] for c in combos]),
        np.array([c[1] for c in combos]),
        np.stack([scheme_weights(c[1], cfg.weights, pca) for c in combos]),
        np.array([c[2] for c in combos]),
    )
    values = _at_point(inp, point, variants, index, cfg)
    values = values.reshape(*(len(lv) for lv in levels), *point.shape)
    first, total = factorial_sobol(values, len(levels))
    return (
        {c: _mean_over_zones(first[i], inp.published) for i, c in enumerate(_CHOICES)},
        {c: _mean_over_zones(total[i], inp.published) for i, c in enumerate(_CHOICES)},
    )


def _fear_gaps(
    point: np.ndarray, theta: np.ndarray, inp: IndexInputs, eligible: np.ndarray, cfg: IndexConfig
) -> dict[str, object]:
    """The pooled fear gap, its interval, its p-value and the FDR-controlled flag.

    The gap of a zone-month is perception minus the baseline, averaged over the eligible
    cells (published, survey-based, with a baseline) of both bands and the months of the
    window; a zone-month gets one only if one of its own cells counts and none of its
    cells is withheld. Each draw pairs a perception draw with a baseline refit, so the
    interval holds both the survey's sampling error and the fit's. The p-value tests
    "the gap is at least -fear_gap_min_points" (one-sided, normal on the draws' spread);
    the p-values of a month are adjusted together (Benjamini-Hochberg at fdr_q), and a
    zone-month is flagged when it is a discovery and its whole interval lies below the
    minimum.
    """
    window = inp.fear_window
    count = np.einsum("bsz,ts->tz", eligible.astype(float), window)
    shown = eligible.any(axis=0) & (count > 0) & inp.published.all(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.einsum("bsz,ts->tz", np.where(eligible, point - inp.expected, 0.0), window) / count
        draws = (
            np.einsum("rbsz,ts->rtz", np.where(eligible, theta - inp.expected_draws, 0.0), window)
            / count
        )
    gap = np.where(shown, gap, np.nan)
    draws = np.where(shown, draws, np.nan)
    low, high = _interval(draws, cfg.confidence)
    p = deficit_p_values(gap, draws, cfg.fear_gap_min_points)
    period_of = np.broadcast_to(np.arange(gap.shape[0])[:, None], gap.shape)
    discovery = benjamini_hochberg(p, period_of, cfg.fdr_q).reshape(gap.shape)
    return {
        "fear_gap": (gap, low, high),
        "fear_gap_p_value": p,
        "is_fear_gap": discovery & (high < -cfg.fear_gap_min_points),
    }


def _mean_over_zones(values: np.ndarray, published: np.ndarray) -> np.ndarray:
    keep = published & ~np.isnan(values)
    count = keep.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(keep, values, 0.0).sum(axis=-1) / count, np.nan)
