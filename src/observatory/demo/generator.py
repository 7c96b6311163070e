"""The demo city: a SYNTHETIC, Turin-like city along a river, written as raw landing files.

Everything here is made up, deterministically from a seed, and labelled synthetic. The
zones sit on a grid across a river at Turin's coordinates; each zone has a hidden
lighting quality, incident level and "fear" or "unworried" trait, so the index has
something true to find: night perception is lower where lighting is poorer, some poorly
lit zones feel unsafe beyond their few incidents and their lighting (the fear-gap
targets), some zones with many incidents feel safe anyway, and a few zones have too few
respondents to publish. Three interventions are planted with known effects (`PLANTED`,
declared in the project file, written to `landing/_synthetic_interventions.csv`): a
relighting, an activated public space phased in over two months, and a night service with
no effect. A sprinkle of bad rows of every kind is injected and listed in
`landing/_injected_bad_rows.csv`, so tests can check that each one ends in quarantine.

The files are written in the sources' own formats (a semicolon CSV with Italian labels for
the survey, UTC ISO timestamps for incidents, long-format sensor readings plus a locations
file) and ingested through the same path as real data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm

from observatory.config import CityConfig, TimeBandsConfig
from observatory.sql_util import literal
from observatory.timebands import band_bounds

log = logging.getLogger(__name__)

CITY = CityConfig(
    id="demo_torino",
    name="Torino lungo Dora (SYNTHETIC DEMO)",
    timezone="Europe/Rome",
    latitude=45.0703,
    longitude=7.6869,
    synthetic=True,
)
LABELS = [
    "per niente sicuro",
    "poco sicuro",
    "né sicuro né insicuro",
    "abbastanza sicuro",
    "molto sicuro",
]
CATEGORIES = ["theft", "vandalism", "disturbance", "drug_dealing", "robbery", "assault"]
CATEGORY_P = [0.35, 0.2, 0.2, 0.1, 0.08, 0.07]
METRICS = ["lux", "footfall", "noise_db"]


START = dt.date(2025, 1, 1)


@dataclass(frozen=True)
class Scale:
    """Size of a generated city."""

    cols: int
    rows: int
    months: int
    sensors: int
    cadence_minutes: int
    respondents_per_cell: float
    incidents_per_zone_month: float
    start: dt.date = START


SCALES = {
    "small": Scale(10, 2, 6, 15, 60, 25, 12),
    "demo": Scale(10, 2, 12, 50, 15, 30, 20),
    "xl": Scale(20, 10, 12, 430, 15, 47, 480),
    "xl-half": Scale(20, 10, 6, 430, 15, 47, 480),
    "xl-month": Scale(20, 10, 1, 430, 15, 47, 480),
    # the memory run (issue 18): five years of the 200 zones, sensors hourly, ending before
    # today (records dated in the future are quarantined)
    "xl-5y": Scale(20, 10, 60, 430, 60, 47, 480, start=dt.date(2021, 11, 1)),
    "small-month": Scale(10, 2, 1, 15, 60, 25, 12),
    "small-half": Scale(10, 2, 3, 15, 60, 25, 12),
}
ZONE_W, ZONE_H = 0.006, 0.005  # degrees: about 470 m x 555 m at Turin's latitude
RIVER_LAT = 45.087


@dataclass(frozen=True)
class PlantedIntervention:
    """An intervention the demo plants, with its true effect (declared in observatory.toml).

    `effects` maps (outcome, band) to the full effect: points of expected perception
    (0-100) or lux; it is reached `ramp_months` after the start, in equal steps."""

    intervention_id: str
    zones: tuple[str, ...]
    month: int  # the scale's month it starts in, 1-based
    effects: tuple[tuple[str, str, float], ...]
    ramp_months: int = 1

    def factor(self, month_index: int) -> float:
        """Share of the full effect reached in the scale's month `month_index` (0-based)."""
        since = month_index - (self.month - 1)
        return 0.0 if since < 0 else min(1.0, (since + 1) / self.ramp_months)

    def effect(self, outcome: str, band: str) -> float:
        """The full effect on an outcome and band (0 where none is planted)."""
        return sum(e for o, b, e in self.effects if (o, b) == (outcome, band))


