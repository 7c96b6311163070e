"""The index computation on the grid: point estimates, draws and every interval derived.

Pure: arrays in, arrays out. The default method gives the published value of each cell;
the Monte Carlo draws (montecarlo.py) give the intervals of the index, of its rank, and of
the derived figures (night-minus-day gap, change on the previous month, fear gap, city
perception), each taken from the same draws so correlations are respected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

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
from observatory.index.streams import MonthStreams

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


def compute_index(
    inp: IndexInputs,
    cfg: IndexConfig,
    streams: MonthStreams,
    variants_rng: np.random.Generator,
    months: Sequence[int] | None = None,
) -> IndexResult:
    """Compute the index with the default method and its uncertainty by Monte Carlo.

    Args:
        inp: the inputs on the grid, including the bootstrap sums (of the drawn months,
            `drawn_months`; zero elsewhere).
        cfg: the index settings (method, level, Monte Carlo alternatives).
        streams: the month-by-month generators of the draws (streams.py).
        variants_rng: the generator of the method variants (one per draw, every month).
        months: positions on the period axis whose intervals are wanted (None: all).
            Only they and the months their windows read (`drawn_months`) are drawn;
            every point estimate, and the pooled ones (the PCA weights, the incidents'
            dispersion), are over every month. The other months' intervals are NaN
            (their flags False): an incremental build carries them from the last build.
    """
    shape = inp.published.shape
    draws = inp.boot.score.shape[0]
    level = cfg.confidence
    point = inp.perception.point
    indicators = {**inp.indicators, "perception": point}
    comps = components(indicators, cfg.normalisation, cfg.goalposts, inp.published)
    pca = pca_weights(comps[inp.published & ~inp.perception.modelled])
    weights = scheme_weights(cfg.weighting, cfg.weights, pca)
    index = aggregate(comps, weights, cfg.aggregation)
    observed = np.where(np.isnan(inp.indicators["incident_ratio"]), np.nan, inp.incident_severity)
    unit = severity_unit(observed, inp.incident_severity_sq)
    inv_k = dispersion(observed, unit)
    variants = draw_variants(cfg, pca, draws, variants_rng)

    prev = inp.previous
    has_prev = prev >= 0
    change = np.where(has_prev[:, None], index - index[:, prev], np.nan)
    change = np.where(inp.published & inp.published[:, prev], change, np.nan)
    eligible = inp.published & ~inp.perception.modelled & ~np.isnan(inp.expected)
    gap_by_band = np.where(eligible, point - inp.expected, np.nan)
    fear_point = _fear_gap_point(point, inp.expected, inp, eligible)[0]
    first, total = _sensitivity(inp, point, pca, index, cfg)

    wanted = np.arange(shape[1]) if months is None else np.asarray(months, dtype=int)
    sub = drawn_months(inp.previous, inp.fear_window, wanted)
    s = _at_months(inp, sub)
    s_point, s_index, s_change = point[:, sub], index[:, sub], change[:, sub]
    s_shape = s.published.shape
    s_streams = streams.at(sub)

    # (1) sampling: perception and incident counts drawn, the default method throughout
    boot_means = s.boot.means().reshape(draws, *s_shape)
    boot_means[:, s.single] = np.nan
    theta = perception_draws(s.perception, boot_means, s_streams)
    del boot_means
    if cfg.perception_interval == "robust":
        theta = widen_to_direct(theta, s.perception, level)
    ratio = ratio_draws(
        s.indicators["incident_ratio"],
        observed[:, sub],
        s.incident_expected,
        unit,
        inv_k,
        draws=draws,
        rng=s_streams,
    )
    fixed = {k: v for k, v in s.indicators.items() if k != "incident_ratio"}
    index_draws = composite(
        fixed,
        {"perception": theta, "incident_ratio": ratio},
        default_variants(cfg, weights, draws),
        cfg.goalposts,
        s.published,
    )
    del ratio
    # (2) method: every variant at the point estimates, on the default method's scale
    method_band = _interval(_at_point(s, s_point, variants, s_index, cfg), level)

    rank_draws = ranks(index_draws, s.published)
    s_prev = s.previous
    change_draws = np.where((s_prev >= 0)[:, None], index_draws - index_draws[:, :, s_prev], np.nan)
    change_p = change_p_values(s_change, change_draws)
    period_of = np.broadcast_to(np.arange(s_shape[1])[None, :, None], s_shape)
    significant = benjamini_hochberg(change_p, period_of, cfg.fdr_q).reshape(s_shape)
    with np.errstate(invalid="ignore", divide="ignore"):  # band-months without answers
        city = s.boot.score.reshape(draws, *s_shape).sum(-1) / s.boot.weight.reshape(
            draws, *s_shape
        ).sum(-1)
    fear = _fear_gaps(s_point, theta, s, eligible[:, sub], cfg)

    keep = np.isin(sub, wanted)
    put = _Placer(sub[keep], keep, shape[1])
    return IndexResult(
        components=comps,
        weights=weights,
        pca_weights=pca,
        index=(index, *put.each(_interval(index_draws, level), axis=1)),
        method_band=tuple(put.each(method_band, axis=1)),
        perception=(point, *put.each(_interval(theta, level), axis=1)),
        rank=(ranks(index, inp.published), *put.each(_interval(rank_draws, level), axis=1)),
        day_night_index=(
            index[1] - index[0],
            *put.each(_interval(index_draws[:, 1] - index_draws[:, 0], level), axis=0),
        ),
        day_night_perception=(
            point[1] - point[0],
            *put.each(_interval(theta[:, 1] - theta[:, 0], level), axis=0),
        ),
        change=(change, *put.each(_interval(change_draws, level), axis=1)),
        change_p_value=put(change_p, axis=1),
        is_change_significant=put(significant, axis=1, fill=False),
        incident_dispersion=inv_k,
        expected=(inp.expected, *_interval(inp.expected_draws, level)),
        fear_gap=(fear_point, *put.each(fear["fear_gap"][1:], axis=0)),
        fear_gap_p_value=put(fear["fear_gap_p_value"], axis=0),
        is_fear_gap=put(fear["is_fear_gap"], axis=0, fill=False),
        fear_gap_by_band=gap_by_band,
        city_perception=(inp.city_perception, *put.each(_interval(city, level), axis=1)),
        sensitivity=first,
        sensitivity_total=total,
    )


def drawn_months(previous: np.ndarray, window: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The period positions the Monte Carlo draws for the intervals of `wanted`: those
    months, the month before each (the change), and the months of their fear-gap window."""
    wanted = np.asarray(wanted, dtype=int)
    before = previous[wanted]
    windows = np.flatnonzero(window[wanted].sum(axis=0) > 0) if len(wanted) else wanted
    return np.unique(np.concatenate([wanted, before[before >= 0], windows])).astype(int)


