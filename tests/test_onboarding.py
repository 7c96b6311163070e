"""Onboarding a real-style city with the docs alone (issue 15): a wide Italian survey with
misspelt district names, "don't know" codes, a gender column and float-exported dates; a
sensor feed whose names drift from its locations file; per-column missing codes; spreadsheet
serial dates; UTM metres in latitude/longitude columns."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from observatory import monitoring, pipeline
from observatory.check_config import check_config
from observatory.config import ConfigError, load_config
from observatory.sources import crosswalk
from tests.support import city_toml, write_zones

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
ZONES = [
    ("Z1", "San Paolo", 7.60, 45.00, 0.05),
    ("Z2", "Borgo Vittoria", 7.65, 45.00, 0.05),
    ("Z3", "Madonna di Campagna", 7.70, 45.00, 0.05),
]
LABELS = ["per niente sicuro", "poco sicuro", "né sicuro né insicuro", "abbastanza sicuro"]
#: One row per respondent, as a municipal survey exports it: the district as the
#: interviewer wrote it, a date the spreadsheet turned into a float, sex, and two questions.
SURVEY = [
    "id;quartiere;data;sesso;giorno;notte",
    *(
        f"R{i};{district};2.0250{m}1{d}E7;{sex};{LABELS[(i + 1) % 4]};"
        + ("Non so" if i % 10 < 3 else LABELS[i % 4])
        for i, (district, m, d, sex) in enumerate(
            [
                (z, m, d, s)
                for z in ("S.Paolo", "Vittoria Borgo", "MADONNA DI CAMPAGNA")
                for m in (4, 5)
                for d in (0, 5)
                for s in ("F", "M", "NR", "F", "M")
            ]
        )
    ),
]
SURVEY_SOURCE = """
[[sources]]
name = "questionario"
kind = "survey"
path = "landing/survey.csv"
scale = [1, 4]
non_response = ["non so", "NS/NC"]
timestamp = {{ format = "yyyymmdd" }}
unpivot = {{ columns = ["giorno", "notte"], name_field = "item_id", value_field = "answer" }}
read = {{ delim = ";" }}

[sources.columns]
response_id = "id"
respondent_id = "id"
surveyed_at = "data"
zone_code = "quartiere"

[sources.items]
giorno = {{ time_band = "day" }}
notte = {{ time_band = "night" }}

[sources.groups.gender]
column = "sesso"
labels = {{ F = "women", M = "men" }}

