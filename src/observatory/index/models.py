"""Models fitted with scikit-learn: modelled perception, and the fear-gap baseline.

* `model_perception` estimates perception where a zone-band-month has no respondents, from
  its incidents and sensors, with a gradient-boosted tree model fitted on published cells
  and its error measured by cross-validation that leaves whole zones out (the error of
  predicting a zone the model has not seen, which is the use).
* `fear_baseline` is the fear-gap baseline: the perception a zone's incident rate and
  lighting predict, by least squares per band with a month effect on the zones that
  follow a common line (a high-breakdown start, then zones far from it left out), so the
  zones we look for do not drag the baseline toward them; a zone bootstrap gives its
  uncertainty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, TheilSenRegressor
from sklearn.model_selection import GroupKFold, cross_val_predict
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

FEATURES = [
    "is_night",
    "log_incident_ratio",
    "log_incident_rate",
    "lux_mean",
    "footfall_per_hour",
    "noise_leq_db",
]
MIN_TRAINING_CELLS = 20
MIN_TRAINING_ZONES = 3


@dataclass(frozen=True)
class ModelledPerception:
    """Predictions for every cell, and the model's cross-validated error."""

    prediction: np.ndarray
    cv_rmse: float
    #: The same cross-validated error of the null model (the band-month mean of the
    #: training folds): the bar the model must clear to be published.
    null_rmse: float = float("nan")
    #: Each cell's conformalised prediction interval (NaN until `prediction_intervals`).
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    #: The fitted model (None where there was too little to learn from).
    model: HistGradientBoostingRegressor | None = None

    def with_interval(self, low: np.ndarray, high: np.ndarray) -> ModelledPerception:
        """The same model with each cell's prediction interval."""
        return ModelledPerception(
            self.prediction, self.cv_rmse, self.null_rmse, low, high, self.model
        )

    def beats_null(self, margin: float) -> bool:
        """Whether the model's CV error is at least `margin` (a share) below the null's."""
        return bool(self.cv_rmse <= (1.0 - margin) * self.null_rmse)


def _features(cells: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "is_night": (cells["time_band"] == "night").astype(float),
            "log_incident_ratio": np.log1p(cells["incident_ratio"].astype(float)),
            "log_incident_rate": np.log1p(cells["incident_rate_per_1000"].astype(float)),
            "lux_mean": cells["lux_mean"].astype(float),
            "footfall_per_hour": cells["footfall_per_hour"].astype(float),
            "noise_leq_db": cells["noise_leq_db"].astype(float),
        }
    )[FEATURES]


