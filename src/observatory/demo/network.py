"""The demo network: five SYNTHETIC member cities, each with its own survey instrument.

Torino, Riga, Cluj-Napoca, Sant Boi de Llobregat and Braga (for the Quadrilátero Urbano),
at their real coordinates and IANA time zones, each asking about safety in its own
language, item ids and answer scale, mapped onto the core items (`core_items.toml`):

| city | zones | scale | format | core items | incidents |
|---|---|---|---|---|---|
| Torino | 12 | 1-5 Italian labels | wide | day, night | crime |
| Riga | 9 | 1-4 numbers, 1 = very safe (reversed) | long | day, night | crime (`;` CSV) |
| Cluj-Napoca | 20 | 0-10 numbers | wide | day, night | crime |
| Sant Boi | 6 | 1-5 Catalan labels | wide | night only (+ a general item) | crime |
| Braga | 8 | 1-4 Portuguese labels | wide | day, night | none |

Every answer is drawn so that its expected 0-100 score is the zone's true perception
whatever the scale (Binomial(K - 1, p) on a K-point scale, with p a respondent's Beta-
distributed latent around the zone's value), and zone values are centred so that the
population-weighted city truth is exactly the city's `day` / `night` value: Torino and Cluj
share theirs, so the network must find them equal (tests/test_network_demo.py). Truths go
to `<city>/landing/_synthetic_truth.csv`. The figures are made up.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy.stats import beta, norm

from observatory.demo.generator import _month_end, _write_csv

log = logging.getLogger(__name__)

START = dt.date(2025, 1, 1)
MONTHS = 6
#: Respondents' latent concentration (Beta a + b) and their day-night correlation.
_KAPPA, _RHO = 6.0, 0.6


@dataclass(frozen=True)
class DemoCity:
    """One synthetic member city and its instrument."""

    id: str
    name: str
    timezone: str
    latitude: float
    longitude: float
    language: str
    cols: int
    rows: int
    zone_prefix: str
    #: true city perception (0-100) per band
    day: float
    night: float
    points: int  # answer scale points K (scores 0..K-1 before the city's own offset)
    low: int  # the scale's first value (1 for 1-5, 0 for 0-10)
    labels: tuple[str, ...] = ()  # label per point, unsafest first; empty: numbers
    reverse: bool = False  # the instrument writes 1 = safest
    long_format: bool = False
    day_item: str | None = "day"
    night_item: str = "night"
    general_item: str | None = None
    has_incidents: bool = True
    respondents_per_zone: float = 30.0


CITIES = (
    DemoCity(
        "torino", "Torino (SYNTHETIC)", "Europe/Rome", 45.0703, 7.6869, "it", 4, 3, "TO",
        72.0, 55.0, 5, 1,
        ("per niente sicuro", "poco sicuro", "né sicuro né insicuro", "abbastanza sicuro",
         "molto sicuro"),
        day_item="sicurezza_giorno", night_item="sicurezza_sera",
    ),
    DemoCity(
        "riga", "Rīga (SYNTHETIC)", "Europe/Riga", 56.9496, 24.1052, "lv", 3, 3, "RI",
        66.0, 44.0, 4, 1, reverse=True, long_format=True,
        day_item="drosiba_diena", night_item="drosiba_tumsa", respondents_per_zone=40.0,
    ),
    DemoCity(
        "cluj_napoca", "Cluj-Napoca (SYNTHETIC)", "Europe/Bucharest", 46.7712, 23.6236, "ro",
        5, 4, "CJ", 72.0, 55.0, 11, 0,
        day_item="siguranta_zi", night_item="siguranta_noapte", respondents_per_zone=22.0,
    ),
    DemoCity(
        "sant_boi", "Sant Boi de Llobregat (SYNTHETIC)", "Europe/Madrid", 41.3436, 2.0366, "ca",
        3, 2, "SB", 70.0, 60.0, 5, 1,
        ("gens segur", "poc segur", "ni segur ni insegur", "bastant segur", "molt segur"),
        day_item=None, night_item="seguretat_nit", general_item="seguretat_barri",
        respondents_per_zone=45.0,
    ),
    DemoCity(
        "braga", "Braga, Quadrilátero Urbano (SYNTHETIC)", "Europe/Lisbon", 41.5454, -8.4265,
        "pt", 4, 2, "BR", 76.0, 52.0, 4, 1,
        ("muito inseguro", "inseguro", "seguro", "muito seguro"),
        day_item="seguranca_dia", night_item="seguranca_noite", has_incidents=False,
    ),
)  # fmt: skip
ZONE_W, ZONE_H = 0.008, 0.006


def _months() -> list[dt.date]:
    return [dt.date(START.year, START.month + i, 1) for i in range(MONTHS)]


def _zones(city: DemoCity, rng: np.random.Generator) -> pd.DataFrame:
    n = city.cols * city.rows
    col, row = np.arange(n) % city.cols, np.arange(n) // city.cols
    population = rng.integers(3000, 16000, n).astype(float)
    frame = pd.DataFrame(
        {
            "zone_id": [f"{city.zone_prefix}{i + 1:02d}" for i in range(n)],
            "population": population,
            "lon0": city.longitude + ZONE_W * (col - city.cols / 2),
            "lat0": city.latitude + ZONE_H * (row - city.rows / 2),
        }
    )
    for band, truth in (("day", city.day), ("night", city.night)):
        u = rng.uniform(-1.0, 1.0, n)
        u -= np.average(u, weights=population)  # population-weighted truth is exact
        frame[f"true_{band}"] = truth / 100.0 + 0.12 * u
    return frame


def _write_zones(zones: pd.DataFrame, path: Path) -> None:
    features = []
    for z in zones.itertuples():
        x0, y0, x1, y1 = z.lon0, z.lat0, z.lon0 + ZONE_W, z.lat0 + ZONE_H
        ring = [[round(x, 6), round(y, 6)] for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        features.append(
            {
                "type": "Feature",
                "properties": {"zone_id": z.zone_id, "name": z.zone_id,
                               "population": int(z.population)},
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            }
        )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"type": "FeatureCollection", "name": "SYNTHETIC zones", "features": features}
    path.write_text(json.dumps(doc), encoding="utf-8")


def _answers(p_zone: np.ndarray, z: np.ndarray, city: DemoCity, rng: np.random.Generator):
    """Answers on the city's scale whose expected 0-100 score is the zone's value."""
    latent = beta.ppf(norm.cdf(z), p_zone * _KAPPA, (1.0 - p_zone) * _KAPPA)
    steps = rng.binomial(city.points - 1, np.clip(latent, 0.0, 1.0))  # 0 = unsafest
    if city.reverse:
        steps = city.points - 1 - steps
    if city.labels:
        return [city.labels[s] for s in steps]
    return (steps + city.low).astype(str)


def _survey(city: DemoCity, zones: pd.DataFrame, rng: np.random.Generator, landing: Path) -> int:
    tz, total = ZoneInfo(city.timezone), 0
    for month in _months():
        counts = rng.poisson(city.respondents_per_zone, len(zones))
        idx = np.repeat(np.arange(len(zones)), counts)
        n = len(idx)
        cov = [[1.0, _RHO], [_RHO, 1.0]]
        z = rng.multivariate_normal([0.0, 0.0], cov, n)
        # design weights: zone population over its sample size, so the weighted mean
        # estimates the population-weighted city value
        weight = (zones["population"].to_numpy() / np.maximum(counts, 1))[idx]
        stamps = [
            (dt.datetime.combine(month, dt.time(9), tz) + dt.timedelta(
                days=int(d), minutes=int(mi))).strftime("%Y-%m-%d %H:%M")
            for d, mi in zip(rng.integers(0, _month_end(month).day, n),
                             rng.integers(0, 12 * 60, n), strict=True)
        ]  # fmt: skip
        frame = pd.DataFrame(
            {
                "resp_id": [f"{city.zone_prefix}{month:%Y%m}-{i:05d}" for i in range(n)],
                "zone": zones["zone_id"].to_numpy()[idx],
                "ts": stamps,
                "w": np.round(weight / weight.mean(), 4),
            }
        )
        items = {city.night_item: _answers(zones["true_night"].to_numpy()[idx], z[:, 1], city, rng)}
        if city.day_item:
            items[city.day_item] = _answers(zones["true_day"].to_numpy()[idx], z[:, 0], city, rng)
        if city.general_item:
            general = (zones["true_day"].to_numpy() + zones["true_night"].to_numpy()) / 2
            items[city.general_item] = _answers(general[idx], z.mean(axis=1), city, rng)
        if city.long_format:
            frame = pd.concat(
                [frame.assign(item=name, answer=values) for name, values in items.items()],
                ignore_index=True,
            )
        else:
            frame = frame.assign(**items)
        _write_csv(frame, landing / "survey" / f"survey_{month:%Y_%m}.csv")
        total += len(frame)
    return total


def _incidents(city: DemoCity, zones: pd.DataFrame, rng: np.random.Generator, landing: Path) -> int:
    total = 0
    for month in _months():
        days = _month_end(month).day
        lam = zones["population"].to_numpy() / 1000.0 * 1.5 * days / 30.0
        counts = rng.poisson(lam)
        idx = np.repeat(np.arange(len(zones)), counts)
        start = dt.datetime.combine(month, dt.time(0), dt.UTC)
        seconds = rng.integers(0, days * 86400, len(idx))
        inside = 0.0005  # degrees from the zone's edge: every incident falls in its zone
        lat = zones["lat0"].to_numpy()[idx] + rng.uniform(inside, ZONE_H - inside, len(idx))
        lon = zones["lon0"].to_numpy()[idx] + rng.uniform(inside, ZONE_W - inside, len(idx))
        category = rng.choice(["theft", "vandalism", "assault"], len(idx), p=[0.6, 0.3, 0.1])
        frame = pd.DataFrame(
            {
                "id": [f"{city.zone_prefix}-I{month:%Y%m}-{i:05d}" for i in range(len(idx))],
                "when": [
                    (start + dt.timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%SZ")
                    for s in seconds
                ],
                "lat": np.round(lat, 6),
                "lon": np.round(lon, 6),
                "category": category,
            }
        )
        _write_csv(frame, landing / "incidents" / f"incidents_{month:%Y_%m}.csv")
        total += len(frame)
    return total


def _project_file(city: DemoCity) -> str:
    """The city's own project file: its instrument mapped onto the core items."""
    items = {city.night_item: ("night", "core.safe_after_dark")}
    if city.day_item:
        items[city.day_item] = ("day", "core.safe_during_day")
    if city.general_item:
        items[city.general_item] = ("any", "core.safe_in_area")
    reverse = ", reverse = true" if city.reverse else ""
    item_lines = "\n".join(
        f'{name} = {{ time_band = "{band}", core = "{core}"{reverse} }}'
        for name, (band, core) in items.items()
    )
    if city.long_format:
        shape = 'item_id = "item"\nanswer = "answer"'
        unpivot = ""
    else:
        shape = ""
        cols = ", ".join(f'"{name}"' for name in items)
        unpivot = (
            f'unpivot = {{ columns = [{cols}], name_field = "item_id", value_field = "answer" }}'
        )
    labels = ""
    if city.labels:
        labels = "\n[sources.labels.answer]\n" + "\n".join(
            f'"{label}" = {i + 1}' for i, label in enumerate(city.labels)
        )
    high = city.low + city.points - 1
    incidents = (
        f"""
[[sources]]
name = "incidents_{city.id}"
kind = "incidents"
family = "crime"
path = "landing/incidents/*.csv"
schedule = "@daily"

[sources.columns]
incident_id = "id"
occurred_at = "when"
latitude = "lat"
longitude = "lon"
category = "category"
"""
        if city.has_incidents
        else ""
    )
    return f"""# SYNTHETIC member city of the demo network (`observatory demo --network`).
[project]
warehouse = "warehouse/observatory.duckdb"
memory_limit = "300MB"
threads = 1

[city]
id = "{city.id}"
name = "{city.name}"
timezone = "{city.timezone}"
latitude = {city.latitude}
longitude = {city.longitude}
synthetic = true

[zones]
path = "landing/zones/zones.geojson"
population_property = "population"

[index]
uncertainty_draws = 200

[report]
language = "{city.language}"

[[sources]]
name = "survey_{city.id}"
kind = "survey"
path = "landing/survey/*.csv"
schedule = "@monthly"
scale = [{city.low}, {high}]
timestamp = {{ format = "%Y-%m-%d %H:%M", timezone = "{city.timezone}" }}
{unpivot}

[sources.columns]
response_id = "resp_id"
respondent_id = "resp_id"
surveyed_at = "ts"
zone_code = "zone"
weight = "w"
{shape}

[sources.items]
{item_lines}
{labels}
{incidents}"""