def _at_months(inp: IndexInputs, sub: np.ndarray) -> IndexInputs:
    """The inputs of the months at positions `sub` only (a grid of those months); `inp`
    itself when that is every month (a full build: no copy of its arrays)."""
    if np.array_equal(sub, np.arange(inp.published.shape[1])):
        return inp

    def cut(a: np.ndarray, axis: int = 1) -> np.ndarray:
        return np.take(a, sub, axis=axis) if a.ndim > axis else a

    draws = inp.boot.score.shape[0]
    b, t, z = inp.published.shape
    boot = BootstrapSums(
        *(
            np.take(x.reshape(draws, b, t, z), sub, axis=2).reshape(draws, -1)
            for x in (inp.boot.score, inp.boot.weight)
        )
    )
    model = inp.perception
    position = np.full(t, -1)
    position[sub] = np.arange(len(sub))
    before = inp.previous[sub]
    return IndexInputs(
        indicators={k: cut(v) for k, v in inp.indicators.items()},
        incident_severity=cut(inp.incident_severity),
        incident_severity_sq=cut(inp.incident_severity_sq),
        incident_expected=cut(inp.incident_expected),
        perception=replace(
            model,
            **{
                f.name: cut(getattr(model, f.name))
                for f in fields(model)
                if isinstance(getattr(model, f.name), np.ndarray)
            },
        ),
        published=cut(inp.published),
        expected=cut(inp.expected),
        expected_draws=cut(inp.expected_draws, axis=2),
        boot=boot,
        single=cut(inp.single),
        previous=np.where(before >= 0, position[np.maximum(before, 0)], -1),
        fear_window=inp.fear_window[np.ix_(sub, sub)],
        city_perception=cut(inp.city_perception),
    )


class _Placer:
    """Put a sub-grid's figures of the wanted months back on the whole period axis."""

    def __init__(self, at: np.ndarray, keep: np.ndarray, periods: int) -> None:
        self.at, self.keep, self.periods = at, keep, periods

    def __call__(self, values: np.ndarray, *, axis: int, fill: object = np.nan) -> np.ndarray:
        shape = list(values.shape)
        shape[axis] = self.periods
        out = np.full(shape, fill, dtype=values.dtype if fill is False else float)
        index = (slice(None),) * axis
        out[(*index, self.at)] = np.compress(self.keep, values, axis=axis)
        return out

    def each(self, values: Sequence[np.ndarray], *, axis: int) -> list[np.ndarray]:
        return [self(v, axis=axis) for v in values]


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
    gap, count, shown = _fear_gap_point(point, inp.expected, inp, eligible)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = (
            np.einsum(
                "rbsz,ts->rtz",
                np.where(eligible, theta - inp.expected_draws, 0.0),
                inp.fear_window,
            )
            / count
        )
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


def _fear_gap_point(
    point: np.ndarray, expected: np.ndarray, inp: IndexInputs, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pooled fear gap of each zone-month (NaN where not shown), the count of
    eligible cells in its window, and whether it is shown (`_fear_gaps`)."""
    window = inp.fear_window
    count = np.einsum("bsz,ts->tz", eligible.astype(float), window)
    shown = eligible.any(axis=0) & (count > 0) & inp.published.all(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.einsum("bsz,ts->tz", np.where(eligible, point - expected, 0.0), window) / count
    return np.where(shown, gap, np.nan), count, shown


def _mean_over_zones(values: np.ndarray, published: np.ndarray) -> np.ndarray:
    keep = published & ~np.isnan(values)
    count = keep.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(keep, values, 0.0).sum(axis=-1) / count, np.nan)
