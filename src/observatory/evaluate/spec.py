"""What a simulated city looks like: the design a scenario fixes and the simulator draws from.

A `CitySpec` is pure data (frozen, hashable), so a scenario is a value and two runs of the
same scenario and replicate draw the same city. Every field has the default of the
"current" scenario: the survey design the index is calibrated on today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: The first simulated month; months follow as calendar months.
START = dt.date(2024, 1, 1)
#: Every simulated zone has this many residents, so the incident exposure is residents.
POPULATION = 5000.0


@dataclass(frozen=True)
class Clusters:
    """A two-stage sample: each cell's respondents come from a few primary sampling units.

    Attributes:
        psus_per_cell: PSUs per zone x month; respondents are split evenly across them.
        icc: intra-cluster correlation: the PSU effect has variance `icc * sd^2` and the
            respondent's own noise `(1 - icc) * sd^2`, so an answer's total SD stays `sd`.
    """

    psus_per_cell: int
    icc: float


@dataclass(frozen=True)
class CitySpec:
    """The design of one simulated city (see docs of `observatory.evaluate.simulate`).

    Attributes:
        n_zones: zones of the city, each with `POPULATION` residents.
        n_months: months from `START`.
        respondents: (low, high), inclusive: respondents drawn per zone x month; each
            answers one day and one night item.
        band_means: city mean of the zones' latent perception, (day, night).
        between_sd: between-zone SD of latent perception, (day, night).
        day_night_corr: correlation of a zone's day and night latent perception.
        answer_sd: (low, high): each zone's SD of individual answers, drawn uniformly per
            zone (low == high: the same SD everywhere).
        clusters: None for simple random sampling, else the cluster design.
        incident_mean: mean incident count per zone x band x month over the city.
        incident_k: None for Poisson counts, else the negative-binomial size k
            (variance mu + mu^2 / k).
        incident_zone_sd: SD of the zone's log incident rate (lognormal heterogeneity).
        night_swing: amplitude in points of a city-wide 12-month sinusoid added to every
            zone's night perception (0: no seasonality).
    """

    n_zones: int = 40
    n_months: int = 12
    respondents: tuple[int, int] = (10, 60)
    band_means: tuple[float, float] = (65.0, 50.0)
    between_sd: tuple[float, float] = (8.0, 8.0)
    day_night_corr: float = 0.7
    answer_sd: tuple[float, float] = (15.0, 15.0)
    clusters: Clusters | None = None
    incident_mean: float = 20.0
    incident_k: float | None = None
    incident_zone_sd: float = 0.5
    night_swing: float = 0.0

    def periods(self) -> list[dt.date]:
        """The first day of every simulated month, in order."""
        return [
            dt.date(START.year + (START.month - 1 + m) // 12, (START.month - 1 + m) % 12 + 1, 1)
            for m in range(self.n_months)
        ]

    def zone_ids(self) -> list[str]:
        """Zone identifiers Z000, Z001, ... (sortable)."""
        return [f"Z{i:03d}" for i in range(self.n_zones)]
