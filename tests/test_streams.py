"""The composite's random streams (method v4): a month's draws do not depend on the months
drawn with it, and the bootstrap's Poisson(1) counts are Poisson(1)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from scipy.stats import poisson

from observatory.index.bootstrap import poisson_counts
from observatory.index.streams import MonthStreams, block_generator

MONTHS = [dt.date(2025, m, 1) for m in (1, 2, 3, 5, 6)]


def test_a_months_normals_are_the_same_whichever_months_are_drawn_with_it() -> None:
    every = MonthStreams(11, MONTHS)
    alone = MonthStreams(11, [MONTHS[1], MONTHS[3]])
    for shape in ((7, 2, 5, 4), (7, 2, 5)):  # (R, B, T, Z) and (R, B, T)
        whole = every.normal("perception", shape, axis=2)
        part = alone.normal("perception", (*shape[:2], 2, *shape[3:]), axis=2)
        np.testing.assert_array_equal(whole[:, :, [1, 3]], part)  # the second call too
    other = MonthStreams(11, MONTHS).normal("incidents", (7, 2, 5, 4), axis=2)
    assert not np.allclose(other, MonthStreams(11, MONTHS).normal("perception", other.shape, 2))


def test_a_months_uniforms_are_the_same_whichever_cells_are_drawn_with_it() -> None:
    month_of = np.array([0, 2, 2, 4, 1, 2, 0])
    whole = MonthStreams(3, MONTHS).uniform("incidents", 6, month_of)
    keep = np.isin(month_of, [2, 4])
    part = MonthStreams(3, [MONTHS[2], MONTHS[4]]).uniform(
        "incidents", 6, np.searchsorted([2, 4], month_of[keep])
    )
    np.testing.assert_array_equal(whole[:, keep], part)
    assert np.all((whole >= 0) & (whole < 1))


def test_the_block_generator_is_keyed_on_the_blocks_first_month() -> None:
    a = block_generator(5, "variants", MONTHS).random(3)
    np.testing.assert_array_equal(a, block_generator(5, "variants", MONTHS[:2]).random(3))
    assert not np.allclose(a, block_generator(5, "variants", MONTHS[1:]).random(3))
    assert block_generator(5, "fear", []).random() != block_generator(5, "variants", []).random()


def test_poisson_counts_invert_the_generators_uniforms() -> None:
    counts = poisson_counts((400, 30), np.random.default_rng(9))
    inverted = poisson.ppf(np.random.default_rng(9).random((400, 30)), 1.0)
    np.testing.assert_array_equal(counts, inverted)


def test_poisson_counts_follow_poisson_one() -> None:
    n = 2_000_000
    counts = poisson_counts((n,), np.random.default_rng(2026))
    assert abs(counts.mean() - 1.0) < 5 * np.sqrt(1.0 / n)
    freq = np.bincount(counts, minlength=8)[:8] / n
    pmf = poisson.pmf(np.arange(8), 1.0)
    se = np.sqrt(pmf * (1 - pmf) / n)
    assert np.all(np.abs(freq - pmf) < 5 * se), (freq, pmf)
