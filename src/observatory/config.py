"""Project configuration: the one place that reads the observatory's TOML file.

A project file declares the city, its zones, its sources (with the declarative mapping of
each source onto its canonical contract), the time-band rule and the index settings. Every
other module receives these validated pydantic models; nothing else reads files or
environment variables for settings.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from observatory import source_contracts
from observatory.config_errors import closest, format_validation_error

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: An expectation suite's name: the stem of a JSON file in an expectations folder.
SUITE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
#: DuckDB's memory limit: a number and a unit (`400MB`, `1.5GiB`); nothing else reaches it.
MEMORY_LIMIT = re.compile(r"^(\d{1,9}(?:\.\d{1,6})?)\s?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.I)
_MEMORY_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_MEMORY_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
#: DuckDB needs some memory to work at all; below this a run fails with "Out of Memory".
MIN_MEMORY_BYTES = 64 * 2**20

SourceKind = Literal["survey", "incidents", "sensors"]

#: Canonical fields a source may map, and those it must map, per kind: from the kinds'
#: contracts (sql/sources/<kind>.toml, `observatory.source_contracts`). Lat/lon are an
#: alternative to a zone code.
CANONICAL_FIELDS: dict[str, tuple[str, ...]] = source_contracts.mappable_fields()
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = source_contracts.required_fields()
#: Reader options a source may pass to DuckDB's readers (anything else is refused).
READER_OPTIONS = {
    "csv": {
        "delim",
        "header",
        "encoding",
        "skip",
        "quote",
        "escape",
        "null_padding",
        "comment",
        "compression",
        "max_line_size",
    },
    "json": {"format", "records", "compression"},
    "parquet": set(),
}


def _plugin_exists(fmt: str) -> bool:
    from importlib.metadata import entry_points  # noqa: PLC0415

    return any(ep.name == fmt for ep in entry_points(group="observatory.readers"))


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""


class _Model(BaseModel):
    # allow_inf_nan=False: every number of the file is finite (a NaN label or an infinite
    # goalpost is refused where it is written, not when the SQL built from it fails).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_memory_limit(value: str) -> str:
    """`value` if it is a DuckDB memory limit of at least `MIN_MEMORY_BYTES` (a number and
    a unit such as `400MB` or `1.5GiB`), else a ValueError saying what to write."""
    match = MEMORY_LIMIT.match(value.strip())
    if match is None:
        raise ValueError(
            f"{value!r} is not a memory size: write a number and a unit, e.g. '400MB' or "
            "'1.5GiB' (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        )
    size = float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]
    if size < MIN_MEMORY_BYTES:
        raise ValueError(f"{value!r} is too little memory for DuckDB: give at least 64MB")
    return value.strip()


def _check_scalar_options(read: dict[str, Any]) -> dict[str, Any]:
    """Reader options are rendered as SQL literals: only strings, whole numbers, true/false."""
    bad = sorted(
        k
        for k, v in read.items()
        if not isinstance(v, str | bool | int) or (isinstance(v, str) and "\0" in v)
    )
    if bad:
        raise ValueError(
            f"read: options {bad}: each reader option is a string, a whole number or true/false"
        )
    return read


def check_sql_expression(sql: str, key: str) -> str:
    """`sql` if it is one DuckDB expression (no statement, comment or subquery), so it can
    sit inside the query it is pasted into and do nothing else; else a ValueError."""
    import sqlglot  # noqa: PLC0415 - only sources with keep_rows need it
    from sqlglot import exp  # noqa: PLC0415

    problem = None
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
        if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in sql):
            problem = "it holds a control character"
        elif any(t.comments for t in tokens):
            problem = "it holds a comment"
        elif any(t.token_type == sqlglot.TokenType.SEMICOLON for t in tokens):
            problem = "it holds more than one statement (';')"
        else:
            tree = sqlglot.parse_one(sql, read="duckdb")
            if isinstance(tree, exp.Query | exp.Command | exp.DDL | exp.DML) or tree.find(
                exp.Query, exp.Subquery
            ):
                problem = "it is (or holds) a query, not a condition on the row"
    except sqlglot.errors.SqlglotError as exc:
        problem = f"it does not parse ({str(exc).splitlines()[0]})"
    if problem:
        raise ValueError(
            f"{key}: {sql!r} must be one boolean expression over the file's columns "
            f"(e.g. \"tipo = 'furto'\"): {problem}"
        )
    return sql


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
    #: Crosswalk: any spelling a source uses for a zone -> its zone id (e.g. "S.Paolo" =
    #: "Z07"); compared like zone codes (the source's `zone_match`). `check-config` prints
    #: the line to paste for each unmatched name, with its closest zone names.
    aliases: dict[str, str] = Field(default_factory=dict)
    #: The same crosswalk as a CSV file with columns `alias` and `zone_id` (both are read;
    #: `aliases` wins where they disagree).
    crosswalk: str | None = None


class TimeBandsConfig(_Model):
    """How day and night are told apart."""

    rule: Literal["sun", "fixed"] = "sun"
    twilight: Literal["civil", "nautical", "astronomical", "sunset"] = "civil"
    offset_minutes: int = Field(default=0, ge=-180, le=180)
    day_starts: time = time(7, 0)
    night_starts: time = time(20, 0)


class ReferencePeriod(_Model):
    """A declared reference period (any day of the first and last month; inclusive)."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ReferencePeriod:
        if self.end < self.start:
            raise ValueError("reference_period: end is before start")
        return self


