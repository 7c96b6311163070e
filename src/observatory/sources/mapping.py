"""Compile a source's declarative mapping into one DuckDB `select` (the conform step).

The mapping is deliberately small: renames, wide-to-long, missing-value codes, label maps,
numeric casts, timestamp formats and time zones, survey items and incident severities.
It compiles to SQL over the raw batch table; a source that needs more gets its own staging
model in `sql/` rather than a richer mapping language (see ARCHITECTURE.md).

The output has the canonical columns of the source kind, with values that could not be
read left NULL; validation turns those NULLs into quarantine reasons.
"""

from __future__ import annotations

from observatory import source_contracts
from observatory.config import CANONICAL_FIELDS, SourceConfig
from observatory.sources import dst
from observatory.sources.readers import BatchError, trimmed
from observatory.sql_util import literal, quote_ident

_TS_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"
_UNPIVOT_NAME = "__unpivot_name"
_UNPIVOT_VALUE = "__unpivot_value"
_TEXT = "__text"
_IN_SCOPE = "__in_scope"
_PARTIAL = "__partial"
#: Days from the spreadsheet epoch (1899-12-30, Excel's and LibreOffice's day 0).
_SERIAL_EPOCH = "timestamp '1899-12-30 00:00:00'"
#: A city-wide row (source `level = "city"`) has this zone id; it is in no zone's cells.
CITY_ZONE = "_city"


def has_offset(text: str) -> str:
    """SQL: whether a timestamp's text ends with a UTC offset (`Z`, `+01:00`, `-0500`):
    `regexp_matches` with `_TS_OFFSET`, tried only where the text ends with `Z` (then it
    matches) or has a sign in its last six characters (the regular expression on every row
    cost as much as parsing the timestamp)."""
    tail = f"right({text}, 6)"
    return (
        f"(case when {text} is null then null when suffix({text}, 'Z') then true "
        f"when contains({tail}, '+') or contains({tail}, '-') "
        f"then regexp_matches({text}, {literal(_TS_OFFSET)}) else false end)"
    )


def normalized_name(expr: str) -> str:
    """SQL: a name compared without case, accents, spacing or punctuation."""
    return (
        f"lower(regexp_replace(strip_accents(cast({expr} as varchar)), '[^A-Za-z0-9]+', '', 'g'))"
    )


#: Output columns of the conform step, per kind (in order): the kinds' contracts'
#: mapped and derived columns (sql/sources/<kind>.toml).
CONFORMED_COLUMNS: dict[str, tuple[str, ...]] = source_contracts.conformed_columns()


