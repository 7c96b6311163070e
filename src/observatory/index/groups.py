"""Who feels unsafe: perception per respondent group (docs/methodology.md, section 14).

A survey may map respondent characteristics onto group labels (`[sources.groups]`:
gender, age band, ...). For every grouping, zone (and the city as a whole), band and
month this step gives each group's design-weighted mean perception and its gap to the
rest of the respondents of the same cell (group minus rest: negative = the group feels
less safe), both with percentile intervals from the Poisson bootstrap of respondents that
the zone cells use (bootstrap.py; the same draw counts a person in their zone and city
cells, so the city and zone figures and each gap stay paired). Gaps get two-sided
p-values and a Benjamini-Hochberg flag per grouping x month at `fdr_q`.

Everything here is per month (the cells, their disclosure control, the FDR families), so
the step runs one month at a time: it reads that month's rows (respondents as integer
codes), draws from that month's own seeded stream, and appends its cells; `months` lets
an incremental build recompute only the open months.

Disclosure control (group_suppression.py) withholds small, homogeneous and "not stated"
cells and enough others that no withheld cell can be worked out from the zone cells, the
city totals or the other group cells. Output: idx.idx_groups, published by
marts.group_index.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection

import duckdb
import numpy as np
import pandas as pd

from observatory.config import IndexConfig
from observatory.index.blocks import month_number
from observatory.index.bootstrap import bootstrap_sums, nan_percentiles
from observatory.index.flags import benjamini_hochberg, change_p_values
from observatory.index.group_suppression import CITY, UNSTATED, suppress_groups

log = logging.getLogger(__name__)

_KEYS = ["group_by", "zone_id", "time_band", "period_start"]
_CELL = [*_KEYS, "group_label"]
#: Offset of this step's random stream from the index seed (its own, reproducible draws).
_SEED_OFFSET = 15


def _groupings(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The groupings of the survey (every month's: a month without any answer to one
    still gets its "not stated" cells)."""
    rows = con.execute(
        """
        select distinct unnest(json_keys(respondent_groups)) as group_by
        from staging.stg_survey where respondent_groups is not null
        order by 1
        """
    ).fetchall()
    return [r[0] for r in rows]


