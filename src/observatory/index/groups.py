"""Who feels unsafe: perception per respondent group (docs/methodology.md, section 14).

A survey may map respondent characteristics onto group labels (`[sources.groups]`:
gender, age band, ...). For every grouping, zone (and the city as a whole), band and
month this step gives each group's design-weighted mean perception and its gap to the
rest of the respondents of the same cell (group minus rest: negative = the group feels
less safe), both with percentile intervals from the Poisson bootstrap of respondents that
the zone cells use (bootstrap.py; the same draw counts a person in their zone and city
cells, so the city and zone figures and each gap stay paired). Gaps get two-sided
p-values and a Benjamini-Hochberg flag per grouping x month at `fdr_q`.

Disclosure control (group_suppression.py) withholds small, homogeneous and "not stated"
cells and enough others that no withheld cell can be worked out from the zone cells, the
city totals or the other group cells. Output: idx.idx_groups, published by
marts.group_index.
"""

from __future__ import annotations

import logging
import warnings

import duckdb
import numpy as np
import pandas as pd

from observatory.config import IndexConfig
from observatory.index.blocks import block_rng, period_blocks
from observatory.index.bootstrap import bootstrap_sums
from observatory.index.flags import benjamini_hochberg, change_p_values
from observatory.index.group_suppression import CITY, UNSTATED, suppress_groups

log = logging.getLogger(__name__)

_KEYS = ["group_by", "zone_id", "time_band", "period_start"]
_CELL = [*_KEYS, "group_label"]
#: Offset of this step's random stream from the index seed (its own, reproducible draws).
_SEED_OFFSET = 15