def _columns_of(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def unpivot_columns(src: SourceConfig, present: list[str] | None) -> list[str]:
    """The columns a wide-to-long source turns into rows (`["*"]`: all but the others)."""
    if not src.unpivot:
        return []
    if src.unpivot.columns != ["*"]:
        return list(src.unpivot.columns)
    if present is None:
        raise ValueError("unpivot columns ['*'] need the batch's columns")
    used = {c for v in src.columns.values() for c in _columns_of(v)}
    used |= {g.column for g in src.groups.values()}
    skip = used | set(src.unpivot.exclude) | {"_row_number", "_row_hash"}
    return [c for c in present if c not in skip]


def referenced_columns(src: SourceConfig) -> list[str]:
    """The file columns a mapping reads by name (to check a batch before compiling)."""
    cols = [c for v in src.columns.values() for c in _columns_of(v)]
    cols += [g.column for g in src.groups.values()]
    if src.unpivot and src.unpivot.columns != ["*"]:
        cols += src.unpivot.columns
    if src.coordinates:
        cols += [src.coordinates.x, src.coordinates.y]
    return sorted(set(cols))


def _column_missing(src: SourceConfig, column: str) -> list[str]:
    """The missing codes of one file column (`missing_by_column`)."""
    return list(src.missing_by_column.get(column, []))


def _codes(values: list[str]) -> str:
    return ", ".join(literal(c) for c in values)


def _kept_column(src: SourceConfig, column: str) -> str:
    """A column of a joined field, NULL at its own missing codes (concat_ws skips it)."""
    codes = _column_missing(src, column)
    col = quote_ident(column)
    if not codes:
        return col
    return f"(case when {trimmed(col)} in ({_codes(codes)}) then null else {col} end)"


def _partial_expr(src: SourceConfig, field: str) -> str | None:
    """SQL: true where a joined field lost a column after its first to a missing code."""
    if field not in src.columns or isinstance(src.columns[field], str):
        return None
    later = [c for c in _columns_of(src.columns[field])[1:] if _column_missing(src, c)]
    if not later:
        return None
    tests = " or ".join(
        f"coalesce({trimmed(quote_ident(c))} in ({_codes(_column_missing(src, c))}), false)"
        for c in later
    )
    return f"({tests})"


def _source_expr(src: SourceConfig, field: str) -> str | None:
    """The raw-batch expression a canonical field is read from, or None if not mapped."""
    if src.unpivot and field == src.unpivot.name_field:
        return quote_ident(_UNPIVOT_NAME)
    if src.unpivot and field == src.unpivot.value_field:
        return quote_ident(_UNPIVOT_VALUE)
    if src.coordinates and field in ("coord_x", "coord_y"):
        return quote_ident(src.coordinates.x if field == "coord_x" else src.coordinates.y)
    if field in src.columns:
        cols = _columns_of(src.columns[field])
        if len(cols) == 1:
            return quote_ident(cols[0])
        return f"concat_ws(' ', {', '.join(_kept_column(src, c) for c in cols)})"
    return None


def _cleaned_select(src: SourceConfig) -> str:
    """First CTE: each mapped field as trimmed text, missing-value codes turned to NULL."""
    fields = []
    for field in (*CANONICAL_FIELDS[src.kind], "coord_x", "coord_y"):
        expr = _source_expr(src, field)
        if expr is not None:
            own = src.columns.get(field)
            column_codes = _column_missing(src, own) if isinstance(own, str) else []
            codes = _codes(["", *src.missing_values, *column_codes])
            text = trimmed(expr)
            fields.append(
                f"case when {text} in ({codes}) then null else {text} end "
                f"as {quote_ident(field + _TEXT)}"
            )
        partial = _partial_expr(src, field)
        if partial is not None:
            fields.append(f"{partial} as {quote_ident(field + _PARTIAL)}")
    fields += [
        f"lower({trimmed(quote_ident(g.column))}) as {quote_ident(_group_text(name))}"
        for name, g in sorted(src.groups.items())
    ]
    return ",\n        ".join(["_row_number", "_row_hash", quote_ident(_IN_SCOPE), *fields])


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


def _has_offset_format(src: SourceConfig) -> bool:
    fmt = src.timestamp.format or ""
    return "%z" in fmt or "%Z" in fmt


def _keyword_naive(src: SourceConfig, field: str, text: str) -> str | None:
    """The clock time (naive) of a timestamp written as a spreadsheet number, as yyyymmdd,
    or joined from columns one of which may be at its missing code; None otherwise."""
    spec = src.timestamp
    if spec.format == "spreadsheet_serial":
        micros = f"cast(round(try_cast({text} as double) * 86400000000.0) as bigint)"
        return f"({_SERIAL_EPOCH} + to_microseconds({micros}))"
    if spec.format == "yyyymmdd":
        # 20171107, '20171107.0' or a spreadsheet's float export '2.0171107E7'
        number = f"try_cast({text} as double)"
        digits = f"cast(cast({number} as bigint) as varchar)"
        whole = f"{number} = floor({number})"
        return f"(case when {whole} then try_strptime({digits}, '%Y%m%d') end)"
    if spec.format and _partial_expr(src, field) is not None:
        # a later column left out at its missing code: parse what is left with the
        # format's first pieces (one space-separated piece per column)
        pieces = spec.format.split(" ")
        tries = [" ".join(pieces[:n]) for n in range(len(pieces), 0, -1)]
        return f"coalesce({', '.join(f'try_strptime({text}, {literal(f)})' for f in tries)})"
    return None


def local_timestamp(src: SourceConfig, field: str) -> str | None:
    """SQL: a timestamp field's clock time as written (a naive TIMESTAMP, read in the
    source's zone), NULL on rows that give their own offset; None when every row does (a
    `%z` format). Daylight-saving changes are checked on it (`sources.dst`)."""
    text = _clean(src, field)
    spec = src.timestamp
    if _has_offset_format(src):
        return None
    keyword = _keyword_naive(src, field, text)
    if keyword is not None:
        return keyword
    if spec.stamped_utc_is_local:
        # The file says 'Z' but the clock on it is local time: drop the offset, re-localise.
        if spec.format:
            return (
                f"try_strptime(regexp_replace({text}, {literal(_TS_OFFSET)}, ''), "
                f"{literal(spec.format)})"
            )
        return f"try_cast(regexp_replace({text}, {literal(_TS_OFFSET)}, '') as timestamp)"
    if spec.format:
        return f"try_strptime({text}, {literal(spec.format)})"
    # No format: ISO 8601; a row with an explicit offset is not a local time.
    return f"(case when not {has_offset(text)} then try_cast({text} as timestamp) end)"


def _zone_of(src: SourceConfig, city_tz: str) -> str:
    return src.timestamp.timezone or city_tz


#: The kind's timestamp, computed once per row in the `stamped` CTE (the record id of a
#: sensor reading uses it too: written twice, its DST checks cost twice).
_TS = "__timestamp"
#: Its clock time as written (naive; NULL where the row gives its own offset), parsed once.
_LOCAL = "__local_time"


def _timestamp(src: SourceConfig, field: str, city_tz: str) -> str:
    """The kind's timestamp field (from the `stamped` CTE: see `_timestamp_expr`)."""
    return quote_ident(_TS)


def _timestamp_expr(src: SourceConfig, field: str, city_tz: str) -> str:
    """A timestamp field parsed to TIMESTAMPTZ (stored in UTC); a local time at a
    daylight-saving change is read by the source's policy (`sources.dst`)."""
    text = _clean(src, field)
    spec = src.timestamp
    zone = _zone_of(src, city_tz)
    if _has_offset_format(src):
        keyword = _keyword_naive(src, field, text)
        return keyword if keyword is not None else f"try_strptime({text}, {literal(spec.format)})"
    # "infer" reads every repeated time as its first occurrence here; `fold_update` then
    # moves the later rows of a series, found among the few rows in a fall-back hour
    local = dst.localise(src, quote_ident(_LOCAL), zone)
    if spec.format or spec.stamped_utc_is_local:
        return local
    # No format: ISO 8601; an explicit offset wins over the declared zone.
    return (
        f"(case when {quote_ident(_LOCAL)} is not null then {local} "
        f"when {has_offset(text)} "
        f"then try_cast({text} as timestamptz) end)"
    )


#: The timestamp field of each kind, and the fields whose rows make one series (for
#: `dst_ambiguous = "infer"`: the second row of a series at a repeated local time is the
#: later hour).
_TIME_FIELD = {"survey": "surveyed_at", "incidents": "occurred_at", "sensors": "measured_at"}
_SERIES_FIELDS = {
    "survey": ("response_id", "item_id"),
    "incidents": ("incident_id",),
    "sensors": ("sensor_id", "metric"),
}


def _date_only(src: SourceConfig) -> bool:
    return src.timestamp.date_only or src.timestamp.format == "yyyymmdd"


def _infers_folds(src: SourceConfig, field: str) -> bool:
    return (
        field == _TIME_FIELD[src.kind]
        and dst.ambiguous_policy(src) == "infer"
        and not _date_only(src)
        and local_timestamp(src, field) is not None
    )


def _series_keys(src: SourceConfig) -> list[str]:
    """The cleaned columns that tell one series from another."""
    fields = list(_SERIES_FIELDS[src.kind])
    if src.unpivot:
        fields.append(src.unpivot.name_field)
    return [
        quote_ident(f + _TEXT) for f in dict.fromkeys(fields) if _source_expr(src, f) is not None
    ]


def _row_keys(src: SourceConfig) -> list[str]:
    """The cleaned columns that tell one conformed row from another: the row number, and an
    unpivoted row's name (one file row becomes one conformed row per unpivoted column)."""
    if not src.unpivot:
        return ["_row_number"]
    return ["_row_number", quote_ident(src.unpivot.name_field + _TEXT)]


#: Hidden columns of the conform step when "infer" reads repeated local times: the row's
#: series and local time where that time is repeated (NULL elsewhere), and the value each
#: column that depends on the instant takes at the later occurrence (`fold_update`).
_FOLD_KEY = "__fold_key"
_LATER = "__later_"


def _fold_key(src: SourceConfig, city_tz: str) -> str:
    """SQL (over `stamped`): the series and local time of a row at a repeated local time,
    NULL for every other row (month and hour first: only rows near a change go further)."""
    local = quote_ident(_LOCAL)
    zone = _zone_of(src, city_tz)
    keys = [*_series_keys(src), local]
    fields = ", ".join(f"k{i} := {k}" for i, k in enumerate(keys))
    return f"(case when {dst.ambiguous_rows(local, zone)} then struct_pack({fields}) end)"


def _later(expr: str, src: SourceConfig, city_tz: str) -> str:
    """`expr` with the row's instant read as the later occurrence of its local time."""
    later = f"timezone({literal(_zone_of(src, city_tz))}, {quote_ident(_LOCAL)})"
    return expr.replace(quote_ident(_TS), f"({later})")


def fold_update(src: SourceConfig, city_tz: str, table: str) -> list[str]:
    """Statements that finish `dst_ambiguous = "infer"` on the conformed table `table`.

    The conform step reads a repeated local time as its first occurrence. Within a series
    (per sensor and metric for sensors), the second and later rows at the same repeated
    time, in file order, are the later occurrence (pandas' `ambiguous="infer"`): those rows
    take the values the conform step computed for it, and the hidden columns are dropped.
    The window runs over the rows of a fall-back hour only (`_FOLD_KEY` is NULL elsewhere),
    not over the batch. Empty when the source does not infer."""
    if not _infers_folds(src, _TIME_FIELD[src.kind]):
        return []
    later = [c for c, e in _typed_items(src, city_tz) if quote_ident(_TS) in e]
    sets = ", ".join(f"{quote_ident(c)} = t.{quote_ident(_LATER + c)}" for c in later)
    hidden = [_FOLD_KEY, *(_LATER + c for c in later)]
    return [
        f"update {table} as t set {sets} from ("  # noqa: S608 (work table by digest; columns from code)
        f"select rowid as rid, row_number() over (partition by {quote_ident(_FOLD_KEY)} "
        f"order by _row_number) as fold from {table} "
        f"where {quote_ident(_FOLD_KEY)} is not null) as r "
        "where t.rowid = r.rid and r.fold > 1",
        *(f"alter table {table} drop column {quote_ident(c)}" for c in hidden),
    ]


def _dst_issue(src: SourceConfig, city_tz: str) -> str:
    """SQL: why a row's local time is quarantined at a daylight-saving change, or NULL."""
    if _date_only(src):
        return "cast(null as varchar)"
    if local_timestamp(src, _TIME_FIELD[src.kind]) is None:
        return "cast(null as varchar)"
    return dst.issue(src, quote_ident(_LOCAL), quote_ident(_TS), _zone_of(src, city_tz))


def _survey(src: SourceConfig, city_tz: str) -> dict[str, str]:
    lo, hi = src.scale or (0.0, 100.0)
    answer = _number(src, "answer")
    if src.non_response:
        answer = f"(case when {non_response_expr(src)} then null else {answer} end)"
    item = _clean(src, "item_id") if _source_expr(src, "item_id") is not None else "'safety'"
    band_whens = " ".join(
        f"when {literal(k)} then {literal(v.time_band)}" for k, v in sorted(src.items.items())
    )
    reversed_items = [k for k, v in src.items.items() if v.reverse]
    if reversed_items:
        rev = ", ".join(literal(k) for k in reversed_items)
        answer = f"(case when {item} in ({rev}) then {hi + lo!r} - {answer} else {answer} end)"
    response = _clean(src, "response_id")
    n_resp = _number(src, "n_respondents") if "n_respondents" in src.columns else "null"
    if "weight" in src.columns:
        # a declared design weight that is missing is quarantined, not taken as 1
        weight = _number(src, "weight")
    elif src.aggregate:
        weight = f"coalesce({n_resp}, 1.0)"  # an aggregate counts by its sample size, if known
    else:
        weight = "1.0"
    return {
        "record_id": f"{response} || '|' || coalesce({item}, '')",
        "response_id": response,
        "respondent_id": response
        if src.aggregate
        else f"coalesce({_clean(src, 'respondent_id')}, {response})",
        "zone_code": _clean(src, "zone_code"),
        "latitude": _number(src, "latitude"),
        "longitude": _number(src, "longitude"),
        "item_id": item,
        "time_band": f"(case {item} {band_whens} end)" if band_whens else "null",
        "answer": answer,
        "score": f"({answer} - {lo!r}) / ({hi!r} - {lo!r}) * 100.0",
        "weight": weight,
        "n_respondents": f"cast({n_resp} as double)",
        "is_aggregate": literal(src.aggregate),
        "surveyed_at": _timestamp(src, "surveyed_at", city_tz),
        # the survey design (docs/methodology.md, "Survey design"): strata and PSUs
        "stratum_id": _clean(src, "stratum_id") if "stratum_id" in src.columns else "null",
        "cluster_id": _clean(src, "cluster_id") if "cluster_id" in src.columns else "null",
        "respondent_groups": _groups_json(src),
    }


def _group_text(name: str) -> str:
    return f"group_{name}{_TEXT}"


def non_response_expr(src: SourceConfig) -> str:
    """SQL: true where the answer is a declared non-response code ("don't know")."""
    if not src.non_response:
        return "false"
    codes = _codes(sorted({c.strip().lower() for c in src.non_response}))
    return f"coalesce(lower({_clean(src, 'answer')}) in ({codes}), false)"


def _groups_json(src: SourceConfig) -> str:
    """SQL: the respondent's group labels as JSON object text ({"gender": "women"}), or
    NULL. Only mapped labels are kept: an unmapped or missing answer leaves the
    respondent outside that grouping, and the raw answer goes nowhere."""
    if not src.groups:
        return "cast(null as varchar)"
    entries = []
    for name, spec in sorted(src.groups.items()):
        whens = " ".join(
            f"when {literal(raw.strip().lower())} then {literal(label)}"
            for raw, label in sorted(spec.labels.items())
        )
        label = f"(case {quote_ident(_group_text(name))} {whens} end)"
        entries.append(f"struct_pack(k := {literal(name)}, v := {label})")
    kept = f"list_filter([{', '.join(entries)}], lambda x: x.v is not null)"
    return f"nullif(cast(to_json(map_from_entries({kept})) as varchar), '{{}}')"


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
    occurred = _timestamp(src, "occurred_at", city_tz)
    partial = _partial_expr(src, "occurred_at")
    if src.timestamp.date_only or src.timestamp.format == "yyyymmdd":
        known = "false"
    elif partial is not None:
        known = f"not coalesce({quote_ident('occurred_at' + _PARTIAL)}, false)"
    elif src.timestamp.placeholder_times:
        clocks = ", ".join(literal(t.strftime("%H:%M:%S")) for t in src.timestamp.placeholder_times)
        known = (
            f"coalesce(strftime(timezone({literal(city_tz)}, {occurred}), '%H:%M:%S') "
            f"not in ({clocks}), true)"
        )
    else:
        known = "true"
    return {
        "record_id": incident,
        "incident_id": incident,
        "occurred_at": occurred,
        "zone_code": _clean(src, "zone_code"),
        "latitude": _number(src, "latitude"),
        "longitude": _number(src, "longitude"),
        "category": category,
        "severity": severity,
        "source": f"coalesce({_clean(src, 'source')}, {literal(src.name)})",
        "is_time_known": known,
    }


def _sensors(src: SourceConfig, city_tz: str) -> dict[str, str]:
    sensor = _clean(src, "sensor_id")
    mapped = _source_expr(src, "metric") is not None
    metric = _clean(src, "metric") if mapped else literal(src.metrics[0])
    measured = _timestamp(src, "measured_at", city_tz)
    return {
        "record_id": f"{sensor} || '|' || strftime({measured}, '%Y-%m-%dT%H:%M:%S') "
        f"|| '|' || coalesce({metric}, '')",
        "sensor_id": sensor,
        "measured_at": measured,
        "metric": metric,
        "value": _number(src, "value"),
    }


#: Fields whose raw text check-config shows when it does not read (timestamps, labels).
TEXT_CHECKED: dict[str, tuple[str, ...]] = {
    "survey": ("surveyed_at", "answer"),
    "incidents": ("occurred_at",),
    "sensors": ("measured_at", "value"),
}


def _typed_items(
    src: SourceConfig, city_tz: str, *, keep_text: bool = False
) -> list[tuple[str, str]]:
    """The `typed` select's columns after the row number and hash: (name, SQL)."""
    builder = {"survey": _survey, "incidents": _incidents, "sensors": _sensors}[src.kind]
    exprs = builder(src, city_tz)
    if set(exprs) != set(CONFORMED_COLUMNS[src.kind]):  # the code and the contract drifted
        raise RuntimeError(
            f"the {src.kind} conform step makes {sorted(exprs)}, but its contract "
            f"(sql/sources/{src.kind}.toml) lists {sorted(CONFORMED_COLUMNS[src.kind])}"
        )
    items = [(c, exprs[c]) for c in CONFORMED_COLUMNS[src.kind]]
    items.append(("in_scope", quote_ident(_IN_SCOPE)))
    if src.kind == "survey":
        items.append(("is_non_response", non_response_expr(src)))
    if keep_text:
        # check-config: the raw text of fields that can fail to read, to show samples
        items += [
            (f + _TEXT, _clean(src, f))
            for f in TEXT_CHECKED[src.kind]
            if _source_expr(src, f) is not None
        ]
        items += [(_group_text(n), quote_ident(_group_text(n))) for n in sorted(src.groups)]
    if src.coordinates:
        items += [(c, f"try_cast({_clean(src, c)} as double)") for c in ("coord_x", "coord_y")]
    items.append((dst.ISSUE_COLUMN, _dst_issue(src, city_tz)))
    return items


def compile_conform(
    src: SourceConfig,
    batch_table: str,
    city_tz: str,
    present: list[str] | None = None,
    *,
    keep_text: bool = False,
) -> str:
    """The `select` that maps a raw batch table onto the source kind's canonical columns.

    Args:
        src: the source's configuration.
        batch_table: the raw batch (text columns, `_row_number`, `_row_hash`).
        city_tz: the city's IANA zone, used when the source declares none.
        present: the batch's columns (needed for `unpivot.columns = ["*"]`).
        keep_text: also return each `TEXT_CHECKED` field's cleaned text as `<field>__text`
            and each group's raw answer (for check-config's samples; never stored).

    Returns:
        SQL with the conformed columns plus `_row_number`, `_row_hash`, `in_scope` (the
        source's `keep_rows` filter) and, for projected coordinates, `coord_x`/`coord_y`.
    """
    scope = f"coalesce(({src.keep_rows.sql}), false)" if src.keep_rows else "true"
    base = f"(select *, {scope} as {quote_ident(_IN_SCOPE)} from {batch_table})"  # noqa: S608 (keep_rows.sql checked by check_sql_expression; batch table by digest)
    if src.unpivot:
        cols = ", ".join(quote_ident(c) for c in unpivot_columns(src, present))
        # INCLUDE NULLS: a missing reading must be counted (and quarantined), not lost.
        base = (
            f"(select * from {base} unpivot include nulls "  # noqa: S608 (columns quoted; base built above)
            f"({quote_ident(_UNPIVOT_VALUE)} for {quote_ident(_UNPIVOT_NAME)} in ({cols})))"
        )
    items = _typed_items(src, city_tz, keep_text=keep_text)
    source = "stamped"
    if _infers_folds(src, _TIME_FIELD[src.kind]):
        # Only rows at a repeated local time get a key, and their values at the later
        # occurrence (NULL elsewhere): `fold_update` reads them.
        key = quote_ident(_FOLD_KEY)
        source = f"(select *, {_fold_key(src, city_tz)} as {key} from stamped)"  # noqa: S608 (compiled from config: identifiers quoted, values literal())
        items += [(_FOLD_KEY, key)] + [
            (_LATER + c, f"(case when {key} is not null then {_later(e, src, city_tz)} end)")
            for c, e in items
            if quote_ident(_TS) in e
        ]
    typed = ",\n    ".join(f"{e} as {quote_ident(c)}" for c, e in items)
    typed_sql = (
        f"typed as (\n    select\n    _row_number,\n    _row_hash,\n    {typed}\n"  # noqa: S608 (compiled from config: identifiers quoted, values literal())
        f"    from {source}\n)\n"
    )
    stamp = _timestamp_expr(src, _TIME_FIELD[src.kind], city_tz)
    local = local_timestamp(src, _TIME_FIELD[src.kind]) or "cast(null as timestamp)"
    sql = (
        f"with cleaned as (\n    select\n"  # noqa: S608 (compiled from config: identifiers quoted, values literal())
        f"        {_cleaned_select(src)}\n"
        f"    from {base} as batch_rows\n),\n"
        f"stamped as (\n    select *, {stamp} as {quote_ident(_TS)}\n    from (select *, "
        f"{local} as {quote_ident(_LOCAL)} from cleaned)\n),\n"
        f"{typed_sql}"
    )
    return sql + "select * from typed"  # noqa: S608 (compiled from config: identifiers quoted, values literal())


def check_columns(src: SourceConfig, present: list[str], file: str) -> None:
    """Fail the batch, naming the file and the columns, when mapped columns are absent."""
    missing = [c for c in referenced_columns(src) if c not in present]
    if missing:
        shown = ", ".join(present[:30])
        data = [c for c in present if c not in ("_row_number", "_row_hash")]
        one_column = len(data) == 1 and any(ch in data[0] for ch in ",;\t|")
        hint = (
            " The reader found a single column: rows with more or fewer fields than the "
            "header (or an unclosed quote) hid the delimiter; fix those rows, or set "
            '`read = { delim = ";" }` if the file uses another delimiter.'
            if one_column
            else ""
        )
        raise BatchError(
            f"{file}: missing column(s) {missing} that source '{src.name}' maps; "
            f"the file has: {shown}. Fix the file or the mapping in the config, then "
            f"re-ingest.{hint}"
        )