class IndexConfig(_Model):
    """Settings of the composite index (the method and its defaults: docs/methodology.md).

    Every setting has a default, so a project file may leave `[index]` out entirely.
    """

    period: Literal["month"] = "month"
    #: k: cells with fewer respondents are suppressed in published tables.
    min_respondents: int = Field(default=10, ge=1)
    #: Homogeneity rule: a cell is withheld when at least this share of its respondents
    #: gave the same answer (its mean would reveal each of them); above 1 turns it off.
    homogeneity_threshold: float = Field(default=0.9, gt=0.5)
    #: Protection interval: from the city total, its interval and the 0-100 scale, each
    #: cell withheld for its own sake must stay free to lie in a range at least twice this
    #: wide (points), else more cells are withheld with it; 0 turns it off.
    protection_points: float = Field(default=10.0, ge=0.0, le=50.0)
    #: The city total of a band-month (`city_summary.city_perception`, design-weighted over
    #: every respondent) when some of its cells are withheld: "published" (the pooled mean
    #: of the withheld cells can then be worked out, so cells are withheld with them until
    #: it protects each: docs/methodology.md section 9) or "withheld_with_cells" (the total
    #: is withheld instead, and no cell is withheld to protect it).
    city_total: Literal["published", "withheld_with_cells"] = "published"
    #: Expert weights of the three components (used when `weighting = "expert"`).
    weights: dict[Literal["perception", "incidents", "environment"], float] = Field(
        default_factory=lambda: {"perception": 0.5, "incidents": 0.25, "environment": 0.25}
    )
    #: Goalposts: (worst, best) values of each indicator, mapped to 0 and 100. A project
    #: file may give only some; the others keep these defaults (docs/methodology.md).
    goalposts: dict[
        Literal["perception", "incident_ratio", "lux", "footfall", "noise_db"],
        tuple[float, float],
    ] = Field(
        default_factory=lambda: {
            "perception": (0.0, 100.0),
            "incident_ratio": (3.0, 0.0),
            "lux": (0.0, 30.0),
            "footfall": (0.0, 200.0),
            "noise_db": (85.0, 45.0),
        }
    )
    normalisation: Literal["goalposts", "minmax", "zscore", "rank"] = "goalposts"
    weighting: Literal["expert", "equal", "pca"] = "expert"
    aggregation: Literal["arithmetic", "geometric"] = "arithmetic"
    #: Small-area estimation of perception: Fay-Herriot empirical Bayes, or none (raw means).
    shrinkage: Literal["fay_herriot", "none"] = "fay_herriot"
    #: Estimator of the between-zone variance A: adjusted likelihood, never exactly zero.
    between_var_estimator: Literal["yoshimori_lahiri", "li_lahiri"] = "yoshimori_lahiri"
    #: Footfall is an environment indicator (natural surveillance, the default) or the
    #: incidents' exposure (pedestrian passes), never both (docs/methodology.md, "Incidents").
    footfall_role: Literal["indicator", "exposure"] = "indicator"
    #: Fay-Herriot covariates: shrink toward a regression on these indicators instead of the
    #: band-month mean. Off by default: shrinking toward what incidents predict would bias
    #: the fear gap toward zero (docs/methodology.md, "Small samples").
    shrinkage_covariates: list[Literal["incident_ratio", "lux", "footfall", "noise_db"]] = Field(
        default_factory=list
    )
    #: The between-zone variance of a month is estimated from the zones of this many months
    #: ending with it (trailing: a new month never changes the past's); 1 = the month alone.
    between_var_months: int = Field(default=1, ge=1, le=12)
    #: Perception intervals: "robust" = the hull of the Fay-Herriot interval and the zone's
    #: direct interval (holds for atypical zones too); "model" = the Fay-Herriot one alone.
    perception_interval: Literal["robust", "model"] = "robust"
    #: Small-cell floor of the sampling variance: a cell's own within-cell variance is
    #: moderated toward its band-month's pooled one with this many degrees of freedom.
    variance_prior_df: float = Field(default=4.0, ge=0.0)
    #: Modelled perception is published only if its zone-grouped CV error is at least this
    #: share below that of the null model (the band-month mean).
    model_min_gain: float = Field(default=0.05, ge=0.0, lt=1.0)
    #: False discovery rate of the change and trend flags (Benjamini-Hochberg per city-period).
    fdr_q: float = Field(default=0.10, gt=0.0, lt=1.0)
    #: Level of every interval and test (0.90: 90% intervals, 10% two-sided tests).
    confidence: float = Field(default=0.90, gt=0.5, lt=1.0)
    #: Monte Carlo draws (bootstrap of respondents x method variants); seeded, so deterministic.
    uncertainty_draws: int = Field(default=500, ge=50, le=20000)
    seed: int = 20251
    #: Method variants the Monte Carlo samples uniformly (COINr-style sensitivity analysis).
    mc_normalisations: list[Literal["goalposts", "minmax", "zscore", "rank"]] = Field(
        default_factory=lambda: ["goalposts", "minmax", "zscore", "rank"], min_length=1
    )
    mc_weightings: list[Literal["expert", "equal", "pca"]] = Field(
        default_factory=lambda: ["expert", "equal", "pca"], min_length=1
    )
    mc_aggregations: list[Literal["arithmetic", "geometric"]] = Field(
        default_factory=lambda: ["arithmetic", "geometric"], min_length=1
    )
    #: Each drawn weight is multiplied by U(1 - noise, 1 + noise), then renormalised.
    mc_weight_noise: float = Field(default=0.25, ge=0.0, lt=1.0)
    #: Trend test over the last `trend_window` months, if >= `trend_min_periods` are
    #: published: seasonal Kendall where they span two years or more, else Mann-Kendall.
    trend_min_periods: int = Field(default=6, ge=3)
    trend_window: int = Field(default=36, ge=3)
    #: The reference period of the incident reference rates (`incident_ratio` = 1 means
    #: "as the city was then"): declared, or by default the first `reference_months`
    #: complete months with incident coverage. Frozen, so a new month does not revise the
    #: published past (docs/methodology.md, "Frozen history").
    reference_period: ReferencePeriod | None = None
    reference_months: int = Field(default=12, ge=1, le=120)
    #: The incident family (`[[sources]] family`) that makes the index's incident
    #: component; needed when the incident sources are of more than one family.
    incident_family: str | None = None
    #: A source whose newest record is more than this many months older than the city's
    #: newest period has stopped delivering: it no longer holds later periods provisional.
    source_stale_months: int = Field(default=2, ge=1, le=24)
    #: The fear gap averages this many months (this one and the ones before it).
    fear_gap_months: int = Field(default=3, ge=1, le=12)
    #: A fear gap is flagged when its whole interval lies this many points below zero.
    fear_gap_min_points: float = Field(default=5.0, ge=0.0)

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return value

    @field_validator("goalposts")
    @classmethod
    def _complete_goalposts(cls, value: dict[str, tuple[float, float]]) -> dict:
        bad = sorted(k for k, (worst, best) in value.items() if worst == best)
        if bad:
            raise ValueError(f"goalposts {bad}: worst and best must differ")
        defaults = cls.model_fields["goalposts"].default_factory()  # type: ignore[misc]
        return {**defaults, **value}

    @model_validator(mode="after")
    def _check_trend(self) -> IndexConfig:
        if self.trend_window < self.trend_min_periods:
            raise ValueError("trend_window must be at least trend_min_periods")
        return self


