"""Seeded random streams of the composite's Monte Carlo, one per month and purpose.

Every random array of the composite that has a month axis (the bootstrap's Poisson counts,
the perception draws' normals, the incidents' posterior uniforms) takes each month's slice
from that month's own generator, `numpy.random.default_rng([seed, purpose, month])`. A
month's draws are then the same whichever months are drawn with it, so an incremental
build can draw only the months it publishes (and the months their windows read) and give
them the intervals a full build gives (method v4, docs/methodology.md section 13). The
draws that have no month axis (the method variants of each draw, the fear-gap baseline's
zone-bootstrap refits) come from one generator per block of months
(`block_generator`), keyed on the block's first month.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from observatory.index.blocks import month_number

#: The purposes: each is a separate stream, so adding a draw to one leaves the others.
PURPOSES = {"bootstrap": 1, "perception": 2, "incidents": 3, "variants": 4, "fear": 5}


class MonthStreams:
    """The generators of the months on a grid's period axis (position t: `months[t]`)."""

    def __init__(self, seed: int, months: Sequence[object]) -> None:
        self.seed = int(seed)
        self.months = [month_number(m) for m in months]
        self._gens: dict[tuple[int, int], np.random.Generator] = {}

    def of(self, purpose: str, t: int) -> np.random.Generator:
        """Month `t`'s generator for `purpose` (created once, so calls continue it)."""
        key = (PURPOSES[purpose], self.months[t])
        if key not in self._gens:
            self._gens[key] = np.random.default_rng([self.seed, *key])
        return self._gens[key]

    def at(self, positions: Sequence[int]) -> MonthStreams:
        """The streams of the months at `positions`, for a grid of those months only
        (the same generators: a month drawn there continues where it stood)."""
        sub = MonthStreams.__new__(MonthStreams)
        sub.seed, sub.months, sub._gens = self.seed, [self.months[p] for p in positions], self._gens
        return sub

    def normal(self, purpose: str, shape: tuple[int, ...], axis: int) -> np.ndarray:
        """Standard normals of `shape`, whose slice t along `axis` is month t's."""
        out = np.empty(shape)
        rest = shape[:axis] + shape[axis + 1 :]
        for t in range(shape[axis]):
            index = (slice(None),) * axis + (t,)
            out[index] = self.of(purpose, t).standard_normal(rest)
        return out

    def uniform(self, purpose: str, rows: int, month_of: np.ndarray) -> np.ndarray:
        """Uniforms `(rows, len(month_of))`: column j from month `month_of[j]`'s stream
        (its columns in the order given)."""
        out = np.empty((rows, len(month_of)))
        for t in np.unique(month_of):
            cols = np.flatnonzero(month_of == t)
            out[:, cols] = self.of(purpose, int(t)).random((rows, len(cols)))
        return out


def block_generator(seed: int, purpose: str, block: Sequence[object]) -> np.random.Generator:
    """The generator of a block of months' draws that have no month axis (keyed on its
    first month; a city with no months yet has one empty block)."""
    first = month_number(block[0]) if len(block) else 0
    return np.random.default_rng([int(seed), PURPOSES[purpose], first])