def _months(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    rows = con.execute(
        """
        select distinct period_start from idx.idx_respondents
        where not is_aggregate and zone_id in (select zone_id from ref.zones)
        order by 1
        """
    ).fetchall()
    return [r[0] for r in rows]


def _respondents(
    con: duckdb.DuckDBPyConnection, month: dt.date, groupings: list[str]
) -> pd.DataFrame:
    """One row per respondent x zone x band x grouping of `month`, with their group label
    (UNSTATED outside every group of that grouping); individual answers only. Respondents
    are integer codes (`person`, in the order of their ids), the other keys categoricals."""
    units = con.execute(
        """
        with people as (
            select zone_id, respondent_id, respondent_groups from temp._group_people
            where period_start = $month
        ),

        groupings as (select unnest(cast($groupings as varchar[])) as group_by)

        select g.group_by, r.zone_id, r.time_band,
            cast(dense_rank() over (order by r.respondent_id) - 1 as integer) as person,
            coalesce(p.respondent_groups ->> g.group_by, $unstated) as group_label,
            r.score, r.weight,
        from idx.idx_respondents as r
        cross join groupings as g
        left join people as p using (zone_id, respondent_id)
        where r.period_start = $month and not r.is_aggregate
            and r.zone_id in (select zone_id from ref.zones)
        -- a fixed order: the bootstrap's draws go to people in this order, so two builds
        -- of the same answers give the same intervals
        order by g.group_by, r.respondent_id, r.zone_id, r.time_band
        """,
        {"month": month, "groupings": groupings, "unstated": UNSTATED},
    ).df()
    for column in ("group_by", "zone_id", "time_band", "group_label"):
        units[column] = units[column].astype("category")
    return units


def _month_cells(
    con: duckdb.DuckDBPyConnection, cfg: IndexConfig, month: dt.date, groupings: list[str]
) -> pd.DataFrame | None:
    """Every group cell of one month with its disclosure control, estimates and FDR flag
    (the suppression tables and the FDR families are per month: nothing crosses months)."""
    units = _respondents(con, month, groupings)
    if units.empty:
        return None
    zones = [*units["zone_id"].cat.categories, CITY]
    n_z, n_b = len(zones), len(units["time_band"].cat.categories)
    n_l = len(units["group_label"].cat.categories)
    codes = {c: units[c].cat.codes.to_numpy(np.int64) for c in ("group_by", "time_band")}
    # every unit twice: in its zone's cells and in the city's (zone code n_z - 1)
    zone = np.concatenate(
        [units["zone_id"].cat.codes.to_numpy(np.int64), np.full(len(units), n_z - 1)]
    )
    line_key = (np.tile(codes["group_by"], 2) * n_z + zone) * n_b + np.tile(codes["time_band"], 2)
    cell_key = line_key * n_l + np.tile(units["group_label"].cat.codes.to_numpy(np.int64), 2)
    cell_keys, cell = np.unique(cell_key, return_inverse=True)
    line_keys, line = np.unique(line_key, return_inverse=True)
    cell_line = np.searchsorted(line_keys, cell_keys // n_l)
    n_cells, n_lines = len(cell_keys), len(line_keys)
    person = np.tile(units["person"].to_numpy(np.int64), 2)
    score = np.tile(units["score"].to_numpy(dtype=float), 2)
    weight = np.tile(units["weight"].to_numpy(dtype=float), 2)
    n_people = int(person.max()) + 1
    rounded = np.unique(score.round(6), return_inverse=True)[1]
    n_r = int(rounded.max()) + 1

    cells = _labels(units, zones, cell_keys, n_b=n_b, n_l=n_l, month=month)
    cells["n_respondents"] = np.bincount(
        np.unique(cell * n_people + person) // n_people, minlength=n_cells
    )
    own_keys, own_n = np.unique(cell * n_r + rounded, return_counts=True)
    modal = np.zeros(n_cells, dtype=np.int64)
    np.maximum.at(modal, own_keys // n_r, own_n)
    cells["modal_share"] = modal / np.bincount(cell, minlength=n_cells)
    cells = _with_margins(con, cells, month)
    cells["suppression_reason"] = suppress_groups(
        cells, cfg.min_respondents, cfg.homogeneity_threshold
    )

    rng = np.random.default_rng([cfg.seed + _SEED_OFFSET, month_number(month)])
    frame = pd.DataFrame(
        {"person": np.tile(person, 2), "score": np.tile(score, 2), "weight": np.tile(weight, 2)}
    )
    where = np.concatenate([cell, line + n_cells])
    del units, zone, line_key, cell_key, person, score, weight
    _estimates(cells, frame, where, cell_line=cell_line, n_lines=n_lines, cfg=cfg, rng=rng)
    del frame, where

    n = cells["n_respondents"].to_numpy(dtype=np.int64)
    cells["is_suppressed"] = cells["suppression_reason"].notna()
    cells["n_rest"] = (
        np.bincount(cell_line, weights=n, minlength=n_lines)[cell_line].astype(np.int64) - n
    )
    rest_ok = (cells["n_rest"] >= cfg.min_respondents) & (cells["group_label"] != UNSTATED)
    varied = _rest_varied(
        line,
        rounded,
        n_r=n_r,
        own=(own_keys, own_n),
        cell_line=cell_line,
        n_lines=n_lines,
        n_rest=cells["n_rest"].to_numpy(),
    )
    cells["is_gap_published"] = (
        ~cells["is_suppressed"] & rest_ok & (varied < cfg.homogeneity_threshold)
    )
    published = cells["is_gap_published"].to_numpy()
    p = np.where(published, cells["gap_p_value"], np.nan)
    # the FDR family: grouping x month (the month is this one)
    cells["is_gap_significant"] = benjamini_hochberg(p, cells["group_by"].to_numpy(), cfg.fdr_q)
    return cells.drop(columns=["modal_share"])


def _labels(
    units: pd.DataFrame,
    zones: list[str],
    cell_keys: np.ndarray,
    *,
    n_b: int,
    n_l: int,
    month: dt.date,
) -> pd.DataFrame:
    """The cells' keys as labels, from their integer keys."""
    label = cell_keys % n_l
    band = (cell_keys // n_l) % n_b
    zone = (cell_keys // (n_l * n_b)) % len(zones)
    group_by = cell_keys // (n_l * n_b * len(zones))
    return pd.DataFrame(
        {
            "group_by": np.asarray(units["group_by"].cat.categories, dtype=object)[group_by],
            "zone_id": np.asarray(zones, dtype=object)[zone],
            "time_band": np.asarray(units["time_band"].cat.categories, dtype=object)[band],
            "period_start": pd.Timestamp(month),
            "group_label": np.asarray(units["group_label"].cat.categories, dtype=object)[label],
        }
    )


def _with_margins(
    con: duckdb.DuckDBPyConnection, cells: pd.DataFrame, month: dt.date
) -> pd.DataFrame:
    """Whether each cell's zone cell (the city total for city cells) is withheld; a cell
    without one counts as withheld."""
    margins = con.execute(
        """
        select zone_id, time_band, is_suppressed as is_margin_suppressed
        from idx.idx_suppression where period_start = $month
        union all
        select $city, time_band, bool_or(is_total_suppressed)
        from idx.idx_suppression where period_start = $month group by time_band
        """,
        {"city": CITY, "month": month},
    ).df()
    margins = margins.astype({"zone_id": object, "time_band": object})
    cells = cells.merge(margins, on=["zone_id", "time_band"], how="left")
    cells["is_margin_suppressed"] = (
        cells["is_margin_suppressed"].astype("boolean").fillna(True).astype(bool)
    )
    return cells


def _estimates(
    cells: pd.DataFrame,
    frame: pd.DataFrame,
    where: np.ndarray,
    *,
    cell_line: np.ndarray,
    n_lines: int,
    cfg: IndexConfig,
    rng: np.random.Generator,
) -> None:
    """Perception and gap to the rest per cell, with bootstrap intervals and p-values
    (added to `cells`). `where`: the cell (0..cells-1) or line (cells + line) of each
    row of `frame`; every unit is in its cell and its line, in its zone and the city."""
    n_cells = len(cells)
    sums = bootstrap_sums(
        frame, where, n_cells + n_lines, cfg.uncertainty_draws, rng, by_person=True
    )
    point = _point_sums(frame, where, n_cells + n_lines)
    margin_of = cell_line + n_cells
    own = np.arange(n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = point[0][own] / point[1][own]
        rest = (point[0][margin_of] - point[0][own]) / (point[1][margin_of] - point[1][own])
        draws = sums.score[:, own] / sums.weight[:, own]
        rest_draws = (sums.score[:, margin_of] - sums.score[:, own]) / (
            sums.weight[:, margin_of] - sums.weight[:, own]
        )
    del sums
    tail = (1.0 - cfg.confidence) / 2.0
    cells["perception"] = mean
    cells["perception_ci_low"], cells["perception_ci_high"] = _percentiles(draws, tail)
    gap, gap_draws = mean - rest, draws - rest_draws
    cells["gap_to_rest"] = gap
    cells["gap_ci_low"], cells["gap_ci_high"] = _percentiles(gap_draws, tail)
    cells["gap_p_value"] = change_p_values(gap, gap_draws)


def _point_sums(frame: pd.DataFrame, where: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    w = frame["weight"].to_numpy()
    score = np.bincount(where, weights=w * frame["score"].to_numpy(), minlength=n)
    return score, np.bincount(where, weights=w, minlength=n)


def _percentiles(draws: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    low, high = nan_percentiles(draws, (tail, 1.0 - tail))  # cells with no draw: NaN
    return low, high


def _rest_varied(
    line: np.ndarray,
    rounded: np.ndarray,
    *,
    n_r: int,
    own: tuple[np.ndarray, np.ndarray],
    cell_line: np.ndarray,
    n_lines: int,
    n_rest: np.ndarray,
) -> np.ndarray:
    """The modal share of each cell's rest (the rest must pass the homogeneity rule, else
    its mean, published as perception minus gap, would tell each of its respondents'
    answer): per answer of the line, the line's count minus the cell's own."""
    own_keys, own_n = own
    line_keys, line_n = np.unique(line * n_r + rounded, return_counts=True)
    per_line = np.bincount(line_keys // n_r, minlength=n_lines)
    starts = np.concatenate([[0], np.cumsum(per_line)])
    # every (cell, answer of its line) pair
    size = per_line[cell_line]
    grid_cell = np.repeat(np.arange(len(cell_line)), size)
    offset = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    pos = np.repeat(starts[cell_line], size) + offset
    answer = line_keys[pos] % n_r
    key = grid_cell * n_r + answer
    at = np.searchsorted(own_keys, key)
    at_ok = np.minimum(at, len(own_keys) - 1)
    mine = np.where(own_keys[at_ok] == key, own_n[at_ok], 0)
    top = np.zeros(len(cell_line), dtype=np.int64)
    np.maximum.at(top, grid_cell, line_n[pos] - mine)
    with np.errstate(invalid="ignore", divide="ignore"):
        return top / n_rest.astype(float)


def _stage_people(con: duckdb.DuckDBPyConnection, months: list[dt.date]) -> None:
    """Each respondent's group labels in `months`, once, as temp._group_people (the survey
    view would otherwise be read once a month)."""
    con.execute(
        """
        create or replace temp table _group_people as
        select zone_id, period_start, respondent_id,
            any_value(respondent_groups) filter (where respondent_groups is not null)
                as respondent_groups,
        from staging.stg_survey
        where period_start in (select unnest(cast($m as date[])))
        group by all
        """,
        {"m": months},
    )


def build_groups(
    con: duckdb.DuckDBPyConnection,
    cfg: IndexConfig,
    months: Collection[dt.date] | None = None,
) -> list[str]:
    """Respondent-group cells with their suppression -> idx.idx_groups, one month at a time.

    `months`: None computes every month (and rewrites the table); otherwise only those
    months' rows are computed and replaced, the other months' rows staying as they are.
    Each month has its own random stream (seeded on the index seed and the month), so its
    figures do not depend on which other months are computed."""
    exists = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'idx' and table_name = 'idx_groups'"
    ).fetchall()[0][0]
    if months is None or not exists:
        con.execute(f"create or replace table idx.idx_groups as select * from ({_EMPTY})")  # noqa: S608 (empty select is a constant here)
    todo = _months(con)
    if months is not None:
        wanted = {pd.Timestamp(m).date() for m in months}
        todo = [m for m in todo if m in wanted]
        con.execute(
            "delete from idx.idx_groups where period_start in (select unnest(cast($m as date[])))",
            {"m": sorted(wanted)},
        )
    groupings = _groupings(con) if todo else []
    totals = np.zeros(3, dtype=np.int64)
    view = "_groups_frame"
    _stage_people(con, todo)
    try:
        for month in todo:
            out = _month_cells(con, cfg, month, groupings)
            if out is None:
                continue
            totals += [
                len(out),
                int(out["is_suppressed"].sum()),
                int(out["is_gap_published"].sum()),
            ]
            con.register(view, out)
            try:
                con.execute(
                    "insert into idx.idx_groups by name select * replace "  # noqa: S608 (fixed view name)
                    f"(cast(period_start as date) as period_start) from {view}"
                )
            finally:
                con.unregister(view)
    finally:
        con.execute("drop table if exists temp._group_people")
    log.info("groups: %d cells, %d withheld, %d gaps published", *totals)
    return ["idx_groups"]


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