[sources.labels.answer]
{labels}
"""
ALIASES = '\n[zones.aliases]\n"S.Paolo" = "Z1"\n"Vittoria Borgo" = "Z2"\n'


def _project(root: Path, aliases: str = "", labels: list[str] = LABELS) -> Path:
    (root / "landing").mkdir(parents=True, exist_ok=True)
    write_zones(root, ZONES, 5000)
    (root / "landing" / "survey.csv").write_text("\n".join(SURVEY) + "\n", encoding="utf-8")
    label_lines = "\n".join(f'"{label}" = {i + 1}' for i, label in enumerate(labels))
    toml = city_toml() + aliases + SURVEY_SOURCE.format(labels=label_lines)
    (root / "observatory.toml").write_text(toml, encoding="utf-8")
    return root / "observatory.toml"


def _survey_frame() -> pd.DataFrame:
    rows = [line.split(";") for line in SURVEY]
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_check_config_names_closest_zones_labels_and_counts(tmp_path: Path) -> None:
    cfg = load_config(_project(tmp_path, labels=LABELS[:2] + ["xx"] + LABELS[3:]))
    [result] = check_config(cfg)
    by_name = {s["name"]: s for s in result.suggestions}
    assert set(by_name) == {"S.Paolo", "Vittoria Borgo"}  # case alone matches
    assert by_name["S.Paolo"]["candidates"][0][:2] == ("San Paolo", "Z1")
    assert by_name["S.Paolo"]["alias_line"] == '"S.Paolo" = "Z1"'
    assert by_name["Vittoria Borgo"]["candidates"][0][:2] == ("Borgo Vittoria", "Z2")
    assert by_name["S.Paolo"]["rows"] == 40  # 20 respondents x 2 questions
    # the label missing from the map, with its count; the don't-know codes are not listed
    answers = _survey_frame().melt(value_vars=["giorno", "notte"])["value"]
    assert result.unmapped_labels["answer"] == {LABELS[2]: int((answers == LABELS[2]).sum())}
    assert result.unmapped_labels["group gender"] == {"nr": 24}  # rows: 12 people x 2 items
    # "don't know" is non-response where the zone is known (unmatched names quarantine)
    matched = _survey_frame().query("quartiere == 'MADONNA DI CAMPAGNA'")
    assert result.non_response == int((matched["notte"] == "Non so").sum()) == 6
    assert any('paste under [zones.aliases]: "S.Paolo" = "Z1"' in h for h in result.hints)


def test_city_onboards_with_aliases_alone_and_non_response_reconciles(tmp_path: Path) -> None:
    cfg = load_config(_project(tmp_path, aliases=ALIASES))
    [batch] = pipeline.ingest(cfg, now=NOW)
    assert (batch.rows_read, batch.rows_quarantined) == (120, 0)
    # 30% of the night answers are "Non so": 18 of 120 rows, 15% of the batch
    assert batch.rows_non_response == 18
    assert batch.rows_read == batch.rows_accepted + batch.rows_non_response
    pipeline.build(cfg, now=NOW)
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        zones = dict(
            con.execute("select zone_id, count(*) from validated.survey group by 1").fetchall()
        )
        assert zones == {"Z1": 34, "Z2": 34, "Z3": 34}
        dates = con.execute(
            "select distinct cast(timezone('Europe/Rome', surveyed_at) as date) from validated.survey"
        ).fetchall()
        assert sorted(d for (d,) in dates) == [
            dt.date(2025, m, d) for m in (4, 5) for d in (10, 15)
        ]
        (reconciled, nr) = con.execute(
            "select is_reconciled, rows_non_response from marts.data_quality"
        ).fetchall()[0]
        assert reconciled and nr == 18
        rates = con.execute(
            "select zone_id, n_asked, n_non_response, non_response_rate, is_suppressed "
            "from marts.item_nonresponse where item_id = 'notte' and period_start = '2025-04-01' "
            "order by zone_id"
        ).fetchall()
        assert rates == [
            ("Z1", 10, 3, 0.3, False),
            ("Z2", 10, 3, 0.3, False),
            ("Z3", 10, 3, 0.3, False),
            ("_all", 30, 9, 0.3, False),
        ]
        # no raw group answer reaches a table: only the labels
        labels = con.execute(
            "select distinct respondent_groups from validated.survey order by 1"
        ).fetchall()
        assert labels == [('{"gender":"men"}',), ('{"gender":"women"}',), (None,)]
    # 15% non-response raises no quarantine alert
    cfg_strict = load_config(cfg.base_dir / "observatory.toml")
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        found = monitoring.check_quarantine(
            con, cfg_strict, NOW - dt.timedelta(days=1e4), dt.datetime.now(dt.UTC)
        )
    assert found == []


def test_sensor_names_onboard_with_aliases(tmp_path: Path) -> None:
    write_zones(tmp_path, ZONES, 5000)
    (tmp_path / "landing").mkdir()
    (tmp_path / "locations.csv").write_text(
        "name,lat,lon\nFlinders Street,45.02,7.62\nSwanston Walk,45.02,7.67\n", encoding="utf-8"
    )
    (tmp_path / "landing" / "counts.csv").write_text(
        "sensor,ts,count\n"
        "Flinders St,2025-06-01T10:00:00Z,120\n"
        "Swanston Walk,2025-06-01T10:00:00Z,80\n"
        "Bourke Mall,2025-06-01T10:00:00Z,50\n",
        encoding="utf-8",
    )
    source = """
