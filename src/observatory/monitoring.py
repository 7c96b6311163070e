"""Monitoring checks: is each source fresh, did a batch quarantine too much, did an index
jump, is a landing file stuck waiting?

Each check is a read-only query over the warehouse and returns findings; no finding means
healthy. The checks know nothing about Airflow: the monitoring DAG
(`observatory.orchestration`) runs them on its data interval and alerts on findings.
Thresholds come from the project's `[monitoring]` table (`MonitoringConfig`).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

import duckdb
from croniter import croniter

from observatory.config import Config, ConfigError, SourceConfig
from observatory.warehouse import table_exists

#: How many earlier batches of a source make its quarantine baseline.
BASELINE_BATCHES = 20


@dataclass(frozen=True)
class Finding:
    """One thing an analyst should look at, worded for them."""

    check: str
    subject: str
    message: str
    value: float | None = None
    threshold: float | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-able form (for XCom, logs and webhooks)."""
        return asdict(self)


def schedule_period(expression: str, timezone: str, at: dt.datetime) -> dt.timedelta:
    """The gap between the last two times a cron schedule fired before `at`.

    Raises:
        ConfigError: the expression is not a cron expression or preset.
    """
    if not croniter.is_valid(expression):
        raise ConfigError(
            f"schedule {expression!r} is not a cron expression or preset "
            "(e.g. '@hourly', '@daily', '@monthly', '0 6 * * 1')"
        )
    it = croniter(expression, at.astimezone(ZoneInfo(timezone)))
    last = it.get_prev(dt.datetime)
    before = it.get_prev(dt.datetime)
    return last - before


#: The accepted rows' event time per source kind (freshness on data time).
_EVENT_TIME = {"survey": "surveyed_at", "incidents": "occurred_at", "sensors": "measured_at"}


def check_freshness(con: duckdb.DuckDBPyConnection, cfg: Config, now: dt.datetime) -> list[Finding]:
    """Sources that, as of `now`, are stale on load time or on data time.

    On load time, a source is stale when no new file has been loaded for `freshness_factor`
    periods of its schedule (a monthly survey may be quiet for two months, an hourly feed
    for two hours). A source whose first batch was loaded after `now` was not live yet as
    of `now`: no finding (the next interval judges it), rather than "never loaded".
    On data time, it is stale when its newest accepted record is older than its
    `max_data_age_hours` (default `data_age_factor` schedule periods): files that keep
    arriving with old data. Not judged for a synthetic city, whose dates are fixed.
    """
    factor = cfg.monitoring.freshness_factor
    findings: list[Finding] = []
    for src in cfg.sources:
        last, later = con.execute(
            "select max(finished_at) filter (where finished_at <= $now), "
            "count(*) filter (where finished_at > $now) from ops.batches "
            "where source_name = $source and status = 'loaded'",
            {"source": src.name, "now": now},
        ).fetchall()[0]
        period = schedule_period(src.schedule, cfg.city.timezone, now)
        hours = factor * period.total_seconds() / 3600
        where = cfg.resolve(src.path)
        if last is None:
            if not later:
                findings.append(
                    Finding(
                        "freshness",
                        src.name,
                        f"{src.name}: no batch has ever been loaded. Is anything landing in "
                        f"{where}? `observatory batches --source {src.name}` lists failed "
                        "files; the ingest DAG's log says what it found.",
                        None,
                        round(hours, 2),
                    )
                )
            continue
        age = (now - last).total_seconds() / 3600
        if age > hours:
            findings.append(
                Finding(
                    "freshness",
                    src.name,
                    f"{src.name}: last new file loaded {age:.1f} h ago "
                    f"(at {last:%Y-%m-%d %H:%M} UTC); its schedule {src.schedule!r} allows "
                    f"{hours:.1f} h. Is the feed still delivering to {where}? Ask its "
                    "provider, or declare the month late (`observatory declare-late`).",
                    round(age, 2),
                    round(hours, 2),
                )
            )
        if not cfg.city.synthetic:
            findings.extend(_data_age(con, cfg, src, now, period))
    return findings


