"""The HTML report, opened in a real browser (headless Chromium), and the GeoJSON export.

Chromium comes from Debian (`apt-get install -y chromium`, done by .ci/run). Without it the
browser tests skip on a developer machine, but fail in CI (`CI` set), where it must exist.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from observatory.cli import app
from observatory.config import ConfigError, load_config
from observatory.publish import GEOJSON_NAME, export
from observatory.report import ReportError, build_report, write_report
from observatory.zones import load_zones
from tests.conftest import DemoCity

REPO = Path(__file__).resolve().parents[1]
README_SHOT = REPO / "docs" / "img" / "report.png"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
_VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; skip without it, unless in CI, where it must be installed."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but chromium is missing: .ci/run must `apt-get install chromium`")
    pytest.skip("chromium is not installed (apt-get install -y chromium): browser checks skipped")


@dataclass
class Browser:
    """Runs headless Chromium on files, each run with a new empty profile."""

    binary: str
    workdir: Path

    def run(self, url: str, *args: str, name: str) -> subprocess.CompletedProcess[str]:
        profile = self.workdir / f"profile-{name}"
        profile.mkdir()
        return subprocess.run(
            [self.binary, *FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )

    def dom(self, url: str, name: str, netlog: Path | None = None) -> str:
        """The page's DOM after its scripts ran (`--dump-dom`)."""
        extra = [f"--log-net-log={netlog}"] if netlog else []
        return self.run(url, "--dump-dom", *extra, name=name).stdout


def page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked for (not file://); browser-internal traffic is ignored."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        from_page = str(params.get("network_isolation_key", "")).startswith("file://")
        if event["type"] == start and from_page and not params["url"].startswith("file:"):
            urls.append(params["url"])
    return urls


class Elements(HTMLParser):
    """Start tags of a document with their attributes and the ids of their ancestors."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
        self._stack: list[tuple[str, str]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.found.append((tag, a, tuple(i for _, i in self._stack if i)))
        if tag not in _VOID:
            self._stack.append((tag, a.get("id", "")))

    def handle_endtag(self, tag: str) -> None:
        while self._stack and self._stack.pop()[0] != tag:
            pass

    def inside(self, ancestor_id: str, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        """Elements `tag` (with class token `cls`) inside the element with id `ancestor_id`."""
        return [
            a
            for t, a, ids in self.found
            if t == tag
            and ancestor_id in ids
            and (cls is None or cls in a.get("class", "").split())
        ]


@pytest.fixture(scope="module")
def report(demo_city: DemoCity, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo city's report for its latest month."""
    return write_report(demo_city.cfg, target=tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Browser:
    return Browser(chromium, tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="module")
def night(browser: Browser, report: Path) -> tuple[Elements, Path]:
    """The report as drawn by Chromium (default band: night), and the run's network log."""
    netlog = browser.workdir / "night.netlog.json"
    return Elements(browser.dom(report.as_uri(), "night", netlog)), netlog


def _latest(demo_city: DemoCity, sql: str) -> int:
    with demo_city.connect() as con:
        return con.execute(
            sql + " and period_start = (select max(period_start) from marts.zone_index)"
        ).fetchall()[0][0]


def test_map_and_charts_render_in_chromium(night: tuple[Elements, Path], demo_city) -> None:
    dom, _ = night
    body = next(a for t, a, _ in dom.found if t == "body")
    assert body.get("data-rendered") == "ok", "the report's script failed"
    assert not [a for t, a, _ in dom.found if a.get("id") == "render-error"]
    with demo_city.connect() as con:
        (zones,) = con.execute("select count(distinct zone_id) from marts.zone_index").fetchone()
    assert len(dom.inside("map-svg", "path", "zone")) == zones
    published = _latest(
        demo_city, "select count(index_value) from marts.zone_index where time_band = 'night'"
    )
    assert len(dom.inside("ranking-svg", "g", "rank-row")) == published > 0
    assert len(dom.inside("ranking-svg", "line")) > published  # intervals and axis
    gaps = _latest(demo_city, "select count(index_gap) from marts.day_night_gap where true")
    assert len(dom.inside("gap-svg", "g", "gap-row")) == gaps > 0
    assert len(dom.inside("multiples", "div", "multiple")) == zones
    assert dom.inside("multiples", "polyline", "series")
    # every significant change of the night series is ringed, and nothing else (the demo's
    # truth is static, so under FDR control there may be none at all)
    with demo_city.connect() as con:
        (flagged,) = con.execute(
            "select count(*) from marts.zone_trends t join marts.zone_index i "
            "using (zone_id, time_band, period_start) "
            "where t.time_band = 'night' and t.is_change_significant and i.index_value is not null"
        ).fetchone()
    assert len(dom.inside("multiples", "circle", "significant")) == flagged
    assert len(dom.inside("quality", "tr")) >= 1 + len(demo_city.cfg.sources)


def test_suppressed_cells_are_hatched_and_synthetic_data_is_marked(night, demo_city) -> None:
    dom, _ = night
    withheld = _latest(
        demo_city,
        "select count(*) from marts.zone_index where is_suppressed and time_band = 'night'",
    )
    hatched = [a for a in dom.inside("map-svg", "path", "zone") if a["fill"] == "url(#hatch)"]
    assert len(hatched) == withheld > 0
    assert [a for t, a, _ in dom.found if a.get("id") == "synthetic-banner"]
    assert dom.inside("map-svg", "text", "watermark")


def test_day_night_switch(browser: Browser, report: Path, night) -> None:
    day = Elements(browser.dom(report.as_uri() + "#band=day", "day"))
    by_band = {
        "day": {a["data-zone"]: a["fill"] for a in day.inside("map-svg", "path", "zone")},
        "night": {a["data-zone"]: a["fill"] for a in night[0].inside("map-svg", "path", "zone")},
    }
    assert by_band["day"].keys() == by_band["night"].keys()
    assert by_band["day"] != by_band["night"], "the switch recolours the map"
    pressed = [
        a["data-band"] for a in day.inside("report", "button") if a["aria-pressed"] == "true"
    ]
    assert pressed == ["day"]


def test_no_request_leaves_the_machine(report: Path, night) -> None:
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"<link\b|@import|url\(\s*['\"]?https?:", text, re.I)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    dom, netlog = night
    assert not [
        a for _, a, _ in dom.found if re.match(r"https?:", a.get("src", "") + a.get("href", ""))
    ]
    assert page_requests(netlog) == []


def test_the_network_check_sees_a_request(browser: Browser, tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<img src="http://example.invalid/x.png"><p>x</p>', encoding="utf-8")
    netlog = tmp_path / "leaky.netlog.json"
    browser.dom(leaky.as_uri(), "leaky", netlog)
    assert page_requests(netlog) == ["http://example.invalid/x.png"]


def test_screenshot(browser: Browser, report: Path) -> None:
    shot = browser.workdir / "report.png"
    browser.run(report.as_uri(), "--window-size=1280,2300", f"--screenshot={shot}", name="shot")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2300)
    assert len(data) > 100_000, "a blank page compresses to a few kB"
    # The README's picture: refreshed on request, or made when missing (not on every run,
    # which would dirty the checkout with a new build date each time).
    if os.environ.get("OBSERVATORY_UPDATE_SCREENSHOT") or not README_SHOT.exists():
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SHOT)


