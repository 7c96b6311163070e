"""Disclosure control of respondent-group cells (docs/methodology.md, section 9).

Per grouping (gender, age band...), band and month the group cells form a table: one row
per zone plus the city row, one column per group plus "not stated" (respondents outside
every group of that grouping, never published). Each row adds up to a figure published
elsewhere (the zone cell of marts.zone_index, the city total of marts.city_summary) and
each column to its city-wide group cell, so a withheld cell could be worked out by
difference. The rules, applied until nothing changes:

* primary: fewer than k respondents; nearly everyone gave the same answer (the
  homogeneity rule); the "not stated" cells; every group cell of a withheld zone cell.
* rows: where a row holds a cell withheld to protect someone (all but a "not stated" cell
  of k or more varied respondents, which is withheld by policy, not for its own sake),
  its withheld cells with people in them are at least two holding at least k respondents
  together; else the row's smallest published cell is withheld with them.
* columns: the same across the zones of a group whose city-wide cell is published; when
  no zone cell is left to withhold, the city-wide cell is withheld instead.

A gap to the rest of the respondents is published only beside a published group cell
whose rest (the row without it) holds k or more respondents and passes the homogeneity
rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNSTATED = "_not_stated"
SMALL = "primary: fewer than k respondents"
HOMOGENEOUS = "primary: nearly everyone gave the same answer"
NOT_STATED = "primary: respondents outside every group are never published"
ZONE_WITHHELD = "primary: the zone cell itself is withheld"
ACROSS_GROUPS = "complementary: protects a withheld group of the same zone"
ACROSS_ZONES = "complementary: protects a withheld zone of the same group"
CITY = "_all"


def suppress_groups(cells: pd.DataFrame, k: int, homogeneity_threshold: float = 1.01) -> pd.Series:
    """The withholding reason of every group cell (None where published).

    Args:
        cells: one row per group_by x zone_id (CITY for the city row) x time_band x
            period_start x group_label, with n_respondents, modal_share and
            is_margin_suppressed (its zone cell, or the city total, is withheld).
        k: the minimum number of respondents of a published cell.
        homogeneity_threshold: withhold cells whose modal_share is at least this.

    Returns:
        The reason per row of `cells` (same index).
    """
    n = cells["n_respondents"].astype(float)
    reason = pd.Series(None, index=cells.index, dtype=object)
    reason[cells["modal_share"].fillna(0.0) >= homogeneity_threshold] = HOMOGENEOUS
    reason[n < k] = SMALL
    reason[cells["is_margin_suppressed"].astype(bool)] = ZONE_WITHHELD
    reason[cells["group_label"] == UNSTATED] = NOT_STATED
    has_people = n > 0
    policy_only = (
        (cells["group_label"] == UNSTATED)
        & (n >= k)
        & (cells["modal_share"].fillna(0.0) < homogeneity_threshold)
        & ~cells["is_margin_suppressed"].astype(bool)
    )
    band = ["group_by", "time_band", "period_start"]
    # each line as one integer code, factorised once (the passes group by it many times)
    rows = [pd.Series(cells.groupby([*band, "zone_id"]).ngroup(), index=cells.index)]
    zone_level = cells["zone_id"] != CITY
    columns = [pd.Series(cells.groupby([*band, "group_label"]).ngroup(), index=cells.index)]
    for _ in range(1000):
        before = int(reason.notna().sum())
        sensitive = reason.notna() & has_people & ~policy_only
        reason = _complement(cells, reason, sensitive, rows, members=None, k=k, label=ACROSS_GROUPS)
        sensitive = reason.notna() & has_people & ~policy_only
        reason = _complement(
            cells, reason, sensitive, columns, members=zone_level, k=k, label=ACROSS_ZONES
        )
        if int(reason.notna().sum()) == before:
            break
    return reason


def _complement(
    cells: pd.DataFrame,
    reason: pd.Series,
    sensitive: pd.Series,
    keys: list[pd.Series],
    *,
    members: pd.Series | None,
    k: int,
    label: str,
) -> pd.Series:
    """One pass of the row or column rule. `members` marks the cells that add up to the
    line's total (zone cells for a column, whose total is the city cell); None: all.
    `sensitive` marks the withheld cells (with people) that need protecting."""
    member = pd.Series(True, index=cells.index) if members is None else members
    n = cells["n_respondents"].astype(float)
    has_people = n > 0
    withheld = reason.notna() & has_people & member
    n_withheld = withheld.groupby(keys).transform("sum")
    people = n.where(withheld, 0.0).groupby(keys).transform("sum")
    at_risk = (sensitive & member).groupby(keys).transform("any")
    exposed = at_risk & ((n_withheld == 1) | (people < k))
    if members is not None:
        # a column's total is its city cell: nothing to protect where it is withheld
        total_out = (reason.notna() & ~member).groupby(keys).transform("any")
        exposed &= ~total_out
    candidate = exposed & has_people & member & reason.isna()
    order = np.lexsort((cells["zone_id"].to_numpy(), n.to_numpy()))
    ranked = candidate.iloc[order]
    first_in_line = ranked & (ranked.groupby([key.iloc[order] for key in keys]).cumsum() == 1)
    reason = reason.copy()
    reason[first_in_line[first_in_line].index] = label
    if members is not None:
        has_partner = candidate.groupby(keys).transform("any")
        city_cells = exposed & ~has_partner & ~member & reason.isna()
        reason[city_cells] = label
    return reason
