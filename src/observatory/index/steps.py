"""The Python steps of the index layer: read idx tables from DuckDB, compute, write back.

Each step is called by `pipeline.build` inside its transaction, between the SQL models, and
writes `idx.<step>` (the composite step also writes the tables derived from its draws).
The computing is done by the pure functions of this package; only reading and writing
happens here.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Collection, Sequence

import duckdb
import numpy as np
import pandas as pd

from observatory.config import IndexConfig
from observatory.graph import PythonStep, python_step
from observatory.increment import months_to_compute, unchanged
from observatory.index import fits
from observatory.index.blocks import period_blocks
from observatory.index.bootstrap import BootstrapSums, bootstrap_sums
from observatory.index.design import design_effects
from observatory.index.engine import IndexInputs, compute_index, drawn_months
from observatory.index.flags import benjamini_hochberg, trend_tests
from observatory.index.grid import KEYS, Grid
from observatory.index.groups import build_groups
from observatory.index.models import (
    fear_baseline,
    model_perception,
    perception_model,
    prediction_intervals,
)
from observatory.index.montecarlo import PerceptionModel
from observatory.index.outputs import DRAWN_COLUMNS, result_tables
from observatory.index.shrinkage import fay_herriot, no_shrinkage, sampling_variance
from observatory.index.streams import MonthStreams, block_generator
from observatory.index.suppression import suppress
from observatory.interventions.step import build_intervention_effects
from observatory.warehouse import table_exists

log = logging.getLogger(__name__)

#: Recorded in every mart row, so a dashboard knows which method made a figure.
METHOD_VERSION = "v4"

_CELLS = """
    select
        i.*,
        s.is_suppressed,{more_columns}
    from idx.idx_indicators as i
    inner join idx.idx_suppression as s using (zone_id, time_band, period_start){more_joins}
    order by period_start, time_band, zone_id
"""
_WITH_PERCEPTION = {
    "more_columns": """
        p.* exclude (zone_id, time_band, period_start, n_respondents, n_effective,
            perception_raw, perception_raw_se),""",
    "more_joins": """
    inner join idx.idx_perception_eb as p using (zone_id, time_band, period_start)""",
}


def read(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Run a query and fetch the whole result as a DataFrame."""
    return con.execute(sql).df()


