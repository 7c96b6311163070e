"""Audits inside the build (issue 19): a mart that breaks its contract is not published.

The build's SQL is copied and broken on purpose - a duplicated key, a withheld cell that
shows its perception - and the build must fail with the audit named, leave the previous
publication in place, and record what failed in ops.builds and ops.audit_failures.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from observatory import graph, pipeline, sql_util
from observatory.audits import AuditError
from tests.support import query
from tests.test_index_fixtures import make_city, simulate_survey

ZONES = [f"Z{i}" for i in range(8)]
MONTHS = [dt.date(2025, 1, 1), dt.date(2025, 2, 1)]


@pytest.fixture
def city(tmp_path: Path):  # noqa: ANN201
    rng = np.random.default_rng(5)
    truth = pd.DataFrame(
        [
            # Z0 has 4 respondents a month: withheld
            {
                "zone_id": z,
                "period_start": m,
                "n": 4 if z == "Z0" else 20,
                "day": 60.0,
                "night": 45.0,
            }
            for z in ZONES
            for m in MONTHS
        ]
    )
    return make_city(
        tmp_path / "city",
        pd.DataFrame({"zone_id": ZONES, "population": 5000.0}),
        simulate_survey(truth, rng),
        index={"uncertainty_draws": 100},
    )


def _broken_sql(tmp_path: Path, mart: str, old: str, new: str, monkeypatch) -> None:  # noqa: ANN001
    root = tmp_path / "sql"
    shutil.copytree(sql_util.repo_dir("sql"), root)
    path = root / "marts" / f"{mart}.sql"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    real = sql_util.repo_dir
    monkeypatch.setattr(sql_util, "repo_dir", lambda name: root if name == "sql" else real(name))
    monkeypatch.setattr(graph, "repo_dir", lambda name: root if name == "sql" else real(name))
    graph.build_order.cache_clear()


@pytest.mark.parametrize(
    ("mart", "old", "new", "audit"),
    [
        (  # a key published twice
            "zone_trends",
            "select * from final\n",
            "select * from final union all (select * from final limit 1)\n",
            "grain unique",
        ),
        (  # a withheld cell's perception published
            "zone_index",
            "case when not j.is_suppressed then round(j.perception_raw, 1) end as perception_raw",
            "round(j.perception_raw, 1) as perception_raw",
            "withheld cells hold no survey figure",
        ),
        (  # an interval upside down
            "zone_index",
            "case when not j.is_suppressed then round(j.index_ci_low, 1) end as index_ci_low",
            "case when not j.is_suppressed then round(j.index_ci_high, 1) + 1 end as index_ci_low",
            "index interval ordered",
        ),
    ],
)
def test_a_mart_that_breaks_its_contract_is_not_published(  # noqa: PLR0917 (pytest parameters)
    city,
    tmp_path: Path,
    monkeypatch,
    mart: str,
    old: str,
    new: str,
    audit: str,  # noqa: ANN001
) -> None:
    cfg = city.cfg
    before = query(cfg, "select build_id, count(*) from marts.zone_index group by all")
    logged = query(cfg, "select count(distinct build_id) from marts.publication_log")
    _broken_sql(tmp_path, mart, old, new, monkeypatch)
    try:
        with pytest.raises(AuditError, match=audit):
            # full: an incremental build would put back the frozen months' published rows
            # over the broken ones (so nothing broken would be published) and audit those
            pipeline.build(cfg, full=True)
    finally:
        graph.build_order.cache_clear()
    # the previous publication is still what the marts hold, and nothing was logged
    assert query(cfg, "select build_id, count(*) from marts.zone_index group by all") == before
    assert query(cfg, "select count(distinct build_id) from marts.publication_log") == logged
    status, error = query(
        cfg, "select status, error from ops.builds order by started_at desc limit 1"
    )[0]
    assert status == "failed" and audit in error
    failures = query(cfg, "select mart, audit, n_rows from ops.audit_failures")
    assert (mart, audit) in {(m, a) for m, a, _ in failures}
    assert all(n > 0 for *_, n in failures)


def test_the_unbroken_build_passes_every_audit(city) -> None:  # noqa: ANN001
    pipeline.build(city.cfg)
    assert query(city.cfg, "select status from ops.builds order by started_at desc limit 1") == [
        ("succeeded",)
    ]