def generate_city(city: DemoCity, target: Path, seed: int) -> dict[str, int]:
    """Write one member city's landing files, truth and project file under `target`."""
    rng = np.random.default_rng([seed, *city.id.encode()])
    landing = target / "landing"
    zones = _zones(city, rng)
    _write_zones(zones, landing / "zones" / "zones.geojson")
    written = {"survey": _survey(city, zones, rng, landing)}
    if city.has_incidents:
        written["incidents"] = _incidents(city, zones, rng, landing)
    truth = pd.DataFrame(
        [{"city_id": city.id, "time_band": "day", "true_perception": city.day},
         {"city_id": city.id, "time_band": "night", "true_perception": city.night}]
    )  # fmt: skip
    truth.to_csv(landing / "_synthetic_truth.csv", index=False)
    zones.to_csv(landing / "_synthetic_zones.csv", index=False)
    (target / "observatory.toml").write_text(_project_file(city), encoding="utf-8")
    return written


def network_file(cities: tuple[DemoCity, ...] = CITIES, language: str = "en") -> str:
    """The demo network file."""
    members = ",\n    ".join(f'"{c.id}/observatory.toml"' for c in cities)
    return f"""# The SYNTHETIC demo network (`observatory demo --network`): five member cities.
members = [
    {members},
]

[network]
id = "demo_network"
name = "ToNite network (SYNTHETIC DEMO)"
synthetic = true

[project]
warehouse = "warehouse/network.duckdb"
report = "report/network.html"

[method]
confidence = 0.90
draws = 500
min_respondents = 30
incident_family = "crime"
reference_period = {{ start = {START.isoformat()}, end = {dt.date(START.year, 3, 31).isoformat()} }}
goalposts = {{ perception = [0.0, 100.0], incident_ratio = [3.0, 0.0] }}
weights = {{ perception = 2.0, incidents = 1.0 }}

[report]
language = "{language}"
"""


def generate_network(
    target: Path, seed: int = 20251, cities: tuple[DemoCity, ...] = CITIES
) -> Path:
    """Write every member city (in `target/<city_id>/`) and the network file; its path."""
    target.mkdir(parents=True, exist_ok=True)
    for city in cities:
        written = generate_city(city, target / city.id, seed)
        log.info("demo network: %s written: %s", city.id, written)
    path = target / "network.toml"
    path.write_text(network_file(cities), encoding="utf-8")
    return path