def write(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Replace `idx.<table>` with a frame (period_start kept a DATE)."""
    view = f"_frame_{table}"
    con.register(view, frame)
    try:
        cast = (
            " replace (cast(period_start as date) as period_start)"
            if "period_start" in frame
            else ""
        )
        con.execute(f"create or replace table idx.{table} as select *{cast} from {view}")  # noqa: S608 (idx table names from code)
    finally:
        con.unregister(view)


def build_suppression(con: duckdb.DuckDBPyConnection, cfg: IndexConfig) -> list[str]:
    """Primary and complementary suppression of every cell -> idx.idx_suppression."""
    cells = read(
        con,
        """
        select i.zone_id, i.time_band, i.period_start, i.n_respondents, h.modal_share,
            a.sum_w, a.sum_wy, a.sum_wyy
        from idx.idx_indicators as i
        left join (
            -- design-weighted answer sums, for the protection interval
            select zone_id, time_band, period_start, sum(weight) as sum_w,
                sum(weight * score) as sum_wy, sum(weight * score * score) as sum_wyy
            from idx.idx_respondents
            group by all
        ) as a using (zone_id, time_band, period_start)
        left join (
            -- share of the cell's respondents who gave its most common answer
            select zone_id, time_band, period_start, max(n) / sum(n) as modal_share
            from (
                select zone_id, time_band, period_start, round(score, 6), count(*) as n
                from idx.idx_respondents
                where not is_aggregate
                group by all
            )
            group by all
        ) as h using (zone_id, time_band, period_start)
        """,
    )
    flags = suppress(
        cells, cfg.min_respondents, cfg.homogeneity_threshold, cfg.protection_points,
        cfg.city_total,
    )  # fmt: skip
    write(con, "idx_suppression", flags)
    return ["idx_suppression"]


def build_perception(con: duckdb.DuckDBPyConnection, cfg: IndexConfig) -> list[str]:
    """Raw, shrunk and modelled perception per cell -> idx.idx_perception_eb."""
    cells = read(con, _CELLS.format(more_columns="", more_joins=""))
    grid = Grid.from_frame(cells)
    raw = grid.cube(cells["perception_raw"])
    # withheld cells' spread informs no pooled variance (a published figure would move)
    published = ~cells["is_suppressed"].to_numpy(dtype=bool)
    groups = grid.b * grid.shape[1] + grid.t
    var = sampling_variance(
        grid.cube(cells["within_var"]),
        grid.cube(cells["n_effective"], fill=0.0),
        prior_df=cfg.variance_prior_df,
        design_effect=grid.cube(
            design_effects(cells, groups, grid.shape[0] * grid.shape[1], published), fill=1.0
        ),
        pool_from=grid.mask(published),
    )
    fit = (
        fay_herriot(
            raw,
            var,
            cfg.between_var_estimator,
            pool=grid.window(cfg.between_var_months) if cfg.between_var_months > 1 else None,
            design=shrinkage_design(cells, grid, cfg.shrinkage_covariates),
            fit=grid.mask(published),
        )
        if cfg.shrinkage == "fay_herriot"
        else no_shrinkage(raw, var)
    )
    n = cells["n_respondents"].to_numpy()
    # final months only: a provisional month's incidents cover part of it against the
    # whole month's exposure (its incident features read low)
    provisional = {pd.Timestamp(r[0]) for r in con.execute(_PROVISIONAL).fetchall()}
    train = (
        ~cells["is_suppressed"].to_numpy()
        & (n >= cfg.min_respondents)
        & cells["perception_raw"].notna().to_numpy()
        & ~pd.to_datetime(cells["period_start"]).isin(provisional).to_numpy()
    )
    model, modelled, low, high = _modelled_perception(con, cells, train, cfg)
    group = (grid.b, grid.t)
    out = cells[
        [*KEYS, "n_respondents", "n_effective", "perception_raw", "perception_raw_se"]
    ].copy()
    out["sampling_var"] = grid.rows(var)
    out["city_mean"] = fit.mean[group]
    out["city_mean_var"] = fit.mean_var[group]
    target = (
        fit.target if fit.target is not None else np.broadcast_to(fit.mean[..., None], raw.shape)
    )
    target_var = (
        fit.target_var
        if fit.target_var is not None
        else np.broadcast_to(fit.mean_var[..., None], raw.shape)
    )
    out["shrink_target"] = grid.rows(target)
    out["shrink_target_var"] = grid.rows(target_var)
    out["between_var"] = fit.between_var[group]
    out["shrinkage_weight"] = grid.rows(fit.gamma)
    out["perception_shrunk"] = grid.rows(fit.shrunk)
    out["perception_shrunk_se"] = np.sqrt(grid.rows(fit.mse))
    out["is_modelled"] = modelled
    out["perception_modelled"] = np.where(modelled, model.prediction, np.nan)
    out["perception_modelled_low"] = np.where(modelled, low, np.nan)
    out["perception_modelled_high"] = np.where(modelled, high, np.nan)
    out["model_cv_rmse"] = model.cv_rmse
    out["model_null_rmse"] = model.null_rmse
    out["modelled_status"] = np.select(
        [n > 0, modelled, np.isnan(model.cv_rmse)],
        ["observed", "modelled", "too little to learn from"],
        "model does not beat the band-month mean",
    )
    out["perception_score"] = np.where(modelled, model.prediction, out["perception_shrunk"])
    out["perception_se"] = np.where(modelled, model.cv_rmse, out["perception_shrunk_se"])
    write(con, "idx_perception_eb", out)
    return ["idx_perception_eb", _MODEL_TABLE, fits.TABLE]


def _modelled_perception(
    con: duckdb.DuckDBPyConnection, cells: pd.DataFrame, train: np.ndarray, cfg: IndexConfig
) -> tuple:
    """The perception model (`models.model_perception`), which cells it stands in for
    (no respondents, and the model beats the band-month mean), and their prediction
    intervals; an increment with the same training cells keeps the cross-validated
    figures and loads the fits (`observatory.index.fits`)."""
    n = cells["n_respondents"].to_numpy()
    inputs = _model_inputs(cells, train, cfg)
    before = _previous_model(con)
    kept = before is not None and unchanged(before[0], inputs)
    if kept:
        log.info("perception model: training cells unchanged, their cross-validation kept")
    loaded = _kept_fits(con, cfg, before[0][0]) if kept else {}
    model = model_perception(
        cells,
        train,
        cfg.seed,
        cv=before[1][:2] if kept else None,
        fitted=loaded.get("model"),
    )
    earns_place = model.beats_null(cfg.model_min_gain)
    if not earns_place and not np.isnan(model.cv_rmse):
        log.warning(
            "modelled perception not published: CV RMSE %.1f does not beat the band-month "
            "mean's %.1f by %.0f%%",
            model.cv_rmse,
            model.null_rmse,
            100 * cfg.model_min_gain,
        )
    modelled = (n == 0) & ~np.isnan(model.prediction) & earns_place
    low = high = np.full(len(cells), np.nan)
    margin = before[1][2] if kept else float("nan")
    bounds: tuple = ()
    if modelled.any():
        low, high, margin, bounds = prediction_intervals(
            cells,
            train,
            cfg.seed,
            cfg.confidence,
            None if np.isnan(margin) else margin,
            fitted=(loaded["low"], loaded["high"]) if {"low", "high"} <= set(loaded) else None,
        )
    _record_model(con, before[0] if kept else inputs, (model.cv_rmse, model.null_rmse, margin))
    fitted = dict(zip(("low", "high"), bounds, strict=False))
    if model.model is not None:
        fitted["model"] = model.model
    if set(fitted) != set(loaded) or not table_exists(con, "idx", fits.TABLE):
        fits.keep(con, (before[0] if kept else inputs)[0], fitted)
    return model, modelled, low, high


def _kept_fits(con: duckdb.DuckDBPyConnection, cfg: IndexConfig, input_hash: str) -> dict:
    """The perception model's fits an earlier build kept for these training cells
    (`observatory.index.fits`), by name: model, low, high."""
    alpha = 1.0 - cfg.confidence
    wanted = {
        "model": perception_model(cfg.seed),
        "low": perception_model(cfg.seed, quantile=alpha / 2.0),
        "high": perception_model(cfg.seed, quantile=1.0 - alpha / 2.0),
    }
    loaded = fits.load(con, input_hash, wanted)
    if loaded:
        log.info("perception model: %d fits kept (their training cells unchanged)", len(loaded))
    return loaded


_PROVISIONAL = "select period_start from idx.idx_periods where is_provisional"
#: The perception model's training cells and cross-validated figures (`build_perception`):
#: an incremental build whose training cells are unchanged keeps the figures and fits
#: the models only (the cross-validation is 11 of the 14 fits).
_MODEL_TABLE = "idx_perception_model"


def _model_inputs(cells: pd.DataFrame, train: np.ndarray, cfg: IndexConfig) -> tuple:
    """What the perception model's cross-validation reads: its training cells (which, in
    order), the settings and the model's features, outcomes and weights."""
    import hashlib  # noqa: PLC0415

    from observatory.index.models import FEATURES  # noqa: PLC0415

    rows = cells.loc[train]
    digest = hashlib.sha256(
        repr((cfg.seed, cfg.confidence, cfg.min_respondents, FEATURES)).encode()
    )
    for column in KEYS:
        digest.update("\x1f".join(rows[column].astype(str)).encode())
    numbers = rows[
        ["incident_ratio", "incident_rate_per_1000", "lux_mean", "footfall_per_hour",
         "noise_leq_db", "perception_raw", "n_effective"]
    ]  # fmt: skip
    return digest.hexdigest(), numbers.to_numpy(dtype=np.float64, na_value=np.nan).ravel()


