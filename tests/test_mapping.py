"""Mapping features, each on a small fixture run through real ingestion into DuckDB."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from observatory import pipeline
from observatory.config import Config, load_config
from tests.support import city_toml, query, write_zones

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
CITY = city_toml(timezone="Europe/Riga", latitude=56.95, longitude=24.1)


def _project(tmp: Path, source: str, files: dict[str, str]) -> Config:
    write_zones(tmp, [("01", "Vecrīga", 24.0, 56.9, 0.1), ("02", "Āgenskalns", 24.1, 56.9, 0.1)])
    (tmp / "landing").mkdir(exist_ok=True)
    for name, text in files.items():
        (tmp / "landing" / name).write_text(text, encoding="utf-8")
    (tmp / "observatory.toml").write_text(CITY + source, encoding="utf-8")
    return load_config(tmp / "observatory.toml")


SURVEY = """
[[sources]]
name = "aptauja"
kind = "survey"
path = "landing/*.csv"
scale = [1, 4]
missing_values = ["nezinu"]
unpivot = {{ columns = {columns}, exclude = ["id", "rajons", "laiks"], name_field = "item_id", value_field = "answer" }}
timestamp = {{ format = "%d.%m.%Y" }}
[sources.columns]
response_id = "id"
zone_code = "rajons"
surveyed_at = "laiks"
[sources.items]
diena = {{ time_band = "day" }}
nakts = {{ time_band = "night", reverse = true }}
[sources.labels.answer]
"Ļoti droši" = 4
"Droši" = 3
"Nedroši" = 2
"Ļoti nedroši" = 1
"""
SURVEY_CSV = (
    "id,rajons,laiks,diena,nakts\n"
    "r1,VECRĪGA,01.06.2025,Ļoti droši,2\n"  # upper case + accents match 'Vecrīga'; reversed night
    "r2,agenskalns,02.06.2025,droši,nezinu\n"  # no accent, lower case; missing code
    "r3,Nowhere,02.06.2025,Droši,Droši\n"  # unmatched zone name: reported in quarantine
)


@pytest.mark.parametrize("columns", ['["diena", "nakts"]', '["*"]'])
def test_wide_to_long_labels_reverse_missing_and_zone_names(tmp_path: Path, columns: str) -> None:
    cfg = _project(tmp_path, SURVEY.format(columns=columns), {"a.csv": SURVEY_CSV})
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (6, 3, 3)
    accepted = query(
        cfg,
        "select record_id, zone_id, time_band, answer, round(score, 6) from validated.survey order by 1",
    )
    assert accepted == [
        ("r1|diena", "01", "day", 4.0, 100.0),
        ("r1|nakts", "01", "night", 3.0, 66.666667),  # 2 reversed on a 1-4 scale is 3
        ("r2|diena", "02", "day", 3.0, 66.666667),
    ]
    reasons = dict(query(cfg, "select record_id, reason from quarantine.survey"))
    assert "label not in the label map" in reasons["r2|nakts"]
    assert "zone unknown" in reasons["r3|diena"] and "zone unknown" in reasons["r3|nakts"]


def test_zone_codes_as_numbers(tmp_path: Path) -> None:
    source = """
[[sources]]
name = "police"
kind = "incidents"
path = "landing/*.csv"
zone_match = "numeric"
[sources.columns]
incident_id = "id"
occurred_at = "ts"
zone_code = "district"
category = "cat"
"""
    cfg = _project(
        tmp_path,
        source,
        {"a.csv": "id,ts,district,cat\n1,2025-06-01 10:00,002,x\n2,2025-06-01 10:00,7,x\n"},
    )
    pipeline.ingest(cfg, now=NOW)
    assert query(cfg, "select incident_id, zone_id from validated.incidents") == [("1", "02")]
    assert "zone code unknown" in query(cfg, "select reason from quarantine.incidents")[0][0]


def test_projected_coordinates_through_pyproj(tmp_path: Path) -> None:
    # A point in Riga given in LKS-92 / Latvia TM (EPSG:3059), metres: (507000, 312000).
    source = """
[[sources]]
name = "police"
kind = "incidents"
path = "landing/*.csv"
coordinates = { crs = "EPSG:3059", x = "x", y = "y" }
[sources.columns]
incident_id = "id"
occurred_at = "ts"
category = "cat"
"""
    cfg = _project(
        tmp_path, source, {"a.csv": "id,ts,x,y,cat\n1,2025-06-01 10:00,507000,312000,x\n"}
    )
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.rows_accepted == 1, report
    [(lon, lat, zone)] = query(cfg, "select longitude, latitude, zone_id from validated.incidents")
    assert lon == pytest.approx(24.1151, abs=1e-3) and lat == pytest.approx(56.9516, abs=1e-3)
    assert zone == "02"


def test_keep_rows_quarantines_out_of_scope_rows_with_their_reason(tmp_path: Path) -> None:
    source = """
