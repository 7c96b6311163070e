"""Components, weights and aggregation: normalised indicators -> the composite index.

Three components per cell, each 0-100 and higher = safer: perception, incidents (the
inverted incident ratio) and environment (the mean of the normalised lighting, footfall and
noise indicators the cell has). They are combined with weights from one of three schemes
and an arithmetic or geometric mean. See docs/methodology.md, "Weighting" and "Aggregation".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from observatory.index.normalise import Method, normalise

log = logging.getLogger(__name__)

COMPONENTS = ("perception", "incidents", "environment")
ENVIRONMENT = ("lux", "footfall", "noise_db")
Weighting = Literal["expert", "equal", "pca"]
Aggregation = Literal["arithmetic", "geometric"]
#: Geometric means floor components at 1 point: a 0 would zero the whole index.
GEOMETRIC_FLOOR = 1.0


def components(
    indicators: Mapping[str, np.ndarray],
    method: Method,
    goalposts: Mapping[str, tuple[float, float]],
    published: np.ndarray | None = None,
) -> np.ndarray:
    """Normalise the indicators and form the three components, stacked on a last axis.

    Args:
        indicators: arrays (last axis = zones of a group) named "perception",
            "incident_ratio", "lux", "footfall", "noise_db"; shapes must broadcast.
        method: the normalisation method.
        goalposts: (worst, best) per indicator name.
        published: cells whose survey figures are published. With a relative method
            (min-max, z-score, rank) the perception of withheld cells must not shape the
            scale of published ones, or differencing the published scores would recover
            it: they are left out of the group statistics and get no perception component.

    Returns:
        Array `(..., 3)`: perception, incidents and environment components (NaN if absent).
    """
    perception_values = indicators["perception"]
    if published is not None and method != "goalposts":
        perception_values = np.where(published, perception_values, np.nan)
    perception = normalise(perception_values, method, goalposts["perception"])
    incidents = normalise(indicators["incident_ratio"], method, goalposts["incident_ratio"])
    env_parts = np.stack(
        np.broadcast_arrays(*(normalise(indicators[k], method, goalposts[k]) for k in ENVIRONMENT)),
        axis=-1,
    )
    present = ~np.isnan(env_parts)
    count = present.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        environment = np.where(count > 0, np.nansum(env_parts, axis=-1) / count, np.nan)
    return np.stack(np.broadcast_arrays(perception, incidents, environment), axis=-1)


def aggregate(comps: np.ndarray, weights: np.ndarray, method: Aggregation) -> np.ndarray:
    """Combine components `(..., 3)` into the index with weights `(..., 3)` (broadcast).

    Weights are renormalised over the components a cell has; a cell without perception
    has no index (it is a perceived-security index).
    """
    w = np.where(np.isnan(comps), 0.0, np.broadcast_to(weights, comps.shape))
    total = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "arithmetic":
            value = np.nansum(w * np.nan_to_num(comps), axis=-1) / total
        elif method == "geometric":
            logs = np.log(np.maximum(np.nan_to_num(comps, nan=GEOMETRIC_FLOOR), GEOMETRIC_FLOOR))
            value = np.exp((w * logs).sum(axis=-1) / total)
        else:
            raise ValueError(f"unknown aggregation {method!r}; use arithmetic or geometric")
    return np.where(np.isnan(comps[..., 0]) | (total <= 0), np.nan, value)


def pca_weights(comps: np.ndarray) -> np.ndarray:
    """Weights from principal components, by the OECD/JRC Handbook's procedure.

    On the standardised components: keep the principal components with eigenvalue above 1
    (at least one), rotate them (varimax), square the loadings and scale them to sum to 1
    within each factor; each component takes its largest scaled squared loading times its
    factor's share of the explained variance; the weights are scaled to sum to 1. A
    component the city has no data for at all (no sensors) gets weight 0 and the others
    are derived without it; rows missing a component are left out; with fewer than 10
    complete rows, or fewer than 2 components, equal weights.
    """
    rows = comps.reshape(-1, len(COMPONENTS))
    present = ~np.isnan(rows).all(axis=0)
    rows = rows[:, present]
    rows = rows[~np.isnan(rows).any(axis=1)]
    if present.sum() < 2 or len(rows) < 10 or np.any(rows.std(axis=0) == 0):
        log.warning("PCA weights need >= 10 cells with varying components: using equal weights")
        return np.full(len(COMPONENTS), 1.0 / len(COMPONENTS))
    pca = PCA().fit(StandardScaler().fit_transform(rows))
    keep = max(1, int(np.sum(pca.explained_variance_ > 1.0)))
    loadings = pca.components_[:keep].T * np.sqrt(pca.explained_variance_[:keep])
    rotated = _varimax(loadings) if keep > 1 else loadings
    squared = rotated**2
    explained = squared.sum(axis=0)
    scaled = squared / explained
    factor = scaled.argmax(axis=1)
    w = np.zeros(len(COMPONENTS))
    w[present] = scaled[np.arange(len(rows[0])), factor] * explained[factor] / explained.sum()
    return w / w.sum()


def _varimax(loadings: np.ndarray, iterations: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Kaiser's varimax rotation of a loadings matrix (indicators x factors)."""
    p, k = loadings.shape
    rotation = np.eye(k)
    criterion = 0.0
    for _ in range(iterations):
        lam = loadings @ rotation
        target = lam**3 - lam @ np.diag(np.sum(lam**2, axis=0)) / p
        u, s, vt = np.linalg.svd(loadings.T @ target)
        rotation = u @ vt
        previous, criterion = criterion, s.sum()
        if previous and criterion / previous < 1.0 + tol:
            break
    return loadings @ rotation


def scheme_weights(
    scheme: Weighting, expert: Mapping[str, float], pca: np.ndarray | None = None
) -> np.ndarray:
    """The weight vector (perception, incidents, environment) of a weighting scheme."""
    if scheme == "equal":
        w = np.ones(len(COMPONENTS))
    elif scheme == "expert":
        w = np.array([float(expert.get(c, 0.0)) for c in COMPONENTS])
    elif scheme == "pca":
        if pca is None:
            raise ValueError("PCA weights need the components they are derived from")
        w = np.asarray(pca, dtype=float)
    else:
        raise ValueError(f"unknown weighting {scheme!r}; use expert, equal or pca")
    return w / w.sum()