def _previous_model(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """The previous build's model inputs and (cv_rmse, null_rmse, margin), in an
    incremental build; None in a full one (or none recorded)."""
    if months_to_compute(con) is None or not table_exists(con, "idx", _MODEL_TABLE):
        return None
    row = con.execute(
        f"select input_hash, inputs, cv_rmse, null_rmse, interval_margin from idx.{_MODEL_TABLE}"  # noqa: S608 (table name from code)
    ).fetchone()
    if row is None:
        return None
    figures = tuple(np.nan if v is None else float(v) for v in row[2:])
    return (row[0], np.asarray(row[1], dtype=np.float64)), figures


def _record_model(
    con: duckdb.DuckDBPyConnection, inputs: tuple, figures: tuple[float, float, float]
) -> None:
    con.execute(
        f"create or replace table idx.{_MODEL_TABLE} (input_hash varchar, inputs double[], "
        "cv_rmse double, null_rmse double, interval_margin double)"
    )
    con.execute(
        f"insert into idx.{_MODEL_TABLE} values (?, ?, ?, ?, ?)",  # noqa: S608 (table name from code)
        [inputs[0], inputs[1].tolist(), *(None if np.isnan(v) else v for v in figures)],
    )


def build_composite(con: duckdb.DuckDBPyConnection, cfg: IndexConfig) -> list[str]:
    """The index, its intervals, ranks, gaps, changes and fear gaps -> idx tables.

    A history longer than `blocks.BLOCK_MONTHS` is computed in blocks of months, so that
    the Monte Carlo's arrays do not grow with the years (`observatory.index.blocks`)."""
    cells = read(con, _CELLS.format(**_WITH_PERCEPTION))
    periods = sorted({pd.Timestamp(p) for p in pd.to_datetime(cells["period_start"])})
    blocks = period_blocks(periods)
    open_months = months_to_compute(con)
    kept_months: list[object] = []
    if len(blocks) == 1:
        respondents = _composite_respondents(con)
        tables = _composite(cells, respondents, cfg, periods[:1], months=open_months)
        if open_months is not None and not _carry_drawn(con, tables, open_months):
            log.warning("composite: the last build's intervals are not all there: all drawn")
            tables = _composite(cells, respondents, cfg, periods[:1])
        suppressed = cells["is_suppressed"]
    else:
        kept = _frozen_blocks(con, blocks, periods, cfg)
        tables = _composite_in_blocks(
            con, cells, cfg, periods, blocks, skip=kept, months=open_months
        )
        if open_months is not None and not _carry_drawn(con, tables, open_months):
            log.warning("composite: the last build's intervals are not all there: all drawn")
            return _build_composite_in_full(con, cfg, cells, periods, blocks)
        kept_months = [m for block in kept for m in block]
        composite = tables["idx_composite"]
        if kept_months:  # their rows of the previous build: the trend windows read them
            composite = pd.concat(
                [
                    frame[[*KEYS, "index_value"]].assign(
                        period_start=lambda f: pd.to_datetime(f["period_start"])
                    )
                    for frame in (composite, _kept_rows(con, "idx_composite", kept_months))
                ],
                ignore_index=True,
            )
        keys = composite[KEYS].assign(period_start=lambda f: pd.to_datetime(f["period_start"]))
        flags = cells[[*KEYS, "is_suppressed"]].assign(
            period_start=lambda f: pd.to_datetime(f["period_start"])
        )
        suppressed = keys.merge(flags, on=KEYS, how="left")["is_suppressed"]
    # an increment publishes the open months only: their trend tests still read every month
    tables["idx_trends"] = trends(
        composite if len(blocks) > 1 else tables["idx_composite"],
        suppressed,
        cfg,
        months=open_months,
    )
    if kept_months and not _write_keeping(con, tables, kept_months):
        log.warning("composite: kept blocks' columns changed: every block computed")
        return _build_composite_in_full(con, cfg, cells, periods, blocks)
    if not kept_months:
        for name, frame in tables.items():
            write(con, name, frame)
    _record_blocks(con, blocks)
    return [*tables, "idx_composite_blocks"]


def _build_composite_in_full(
    con: duckdb.DuckDBPyConnection,
    cfg: IndexConfig,
    cells: pd.DataFrame,
    periods: list[pd.Timestamp],
    blocks: list[list[object]],
) -> list[str]:
    """Every block computed (what `build_composite` does when no block is frozen)."""
    tables = _composite_in_blocks(con, cells, cfg, periods, blocks)
    keys = tables["idx_composite"][KEYS].assign(
        period_start=lambda f: pd.to_datetime(f["period_start"])
    )
    flags = cells[[*KEYS, "is_suppressed"]].assign(
        period_start=lambda f: pd.to_datetime(f["period_start"])
    )
    suppressed = keys.merge(flags, on=KEYS, how="left")["is_suppressed"]
    tables["idx_trends"] = trends(
        tables["idx_composite"], suppressed, cfg, months=months_to_compute(con)
    )
    for name, frame in tables.items():
        write(con, name, frame)
    _record_blocks(con, blocks)
    return [*tables, "idx_composite_blocks"]


#: The blocks of months the last build's composite ran in (`_frozen_blocks`).
_BLOCKS_TABLE = "idx_composite_blocks"


def _record_blocks(con: duckdb.DuckDBPyConnection, blocks: list[list[object]]) -> None:
    con.execute(f"create or replace table idx.{_BLOCKS_TABLE} (block_start date, months date[])")
    rows = [[pd.Timestamp(b[0]).date(), [pd.Timestamp(m).date() for m in b]] for b in blocks if b]
    if rows:  # a city with no cells yet has one empty block and records none
        con.executemany(
            f"insert into idx.{_BLOCKS_TABLE} values (?, ?)",  # noqa: S608 (table name from code)
            rows,
        )


def _frozen_blocks(
    con: duckdb.DuckDBPyConnection,
    blocks: list[list[object]],
    periods: list[pd.Timestamp],
    cfg: IndexConfig,
) -> list[list[object]]:
    """The blocks an increment need not compute: every month of the block and of the
    months before it that its windows read is closed (frozen), the previous build ran the
    same block (same months, so the same pooled estimates) and left its rows. Their published
    rows are frozen in the marts; their idx rows are the previous build's, which the
    trend windows and the interventions read (a full build computes them again: the same
    point figures, as a frozen month's, docs/build-graph.md). Never the last block, whose
    method tables (`_NOT_BY_MONTH`) the build keeps. None in a full build."""
    open_months = months_to_compute(con)
    if open_months is None or not table_exists(con, "idx", _BLOCKS_TABLE):
        return []
    before = {
        tuple(months)
        for (months,) in con.execute(f"select months from idx.{_BLOCKS_TABLE}").fetchall()  # noqa: S608 (table name from code)
    }
    present = {
        p for (p,) in con.execute("select distinct period_start from idx.idx_composite").fetchall()
    }
    opened = {pd.Timestamp(m) for m in open_months}
    context = max(cfg.fear_gap_months - 1, 1)
    frozen = []
    for block in blocks[:-1]:
        first = periods.index(pd.Timestamp(block[0]))
        window = periods[max(0, first - context) : first + len(block)]
        months = tuple(pd.Timestamp(m).date() for m in block)
        if opened.isdisjoint(window) and months in before and set(months) <= present:
            frozen.append(block)
    return frozen


def _kept_rows(con: duckdb.DuckDBPyConnection, table: str, months: list[object]) -> pd.DataFrame:
    return con.execute(
        f"select * from idx.{table} where period_start in (select unnest(cast($m as date[])))",  # noqa: S608 (idx table names from code)
        {"m": [pd.Timestamp(m).date() for m in months]},
    ).df()


def _write_keeping(
    con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame], months: list[object]
) -> bool:
    """Write the composite's tables, the by-month ones keeping the previous build's rows
    of `months` (frozen blocks: `_frozen_blocks`); idx_trends holds the open months only.
    False (nothing kept) if a table's columns or their types are not the kept rows': the
    caller computes every block then."""
    days = [pd.Timestamp(m).date() for m in months]
    by_month = [
        n
        for n, f in tables.items()
        if "period_start" in f and n not in (*_NOT_BY_MONTH, "idx_trends")
    ]
    for name in by_month:
        con.execute(
            f"create or replace temp table _kept_{name} as select * from idx.{name} "  # noqa: S608 (idx table names from code)
            "where period_start in (select unnest(cast($m as date[])))",
            {"m": days},
        )
    for name, frame in tables.items():
        write(con, name, frame)
    same = all(_schema(con, f"_kept_{n}") == _schema(con, f"idx.{n}") for n in by_month)
    for name in by_month:
        if same:
            con.execute(f"insert into idx.{name} select * from _kept_{name}")  # noqa: S608 (idx table names from code)
        con.execute(f"drop table _kept_{name}")
    return same


