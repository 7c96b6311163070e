"""The evaluation step of a build (`idx_intervention_effects`, a Python step of the index
layer run after the composite): read the register and the published outcomes, evaluate
every intervention x outcome x band, write idx.idx_intervention_effects and
idx.idx_intervention_event_study (published by marts.intervention_effects and
marts.intervention_event_study).

Outcomes are taken where the index keeps them in their natural units, not shrunk and not
capped: perception is the DIRECT survey estimate (Fay-Herriot shrinkage would pull a treated
zone's change toward the city), lux is the measured illuminance (the goalposts stop at 30
lux, so a relighting from 25 to 50 lux would read as 25 to 30). Withheld cells
(idx_suppression) give no perception and no index value: a published effect is a function
of published cells only, so it cannot be differenced to recover a withheld one. Only final
months are read (idx_periods): a provisional month's figures are partial and would move
every evaluation on every daily run until the month is complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd

from observatory.config import EvaluationConfig, IndexConfig
from observatory.graph import python_step
from observatory.increment import TOLERANCE, unchanged
from observatory.interventions.estimate import Design, evaluate

log = logging.getLogger(__name__)

#: outcome -> (column of the cells query, bands it is measured in, unit)
OUTCOMES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "perception": ("perception", ("day", "night"), "points"),
    "incident_ratio": ("incident_ratio", ("day", "night"), "ratio"),
    "lux": ("lux", ("night",), "lux"),
    "footfall": ("footfall", ("day", "night"), "passes_per_hour"),
    "index": ("index_value", ("day", "night"), "points"),
}

_CELLS = """
    select
        i.zone_id,
        i.time_band,
        i.period_start,
        case when not s.is_suppressed then i.perception_raw end as perception,
        i.incident_ratio,
        i.lux_mean as lux,
        i.footfall_per_hour as footfall,
        case when not s.is_suppressed then c.index_value end as index_value,
    from idx.idx_indicators as i
    inner join idx.idx_suppression as s using (zone_id, time_band, period_start)
    inner join idx.idx_composite as c using (zone_id, time_band, period_start)
    -- final months only: a provisional month is still being delivered (its incidents are
    -- counted over part of the month against the whole month's exposure) and enters the
    -- evaluation once it is final (docs/interventions.md, "Final months only")
    inner join idx.idx_periods as p using (period_start)
    where not p.is_provisional
    order by i.period_start, i.time_band, i.zone_id
"""


def month_number(day: dt.date | pd.Timestamp) -> int:
    """Months since year 0: consecutive months are consecutive numbers."""
    return day.year * 12 + day.month - 1


def month_start(number: int | None) -> dt.date | None:
    """The first day of a month number (None stays None)."""
    return None if number is None else dt.date(number // 12, number % 12 + 1, 1)


def design_of(evaluation: EvaluationConfig, index: IndexConfig) -> Design:
    """The evaluation settings of a project (`[evaluation]`, and `[index]`'s level and seed)."""
    return Design(
        confidence=index.confidence,
        min_pre_periods=evaluation.min_pre_periods,
        min_post_periods=evaluation.min_post_periods,
        min_comparison_zones=evaluation.min_comparison_zones,
        wild_bootstrap_below_zones=evaluation.wild_bootstrap_below_zones,
        matched_zones=evaluation.matched_zones,
        bootstrap_reps=evaluation.bootstrap_reps,
        seed=index.seed,
    )


def eligible_cells(
    cells: pd.DataFrame, register: pd.DataFrame, intervention_id: str, comparison: str
) -> pd.DataFrame:
    """The cells one intervention is evaluated on: its treated zones, and comparison zones
    untreated throughout (never treated), or, for `not_yet_treated`, also other
    interventions' zones in their months before their own start."""
    this = register[register["intervention_id"] == intervention_id].iloc[0]
    treated = set(this["zone_ids"])
    starts: dict[str, int] = {}
    for other in register.itertuples():
        if other.intervention_id == intervention_id:
            continue
        for zone in other.zone_ids:
            first = month_number(other.start_date)
            starts[zone] = min(starts.get(zone, first), first)
    zone_start = cells["zone_id"].map(starts)
    if comparison == "never_treated":
        keep = cells["zone_id"].isin(treated) | zone_start.isna()
    else:  # not yet treated: before the zone's own first intervention
        keep = cells["zone_id"].isin(treated) | zone_start.isna() | (cells["t"] < zone_start)
    return cells[keep]


#: (intervention_id, outcome, time_band): one evaluation.
Key = tuple[str, str, str]


#: What an evaluation reads (`evaluation_inputs`): the digest of its panel's layout and
#: settings, and its outcomes in panel order.
Inputs = tuple[str, np.ndarray]

#: Outcomes this close to the previous build's, as a fraction of their largest absolute
#: value, count as unchanged (`observatory.increment.unchanged`): effects are published
#: to 3 decimals.
OUTCOME_TOLERANCE = TOLERANCE


def evaluation_inputs(
    panel: pd.DataFrame, treated: set[str], start: int, end: int | None, design: Design
) -> Inputs:
    """Everything `evaluate` reads for one evaluation: the panel's cells it keeps (an
    outcome, up to the intervention's end) as a SHA-256 of their zones and months in
    order, the treated zones, the months and the settings, plus the outcomes themselves.
    Equal inputs give the same evaluation (it is seeded), so an incremental build reuses
    it (`same_inputs`, `build_intervention_effects`)."""
    cells = panel.dropna(subset=["y"])
    if end is not None:
        cells = cells[cells["t"] <= end]
    digest = hashlib.sha256()
    digest.update(repr((sorted(treated), start, end, design)).encode())
    digest.update("\x1f".join(cells["zone_id"].astype(str)).encode())
    digest.update(np.ascontiguousarray(cells["t"].to_numpy(dtype=np.int64)).tobytes())
    return digest.hexdigest(), cells["y"].to_numpy(dtype=np.float64)


def same_inputs(before: Inputs | None, now: Inputs) -> bool:
    """True when an evaluation read the same panel, zones, months and settings as before
    and every outcome is within `OUTCOME_TOLERANCE` of its largest absolute value."""
    return unchanged(before, now)


def run_evaluations(
    cells: pd.DataFrame,
    register: pd.DataFrame,
    evaluation: EvaluationConfig,
    index: IndexConfig,
    *,
    reuse: Callable[[Key, Inputs], bool] | None = None,
) -> tuple:
    """Every intervention x outcome x band: (effects, event study) frames, and the inputs
    of each (`evaluation_inputs`). `reuse(key, inputs)` True: the evaluation is not run
    (the caller keeps an earlier one of the same inputs) and has no rows here."""
    design = design_of(evaluation, index)
    # month numbers as integers even when no month is final yet (an empty frame's map
    # would keep the dates' dtype, and the comparisons with the start month fail)
    dates = pd.to_datetime(cells["period_start"])
    cells = cells.assign(t=(dates.dt.year * 12 + dates.dt.month - 1).astype("int64"))
    effects, events, digests = [], [], {}
    for item in register.itertuples():
        mine = eligible_cells(cells, register, item.intervention_id, evaluation.comparison)
        start = month_number(item.start_date)
        end = month_number(item.end_date) if pd.notna(item.end_date) else None
        for outcome, (column, bands, unit) in OUTCOMES.items():
            for band in bands:
                panel = mine.loc[mine["time_band"] == band, ["zone_id", "t", column]]
                panel = panel.rename(columns={column: "y"})
                key = (item.intervention_id, outcome, band)
                digests[key] = evaluation_inputs(panel, set(item.zone_ids), start, end, design)
                if reuse is not None and reuse(key, digests[key]):
                    continue
                result = evaluate(panel, set(item.zone_ids), start, end, design)
                keys = {
                    "intervention_id": item.intervention_id,
                    "outcome": outcome,
                    "time_band": band,
                    "unit": unit,
                }
                effects.append({**keys, **result.effect})
                if len(result.event_study):
                    events.append(result.event_study.assign(**keys, start_month=start))
    return (
        _effects_frame(effects, evaluation.comparison, index.confidence),
        _events_frame(events),
        digests,
    )


def _effects_frame(rows: list[dict], comparison: str, confidence: float) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for col in ("pre_start", "pre_end", "post_start", "post_end"):
        frame[col] = [month_start(None if pd.isna(v) else int(v)) for v in frame[col]]
    frame["comparison"] = comparison
    frame["confidence"] = confidence
    return frame


def _events_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    frame["period_start"] = [
        month_start(int(s + r))
        for s, r in zip(frame["start_month"], frame["relative_month"], strict=True)
    ]
    return frame.drop(columns="start_month")


_EFFECT_COLUMNS = (
    "intervention_id varchar, outcome varchar, time_band varchar, unit varchar, "
    "status varchar, reason varchar, estimate double, ci_low double, ci_high double, "
    "std_error double, p_value double, estimator varchar, inference varchar, "
    "confidence double, pre_start date, pre_end date, post_start date, post_end date, "
    "n_pre_periods bigint, n_post_periods bigint, n_treated_zones bigint, "
    "n_comparison_zones bigint, comparison_zone_ids varchar[], comparison varchar, "
    "matching varchar, n_cells bigint, treated_pre_mean double, "
    "pre_trend_slope double, pre_trend_p_value double, is_pre_trend_detected boolean"
)
_EVENT_COLUMNS = (
    "intervention_id varchar, outcome varchar, time_band varchar, unit varchar, "
    "relative_month bigint, period_start date, estimate double, ci_low double, "
    "ci_high double, std_error double, is_reference boolean, n_treated_cells bigint"
)


def _replace(con: duckdb.DuckDBPyConnection, table: str, columns: str, frame: pd.DataFrame):
    con.execute(f"create or replace table idx.{table} ({columns})")
    if frame.empty:
        return
    con.register("_evaluation_frame", frame)
    try:
        con.execute(f"insert into idx.{table} by name select * from _evaluation_frame")  # noqa: S608 (table names from code)
    finally:
        con.unregister("_evaluation_frame")


def _settings(con: duckdb.DuckDBPyConnection) -> EvaluationConfig:
    frame = con.execute("select * from ref.evaluation_settings").df()
    return EvaluationConfig(**frame.iloc[0].to_dict()) if len(frame) else EvaluationConfig()


#: The inputs each evaluation of `idx.idx_intervention_effects` was made from.
_DIGESTS = "idx_intervention_inputs"
_KEY = ("intervention_id", "outcome", "time_band")


@python_step(
    inputs=[
        "ref.interventions",
        "ref.evaluation_settings",
        "idx.idx_indicators",
        "idx.idx_suppression",
        "idx.idx_composite",
        "idx.idx_periods",
    ],
    outputs=[
        "idx.idx_intervention_effects",
        "idx.idx_intervention_event_study",
        f"idx.{_DIGESTS}",
    ],
)
def build_intervention_effects(con: duckdb.DuckDBPyConnection, index: IndexConfig) -> list[str]:
    """Evaluate the register (ref.interventions) on the index's published outcomes.

    An incremental build evaluates again only what reads something new: an evaluation
    whose inputs (`same_inputs`) are those of the previous build's is kept, rows and all
    (an intervention that has ended, an outcome no new batch changed, every evaluation
    while only a provisional month changed); when none is new, pyfixest is not even
    imported. A full build evaluates everything."""
    register = con.execute("select * from ref.interventions order by intervention_id").df()
    effects, events = pd.DataFrame(), pd.DataFrame()
    digests: dict[Key, Inputs] = {}
    kept: set[Key] = set()
    if len(register):
        cells = con.execute(_CELLS).df()
        before = _previous_digests(con)

        def reuse(key: Key, inputs: Inputs) -> bool:
            if same_inputs(before.get(key), inputs):
                kept.add(key)
                return True
            return False

        effects, events, digests = run_evaluations(
            cells, register, _settings(con), index, reuse=reuse if before else None
        )
        # a kept evaluation keeps the inputs it was made from, so that small moves cannot
        # add up, build after build, past the tolerance unnoticed
        digests.update({key: before[key] for key in kept})
        log.info(
            "evaluated %d interventions: %d effect rows (%d kept: their inputs unchanged)",
            len(register),
            len(effects) + len(kept),
            len(kept),
        )
    order = pd.DataFrame([[*k, i] for i, k in enumerate(digests)], columns=[*_KEY, "_rank"]).astype(
        {c: str for c in _KEY}
    )
    con.register("_evaluation_order", order)
    try:
        _keep_previous(con, kept)
        _replace(con, "idx_intervention_effects", _EFFECT_COLUMNS, effects)
        _replace(con, "idx_intervention_event_study", _EVENT_COLUMNS, events)
        _put_back(con, kept)
    finally:
        con.unregister("_evaluation_order")
    _replace(
        con,
        _DIGESTS,
        "intervention_id varchar, outcome varchar, time_band varchar, input_hash varchar, "
        "outcomes double[]",
        pd.DataFrame(
            [[*k, h, y.tolist()] for k, (h, y) in digests.items()],
            columns=[*_KEY, "input_hash", "outcomes"],
        ),
    )
    return ["idx_intervention_effects", "idx_intervention_event_study", _DIGESTS]


def _previous_digests(con: duckdb.DuckDBPyConnection) -> dict[Key, Inputs]:
    """The previous build's inputs, in an incremental build whose previous rows are all
    there; empty otherwise (a full build, a first build, an older warehouse)."""
    from observatory.increment import months_to_compute  # noqa: PLC0415
    from observatory.warehouse import table_exists  # noqa: PLC0415

    if months_to_compute(con) is None or not all(
        table_exists(con, "idx", t)
        for t in (_DIGESTS, "idx_intervention_effects", "idx_intervention_event_study")
    ):
        return {}
    columns = {r[0] for r in con.execute(f"describe idx.{_DIGESTS}").fetchall()}  # noqa: S608 (table name from code)
    if "outcomes" not in columns:  # written before outcomes were kept: evaluate everything
        return {}
    return {
        (i, o, b): (h, np.asarray(y, dtype=np.float64))
        for i, o, b, h, y in con.execute(
            "select intervention_id, outcome, time_band, input_hash, outcomes "  # noqa: S608 (table name from code)
            f"from idx.{_DIGESTS}"
        ).fetchall()
    }


_EVALUATION_TABLES = {
    "idx_intervention_effects": "",
    "idx_intervention_event_study": ", t.relative_month",
}


def _keep_previous(con: duckdb.DuckDBPyConnection, kept: set[Key]) -> None:
    """Copy the kept evaluations' previous rows aside (the tables are then replaced)."""
    if not kept:
        return
    keys = pd.DataFrame(sorted(kept), columns=list(_KEY))
    con.register("_kept_evaluations", keys)
    try:
        for table in _EVALUATION_TABLES:
            con.execute(
                f"create or replace temp table _kept_{table} as select t.* from idx.{table} as t "  # noqa: S608 (table names from code)
                "semi join _kept_evaluations as k using (intervention_id, outcome, time_band)"
            )
    finally:
        con.unregister("_kept_evaluations")


def _put_back(con: duckdb.DuckDBPyConnection, kept: set[Key]) -> None:
    """Add the kept rows to the replaced tables, every row in evaluation order (as a build
    that evaluated everything writes them)."""
    if not kept:
        return
    for table, extra in _EVALUATION_TABLES.items():
        con.execute(f"insert into idx.{table} select * from _kept_{table}")  # noqa: S608 (table names from code)
        con.execute(
            f"create or replace table idx.{table} as select t.* from idx.{table} as t "  # noqa: S608 (table names from code)
            "left join _evaluation_order as o using (intervention_id, outcome, time_band) "
            f"order by o._rank{extra}"
        )
        con.execute(f"drop table _kept_{table}")