def _embedded(text: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S
    )
    assert match
    return json.loads(match.group(1))


def test_report_speaks_the_city_language(report: Path, demo_city: DemoCity) -> None:
    text = report.read_text(encoding="utf-8")
    assert '<html lang="it">' in text
    labels = _embedded(text)["labels"]
    assert labels["night"] == "Notte" and labels["title"].startswith("Osservatorio")
    cfg = load_config(
        demo_city.root / "observatory.toml",
        overrides={"report": {"language": "lv", "labels": {"night": "Nakts"}}},
    )
    with demo_city.connect() as con:
        page, _ = build_report(con, cfg)
    labels = _embedded(page)["labels"]
    assert labels["night"] == "Nakts" and labels["day"] == "Day"  # English for the rest
    bad = load_config(
        demo_city.root / "observatory.toml", overrides={"report": {"labels": {"nigth": "Nakts"}}}
    )
    with demo_city.connect() as con, pytest.raises(ConfigError, match="nigth"):
        build_report(con, bad)


def test_report_holds_only_published_figures(report: Path) -> None:
    data = _embedded(report.read_text(encoding="utf-8"))
    keys: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.update(node.keys())
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    private = {
        "respondent_id",
        "response_id",
        "answer",
        "weight",
        "raw_row",
        "incident_id",
        "latitude",
        "longitude",
        "surveyed_at",
        "occurred_at",
        "file_path",
    }
    assert not private & keys
    assert data["meta"]["is_synthetic"] is True
    assert re.fullmatch(r"cfg-[0-9a-f]{12}", data["meta"]["config_version"])


