"""What the report shows, read from the published marts of one city and one month.

Only dashboard tables (`marts.*`) and the zone outlines (`ref.zones`) are read: the report
never sees a respondent, an answer or an incident row, so it cannot leak one. The result is
plain JSON-able data; `observatory.report.render` draws it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import duckdb

from observatory.config import Config
from observatory.monitoring import schedule_period
from observatory.warehouse import table_exists

#: Marts the report reads; a missing one means the warehouse has not been built.
REPORT_MARTS = (
    "zone_index",
    "zone_trends",
    "day_night_gap",
    "fear_gap",
    "city_summary",
    "data_quality",
)
#: Months of history drawn in the small multiples (the latest ones up to the period).
SERIES_MONTHS = 24


class ReportError(ValueError):
    """A report cannot be made as asked (e.g. a month with no index); worded for the user."""


def _value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).isoformat(timespec="seconds")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, map(_value, row), strict=True)) for row in cur.fetchall()]


def choose_period(con: duckdb.DuckDBPyConnection, period: str | None) -> dt.date:
    """The month to report: `YYYY-MM` if given (it must have an index), else the latest."""
    months = [
        r[0]
        for r in con.execute(
            "select distinct period_start from marts.zone_index order by 1"
        ).fetchall()
    ]
    if not months:
        raise ReportError("marts.zone_index is empty: ingest data and run `observatory build`")
    if period is None:
        # the latest month with published perception, not one whose survey is not in yet
        (latest,) = con.execute(
            "select max(period_start) from marts.zone_index where perception_score is not null"
        ).fetchone()
        return latest or months[-1]
    if not re.fullmatch(r"\d{4}-\d{2}", period):
        raise ReportError(f"--period {period!r}: expected YYYY-MM, e.g. {months[-1]:%Y-%m}")
    wanted = dt.date(int(period[:4]), int(period[5:]), 1)
    if wanted not in months:
        raise ReportError(
            f"--period {period}: no index for that month; the warehouse has "
            f"{months[0]:%Y-%m} to {months[-1]:%Y-%m}"
        )
    return wanted


def _zones(con: duckdb.DuckDBPyConnection, period: dt.date) -> list[dict]:
    rows = _records(
        con,
        """
        select z.zone_id, z.zone_name, i.time_band, i.n_respondents, i.is_suppressed,
               i.is_modelled, i.index_value, i.index_ci_low, i.index_ci_high, i.index_rank,
               i.index_rank_ci_low, i.index_rank_ci_high, i.n_ranked, t.change_vs_previous,
               t.change_ci_low, t.change_ci_high, t.is_change_significant, t.trend_direction
        from ref.zones as z
        left join marts.zone_index as i on i.zone_id = z.zone_id and i.period_start = ?
        left join marts.zone_trends as t
            on t.zone_id = i.zone_id and t.time_band = i.time_band
            and t.period_start = i.period_start
        order by z.zone_id, i.time_band
        """,
        [period],
    )
    zones: dict[str, dict] = {}
    for r in rows:
        zone = zones.setdefault(r["zone_id"], {"id": r["zone_id"], "name": r["zone_name"]})
        if r["time_band"]:
            # nobody answered: "no data", not "withheld: too few respondents"
            r["is_suppressed"] = bool(r["is_suppressed"]) and bool(r["n_respondents"])
            zone[r.pop("time_band")] = {
                k: v for k, v in r.items() if k not in ("zone_id", "zone_name")
            }
    return list(zones.values())


def _series(con: duckdb.DuckDBPyConnection, period: dt.date) -> dict[str, Any]:
    rows = _records(
        con,
        """
        select i.zone_id, i.time_band, i.period_start, i.index_value, i.index_ci_low,
               i.index_ci_high, coalesce(t.is_change_significant, false) as is_significant
        from marts.zone_index as i
        left join marts.zone_trends as t using (zone_id, time_band, period_start)
        where i.period_start <= ? and i.period_start > ? - to_months(?)
        order by i.period_start
        """,
        [period, period, SERIES_MONTHS],
    )
    months = sorted({r["period_start"] for r in rows})
    at = {m: k for k, m in enumerate(months)}
    series: dict[str, dict[str, list]] = {}
    for r in rows:
        bands = series.setdefault(
            r["zone_id"], {"day": [None] * len(months), "night": [None] * len(months)}
        )
        if r["index_value"] is not None:
            bands[r["time_band"]][at[r["period_start"]]] = [
                r["index_value"],
                r["index_ci_low"],
                r["index_ci_high"],
                r["is_significant"],
            ]
    return {"months": months, "zones": series}


#: Columns the report takes from the per-month marts (named, so a renamed column fails loudly).
_GAP_COLUMNS = (
    "zone_id, zone_name, is_suppressed, is_modelled, day_index, night_index, index_gap, "
    "index_gap_ci_low, index_gap_ci_high, is_index_gap_significant"
)
_FEAR_COLUMNS = (
    "zone_id, zone_name, is_suppressed, fear_gap, fear_gap_ci_low, fear_gap_ci_high, "
    "is_fear_gap, fear_gap_rank, incident_ratio_day, incident_ratio_night"
)
_CITY_COLUMNS = "time_band, n_zones, n_zones_published, n_respondents, index_mean"


def _by_period(
    con: duckdb.DuckDBPyConnection, mart: str, columns: str, period: dt.date, order: str
) -> list[dict]:
    return _records(
        con,
        f"select {columns} from marts.{mart} where period_start = ? order by {order}",  # noqa: S608 (mart, columns and order are constants at the callers; period bound)
        [period],
    )


def _quality(con: duckdb.DuckDBPyConnection, cfg: Config, now: dt.datetime) -> dict[str, Any]:
    loaded = {
        r["source_name"]: r
        for r in _records(
            con,
            """
            select source_name,
                   count(*) filter (where status = 'loaded') as batches,
                   count(*) filter (where status = 'failed') as failed,
                   coalesce(sum(rows_read) filter (where status = 'loaded'), 0) as rows_read,
                   coalesce(sum(rows_quarantined) filter (where status = 'loaded'), 0)
                       as rows_quarantined,
                   max(ingested_at) filter (where status = 'loaded') as last_loaded_at
            from marts.data_quality group by source_name
            """,
        )
    }
    sources = []
    for src in cfg.sources:
        row = loaded.get(
            src.name,
            {
                "batches": 0,
                "failed": 0,
                "rows_read": 0,
                "rows_quarantined": 0,
                "last_loaded_at": None,
            },
        )
        allowed = cfg.monitoring.freshness_factor * schedule_period(
            src.schedule, cfg.city.timezone, now
        )
        last = row["last_loaded_at"]
        age = (now - dt.datetime.fromisoformat(last)).total_seconds() / 3600 if last else None
        sources.append(
            {
                **row,
                "source_name": src.name,
                "kind": src.kind,
                "schedule": src.schedule,
                "age_hours": round(age, 1) if age is not None else None,
                "allowed_hours": round(allowed.total_seconds() / 3600, 1),
                "is_stale": age is None or age > allowed.total_seconds() / 3600,
            }
        )
    reasons = _records(
        con,
        """
        select source_name, reason, batches, rows_quarantined
        from marts.quarantine_reasons
        order by rows_quarantined desc, batches desc, source_name, reason limit 10
        """,
    )
    return {"sources": sources, "reasons": reasons}


_EFFECT_COLUMNS = (
    "outcome, time_band, unit, status, estimate, ci_low, ci_high, p_value, inference, "
    "n_treated_zones, n_comparison_zones, n_pre_periods, n_post_periods, post_period_start, "
    "post_period_end, treated_pre_mean, is_pre_trend_detected, pre_trend_p_value"
)


def _interventions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Each registered intervention with its effects and its perception event study
    (marts.interventions, intervention_effects, intervention_event_study)."""
    if not table_exists(con, "marts", "intervention_effects"):
        return []
    items = _records(
        con,
        "select intervention_id, intervention_name, intervention_type, zone_ids, start_date, "
        "end_date, description, budget, currency from marts.interventions "
        "order by start_date, intervention_id",
    )
    for item in items:
        key = [item["intervention_id"]]
        item["effects"] = _records(
            con,
            f"select {_EFFECT_COLUMNS} from marts.intervention_effects "  # noqa: S608 (column list a constant here; id bound)
            "where intervention_id = ? order by outcome, time_band",
            key,
        )
        events = _records(
            con,
            "select time_band, relative_month, estimate, ci_low, ci_high, is_reference "
            "from marts.intervention_event_study "
            "where intervention_id = ? and outcome = 'perception' order by relative_month",
            key,
        )
        item["event_study"] = {
            band: [
                [e["relative_month"], e["estimate"], e["ci_low"], e["ci_high"]]
                for e in events
                if e["time_band"] == band
            ]
            for band in ("day", "night")
        }
    return items