def _schema(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"describe {table}").fetchall()]


#: Tables of the composite step that describe the method, not months: a multi-block
#: history keeps the latest block's.
_NOT_BY_MONTH = ("idx_method", "idx_fear_gap_model")


def _composite_respondents(
    con: duckdb.DuckDBPyConnection, months: list[pd.Timestamp] | None = None
) -> pd.DataFrame:
    """The survey units the composite's bootstrap counts (of `months`; None: all)."""
    return con.execute(
        "select zone_id, time_band, period_start, respondent_id, score, weight, "
        "stratum_id, cluster_id "
        "from idx.idx_respondents "
        "where $all or period_start in (select unnest(cast($months as date[]))) "
        "order by period_start, time_band, zone_id, respondent_id",  # fixed order: same draws
        {"all": months is None, "months": [m.date() for m in months or []]},
    ).df()


def _composite_in_blocks(
    con: duckdb.DuckDBPyConnection,
    cells: pd.DataFrame,
    cfg: IndexConfig,
    periods: list[pd.Timestamp],
    blocks: list[list[object]],
    *,
    skip: list[list[object]] | None = None,
    months: Collection[dt.date] | None = None,
) -> dict[str, pd.DataFrame]:
    """The composite per block of months, each with the months before it that the fear
    gap's window and the change on the previous month read (computed, not kept). Each
    block reads only its window's survey units (five years of them took 380 MB). The
    blocks of `skip` are not computed (an increment's frozen blocks); with `months`, only
    those months' intervals are drawn (`_composite`)."""
    period = pd.to_datetime(cells["period_start"])
    context = max(cfg.fear_gap_months - 1, 1)
    parts: dict[str, list[pd.DataFrame]] = {}
    for block in blocks:
        if skip and block in skip:
            log.info("composite: block from %s frozen, not recomputed", block[0])
            continue
        first = periods.index(pd.Timestamp(block[0]))
        window = periods[max(0, first - context) : first + len(block)]
        tables = _composite(
            cells[period.isin(window)].reset_index(drop=True),
            _composite_respondents(con, window),
            cfg,
            block,
            months=None if months is None else _in_block(months, block),
        )
        for name, frame in tables.items():
            by_month = "period_start" in frame and name not in _NOT_BY_MONTH
            kept = frame[pd.to_datetime(frame["period_start"]).isin(block)] if by_month else frame
            parts.setdefault(name, []).append(kept)
    return {
        name: frames[-1] if name in _NOT_BY_MONTH else pd.concat(frames, ignore_index=True)
        for name, frames in parts.items()
    }


