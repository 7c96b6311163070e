"""`observatory demo --network` end to end, and the comparability it exists for.

The five SYNTHETIC member cities are generated and run through their own pipelines, and
the network built, by the command itself. Torino and Cluj-Napoca share their true
perception (72 by day, 55 at night) but not their instrument (five Italian labels vs a
0-10 number scale), language or zone count (12 vs 20): the network must give them the
same figure within the intervals, while Riga (truth 66 / 44) must come out different.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, norm
from typer.testing import CliRunner

from observatory.cli import app
from observatory.demo.network import CITIES

Z90 = norm.ppf(0.95)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("network") / "demo"
    result = CliRunner().invoke(app, ["demo", "--network", "--dir", str(root)])
    assert result.exit_code == 0, result.output
    return root, result.output


def _cities(root: Path) -> pd.DataFrame:
    con = duckdb.connect(str(root / "warehouse" / "network.duckdb"), read_only=True)
    try:
        return con.execute("select * from marts.network_cities").df()
    finally:
        con.close()


def _truth(root: Path) -> pd.DataFrame:
    return pd.concat(pd.read_csv(root / c.id / "landing" / "_synthetic_truth.csv") for c in CITIES)


def test_demo_network_ends_with_a_populated_warehouse_and_report(demo: tuple[Path, str]) -> None:
    root, output = demo
    cities = _cities(root)
    assert set(cities["city_id"]) == {c.id for c in CITIES}
    published = cities[cities["is_published"]]
    assert set(published["city_id"]) == {c.id for c in CITIES}
    assert published["perception_ci_low"].le(published["perception"]).all()
    assert published["perception"].le(published["perception_ci_high"]).all()
    page = (root / "report" / "network.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in page and "core.safe_after_dark" in page
    for language in ("it", "ro", "lv", "es", "ca", "pt"):
        assert f'"{language}":{{"title"' in page  # the viewer can switch to every language
    assert "SYNTHETIC" in output


def test_a_city_without_a_core_item_shows_a_reason_not_a_number(demo: tuple[Path, str]) -> None:
    cities = _cities(demo[0])
    day = cities[(cities["city_id"] == "sant_boi") & (cities["time_band"] == "day")]
    assert day["perception"].isna().all() and day["perception_gap"].isna().all()
    assert (day["reason"] == "no survey item is mapped onto core.safe_during_day").all()
    braga = cities[(cities["city_id"] == "braga") & cities["is_published"]]
    assert braga["composite"].isna().all()
    assert braga["composite_reason"].str.contains("'crime' incident source").all()


def _se(frame: pd.DataFrame) -> pd.Series:
    return (frame["perception_ci_high"] - frame["perception_ci_low"]) / (2 * Z90)


def _pair(cities: pd.DataFrame, a: str, b: str, band: str) -> pd.DataFrame:
    keep = cities["is_published"] & (cities["time_band"] == band)
    left = cities[keep & (cities["city_id"] == a)].set_index("period_start")
    right = cities[keep & (cities["city_id"] == b)].set_index("period_start")
    both = left.index.intersection(right.index)
    return pd.DataFrame(
        {
            "diff": left.loc[both, "perception"] - right.loc[both, "perception"],
            "se": np.hypot(_se(left.loc[both]), _se(right.loc[both])),
        }
    )


@pytest.mark.parametrize("band", ["day", "night"])
def test_cities_with_the_same_truth_get_the_same_figure(demo: tuple[Path, str], band: str) -> None:
    """Torino and Cluj: every month's difference within its interval (Bonferroni over the
    months, family-wise 1%), and the six months pooled within theirs (1%): an instrument,
    language or zone-count effect of about 2.5 points or more would fail it."""
    pair = _pair(_cities(demo[0]), "torino", "cluj_napoca", band)
    assert len(pair) == 6
    z_cell = norm.ppf(1 - 0.005 / len(pair))
    assert (pair["diff"].abs() <= z_cell * pair["se"]).all(), pair
    pooled, pooled_se = pair["diff"].mean(), np.sqrt((pair["se"] ** 2).sum()) / len(pair)
    assert abs(pooled) <= norm.ppf(0.995) * pooled_se, (pooled, pooled_se)
    print(f"\n{band}: Torino - Cluj over 6 months {pooled:+.2f} (se {pooled_se:.2f})")


def test_cities_with_different_truths_are_told_apart(demo: tuple[Path, str]) -> None:
    """The same test has the power to see Riga's night (44) below Torino's (55)."""
    pair = _pair(_cities(demo[0]), "torino", "riga", "night")
    pooled, pooled_se = pair["diff"].mean(), np.sqrt((pair["se"] ** 2).sum()) / len(pair)
    assert pooled > norm.ppf(0.995) * pooled_se


def test_intervals_cover_each_city_truth_as_often_as_they_claim(demo: tuple[Path, str]) -> None:
    cities = _cities(demo[0]).merge(_truth(demo[0]), on=["city_id", "time_band"])
    published = cities[cities["is_published"]]
    covered = (published["perception_ci_low"] <= published["true_perception"]) & (
        published["true_perception"] <= published["perception_ci_high"]
    )
    floor = binom.ppf(0.01, len(published), 0.90)  # 90% intervals: below this, 1% chance
    assert covered.sum() >= floor, (covered.sum(), len(published))
    print(f"\ncoverage: {covered.sum()} of {len(published)} cells ({covered.mean():.0%})")


def _variant(root: Path, name: str, old: str, new: str) -> Path:
    """A copy of the demo's network file with one change, writing its own warehouse."""
    text = (root / "network.toml").read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new).replace("warehouse/network.duckdb", f"warehouse/{name}.duckdb")
    path = root / f"{name}.toml"
    path.write_text(text.replace("report/network.html", f"report/{name}.html"), encoding="utf-8")
    return path


def test_a_member_that_does_not_load_is_listed_with_its_reason(demo: tuple[Path, str]) -> None:
    from observatory.network.build import build_network  # noqa: PLC0415
    from observatory.network.config import load_network  # noqa: PLC0415

    root = demo[0]
    path = _variant(root, "broken", '"braga/observatory.toml",', '"braga/missing.toml",')
    report = build_network(load_network(path))
    assert "missing" in report.problems and "braga" not in report.compared
    con = duckdb.connect(str(root / "warehouse" / "broken.duckdb"), read_only=True)
    try:
        members = con.execute(
            "select city_id, is_compared, reason from marts.network_members"
        ).fetchall()
        rows = con.execute(
            "select count(*), count(perception), any_value(reason) from marts.network_cities "
            "where city_id = 'missing'"
        ).fetchall()[0]
    finally:
        con.close()
    missing = next(m for m in members if m[0] == "missing")
    assert missing[1] is False and "configuration file not found" in missing[2]
    assert rows[0] > 0 and rows[1] == 0 and rows[2].startswith("not compared:")


def test_a_city_month_under_the_network_k_is_withheld(demo: tuple[Path, str]) -> None:
    from observatory.network.build import build_network  # noqa: PLC0415
    from observatory.network.config import load_network  # noqa: PLC0415

    root = demo[0]
    path = _variant(root, "strict", "min_respondents = 30", "min_respondents = 400")
    build_network(load_network(path))
    con = duckdb.connect(str(root / "warehouse" / "strict.duckdb"), read_only=True)
    try:
        frame = con.execute(
            "select n_respondents, is_published, reason, perception from marts.network_cities "
            "where city_id = 'riga'"
        ).df()
    finally:
        con.close()
    assert not frame["is_published"].any() and frame["perception"].isna().all()
    assert frame["reason"].str.startswith("fewer than 400 respondents").sum() == 12
