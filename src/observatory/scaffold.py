"""Scaffolds for data engineers: a new city's project file, a new source's config block."""

from __future__ import annotations

from pathlib import Path

from observatory.config import IDENTIFIER, ConfigError, load_config

_TEMPLATES = Path(__file__).with_name("templates")


def new_city(
    directory: Path, *, city_id: str, name: str, timezone: str, latitude: float, longitude: float
) -> Path:
    """Write `<directory>/observatory.toml` and the landing folders for a new city."""
    target = directory / "observatory.toml"
    if target.exists():
        raise ConfigError(f"{target} exists already; choose another folder")
    text = (
        (_TEMPLATES / "city.toml")
        .read_text(encoding="utf-8")
        .format(id=city_id, name=name, timezone=timezone, latitude=latitude, longitude=longitude)
    )
    (directory / "landing" / "zones").mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def new_source(config: Path, name: str, kind: str) -> str:
    """Append a commented `[[sources]]` block for `kind` to a project file; return it.

    The file is re-validated afterwards; if the new block would break it, nothing is written.
    """
    if not IDENTIFIER.match(name):
        raise ConfigError(f"{name!r} is not a valid source name (lowercase, digits, '_')")
    if kind not in ("survey", "incidents", "sensors"):
        raise ConfigError(f"unknown kind {kind!r}: survey, incidents or sensors")
    cfg = load_config(config)
    if any(s.name == name for s in cfg.sources):
        raise ConfigError(f"{config}: a source called {name!r} exists already")
    block = (
        (_TEMPLATES / f"source_{kind}.toml")
        .read_text(encoding="utf-8")
        .format(name=name, timezone=cfg.city.timezone)
    )
    original = config.read_text(encoding="utf-8")
    config.write_text(original + block, encoding="utf-8")
    try:
        load_config(config)
    except ConfigError:
        config.write_text(original, encoding="utf-8")
        raise
    (config.parent / "landing" / name).mkdir(parents=True, exist_ok=True)
    return block
