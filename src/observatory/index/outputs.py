"""Turn the index result (arrays on the grid) into the idx tables the marts read."""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatory.config import IndexConfig
from observatory.index.engine import IndexResult
from observatory.index.grid import BANDS, KEYS, Grid

#: The columns of each table drawn by the Monte Carlo (the intervals, and the p-values and
#: flags taken from draws): an incremental build draws only its open months' and carries
#: the other months' from the last build (`steps._carry_drawn`); the rest are point figures.
DRAWN_COLUMNS = {
    "idx_composite": [
        "index_ci_low",
        "index_ci_high",
        "perception_ci_low",
        "perception_ci_high",
        "index_rank_ci_low",
        "index_rank_ci_high",
        "change_ci_low",
        "change_ci_high",
        "index_method_low",
        "index_method_high",
        "change_p_value",
        "is_change_significant",
    ],
    "idx_day_night_gap": [
        "index_gap_ci_low",
        "index_gap_ci_high",
        "perception_gap_ci_low",
        "perception_gap_ci_high",
    ],
    "idx_fear_gap": ["fear_gap_ci_low", "fear_gap_ci_high", "fear_gap_p_value", "is_fear_gap"],
    "idx_city": ["city_perception_ci_low", "city_perception_ci_high"],
}


def result_tables(
    result: IndexResult, grid: Grid, cells: pd.DataFrame, expected: np.ndarray, cfg: IndexConfig
) -> dict[str, pd.DataFrame]:
    """The idx tables of the composite step, by name.

    Args:
        result: the computed index.
        grid: the grid the result lives on.
        cells: the cell rows the grid was built from (their order is kept).
        expected: the fear-gap baseline per cell row (its interval is in the result).
        cfg: the index settings (recorded in idx_method).
    """
    return {
        "idx_composite": _cells(result, grid, cells, expected),
        "idx_day_night_gap": _zone_periods(
            grid,
            index_gap=result.day_night_index,
            perception_gap=result.day_night_perception,
        ),
        "idx_fear_gap": _zone_periods(grid, fear_gap=result.fear_gap).assign(
            fear_gap_p_value=result.fear_gap_p_value.ravel(),
            is_fear_gap=result.is_fear_gap.ravel(),
        ),
        "idx_city": _band_periods(grid, city_perception=result.city_perception).assign(
            **{f"sensitivity_{k}": v.ravel() for k, v in result.sensitivity.items()},
            **{f"sensitivity_total_{k}": v.ravel() for k, v in result.sensitivity_total.items()},
        ),
        "idx_method": _method(result, cfg),
    }


def _cells(
    result: IndexResult, grid: Grid, cells: pd.DataFrame, expected: np.ndarray
) -> pd.DataFrame:
    out = cells[KEYS].copy()
    for i, name in enumerate(("perception", "incidents", "environment")):
        out[f"{name}_component"] = grid.rows(result.components[..., i])
    columns = {
        "index": ("index_value", "index_ci_low", "index_ci_high"),
        "perception": ("perception_value", "perception_ci_low", "perception_ci_high"),
        "rank": ("index_rank", "index_rank_ci_low", "index_rank_ci_high"),
        "change": ("change_vs_previous", "change_ci_low", "change_ci_high"),
    }
    for attr, names in columns.items():
        for name, values in zip(names, getattr(result, attr), strict=True):
            out[name] = grid.rows(values)
    out = out.drop(columns="perception_value")
    out["index_method_low"] = grid.rows(result.method_band[0])
    out["index_method_high"] = grid.rows(result.method_band[1])
    out["change_p_value"] = grid.rows(result.change_p_value)
    out["is_change_significant"] = grid.rows(result.is_change_significant)
    ranked = ~np.isnan(result.rank[0])
    out["n_ranked"] = grid.rows(np.broadcast_to(ranked.sum(axis=-1, keepdims=True), ranked.shape))
    for name in ("index_rank", "index_rank_ci_low", "index_rank_ci_high"):
        out[name] = out[name].round().astype("Int64")
    out["expected_perception"] = expected
    out["expected_perception_ci_low"] = grid.rows(result.expected[1])
    out["expected_perception_ci_high"] = grid.rows(result.expected[2])
    out["fear_gap"] = grid.rows(result.fear_gap_by_band)
    return out


def _zone_periods(grid: Grid, **intervals: tuple[np.ndarray, ...]) -> pd.DataFrame:
    t, z = np.meshgrid(np.arange(grid.shape[1]), np.arange(grid.shape[2]), indexing="ij")
    keys = {
        "zone_id": np.asarray(grid.zones, dtype=object)[z.ravel()],
        "period_start": [grid.periods[i].date() for i in t.ravel()],
    }
    return _with_intervals(pd.DataFrame(keys), intervals)


def _band_periods(grid: Grid, **intervals: tuple[np.ndarray, ...]) -> pd.DataFrame:
    b, t = np.meshgrid(np.arange(grid.shape[0]), np.arange(grid.shape[1]), indexing="ij")
    keys = {
        "time_band": np.asarray(BANDS, dtype=object)[b.ravel()],
        "period_start": [grid.periods[i].date() for i in t.ravel()],
    }
    return _with_intervals(pd.DataFrame(keys), intervals)


def _with_intervals(
    out: pd.DataFrame, intervals: dict[str, tuple[np.ndarray, ...]]
) -> pd.DataFrame:
    for name, (point, low, high) in intervals.items():
        out[name] = point.ravel()
        out[f"{name}_ci_low"] = low.ravel()
        out[f"{name}_ci_high"] = high.ravel()
    return out


def _method(result: IndexResult, cfg: IndexConfig) -> pd.DataFrame:
    w, pca = result.weights, result.pca_weights
    return pd.DataFrame(
        {
            "normalisation": [cfg.normalisation],
            "weighting": [cfg.weighting],
            "aggregation": [cfg.aggregation],
            "shrinkage": [cfg.shrinkage],
            "w_perception": [w[0]],
            "w_incidents": [w[1]],
            "w_environment": [w[2]],
            "pca_w_perception": [pca[0]],
            "pca_w_incidents": [pca[1]],
            "pca_w_environment": [pca[2]],
            "confidence": [cfg.confidence],
            "uncertainty_draws": [cfg.uncertainty_draws],
            "seed": [cfg.seed],
            "min_respondents": [cfg.min_respondents],
            "between_var_estimator": [cfg.between_var_estimator],
            "between_var_months": [cfg.between_var_months],
            "fdr_q": [cfg.fdr_q],
            "incident_dispersion_day": [result.incident_dispersion[0]],
            "incident_dispersion_night": [result.incident_dispersion[1]],
        }
    )
