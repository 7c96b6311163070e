"""The index grid: long tables of cells <-> dense arrays of shape (band, period, zone).

Every statistic of the index is computed across the zones of one band and period (the
normalisation, the city mean that shrinkage pulls toward, the ranks), and the Monte Carlo
adds a leading draw axis. Holding cells as dense `(B, T, Z)` arrays makes each of those a
vectorised reduction over the last axis instead of a Python loop over groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BANDS = ("day", "night")
KEYS = ["zone_id", "time_band", "period_start"]


@dataclass(frozen=True)
class Grid:
    """The cells of a long frame placed on a dense (band, period, zone) grid.

    Attributes:
        periods: sorted period starts (the T axis).
        zones: sorted zone ids (the Z axis).
        b: band position of each row of the frame the grid was built from.
        t: period position of each row.
        z: zone position of each row.
    """

    periods: tuple[pd.Timestamp, ...]
    zones: tuple[str, ...]
    b: np.ndarray
    t: np.ndarray
    z: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Grid:
        """Build the grid of a frame keyed by zone_id, time_band, period_start."""
        unknown = set(frame["time_band"].unique()) - set(BANDS)
        if unknown:
            raise ValueError(f"time_band values {sorted(unknown)} are not one of {BANDS}")
        periods = pd.Index(pd.to_datetime(frame["period_start"]).unique()).sort_values()
        zones = pd.Index(frame["zone_id"].unique()).sort_values()
        return cls(
            periods=tuple(periods),
            zones=tuple(zones),
            b=frame["time_band"].map({band: i for i, band in enumerate(BANDS)}).to_numpy(),
            t=periods.get_indexer(pd.to_datetime(frame["period_start"])),
            z=zones.get_indexer(frame["zone_id"]),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(bands, periods, zones)."""
        return (len(BANDS), len(self.periods), len(self.zones))

    def cube(self, values: pd.Series | np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Place one value per frame row on the grid; cells without a row get `fill`."""
        out = np.full(self.shape, fill, dtype=float)
        out[self.b, self.t, self.z] = np.asarray(values, dtype=float)
        return out

    def band_period(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Place a value that is the same for every zone of a band-month on a (B, T) grid."""
        out = np.full(self.shape[:2], np.nan)
        out[self.b, self.t] = np.asarray(values, dtype=float)
        return out

    def mask(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Place one boolean per frame row on the grid; cells without a row are False."""
        out = np.zeros(self.shape, dtype=bool)
        out[self.b, self.t, self.z] = np.asarray(values, dtype=bool)
        return out

    def rows(self, cube: np.ndarray) -> np.ndarray:
        """Read a grid (optionally with leading axes) back in the frame's row order."""
        return cube[..., self.b, self.t, self.z]

    def window(self, months: int) -> np.ndarray:
        """(T, T) matrix: 1 where period s lies in the `months` calendar months ending at t."""
        m = np.array([p.year * 12 + p.month for p in self.periods])
        lag = m[:, None] - m[None, :]
        return ((lag >= 0) & (lag < months)).astype(float)

    def previous_period(self) -> np.ndarray:
        """For each period position, the position of the calendar month before, or -1."""
        months = np.array([p.year * 12 + p.month for p in self.periods])
        pos = {m: i for i, m in enumerate(months)}
        return np.array([pos.get(m - 1, -1) for m in months], dtype=int)