def respondent_warning(src: SourceConfig) -> str | None:
    """The warning for a respondent-level survey that does not say who answered.

    With several items per person and no `respondent_id`, every row counts as a person:
    sample sizes are inflated by the number of items and intervals are too narrow.
    """
    if src.kind != "survey" or src.aggregate or "respondent_id" in src.columns:
        return None
    if len(src.items) <= 1 and "item_id" not in src.columns:
        return None
    return (
        f"source {src.name}: several items per person but no respondent_id mapped: every row "
        "will be counted as a separate respondent (sample sizes inflated, intervals too narrow). "
        "Map [sources.columns] respondent_id to the column that identifies the person."
    )


#: Timestamp `format` keywords for numbers a spreadsheet wrote: days since 1899-12-30
#: (Excel and LibreOffice serial dates, with the time as the fraction), and dates as the
#: number yyyymmdd, also in the float form a spreadsheet exports (`2.0171107E7`).
TIMESTAMP_KEYWORDS = {"spreadsheet_serial", "yyyymmdd"}
#: A group label is a short category name, never free text.
GROUP_LABEL = re.compile(r"^[\w][\w +\-<>/.]{0,39}$")


class TimestampSpec(_Model):
    """How a source writes its timestamps: ISO 8601 by default, a strptime `format`, or a
    keyword of `TIMESTAMP_KEYWORDS` (`spreadsheet_serial`, `yyyymmdd`)."""

    #: strptime format (e.g. "%d/%m/%Y %H:%M"; for columns joined with spaces, one piece
    #: per column), or "spreadsheet_serial" (days since 1899-12-30) or "yyyymmdd" (also
    #: the float export 2.0171107E7); none: ISO 8601
    format: str | None = None
    #: IANA zone of times written without an offset (default: the city's)
    timezone: str | None = None
    #: The file says UTC ('Z') but the clock is local: reinterpret in `timezone`.
    stamped_utc_is_local: bool = False
    #: Incidents: the source gives dates, not times of day: every record's band is 'unknown'.
    date_only: bool = False
    #: Incidents: local times that stand for "time unknown" (e.g. "00:00" written for a
    #: missing time); records at exactly these times get band 'unknown'.
    placeholder_times: list[time] = Field(default_factory=list)
    #: A local time that occurs twice when clocks go back (02:30 on the fall-back night):
    #: "earliest" (the first, summer-time one), "latest", "infer" (by file order: the
    #: second row with the same local time, per sensor and metric, or per record id, is
    #: the later one; pandas' `ambiguous="infer"`) or "quarantine" (with the reason).
    #: Default: "infer" for sensors, whose readings repeat that hour; "earliest" for the
    #: others (docs/operations.md, "Landing files").
    dst_ambiguous: Literal["earliest", "latest", "infer", "quarantine"] | None = None
    #: A local time that never occurs when clocks go forward (02:30 on the spring-forward
    #: night): "quarantine" (the default: the row gets a reason saying so) or
    #: "shift_forward" (read as the same time after the change: 02:30 -> 03:30).
    dst_nonexistent: Literal["quarantine", "shift_forward"] = "quarantine"

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str | None) -> str | None:
        return None if value is None else CityConfig._check_tz(value)

    @field_validator("format")
    @classmethod
    def _known_keyword(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value and value not in TIMESTAMP_KEYWORDS:
            raise ValueError(
                f"{value!r} is neither a strptime format (e.g. '%d/%m/%Y %H:%M') nor one of "
                f"the keywords {sorted(TIMESTAMP_KEYWORDS)}"
            )
        return value


class UnpivotSpec(_Model):
    """Wide-to-long: listed columns (or every column but `exclude`, with `["*"]`) become
    rows of (name_field, value_field)."""

    columns: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    name_field: str
    value_field: str


class SurveyItem(_Model):
    """One survey question and the time band it asks about: `day`, `night`, or `any` when
    it names no time of day ("how safe do you feel in your area?"). An `any` answer is used
    for the all-day figures (`marts.zone_all_day`), stands in for a band only for a
    respondent who answered nothing specific to it, and never makes a day/night gap
    (docs/methodology.md, section 3). `both` is read as `any` (its name before v2)."""

    time_band: Literal["day", "night", "any", "both"]
    reverse: bool = False
    #: The network's core item this question asks (e.g. `core.safe_after_dark`; the
    #: catalogue: observatory/network/core_items.toml): cities are compared on core items.
    core: str | None = None

    @field_validator("time_band")
    @classmethod
    def _both_is_any(cls, value: str) -> str:
        return "any" if value == "both" else value

    @model_validator(mode="after")
    def _known_core(self) -> SurveyItem:
        if self.core is not None:
            from observatory.network.core_items import check_core  # noqa: PLC0415

            check_core(self.core, self.time_band)
        return self


class LocationsSpec(_Model):
    """Fixed locations of sensors: a separate small file."""

    path: str
    format: Literal["csv", "json", "parquet"] = "csv"
    sensor_id: str
    latitude: str
    longitude: str
    read: dict[str, Any] = Field(default_factory=dict)
    #: How readings' sensor ids meet the file's: exactly, or by normalised name (case,
    #: accents, spacing and punctuation ignored). Unmatched readings are quarantined.
    match: Literal["exact", "normalized"] = "exact"
    #: Crosswalk: a sensor id or name the readings use -> the locations file's sensor id
    #: (e.g. "Flinders St" = "Flinders Street"), compared per `match`.
    aliases: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_read(self) -> LocationsSpec:
        bad_opts = sorted(set(self.read) - READER_OPTIONS[self.format])
        if bad_opts:
            raise ValueError(
                f"read: options {bad_opts} are not supported for {self.format}; "
                f"allowed: {sorted(READER_OPTIONS[self.format])}"
            )
        _check_scalar_options(self.read)
        return self


class GroupSpec(_Model):
    """A respondent characteristic (gender, age band, disability, resident or visitor...)
    read from a survey column and mapped onto group labels. Only the labels are kept: an
    answer not in `labels` leaves the respondent outside this grouping (never quarantined),
    so raw or free-text values never reach a table (docs/adding-a-city.md, "Groups")."""

    #: the file column holding the characteristic (e.g. "sesso")
    column: str
    #: raw answer (compared without case or surrounding spaces) -> group label
    labels: dict[str, str] = Field(min_length=1)

    @field_validator("labels")
    @classmethod
    def _short_labels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(v for v in value.values() if not GROUP_LABEL.match(v))
        if bad:
            raise ValueError(
                f"group labels {bad} are not short category names (letters, digits, "
                "spaces and - + < > / . up to 40 characters)"
            )
        return value


class CoordinatesSpec(_Model):
    """Projected coordinates (x, y in a CRS such as a state plane), turned into lon/lat."""

    crs: str
    x: str
    y: str

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str) -> str:
        from pyproj import CRS, Transformer  # noqa: PLC0415 - only sources with a CRS need it
        from pyproj.exceptions import ProjError  # noqa: PLC0415

        try:
            crs = CRS.from_user_input(value)
            Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
            horizontal = crs.is_projected or crs.is_geographic
        except (ProjError, ValueError, TypeError):
            horizontal = False
        if not horizontal:  # unknown, or e.g. a height system (EPSG:5703): no x, y
            raise ValueError(
                f"{value!r} is not a coordinate reference system of x, y positions that "
                "pyproj converts to lon/lat (e.g. 'EPSG:3435', 'EPSG:32633')"
            )
        return value


