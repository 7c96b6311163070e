"""Project configuration: the one place that reads the observatory's TOML file.

A project file declares the city, its zones, its sources (with the declarative mapping of
each source onto its canonical contract), the time-band rule and the index settings. Every
other module receives these validated pydantic models; nothing else reads files or
environment variables for settings.
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

SourceKind = Literal["survey", "incidents", "sensors"]

#: Canonical fields a source may map, per kind (the contracts of ARCHITECTURE.md, before
#: zone and time band are derived). Lat/lon are an alternative to a zone code.
CANONICAL_FIELDS: dict[str, tuple[str, ...]] = {
    "survey": (
        "response_id",
        "respondent_id",
        "zone_code",
        "latitude",
        "longitude",
        "item_id",
        "answer",
        "weight",
        "surveyed_at",
    ),
    "incidents": (
        "incident_id",
        "occurred_at",
        "zone_code",
        "latitude",
        "longitude",
        "category",
        "source",
    ),
    "sensors": ("sensor_id", "measured_at", "metric", "value"),
}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "survey": ("response_id", "answer", "surveyed_at"),
    "incidents": ("incident_id", "occurred_at", "category"),
    "sensors": ("sensor_id", "measured_at", "value"),
}
#: Reader options a source may pass to DuckDB's readers (anything else is refused).
READER_OPTIONS = {
    "csv": {"delim", "header", "encoding", "skip", "quote", "escape", "null_padding", "comment"},
    "json": {"format", "records"},
    "parquet": set(),
}


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and '_', "
            "starting with a letter (it becomes a table name)"
        )
    return value


class CityConfig(_Model):
    """The city whose observatory this is."""

    id: str
    name: str
    timezone: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    synthetic: bool = False

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return _identifier(value)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Rome')") from exc
        return value


class ZonesConfig(_Model):
    """Zone polygons: a GeoJSON FeatureCollection in WGS84 lon/lat."""

    path: Path
    id_property: str = "zone_id"
    name_property: str = "name"
    population_property: str | None = None


class TimeBandsConfig(_Model):
    """How day and night are told apart."""

    rule: Literal["sun", "fixed"] = "sun"
    twilight: Literal["civil", "nautical", "astronomical", "sunset"] = "civil"
    offset_minutes: int = Field(default=0, ge=-180, le=180)
    day_starts: time = time(7, 0)
    night_starts: time = time(20, 0)


class IndexConfig(_Model):
    """Settings of the composite index (the method is in docs/methodology.md)."""

    period: Literal["month"] = "month"
    min_respondents: int = Field(default=10, ge=1)
    weights: dict[Literal["perception", "incidents", "environment"], float] = Field(
        default_factory=lambda: {"perception": 0.5, "incidents": 0.25, "environment": 0.25}
    )
    #: Goalposts for environment indicators: (worst, best) values mapped to 0 and 100.
    goalposts: dict[Literal["lux", "footfall", "noise_db"], tuple[float, float]] = Field(
        default_factory=lambda: {
            "lux": (0.0, 30.0),
            "footfall": (0.0, 200.0),
            "noise_db": (85.0, 45.0),
        }
    )

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return value


class TimestampSpec(_Model):
    """How a source writes its timestamps."""

    format: str | None = None
    timezone: str | None = None
    #: The file says UTC ('Z') but the clock is local: reinterpret in `timezone`.
    stamped_utc_is_local: bool = False


class UnpivotSpec(_Model):
    """Wide-to-long: listed columns become rows of (name_field, value_field)."""

    columns: list[str] = Field(min_length=1)
    name_field: str
    value_field: str


class SurveyItem(_Model):
    """One survey question and the time band it asks about."""

    time_band: Literal["day", "night"]
    reverse: bool = False


class LocationsSpec(_Model):
    """Fixed locations of sensors: a separate small file."""

    path: str
    format: Literal["csv", "json", "parquet"] = "csv"
    sensor_id: str
    latitude: str
    longitude: str
    read: dict[str, Any] = Field(default_factory=dict)


class SourceConfig(_Model):
    """One concrete source: where to read it and how it maps onto its kind's contract."""

    name: str
    kind: SourceKind
    format: Literal["csv", "json", "parquet"] = "csv"
    path: str
    read: dict[str, Any] = Field(default_factory=dict)
    columns: dict[str, str]
    unpivot: UnpivotSpec | None = None
    labels: dict[str, dict[str, float]] = Field(default_factory=dict)
    missing_values: list[str] = Field(default_factory=list)
    timestamp: TimestampSpec = TimestampSpec()
    scale: tuple[float, float] | None = None
    items: dict[str, SurveyItem] = Field(default_factory=dict)
    severity: dict[str, float] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=lambda: ["lux", "footfall", "noise_db"])
    locations: LocationsSpec | None = None
    suite: str | None = None
    schedule: str = "@daily"

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _identifier(value)

    @model_validator(mode="after")
    def _check_mapping(self) -> SourceConfig:
        allowed = set(CANONICAL_FIELDS[self.kind])
        unknown = sorted(set(self.columns) - allowed)
        if unknown:
            raise ValueError(
                f"columns: {unknown} are not fields of a {self.kind} source; "
                f"expected some of {sorted(allowed)}"
            )
        produced = set(self.columns)
        if self.unpivot:
            produced |= {self.unpivot.name_field, self.unpivot.value_field}
        missing = [f for f in REQUIRED_FIELDS[self.kind] if f not in produced]
        if missing:
            raise ValueError(f"columns: a {self.kind} source must map {missing}")
        bad_opts = set(self.read) - READER_OPTIONS[self.format]
        if bad_opts:
            raise ValueError(
                f"read: options {sorted(bad_opts)} are not supported for {self.format}; "
                f"allowed: {sorted(READER_OPTIONS[self.format])}"
            )
        if self.kind == "survey" and self.scale is None:
            raise ValueError("scale: a survey source must give its answer scale, e.g. [1, 5]")
        if self.kind == "sensors" and self.locations is None:
            raise ValueError("locations: a sensors source must say where its sensors are")
        return self

    @property
    def suite_name(self) -> str:
        """The expectation suite that validates this source (defaults to its kind)."""
        return self.suite or self.kind