def model_perception(
    cells: pd.DataFrame,
    train: np.ndarray,
    seed: int,
    cv: tuple[float, float] | None = None,
    fitted: HistGradientBoostingRegressor | None = None,
) -> ModelledPerception:
    """Fit perception ~ incidents + sensors on the `train` cells; predict every cell.

    Args:
        cells: indicator rows (time_band, zone_id, incident_ratio, incident_rate_per_1000,
            lux_mean, footfall_per_hour, noise_leq_db, perception_raw, n_effective).
        train: boolean mask of the cells to learn from (published, enough respondents).
        seed: random seed of the model.
        cv: the (model, null) cross-validated RMSEs of an earlier fit on the same
            training cells (an incremental build: `observatory.increment.unchanged`),
            which are then not measured again.
        fitted: with `cv`, that earlier fit's model (`perception_model(seed)` fitted on
            the same training cells: the same model, a fit being deterministic), which
            then predicts without being fitted again.

    Returns:
        Predictions (NaN everywhere if there is too little to learn from) and the RMSE of
        zone-grouped 5-fold cross-validation against the raw means.
    """
    x, y = _features(cells), cells["perception_raw"].to_numpy(dtype=float)
    x = x.loc[:, x[train].notna().any()]  # a city without some sensor kind has no such feature
    zones = cells["zone_id"].to_numpy()
    n_zones = len(np.unique(zones[train]))
    if train.sum() < MIN_TRAINING_CELLS or n_zones < MIN_TRAINING_ZONES:
        log.warning("too few published cells to model perception (%d): not modelled", train.sum())
        return ModelledPerception(np.full(len(cells), np.nan), float("nan"))
    model = perception_model(seed)
    weight = cells["n_effective"].to_numpy(dtype=float)[train]
    folds = GroupKFold(n_splits=min(5, n_zones))
    # One thread: on a few thousand cells OpenMP buys nothing, and on a busy machine its
    # spinning threads make the fit many times slower.
    with threadpool_limits(limits=1):
        if cv is None:
            cv_pred = cross_val_predict(
                model,
                x[train],
                y[train],
                groups=zones[train],
                cv=folds,
                params={"sample_weight": weight},
            )
        if cv is not None and fitted is not None:
            model = fitted
        else:
            model.fit(x[train], y[train], sample_weight=weight)
    if cv is None:
        cv_rmse = float(np.sqrt(np.average((cv_pred - y[train]) ** 2, weights=weight)))
        null_pred = _null_predictions(cells[train], folds, zones[train])
        null_rmse = float(np.sqrt(np.average((null_pred - y[train]) ** 2, weights=weight)))
    else:
        cv_rmse, null_rmse = cv
    log.info(
        "modelled perception: %d training cells, CV RMSE %.1f points (band-month mean: %.1f)",
        train.sum(),
        cv_rmse,
        null_rmse,
    )
    return ModelledPerception(
        np.clip(model.predict(x), 0.0, 100.0), cv_rmse, null_rmse, model=model
    )


def perception_model(seed: int, quantile: float | None = None) -> HistGradientBoostingRegressor:
    """The perception model (or, with `quantile`, one bound of its prediction interval),
    unfitted."""
    return HistGradientBoostingRegressor(
        **({"loss": "quantile", "quantile": quantile} if quantile is not None else {}),
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=8,
        min_samples_leaf=20,
        l2_regularization=1.0,
        # 64 bins per feature is plenty for a few thousand cells, and with sample weights
        # scikit-learn finds each bin edge by a weighted percentile: 255 bins made binning
        # three quarters of the build's modelling time (2.3 of 3.1 s on the XL benchmark).
        max_bins=64,
        random_state=seed,
    )


def prediction_intervals(
    cells: pd.DataFrame,
    train: np.ndarray,
    seed: int,
    level: float,
    margin: float | None = None,
    *,
    fitted: tuple[HistGradientBoostingRegressor, HistGradientBoostingRegressor] | None = None,
) -> tuple[np.ndarray, np.ndarray, float, tuple[HistGradientBoostingRegressor, ...]]:
    """Each cell's prediction interval: conformalised quantile regression, zone-grouped;
    the conformal margin (given `margin`, that of an earlier fit on the same training
    cells, the calibration is not run again: the quantile models are, unless that fit's
    two models are given as `fitted`); and the two fitted quantile models.

    Quantile gradient-boosted models (scikit-learn, loss="quantile") give each cell its own
    lower and upper bound; the zone-grouped cross-validated predictions of the training
    cells calibrate them (Romano, Patterson and Candes 2019): with conformity scores
    E = max(low - y, y - high), both bounds move out by the ceil((n + 1) level)-th smallest
    E, so the interval covers a new zone's raw mean at the nominal level whatever the
    quantile models' own calibration. Raw means carry sampling noise, so for the true
    perception the intervals are conservative.
    """
    x, y = _features(cells), cells["perception_raw"].to_numpy(dtype=float)
    x = x.loc[:, x[train].notna().any()]
    zones = cells["zone_id"].to_numpy()
    # three folds: the calibration needs out-of-zone scores, not the fivefold error estimate
    folds = GroupKFold(n_splits=min(3, len(np.unique(zones[train]))))
    alpha = 1.0 - level
    bounds, oof, models = [], [], []
    with threadpool_limits(limits=1):
        for i, q in enumerate((alpha / 2.0, 1.0 - alpha / 2.0)):
            model = perception_model(seed, quantile=q)
            if margin is None:
                oof.append(
                    cross_val_predict(model, x[train], y[train], groups=zones[train], cv=folds)
                )
            if margin is not None and fitted is not None:
                model = fitted[i]
            else:
                model.fit(x[train], y[train])
            models.append(model)
            bounds.append(model.predict(x))
    if margin is None:
        score = np.maximum(oof[0] - y[train], y[train] - oof[1])
        rank = min(len(score), int(np.ceil((len(score) + 1) * level)))
        margin = float(np.sort(score)[rank - 1])
    low = np.clip(bounds[0] - margin, 0.0, 100.0)
    return low, np.clip(bounds[1] + margin, 0.0, 100.0), margin, tuple(models)