[[sources]]
name = "scores"
kind = "survey"
path = "landing/*.csv"
aggregate = true
scale = [0, 100]
keep_rows = { sql = "level = 'district'", reason = "not a district row" }
[sources.columns]
response_id = ["area", "start"]
zone_code = "area"
answer = "safety"
surveyed_at = "start"
n_respondents = "n"
[sources.items]
safety = { time_band = "both" }  # read as "any" (its name before v2)
"""
    csv = (
        "level,area,start,safety,n\n"
        "city,,2025-06-01,60,\n"
        "district,01,2025-06-01,55.5,40\n"
        "district,01,2025-06-01,55.5,40\n"  # exact copy: the first is kept
        "district,02,2025-06-01,70,\n"  # sample size unknown: weight 1
    )
    cfg = _project(tmp_path, source, {"a.csv": csv})
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (4, 2, 2)
    # one record per answer: a question that names no time of day is band "any", not a copy
    # per band (idx_respondents decides where it stands in)
    assert query(
        cfg,
        "select zone_id, time_band, round(score, 6), weight, n_respondents, is_aggregate "
        "from validated.survey order by 1, 2",
    ) == [
        ("01", "any", 55.5, 40.0, 40.0, True),
        ("02", "any", 70.0, 1.0, None, True),
    ]
    reasons = sorted(r for (r,) in query(cfg, "select reason from quarantine.survey"))
    assert reasons[0].startswith("exact copy") and reasons[-1] == "not a district row"


def test_city_level_source_needs_no_zone(tmp_path: Path) -> None:
    source = """
[[sources]]
name = "citywide"
kind = "incidents"
path = "landing/*.csv"
level = "city"
[sources.columns]
incident_id = "id"
occurred_at = "ts"
category = "cat"
"""
    cfg = _project(tmp_path, source, {"a.csv": "id,ts,cat\n1,2025-06-01T10:00:00Z,x\n"})
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.rows_accepted == 1
    assert query(cfg, "select zone_id from validated.incidents") == [("_city",)]


def test_sensor_names_match_locations_by_normalised_name(tmp_path: Path) -> None:
    source = """
[[sources]]
name = "counts"
kind = "sensors"
path = "landing/counts*.csv"
missing_values = ["-1", "undefined"]
metrics = ["footfall"]
timestamp = { format = "%d/%m/%Y %H" }
unpivot = { columns = ["*"], name_field = "sensor_id", value_field = "value" }
[sources.columns]
measured_at = ["Date", "Hour"]
[sources.locations]
path = "landing/locations.csv"
sensor_id = "description"
latitude = "lat"
longitude = "lon"
match = "normalized"
"""
    files = {
        "locations.csv": "description,lat,lon\nBrīvības iela (North),56.95,24.05\nTirgus,56.95,24.15\n",
        "counts.csv": "Date,Hour,brivibas iela north,Tirgus,Unknown Gate\n01/06/2025,0,12,-1,5\n01/06/2025,23,undefined,7,3\n",
    }
    cfg = _project(tmp_path, source, files)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (6, 2, 4)
    assert query(
        cfg,
        "select sensor_id, zone_id, strftime(measured_at, '%H:%M'), value from validated.sensors order by 1",
    ) == [("Tirgus", "02", "20:00", 7.0), ("brivibas iela north", "01", "21:00", 12.0)]
    reasons = query(
        cfg,
        "select json_extract_string(raw_row, '$.Hour'), reason from quarantine.sensors order by all",
    )
    assert sum("sensor not in the locations file" in r for _, r in reasons) == 2
    assert sum("reading missing" in r for _, r in reasons) == 2


def test_sensor_reading_from_an_earlier_batch_is_quarantined_across_time_spans(
    tmp_path: Path,
) -> None:
    """The earlier-batch lookup is limited to the new batch's time span: a repeated reading
    inside it is still caught, and a new reading outside the first batch's span is kept."""
    source = """
[[sources]]
name = "street"
kind = "sensors"
path = "landing/readings*.csv"
metrics = ["lux"]
[sources.columns]
sensor_id = "sensor"
measured_at = "ts"
metric = "metric"
value = "value"
[sources.locations]
path = "landing/locations.csv"
sensor_id = "sensor"
latitude = "lat"
longitude = "lon"
"""
    files = {
        "locations.csv": "sensor,lat,lon\nS1,56.95,24.05\n",
        "readings_1.csv": "sensor,ts,metric,value\nS1,2025-06-01T10:00:00Z,lux,5\n"
        "S1,2025-06-01T11:00:00Z,lux,6\n",
    }
    cfg = _project(tmp_path, source, files)
    [first] = pipeline.ingest(cfg, now=NOW)
    assert (first.rows_accepted, first.rows_quarantined) == (2, 0)
    (tmp_path / "landing" / "readings_2.csv").write_text(
        "sensor,ts,metric,value\nS1,2025-06-01T11:00:00Z,lux,6\nS1,2025-06-03T00:00:00Z,lux,7\n",
        encoding="utf-8",
    )
    reports = pipeline.ingest(cfg, now=NOW)
    assert [(r.status, r.rows_accepted, r.rows_quarantined) for r in reports] == [
        ("skipped", 0, 0),
        ("loaded", 1, 1),
    ]
    [(stamp, reason)] = query(
        cfg, "select json_extract_string(raw_row, '$.ts'), reason from quarantine.sensors"
    )
    assert stamp == "2025-06-01T11:00:00Z" and "already ingested in an earlier batch" in reason