def _data_age(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    now: dt.datetime,
    period: dt.timedelta,
) -> list[Finding]:
    """The source's newest record (event time, held batches left out) against its age limit."""
    column = _EVENT_TIME[src.kind]
    (newest,) = con.execute(
        f"select max({column}) from validated.{src.kind} as v "  # noqa: S608 (kind: a Literal)
        "where source_name = $source and " + column + " <= $now and not exists ("
        "select 1 from ops.batch_holds as h where h.batch_id = v.batch_id "
        "and h.released_at is null)",
        {"source": src.name, "now": now},
    ).fetchall()[0]
    if newest is None:
        return []
    limit = src.max_data_age_hours or cfg.monitoring.data_age_factor * period.total_seconds() / 3600
    age = (now - newest).total_seconds() / 3600
    if age <= limit:
        return []
    return [
        Finding(
            "freshness",
            src.name,
            f"{src.name}: its newest record is {age / 24:.1f} days old (at {newest:%Y-%m-%d %H:%M} "
            f"UTC) although files keep being loaded; its limit is {limit / 24:.1f} days "
            f"(max_data_age_hours, or {cfg.monitoring.data_age_factor:g} x its schedule "
            f"{src.schedule!r}). The feed may be re-sending an old export: check the newest "
            f"file in {cfg.resolve(src.path)}.",
            round(age, 2),
            round(limit, 2),
        )
    ]


def check_quarantine(
    con: duckdb.DuckDBPyConnection, cfg: Config, since: dt.datetime, until: dt.datetime
) -> list[Finding]:
    """Batches loaded in (since, until] that quarantined far more rows than usual.

    A batch alerts when its quarantined share exceeds `quarantine_max_share`, or when it is
    at least `quarantine_min_share` and more than `quarantine_spike_factor` times the median
    share of the source's earlier batches (its baseline).
    """
    mon = cfg.monitoring
    rows = con.execute(
        """
        select source_name, batch_id, file_path, finished_at,
               rows_quarantined / greatest(rows_read, 1) as share,
               source_kind, rows_read, rows_quarantined
        from ops.batches
        where status = 'loaded' and finished_at > ? and finished_at <= ?
        order by source_name, finished_at
        """,
        [since, until],
    ).fetchall()
    findings: list[Finding] = []
    for source, batch_id, file_path, finished_at, share, kind, read, quarantined in rows:
        earlier = con.execute(
            """
            select rows_quarantined / greatest(rows_read, 1) from ops.batches
            where source_name = ? and status = 'loaded' and finished_at < ?
            order by finished_at desc limit ?
            """,
            [source, finished_at, BASELINE_BATCHES],
        ).fetchall()
        baseline = statistics.median(r[0] for r in earlier) if earlier else None
        too_high = share > mon.quarantine_max_share
        spike = (
            baseline is not None
            and share >= mon.quarantine_min_share
            and share > mon.quarantine_spike_factor * baseline
        )
        if too_high or spike:
            usual = f"usually {baseline:.1%}" if baseline is not None else "no earlier batches"
            findings.append(
                Finding(
                    "quarantine",
                    batch_id,
                    f"{source}: {quarantined:,} of the {read:,} rows of {file_path} "
                    f"({share:.1%}) went to quarantine ({usual}; alert above "
                    f"{mon.quarantine_max_share:.0%}){_top_reasons(con, kind, batch_id)}. "
                    f"See them with `observatory quarantine show --batch {batch_id}`; fix the "
                    f"mapping, then `observatory quarantine release {source} --batch "
                    f"{batch_id}`.",
                    round(share, 4),
                    mon.quarantine_max_share if too_high else mon.quarantine_spike_factor,
                )
            )
    return findings