def _groups(con: duckdb.DuckDBPyConnection, month: dt.date) -> dict[str, Any]:
    """Who feels unsafe: the month's published group cells (none if no survey maps groups),
    and how many group cells are withheld."""
    if not table_exists(con, "marts", "group_index"):
        return {"groups": [], "groups_withheld": 0}
    rows = _records(
        con,
        "select group_by, group_label, level, zone_id, zone_name, time_band, n_respondents, "
        "perception, perception_ci_low, perception_ci_high, gap_to_rest, gap_ci_low, "
        "gap_ci_high, is_gap_significant from marts.group_index "
        "where period_start = ? and not is_suppressed "
        "order by group_by, level, zone_id, time_band desc, group_label",
        [month],
    )
    (withheld,) = con.execute(
        "select count(*) from marts.group_index where period_start = ? and is_suppressed",
        [month],
    ).fetchone()
    return {"groups": rows, "groups_withheld": int(withheld)}


def collect(
    con: duckdb.DuckDBPyConnection, cfg: Config, period: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Everything the report draws for one month, as JSON-able data (no respondent data).

    Raises:
        FileNotFoundError: a mart is missing (the warehouse has not been built).
        ReportError: `period` is malformed or has no index.
    """
    for mart in REPORT_MARTS:
        if not table_exists(con, "marts", mart):
            raise FileNotFoundError(f"marts.{mart} is missing: run `observatory build` first")
    month = choose_period(con, period)
    synthetic, method = con.execute(
        "select bool_or(is_synthetic), any_value(method_version) from marts.zone_index "
        "where period_start = ?",
        [month],
    ).fetchall()[0]
    provisional, awaiting = con.execute(
        "select bool_or(is_provisional), flatten(list(awaiting_sources)) "
        "from marts.city_summary where period_start = ?",
        [month],
    ).fetchall()[0]
    return {
        "period": f"{month:%Y-%m}",
        "period_start": month.isoformat(),
        "is_synthetic": bool(cfg.city.synthetic or synthetic),
        "is_provisional": bool(provisional),
        "awaiting_sources": sorted(set(awaiting or [])),
        "method_version": method,
        "zones": _zones(con, month),
        "series": _series(con, month),
        "city": {
            r.pop("time_band"): r
            for r in _by_period(con, "city_summary", _CITY_COLUMNS, month, "time_band")
        },
        "gap": _by_period(con, "day_night_gap", _GAP_COLUMNS, month, "zone_id"),
        **_groups(con, month),
        "fear": _by_period(
            con, "fear_gap", _FEAR_COLUMNS, month, "fear_gap_rank nulls last, zone_id"
        ),
        "quality": _quality(con, cfg, now),
        "interventions": _interventions(con),
    }
