"""Models fitted with scikit-learn: modelled perception, and the perception incidents predict.

* `model_perception` estimates perception where a zone-band-month has no respondents, from
  its incidents and sensors, with a gradient-boosted tree model fitted on published cells
  and its error measured by cross-validation that leaves whole zones out (the error of
  predicting a zone the model has not seen, which is the use).
* `expected_perception` is the fear-gap baseline: the perception a zone's incident level
  predicts, by a robust (Huber) regression per band with a month effect, so the zones we
  look for (people afraid despite few incidents) do not drag the baseline toward them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import HuberRegressor
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

    def with_interval(self, low: np.ndarray, high: np.ndarray) -> ModelledPerception:
        """The same model with each cell's prediction interval."""
        return ModelledPerception(self.prediction, self.cv_rmse, self.null_rmse, low, high)

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


def model_perception(cells: pd.DataFrame, train: np.ndarray, seed: int) -> ModelledPerception:
    """Fit perception ~ incidents + sensors on the `train` cells; predict every cell.

    Args:
        cells: indicator rows (time_band, zone_id, incident_ratio, incident_rate_per_1000,
            lux_mean, footfall_per_hour, noise_leq_db, perception_raw, n_effective).
        train: boolean mask of the cells to learn from (published, enough respondents).
        seed: random seed of the model.

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
    model = HistGradientBoostingRegressor(
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
    weight = cells["n_effective"].to_numpy(dtype=float)[train]
    folds = GroupKFold(n_splits=min(5, n_zones))
    # One thread: on a few thousand cells OpenMP buys nothing, and on a busy machine its
    # spinning threads make the fit many times slower.
    with threadpool_limits(limits=1):
        cv_pred = cross_val_predict(
            model,
            x[train],
            y[train],
            groups=zones[train],
            cv=folds,
            params={"sample_weight": weight},
        )
        model.fit(x[train], y[train], sample_weight=weight)
    cv_rmse = float(np.sqrt(np.average((cv_pred - y[train]) ** 2, weights=weight)))
    null_pred = _null_predictions(cells[train], folds, zones[train])
    null_rmse = float(np.sqrt(np.average((null_pred - y[train]) ** 2, weights=weight)))
    log.info(
        "modelled perception: %d training cells, CV RMSE %.1f points (band-month mean: %.1f)",
        train.sum(),
        cv_rmse,
        null_rmse,
    )
    return ModelledPerception(np.clip(model.predict(x), 0.0, 100.0), cv_rmse, null_rmse)


def prediction_intervals(
    cells: pd.DataFrame, train: np.ndarray, seed: int, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's prediction interval: conformalised quantile regression, zone-grouped.

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
    bounds, oof = [], []
    with threadpool_limits(limits=1):
        for q in (alpha / 2.0, 1.0 - alpha / 2.0):
            model = HistGradientBoostingRegressor(
                loss="quantile",
                quantile=q,
                max_iter=150,
                learning_rate=0.05,
                max_leaf_nodes=8,
                min_samples_leaf=20,
                l2_regularization=1.0,
                max_bins=64,
                random_state=seed,
            )
            oof.append(cross_val_predict(model, x[train], y[train], groups=zones[train], cv=folds))
            bounds.append(model.fit(x[train], y[train]).predict(x))
    score = np.maximum(oof[0] - y[train], y[train] - oof[1])
    rank = min(len(score), int(np.ceil((len(score) + 1) * level)))
    margin = float(np.sort(score)[rank - 1])
    return np.clip(bounds[0] - margin, 0.0, 100.0), np.clip(bounds[1] + margin, 0.0, 100.0)


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


def expected_perception(cells: pd.DataFrame, train: np.ndarray) -> np.ndarray:
    """The perception each cell's incident level predicts (NaN if a band cannot be fitted).

    Per band, a Huber regression of the raw perception on log(1 + incident ratio) and
    one indicator per month, fitted on the `train` cells, weighted by their precision.
    The incident slope may not be positive: if it is, the baseline drops the incidents.
    """
    expected = np.full(len(cells), np.nan)
    month = pd.to_datetime(cells["period_start"]).dt.strftime("%Y-%m").to_numpy()
    log_ratio = np.log1p(cells["incident_ratio"].to_numpy(dtype=float))
    y = cells["perception_raw"].to_numpy(dtype=float)
    weight = cells["precision"].to_numpy(dtype=float)
    for band in ("day", "night"):
        rows = (cells["time_band"] == band).to_numpy() & ~np.isnan(log_ratio)
        fit_rows = rows & train
        if fit_rows.sum() < MIN_TRAINING_CELLS:
            log.warning("fear gap: too few published %s cells to fit the baseline", band)
            continue
        rows &= np.isin(month, month[fit_rows])  # a month's effect needs cells to learn from
        months = pd.get_dummies(month, dtype=float, drop_first=True).to_numpy()
        x = np.column_stack([log_ratio, months])
        w = weight[fit_rows] / weight[fit_rows].mean()
        model = HuberRegressor(epsilon=1.35, alpha=1e-4, max_iter=1000)
        model.fit(x[fit_rows], y[fit_rows], sample_weight=w)
        if model.coef_[0] > 0:
            # More incidents cannot warrant feeling safer: a rising fit means the incident
            # level tells nothing here, so the baseline is the month's robust mean.
            log.info("fear gap (%s): incident slope > 0, baseline without incidents", band)
            x[:, 0] = 0.0
            model.fit(x[fit_rows], y[fit_rows], sample_weight=w)
        expected[rows] = model.predict(x[rows])
    return expected
