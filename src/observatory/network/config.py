"""The network file: which cities, and the common method their figures are compared under.

A network file (`network.toml`) lists the member cities' project files and fixes what
must be common for their figures to be comparable: the core items, the goalposts of the
composite, the incident family and reference period of the incident component, the
interval level and the number of draws. Like the project file, it is read only here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from observatory.config import (
    ConfigError,
    ReferencePeriod,
    ReportConfig,
    _identifier,
    _Model,
)
from observatory.config_errors import format_validation_error

#: The network's method version: bump it when a network figure would change for the same data.
NETWORK_METHOD_VERSION = "network-v1"


class NetworkInfo(_Model):
    """The network itself."""

    id: str
    name: str
    #: The members are synthetic (the demo network): every figure is made up.
    synthetic: bool = False

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return _identifier(value)


class NetworkPaths(_Model):
    """Where the network's own files live (relative to the network file)."""

    warehouse: Path = Path("warehouse/network.duckdb")
    report: Path = Path("report/network.html")
    #: Airflow copies each member's warehouse here (holding that city's pool) before the
    #: build ATTACHes the copies, so the network never reads a warehouse being written.
    snapshots: Path = Path("snapshots")


class NetworkMethod(_Model):
    """The common method (docs/network.md): the same for every member city."""

    #: Level of every interval (0.90: 90% intervals).
    confidence: float = Field(default=0.90, gt=0.5, lt=1.0)
    #: Bootstrap draws per city (seeded: the same data give the same figures).
    draws: int = Field(default=500, ge=50, le=20000)
    seed: int = 20251
    #: A city's core-item figure of a band-month is published only with at least this many
    #: respondents (and never where the city withholds its own city total).
    min_respondents: int = Field(default=30, ge=1)
    #: Common goalposts (worst, best) of the composite's indicators.
    goalposts: dict[Literal["perception", "incident_ratio"], tuple[float, float]] = Field(
        default_factory=lambda: {"perception": (0.0, 100.0), "incident_ratio": (3.0, 0.0)}
    )
    #: Weights of the composite's components (renormalised to sum 1).
    weights: dict[Literal["perception", "incidents"], float] = Field(
        default_factory=lambda: {"perception": 2.0, "incidents": 1.0}
    )
    #: The incident family (what is counted) whose rate makes the incident component; a
    #: city without a source of this family has no composite (a reason says so).
    incident_family: str = "crime"
    #: The common reference period: the incident ratio is a city's rate per resident-hour
    #: of the band over the network's pooled rate in this period.
    reference_period: ReferencePeriod

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return value

    @field_validator("goalposts")
    @classmethod
    def _complete(cls, value: dict[str, tuple[float, float]]) -> dict:
        if any(worst == best for worst, best in value.values()):
            raise ValueError("goalposts: worst and best must differ")
        return {"perception": (0.0, 100.0), "incident_ratio": (3.0, 0.0), **value}


class NetworkConfig(_Model):
    """A whole network: member cities and the common method."""

    network: NetworkInfo
    project: NetworkPaths = NetworkPaths()
    #: The member cities' project files (relative to the network file).
    members: list[Path] = Field(min_length=1)
    method: NetworkMethod
    #: The comparison page's language (BCP 47) and wording overrides.
    report: ReportConfig = ReportConfig()
    #: How Airflow schedules the network DAG: when every member's marts were rebuilt
    #: ("all"), or when any was ("any").
    schedule: Literal["all", "any"] = "all"
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _distinct(self) -> NetworkConfig:
        paths = [str(p) for p in self.members]
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise ValueError(f"members: listed more than once: {dupes}")
        return self

    def resolve(self, path: Path) -> Path:
        """A path of the file, resolved against the network file's folder."""
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def member_paths(self) -> list[Path]:
        """The members' project files, resolved."""
        return [self.resolve(p) for p in self.members]

    @property
    def warehouse_path(self) -> Path:
        """The network warehouse (DuckDB)."""
        return self.resolve(self.project.warehouse)

    @property
    def report_path(self) -> Path:
        """The comparison page (HTML)."""
        return self.resolve(self.project.report)

    @property
    def snapshot_dir(self) -> Path:
        """Where Airflow keeps the members' warehouse copies."""
        return self.resolve(self.project.snapshots)


def load_network(path: Path | str) -> NetworkConfig:
    """Read and validate a network file.

    Raises:
        ConfigError: missing file, not TOML, or a broken schema; the message names the
            file, the key and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: network file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    data["base_dir"] = path.resolve().parent
    try:
        return NetworkConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc, NetworkConfig, data)) from None