class FetchSpec(_Model):
    """Data behind a protocol: fetched into the folder of the source's `path` first."""

    protocol: str = "socrata"
    url: str
    options: dict[str, Any] = Field(default_factory=dict)


class KeepRows(_Model):
    """Which rows of a file belong to this source (others are quarantined with `reason`).

    `sql` is a DuckDB boolean expression over the file's columns, written by the data
    engineer like a dbt model's `where`."""

    sql: str
    reason: str = "row outside the source's scope"


class CoverageSpec(_Model):
    """The months an incident source covers (docs/methodology.md, "Missing data").

    By default a source covers every month from its first to its last month with an
    accepted record: a month inside that span with no incident is a real zero; a month
    outside it is *not covered* and its incident component is missing, never "safe".
    `start` and `end` (any day of the month; inclusive) override either end: declare them
    when the source is known to cover more (quiet months at the edges) or less."""

    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CoverageSpec:
        if self.start and self.end and self.end < self.start:
            raise ValueError("coverage: end is before start")
        return self


class SourceConfig(_Model):
    """One concrete source: where to read it and how it maps onto its kind's contract."""

    name: str
    kind: SourceKind
    #: csv | json | parquet, or a format a plug-in registers under `observatory.readers`.
    format: str = "csv"
    path: str
    read: dict[str, Any] = Field(default_factory=dict)
    #: canonical field -> file column; a list of columns is joined with spaces (Date + Hour).
    columns: dict[str, str | list[str]]
    unpivot: UnpivotSpec | None = None
    keep_rows: KeepRows | None = None
    #: "zone": rows belong to zones; "city": city-wide rows with no zone (zone_id '_city').
    level: Literal["zone", "city"] = "zone"
    #: How zone codes meet zone ids: normalised names (case, accents, spacing and
    #: punctuation ignored), exactly, or as numbers ('017' = '17').
    zone_match: Literal["normalized", "exact", "numeric"] = "normalized"
    coordinates: CoordinatesSpec | None = None
    #: Survey rows are pre-aggregated scores (a mean per area and window), not answers.
    aggregate: bool = False
    fetch: FetchSpec | None = None
    labels: dict[str, dict[str, float]] = Field(default_factory=dict)
    missing_values: list[str] = Field(default_factory=list)
    #: Missing codes of one file column only (e.g. `{ ora = ["00:00"] }`): in a field
    #: joined from several columns, a column at its code is left out (a date beside a
    #: placeholder time keeps its date; the incident's time is unknown).
    missing_by_column: dict[str, list[str]] = Field(default_factory=dict)
    #: Survey answers that mean "don't know / no answer": the row is item non-response,
    #: its own outcome (not accepted, not quarantined), counted per batch and published
    #: as rates per item and zone (marts.item_nonresponse).
    non_response: list[str] = Field(default_factory=list)
    #: Survey: respondent groups by name (`gender`, `age_band`...), each from a column.
    groups: dict[str, GroupSpec] = Field(default_factory=dict)
    timestamp: TimestampSpec = TimestampSpec()
    scale: tuple[float, float] | None = None
    items: dict[str, SurveyItem] = Field(default_factory=dict)
    severity: dict[str, float] = Field(default_factory=dict)
    #: Incident sources: the months the source covers (default: inferred from its data).
    coverage: CoverageSpec = CoverageSpec()
    #: Incident sources: what the source counts ("crime", "road"...). Sources of one family
    #: are pooled into one rate; different families are separate indicators, never pooled
    #: (default: the source's own name, so two sources are pooled only when told so).
    family: str | None = None
    metrics: list[str] = Field(
        default_factory=lambda: ["lux", "footfall", "noise_db"], min_length=1
    )
    locations: LocationsSpec | None = None
    suite: str | None = None
    schedule: str = "@daily"
    #: When a landing file is complete: "settle" (its size and modification time have not
    #: changed for `settle_seconds`, and did not change while it was read) or "marker"
    #: (a marker file says so; see `marker`). A file not yet complete is "waiting": not
    #: loaded, not failed, looked at again on the next run (docs/operations.md).
    completion: Literal["settle", "marker"] = "settle"
    #: "settle": how long a file must be left unchanged before it is read. 0 reads any file
    #: that does not change while it is read; set e.g. 30 where files are copied in slowly.
    settle_seconds: float = Field(default=0.0, ge=0)
    #: "marker": the file beside a landing file that says it is complete, `{name}` being
    #: the landing file's name (e.g. "{name}.done"), or one marker for the folder
    #: ("_SUCCESS", Spark's and Hadoop's). A file changed after its marker is waiting.
    marker: str = "_SUCCESS"
    #: Write-audit-publish: a batch quarantining more than this share of its rows is loaded
    #: but held, and the periods it touches are not published until it is released
    #: (`observatory batches release`). Default: `[monitoring] hold_quarantine_share`.
    max_quarantine_share: float | None = Field(default=None, ge=0, le=1)
    #: Monitoring: the source is stale on data time when its newest record is older than
    #: this (default: `[monitoring] data_age_factor` schedule periods).
    max_data_age_hours: float | None = Field(default=None, gt=0)
    #: The source's files only ever grow (a log, a feed appended to): a file already
    #: loaded that grew is read from its first new row on, as a new batch.
    append_only: bool = False
    #: A loaded file that comes back under the same name with other content: "report"
    #: fails the batch with "changed file: run observatory batches supersede"; "replace"
    #: supersedes the old batch with it (docs/operations.md, "Correcting a file").
    corrections: Literal["report", "replace"] = "report"

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _identifier(value)

    @field_validator("suite")
    @classmethod
    def _check_suite(cls, value: str | None) -> str | None:
        if value is not None and not SUITE_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a suite name: the name of a JSON file in expectations/ "
                "without '.json' (letters, digits, '_' and '-', starting with a letter)"
            )
        return value

    @field_validator("read")
    @classmethod
    def _scalar_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_scalar_options(value)

    @field_validator("keep_rows")
    @classmethod
    def _one_expression(cls, value: KeepRows | None) -> KeepRows | None:
        if value is not None:
            check_sql_expression(value.sql, "keep_rows.sql")
        return value

    @model_validator(mode="after")
    def _check_values(self) -> SourceConfig:
        empty = sorted(
            k
            for k, v in self.columns.items()
            if not v or any(not c.strip() for c in ([v] if isinstance(v, str) else v))
        )
        if empty:
            raise ValueError(f"columns: {empty} name no file column (an empty name or list)")
        if self.scale is not None and not self.scale[0] < self.scale[1]:
            raise ValueError(f"scale: {list(self.scale)} must be [lowest, highest], lowest first")
        return self

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
        if self.format not in READER_OPTIONS and not _plugin_exists(self.format):
            raise ValueError(
                f"format: no reader for {self.format!r}; built in: {sorted(READER_OPTIONS)}, "
                "others come from packages registering `observatory.readers` entry points"
            )
        bad_opts = set(self.read) - READER_OPTIONS.get(self.format, set(self.read))
        if bad_opts:
            raise ValueError(
                f"read: options {sorted(bad_opts)} are not supported for {self.format}; "
                f"allowed: {sorted(READER_OPTIONS[self.format])}"
            )
        if self.kind == "survey" and self.scale is None:
            raise ValueError("scale: a survey source must give its answer scale, e.g. [1, 5]")
        if self.fetch and any(ch in str(Path(self.path).parent) for ch in "*?["):
            raise ValueError("path: with fetch, the folder part of path must have no wildcard")
        if self.kind == "sensors" and self.locations is None:
            raise ValueError("locations: a sensors source must say where its sensors are")
        if self.kind != "survey" and (self.groups or self.non_response):
            raise ValueError("groups and non_response: only survey sources have them")
        for name in self.groups:
            _identifier(name)
        return self

    @property
    def incident_family(self) -> str:
        """The family this incident source's rate is pooled in (its name by default)."""
        return self.family or self.name

    @property
    def suite_name(self) -> str:
        """The expectation suite that validates this source (defaults to its kind)."""
        return self.suite or self.kind


