"""Helpers for the index tests: a small city warehouse built from frames, run by the pipeline.

Thin wrappers over `observatory.evaluate` (which `observatory validate-method` uses too):
`make_city` writes zones and validated rows straight into a real DuckDB warehouse and runs
`pipeline.build` on it, so the index tests exercise the same SQL models and Python steps as
production, without the ingest path (which has its own tests). `simulate_survey` draws
respondents around known true zone means, for the tests that need the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatory.evaluate.city import City, build_city, config
from observatory.evaluate.draws import draw_answers

__all__ = ["City", "config", "make_city", "simulate_survey"]

make_city = build_city


def simulate_survey(
    truth: pd.DataFrame, rng: np.random.Generator, sd: float = 15.0
) -> pd.DataFrame:
    """Respondents answering one day and one night item around known true means.

    Args:
        truth: one row per zone_id x period_start with n (respondents), day and night
            (the true mean score of each band).
        rng: seeded generator.
        sd: spread of individual answers around the zone's true mean (answers are not
            clipped to 0-100, so the true means stay the exact expected answers).

    Returns:
        Validated-survey rows (one per respondent x item), stamped mid-month at noon UTC.
    """
    return draw_answers(truth.assign(sd=sd), rng, clusters=None, clip=False)
