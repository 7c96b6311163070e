"""Compile a source's declarative mapping into one DuckDB `select` (the conform step).

The mapping is deliberately small: renames, wide-to-long, missing-value codes, label maps,
numeric casts, timestamp formats and time zones, survey items and incident severities.
It compiles to SQL over the raw batch table; a source that needs more gets its own staging
model in `sql/` rather than a richer mapping language (see ARCHITECTURE.md).

The output has the canonical columns of the source kind, with values that could not be
read left NULL; validation turns those NULLs into quarantine reasons.
"""

from __future__ import annotations

from observatory.config import CANONICAL_FIELDS, SourceConfig
from observatory.sources.readers import BatchError
from observatory.sql_util import literal, quote_ident

_TS_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"
_UNPIVOT_NAME = "__unpivot_name"
_UNPIVOT_VALUE = "__unpivot_value"
_TEXT = "__text"

#: Output columns of the conform step, per kind (in order).
CONFORMED_COLUMNS: dict[str, tuple[str, ...]] = {
    "survey": (
        "record_id",
        "response_id",
        "respondent_id",
        "zone_code",
        "latitude",
        "longitude",
        "item_id",
        "time_band",
        "answer",
        "score",
        "weight",
        "surveyed_at",
    ),
    "incidents": (
        "record_id",
        "incident_id",
        "occurred_at",
        "zone_code",
        "latitude",
        "longitude",
        "category",
        "severity",
        "source",
    ),
    "sensors": ("record_id", "sensor_id", "measured_at", "metric", "value"),
}


def referenced_columns(src: SourceConfig) -> list[str]:
    """The file columns a mapping reads (to check a batch before compiling)."""
    cols = list(src.columns.values())
    if src.unpivot:
        cols += src.unpivot.columns
    return sorted(set(cols))


def _source_expr(src: SourceConfig, field: str) -> str | None:
    """The raw-batch column a canonical field is read from, or None if it is not mapped."""
    if src.unpivot and field == src.unpivot.name_field:
        return quote_ident(_UNPIVOT_NAME)
    if src.unpivot and field == src.unpivot.value_field:
        return quote_ident(_UNPIVOT_VALUE)
    if field in src.columns:
        return quote_ident(src.columns[field])
    return None


def _cleaned_select(src: SourceConfig) -> str:
    """First CTE: each mapped field as trimmed text, missing-value codes turned to NULL."""
    codes = ", ".join(literal(c) for c in ["", *src.missing_values])
    fields = []
    for field in CANONICAL_FIELDS[src.kind]:
        expr = _source_expr(src, field)
        if expr is not None:
            fields.append(
                f"case when trim({expr}) in ({codes}) then null else trim({expr}) end "
                f"as {quote_ident(field + _TEXT)}"
            )
    return ",\n        ".join(["_row_number", "_raw", *fields])


def _clean(src: SourceConfig, field: str) -> str:
    """Reference to a field's cleaned text (NULL when the source does not map it)."""
    if _source_expr(src, field) is None:
        return "cast(null as varchar)"
    return quote_ident(field + _TEXT)


def _number(src: SourceConfig, field: str) -> str:
    """A numeric field: a label from the source's label map, or the number as written."""
    text = _clean(src, field)
    labels = src.labels.get(field)
    if not labels:
        return f"try_cast({text} as double)"
    whens = " ".join(
        f"when {literal(label.strip().lower())} then {literal(float(value))}"
        for label, value in sorted(labels.items())
    )
    return f"coalesce(case lower({text}) {whens} end, try_cast({text} as double))"


def _timestamp(src: SourceConfig, field: str, city_tz: str) -> str:
    """A timestamp field parsed to TIMESTAMPTZ (stored in UTC)."""
    text = _clean(src, field)
    spec = src.timestamp
    tz = literal(spec.timezone or city_tz)
    if spec.stamped_utc_is_local:
        # The file says 'Z' but the clock on it is local time: drop the offset, re-localise.
        naive = f"try_cast(regexp_replace({text}, {literal(_TS_OFFSET)}, '') as timestamp)"
        if spec.format:
            naive = (
                f"try_strptime(regexp_replace({text}, {literal(_TS_OFFSET)}, ''), "
                f"{literal(spec.format)})"
            )
        return f"timezone({tz}, {naive})"
    if spec.format and ("%z" in spec.format or "%Z" in spec.format):
        return f"try_strptime({text}, {literal(spec.format)})"
    if spec.format:
        return f"timezone({tz}, try_strptime({text}, {literal(spec.format)}))"
    # No format: ISO 8601; an explicit offset wins over the declared zone.
    return (
        f"(case when regexp_matches({text}, {literal(_TS_OFFSET)}) "
        f"then try_cast({text} as timestamptz) "
        f"else timezone({tz}, try_cast({text} as timestamp)) end)"
    )