[[sources]]
name = "counters"
kind = "sensors"
path = "landing/*.csv"
metrics = ["footfall"]
[sources.columns]
sensor_id = "sensor"
measured_at = "ts"
value = "count"
[sources.locations]
path = "locations.csv"
sensor_id = "name"
latitude = "lat"
longitude = "lon"
match = "normalized"
"""
    (tmp_path / "observatory.toml").write_text(city_toml() + source, encoding="utf-8")
    cfg = load_config(tmp_path / "observatory.toml")
    [result] = check_config(cfg)
    names = {s["name"]: s for s in result.suggestions}
    assert names["Flinders St"]["alias_line"] == '"Flinders St" = "Flinders Street"'
    aliased = source + 'aliases = { "Flinders St" = "Flinders Street" }\n'
    (tmp_path / "observatory.toml").write_text(city_toml() + aliased, encoding="utf-8")
    cfg = load_config(tmp_path / "observatory.toml")
    [batch] = pipeline.ingest(cfg, now=NOW)
    assert (batch.rows_accepted, batch.rows_quarantined) == (2, 1)  # Bourke Mall: no location
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        rows = con.execute("select sensor_id, zone_id from validated.sensors order by 1").fetchall()
    assert rows == [("Flinders Street", "Z1"), ("Swanston Walk", "Z2")]


def test_crosswalk_csv_and_unknown_target(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "xwalk.csv").write_text(
        "alias,zone_id\nS.Paolo,Z1\nVittoria Borgo,Z9\n", encoding="utf-8"
    )
    toml = (tmp_path / "observatory.toml").read_text(encoding="utf-8")
    toml = toml.replace(
        'path = "zones.geojson"\n', 'path = "zones.geojson"\ncrosswalk = "xwalk.csv"\n', 1
    )
    (tmp_path / "observatory.toml").write_text(toml, encoding="utf-8")
    cfg = load_config(tmp_path / "observatory.toml")
    with pytest.raises(ConfigError, match=r"xwalk.csv, row 3: zone_id 'Z9'"):
        pipeline.ingest(cfg, now=NOW)


def test_per_column_missing_code_keeps_the_date_and_unknowns_the_time(tmp_path: Path) -> None:
    write_zones(tmp_path, ZONES, 5000)
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "a.csv").write_text(
        "id,fecha,hora,lat,lon,cat\n"
        "1,05/06/2025,22:30,45.02,7.62,theft\n"
        "2,05/06/2025,00:00,45.02,7.62,theft\n"  # the time is a placeholder: missing
        "3,00:00,10:00,45.02,7.62,theft\n",  # 00:00 is missing only in hora: a bad date
        encoding="utf-8",
    )
    source = """
[[sources]]
name = "police"
kind = "incidents"
path = "landing/*.csv"
timestamp = { format = "%d/%m/%Y %H:%M" }
missing_by_column = { hora = ["00:00"] }
[sources.columns]
incident_id = "id"
occurred_at = ["fecha", "hora"]
latitude = "lat"
longitude = "lon"
category = "cat"
"""
    (tmp_path / "observatory.toml").write_text(city_toml() + source, encoding="utf-8")
    cfg = load_config(tmp_path / "observatory.toml")
    [batch] = pipeline.ingest(cfg, now=NOW)
    assert (batch.rows_accepted, batch.rows_quarantined) == (2, 1)
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select incident_id, strftime(timezone('Europe/Rome', occurred_at), '%Y-%m-%d %H:%M'), "
            "is_time_known from validated.incidents order by 1"
        ).fetchall()
    assert rows == [("1", "2025-06-05 22:30", True), ("2", "2025-06-05 00:00", False)]


def test_spreadsheet_serial_dates_and_unparsed_samples(tmp_path: Path) -> None:
    write_zones(tmp_path, ZONES, 5000)
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "a.csv").write_text(
        "id,when,lat,lon,cat\n1,45813.9375,45.02,7.62,theft\n2,n/a,45.02,7.62,theft\n",
        encoding="utf-8",
    )
    source = """
