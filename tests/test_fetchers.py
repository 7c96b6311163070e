"""The Socrata-style fetcher against a real HTTP server on loopback, then real ingestion."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from observatory import pipeline
from observatory.config import load_config

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
RECORDS = [
    {
        "id": str(1000 + i),
        "date": f"2025-05-{1 + i % 28:02d}T{i % 24:02d}:15:00.000",
        "primary_type": "THEFT" if i % 3 else "ROBBERY",
        "latitude": "45.05",
        "longitude": "7.62" if i % 2 else "7.67",
    }
    for i in range(2345)
]


class _Portal(BaseHTTPRequestHandler):
    requests: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's API
        parsed = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        type(self).requests.append(query)
        if parsed.path != "/resource/crimes.json":
            self.send_error(404)
            return
        limit, offset = int(query["$limit"]), int(query["$offset"])
        body = json.dumps(RECORDS[offset : offset + limit]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def portal() -> Iterator[str]:
    _Portal.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _project(tmp_path: Path, base_url: str) -> Path:
    ring = [[7.6, 45.0], [7.7, 45.0], [7.7, 45.1], [7.6, 45.1], [7.6, 45.0]]
    zones = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"zone_id": "A"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    (tmp_path / "zones.geojson").write_text(json.dumps(zones), encoding="utf-8")
    (tmp_path / "observatory.toml").write_text(
        f"""
[city]
id = "portal"
name = "Portal"
timezone = "America/Chicago"
latitude = 45.05
longitude = 7.65

[zones]
path = "zones.geojson"

[[sources]]
name = "crimes_api"
kind = "incidents"
format = "json"
path = "landing/api/*.jsonl"
fetch = {{ protocol = "socrata", url = "{base_url}/resource/crimes.json", options = {{ page_size = 1000, params = {{ "$order" = "id" }} }} }}

[sources.columns]
incident_id = "id"
occurred_at = "date"
latitude = "latitude"
longitude = "longitude"
category = "primary_type"
""",
        encoding="utf-8",
    )
    return tmp_path / "observatory.toml"


def test_pages_are_fetched_landed_and_ingested_once(tmp_path: Path, portal: str) -> None:
    cfg = load_config(_project(tmp_path, portal))
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.status, report.rows_read, report.rows_accepted) == ("loaded", 2345, 2345)
    assert [(q["$limit"], q["$offset"], q["$order"]) for q in _Portal.requests] == [
        ("1000", "0", "id"),
        ("1000", "1000", "id"),
        ("1000", "2000", "id"),
    ]
    landed = sorted((tmp_path / "landing" / "api").glob("*.jsonl"))
    assert len(landed) == 1 and len(landed[0].read_text().splitlines()) == 2345

    # The portal has nothing new: the same rows land in the same file, and add nothing.
    [again] = pipeline.ingest(cfg, now=NOW)
    assert again.status == "skipped"
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from validated.incidents").fetchall() == [(2345,)]
    finally:
        con.close()


def test_a_server_error_is_a_clear_batch_failure(tmp_path: Path, portal: str) -> None:
    cfg = load_config(_project(tmp_path, portal + "/missing"))
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "failed"
    assert "fetch failed" in report.error and "404" in report.error


def test_a_fetched_source_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    from observatory.sources.fetchers import fetch_socrata  # noqa: PLC0415
    from observatory.sources.readers import BatchError  # noqa: PLC0415

    secret = tmp_path / "secret.json"
    secret.write_text('[{"a": 1}]', encoding="utf-8")
    with pytest.raises(BatchError, match=r"must be http:// or https://"):
        fetch_socrata(secret.as_uri(), {}, tmp_path / "landing")
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").iterdir())