#: Ordinary zones only (no fear, unworried, dark, nightlife or small-sample trait), so the
#: traits the index tests look for are not confounded with an intervention; the relit
#: zones are zones with a lux sensor at every scale.
PLANTED = (
    PlantedIntervention(
        "relight_dora_nord",
        ("Z001", "Z010", "Z013"),
        5,
        (("perception", "night", 10.0), ("lux", "night", 25.0)),
    ),
    PlantedIntervention(
        "piazza_attiva",
        ("Z005", "Z016"),
        7,
        (("perception", "day", 5.0), ("perception", "night", 5.0)),
        ramp_months=2,
    ),
    PlantedIntervention("bus_notturno", ("Z014", "Z019"), 4, ()),
)
#: The start dates the project file template declares (for the default start month).
_TEMPLATE_STARTS = {
    "relight_dora_nord": "2025-05-01",
    "piazza_attiva": "2025-07-01",
    "bus_notturno": "2025-04-01",
}


@dataclass(frozen=True)
class DemoZones:
    """The synthetic zones and their hidden traits."""

    #: zone_id, name, population, lon0, lat0, lighting, level (incident propensity per
    #: resident), fear, unworried, nightlife
    frame: pd.DataFrame


def _zones(scale: Scale, rng: np.random.Generator) -> DemoZones:
    n = scale.cols * scale.rows
    lon0 = 7.655 - ZONE_W * scale.cols / 2 + ZONE_W * (np.arange(n) % scale.cols)
    row = np.arange(n) // scale.cols
    lat0 = RIVER_LAT - ZONE_H * (scale.rows // 2) + ZONE_H * row
    lighting = rng.uniform(0.55, 1.0, n)
    level = rng.uniform(0.2, 1.0, n)  # incident propensity
    fear = np.zeros(n, dtype=bool)
    nightlife = np.zeros(n, dtype=bool)
    dark = np.arange(n)[1::5]  # every fifth zone is poorly lit
    lighting[dark] = rng.uniform(0.05, 0.25, len(dark))
    fear_idx = np.arange(n)[3::7]  # feel unsafe despite few incidents
    fear[fear_idx] = True
    level[fear_idx] = rng.uniform(0.05, 0.15, len(fear_idx))
    nightlife[np.arange(n)[2::6]] = True
    population = rng.integers(2500, 14000, n)
    # Fear zones are also poorly lit, but their fear goes beyond the light: it is there by
    # day, when lighting does not matter, and at night beyond what their lighting explains.
    lighting[fear_idx] = rng.uniform(0.3, 0.45, len(fear_idx))
    # "Unworried" zones: many incidents, yet people there feel safe (the incidents do not
    # reach their perception), the mirror image a fear-gap baseline must not be bent by.
    unworried_idx = np.setdiff1d(np.arange(n)[7::12], np.union1d(fear_idx, dark))
    unworried = np.isin(np.arange(n), unworried_idx)
    level[unworried_idx] = rng.uniform(1.2, 1.6, len(unworried_idx))
    names = [
        f"Dora {('Nord' if r >= scale.rows // 2 else 'Sud')} {c + 1:02d}"
        + (f"-{r}" if scale.rows > 2 else "")
        for r, c in zip(row, np.arange(n) % scale.cols, strict=True)
    ]
    frame = pd.DataFrame(
        {
            "zone_id": [f"Z{i + 1:03d}" for i in range(n)],
            "name": names,
            "population": population,
            "lon0": lon0,
            "lat0": lat0,
            "lighting": lighting,
            "level": level,
            "fear": fear,
            "unworried": unworried,
            "nightlife": nightlife,
        }
    )
    return DemoZones(frame)


def _write_zones(zones: DemoZones, path: Path) -> None:
    features = []
    for z in zones.frame.itertuples():
        x0, y0, x1, y1 = z.lon0, z.lat0, z.lon0 + ZONE_W, z.lat0 + ZONE_H
        ring = [
            [round(x, 6), round(y, 6)]
            for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))
        ]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "zone_id": z.zone_id,
                    "name": z.name,
                    "population": int(z.population),
                    "synthetic": True,
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    doc = {
        "type": "FeatureCollection",
        "name": "SYNTHETIC demo zones (observatory demo), not real boundaries",
        "features": features,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _band_hours(month: dt.date) -> tuple[float, float]:
    """Hours of day and of night in a month at the demo city (its configured sun rule)."""
    rule = TimeBandsConfig(rule="sun", twilight="civil")
    day = 0.0
    date, days = month, 0
    while date.month == month.month:
        starts, ends = band_bounds(CITY, rule, date)
        day += (ends - starts).total_seconds() / 3600.0
        date += dt.timedelta(days=1)
        days += 1
    return day, 24.0 * days - day


def _months(scale: Scale) -> list[dt.date]:
    start = scale.start
    return [
        dt.date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1)
        for i in range(scale.months)
    ]