def _in_block(months: Collection[dt.date], block: list[object]) -> list[pd.Timestamp]:
    ours = {pd.Timestamp(m) for m in block}
    return [pd.Timestamp(m) for m in months if pd.Timestamp(m) in ours]


def _composite(
    cells: pd.DataFrame,
    respondents: pd.DataFrame,
    cfg: IndexConfig,
    block: Sequence[object],
    *,
    months: Collection[object] | None = None,
) -> dict[str, pd.DataFrame]:
    """The composite step's tables (but the trends) over the months of `cells`, the block
    of months starting at `block[0]` (whose generators the draws without a month axis
    use: streams.py).

    With `months` (an increment's open months), only their intervals are drawn, with the
    months their windows read (`engine.drawn_months`); every point figure and pooled
    estimate is still over every month, and the other months' intervals are NaN, for
    the caller to carry from the last build (`_carry_drawn`). An empty `months` draws
    the last month alone (a block must draw something; its intervals are a full
    build's all the same)."""
    grid = Grid.from_frame(cells)
    position = pd.Series(
        np.ravel_multi_index((grid.b, grid.t, grid.z), grid.shape),
        index=pd.MultiIndex.from_frame(cells[KEYS]),
    )
    cell = position.reindex(pd.MultiIndex.from_frame(respondents[KEYS])).to_numpy()
    on_grid = ~np.isnan(cell)  # answers without a zone or band have no cell to count in
    if not on_grid.all():
        log.warning("%d survey units have no zone or band: left out", (~on_grid).sum())
    respondents, cell = respondents[on_grid].copy(), cell[on_grid].astype(int)
    respondents["person"] = respondents.groupby(
        ["respondent_id", "zone_id", "period_start"], sort=False
    ).ngroup()
    _add_design(respondents)
    streams = MonthStreams(cfg.seed, grid.periods)
    wanted = None
    if months is not None:
        at = {p: i for i, p in enumerate(grid.periods)}
        wanted = sorted(at[pd.Timestamp(m)] for m in months if pd.Timestamp(m) in at)
        wanted = wanted or [len(grid.periods) - 1]
    drawn = drawn_months(
        grid.previous_period(),
        grid.window(cfg.fear_gap_months),
        np.arange(len(grid.periods)) if wanted is None else np.asarray(wanted),
    )
    boot = _bootstrap_by_month(
        respondents, cell, grid, draws=cfg.uncertainty_draws, streams=streams, months=drawn
    )
    log.info("composite: %d of %d months drawn", len(drawn), len(grid.periods))

    n = cells["n_respondents"].to_numpy()
    published = ~cells["is_suppressed"].to_numpy()
    modelled = cells["is_modelled"].to_numpy(dtype=bool)
    precision = 1.0 / (cells["between_var"].fillna(0.0) + cells["sampling_var"])
    # pre-aggregated sources alone give no sampling variance: weigh their cells equally
    cells["precision"] = precision.where(np.isfinite(precision), 1.0)
    train = (
        published
        & (n >= cfg.min_respondents)
        & ~modelled
        & cells["perception_raw"].notna().to_numpy()
    )
    baseline = fear_baseline(
        cells,
        train,
        cfg.uncertainty_draws,
        cfg.confidence,
        block_generator(cfg.seed, "fear", block),
    )
    expected_draws = np.full((cfg.uncertainty_draws, *grid.shape), np.nan)
    expected_draws[:, grid.b, grid.t, grid.z] = baseline.draws
    inputs = IndexInputs(
        indicators={
            "incident_ratio": grid.cube(cells["incident_ratio"]),
            "lux": grid.cube(cells["lux_mean"]),
            # footfall is an indicator or the incidents' exposure, never both
            "footfall": grid.cube(
                cells["footfall_per_hour"] if cfg.footfall_role == "indicator" else np.nan
            ),
            "noise_db": grid.cube(cells["noise_leq_db"]),
        },
        incident_severity=grid.cube(cells["incident_severity_sum"]),
        incident_severity_sq=grid.cube(cells["incident_severity_sq_sum"]),
        incident_expected=grid.cube(cells["incident_expected"]),
        perception=_perception_model(cells, grid, cfg),
        published=grid.mask(published),
        expected=grid.cube(baseline.expected),
        expected_draws=expected_draws,
        boot=boot,
        single=grid.mask(cells["n_units"].to_numpy() == 1),
        previous=grid.previous_period(),
        fear_window=grid.window(cfg.fear_gap_months),
        city_perception=_city_means(respondents, cell, grid),
    )
    result = compute_index(
        inputs, cfg, streams, block_generator(cfg.seed, "variants", block), months=wanted
    )
    tables = result_tables(result, grid, cells, baseline.expected, cfg)
    tables["idx_fear_gap_model"] = baseline.terms
    return tables


