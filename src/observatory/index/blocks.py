"""Blocks of months for the steps whose draws are arrays over every cell (issue 18).

The Monte Carlo of the composite (draws x bands x months x zones) grows with the months
of history: five years of 200 zones would not fit in 1 GiB (the respondent groups run one
month at a time instead, each month with its own stream: groups.py). Up to `BLOCK_MONTHS`
months they run as one block; a longer history runs in blocks of `BLOCK_MONTHS` calendar
months counted from its first month. The draws are seeded by month (and the few without a
month axis by the block's first month: streams.py), so a block's draws do not depend on
how many blocks follow. A composite block also reads the months
before it that its windows need (the fear gap's window, the change on the previous
month); those are computed but not kept. docs/methodology.md section 13 says what is
pooled within a block.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: Months per block: the 13-month benchmark city and the demo stay one block, and every
#: block of a longer history holds more than a year for the pooled estimates. 24-month
#: blocks (26 months with their context) took the 5-year build to 1.2 GB; 13 keep it
#: near the XL city's own peak.
BLOCK_MONTHS = 13


def month_number(period: object) -> int:
    """Months since year 0 of a period start (date, datetime or Timestamp)."""
    p = pd.Timestamp(period)
    return p.year * 12 + p.month - 1


def period_blocks(periods: Sequence[object], months: int | None = None) -> list[list[object]]:
    """The sorted periods cut into blocks of `months` (`BLOCK_MONTHS`) calendar months
    from the first."""
    months = months or BLOCK_MONTHS
    ordered = sorted(periods, key=month_number)
    if len(ordered) <= months:
        return [ordered]
    first = month_number(ordered[0])
    blocks: dict[int, list[object]] = {}
    for p in ordered:
        blocks.setdefault((month_number(p) - first) // months, []).append(p)
    return [blocks[k] for k in sorted(blocks)]