def _month_end(month: dt.date) -> dt.date:
    nxt = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _write_csv(frame: pd.DataFrame, path: Path, delim: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("frame", frame)
    # COPY takes no bound parameters: the path and delimiter are escaped literals
    con.execute(
        f"copy (select * from frame) to {literal(path.as_posix())} "  # noqa: S608 (path and delimiter escaped by literal())
        f"(header, delimiter {literal(delim)})"
    )
    con.close()


class _BadRows:
    """Registry of injected bad rows: what the quarantine must show."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(self, source: str, file: Path, row_number: int, reason: str, item: str = "") -> None:
        self.rows.append(
            {
                "source": source,
                "file": file.name,
                "row_number": row_number,
                "item_id": item,
                "reason": reason,
            }
        )


def _survey(
    zones: DemoZones, scale: Scale, rng: np.random.Generator, landing: Path, bad: _BadRows
) -> int:
    z = zones.frame
    tz = ZoneInfo(CITY.timezone)
    total = 0
    small_sample = set(z.index[5::9])  # zones where few people answer
    for month in _months(scale):
        lam = np.where(z.index.isin(small_sample), 4.0, scale.respondents_per_cell)
        counts = rng.poisson(lam)
        zone_idx = np.repeat(z.index.to_numpy(), counts)
        n = len(zone_idx)
        # Perception answers the zone's incident rate (unless unworried), its fear and, at
        # night, its lighting; fear acts in both bands, beyond the light.
        heard = z["level"].to_numpy() * ~z["unworried"].to_numpy()
        day_mu = 4.1 - 1.3 * z["fear"].to_numpy()[zone_idx] - 0.5 * heard[zone_idx]
        night_mu = day_mu - 0.3 - 1.8 * (1.0 - z["lighting"].to_numpy()[zone_idx])
        # planted interventions move the expected answer by their effect (in points)
        zone_day = 4.1 - 1.3 * z["fear"].to_numpy() - 0.5 * heard
        zone_night = zone_day - 0.3 - 1.8 * (1.0 - z["lighting"].to_numpy())
        month_index = _months(scale).index(month)
        day_mu = day_mu + _planted_shift(z, zone_day, "day", month_index)[zone_idx]
        night_mu = night_mu + _planted_shift(z, zone_night, "night", month_index)[zone_idx]
        day = np.clip(np.rint(day_mu + rng.normal(0, 0.7, n)), 1, 5).astype(int)
        sex, gap = _planted_gender(z["lighting"].to_numpy()[zone_idx], month)
        night = np.clip(np.rint(night_mu + gap + rng.normal(0, 0.7, n)), 1, 5).astype(int)
        days = rng.integers(0, _month_end(month).day, n)
        minutes = rng.integers(8 * 60, 22 * 60, n)
        stamps = [
            (
                dt.datetime.combine(month, dt.time(0), tz)
                + dt.timedelta(days=int(d), minutes=int(mi))
            ).strftime("%d/%m/%Y %H:%M")
            for d, mi in zip(days, minutes, strict=True)
        ]
        frame = pd.DataFrame(
            {
                "id_risposta": [f"R{month:%Y%m}-{i + 1:06d}" for i in range(n)],
                "id_rispondente": [f"P{month:%Y%m}{i + 1:06d}" for i in range(n)],
                "data_compilazione": stamps,
                "quartiere": z["zone_id"].to_numpy()[zone_idx],
                "sicurezza_giorno": [LABELS[v - 1] for v in day],
                "sicurezza_notte": [LABELS[v - 1] for v in night],
                "sesso": sex,
                "peso": np.round(rng.uniform(0.6, 1.6, n), 2).astype(str),
            }
        )
        path = landing / "survey" / f"questionario_{month:%Y_%m}.csv"
        frame = _inject_survey(frame, path, bad)
        _write_csv(frame, path, delim=";")
        total += len(frame)
    return total


#: SD of the latent answer around a zone's mean (on the 1-5 scale), before rounding.
_ANSWER_SD = 0.7
#: Planted gender gap at night (latent 1-5 scale): women answer GAP_LIT + GAP_DARK x
#: (1 - lighting) lower than men, split half below and half above the zone's mean; none
#: by day. Shares: women, men, the rest say nothing ("preferisco non rispondere").
GENDER_GAP_LIT, GENDER_GAP_DARK = 0.3, 1.0
_GENDER_SHARES = (("F", 0.5), ("M", 0.46), ("preferisco non rispondere", 0.04))


def _planted_gender(lighting: np.ndarray, month: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """Each respondent's sex and their night shift. Drawn from a stream of its own, so the
    rest of the city (and its random draws) is as it was without it."""
    rng = np.random.default_rng([15, month.year, month.month])
    labels, shares = zip(*_GENDER_SHARES, strict=True)
    sex = rng.choice(np.array(labels, dtype=object), size=len(lighting), p=shares)
    gap = GENDER_GAP_LIT + GENDER_GAP_DARK * (1.0 - lighting)
    shift = np.where(sex == "F", -gap / 2, np.where(sex == "M", gap / 2, 0.0))
    return sex, shift


def _expected_score(mu: float) -> float:
    """Expected 0-100 score of an answer rounded and clipped to 1-5 around latent mean mu."""
    cuts = np.arange(1, 5) + 0.5
    return 25.0 * float(norm.cdf((mu - cuts) / _ANSWER_SD).sum())


def _planted_shift(z: pd.DataFrame, mu: np.ndarray, band: str, month_index: int) -> np.ndarray:
    """Per zone, the latent shift that raises the expected score by the planted effect:
    rounding to the 5-point scale would otherwise shrink a shift near the scale's ends."""
    shift = np.zeros(len(z))
    for plan in PLANTED:
        points = plan.effect("perception", band) * plan.factor(month_index)
        if points == 0:
            continue
        for i in np.flatnonzero(z["zone_id"].isin(plan.zones).to_numpy()):
            base = _expected_score(mu[i])
            shift[i] = brentq(lambda d, m=mu[i], t=base + points: _expected_score(m + d) - t, 0, 6)
    return shift


def _inject_survey(frame: pd.DataFrame, path: Path, bad: _BadRows) -> pd.DataFrame:
    src = "survey_quartieri"
    frame = frame.copy()
    frame.loc[3, "quartiere"] = None
    bad.add(src, path, 4, "zone unknown", "sicurezza_giorno")
    bad.add(src, path, 4, "zone unknown", "sicurezza_notte")
    frame.loc[7, "sicurezza_notte"] = "boh"
    bad.add(src, path, 8, "label not in the label map", "sicurezza_notte")
    frame.loc[11, "sicurezza_giorno"] = "7"
    bad.add(src, path, 12, "outside the declared scale", "sicurezza_giorno")
    frame.loc[15, "data_compilazione"] = "31/02/2025 25:99"
    bad.add(src, path, 16, "not a readable timestamp", "sicurezza_giorno")
    bad.add(src, path, 16, "not a readable timestamp", "sicurezza_notte")
    frame.loc[19, "peso"] = "-1"
    bad.add(src, path, 20, "weight not positive", "sicurezza_giorno")
    bad.add(src, path, 20, "weight not positive", "sicurezza_notte")
    frame.loc[23, "data_compilazione"] = "01/01/2099 10:00"
    bad.add(src, path, 24, "in the future", "sicurezza_giorno")
    bad.add(src, path, 24, "in the future", "sicurezza_notte")
    dup = frame.loc[[27]].copy()
    frame = pd.concat([frame, dup], ignore_index=True)
    for item in ("sicurezza_giorno", "sicurezza_notte"):
        bad.add(src, path, len(frame), "exact copy of an earlier row", item)
    conflict = frame.loc[[31]].copy()
    # Same response id, different content: both versions are refused.
    conflict["peso"] = "0.99" if conflict["peso"].iloc[0] != "0.99" else "1.01"
    frame = pd.concat([frame, conflict], ignore_index=True)
    for row in (32, len(frame)):
        for item in ("sicurezza_giorno", "sicurezza_notte"):
            bad.add(src, path, row, "repeated within the batch with different content", item)
    return frame


def _incidents(
    zones: DemoZones, scale: Scale, rng: np.random.Generator, landing: Path, bad: _BadRows
) -> int:
    z = zones.frame
    total = 0
    next_id = 1
    months = _months(scale)
    hours = np.array([_band_hours(m) for m in months])  # (months, 2): day, night
    relative = hours / hours.mean(axis=0)  # a constant hazard per hour of each band
    for month, (day_factor, night_factor) in zip(months, relative, strict=True):
        # level is a propensity per resident, so the zone's incident rate (what the index
        # measures and perception answers) follows it, whatever the zone's size
        people = z["population"].to_numpy() / z["population"].mean()
        lam = scale.incidents_per_zone_month * z["level"].to_numpy() * 1.6 * people
        night_share = np.where(z["nightlife"].to_numpy(), 0.75, 0.45)
        day_counts = rng.poisson(lam * (1.0 - night_share) * day_factor)
        night_counts = rng.poisson(lam * night_share * night_factor)
        zone_idx = np.concatenate(
            [np.repeat(z.index.to_numpy(), day_counts), np.repeat(z.index.to_numpy(), night_counts)]
        )
        n = len(zone_idx)
        is_night = np.arange(n) >= day_counts.sum()
        # Night hours 22:00-05:00 local, day hours 09:00-18:00 local: clear of twilight.
        hour = np.where(is_night, (22 + rng.integers(0, 7, n)) % 24, rng.integers(9, 18, n))
        day_of_month = rng.integers(0, _month_end(month).day, n)
        local = (
            pd.Timestamp(month)
            + pd.to_timedelta(day_of_month, unit="D")
            + pd.to_timedelta(hour, unit="h")
            + pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
        )
        utc = local.tz_localize(
            CITY.timezone, ambiguous="NaT", nonexistent="shift_forward"
        ).tz_convert("UTC")
        lon = z["lon0"].to_numpy()[zone_idx] + rng.uniform(0.0002, ZONE_W - 0.0002, n)
        lat = z["lat0"].to_numpy()[zone_idx] + rng.uniform(0.0002, ZONE_H - 0.0002, n)
        frame = pd.DataFrame(
            {
                "incident_id": [f"INC{month:%Y%m}-{next_id + i:07d}" for i in range(n)],
                "occurred_at": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lat": np.round(lat, 6).astype(str),
                "lon": np.round(lon, 6).astype(str),
                "category": rng.choice(CATEGORIES, n, p=CATEGORY_P),
                "channel": rng.choice(["polizia_locale", "carabinieri", "app_cittadini"], n),
            }
        )
        frame = frame[frame["occurred_at"].notna()].reset_index(drop=True)
        next_id += n
        path = landing / "incidents" / f"segnalazioni_{month:%Y_%m}.csv"
        frame = _inject_incidents(frame, path, bad)
        _write_csv(frame, path)
        total += len(frame)
    return total


def _inject_incidents(frame: pd.DataFrame, path: Path, bad: _BadRows) -> pd.DataFrame:
    src = "incidents_polizia"
    frame = frame.copy()
    frame.loc[2, ["lat", "lon"]] = ["45.4642", "9.19"]  # Milan: outside the city
    bad.add(src, path, 3, "outside the city's extent")
    frame.loc[5, "incident_id"] = None
    bad.add(src, path, 6, "record id missing")
    frame.loc[8, "occurred_at"] = "not-a-date"
    bad.add(src, path, 9, "not a readable timestamp")
    frame.loc[10, "occurred_at"] = "2099-06-01T12:00:00Z"
    bad.add(src, path, 11, "in the future")
    frame.loc[12, "category"] = "ufo_sighting"
    bad.add(src, path, 13, "category not in the source's severity list")
    dup = frame.loc[[14]]
    frame = pd.concat([frame, dup], ignore_index=True)
    bad.add(src, path, len(frame), "exact copy of an earlier row")
    conflict = frame.loc[[16]].copy()
    conflict["category"] = "robbery" if conflict["category"].iloc[0] != "robbery" else "theft"
    frame = pd.concat([frame, conflict], ignore_index=True)
    bad.add(src, path, 17, "repeated within the batch with different content")
    bad.add(src, path, len(frame), "repeated within the batch with different content")
    return frame


def _sensor_sites(zones: DemoZones, scale: Scale, rng: np.random.Generator) -> pd.DataFrame:
    z = zones.frame
    zone_idx = np.arange(scale.sensors) % len(z)
    # Metric cycles with a different stride from zones, so zones get a mix of sensors.
    metric = [METRICS[(i % len(z) + i // len(z)) % 3] for i in range(scale.sensors)]
    return pd.DataFrame(
        {
            "sensor_id": [f"S{i + 1:04d}" for i in range(scale.sensors)],
            "zone_idx": zone_idx,
            "metric": metric,
            "lat": np.round(
                z["lat0"].to_numpy()[zone_idx]
                + rng.uniform(0.0005, ZONE_H - 0.0005, scale.sensors),
                6,
            ),
            "lon": np.round(
                z["lon0"].to_numpy()[zone_idx]
                + rng.uniform(0.0005, ZONE_W - 0.0005, scale.sensors),
                6,
            ),
        }
    )


def _is_night(stamps_utc: pd.DatetimeIndex) -> np.ndarray:
    local = stamps_utc.tz_convert(CITY.timezone)
    dates = pd.Index(local.date)
    rule = TimeBandsConfig()
    bounds = {d: band_bounds(CITY, rule, d) for d in dates.unique()}
    start = pd.DatetimeIndex([bounds[d][0] for d in dates]).tz_convert("UTC")
    end = pd.DatetimeIndex([bounds[d][1] for d in dates]).tz_convert("UTC")
    return ~((stamps_utc >= start) & (stamps_utc < end))


def _sensors(
    zones: DemoZones, scale: Scale, rng: np.random.Generator, landing: Path, bad: _BadRows
) -> int:
    z = zones.frame
    sites = _sensor_sites(zones, scale, rng)
    loc_path = landing / "sensors" / "sensor_locations.csv"
    _write_csv(sites[["sensor_id", "lat", "lon", "metric"]], loc_path)
    total = 0
    for month in _months(scale):
        # One file per local calendar month, stamped in UTC.
        start = pd.Timestamp(month).tz_localize(CITY.timezone).tz_convert("UTC")
        end = (
            pd.Timestamp(_month_end(month) + dt.timedelta(days=1))
            .tz_localize(CITY.timezone)
            .tz_convert("UTC")
        )
        stamps = pd.date_range(start, end, freq=f"{scale.cadence_minutes}min", inclusive="left")
        night = _is_night(stamps)
        t, s = len(stamps), len(sites)
        zi = sites["zone_idx"].to_numpy()
        lighting = z["lighting"].to_numpy()[zi][None, :]
        nightlife = z["nightlife"].to_numpy()[zi][None, :]
        n_mat = night[:, None]
        lux = np.where(
            n_mat, 32.0 * lighting + rng.normal(0, 2, (t, s)), rng.uniform(2000, 30000, (t, s))
        )
        lux = lux + np.where(n_mat, _planted_lux(z, zi, _months(scale).index(month)), 0.0)
        step_h = scale.cadence_minutes / 60.0
        foot_rate = np.where(n_mat, np.where(nightlife, 90.0, 20.0), 160.0) * step_h
        foot = rng.poisson(foot_rate * (0.5 + lighting))
        noise = np.where(n_mat, np.where(nightlife, 64.0, 48.0), 61.0) + rng.normal(0, 3, (t, s))
        metric = sites["metric"].to_numpy()
        value = np.where(
            metric == "lux", np.clip(lux, 0, None), np.where(metric == "footfall", foot, noise)
        )
        frame = pd.DataFrame(
            {
                "sensor_id": np.tile(sites["sensor_id"].to_numpy(), t),
                "timestamp": np.repeat(stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(), s),
                "metric": np.tile(metric, t),
                "value": np.round(value.ravel(), 1).astype(str),
            }
        )
        path = landing / "sensors" / "readings" / f"letture_{month:%Y_%m}.csv"
        frame = _inject_sensors(frame, sites, path, bad)
        _write_csv(frame, path)
        total += len(frame)
    return total


def _planted_lux(z: pd.DataFrame, zone_idx: np.ndarray, month_index: int) -> np.ndarray:
    """Lux the planted interventions add to each sensor's night readings this month."""
    extra = np.zeros(len(zone_idx))
    for plan in PLANTED:
        lux = plan.effect("lux", "night") * plan.factor(month_index)
        extra[np.isin(z["zone_id"].to_numpy()[zone_idx], plan.zones)] += lux
    return extra[None, :]


def _planted_truth(scale: Scale) -> pd.DataFrame:
    """The planted effects per intervention x outcome x band x month (0 before the start)."""
    rows = [
        {
            "intervention_id": plan.intervention_id,
            "outcome": outcome,
            "time_band": band,
            "period_start": month,
            "effect": plan.effect(outcome, band) * plan.factor(i),
        }
        for plan in PLANTED
        for outcome, band in [("perception", "day"), ("perception", "night"), ("lux", "night")]
        for i, month in enumerate(_months(scale))
    ]
    return pd.DataFrame(rows)


def _project_file(sc: Scale) -> str:
    """The template project file, with the interventions' start months moved to the scale's."""
    text = Path(__file__).with_name("observatory.toml").read_text(encoding="utf-8")
    months = _months(replace(sc, months=max(p.month for p in PLANTED)))
    for plan in PLANTED:
        text = text.replace(
            f"start = {_TEMPLATE_STARTS[plan.intervention_id]}",
            f"start = {months[plan.month - 1].isoformat()}",
        )
    return text


def _inject_sensors(
    frame: pd.DataFrame, sites: pd.DataFrame, path: Path, bad: _BadRows
) -> pd.DataFrame:
    src = "sensors_street"
    frame = frame.copy()
    metric = frame["metric"].to_numpy()
    lux_rows = np.flatnonzero(metric == "lux")[:3]
    noise_rows = np.flatnonzero(metric == "noise_db")[:3]
    frame.loc[lux_rows[0], "value"] = "-5.0"
    bad.add(src, path, int(lux_rows[0]) + 1, "lux reading negative")
    frame.loc[noise_rows[0], "value"] = "200.0"
    bad.add(src, path, int(noise_rows[0]) + 1, "noise level outside 0-140 dB")
    frame.loc[noise_rows[1], "value"] = "undefined"
    bad.add(src, path, int(noise_rows[1]) + 1, "reading missing")
    frame.loc[lux_rows[1], "sensor_id"] = "S9999"
    bad.add(src, path, int(lux_rows[1]) + 1, "sensor not in the locations file")
    frame.loc[lux_rows[2], "timestamp"] = "2025-13-45T99:00:00Z"
    bad.add(src, path, int(lux_rows[2]) + 1, "not a readable timestamp")
    dup = frame.loc[[int(noise_rows[2])]]
    frame = pd.concat([frame, dup], ignore_index=True)
    bad.add(src, path, len(frame), "exact copy of an earlier row")
    return frame


def generate(
    target: Path, scale: str = "demo", seed: int = 20251, start: dt.date | None = None
) -> dict[str, int]:
    """Write the synthetic demo city's landing files and its project file under `target`.

    Args:
        target: folder for `observatory.toml` and `landing/`.
        scale: "small" (tests), "demo" (default) or "xl" (the benchmark workload).
        seed: random seed; the same seed and scale give byte-identical files.
        start: first month (default January 2025).

    Returns:
        Rows written per source kind.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    sc = SCALES[scale] if start is None else replace(SCALES[scale], start=start)
    rng = np.random.default_rng(seed)
    landing = target / "landing"
    zones = _zones(sc, rng)
    _write_zones(zones, landing / "zones" / "zones.geojson")
    bad = _BadRows()
    written = {
        "survey": _survey(zones, sc, np.random.default_rng(seed + 1), landing, bad),
        "incidents": _incidents(zones, sc, np.random.default_rng(seed + 2), landing, bad),
        "sensors": _sensors(zones, sc, np.random.default_rng(seed + 3), landing, bad),
    }
    pd.DataFrame(bad.rows).to_csv(landing / "_injected_bad_rows.csv", index=False)
    truth = zones.frame[["zone_id", "lighting", "level", "fear", "unworried", "nightlife"]].copy()
    treated = {zone: plan.intervention_id for plan in PLANTED for zone in plan.zones}
    truth["intervention_id"] = truth["zone_id"].map(treated)
    truth.to_csv(landing / "_synthetic_truth.csv", index=False)
    _planted_truth(sc).to_csv(landing / "_synthetic_interventions.csv", index=False)
    (target / "observatory.toml").write_text(_project_file(sc), encoding="utf-8")
    log.info("demo city (%s) written to %s: %s", scale, target, written)
    return written