def _null_predictions(train: pd.DataFrame, folds: GroupKFold, zones: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions of the null model: the weighted band-month mean of the
    other folds (the band mean where the other folds lack that month), same folds."""
    frame = train[["time_band", "period_start", "perception_raw", "n_effective"]].reset_index(
        drop=True
    )
    frame["wy"] = frame["perception_raw"] * frame["n_effective"]
    out = np.full(len(frame), np.nan)
    for fit_rows, test_rows in folds.split(frame, groups=zones):
        fit = frame.iloc[fit_rows]
        test = frame.iloc[test_rows]
        cell = fit.groupby(["time_band", "period_start"])[["wy", "n_effective"]].sum()
        band = fit.groupby("time_band")[["wy", "n_effective"]].sum()
        keys = pd.MultiIndex.from_frame(test[["time_band", "period_start"]])
        by_cell = cell.reindex(keys)
        by_band = band.reindex(test["time_band"])
        mean = (by_cell["wy"] / by_cell["n_effective"]).to_numpy()
        fallback = (by_band["wy"] / by_band["n_effective"]).to_numpy()
        out[test_rows] = np.where(np.isnan(mean), fallback, mean)
    return out


#: Environment indicators the fear-gap baseline holds, by term name and cell column. A
#: band where no training cell has one (lux by day) leaves it out; a cell of a band that
#: uses it but lacks it has no baseline there (its lighting is not guessed).
BASELINE_ENVIRONMENT = {"lux_mean": "lux_mean"}
#: A zone is left out of the baseline's fit when its mean residual lies more than this
#: many robust standard deviations (1.4826 MAD over zones) from the zones' median.
TRIM_MADS = 3.0
MAX_TRIM_ROUNDS = 20


@dataclass(frozen=True)
class FearBaseline:
    """The perception each cell's incidents and environment predict, with its uncertainty."""

    expected: np.ndarray  # (N,) per cell row; NaN where the cell has no baseline
    draws: np.ndarray  # (R, N) the same from refits on zones resampled with replacement
    is_kept: np.ndarray  # (N,) the training cells the fit learnt from
    #: per band and term: estimate, ci_low, ci_high, n_cells, n_zones, n_zones_left_out
    terms: pd.DataFrame


def fear_baseline(
    cells: pd.DataFrame, train: np.ndarray, refits: int, level: float, rng: np.random.Generator
) -> FearBaseline:
    """The fear-gap baseline: the perception a cell's incident rate and lighting predict.

    Per band, pooled over zones and months: weighted least squares (weights = precision
    1 / (A + D)) of the raw perception on log(1 + incident ratio), each environment
    indicator of BASELINE_ENVIRONMENT the band measures, and one effect per month, fitted
    on the training cells of the zones that follow a common line (`_kept_zones`): the
    zones the fear gap looks for, afraid beyond their incidents or unworried despite
    them, must not bend the line they are measured against.

    Its uncertainty is a cluster bootstrap over zones: `refits` times, the kept zones
    are drawn with replacement and the least squares refitted (the set of kept zones held).

    Args:
        cells: indicator rows with time_band, period_start, zone_id, incident_ratio, the
            environment columns, perception_raw and precision.
        train: cells to learn from (published, enough respondents, survey-based).
        refits: bootstrap refits (one per Monte Carlo draw).
        level: the level of the coefficients' intervals.
        rng: the bootstrap's generator.
    """
    n = len(cells)
    expected = np.full(n, np.nan)
    draws = np.full((refits, n), np.nan)
    kept = np.zeros(n, dtype=bool)
    terms: list[pd.DataFrame] = []
    month = pd.to_datetime(cells["period_start"]).dt.strftime("%Y-%m").to_numpy()
    zones = cells["zone_id"].to_numpy()
    y = cells["perception_raw"].to_numpy(dtype=float)
    weight = cells["precision"].to_numpy(dtype=float)
    for band in ("day", "night"):
        in_band = (cells["time_band"] == band).to_numpy()
        core, names = _covariates(cells, in_band & train)
        has_terms = in_band & ~np.isnan(core).any(axis=1)
        trained = has_terms & train
        if trained.sum() < MIN_TRAINING_CELLS or len(np.unique(zones[trained])) < (
            MIN_TRAINING_ZONES
        ):
            log.warning("fear gap: too few published %s cells to fit the baseline", band)
            continue
        x, _ = _with_months(core, month, month[trained])
        kept[trained] = _kept_zones(
            core[trained], x[trained], y[trained], weight[trained], zones[trained]
        )
        fit = kept & in_band
        x, months = _with_months(core, month, month[fit])
        rows = has_terms & np.isin(month, months)  # a month's effect needs cells to learn from
        ols = LinearRegression().fit(x[fit], y[fit], sample_weight=weight[fit])
        expected[rows] = ols.predict(x[rows])
        coef = _bootstrap_refits(
            x[fit], y[fit], weight[fit], zones=zones[fit], refits=refits, rng=rng
        )
        draws[:, rows] = coef[:, :1] + coef[:, 1:] @ x[rows].T
        terms.append(
            pd.DataFrame(
                {
                    "time_band": band,
                    "term": ["intercept", *names, *(f"month_{m}" for m in months[1:])],
                    "estimate": [ols.intercept_, *ols.coef_],
                    "ci_low": np.quantile(coef, (1.0 - level) / 2.0, axis=0),
                    "ci_high": np.quantile(coef, (1.0 + level) / 2.0, axis=0),
                    "n_cells": int(fit.sum()),
                    "n_zones": len(np.unique(zones[fit])),
                    "n_zones_left_out": len(np.unique(zones[trained & ~kept])),
                }
            )
        )
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _TERM_COLUMNS.items()})
    return FearBaseline(
        expected, draws, kept, pd.concat(terms, ignore_index=True) if terms else empty
    )