def _bootstrap_by_month(
    respondents: pd.DataFrame,
    cell: np.ndarray,
    grid: Grid,
    *,
    draws: int,
    streams: MonthStreams,
    months: np.ndarray,
) -> BootstrapSums:
    """The bootstrap sums of the months at positions `months` (zero elsewhere), each
    month's counts from its own stream (streams.py): a respondent is one month's (a
    person is a respondent in a zone and month; strata and PSUs are within months)."""
    n_cells = int(np.prod(grid.shape))
    score, weight = np.zeros((draws, n_cells)), np.zeros((draws, n_cells))
    month_of = np.unravel_index(cell, grid.shape)[1]
    for t in months:
        rows = np.flatnonzero(month_of == t)
        if not len(rows):
            continue
        cells, local = np.unique(cell[rows], return_inverse=True)
        sums = bootstrap_sums(
            respondents.iloc[rows], local, len(cells), draws, streams.of("bootstrap", int(t))
        )
        score[:, cells], weight[:, cells] = sums.score, sums.weight
    return BootstrapSums(score, weight)


def _carry_drawn(
    con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame], months: Collection[dt.date]
) -> bool:
    """An increment's composite tables get the last build's intervals (and the flags
    drawn with them: `outputs.DRAWN_COLUMNS`) for every month but the open `months`,
    which it drew. Those months are never published by this build (the marts put back
    their frozen rows); their point figures are this build's. False if the last build
    left no such row for one of them: the caller then draws every month."""
    wanted = {pd.Timestamp(m) for m in months}
    for name, columns in DRAWN_COLUMNS.items():
        frame = tables[name]
        period = pd.to_datetime(frame["period_start"])
        other = ~period.isin(wanted).to_numpy()
        if not other.any():
            continue
        if not table_exists(con, "idx", name):
            return False
        have = {r[0] for r in con.execute(f"describe idx.{name}").fetchall()}  # noqa: S608 (table name from code)
        keys = [k for k in KEYS if k in frame]
        if not {*keys, *columns} <= have:
            return False
        days = sorted({p.date() for p in period[other]})
        before = con.execute(
            f"select {', '.join([*keys, *columns])} from idx.{name} "  # noqa: S608 (names from code)
            "where period_start in (select unnest(cast($m as date[])))",
            {"m": days},
        ).df()
        before["period_start"] = pd.to_datetime(before["period_start"])
        rows = frame.loc[other, keys].assign(period_start=period[other])
        found = rows.merge(before, on=keys, how="left", validate="one_to_one", indicator=True)
        if (found["_merge"] != "both").any():
            return False
        for column in columns:
            frame.loc[other, column] = found[column].to_numpy()
    return True