def test_design_columns_are_carried_and_a_missing_weight_is_quarantined(tmp_path: Path) -> None:
    source = (
        '\n[[sources]]\nname = "panel"\nkind = "survey"\npath = "landing/*.csv"\n'
        "scale = [0, 10]\n"
        'timestamp = { format = "%Y-%m-%d" }\n'
        "[sources.columns]\n"
        'response_id = "id"\nrespondent_id = "person"\nzone_code = "zone"\n'
        'surveyed_at = "day"\nanswer = "safe"\nweight = "w"\n'
        'stratum_id = "stratum"\ncluster_id = "block"\n'
        "[sources.items]\n"
        'safety = { time_band = "night" }\n'
    )
    text = (
        "id,person,zone,day,safe,w,stratum,block\n"
        "1,p1,01,2025-06-01,7,1.5,north,b1\n"
        "2,p2,01,2025-06-01,8,,north,b2\n"  # a declared design weight left empty
        "3,p3,02,2025-06-02,6,0.8,south,b7\n"
    )
    cfg = _project(tmp_path, source, {"a.csv": text})
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (3, 2, 1)
    assert query(cfg, "select reason from quarantine.survey") == [("design weight missing",)]
    assert query(
        cfg, "select response_id, weight, stratum_id, cluster_id from validated.survey order by 1"
    ) == [("1", 1.5, "north", "b1"), ("3", 0.8, "south", "b7")]


def test_quarantined_survey_rows_keep_only_the_columns_the_mapping_reads(tmp_path: Path) -> None:
    source = (
        '\n[[sources]]\nname = "panel"\nkind = "survey"\npath = "landing/*.csv"\n'
        "scale = [0, 10]\n"
        'timestamp = { format = "%Y-%m-%d" }\n'
        "[sources.columns]\n"
        'response_id = "id"\nzone_code = "zone"\nsurveyed_at = "day"\nanswer = "safe"\n'
        "[sources.items]\n"
        'safety = { time_band = "night" }\n'
    )
    text = (
        "id,zone,day,safe,age,sex,comment\n"
        "1,01,2025-06-01,7,34,F,ok\n"
        "2,01,2025-06-01,15,61,M,my neighbour at no. 4 is ...\n"  # out of scale: quarantined
    )
    cfg = _project(tmp_path, source, {"a.csv": text})
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_accepted, report.rows_quarantined) == (1, 1)
    [(raw,)] = query(cfg, "select raw_row from quarantine.survey")
    assert sorted(json.loads(raw)) == ["day", "id", "safe", "zone"]  # no age, sex, free text


def test_the_guarded_trim_and_offset_test_agree_with_duckdb_on_every_character() -> None:
    """`mapping.trimmed` skips `trim` on text it cannot change and `has_offset` tries the
    regular expression only where it can match: on every code point up to U+30FF, alone,
    leading and trailing, and on timestamps with and without offsets, each gives what the
    plain DuckDB expression gives."""
    import duckdb  # noqa: PLC0415

    from observatory.sources.mapping import _TS_OFFSET, has_offset, trimmed  # noqa: PLC0415

    con = duckdb.connect()
    chars = [chr(c) for c in range(0x3100) if not 0xD800 <= c <= 0xDFFF]
    texts = [t for c in chars for t in (c, f"{c}a1", f"a1{c}", f" {c} ", f"{c}{c}")]
    texts += ["", " ", "  x  ", None]
    stamps = [
        "2025-10-26T02:30:00",
        "2025-10-26T02:30:00Z",
        "2025-10-26 02:30:00+01:00",
        "2025-10-26 02:30:00-0500",
        "2025-10-26 02:30:00+0",
        "2025-10-26",
        "26/10/2025 02:30",
        "2025-10-26T02:30:00.5+05:30",
        "Z",
        "-01:00",
        "+0100",
        "x-1",
        "2025-10-26 02:30 +01",
        "2025-10-26T02:30:00z",
        None,
        "",
    ]
    con.execute("create table t (x varchar)")
    con.execute("insert into t select unnest(?)", [texts + stamps])
    wrong = con.execute(
        f"select x from t where trim(x) is distinct from {trimmed('x')} "  # noqa: S608 (expressions from code)
        f"or regexp_matches(x, '{_TS_OFFSET}') is distinct from {has_offset('x')}"
    ).fetchall()
    assert wrong == []
    # the guard did skip the work: text with no space at its ends is not trimmed
    (n,) = con.execute("select count(*) from t where x like ' %' or x like '% '").fetchone()
    assert 0 < n < len(texts)