[[sources]]
name = "police"
kind = "incidents"
path = "landing/*.csv"
timestamp = { format = "spreadsheet_serial" }
[sources.columns]
incident_id = "id"
occurred_at = "when"
latitude = "lat"
longitude = "lon"
category = "cat"
"""
    (tmp_path / "observatory.toml").write_text(city_toml() + source, encoding="utf-8")
    cfg = load_config(tmp_path / "observatory.toml")
    [result] = check_config(cfg)
    assert result.unparsed == {"occurred_at": ["n/a"]}
    assert result.preview[0]["occurred_at"].astimezone(dt.UTC) == dt.datetime(
        2025, 6, 5, 20, 30, tzinfo=dt.UTC
    )  # 45813 = 2025-06-05, .9375 = 22:30 in Rome (CEST)


def test_unknown_timestamp_keyword_is_a_config_error(tmp_path: Path) -> None:
    _project(tmp_path)
    toml = (tmp_path / "observatory.toml").read_text(encoding="utf-8")
    (tmp_path / "observatory.toml").write_text(
        toml.replace('"yyyymmdd"', '"excel"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="spreadsheet_serial"):
        load_config(tmp_path / "observatory.toml")


def test_utm_hint_names_the_city_zone() -> None:
    extent = (7.60, 45.00, 7.75, 45.05)
    hint = crosswalk.utm_hint(
        pd.Series([4990000.0]), pd.Series([396000.0]), (45.05, 7.65), extent, ("x", "y")
    )
    assert hint is not None and "EPSG:32632" in hint and "UTM zone 32N" in hint
    inside = crosswalk.utm_hint(pd.Series([45.02]), pd.Series([7.62]), (45.05, 7.65), extent)
    assert inside is None
    # in range, but all outside the city (lat/lon swapped, or another city's file)
    swapped = crosswalk.utm_hint(pd.Series([7.62]), pd.Series([45.02]), (45.05, 7.65), extent)
    assert swapped is not None and "all lie outside the city" in swapped


def test_report_and_export_default_to_the_latest_month_with_perception(tmp_path: Path) -> None:
    from observatory import publish  # noqa: PLC0415
    from observatory.report import write_report  # noqa: PLC0415

    path = _project(tmp_path, aliases=ALIASES)
    (tmp_path / "landing" / "police").mkdir()
    # June has incidents but no survey yet: the latest month in the warehouse, not the
    # latest with something to say about perception
    (tmp_path / "landing" / "police" / "a.csv").write_text(
        "id,ts,lat,lon,cat\n1,2025-06-05T10:00:00Z,45.02,7.62,theft\n", encoding="utf-8"
    )
    police = (
        '\n[[sources]]\nname = "police"\nkind = "incidents"\npath = "landing/police/*.csv"\n'
        '[sources.columns]\nincident_id = "id"\noccurred_at = "ts"\nlatitude = "lat"\n'
        'longitude = "lon"\ncategory = "cat"\n[sources.severity]\ntheft = 1.0\n'
        "\n[index]\nmin_respondents = 5\nuncertainty_draws = 50\n"  # tiny cells, published
    )
    path.write_text(path.read_text(encoding="utf-8") + police, encoding="utf-8")
    cfg = load_config(path)
    pipeline.run(cfg, now=NOW)
    page = write_report(cfg, None, tmp_path / "report.html", NOW).read_text(encoding="utf-8")
    assert '"period":"2025-05"' in page and "Who feels unsafe" in page
    out = tmp_path / "exports"
    publish.export(cfg, out)
    doc = json.loads((out / "zones_latest.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["period_start"] for f in doc["features"]} == {"2025-05-01"}
    publish.export(cfg, out, period="2025-04")
    doc = json.loads((out / "zones_latest.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["period_start"] for f in doc["features"]} == {"2025-04-01"}
    with pytest.raises(ValueError, match="YYYY-MM"):
        publish.export(cfg, out, period="April")