def _respondents(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per respondent x zone x band x month x grouping, with their group label
    (UNSTATED outside every group of that grouping); individual answers only."""
    return con.execute(
        f"""
        with people as (
            select zone_id, period_start, respondent_id,
                any_value(respondent_groups) filter (where respondent_groups is not null)
                    as respondent_groups,
            from staging.stg_survey
            group by all
        ),

        groupings as (
            select distinct unnest(json_keys(respondent_groups)) as group_by
            from people where respondent_groups is not null
        )

        select g.group_by, r.zone_id, r.time_band, r.period_start, r.respondent_id,
            coalesce(p.respondent_groups ->> g.group_by, '{UNSTATED}') as group_label,
            r.score, r.weight,
        from idx.idx_respondents as r
        cross join groupings as g
        left join people as p using (zone_id, period_start, respondent_id)
        where not r.is_aggregate
            and r.zone_id in (select zone_id from ref.zones)
        -- a fixed order: the bootstrap's draws go to people in this order, so two builds
        -- of the same answers give the same intervals
        order by g.group_by, r.respondent_id, r.zone_id, r.period_start, r.time_band
        """  # noqa: S608 (constant label; tables from code)
    ).df()


def _cells(units: pd.DataFrame, con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Zone and city group cells with their sizes, modal shares and margins' status."""
    both = pd.concat([units, units.assign(zone_id=CITY)], ignore_index=True)
    both["rounded"] = both["score"].round(6)
    modal = (
        both.groupby([*_CELL, "rounded"]).size().groupby(_CELL).max() / both.groupby(_CELL).size()
    ).rename("modal_share")
    cells = both.groupby(_CELL).agg(n_respondents=("respondent_id", "nunique")).join(modal)
    cells = cells.reset_index()
    margins = con.execute(
        """
        select zone_id, time_band, period_start, is_suppressed as is_margin_suppressed
        from idx.idx_suppression
        union all
        select distinct $city, time_band, period_start, bool_or(is_total_suppressed)
        from idx.idx_suppression group by all
        """,
        {"city": CITY},
    ).df()
    cells["period_start"] = pd.to_datetime(cells["period_start"])
    margins["period_start"] = pd.to_datetime(margins["period_start"])
    cells = cells.merge(margins, on=["zone_id", "time_band", "period_start"], how="left")
    cells["is_margin_suppressed"] = cells["is_margin_suppressed"].fillna(True).astype(bool)
    return cells


def estimates_in_blocks(units: pd.DataFrame, cells: pd.DataFrame, cfg: IndexConfig) -> pd.DataFrame:
    """`group_estimates` per block of months (one block up to `BLOCK_MONTHS`): a group
    cell's bootstrap reads only its own month, so blocks bound the draws' arrays."""
    blocks = period_blocks(cells["period_start"].unique())
    if len(blocks) == 1:
        return group_estimates(units, cells, cfg)
    frames = [
        group_estimates(
            units[units["period_start"].isin(block)],
            cells[cells["period_start"].isin(block)],
            cfg,
            block_rng(cfg.seed + _SEED_OFFSET, block),
        )
        for block in blocks
    ]
    return pd.concat(frames).reindex(cells.index)


def group_estimates(
    units: pd.DataFrame,
    cells: pd.DataFrame,
    cfg: IndexConfig,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Perception and gap to the rest per cell, with bootstrap intervals and p-values."""
    stacked = pd.concat([units, units.assign(zone_id=CITY)], ignore_index=True)
    cell_pos = cells.reset_index(drop=True).reset_index().set_index(_CELL)["index"]
    line = cells[_KEYS].drop_duplicates().reset_index(drop=True)
    line_pos = line.reset_index().set_index(_KEYS)["index"]
    stacked["period_start"] = pd.to_datetime(stacked["period_start"])
    g_idx = cell_pos.reindex(pd.MultiIndex.from_frame(stacked[_CELL])).to_numpy()
    m_idx = line_pos.reindex(pd.MultiIndex.from_frame(stacked[_KEYS])).to_numpy() + len(cells)
    frame = pd.DataFrame(
        {
            "person": np.tile(stacked["respondent_id"].to_numpy(), 2),
            "score": np.tile(stacked["score"].to_numpy(dtype=float), 2),
            "weight": np.tile(stacked["weight"].to_numpy(dtype=float), 2),
        }
    )
    where = np.concatenate([g_idx, m_idx]).astype(int)
    rng = rng or np.random.default_rng(cfg.seed + _SEED_OFFSET)
    sums = bootstrap_sums(frame, where, len(cells) + len(line), cfg.uncertainty_draws, rng)
    point = _point_sums(frame, where, len(cells) + len(line))
    margin_of = line_pos.reindex(pd.MultiIndex.from_frame(cells[_KEYS])).to_numpy() + len(cells)
    own = np.arange(len(cells))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = point[0][own] / point[1][own]
        rest = (point[0][margin_of] - point[0][own]) / (point[1][margin_of] - point[1][own])
        draws = sums.score[:, own] / sums.weight[:, own]
        rest_draws = (sums.score[:, margin_of] - sums.score[:, own]) / (
            sums.weight[:, margin_of] - sums.weight[:, own]
        )
    tail = (1.0 - cfg.confidence) / 2.0
    out = cells.copy()
    out["perception"] = mean
    out["perception_ci_low"], out["perception_ci_high"] = _percentiles(draws, tail)
    gap, gap_draws = mean - rest, draws - rest_draws
    out["gap_to_rest"] = gap
    out["gap_ci_low"], out["gap_ci_high"] = _percentiles(gap_draws, tail)
    out["gap_p_value"] = change_p_values(gap, gap_draws)
    return out


def _point_sums(frame: pd.DataFrame, where: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    w = frame["weight"].to_numpy()
    score = np.bincount(where, weights=w * frame["score"].to_numpy(), minlength=n)
    return score, np.bincount(where, weights=w, minlength=n)


def _percentiles(draws: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells with no draw: NaN
        low, high = np.nanquantile(draws, [tail, 1.0 - tail], axis=0)
    return low, high


def build_groups(con: duckdb.DuckDBPyConnection, cfg: IndexConfig) -> list[str]:
    """Respondent-group cells with their suppression -> idx.idx_groups."""
    units = _respondents(con)
    if units.empty:
        con.execute(f"create or replace table idx.idx_groups as select * from ({_EMPTY})")  # noqa: S608 (empty select is a constant here)
        return ["idx_groups"]
    units["period_start"] = pd.to_datetime(units["period_start"])
    cells = _cells(units, con)
    cells["suppression_reason"] = suppress_groups(
        cells, cfg.min_respondents, cfg.homogeneity_threshold
    )
    out = estimates_in_blocks(units, cells, cfg)
    out["is_suppressed"] = out["suppression_reason"].notna()
    out["n_rest"] = _rest_sizes(out)
    rest_ok = (out["n_rest"] >= cfg.min_respondents) & (out["group_label"] != UNSTATED)
    out["is_gap_published"] = ~out["is_suppressed"] & rest_ok & _rest_varied(units, out, cfg)
    published = out["is_gap_published"].to_numpy()
    p = np.where(published, out["gap_p_value"], np.nan)
    family = (out["group_by"] + "|" + out["period_start"].astype(str)).to_numpy()
    out["is_gap_significant"] = benjamini_hochberg(p, family, cfg.fdr_q)
    out = out.drop(columns=["modal_share"])
    log.info(
        "groups: %d cells, %d withheld, %d gaps published",
        len(out),
        int(out["is_suppressed"].sum()),
        int(published.sum()),
    )
    view = "_groups_frame"
    con.register(view, out)
    try:
        con.execute(
            "create or replace table idx.idx_groups as select * replace "  # noqa: S608 (fixed view name)
            f"(cast(period_start as date) as period_start) from {view}"
        )
    finally:
        con.unregister(view)
    return ["idx_groups"]


def _rest_sizes(out: pd.DataFrame) -> pd.Series:
    total = out.groupby(_KEYS)["n_respondents"].transform("sum")
    return total - out["n_respondents"]


def _rest_varied(units: pd.DataFrame, out: pd.DataFrame, cfg: IndexConfig) -> pd.Series:
    """The rest of each cell passes the homogeneity rule (else its mean, published as
    perception minus gap, would tell each of its respondents' answer)."""
    both = pd.concat([units, units.assign(zone_id=CITY)], ignore_index=True)
    both["rounded"] = both["score"].round(6)
    line = both.groupby([*_KEYS, "rounded"]).size().rename("line_n").reset_index()
    own = both.groupby([*_CELL, "rounded"]).size().rename("own_n").reset_index()
    grid = out[_CELL].merge(line, on=_KEYS).merge(own, on=[*_CELL, "rounded"], how="left")
    grid["rest_n"] = grid["line_n"] - grid["own_n"].fillna(0)
    modal = grid.groupby(_CELL)["rest_n"].max()
    top = modal.reindex(pd.MultiIndex.from_frame(out[_CELL])).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = top / out["n_rest"].to_numpy(dtype=float)
    return pd.Series(share < cfg.homogeneity_threshold, index=out.index)


_EMPTY = """
    select cast(null as varchar) as group_by, cast(null as varchar) as zone_id,
        cast(null as varchar) as time_band, cast(null as date) as period_start,
        cast(null as varchar) as group_label, cast(null as bigint) as n_respondents,
        cast(null as boolean) as is_margin_suppressed,
        cast(null as varchar) as suppression_reason, cast(null as double) as perception,
        cast(null as double) as perception_ci_low, cast(null as double) as perception_ci_high,
        cast(null as double) as gap_to_rest, cast(null as double) as gap_ci_low,
        cast(null as double) as gap_ci_high, cast(null as double) as gap_p_value,
        cast(null as boolean) as is_suppressed, cast(null as bigint) as n_rest,
        cast(null as boolean) as is_gap_published, cast(null as boolean) as is_gap_significant
    where false
"""
