"""The eight scenarios of `observatory validate-method` and their quick variants.

Each scenario changes one thing about the "current" design (the survey the index is
calibrated on: 40 zones, 12 months, 10-60 respondents per cell, answer SD 15, between-zone
SD 8, simple random sampling, Poisson incidents, ~20 per cell); "combined" changes all of
them at once. None of them has a true trend, and only "seasonal" and "combined" have true
month-to-month changes (the night-time seasonal swing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from observatory.evaluate.spec import CitySpec, Clusters

#: Replicates per scenario (full run, quick run).
REPLICATES = 10
QUICK_REPLICATES = 2
#: The quick variant keeps at most this many zones and months.
QUICK_ZONES = 20
QUICK_MONTHS = 8


@dataclass(frozen=True)
class Scenario:
    """A named city design.

    Attributes:
        name: short identifier (used in seeds and folder names).
        spec: the city design.
        description: one line for readers of the table.
    """

    name: str
    spec: CitySpec
    description: str


CURRENT = CitySpec()
UNEQUAL = {"answer_sd": (8.0, 28.0)}
CLUSTER = {"clusters": Clusters(psus_per_cell=4, icc=0.14)}
WEAK = {"between_sd": (2.0, 2.0)}
INCIDENTS = {"incident_k": 1.5, "incident_mean": 4.0, "incident_zone_sd": 1.0}
SEASONAL = {"n_months": 24, "night_swing": 5.0}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("current", CURRENT, "the design the method is calibrated on"),
    Scenario("unequal_spread", replace(CURRENT, **UNEQUAL), "answer SD 8-28 by zone"),
    Scenario("cluster", replace(CURRENT, **CLUSTER), "4 PSUs per cell, ICC 0.14"),
    Scenario(
        "few_zones",
        replace(CURRENT, n_zones=8, respondents=(100, 150)),
        "8 zones, 100-150 respondents per cell",
    ),
    Scenario("weak_differences", replace(CURRENT, **WEAK), "between-zone SD 2"),
    Scenario(
        "realistic_incidents",
        replace(CURRENT, **INCIDENTS),
        "negative binomial k 1.5, ~4 per cell, zone SD 1.0",
    ),
    Scenario("seasonal", replace(CURRENT, **SEASONAL), "24 months, night swing +-5 points"),
    Scenario(
        "combined",
        replace(CURRENT, **UNEQUAL, **CLUSTER, **WEAK, **INCIDENTS, **SEASONAL),
        "all but few_zones at once, 24 months",
    ),
)


def quick(scenario: Scenario) -> Scenario:
    """The scenario shrunk for CI: at most `QUICK_ZONES` zones and `QUICK_MONTHS` months.

    The seeds of a replicate depend on the scenario's name only, so a quick city is a
    smaller draw of the same design, not a different one.
    """
    spec = scenario.spec
    smaller = replace(
        spec, n_zones=min(spec.n_zones, QUICK_ZONES), n_months=min(spec.n_months, QUICK_MONTHS)
    )
    return replace(scenario, spec=smaller)


def select(names: list[str] | None = None, quick_run: bool = False) -> list[Scenario]:
    """The scenarios to run, in the table's order.

    Args:
        names: scenario names (None or empty: all of them).
        quick_run: shrink each one (`quick`).

    Returns:
        The scenarios.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    known = {s.name: s for s in SCENARIOS}
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {sorted(known)}")
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    return [quick(s) for s in chosen] if quick_run else chosen
