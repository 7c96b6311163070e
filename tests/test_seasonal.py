"""A static city shows no seasonal swing in its night index (issue 13, item 3).

Turin's night lasts about 215 hours in June and 435 in December. In a simulated city
whose hourly incident risk and whose people's feelings never change, incidents fall in
the night band twice as often in December as in June; with rates per band-month the
night index fell about 8 points from winter to summer with no change in the truth. Rates
per hour of the band (sun-based bands at the city) must leave the monthly mean of the
night index flat: its range over the year is at most 2 points.

The design is sized so that sampling noise alone cannot use up the 2 points: 40 zones
with 60 respondents per band-month (the city mean's standard error is about 0.3 points of
perception) and about 100 incidents per zone-month (about 2.5% on the city's incident
ratio), so the monthly means scatter by about 0.35 points and twelve of them span about
1.2 points; the artefact this test guards against was 8.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from tests.test_index_fixtures import make_city, simulate_survey

ZONES = [f"Z{i:02d}" for i in range(40)]
MONTHS = [dt.date(2025, m, 1) for m in range(1, 13)]
PER_ZONE_MONTH = 100  # incidents, spread evenly over the hours of the year


def _incidents(rng: np.random.Generator) -> pd.DataFrame:
    start = pd.Timestamp("2025-01-01", tz="Europe/Rome").tz_convert("UTC")
    end = pd.Timestamp("2026-01-01", tz="Europe/Rome").tz_convert("UTC")
    seconds = (end - start).total_seconds()
    per_zone = rng.poisson(PER_ZONE_MONTH * 12, len(ZONES))
    zone = np.repeat(ZONES, per_zone)
    at = start + pd.to_timedelta(rng.uniform(0, seconds, len(zone)), unit="s")
    return pd.DataFrame(
        {
            "incident_id": [f"I{i:07d}" for i in range(len(zone))],
            "zone_id": zone,
            "occurred_at": at,
            "category": "theft",
            "severity": 1.0,
        }
    )


def test_a_static_city_has_no_seasonal_swing_at_night(tmp_path: Path) -> None:
    rng = np.random.default_rng(2025)
    effect = rng.normal(0.0, 6.0, len(ZONES))
    truth = pd.DataFrame(
        [
            {"zone_id": z, "period_start": m, "n": 60, "day": 65 + e, "night": 45 + e}
            for z, e in zip(ZONES, effect, strict=True)
            for m in MONTHS
        ]
    )
    city = make_city(
        tmp_path,
        pd.DataFrame({"zone_id": ZONES, "population": 5000.0}),
        simulate_survey(truth, rng),
        _incidents(rng),
        index={"uncertainty_draws": 100},
        time_bands={"rule": "sun", "twilight": "civil"},
    )
    monthly = city.query(
        "select period_start, avg(index_value) as night_index, avg(incident_ratio) as ratio, "
        "sum(incident_count) as incidents "
        "from marts.zone_index where time_band = 'night' group by 1 order by 1"
    )
    assert len(monthly) == 12 and monthly["night_index"].notna().all()
    # the artefact's cause is there: December's nights hold far more incidents than June's
    by_month = monthly.set_index(monthly["period_start"].dt.month)
    assert by_month.loc[12, "incidents"] > 1.6 * by_month.loc[6, "incidents"]
    # ...and per hour of the band it is gone
    assert monthly["ratio"].max() - monthly["ratio"].min() < 0.1, monthly
    swing = monthly["night_index"].max() - monthly["night_index"].min()
    assert swing <= 2.0, monthly