def _top_reasons(con: duckdb.DuckDBPyConnection, kind: str, batch_id: str) -> str:
    """ "; most often: <reason> (n rows), ..." for a batch's quarantined rows."""
    if kind not in _EVENT_TIME:
        return ""
    rows = con.execute(
        f"select reason, count(*) as n from quarantine.{kind} "  # noqa: S608 (kind: a Literal)
        "where batch_id = ? group by reason order by n desc, reason limit 3",
        [batch_id],
    ).fetchall()
    return "; most often: " + ", ".join(f"{r} ({n:,} rows)" for r, n in rows) if rows else ""


def check_index_shifts(con: duckdb.DuckDBPyConnection, cfg: Config) -> list[Finding]:
    """Zone x band cells whose published index moved more than `index_shift_points` between
    the previous and the latest period, significantly (unless `index_shift_significant_only`
    is off); suppressed cells are not compared."""
    if not table_exists(con, "marts", "zone_index"):
        return []
    limit = cfg.monitoring.index_shift_points
    rows = con.execute(
        """
        with periods as (
            select distinct period_start from marts.zone_index order by period_start desc limit 2
        ),

        latest as (select max(period_start) as p, min(period_start) as q from periods),

        pairs as (
            select
                cur.zone_id,
                cur.zone_name,
                cur.time_band,
                latest.p as period_start,
                prev.index_value as previous_index,
                cur.index_value as latest_index,
                coalesce(t.is_change_significant, false) as is_significant,
            from marts.zone_index as cur
            cross join latest
            inner join marts.zone_index as prev
                on prev.zone_id = cur.zone_id
                and prev.time_band = cur.time_band
                and prev.period_start = latest.q
            left join marts.zone_trends as t
                on t.zone_id = cur.zone_id
                and t.time_band = cur.time_band
                and t.period_start = cur.period_start
            where cur.period_start = latest.p and latest.p > latest.q
        )

        select * exclude (is_significant) from pairs
        where abs(latest_index - previous_index) > $limit
            and (is_significant or not $significant_only)
        order by abs(latest_index - previous_index) desc, zone_id, time_band
        """,
        {"limit": limit, "significant_only": cfg.monitoring.index_shift_significant_only},
    ).fetchall()
    return [
        Finding(
            "index_shift",
            f"{zone_id}/{band}",
            f"{zone_id} ({name}), {band}: index {prev:.1f} -> {cur:.1f} in {period:%Y-%m} "
            f"({cur - prev:+.1f} points; alert above {limit:g}). Check its sample size and "
            "incidents before reading it as a real change.",
            round(cur - prev, 1),
            limit,
        )
        for zone_id, name, band, period, prev, cur in rows
    ]


def check_waiting(con: duckdb.DuckDBPyConnection, cfg: Config, now: dt.datetime) -> list[Finding]:
    """Landing files that ingest runs have seen waiting (not complete yet) for longer than
    `waiting_alert_hours` (`ops.waiting_files`, recorded by every ingest run)."""
    from observatory.ops.waiting import waiting_files  # noqa: PLC0415

    limit = cfg.monitoring.waiting_alert_hours
    findings = []
    for row in waiting_files(con):
        hours = (now - row["first_seen_at"]).total_seconds() / 3600
        if hours <= limit:
            continue
        findings.append(
            Finding(
                "waiting",
                row["file_path"],
                f"{row['source_name']}: {row['file_path']} has been waiting {hours:.1f} h "
                f"(first seen {row['first_seen_at']:%Y-%m-%d %H:%M} UTC, last "
                f"{row['last_seen_at']:%Y-%m-%d %H:%M} UTC), more than {limit:g} h: "
                f"{row['reason']}. Finish the copy (or write its marker file), or remove a "
                "file that will never be complete; the next ingest run loads or forgets it.",
                round(hours, 2),
                limit,
            )
        )
    return findings
