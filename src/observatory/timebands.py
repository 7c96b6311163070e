"""Time bands: is a moment day or night in this city?

By default night runs from civil dusk to civil dawn at the city's coordinates on that local
date (the sun 6 degrees below the horizon), with an optional offset in minutes; a fixed
clock rule is an option. The boundaries are written per local date into `ref.day_bands`,
and staging SQL joins that small table, so a million events cost one join, not a million
sun computations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib.metadata import version
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
from astral import Observer
from astral.sun import dawn, dusk, elevation, sunrise, sunset

from observatory.config import CityConfig, TimeBandsConfig

_DEPRESSION = {"civil": 6.0, "nautical": 12.0, "astronomical": 18.0}


def _sun_bounds(
    city: CityConfig, rule: TimeBandsConfig, day: dt.date
) -> tuple[dt.datetime, dt.datetime]:
    """(day starts, night starts) on a local date, as aware datetimes."""
    tz = ZoneInfo(city.timezone)
    obs = Observer(latitude=city.latitude, longitude=city.longitude)
    offset = dt.timedelta(minutes=rule.offset_minutes)
    midnight = dt.datetime.combine(day, dt.time(0), tz)
    try:
        if rule.twilight == "sunset":
            start, end = sunrise(obs, day, tzinfo=tz), sunset(obs, day, tzinfo=tz)
        else:
            depression = _DEPRESSION[rule.twilight]
            start = dawn(obs, day, depression=depression, tzinfo=tz)
            end = dusk(obs, day, depression=depression, tzinfo=tz)
    except ValueError:
        # High latitudes: the sun never crosses the threshold. Midsummer -> all day;
        # midwinter -> all night (both bounds at midnight).
        noon = dt.datetime.combine(day, dt.time(12), tz)
        if elevation(obs, noon) > 0:
            return midnight, midnight + dt.timedelta(days=1)
        return midnight, midnight
    # Offset shortens (positive) or lengthens (negative) the day at both ends.
    return start + offset, end - offset


def band_bounds(
    city: CityConfig, rule: TimeBandsConfig, day: dt.date
) -> tuple[dt.datetime, dt.datetime]:
    """When day starts and night starts on a local date (aware datetimes in the city's zone)."""
    tz = ZoneInfo(city.timezone)
    if rule.rule == "fixed":
        return (
            dt.datetime.combine(day, rule.day_starts, tz),
            dt.datetime.combine(day, rule.night_starts, tz),
        )
    return _sun_bounds(city, rule, day)


def time_band_at(city: CityConfig, rule: TimeBandsConfig, moment: dt.datetime) -> str:
    """'day' or 'night' for an aware datetime (the same rule the SQL applies)."""
    local = moment.astimezone(ZoneInfo(city.timezone))
    start, end = band_bounds(city, rule, local.date())
    return "day" if start <= local < end else "night"


#: Bumped when `band_bounds` computes a date differently: the kept dates are then dropped.
_BOUNDS_VERSION = 1
#: The city and rule `ref.day_bands` was computed for (`_settings_key`), one row.
_KEY_TABLE = "ref.day_bands_settings"


def _settings_key(city: CityConfig, rule: TimeBandsConfig) -> str:
    """What the bounds of a date depend on: the city's place and zone, and the rule."""
    settings = {
        "bounds": _BOUNDS_VERSION,
        "astral": version("astral"),
        "latitude": city.latitude,
        "longitude": city.longitude,
        "timezone": city.timezone,
        "rule": rule.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def write_day_bands(
    con: duckdb.DuckDBPyConnection,
    city: CityConfig,
    rule: TimeBandsConfig,
    first: dt.date,
    last: dt.date,
) -> None:
    """Make `ref.day_bands` one row per local date (from the day before `first` to the day
    after `last`): when day and night start (UTC).

    The dates an earlier build computed for the same city and rule are kept: only the
    others are computed (the sun's times cost about half a millisecond a date in Python,
    so five years of dates took a second of every daily build). Other settings: every
    date again."""
    key = _settings_key(city, rule)
    days = pd.date_range(first - dt.timedelta(days=1), last + dt.timedelta(days=1), freq="D")
    wanted = [ts.date() for ts in days]
    known: set[dt.date] = set()
    if _same_settings(con, key):
        con.execute(
            "delete from ref.day_bands where local_date < ? or local_date > ?",
            [wanted[0], wanted[-1]],
        )
        known = {d for (d,) in con.execute("select local_date from ref.day_bands").fetchall()}
    else:
        con.execute(
            "create or replace table ref.day_bands (local_date date, "
            "day_starts_at timestamptz, night_starts_at timestamptz)"
        )
    rows = []
    for day in wanted:
        if day in known:
            continue
        start, end = band_bounds(city, rule, day)
        rows.append(
            {
                "local_date": day,
                "day_starts_at": start.astimezone(dt.UTC),
                "night_starts_at": end.astimezone(dt.UTC),
            }
        )
    if rows:
        con.register("_bands_frame", pd.DataFrame(rows))
        try:
            con.execute(
                """
                insert into ref.day_bands
                select
                    cast(local_date as date),
                    cast(day_starts_at as timestamptz),
                    cast(night_starts_at as timestamptz)
                from _bands_frame
                """
            )
        finally:
            con.unregister("_bands_frame")
    con.execute(f"create or replace table {_KEY_TABLE} (settings_hash varchar)")
    con.execute(f"insert into {_KEY_TABLE} values (?)", [key])  # noqa: S608 (table name from code)


def _same_settings(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    """Whether `ref.day_bands` holds dates computed for the settings `key` stands for."""
    found = con.execute(
        "select count(*) filter (where table_name = 'day_bands'), "
        "count(*) filter (where table_name = 'day_bands_settings') "
        "from information_schema.tables where table_schema = 'ref'"
    ).fetchone()
    if found != (1, 1):
        return False
    return con.execute(f"select settings_hash from {_KEY_TABLE}").fetchall() == [(key,)]  # noqa: S608