def test_period_option(demo_city: DemoCity, tmp_path: Path) -> None:
    path = write_report(demo_city.cfg, period="2025-03", target=tmp_path)
    assert path.name == f"report_{demo_city.cfg.city.id}_2025-03.html"
    assert _embedded(path.read_text(encoding="utf-8"))["period"] == "2025-03"
    with demo_city.connect() as con:
        first, last = con.execute(
            "select min(period_start), max(period_start) from marts.zone_index"
        ).fetchone()
    with pytest.raises(ReportError, match=f"{first:%Y-%m} to {last:%Y-%m}"):
        write_report(demo_city.cfg, period="1999-01", target=tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--config",
            str(demo_city.root / "observatory.toml"),
            "--period",
            "March",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "YYYY-MM" in result.output
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--config",
            str(demo_city.root / "observatory.toml"),
            "--out",
            str(tmp_path / "x.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x.html").is_file() and "Report:" in result.output


def _positions(node: list) -> list[tuple[float, float]]:
    if node and isinstance(node[0], int | float):
        return [(node[0], node[1])]
    return [p for part in node for p in _positions(part)]


def test_geojson_export(demo_city: DemoCity, tmp_path: Path) -> None:
    written = export(demo_city.cfg, tmp_path)
    assert tmp_path / GEOJSON_NAME in written
    doc = json.loads(
        (tmp_path / GEOJSON_NAME).read_text(encoding="utf-8"),
        parse_constant=lambda c: pytest.fail(f"{c} is not JSON"),
    )
    assert doc["type"] == "FeatureCollection" and "crs" not in doc  # RFC 7946: WGS84
    zones = load_zones(demo_city.cfg)
    assert sorted(f["properties"]["zone_id"] for f in doc["features"]) == sorted(zones.ids)
    min_lon, min_lat, max_lon, max_lat = zones.extent
    for feature in doc["features"]:
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        points = _positions(feature["geometry"]["coordinates"])
        assert len(points) >= 4
        assert all(min_lon <= x <= max_lon and min_lat <= y <= max_lat for x, y in points)
        props = feature["properties"]
        assert {
            "zone_name",
            "period_start",
            "index_value_day",
            "index_value_night",
            "is_suppressed_night",
            "index_gap",
            "is_synthetic",
        } <= set(props)
        assert props["is_suppressed_night"] or props["index_value_night"] is not None


def test_modelled_cells_are_marked(browser: Browser, demo_copy: DemoCity, tmp_path: Path) -> None:
    # The small demo has no modelled cell in its last month: mark one in a private copy.
    con = duckdb.connect(str(demo_copy.cfg.warehouse_path))
    try:
        (zone,) = con.execute(
            "update marts.zone_index set is_modelled = true where time_band = 'night' "
            "and period_start = (select max(period_start) from marts.zone_index) "
            "and zone_id = (select min(zone_id) from marts.zone_index where index_value is "
            "not null) returning zone_id"
        ).fetchone()
    finally:
        con.close()
    page = write_report(demo_copy.cfg, target=tmp_path / "modelled.html")
    dom = Elements(browser.dom(page.as_uri(), "modelled"))
    modelled = [a["data-zone"] for a in dom.inside("map-svg", "path", "modelled")]
    assert modelled == [zone]
    assert len(dom.inside("map-svg", "path", "zone-overlay")) == 1
    hollow = [a for a in dom.inside("ranking-svg", "circle") if a["fill"] == "#fff"]
    assert len(hollow) == 1


def test_a_provisional_month_says_so(browser: Browser, demo_copy: DemoCity, tmp_path: Path) -> None:
    """The banner names the sources the month still waits for; a final month has none."""
    final = Elements(browser.dom(write_report(demo_copy.cfg, target=tmp_path).as_uri(), "final"))
    assert not [a for t, a, _ in final.found if a.get("id") == "provisional-banner"]
    con = duckdb.connect(str(demo_copy.cfg.warehouse_path))
    try:  # as if the last month's incidents had not landed
        con.execute(
            "update marts.city_summary set is_provisional = true, "
            "awaiting_sources = ['incidents_polizia'] "
            "where period_start = (select max(period_start) from marts.city_summary)"
        )
    finally:
        con.close()
    page = write_report(demo_copy.cfg, target=tmp_path / "provisional.html")
    dom = browser.dom(page.as_uri(), "provisional")
    assert 'id="provisional-banner"' in dom
    banner = dom.split('id="provisional-banner"', 1)[1].split("</div>", 1)[0]
    assert "PROVVISORIO" in banner and "incidents_polizia" in banner  # the demo speaks Italian


def test_text_from_config_cannot_break_out(browser: Browser, demo_city: DemoCity, tmp_path) -> None:
    hostile = "</script><script>document.title='owned'</script><!-- & >"
    cfg = load_config(
        demo_city.root / "observatory.toml", overrides={"report": {"labels": {"title": hostile}}}
    )
    page = write_report(cfg, target=tmp_path / "hostile.html")
    assert hostile not in page.read_text(encoding="utf-8")
    dom_text = browser.dom(page.as_uri(), "hostile")
    dom = Elements(dom_text)
    assert next(a for t, a, _ in dom.found if t == "body").get("data-rendered") == "ok"
    assert "&lt;/script&gt;&lt;script&gt;document.title='owned'" in dom_text  # shown as text
    assert "<title>owned</title>" not in dom_text
