"""The catalogue of bad inputs (issue 17): each gives a clear error or a quarantine reason,
and every row read is accounted for (rows in the file = accepted + quarantined + blank).

One parametrised test walks the catalogue over a tiny two-zone city; the sequences that
need more than one run (a file still being copied, markers, daylight-saving changes in a
sensor series) have their own tests below.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from observatory import ingest as ingest_module
from observatory import pipeline
from observatory.config import Config, load_config
from tests.support import city_toml, police_source, query, write_zones

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HEADER = "id,ts,lat,lon,cat\n"
GOOD = "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n"

SENSORS = """
[[sources]]
name = "street"
kind = "sensors"
path = "sensors/*.csv"
metrics = ["lux", "noise_db"]
{extra}
[sources.columns]
sensor_id = "sensor"
measured_at = "ts"
metric = "metric"
value = "value"
[sources.locations]
path = "ref/locations.csv"
sensor_id = "sensor"
latitude = "lat"
longitude = "lon"
"""

SURVEY = """
[[sources]]
name = "poll"
kind = "survey"
path = "survey/*.csv"
scale = [1, 5]
[sources.columns]
response_id = "rid"
answer = "ans"
surveyed_at = "ts"
zone_code = "zone"
[sources.items]
safety = { time_band = "any" }
[sources.labels.answer]
"molto sicuro" = 5
"""


def _project(
    root: Path,
    police: str = "",
    sensors: str | None = None,
    police_path: str = "landing/*.csv",
    survey: bool = False,
) -> Config:
    for folder in ("landing", "sensors", "ref", "survey"):
        (root / folder).mkdir(exist_ok=True)
    write_zones(root, [("A", "A", 7.6, 45.0, 0.05), ("B", "B", 7.65, 45.0, 0.05)], 1000)
    (root / "ref" / "locations.csv").write_text("sensor,lat,lon\nS1,45.05,7.62\n", "utf-8")
    text = city_toml() + police_source(police).replace("landing/*.csv", police_path)
    if sensors is not None:
        text += SENSORS.format(extra=sensors)
    if survey:
        text += SURVEY
    (root / "observatory.toml").write_text(text, encoding="utf-8")
    return load_config(root / "observatory.toml")


@dataclass(frozen=True)
class Bad:
    """One bad input: the file landed, and what must come of it."""

    name: str
    content: str | bytes
    #: the batch fails with all of these in its error...
    error: tuple[str, ...] = ()
    #: ...or loads with these quarantine reasons (a substring each, in row order)
    reasons: tuple[str, ...] = ()
    accepted: int = 0
    blank: int = 0
    police: str = ""
    sensors: str | None = None
    survey: bool = False
    police_path: str = "landing/*.csv"
    folder: str = "landing"
    extra_files: dict[str, str] = field(default_factory=dict)


def _rows(*lines: str) -> str:
    return HEADER + "".join(lines)


CATALOGUE = [
    # -- files that cannot be read: a clear error naming the cause and what to do
    Bad(
        "latin1.csv",
        _rows("1,2025-06-01T10:00:00Z,45.05,7.62,né grave\n").encode("latin-1"),
        error=("latin1.csv", "not utf-8 encoded", 'encoding = "latin-1"'),
    ),
    Bad(
        "utf16.csv",
        _rows(GOOD).encode("utf-16"),
        error=("utf16.csv", "not utf-8 encoded", 'encoding = "utf-16"'),
    ),
    Bad(
        "zipped.csv",
        gzip.compress(_rows(GOOD).encode()),
        error=("zipped.csv", "gzip-compressed", 'compression = "gzip"'),
    ),
    Bad(
        "long_field.csv",
        _rows("1,2025-06-01T10:00:00Z,45.05,7.62," + "x" * 5_000_000 + "\n"),
        error=("Maximum line size", "max_line_size = 50", "unclosed quote"),
    ),
    Bad("header_only.csv", HEADER, error=("no data rows",)),
    Bad(
        "broken.json",
        '[{"id": "1", "ts": "2025-06-01T10:00:00Z", "lat": "45.05", "lon": ',
        police='format = "json"',
        police_path="landing/*.json",
        error=("broken.json", "cannot be read as json", "Malformed JSON"),
    ),
    Bad("empty.csv", "", error=("empty.csv", "no data rows")),
    Bad(
        "no_cat.csv",
        "id,ts,lat,lon\n1,2025-06-01T10:00:00Z,45.05,7.62\n",
        error=("missing column(s) ['cat']", "the file has: "),
    ),
    Bad(
        "ragged.csv",
        _rows(GOOD, "2,2025-06-01T10:00:00Z,45.05,7.62,theft,extra,x\n"),
        error=("missing column(s)", "single column", "more or fewer fields"),
    ),
    # -- rows that are read but not accepted: a quarantine row with its reason
    Bad(
        "rows.csv",
        _rows(
            GOOD,
            "2,2025-06-01T10:00:00Z,45.5,9.19,theft\n",
            "3,yesterday,45.05,7.62,theft\n",
            "4,2099-01-01T00:00:00Z,45.05,7.62,theft\n",
            "5,2025-06-01T10:00:00Z,45.05,7.62,alien\n",
            ",2025-06-01T10:00:00Z,45.05,7.62,theft\n",
            "6,2025-06-01T10:00:00Z,,,theft\n",
            "7,2025-06-01T10:00:00Z,north,east,theft\n",
        ),
        accepted=1,
        reasons=(
            "outside the city's extent",
            "not a readable timestamp",
            "in the future",
            "category not in",
            "record id missing",
            "no zone",
            "no zone",
        ),
    ),
    Bad(
        "dupes.csv",
        _rows(GOOD, GOOD, "2,2025-06-01T10:00:00Z,45.05,7.62,theft\n")
        + "2,2025-06-01T11:00:00Z,45.05,7.62,theft\n",
        accepted=1,
        reasons=("exact copy", "different content", "different content"),
    ),
    Bad(
        "readings.csv",
        "sensor,ts,metric,value\nS1,2025-06-01T10:00:00Z,noise_db,300\n"
        "S1,2025-06-01T11:00:00Z,lux,-4\nS1,2025-06-01T12:00:00Z,lux,bright\n"
        "S9,2025-06-01T12:00:00Z,lux,3\nS1,2025-06-01T13:00:00Z,lux,3\n",
        sensors="",
        folder="sensors",
        accepted=1,
        reasons=("noise level outside", "lux reading negative", "reading missing", "sensor not"),
    ),
    Bad(
        "answers.csv",
        "rid,ans,ts,zone\nr1,4,2025-06-01 10:00:00,A\nr2,9,2025-06-01 10:00:00,A\n"
        "r3,abbastanza,2025-06-01 10:00:00,A\nr4,molto sicuro,2025-06-01 10:00:00,Z\n"
        "r5,3,2099-06-01 10:00:00,B\nr6,,2025-06-01 10:00:00,B\n",
        survey=True,
        folder="survey",
        accepted=1,
        reasons=(
            "outside the declared scale",
            "a label not in the label map",
            "zone unknown",
            "in the future",
            "answer missing",
        ),
    ),
    # -- local times at daylight-saving changes (Europe/Rome)
    Bad(
        "spring_forward.csv",
        _rows(
            "1,2025-03-30 02:30:00,45.05,7.62,theft\n", "2,2025-03-30 03:30:00,45.05,7.62,theft\n"
        ),
        accepted=1,
        reasons=("does not exist (clocks went forward",),
    ),
    Bad(
        "fall_back.csv",
        _rows(
            "1,2025-10-26 02:30:00,45.05,7.62,theft\n", "2,2025-10-26 03:30:00,45.05,7.62,theft\n"
        ),
        police='timestamp = { dst_ambiguous = "quarantine" }',
        accepted=1,
        reasons=("occurs twice (clocks went back",),
    ),
    # -- names and shapes that used to lose or mix rows
    Bad(
        "segnalazioni_*.csv",
        _rows(GOOD),
        accepted=1,
        extra_files={
            "segnalazioni_06.csv": _rows(
                "2,2025-06-02T10:00:00Z,45.05,7.62,theft\n",
                "3,2025-06-02T10:00:00Z,45.05,7.62,theft\n",
            )
        },
    ),
    Bad(
        "month[06]?.csv",
        _rows(GOOD),
        accepted=1,
        extra_files={"month0.csv": _rows("2,2025-06-02T10:00:00Z,45.05,7.62,theft\n")},
    ),
    Bad(
        "blank_rows.csv",
        _rows(GOOD, ",,,,\n", "2,2025-06-01T11:00:00Z,45.05,7.62,theft\n", " , , , , \n", ",,,,\n"),
        accepted=2,
        blank=3,
    ),
    Bad(
        "rowid.csv",
        "rowid,id,ts,lat,lon,cat\nr1,1,2025-06-01T10:00:00Z,45.05,7.62,theft\n",
        accepted=1,
    ),
]


@pytest.mark.parametrize("bad", CATALOGUE, ids=lambda b: b.name)
def test_bad_input_gets_a_clear_error_or_a_reason(tmp_path: Path, bad: Bad) -> None:
    cfg = _project(tmp_path, bad.police, bad.sensors, bad.police_path, survey=bad.survey)
    folder = tmp_path / bad.folder
    for name, text in bad.extra_files.items():  # the real files beside an odd name
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / bad.name
    if isinstance(bad.content, bytes):
        path.write_bytes(bad.content)
    else:
        path.write_text(bad.content, encoding="utf-8")
    reports = {Path(r.file).name: r for r in pipeline.ingest(cfg, now=NOW)}
    report = reports[bad.name]
    if bad.error:
        assert report.status == "failed", report
        for text in bad.error:
            assert text in report.error, (text, report.error)
        assert "\n" not in report.error and len(report.error) < 1500  # one readable line
        [(status, error)] = query(
            cfg, "select status, error from ops.batches where file_path = ?", [str(path)]
        )
        assert (status, error) == ("failed", report.error)
        return
    assert report.status == "loaded", report
    [(in_file, read, accepted, quarantined, blank)] = query(
        cfg,
        "select rows_in_file, rows_read, rows_accepted, rows_quarantined, rows_blank "
        "from ops.batches where file_path = ?",
        [str(path)],
    )
    data_lines = len(bad.content.splitlines()) - 1  # every line after the header was read
    assert in_file + blank == data_lines
    assert read == in_file == accepted + quarantined
    assert (accepted, blank) == (bad.accepted, bad.blank)
    kind = "sensors" if bad.sensors is not None else "survey" if bad.survey else "incidents"
    reasons = [
        r
        for (r,) in query(
            cfg,
            f"select q.reason from quarantine.{kind} as q join ops.batches as b using (batch_id) "
            "where b.file_path = ? order by q.row_number",
            [str(path)],
        )
    ]
    assert len(reasons) == len(bad.reasons) == quarantined
    for want, got in zip(bad.reasons, reasons, strict=True):
        assert want in got, (want, got)
    # a file read under its own name only: the rows kept under its batch are its own
    (kept,) = query(
        cfg,
        f"select count(*) from validated.{kind} as v join ops.batches as b using (batch_id) "
        "where b.file_path = ?",
        [str(path)],
    )[0]
    assert kept == accepted


def test_odd_names_do_not_swallow_the_files_beside_them(tmp_path: Path) -> None:
    cfg = _project(tmp_path)
    landing = tmp_path / "landing"
    (landing / "segnalazioni_2025_06.csv").write_text(
        _rows(GOOD, "2,2025-06-02T10:00:00Z,45.05,7.62,theft\n"), encoding="utf-8"
    )
    (landing / "segnalazioni_*.csv").write_text(
        _rows("3,2025-06-03T10:00:00Z,45.05,7.62,theft\n"), encoding="utf-8"
    )
    reports = pipeline.ingest(cfg, now=NOW)
    assert sorted((Path(r.file).name, r.rows_read, r.rows_quarantined) for r in reports) == [
        ("segnalazioni_*.csv", 1, 0),
        ("segnalazioni_2025_06.csv", 2, 0),
    ]
    assert query(
        cfg,
        "select v.incident_id, b.file_path like '%*.csv' from validated.incidents as v "
        "join ops.batches as b using (batch_id) order by 1",
    ) == [("1", False), ("2", False), ("3", True)]


def test_a_file_still_being_copied_waits_and_then_loads_whole(tmp_path: Path) -> None:
    """The adversarial finding: a reading cut to `1` (really `11.0`) was accepted while the
    file was being copied, and the whole file was then quarantined as already ingested."""
    cfg = _project(tmp_path, sensors="settle_seconds = 30")
    path = tmp_path / "sensors" / "readings.csv"
    whole = (
        "sensor,ts,metric,value\nS1,2025-06-01T10:00:00Z,lux,5\nS1,2025-06-01T11:00:00Z,lux,11.0\n"
    )
    path.write_text(whole[: whole.index("11.0") + 1], encoding="utf-8")  # cut after the "1"
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "waiting" and "settle_seconds = 30" in report.error
    assert query(cfg, "select count(*) from ops.batches") == [(0,)]
    assert not report.rows_read
    path.write_text(whole, encoding="utf-8")  # the copy finishes...
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "waiting"  # ...and was just changed: still waiting
    past = time.time() - 60
    os.utime(path, (past, past))  # a minute later, nobody touched it
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.status, report.rows_accepted, report.rows_quarantined) == ("loaded", 2, 0)
    assert query(cfg, "select value from validated.sensors order by measured_at") == [
        (5.0,),
        (11.0,),
    ]


def test_a_file_that_changes_while_it_is_read_waits(tmp_path: Path, monkeypatch) -> None:
    """With no settle time, a file that grows between the start of its hash and the end of
    its read is still being written: it waits, nothing of it is recorded."""
    cfg = _project(tmp_path, sensors="")
    path = tmp_path / "sensors" / "readings.csv"
    path.write_text("sensor,ts,metric,value\nS1,2025-06-01T10:00:00Z,lux,1", encoding="utf-8")
    real_hash = ingest_module.file_hash

    def hash_while_the_copy_goes_on(p: Path) -> str:
        digest = real_hash(p)
        with p.open("a", encoding="utf-8") as fh:  # the copier writes the rest meanwhile
            fh.write("1.0\nS1,2025-06-01T11:00:00Z,lux,12\n")
        return digest

    monkeypatch.setattr(ingest_module, "file_hash", hash_while_the_copy_goes_on)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "waiting" and "changed while it was being read" in report.error
    assert query(cfg, "select count(*) from ops.batches") == [(0,)]
    monkeypatch.setattr(ingest_module, "file_hash", real_hash)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.status, report.rows_accepted) == ("loaded", 2)
    assert query(cfg, "select value from validated.sensors order by 1") == [(11.0,), (12.0,)]


def test_marker_completion(tmp_path: Path) -> None:
    cfg = _project(tmp_path, police='completion = "marker"\nmarker = "{name}.done"')
    path = tmp_path / "landing" / "a.csv"
    path.write_text(_rows(GOOD), encoding="utf-8")
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "waiting" and "a.csv.done" in report.error
    marker = tmp_path / "landing" / "a.csv.done"
    marker.write_text("", encoding="utf-8")
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.status, report.rows_accepted) == ("loaded", 1)


def test_a_folder_marker_is_not_data_and_a_file_changed_after_it_waits(tmp_path: Path) -> None:
    cfg = _project(tmp_path, police='completion = "marker"', police_path="landing/*")
    marker = tmp_path / "landing" / "_SUCCESS"
    marker.write_text("", encoding="utf-8")
    past = time.time() - 60
    os.utime(marker, (past, past))
    path = tmp_path / "landing" / "a.csv"
    path.write_text(_rows(GOOD), encoding="utf-8")  # written after the marker
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "waiting" and "changed after its marker" in report.error
    marker.touch()
    [report] = pipeline.ingest(cfg, now=NOW)  # the marker itself is not a landing file
    assert report.status == "loaded"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # the default: a nonexistent time is quarantined, a repeated one is the first
        (
            "",
            [
                ("2", "2025-03-30 01:30"),
                ("3", "2025-10-26 00:30"),
                ("4", "2025-10-26 02:30"),
                ("5", "2025-10-26 01:30"),
            ],
        ),
        (
            'timestamp = { dst_nonexistent = "shift_forward", dst_ambiguous = "latest" }',
            [
                ("1", "2025-03-30 01:30"),
                ("2", "2025-03-30 01:30"),
                ("3", "2025-10-26 01:30"),
                ("4", "2025-10-26 02:30"),
                ("5", "2025-10-26 01:30"),
            ],
        ),
    ],
)
def test_dst_policies_for_incidents(tmp_path: Path, extra: str, expected: list) -> None:
    cfg = _project(tmp_path, police=extra)
    (tmp_path / "landing" / "a.csv").write_text(
        _rows(
            "1,2025-03-30 02:30:00,45.05,7.62,theft\n",  # never happened in Rome
            "2,2025-03-30 03:30:00,45.05,7.62,theft\n",
            "3,2025-10-26 02:30:00,45.05,7.62,theft\n",  # happened twice
            "4,2025-10-26 03:30:00,45.05,7.62,theft\n",
            "5,2025-10-26T02:30:00+01:00,45.05,7.62,theft\n",  # an offset: exact, untouched
        ),
        encoding="utf-8",
    )
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.rows_accepted + report.rows_quarantined == 5
    assert (
        query(
            cfg,
            "select incident_id, strftime(occurred_at at time zone 'UTC', '%Y-%m-%d %H:%M') "
            "from validated.incidents order by 1",
        )
        == expected
    )


def test_a_sensors_fall_back_hour_is_two_hours_not_a_duplicate(tmp_path: Path) -> None:
    """Hourly readings on the fall-back night: 02:00 local comes twice, once per real hour.
    By file order the first is summer time (00:00 UTC), the second winter time (01:00 UTC)."""
    cfg = _project(tmp_path, sensors="")
    (tmp_path / "sensors" / "night.csv").write_text(
        "sensor,ts,metric,value\n"
        "S1,2025-10-26 01:00:00,lux,1\nS1,2025-10-26 01:00:00,noise_db,40\n"
        "S1,2025-10-26 02:00:00,lux,2\nS1,2025-10-26 02:00:00,noise_db,41\n"
        "S1,2025-10-26 02:00:00,lux,3\nS1,2025-10-26 02:00:00,noise_db,42\n"
        "S1,2025-10-26 03:00:00,lux,4\nS1,2025-10-26 03:00:00,noise_db,43\n",
        encoding="utf-8",
    )
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_accepted, report.rows_quarantined) == (8, 0), report
    assert query(
        cfg,
        "select strftime(measured_at at time zone 'UTC', '%H:%M'), value from validated.sensors "
        "where metric = 'lux' order by measured_at",
    ) == [("23:00", 1.0), ("00:00", 2.0), ("01:00", 3.0), ("02:00", 4.0)]


def test_a_wide_sensor_file_infers_the_fall_back_hour_per_column(tmp_path: Path) -> None:
    """One column per sensor (unpivoted): each column is its own series."""
    cfg = _project(tmp_path)
    (tmp_path / "ref" / "locations.csv").write_text(
        "sensor,lat,lon\nS1,45.05,7.62\nS2,45.05,7.67\n", encoding="utf-8"
    )
    (tmp_path / "observatory.toml").write_text(
        city_toml() + '\n[[sources]]\nname = "wide"\nkind = "sensors"\npath = "sensors/*.csv"\n'
        'metrics = ["footfall"]\n'
        'unpivot = { columns = ["S1", "S2"], name_field = "sensor_id", value_field = "value" }\n'
        '[sources.columns]\nmeasured_at = "ts"\n'
        '[sources.locations]\npath = "ref/locations.csv"\nsensor_id = "sensor"\n'
        'latitude = "lat"\nlongitude = "lon"\n',
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "observatory.toml")
    (tmp_path / "sensors" / "wide.csv").write_text(
        "ts,S1,S2\n2025-10-26 02:00:00,10,20\n2025-10-26 02:00:00,11,21\n", encoding="utf-8"
    )
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (4, 4, 0)
    assert query(
        cfg,
        "select sensor_id, strftime(measured_at at time zone 'UTC', '%H:%M'), value "
        "from validated.sensors order by 1, 2",
    ) == [
        ("S1", "00:00", 10.0),
        ("S1", "01:00", 11.0),
        ("S2", "00:00", 20.0),
        ("S2", "01:00", 21.0),
    ]
