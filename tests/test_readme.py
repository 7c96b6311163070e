"""The README's picture of `make demo` is what the demo prints (it went stale once)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sample_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("The end of `make demo`", 1)[1].split("```", 2)[1]
    return [line for line in block.splitlines() if re.match(r"\s+(loaded|Z\d{3})\s", line)]


def test_readme_sample_output_matches_the_demo(tmp_path: Path) -> None:
    lines = _sample_lines()
    assert len(lines) >= 4, "the README's sample lost its rows"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "observatory"), "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = {line.rstrip() for line in done.stdout.splitlines()}
    stale = [line for line in lines if line.rstrip() not in printed]
    assert not stale, f"README sample lines the demo no longer prints: {stale}"
