"""The core item catalogue: the standard questions a city's own items are mapped onto.

The catalogue is package data (`core_items.toml`, beside this module): every item has a
time band, a reference and its wording in the network's languages. A city's survey maps
one of its items onto a core item with `[sources.items] <item> = { ..., core = "core.x" }`;
config validation checks the id and the band against this catalogue.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

#: The languages every core item is worded in (BCP 47 primary tags).
LANGUAGES = ("en", "it", "ro", "lv", "es", "ca", "pt")
#: The core items a network compares cities on, per time band (the day/night gap needs both).
BAND_ITEMS = {"day": "core.safe_during_day", "night": "core.safe_after_dark"}


@dataclass(frozen=True)
class CoreItem:
    """One standard question."""

    item_id: str
    time_band: str
    reference: str
    scale_points: int
    wording: dict[str, str]

    def text(self, language: str) -> str:
        """The wording in a language (its primary tag: `ca-ES` -> `ca`), else English."""
        return self.wording.get(language.split("-", maxsplit=1)[0].lower(), self.wording["en"])


@cache
def catalogue() -> dict[str, CoreItem]:
    """Every core item by id, read once from the package's `core_items.toml`."""
    data = tomllib.loads(
        files("observatory.network").joinpath("core_items.toml").read_text("utf-8")
    )
    return {
        item_id: CoreItem(
            item_id=item_id,
            time_band=spec["time_band"],
            reference=spec["reference"],
            scale_points=int(spec["scale_points"]),
            wording=dict(spec["wording"]),
        )
        for item_id, spec in data["items"].items()
    }


@cache
def reference_answers() -> dict[str, list[str]]:
    """The reference answer labels per language, safest first."""
    data = tomllib.loads(
        files("observatory.network").joinpath("core_items.toml").read_text("utf-8")
    )
    return {lang: list(labels) for lang, labels in data["answers"].items()}


def check_core(core: str, time_band: str) -> str:
    """Validate a city item's `core` mapping: a known core item of the same band.

    Raises:
        ValueError: unknown id (with the closest one) or a band that differs from the
            core item's (a "during the day" question cannot stand for "after dark").
    """
    from observatory.config_errors import closest  # noqa: PLC0415 (config imports us lazily)

    items = catalogue()
    if core not in items:
        guess = closest(core, list(items))
        hint = f"did you mean {guess!r}? " if guess else ""
        raise ValueError(f"core: {core!r} is not a core item; {hint}known: {sorted(items)}")
    band = items[core].time_band
    if band != time_band:
        raise ValueError(
            f"core: {core!r} asks about band {band!r}, but this item's time_band is "
            f"{time_band!r}: map an item onto the core item that asks the same question"
        )
    return core
