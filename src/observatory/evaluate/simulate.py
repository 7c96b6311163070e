"""Simulated cities with a known truth, built through the real pipeline.

A city is drawn from a `CitySpec` in three independent random streams (zones, survey,
incidents), so changing the incident design of a scenario does not change its survey
draws. Truth is static over months except for the night-time seasonal term:

- each zone has a latent day and night perception, `band_means + between_sd * z` with
  the zones' day and night z correlated by `day_night_corr`; the night one moves by
  `night_swing * sin(2 pi month / 12)`, the same in every zone;
- each zone has an answer SD drawn from `answer_sd` (both bands);
- the expected incident count of a zone (both bands, every month) is
  `incident_mean * exp(h - s^2 / 2)`, `h ~ N(0, s)`, `s = incident_zone_sd`.

True perception, incident ratio and index follow `observatory.evaluate.truth`. There are
no sensors: the environment component is absent and the weights are renormalised, as the
method documents. Rows are written to `validated.*` by `observatory.evaluate.city`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from observatory.config import Config, IndexConfig
from observatory.evaluate import truth
from observatory.evaluate.city import City, build_city, config
from observatory.evaluate.draws import BANDS, draw_answers, draw_incidents
from observatory.evaluate.spec import POPULATION, CitySpec


@dataclass(frozen=True)
class SimulatedCity:
    """The drawn rows of one city and its truth.

    Attributes:
        zones: zone_id, population.
        survey: validated-survey rows.
        incidents: validated-incident rows.
        truth: one row per zone_id x time_band x period_start: n_respondents, answer_sd,
            latent, true_perception, incident_mu, true_incident_ratio, true_index.
    """

    zones: pd.DataFrame
    survey: pd.DataFrame
    incidents: pd.DataFrame
    truth: pd.DataFrame


def truth_frame(spec: CitySpec, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the zones and compute every cell's truth (respondent counts not yet drawn).

    Args:
        spec: the city design.
        rng: the zones' random stream.

    Returns:
        One row per zone_id x time_band x period_start, sorted by band, period, zone.
    """
    z = spec.n_zones
    a, b = rng.standard_normal(z), rng.standard_normal(z)
    rho = spec.day_night_corr
    unit = np.stack([a, rho * a + np.sqrt(1.0 - rho**2) * b])  # (band, zone)
    base = np.asarray(spec.band_means)[:, None] + np.asarray(spec.between_sd)[:, None] * unit
    sd = rng.uniform(*spec.answer_sd, z)
    s = spec.incident_zone_sd
    mu_zone = spec.incident_mean * np.exp(rng.normal(0.0, s, z) - s**2 / 2.0)
    months = np.arange(spec.n_months)
    season = spec.night_swing * np.sin(2.0 * np.pi * months / 12.0)
    latent = np.repeat(base[:, None, :], spec.n_months, axis=1)  # (band, period, zone)
    latent[1] += season[:, None]
    perception = truth.clipped_normal_mean(latent, sd[None, None, :])
    keys = pd.MultiIndex.from_product(
        [list(BANDS), pd.to_datetime(spec.periods()), spec.zone_ids()],
        names=["time_band", "period_start", "zone_id"],
    )
    frame = pd.DataFrame(
        {
            "answer_sd": np.broadcast_to(sd, latent.shape).ravel(),
            "latent": latent.ravel(),
            "true_perception": perception.ravel(),
            "incident_mu": np.broadcast_to(mu_zone, latent.shape).ravel(),
        },
        index=keys,
    ).reset_index()
    ratio = truth.incident_ratio(frame["incident_mu"], frame["time_band"])
    frame["true_incident_ratio"] = ratio
    # the index's functions work on zones of one band-month along the last axis
    index = truth.true_index(perception, ratio.to_numpy().reshape(latent.shape), IndexConfig())
    frame["true_index"] = index.ravel()
    return frame


def simulate_city(spec: CitySpec, seed: np.random.SeedSequence, project: Config) -> SimulatedCity:
    """Draw a whole city: truth, respondents and their answers, incidents.

    Args:
        spec: the city design.
        seed: the replicate's seed; it is split into the three streams.
        project: the project the city is built in (`city.config`): its time zone and
            fixed day/night hours place the incidents in their band.

    Returns:
        The rows to write and the truth to compare the published tables with.
    """
    zone_rng, survey_rng, incident_rng = (np.random.default_rng(s) for s in seed.spawn(3))
    cells = truth_frame(spec, zone_rng)
    wide = cells.pivot(index=["zone_id", "period_start"], columns="time_band", values="latent")
    wide = wide.reset_index()
    sd = cells.drop_duplicates("zone_id").set_index("zone_id")["answer_sd"]
    wide["sd"] = wide["zone_id"].map(sd)
    lo, hi = spec.respondents
    wide["n"] = survey_rng.integers(lo, hi + 1, len(wide))
    survey = draw_answers(wide, survey_rng, spec.clusters, clip=True)
    incidents = draw_incidents(
        cells.rename(columns={"incident_mu": "mu"}),
        incident_rng,
        spec.incident_k,
        project.city.timezone,
        project.time_bands,
    )
    n = wide[["zone_id", "period_start", "n"]].rename(columns={"n": "n_respondents"})
    cells = cells.merge(n, on=["zone_id", "period_start"], how="left")
    zones = pd.DataFrame({"zone_id": spec.zone_ids(), "population": POPULATION})
    return SimulatedCity(zones, survey, incidents, cells)


def build_simulated(
    sim: SimulatedCity, directory: Path, index: dict[str, object] | None = None
) -> City:
    """Write a simulated city into a fresh warehouse in `directory` and run the pipeline.

    Args:
        sim: the drawn city.
        directory: its project folder; an existing warehouse there is replaced.
        index: `[index]` settings (default: the method's defaults).

    Returns:
        The built city.
    """
    directory.mkdir(parents=True, exist_ok=True)
    warehouse = config(directory).warehouse_path
    for old in warehouse.parent.glob(warehouse.name + "*"):  # the file and its WAL
        old.unlink()
    return build_city(directory, sim.zones, sim.survey, sim.incidents, index)
