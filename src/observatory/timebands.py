"""Time bands: is a moment day or night in this city?

By default night runs from civil dusk to civil dawn at the city's coordinates on that local
date (the sun 6 degrees below the horizon), with an optional offset in minutes; a fixed
clock rule is an option. The boundaries are written per local date into `ref.day_bands`,
and staging SQL joins that small table, so a million events cost one join, not a million
sun computations.
"""

from __future__ import annotations

import datetime as dt
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


def write_day_bands(
    con: duckdb.DuckDBPyConnection,
    city: CityConfig,
    rule: TimeBandsConfig,
    first: dt.date,
    last: dt.date,
) -> None:
    """Replace `ref.day_bands` with one row per local date: when day and night start (UTC)."""
    days = pd.date_range(first - dt.timedelta(days=1), last + dt.timedelta(days=1), freq="D")
    rows = []
    for ts in days:
        start, end = band_bounds(city, rule, ts.date())
        rows.append(
            {
                "local_date": ts.date(),
                "day_starts_at": start.astimezone(dt.UTC),
                "night_starts_at": end.astimezone(dt.UTC),
            }
        )
    frame = pd.DataFrame(rows)
    con.register("_bands_frame", frame)
    try:
        con.execute(
            """
            create or replace table ref.day_bands as
            select
                cast(local_date as date) as local_date,
                cast(day_starts_at as timestamptz) as day_starts_at,
                cast(night_starts_at as timestamptz) as night_starts_at
            from _bands_frame
            """
        )
    finally:
        con.unregister("_bands_frame")