def build_respondent_groups(con: duckdb.DuckDBPyConnection, cfg: IndexConfig) -> list[str]:
    """Respondent-group cells -> idx.idx_groups, for the months this build publishes
    (an increment's open months; the other months' rows stay, unpublished)."""
    tables = build_groups(con, cfg, months=months_to_compute(con))
    # a month no longer in the build (its batches retracted) keeps no rows to publish
    con.execute(
        "delete from idx.idx_groups where period_start not in "
        "(select period_start from idx.idx_periods)"
    )
    return tables


def trends(
    composite: pd.DataFrame,
    suppressed: pd.Series,
    cfg: IndexConfig,
    months: Collection[dt.date] | None = None,
) -> pd.DataFrame:
    """Trend test of each zone x band at each month, flagged by Benjamini-Hochberg per month.

    Only published months enter a series; the p-values of one month (every zone and band)
    are adjusted together at the configured q. `months`: only those months' rows (an
    incremental build's open months, `increment.months_to_compute`), each the same as
    over every month (a window reads the months before it; a month's family is whole).
    """
    keys = composite[KEYS].copy()
    period = pd.to_datetime(keys["period_start"])
    published = ~suppressed.to_numpy(dtype=bool) & composite["index_value"].notna().to_numpy()
    series = keys.assign(
        month_no=period.dt.year * 12 + period.dt.month, value=composite["index_value"]
    )[published]
    wanted = None if months is None else {m.year * 12 + m.month for m in months}
    tested = trend_tests(series, cfg.trend_window, cfg.trend_min_periods, wanted)
    out = keys.join(tested)
    if wanted is not None:
        out = out[(period.dt.year * 12 + period.dt.month).isin(wanted).to_numpy()].copy()
        period = period[out.index]
    out["n_periods_in_trend"] = out["n_periods_in_trend"].fillna(0).astype(int)
    out["is_trend_significant"] = benjamini_hochberg(
        out["trend_p_value"].to_numpy(dtype=float), period.to_numpy(), cfg.fdr_q
    )
    return out


#: Indicator columns a Fay-Herriot covariate can come from, and their transformation.
_COVARIATES = {
    "incident_ratio": ("incident_ratio", np.log1p),
    "lux": ("lux_mean", np.asarray),
    "footfall": ("footfall_per_hour", np.asarray),
    "noise_db": ("noise_leq_db", np.asarray),
}


