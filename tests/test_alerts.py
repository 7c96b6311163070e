"""Alert content and the monitoring checks' findings, without Airflow: what a person reads
(which file, how many rows, why, what to do), a real webhook POST on loopback, freshness
on load time and on data time, and the first run after a load not saying "never loaded".

The alerts' journey through Airflow (SMTP notifier, connections, a held batch) is in
tests/test_dags.py, which owns the process's Airflow configuration.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from observatory import monitoring, pipeline
from observatory.config import Config, load_config
from observatory.ops.alerts import Alert, email_html, links, post_webhook
from observatory.warehouse import connect
from tests.receivers import WebhookSink
from tests.support import city_toml, police_source, write_zones

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
HEADER = "id,ts,lat,lon,cat\n"


@pytest.fixture
def project(tmp_path: Path):
    def make(extra: str = "", monitoring_toml: str = "") -> Config:
        (tmp_path / "landing").mkdir(exist_ok=True)
        write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.05), ("B", "B", 7.65, 45.0, 0.05)], 1000)
        (tmp_path / "observatory.toml").write_text(
            city_toml() + police_source(extra) + monitoring_toml, encoding="utf-8"
        )
        return load_config(tmp_path / "observatory.toml")

    return make


def _land(cfg: Config, name: str, rows: list[str]) -> Path:
    path = cfg.base_dir / "landing" / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _good(n: int, day: str = "2025-06-20") -> list[str]:
    return [f"g{day}{i},{day}T10:{i:02d}:00Z,45.02,7.62,theft" for i in range(n)]


def test_an_alert_is_slack_and_teams_compatible_json_posted_on_loopback() -> None:
    alert = Alert(
        city="tiny",
        headline="tiny.ingest.police: check_batches failed (1 finding(s))",
        dag_id="tiny.ingest.police",
        task_id="check_batches",
        run_id="manual__1",
        findings=[{"check": "hold", "message": "a.csv: held, not published: 5 of 10 rows"}],
        links={"Data Docs": "http://127.0.0.1:8080/observatory/tiny/data-docs/index.html"},
    )
    with WebhookSink() as hook:
        assert post_webhook(hook.url, alert) == 204
        [got] = hook.received
    assert got["content_type"] == "application/json"
    assert got["text"] == alert.text
    assert got["text"].splitlines() == [
        "[observatory tiny] tiny.ingest.police: check_batches failed (1 finding(s))",
        "DAG: tiny.ingest.police / check_batches (run manual__1)",
        "- a.csv: held, not published: 5 of 10 rows",
        "Data Docs: http://127.0.0.1:8080/observatory/tiny/data-docs/index.html",
    ]
    assert got["findings"] == alert.findings and got["task_id"] == "check_batches"


def test_the_email_body_is_escaped_with_clickable_links(project) -> None:
    cfg = project()
    alert = Alert(
        city="tiny",
        headline="x",
        error="<script>alert(1)</script> & more",
        links=links(cfg, "http://127.0.0.1:8080/"),
    )
    body = email_html(alert)
    assert "<script>" not in body and "&lt;script&gt;" in body and "&amp; more" in body
    url = "http://127.0.0.1:8080/observatory/tiny/quarantine"
    assert f'Quarantine: <a href="{url}">{url}</a>' in body


def test_the_first_run_after_loads_does_not_say_never_loaded(project) -> None:
    """The interval of the monitor's first run ended before the city's first batches were
    loaded: as of then the sources were not live yet, which is not "never loaded"."""
    cfg = project()
    _land(cfg, "a.csv", _good(3))
    pipeline.ingest(cfg, now=NOW)
    con = connect(cfg, read_only=True)
    try:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        assert monitoring.check_freshness(con, cfg, before) == []
    finally:
        con.close()


def test_a_source_never_loaded_says_where_it_looked(project) -> None:
    cfg = project()
    pipeline.ingest(cfg, now=NOW)  # creates the warehouse: no file yet
    con = connect(cfg, read_only=True)
    try:
        [finding] = monitoring.check_freshness(con, cfg, dt.datetime.now(dt.UTC))
    finally:
        con.close()
    assert "police: no batch has ever been loaded" in finding.message
    assert str(cfg.base_dir / "landing" / "*.csv") in finding.message


def test_freshness_is_judged_on_data_time_too(project) -> None:
    """Files keep arriving (load time fresh), but their newest record is from June: stale on
    data time; a source allowing that much data age is not."""
    cfg = project()
    _land(cfg, "a.csv", _good(3, "2025-06-01"))
    pipeline.ingest(cfg, now=NOW)
    con = connect(cfg, read_only=True)
    try:
        now = dt.datetime.now(dt.UTC)  # the file was loaded just now
        [finding] = monitoring.check_freshness(con, cfg, now)
        patient = load_config(
            cfg.base_dir / "observatory.toml",
            overrides={
                "sources": [
                    {**cfg.sources[0].model_dump(exclude_defaults=True), "max_data_age_hours": 1e6}
                ]
            },
        )
        assert monitoring.check_freshness(con, patient, now) == []
    finally:
        con.close()
    assert finding.subject == "police" and "its newest record is" in finding.message
    assert "(at 2025-06-01 10:02 UTC) although files keep being loaded" in finding.message
    assert "limit is 3.0 days" in finding.message  # 3 x @daily


def test_a_quarantine_spike_says_which_file_how_many_rows_why_and_what_to_do(project) -> None:
    cfg = project("max_quarantine_share = 1")  # alert, but do not hold
    bad = [f"b{i},2025-06-20T10:00:00Z,45.02,7.62,alien" for i in range(3)]
    path = _land(cfg, "a.csv", _good(7) + bad)
    [report] = pipeline.ingest(cfg, now=NOW)
    con = connect(cfg, read_only=True)
    try:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        [finding] = monitoring.check_quarantine(con, cfg, since, dt.datetime.now(dt.UTC))
    finally:
        con.close()
    assert f"police: 3 of the 10 rows of {path} (30.0%) went to quarantine" in finding.message
    assert "most often: category not in the source's severity list (3 rows)" in finding.message
    assert f"observatory quarantine show --batch {report.batch_id}" in finding.message
    assert f"observatory quarantine release police --batch {report.batch_id}" in finding.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x"])
def test_a_webhook_url_that_is_not_http_is_refused_before_anything_is_opened(url: str) -> None:
    with pytest.raises(ValueError, match=r"only http:// or https://"):
        post_webhook(url, Alert(city="c", headline="h"))
