"""The benchmark's baseline (phase d) runs the same suites as the pipeline, every
expectation evaluated: a baseline that skips checks would flatter itself in d/b."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from observatory.bench_baseline import _dst_issue, run_baseline
from observatory.demo.generator import generate


def test_dst_issue_names_the_local_times_the_suite_quarantines() -> None:
    local = pd.to_datetime(
        pd.Series(["30/03/2025 02:30", "26/10/2025 02:30", "26/10/2025 03:30", "bad"]),
        format="%d/%m/%Y %H:%M",
        errors="coerce",
    )
    issue = _dst_issue(local, "Europe/Rome")
    assert issue.iloc[:2].tolist() == ["nonexistent", "ambiguous"]
    assert issue.iloc[2:].isna().all()
    assert np.all(_dst_issue(local, "UTC").isna())


def test_the_baseline_evaluates_every_expectation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    generate(tmp_path, scale="small-month")
    with caplog.at_level(logging.WARNING, logger="observatory.validation.gx_engine"):
        rows = run_baseline(tmp_path)
    assert rows > 0
    skipped = [r.getMessage() for r in caplog.records if "could not evaluate" in r.getMessage()]
    assert not skipped, skipped[:3]