class ProjectPaths(_Model):
    """Where the warehouse, landing folder and exports live (relative to the config file)."""

    #: Substituted for `{data_root}` in any path of the file (landing data kept elsewhere).
    data_root: Path = Path(".")
    warehouse: Path = Path("warehouse/observatory.duckdb")
    #: Where consumers read the exports: a symbolic link swapped in one rename to the
    #: newest complete export folder (`<exports>.builds/<build>`; docs/operations.md).
    exports: Path = Path("exports")
    #: The read-only copy of the marts that BI tools open (default:
    #: `<warehouse folder>/serving/<city id>.duckdb`), replaced in one rename after a build.
    serving: Path | None = None
    #: The GX Data Docs site (`observatory docs`), rebuilt from the warehouse.
    data_docs: Path = Path("data_docs")
    #: A folder of expectation suites searched before the package's `expectations/`.
    expectations: Path | None = None
    #: DuckDB's memory limit. The process also holds GX, pandas and the index's arrays
    #: (~350-450 MB): 400MB keeps a whole run under 1 GiB (docs/performance.md).
    memory_limit: str = "400MB"
    #: DuckDB's worker threads (default: one per core).
    threads: int | None = Field(default=None, ge=1, le=1024)

    @field_validator("memory_limit")
    @classmethod
    def _check_memory_limit(cls, value: str) -> str:
        return check_memory_limit(value)