def shrinkage_design(cells: pd.DataFrame, grid: Grid, covariates: list[str]) -> np.ndarray | None:
    """The Fay-Herriot design (B, T, Z, 1 + p): an intercept and each covariate standardised
    within its band-month; a cell without the covariate takes the band-month mean (0).

    None when no covariates are configured (the intercept alone: shrink toward the mean).
    """
    if not covariates:
        return None
    columns = [np.ones(grid.shape)]
    for name in covariates:
        column, transform = _COVARIATES[name]
        x = grid.cube(transform(cells[column].to_numpy(dtype=float)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # band-months without the indicator
            centre = np.nanmean(x, axis=-1, keepdims=True)
            sd = np.nanstd(x, axis=-1, keepdims=True)
        z = np.where(sd > 0, (x - centre) / np.where(sd > 0, sd, 1.0), 0.0)
        columns.append(np.nan_to_num(z))
    return np.stack(columns, axis=-1)


def _add_design(respondents: pd.DataFrame) -> None:
    """PSU and stratum of each row for the Rao-Wu bootstrap, where the survey has a design.

    A respondent without a PSU is a PSU of their own; strata are the survey's strata, else
    the zone, within each month (design.py).
    """
    if respondents["cluster_id"].isna().all() and respondents["stratum_id"].isna().all():
        return
    month = respondents["period_start"].astype(str)
    stratum = respondents["stratum_id"].astype("string").fillna(respondents["zone_id"])
    respondents["stratum"] = stratum + "|" + month
    person = "person:" + respondents["person"].astype(str)
    cluster = respondents["cluster_id"].astype("string").fillna(person)
    respondents["psu"] = respondents["stratum"] + "|" + cluster  # codes may repeat by stratum


def _perception_model(cells: pd.DataFrame, grid: Grid, cfg: IndexConfig) -> PerceptionModel:
    return PerceptionModel(
        point=grid.cube(cells["perception_score"]),
        raw=grid.cube(cells["perception_raw"]),
        variance=grid.cube(cells["sampling_var"]),
        gamma=grid.cube(cells["shrinkage_weight"]),
        mse=grid.cube(cells["perception_shrunk_se"] ** 2),
        target=grid.cube(cells["shrink_target"]),
        target_var=grid.cube(cells["shrink_target_var"]),
        modelled=grid.mask(cells["is_modelled"]),
        model_rmse=float(cells["model_cv_rmse"].iloc[0]) if len(cells) else float("nan"),
        model_low=grid.cube(cells["perception_modelled_low"]),
        model_high=grid.cube(cells["perception_modelled_high"]),
        level=cfg.confidence,
    )


def _city_means(respondents: pd.DataFrame, cell: np.ndarray, grid: Grid) -> np.ndarray:
    groups = cell // grid.shape[2]
    size = grid.shape[0] * grid.shape[1]
    w = respondents["weight"].to_numpy(dtype=float)
    num = np.bincount(
        groups, weights=w * respondents["score"].to_numpy(dtype=float), minlength=size
    )
    den = np.bincount(groups, weights=w, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num / den).reshape(grid.shape[:2])


def mart_params(cfg: IndexConfig) -> dict[str, object]:
    """Parameters the index and mart SQL models bind (beyond the pipeline's own)."""
    return {
        "trend_min_periods": cfg.trend_min_periods,
        "footfall_exposure": cfg.footfall_role == "exposure",
        "method_version": METHOD_VERSION,
    }


#: The Python steps of the build graph, with the tables each reads and writes
#: (`observatory.graph` orders them among the SQL models).
PYTHON_STEPS: dict[str, PythonStep] = {
    "idx_suppression": python_step(
        inputs=["idx.idx_indicators", "idx.idx_respondents"],
        outputs=["idx.idx_suppression"],
    )(build_suppression),
    "idx_perception_eb": python_step(
        inputs=[
            "idx.idx_indicators",
            "idx.idx_suppression",
            "idx.idx_respondents",
            "idx.idx_periods",
        ],
        outputs=["idx.idx_perception_eb", f"idx.{_MODEL_TABLE}", f"idx.{fits.TABLE}"],
    )(build_perception),
    "idx_composite": python_step(
        inputs=[
            "idx.idx_indicators",
            "idx.idx_suppression",
            "idx.idx_perception_eb",
            "idx.idx_respondents",
        ],
        outputs=[
            "idx.idx_composite",
            "idx.idx_day_night_gap",
            "idx.idx_fear_gap",
            "idx.idx_fear_gap_model",
            "idx.idx_city",
            "idx.idx_method",
            "idx.idx_trends",
            "idx.idx_composite_blocks",
        ],
    )(build_composite),
    # who feels unsafe: respondent-group cells and their disclosure control (groups.py)
    "idx_groups": python_step(
        inputs=[
            "idx.idx_respondents",
            "idx.idx_suppression",
            "staging.stg_survey",
            "idx.idx_periods",
        ],
        outputs=["idx.idx_groups"],
    )(build_respondent_groups),
    # did it work? interventions against comparison zones (observatory.interventions)
    "idx_intervention_effects": build_intervention_effects,
}
