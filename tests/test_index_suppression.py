"""Suppression: cells under k respondents are withheld, and complementary suppression keeps
them from being worked out from city totals or from the other band."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from observatory.index.suppression import (
    ACROSS_BANDS,
    ACROSS_ZONES,
    HOMOGENEOUS,
    PRIMARY,
    feasible_width,
    suppress,
)
from tests.test_index_fixtures import City, make_city, simulate_survey

P1, P2, P3 = dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)
CELLS = [
    # (period, band, zone, n_respondents, expected reason)
    # P1: one small zone -> the next smallest published zone is withheld with it
    (P1, "day", "A", 4, PRIMARY),
    (P1, "day", "B", 12, ACROSS_ZONES),
    (P1, "day", "C", 30, None),
    (P1, "day", "D", 25, None),
    (P1, "day", "E", 0, None),  # no respondents: nothing to protect
    (P1, "night", "A", 4, PRIMARY),
    (P1, "night", "B", 12, ACROSS_ZONES),
    (P1, "night", "C", 30, None),
    (P1, "night", "D", 25, None),
    (P1, "night", "E", 0, None),
    # P2: only the night band of A is small -> its day band goes too, then a partner per band
    (P2, "day", "A", 12, ACROSS_BANDS),
    (P2, "day", "B", 30, None),
    (P2, "day", "C", 20, ACROSS_ZONES),
    (P2, "night", "A", 5, PRIMARY),
    (P2, "night", "B", 30, None),
    (P2, "night", "C", 20, ACROSS_ZONES),
    # P3: a lone small zone with no possible partner -> the city total is withheld instead
    (P3, "day", "A", 3, PRIMARY),
    (P3, "day", "B", 0, None),
    (P3, "night", "A", 0, None),
    (P3, "night", "B", 0, None),
]


def test_suppression_flags_match_the_worked_example() -> None:
    cells = pd.DataFrame(
        CELLS, columns=["period_start", "time_band", "zone_id", "n_respondents", "reason"]
    )
    got = suppress(cells.drop(columns="reason"), k=10)
    merged = cells.merge(got, on=["period_start", "time_band", "zone_id", "n_respondents"])
    assert len(merged) == len(CELLS)
    for row in merged.itertuples():
        expected = row.reason if isinstance(row.reason, str) else None
        assert (row.suppression_reason if row.is_suppressed else None) == expected, row
    totals = got.groupby(["period_start", "time_band"])["is_total_suppressed"].any()
    assert totals.to_dict() == {
        (P1, "day"): False,
        (P1, "night"): False,
        (P2, "day"): False,
        (P2, "night"): False,
        (P3, "day"): True,
        (P3, "night"): False,
    }


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """Eight zones, two months; Z0 has 5 respondents in March, Z1 skips the night item."""
    rng = np.random.default_rng(5)
    truth = pd.DataFrame(
        {
            "zone_id": [f"Z{i}" for i in range(8)] * 2,
            "period_start": [dt.date(2025, 2, 1)] * 8 + [dt.date(2025, 3, 1)] * 8,
            "n": [20, 15, 25, 30, 18, 22, 40, 35] + [5, 15, 25, 30, 18, 22, 40, 35],
            "day": np.tile(np.linspace(50, 80, 8), 2),
            "night": np.tile(np.linspace(30, 60, 8), 2),
        }
    )
    survey = simulate_survey(truth, rng).assign(weight=1.0)
    # in March, 8 of Z1's 15 respondents skip the night question: night n = 7 < k
    skip = (
        (survey["zone_id"] == "Z1")
        & (survey["time_band"] == "night")
        & (survey["surveyed_at"].dt.month == 3)
    )
    survey = survey.drop(survey.index[skip][:8])
    zones = pd.DataFrame({"zone_id": [f"Z{i}" for i in range(8)], "population": 5000.0})
    return make_city(
        tmp_path_factory.mktemp("suppression"), zones, survey, index={"uncertainty_draws": 100}
    )


def test_small_cells_and_their_complements_are_withheld(city: City) -> None:
    cells = city.query(
        """
        select zone_id, time_band, n_respondents, is_suppressed, suppression_reason
        from marts.zone_index where period_start = '2025-03-01' and is_suppressed
        order by zone_id, time_band
        """
    )
    reasons = {(r.zone_id, r.time_band): r.suppression_reason for r in cells.itertuples()}
    assert reasons[("Z0", "day")] == reasons[("Z0", "night")] == PRIMARY
    assert reasons[("Z1", "night")] == PRIMARY
    assert reasons[("Z1", "day")] == ACROSS_BANDS
    # no suppression in February: every zone has enough respondents
    feb = city.query(
        "select count(*) as n from marts.zone_index "
        "where period_start = '2025-02-01' and is_suppressed"
    )
    assert feb["n"].iloc[0] == 0


AUDITS = {
    "survey figures of suppressed cells are null": """
        select * from marts.zone_index where is_suppressed and (
            perception_raw is not null or perception_shrunk is not null
            or perception_score is not null or perception_ci_low is not null
            or perception_component is not null or index_value is not null
            or index_ci_low is not null or index_rank is not null or shrinkage_weight is not null)
    """,
    "a band-month never has exactly one withheld cell with respondents under a published total": """
        select i.period_start, i.time_band
        from marts.zone_index as i
        join marts.city_summary as c using (period_start, time_band)
        where c.city_perception is not null
        group by all
        having count(*) filter (where i.is_suppressed and i.n_respondents > 0) = 1
    """,
    "a zone-month never has one band withheld and the other published with respondents": """
        select zone_id, period_start from marts.zone_index group by all
        having bool_or(is_suppressed) and bool_or(not is_suppressed and n_respondents > 0)
    """,
    "day-night gaps of withheld cells are null": """
        select * from marts.day_night_gap where is_suppressed
            and (index_gap is not null or perception_gap is not null or night_index is not null)
    """,
    "changes touching a withheld cell are null": """
        select t.* from marts.zone_trends as t
        left join marts.zone_index as prev
            on prev.zone_id = t.zone_id and prev.time_band = t.time_band
            and prev.period_start = t.period_start - interval 1 month
        where (t.is_suppressed or prev.is_suppressed) and t.change_vs_previous is not null
    """,
    "fear gaps of withheld zones are null": """
        select * from marts.fear_gap where is_suppressed
            and (fear_gap is not null or fear_gap_day is not null or perception_day is not null)
    """,
}


@pytest.mark.parametrize("audit", list(AUDITS))
def test_audit_returns_no_violating_rows(city: City, audit: str) -> None:
    assert city.query(AUDITS[audit]).empty


def test_suppressed_values_cannot_be_recovered_by_subtraction(city: City) -> None:
    # With unit weights the city mean is the respondent-weighted mean of the zone means, so
    # subtracting the published zones from the total leaves only the withheld cells.
    published = city.query(
        """
        select i.zone_id, i.n_respondents, i.perception_raw, c.city_perception,
            c.n_respondents as n_city
        from marts.zone_index as i join marts.city_summary as c using (period_start, time_band)
        where i.period_start = '2025-03-01' and i.time_band = 'day'
        """
    )
    truth = city.query(
        """
        select zone_id, n_respondents, perception_score as raw from idx.idx_perception
        where period_start = '2025-03-01' and time_band = 'day'
        """
    ).set_index("zone_id")
    shown = published.dropna(subset=["perception_raw"])
    hidden = published[published["perception_raw"].isna()]
    assert set(hidden["zone_id"]) == {"Z0", "Z1"}, "the small zone and its complement"
    n_city, city_mean = published["n_city"].iloc[0], published["city_perception"].iloc[0]
    residual = n_city * city_mean - (shown["n_respondents"] * shown["perception_raw"]).sum()
    # The attack works: the residual is the withheld cells' total (up to rounding) ...
    withheld_total = (
        truth.loc[["Z0", "Z1"], "n_respondents"] * truth.loc[["Z0", "Z1"], "raw"]
    ).sum()
    assert residual == pytest.approx(withheld_total, abs=0.05 * n_city)
    # ... but it is one equation in two unknowns: it does not give Z0's value.
    naive_z0 = residual / truth.loc["Z0", "n_respondents"]
    assert abs(naive_z0 - truth.loc["Z0", "raw"]) > 50


@pytest.mark.parametrize(
    ("method", "shrinkage"),
    [("zscore", "none"), ("minmax", "none"), ("rank", "none"), ("goalposts", "fay_herriot")],
)
def test_withheld_answers_do_not_move_published_scores(
    tmp_path, method: str, shrinkage: str
) -> None:
    """Two cities identical but for what the 4 people of a withheld zone answered: every
    published perception figure must be the same, or differencing them would recover the
    withheld mean (a z-score leaked it to 0.2 points; the Fay-Herriot city mean, solvable
    from a published raw, shrunk and weight triple, was a second city total)."""
    zones = [f"Z{i}" for i in range(8)]
    frames = []
    for withheld_mean in (20.0, 90.0):
        truth = pd.DataFrame(
            {
                "zone_id": zones,
                "period_start": P1,
                "n": [4] + [30] * 7,
                "day": [withheld_mean, 50, 55, 60, 65, 70, 75, 80],
                "night": [withheld_mean, 40, 45, 50, 55, 60, 65, 70],
            }
        )
        survey = simulate_survey(truth, np.random.default_rng(3))
        city = make_city(
            tmp_path / f"city{withheld_mean:.0f}",
            pd.DataFrame({"zone_id": zones, "population": 5000.0}),
            survey,
            index={"normalisation": method, "shrinkage": shrinkage, "uncertainty_draws": 50},
        )
        frames.append(
            city.query(
                "select zone_id, time_band, perception_shrunk, shrinkage_weight, "
                "perception_component, perception_ci_low, perception_ci_high, index_value "
                "from marts.zone_index where not is_suppressed order by zone_id, time_band"
            )
        )
    assert len(frames[0]) >= 10  # the withheld zone and its partner are out, the rest stay
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_withheld_cells_hold_at_least_k_respondents_together() -> None:
    # two small zones (3 + 4 people): together still under k = 10, so the city total minus
    # the published zones would give their pooled mean; the next smallest zone goes too
    cells = pd.DataFrame(
        {
            "zone_id": ["A", "B", "C", "D", "E"],
            "time_band": "day",
            "period_start": P1,
            "n_respondents": [3, 4, 12, 30, 40],
        }
    )
    out = suppress(cells, 10).set_index("zone_id")
    assert out["is_suppressed"].to_dict() == {
        "A": True,
        "B": True,
        "C": True,
        "D": False,
        "E": False,
    }
    assert out.loc["C", "suppression_reason"] == ACROSS_ZONES
    assert out.loc[out["is_suppressed"], "n_respondents"].sum() >= 10
    assert not out["is_total_suppressed"].any()


def test_a_cell_where_nearly_everyone_gave_the_same_answer_is_withheld() -> None:
    cells = pd.DataFrame(
        {
            "zone_id": ["A", "B", "C", "D"],
            "time_band": "night",
            "period_start": P1,
            "n_respondents": [25, 30, 28, 40],
            "modal_share": [0.96, 0.4, 0.5, 0.3],  # 24 of A's 25 people: "very unsafe"
        }
    )
    out = suppress(cells, 10, homogeneity_threshold=0.9).set_index("zone_id")
    assert out.loc["A", "suppression_reason"] == HOMOGENEOUS
    # ... and it is protected like any withheld cell (a partner from the city total)
    assert out["is_suppressed"].sum() == 2
    assert "modal_share" not in out
    off = suppress(cells, 10, homogeneity_threshold=1.01)
    assert not off["is_suppressed"].any()


def _answers(n: int, mean: float, sd: float) -> dict[str, float]:
    """Unit-weight answer sums of n people with this mean and spread."""
    return {"sum_w": n, "sum_wy": n * mean, "sum_wyy": n * (mean**2 + sd**2)}


def test_a_pinned_cell_gets_another_partner() -> None:
    # A (4 people) and its partner B (12) all feel very safe: from the city total, A's mean
    # is at least (16 x 97.25 - 12 x 100) / 4 = 89, so within 11 points it is known; C,
    # the next smallest, is withheld too (A's range is then the whole scale)
    cells = pd.DataFrame(
        [
            {"zone_id": z, "n_respondents": n, **_answers(n, mean, sd)}
            for z, n, mean, sd in [
                ("A", 4, 98, 1),
                ("B", 12, 97, 2),
                ("C", 20, 60, 15),
                ("D", 30, 50, 15),
            ]
        ]
    ).assign(time_band="day", period_start=P1)
    out = suppress(cells, 10, protection_points=10).set_index("zone_id")
    assert out["suppression_reason"].to_dict() == {
        "A": PRIMARY,
        "B": ACROSS_ZONES,
        "C": ACROSS_ZONES,
        "D": None,
    }
    assert not out["is_total_suppressed"].any()
    assert not {"sum_w", "sum_wy", "sum_wyy"} & set(out.columns)
    off = suppress(cells, 10, protection_points=0).set_index("zone_id")
    assert off["is_suppressed"].to_dict() == {"A": True, "B": True, "C": False, "D": False}


def test_feasible_width_is_what_the_city_total_leaves_open() -> None:
    cells = pd.DataFrame(
        [
            {"zone_id": "A", "n_respondents": 4, **_answers(4, 98, 1)},
            {"zone_id": "B", "n_respondents": 12, **_answers(12, 97, 2)},
        ]
    ).assign(time_band="day", period_start=P1)
    group = [cells["period_start"], cells["time_band"]]
    width = feasible_width(cells, pd.Series(True, index=cells.index), group)
    # pooled mean 97.25: A in [89, 100] from the scale, and within
    # s sqrt(12 / 4) = 1.85 x 1.73 = 3.2 of 97.25 from the pooled spread
    s = math.sqrt((4 * (98**2 + 1) + 12 * (97**2 + 4)) / 16 - 97.25**2)
    assert width[0] == pytest.approx(
        min(100, 97.25 + s * math.sqrt(3)) - max(89, 97.25 - s * math.sqrt(3))
    )
    # B in [97.25 x 16 / 12 - 100 x 4 / 12, 100] = [96.3, 100], and within s / sqrt(3)
    assert width[1] == pytest.approx(
        min(100, 97.25 + s / math.sqrt(3))
        - max(97.25 * 16 / 12 - 400 / 12, 97.25 - s / math.sqrt(3))
    )
