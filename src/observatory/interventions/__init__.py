"""Interventions: the register of what a city did, and whether it worked.

`register` reads and checks the register (project file, CSV or GeoJSON) into
`ref.interventions`; `step` evaluates every intervention x outcome x band against
comparison zones during a build (`estimate`: difference-in-differences and event study with
pyfixest); `placebo` measures the evaluation's error rates on the demo
(`observatory validate-interventions`). Method and limits: docs/interventions.md.
"""

from observatory.interventions.register import write_register
from observatory.interventions.step import build_intervention_effects

__all__ = ["build_intervention_effects", "write_register"]
