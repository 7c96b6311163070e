"""Day and night at known sunrise/sunset times in Turin (civil twilight by default)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import duckdb
import pytest

from observatory.config import CityConfig, TimeBandsConfig
from observatory.timebands import band_bounds, time_band_at, write_day_bands

TURIN = CityConfig(
    id="torino", name="Torino", timezone="Europe/Rome", latitude=45.0703, longitude=7.6869
)
ROME = ZoneInfo("Europe/Rome")


def _local(y: int, m: int, d: int, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=ROME)


def test_civil_twilight_bounds_in_turin_on_21_june() -> None:
    # Published for Turin on 2025-06-21: sunrise 05:42, sunset 21:20 CEST;
    # civil dawn 05:04, civil dusk 21:58.
    start, end = band_bounds(TURIN, TimeBandsConfig(), dt.date(2025, 6, 21))
    assert start.astimezone(ROME).strftime("%H:%M") == "05:04"
    assert end.astimezone(ROME).strftime("%H:%M") == "21:57"


@pytest.mark.parametrize(
    ("moment", "band"),
    [
        (_local(2025, 6, 21, 4, 55), "night"),
        (_local(2025, 6, 21, 5, 10), "day"),
        (_local(2025, 6, 21, 21, 50), "day"),
        (_local(2025, 6, 21, 22, 5), "night"),
        # 21 December: civil dawn 07:28, sunrise 08:03, sunset 16:43, civil dusk 17:17.
        (_local(2025, 12, 21, 7, 20), "night"),
        (_local(2025, 12, 21, 7, 35), "day"),
        (_local(2025, 12, 21, 17, 10), "day"),
        (_local(2025, 12, 21, 17, 25), "night"),
    ],
)
def test_day_and_night_in_turin(moment: dt.datetime, band: str) -> None:
    assert time_band_at(TURIN, TimeBandsConfig(), moment) == band


def test_sunset_rule_and_offset_shift_the_boundaries() -> None:
    rule = TimeBandsConfig(twilight="sunset")
    assert time_band_at(TURIN, rule, _local(2025, 12, 21, 16, 50)) == "night"
    assert time_band_at(TURIN, rule, _local(2025, 12, 21, 8, 0)) == "night"
    shifted = TimeBandsConfig(offset_minutes=30)
    assert time_band_at(TURIN, shifted, _local(2025, 12, 21, 17, 0)) == "night"


def test_fixed_hours_rule() -> None:
    rule = TimeBandsConfig(rule="fixed", day_starts=dt.time(7, 0), night_starts=dt.time(20, 0))
    assert time_band_at(TURIN, rule, _local(2025, 6, 21, 6, 59)) == "night"
    assert time_band_at(TURIN, rule, _local(2025, 6, 21, 7, 0)) == "day"
    assert time_band_at(TURIN, rule, _local(2025, 6, 21, 20, 0)) == "night"


def test_polar_summer_is_all_day_and_polar_winter_all_night() -> None:
    tromso = CityConfig(
        id="tromso", name="Tromso", timezone="Europe/Oslo", latitude=69.65, longitude=18.96
    )
    oslo = ZoneInfo("Europe/Oslo")
    assert (
        time_band_at(tromso, TimeBandsConfig(), dt.datetime(2025, 6, 21, 1, 0, tzinfo=oslo))
        == "day"
    )
    assert (
        time_band_at(
            tromso,
            TimeBandsConfig(twilight="sunset"),
            dt.datetime(2025, 12, 21, 12, 0, tzinfo=oslo),
        )
        == "night"
    )


def test_day_bands_table_covers_the_range_in_utc() -> None:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema ref")
    write_day_bands(con, TURIN, TimeBandsConfig(), dt.date(2025, 6, 21), dt.date(2025, 6, 22))
    rows = con.execute(
        "select local_date, strftime(day_starts_at, '%H:%M') from ref.day_bands order by 1"
    ).fetchall()
    assert [str(d) for d, _ in rows] == ["2025-06-20", "2025-06-21", "2025-06-22", "2025-06-23"]
    assert rows[1][1] == "03:04"  # 05:04 CEST is 03:04 UTC


def _bands(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("select * from ref.day_bands order by local_date").fetchall()


def test_a_later_build_computes_only_the_dates_it_lacks_and_the_table_is_a_full_builds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A daily build keeps the dates an earlier one computed for the same city and rule (the
    sun's times are the slow part) and computes the others; the table is then the one a
    first build of the same range writes. Another rule or place: every date again."""
    from observatory import timebands  # noqa: PLC0415

    computed: list[dt.date] = []
    real = timebands.band_bounds

    def counting(city: CityConfig, rule: TimeBandsConfig, day: dt.date) -> tuple:
        computed.append(day)
        return real(city, rule, day)

    monkeypatch.setattr(timebands, "band_bounds", counting)
    con, fresh = duckdb.connect(), duckdb.connect()
    for c in (con, fresh):
        c.execute("create schema ref")
    rule = TimeBandsConfig()
    write_day_bands(con, TURIN, rule, dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    assert len(computed) == 31 + 28 + 31 + 2
    computed.clear()
    write_day_bands(con, TURIN, rule, dt.date(2025, 2, 1), dt.date(2025, 4, 30))
    assert computed == [dt.date(2025, 4, d) for d in range(2, 31)] + [dt.date(2025, 5, 1)]
    write_day_bands(fresh, TURIN, rule, dt.date(2025, 2, 1), dt.date(2025, 4, 30))
    assert _bands(con) == _bands(fresh)  # January dropped, April added, nothing else moved
    computed.clear()
    later = TimeBandsConfig(offset_minutes=30)
    write_day_bands(con, TURIN, later, dt.date(2025, 2, 1), dt.date(2025, 4, 30))
    assert len(computed) == 28 + 31 + 30 + 2
    write_day_bands(fresh, TURIN, later, dt.date(2025, 2, 1), dt.date(2025, 4, 30))
    assert _bands(con) == _bands(fresh) != []
    computed.clear()
    north = TURIN.model_copy(update={"latitude": 59.33})
    write_day_bands(con, north, later, dt.date(2025, 2, 1), dt.date(2025, 4, 30))
    assert len(computed) == 28 + 31 + 30 + 2
