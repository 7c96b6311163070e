"""Local times at daylight-saving changes: the SQL that applies a source's declared policy.

A clock time written without an offset is read in the source's time zone. Twice a year
that is not one instant:

- when clocks go forward, the skipped times (02:30 on the spring-forward night in Rome)
  never happen. DuckDB reads them as the time after the change (02:30 -> 03:30), the
  same instant as a real 03:30: `dst_nonexistent = "shift_forward"` accepts that,
  "quarantine" (the default) quarantines the row with a reason;
- when clocks go back, the repeated times (02:30 on the fall-back night) happen twice.
  DuckDB reads the later one. `dst_ambiguous` chooses "earliest", "latest", "infer" (by
  file order: the first row at that local time, per sensor and metric for sensors, is the
  earlier instant, the next one the later: pandas' `ambiguous="infer"`; the default for
  sensors, whose hourly readings repeat that hour) or "quarantine".

The checks are cheap: only rows whose local month and hour are those of one of the zone's
changes (found once per zone from the tz database) go through the extra conversions.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from observatory.config import SourceConfig
from observatory.sql_util import literal

#: The years whose changes are looked for (the tz database's rules go on after 2037).
_YEARS = (1970, 2100)
#: The column the conform step adds: 'nonexistent' or 'ambiguous' where the source's policy
#: quarantines such a time, else NULL (checked by the kinds' suites).
ISSUE_COLUMN = "dst_issue"
#: The row's position among the rows with the same local time (`infer`), from the folds CTE.
FOLD_COLUMN = "__fold"


@dataclass(frozen=True)
class ZoneChanges:
    """Where in the local calendar a zone's offset changes: the months and hours touched,
    and by how much clocks went back (the length of the repeated interval)."""

    months: frozenset[int]
    hours: frozenset[int]
    folds: tuple[dt.timedelta, ...]


def _offset(tz: ZoneInfo, moment: dt.datetime) -> dt.timedelta:
    return moment.astimezone(tz).utcoffset() or dt.timedelta(0)


@functools.lru_cache(maxsize=32)
def zone_changes(timezone: str) -> ZoneChanges:
    """The local months and hours at which `timezone` changes offset (1970-2100)."""
    tz = ZoneInfo(timezone)
    months: set[int] = set()
    hours: set[int] = set()
    folds: set[dt.timedelta] = set()
    day = dt.datetime(_YEARS[0], 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(_YEARS[1], 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(days=1)
    before = _offset(tz, day)
    while day < end:
        after = _offset(tz, day + step)
        if after != before:
            lo, hi = day, day + step  # the change is in (lo, hi]: bisect to the minute
            while hi - lo > dt.timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if _offset(tz, mid) == before else (lo, mid)
            # local wall times touched: [change + min(offsets), change + max(offsets))
            first = hi.replace(tzinfo=None) + min(before, after)
            last = hi.replace(tzinfo=None) + max(before, after) - dt.timedelta(microseconds=1)
            moment = first
            while moment <= last:
                months.add(moment.month)
                hours.add(moment.hour)
                moment += dt.timedelta(minutes=15)
            months.add(last.month)
            hours.add(last.hour)
            if after < before:
                folds.add(before - after)
            before = after
        day += step
    return ZoneChanges(frozenset(months), frozenset(hours), tuple(sorted(folds)))


def ambiguous_policy(src: SourceConfig) -> str:
    """The source's `dst_ambiguous`, with the kind's default ("infer" for sensors)."""
    declared = src.timestamp.dst_ambiguous
    if declared is not None:
        return declared
    return "infer" if src.kind == "sensors" else "earliest"


def _near_change(naive: str, changes: ZoneChanges) -> str:
    if not changes.months:
        return "false"
    months = ", ".join(str(m) for m in sorted(changes.months))
    hours = ", ".join(str(h) for h in sorted(changes.hours))
    return f"(month({naive}) in ({months}) and hour({naive}) in ({hours}))"


def _fold_shift(naive: str, tz: str, changes: ZoneChanges) -> str:
    """SQL: how much earlier the first occurrence of a repeated local time is (NULL when
    `naive` occurs once). DuckDB's `timezone()` gives the later occurrence."""
    whens = " ".join(
        f"when timezone({tz}, timezone({tz}, {naive}) - interval {literal(_interval(d))}) "
        f"= {naive} then interval {literal(_interval(d))}"
        for d in changes.folds
    )
    return f"(case {whens} end)" if whens else "cast(null as interval)"


def _interval(delta: dt.timedelta) -> str:
    return f"{int(delta.total_seconds())} seconds"


def localise(src: SourceConfig, naive: str, timezone: str, *, fold: str | None = None) -> str:
    """SQL: the local `naive` timestamp read in `timezone` (TIMESTAMPTZ), with the source's
    policy for repeated times applied (`fold`: the row's `FOLD_COLUMN`, for "infer")."""
    tz = literal(timezone)
    changes = zone_changes(timezone)
    later = f"timezone({tz}, {naive})"
    policy = ambiguous_policy(src)
    if not changes.folds or policy in ("latest", "quarantine"):
        return later
    shift = _fold_shift(naive, tz, changes)
    if policy == "infer":
        earlier_wanted = f"coalesce({fold}, 1) = 1" if fold else "true"
        chosen = f"case when {earlier_wanted} then {later} - {shift} else {later} end"
    else:  # earliest
        chosen = f"{later} - {shift}"
    return (
        f"(case when {_near_change(naive, changes)} and {shift} is not null "
        f"then {chosen} else {later} end)"
    )


def issue(src: SourceConfig, naive: str, read: str, timezone: str) -> str:
    """SQL: 'nonexistent' or 'ambiguous' where the source quarantines such a local time
    (`naive`: the clock time written; `read`: the instant `localise` made of it)."""
    tz = literal(timezone)
    changes = zone_changes(timezone)
    whens = []
    if src.timestamp.dst_nonexistent == "quarantine":
        # a skipped time comes back from its instant as another clock time
        whens.append(f"when timezone({tz}, {read}) <> {naive} then 'nonexistent'")
    if ambiguous_policy(src) == "quarantine" and changes.folds:
        whens.append(f"when {_fold_shift(naive, tz, changes)} is not null then 'ambiguous'")
    if not whens or not changes.months:
        return "cast(null as varchar)"
    return f"(case when {_near_change(naive, changes)} then case {' '.join(whens)} end end)"


def ambiguous_rows(naive: str, timezone: str, rough: str | None = None) -> str:
    """SQL: true where `naive` is a repeated local time (for the folds CTE of "infer").

    `rough`: a cheaper expression with the same clock time on the rows that matter (an ISO
    text cast without the check for an offset), tried first so that only the few rows near
    a change pay for `naive`."""
    tz = literal(timezone)
    changes = zone_changes(timezone)
    if not changes.folds:
        return "false"
    first = f"{_near_change(rough, changes)} and " if rough else ""
    return (
        f"({first}{_near_change(naive, changes)} and {_fold_shift(naive, tz, changes)} is not null)"
    )