class MonitoringConfig(_Model):
    """Thresholds of the monitoring DAG and where its alerts go (docs/operations.md)."""

    #: When the monitoring DAG runs (a cron expression or preset, in the city's time zone).
    schedule: str = "@hourly"
    #: A source is stale when its last loaded batch is older than this many schedule periods.
    freshness_factor: float = Field(default=2.0, gt=0)
    #: A batch whose quarantined share exceeds this always alerts...
    quarantine_max_share: float = Field(default=0.10, ge=0, le=1)
    #: ...as does one above this multiple of the source's median share (and above the floor).
    quarantine_spike_factor: float = Field(default=3.0, gt=1)
    quarantine_min_share: float = Field(default=0.02, ge=0, le=1)
    #: A zone x band whose index moves more than this many points period on period alerts.
    index_shift_points: float = Field(default=25.0, gt=0)
    #: ...and only if the change is significant (zone_trends.is_change_significant, FDR
    #: controlled): a small zone's month-to-month noise can exceed any fixed number of points.
    index_shift_significant_only: bool = True
    #: The quarantined share above which a batch is held (write-audit-publish), for every
    #: source without its own `max_quarantine_share`; 1 never holds.
    hold_quarantine_share: float = Field(default=0.2, ge=0, le=1)
    #: Where alerts go besides the task log: "email" (Airflow's SMTP notifier, through the
    #: connection `email_conn_id`, to `email_to`) and/or "webhook" (a Slack/Teams-compatible
    #: `{"text": ...}` JSON POST to the URL of the connection `webhook_conn_id`); one name
    #: or a list, e.g. `notifier = ["email", "webhook"]`.
    notifier: list[Literal["log", "email", "webhook"]] = Field(default_factory=lambda: ["log"])
    webhook_conn_id: str = "observatory_alerts"
    #: Who gets the alert e-mails (needed with notifier "email").
    email_to: list[str] = Field(default_factory=list)
    #: The Airflow SMTP connection the e-mails go through.
    email_conn_id: str = "observatory_smtp"
    #: The sender; by default the SMTP connection's `from_email` extra.
    email_from: str | None = None
    #: Ingest DAGs: a run not finished this many minutes after it was queued alerts
    #: (Airflow's DeadlineAlert).
    ingest_deadline_minutes: float = Field(default=60.0, gt=0)
    #: Every observatory task is stopped after this many minutes (`execution_timeout`).
    task_timeout_minutes: float = Field(default=120.0, gt=0)
    #: A landing file seen waiting (not complete yet: still being copied, or without its
    #: marker) for longer than this alerts (`ops.waiting_files`, the monitoring DAG).
    waiting_alert_hours: float = Field(default=6.0, gt=0)
    #: Freshness on data time: a source is stale when its newest record (event time) is
    #: older than this many schedule periods (a source's `max_data_age_hours` overrides;
    #: not judged for a synthetic city, whose dates are fixed).
    data_age_factor: float = Field(default=3.0, gt=0)

    @field_validator("notifier", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _email_needs_recipients(self) -> MonitoringConfig:
        if "email" in self.notifier and not self.email_to:
            raise ValueError('notifier "email" needs `email_to`, e.g. ["ops@city.example"]')
        return self


class ReportConfig(_Model):
    """The HTML report (`observatory report`): its language and wording.

    `language` is a BCP 47 tag (`it`, `en`, `lv`, `ca-ES`...): it sets the number and date
    formats and picks the built-in wording (Italian for `it`, English otherwise); `labels`
    overrides built-in labels by key (the keys: `observatory.report.labels.LABELS_EN`).
    """

    language: str = "en"
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", value):
            raise ValueError(f"{value!r} is not a language tag (e.g. 'it', 'en', 'lv', 'ca-ES')")
        return value


InterventionType = Literal[
    "lighting", "public_space_activation", "night_service", "regeneration", "policing", "other"
]


class InterventionConfig(_Model):
    """One intervention of the register (docs/interventions.md): what was done, where, when.

    The treated zones are given by id (`zones`), or by a GeoJSON file whose features are
    matched to the zones they overlap (`geometry`), or both (their union)."""

    id: str
    name: str
    type: InterventionType
    zones: list[str] = Field(default_factory=list)
    #: A GeoJSON file (WGS84 lon/lat) of the treated area: points, lines or polygons.
    geometry: str | None = None
    #: The first day of the intervention; its month is event month 0.
    start: date
    #: The last day, if it ended: months after it are left out of the evaluation.
    end: date | None = None
    description: str = ""
    budget: float | None = Field(default=None, ge=0)
    currency: str = "EUR"

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return _identifier(value)

    @model_validator(mode="after")
    def _where_and_when(self) -> InterventionConfig:
        if not self.zones and self.geometry is None:
            raise ValueError(f"intervention {self.id}: give its zones or a geometry file")
        if self.end is not None and self.end < self.start:
            raise ValueError(f"intervention {self.id}: end is before start")
        return self


class InterventionRegisterFile(_Model):
    """The register kept as a file instead of (or beside) `[[interventions]]`: a CSV with
    one row per intervention, or a GeoJSON FeatureCollection with one feature per
    intervention whose geometry is matched to zones (docs/interventions.md)."""

    path: str
    format: Literal["csv", "geojson"] = "csv"


class EvaluationConfig(_Model):
    """How interventions are evaluated (docs/interventions.md, "How the evaluation works")."""

    #: Comparison zones: zones no intervention treats, or also zones treated later (used
    #: only in their months before their own intervention starts).
    comparison: Literal["never_treated", "not_yet_treated"] = "never_treated"
    #: 0: every eligible comparison zone; n: the n nearest the treated zones' pre-period
    #: level of the outcome (matched on the pre-period).
    matched_zones: int = Field(default=0, ge=0)
    min_pre_periods: int = Field(default=3, ge=1)
    min_post_periods: int = Field(default=1, ge=1)
    min_comparison_zones: int = Field(default=5, ge=1)
    #: Below this many zones in a comparison, the interval is a wild cluster bootstrap's.
    wild_bootstrap_below_zones: int = Field(default=50, ge=0)
    bootstrap_reps: int = Field(default=999, ge=99, le=99999)


class Config(_Model):
    """A whole observatory project: one city, one warehouse."""

    project: ProjectPaths = ProjectPaths()
    city: CityConfig
    zones: ZonesConfig
    time_bands: TimeBandsConfig = TimeBandsConfig()
    index: IndexConfig = IndexConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    report: ReportConfig = ReportConfig()
    sources: list[SourceConfig] = Field(default_factory=list)
    interventions: list[InterventionConfig] = Field(default_factory=list)
    intervention_register: InterventionRegisterFile | None = None
    evaluation: EvaluationConfig = EvaluationConfig()
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _unique_sources(self) -> Config:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sources: names must be unique, repeated: {dupes}")
        ids = [i.id for i in self.interventions]
        dupes = sorted({n for n in ids if ids.count(n) > 1})
        if dupes:
            raise ValueError(f"interventions: ids must be unique, repeated: {dupes}")
        return self

    @model_validator(mode="after")
    def _one_incident_family(self) -> Config:
        families = sorted({s.incident_family for s in self.sources if s.kind == "incidents"})
        chosen = self.index.incident_family
        if chosen is None and len(families) > 1:
            raise ValueError(
                f"index.incident_family: the incident sources are of {len(families)} families "
                f"{families}, which are never pooled into one rate: say which one makes the "
                "index's incident component (the others are published as separate indicators), "
                "or give sources that count the same thing the same `family`"
            )
        if chosen is not None and families and chosen not in families:
            raise ValueError(
                f"index.incident_family: {chosen!r} is not the family of any incident source; "
                f"they are {families}"
            )
        return self

    def resolve(self, path: Path | str) -> Path:
        """Resolve a path from the config against the config file's folder, with
        `{data_root}` replaced by `project.data_root`."""
        text = str(path)
        if "{data_root}" in text:
            text = text.replace("{data_root}", str(self.resolve(self.project.data_root)))
        p = Path(text)
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file of this project."""
        return self.resolve(self.project.warehouse)

    @property
    def serving_path(self) -> Path:
        """The read-only DuckDB copy of the marts that BI tools open."""
        if self.project.serving is not None:
            return self.resolve(self.project.serving)
        return self.warehouse_path.parent / "serving" / f"{self.city.id}.duckdb"

    def source(self, name: str) -> SourceConfig:
        """The source called `name`, or a ConfigError listing the known ones."""
        for src in self.sources:
            if src.name == name:
                return src
        known = [s.name for s in self.sources]
        guess = closest(name, known)
        hint = f"did you mean {guess!r}? " if guess else ""
        raise ConfigError(f"unknown source {name!r}; {hint}this project has: {', '.join(known)}")


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
        raise ConfigError(format_validation_error(path, exc, Config, data)) from None
