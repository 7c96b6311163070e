"""Where the project's own folders are, packaged or from a checkout (no heavy imports)."""

from __future__ import annotations

from pathlib import Path


def repo_dir(name: str) -> Path:
    """A top-level folder of the project (`sql`, `expectations`), packaged or from a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_resources" / name, here.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the project's {name}/ folder next to {here}")