def _survey(src: SourceConfig, city_tz: str) -> dict[str, str]:
    lo, hi = src.scale or (0.0, 100.0)
    answer = _number(src, "answer")
    item = _clean(src, "item_id") if (src.unpivot or "item_id" in src.columns) else "'safety'"
    band_whens = " ".join(
        f"when {literal(k)} then {literal(v.time_band)}" for k, v in sorted(src.items.items())
    )
    reversed_items = [k for k, v in src.items.items() if v.reverse]
    if reversed_items:
        rev = ", ".join(literal(k) for k in reversed_items)
        answer = f"(case when {item} in ({rev}) then {hi + lo!r} - {answer} else {answer} end)"
    response = _clean(src, "response_id")
    return {
        "record_id": f"{response} || '|' || coalesce({item}, '')",
        "response_id": response,
        "respondent_id": f"coalesce({_clean(src, 'respondent_id')}, {response})",
        "zone_code": _clean(src, "zone_code"),
        "latitude": _number(src, "latitude"),
        "longitude": _number(src, "longitude"),
        "item_id": item,
        "time_band": f"(case {item} {band_whens} end)" if band_whens else "null",
        "answer": answer,
        "score": f"({answer} - {lo!r}) / ({hi!r} - {lo!r}) * 100.0",
        "weight": f"coalesce({_number(src, 'weight')}, 1.0)" if "weight" in src.columns else "1.0",
        "surveyed_at": _timestamp(src, "surveyed_at", city_tz),
    }


def _incidents(src: SourceConfig, city_tz: str) -> dict[str, str]:
    category = _clean(src, "category")
    if src.severity:
        whens = " ".join(
            f"when {literal(k)} then {literal(float(v))}" for k, v in sorted(src.severity.items())
        )
        severity = f"(case {category} {whens} end)"
    else:
        severity = "1.0"
    incident = _clean(src, "incident_id")
    return {
        "record_id": incident,
        "incident_id": incident,
        "occurred_at": _timestamp(src, "occurred_at", city_tz),
        "zone_code": _clean(src, "zone_code"),
        "latitude": _number(src, "latitude"),
        "longitude": _number(src, "longitude"),
        "category": category,
        "severity": severity,
        "source": f"coalesce({_clean(src, 'source')}, {literal(src.name)})",
    }


def _sensors(src: SourceConfig, city_tz: str) -> dict[str, str]:
    sensor = _clean(src, "sensor_id")
    metric = _clean(src, "metric") if (src.unpivot or "metric" in src.columns) else None
    metric = metric or literal(src.metrics[0])
    measured = _timestamp(src, "measured_at", city_tz)
    return {
        "record_id": f"{sensor} || '|' || strftime({measured}, '%Y-%m-%dT%H:%M:%S') "
        f"|| '|' || coalesce({metric}, '')",
        "sensor_id": sensor,
        "measured_at": measured,
        "metric": metric,
        "value": _number(src, "value"),
    }


def compile_conform(src: SourceConfig, batch_table: str, city_tz: str) -> str:
    """The `select` that maps a raw batch table onto the source kind's canonical columns.

    Args:
        src: the source's configuration.
        batch_table: the raw batch (text columns, `_row_number`, `_raw`).
        city_tz: the city's IANA zone, used when the source declares none.

    Returns:
        SQL with the conformed columns plus `_row_number` and `_raw`.
    """
    if src.unpivot:
        cols = ", ".join(quote_ident(c) for c in src.unpivot.columns)
        # INCLUDE NULLS: a missing reading must be counted (and quarantined), not lost.
        base = (
            f"(select * from {batch_table} unpivot include nulls "
            f"({quote_ident(_UNPIVOT_VALUE)} for {quote_ident(_UNPIVOT_NAME)} in ({cols})))"
        )
    else:
        base = batch_table
    builder = {"survey": _survey, "incidents": _incidents, "sensors": _sensors}[src.kind]
    exprs = builder(src, city_tz)
    typed = ",\n    ".join(f"{exprs[c]} as {quote_ident(c)}" for c in CONFORMED_COLUMNS[src.kind])
    return (
        f"with cleaned as (\n    select\n        {_cleaned_select(src)}\n"
        f"    from {base} as batch_rows\n)\n"
        f"select\n    _row_number,\n    _raw,\n    {typed}\nfrom cleaned"
    )


def check_columns(src: SourceConfig, present: list[str], file: str) -> None:
    """Fail the batch, naming the file and the columns, when mapped columns are absent."""
    missing = [c for c in referenced_columns(src) if c not in present]
    if missing:
        shown = ", ".join(present[:30])
        raise BatchError(
            f"{file}: missing column(s) {missing} that source '{src.name}' maps; "
            f"the file has: {shown}. Fix the file or the mapping in the config, then re-ingest."
        )