class ProjectPaths(_Model):
    """Where the warehouse, landing folder and exports live (relative to the config file)."""

    warehouse: Path = Path("warehouse/observatory.duckdb")
    exports: Path = Path("exports")
    memory_limit: str = "1GB"
    threads: int | None = None


class Config(_Model):
    """A whole observatory project: one city, one warehouse."""

    project: ProjectPaths = ProjectPaths()
    city: CityConfig
    zones: ZonesConfig
    time_bands: TimeBandsConfig = TimeBandsConfig()
    index: IndexConfig = IndexConfig()
    sources: Annotated[list[SourceConfig], Field(min_length=1)]
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _unique_sources(self) -> Config:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sources: names must be unique, repeated: {dupes}")
        return self

    def resolve(self, path: Path | str) -> Path:
        """Resolve a path from the config against the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file of this project."""
        return self.resolve(self.project.warehouse)

    def source(self, name: str) -> SourceConfig:
        """The source called `name`, or a ConfigError listing the known ones."""
        for src in self.sources:
            if src.name == name:
                return src
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"unknown source {name!r}; this project has: {known}")


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_config(path: Path | str, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a project file.

    Args:
        path: the TOML project file.
        overrides: top-level tables to merge over the file (e.g. for tests).

    Returns:
        The validated configuration, with `base_dir` set to the file's folder.

    Raises:
        ConfigError: the file is missing, is not TOML, or breaks the schema; the message
            names the file, the key and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    data["base_dir"] = path.resolve().parent
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