_TERM_COLUMNS = {
    "time_band": "object",
    "term": "object",
    "estimate": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "n_cells": "int64",
    "n_zones": "int64",
    "n_zones_left_out": "int64",
}


def _covariates(cells: pd.DataFrame, fit_rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The baseline's incident and environment terms (every row) for one band."""
    columns = {"log1p_incident_ratio": np.log1p(cells["incident_ratio"].to_numpy(dtype=float))}
    for name, column in BASELINE_ENVIRONMENT.items():
        values = cells[column].to_numpy(dtype=float)
        if (~np.isnan(values[fit_rows])).any():  # the band measures it
            columns[name] = values
    return np.column_stack(list(columns.values())), list(columns)


def _with_months(
    core: np.ndarray, month: np.ndarray, fitted: np.ndarray
) -> tuple[np.ndarray, list]:
    """The covariates and one indicator per month of `fitted` but the first (the reference)."""
    months = sorted(np.unique(fitted))
    dummies = [(month == m).astype(float) for m in months[1:]]
    return np.column_stack([core, *dummies]), months


def _kept_zones(
    core: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray, zones: np.ndarray
) -> np.ndarray:
    """Which cells the baseline learns from: those of zones that follow the common fit.

    Start: Theil-Sen (scikit-learn, every subset of zones enumerated where there are few,
    so deterministic) on the zones' precision-weighted means, a high-breakdown line that
    a cluster of fear zones at the low-incident end cannot tilt. Then, until the set of
    zones is stable: leave out the zones whose weighted mean residual lies more than
    TRIM_MADS robust SDs (1.4826 MAD) from the median zone's, and refit least squares
    (every term, month effects included) on the cells of the zones kept.
    """
    codes, zone_of = np.unique(zones, return_inverse=True)
    total = np.bincount(zone_of, w)
    means = np.column_stack([np.bincount(zone_of, w * c) / total for c in core.T])
    start = TheilSenRegressor(random_state=0, max_subpopulation=10_000)
    start.fit(means, np.bincount(zone_of, w * y) / total)
    fitted = start.predict(core)
    kept = np.ones(len(codes), dtype=bool)
    for _ in range(MAX_TRIM_ROUNDS):
        mean = np.bincount(zone_of, w * (y - fitted)) / total
        centre = np.median(mean[kept])
        spread = 1.4826 * np.median(np.abs(mean[kept] - centre))
        now = np.abs(mean - centre) <= TRIM_MADS * spread
        if _ > 0 and np.array_equal(now, kept):
            break
        kept = now
        rows = kept[zone_of]
        fitted = LinearRegression().fit(x[rows], y[rows], sample_weight=w[rows]).predict(x)
    else:
        log.warning("fear gap: the baseline's zones did not settle; the last round is used")
    return kept[zone_of]


#: Refits solved together in `_bootstrap_refits` (a block of (refits, p, p) Gram matrices).
_REFIT_BLOCK = 256


def _bootstrap_refits(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    zones: np.ndarray,
    refits: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(refits, 1 + p) intercept and coefficients refitted on zones drawn with replacement.

    Each refit is the weighted least squares of every cell, its weight multiplied by how
    often its zone was drawn. The refits are solved together, by their normal equations on
    columns centred and scaled over the cells (which keeps the systems well conditioned):
    a scikit-learn fit per refit took 20 ms, nearly all of it overhead (issue 18). A refit
    whose system is singular (a month or covariate no drawn zone has) is fitted by
    scikit-learn as before (its minimum-norm solution)."""
    codes, zone_of = np.unique(zones, return_inverse=True)
    # the zones drawn, one call per refit as before (the same stream, the same draws)
    times = np.stack(
        [
            np.bincount(rng.integers(0, len(codes), len(codes)), minlength=len(codes))
            for _ in range(refits)
        ]
    )
    centre = np.average(x, axis=0, weights=w) if len(x) else np.zeros(x.shape[1])
    scale = np.sqrt(np.average((x - centre) ** 2, axis=0, weights=w)) if len(x) else 1.0
    scale = np.where(scale > 0, scale, 1.0)
    z = np.column_stack([np.ones(len(x)), (x - centre) / scale])
    out = np.empty((refits, 1 + x.shape[1]))
    for first in range(0, refits, _REFIT_BLOCK):
        sw = w[None, :] * times[first : first + _REFIT_BLOCK][:, zone_of]  # (r, n)
        gram = np.einsum("rn,np,nq->rpq", sw, z, z, optimize=True)
        rhs = (sw * y[None, :]) @ z
        bad = ~(np.linalg.cond(gram) < 1e12)  # singular (or nearly): no unique solution
        beta = np.zeros_like(rhs)
        if (~bad).any():
            beta[~bad] = np.linalg.solve(gram[~bad], rhs[~bad][..., None])[..., 0]
        coef = beta[:, 1:] / scale
        out[first : first + len(beta), 0] = beta[:, 0] - coef @ centre
        out[first : first + len(beta), 1:] = coef
        for i in np.flatnonzero(bad):  # as before: scikit-learn's minimum-norm fit
            keep = sw[i] > 0
            ols = LinearRegression().fit(x[keep], y[keep], sample_weight=sw[i][keep])
            out[first + i, 0], out[first + i, 1:] = ols.intercept_, ols.coef_
    return out
