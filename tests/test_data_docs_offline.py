"""Data Docs open without the internet: every script, style, font and image a page loads is
the site's own, the vendored files are the pinned npm ones, and headless Chromium with every
non-loopback request blocked renders the index, a validation page and a chart with no
failed request.

Chromium comes from Debian (.ci/run installs it); without it the browser tests skip on a
developer machine but fail in CI, as in tests/test_report.py.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from observatory.validation import data_docs_assets
from observatory.validation.data_docs import build_docs
from tests.conftest import DemoCity

VENDOR = data_docs_assets.VENDOR
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=AutofillServerCommunication",  # the browser's own query of forms
    # The network of a city without internet: names resolve to nothing, and whatever is
    # not loopback goes to a proxy that is not there (Chromium bypasses it for loopback).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--virtual-time-budget=15000",
)


class _Resources(HTMLParser):
    """What a page loads: <script src>, <link href> (not <a href>), <img src>."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.classes: list[str] = []
        self.rows = 0  # table rows drawn by bootstrap-table (it numbers them)
        self.body: dict[str, str | None] = {}
        self.outer_tables = 0  # tables for bootstrap-table, not inside another table
        self._depth = 0
        self.feed(text)

    def handle_endtag(self, tag: str) -> None:
        self._depth -= tag == "table"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.outer_tables += self._depth == 0 and a.get("data-toggle") == "table"
            self._depth += 1
        self.rows += tag == "tr" and "data-index" in a
        self.body = a if tag == "body" else self.body
        url = {"script": a.get("src"), "link": a.get("href"), "img": a.get("src")}.get(tag)
        if url:
            self.urls.append(url)
        self.classes.extend((a.get("class") or "").split())


@pytest.fixture(scope="module")
def site(demo_city: DemoCity, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo city's Data Docs, built into a folder of their own."""
    folder = tmp_path_factory.mktemp("offline_docs") / "data_docs"
    cfg = demo_city.cfg.model_copy(
        update={"project": demo_city.cfg.project.model_copy(update={"data_docs": folder})}
    )
    return build_docs(cfg).parent


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_vendored_files_are_the_pinned_npm_files() -> None:
    lock = json.loads((VENDOR / "package-lock.json").read_text(encoding="utf-8"))
    pins = json.loads((VENDOR / "package.json").read_text(encoding="utf-8"))["dependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values()), pins
    licences = (VENDOR / "LICENSES.txt").read_text(encoding="utf-8")
    for entry in data_docs_assets.manifest()["files"]:
        path = VENDOR / "files" / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["file"]
        locked = lock["packages"][f"node_modules/{entry['package']}"]
        assert entry["version"] == locked["version"] == pins[entry["package"]]
        assert locked["integrity"].startswith("sha512-")
        assert f"\n{entry['package']} {entry['version']} (" in licences, entry["package"]


def test_built_pages_load_only_files_of_the_site(site: Path) -> None:
    pages = _pages(site)
    assert len(pages) > 3
    for page in pages:
        for url in _Resources(page.read_text(encoding="utf-8")).urls:
            assert not urlsplit(url).scheme and not url.startswith("//"), f"{page}: {url}"
            target = (page.parent / unquote(url.split("?")[0])).resolve()
            assert target.is_file() and site in target.parents, f"{page}: {url} is missing"
    for css in site.rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        for url in re.findall(r"url\(\s*[\"']?([^\"')]+)", text):
            if url.startswith("data:") or url.endswith(".ttf"):
                continue  # inline images; .ttf is a fallback only older browsers take
            assert not urlsplit(url).scheme, f"{css}: {url}"
            assert (css.parent / url.split("?")[0]).resolve().is_file(), f"{css}: {url}"
    assert (site / data_docs_assets.SITE_FOLDER / "LICENSES.txt").is_file()


def test_localise_reports_an_address_it_does_not_know(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js" integrity="x" '
        'crossorigin="anonymous"></script><script src="https://example.org/new.js"></script>',
        encoding="utf-8",
    )
    left = data_docs_assets.localise(tmp_path)
    assert left == ["index.html: https://example.org/new.js"]
    assert '<script src="static/vendor/jquery/dist/jquery.min.js"></script>' in page.read_text()


# --- in a browser with no way out ------------------------------------------------------


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


class _Handler(http.server.SimpleHTTPRequestHandler):
    served: list[tuple[str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.served.append((unquote(self.path), int(code)))


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[tuple[str, list[tuple[str, int]]]]:
    """The site on a loopback port, with the log of (path, status) of what it served."""
    served: list[tuple[str, int]] = []
    handler = type("Handler", (_Handler,), {"served": served})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()


def _requests(netlog: Path, base: str) -> list[str]:
    """URLs the page asked for (its network isolation key is the page's site); the
    browser's own traffic (updates, accounts), blocked all the same, is not the page's."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    site = base.rsplit(":", 1)[0]  # http://127.0.0.1 (the key has no port)
    return [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start and site in str(e.get("params", {}).get("network_isolation_key"))
    ]


def _open(
    chromium: str, server: tuple[str, list], path: str, workdir: Path
) -> tuple[_Resources, list[str], list[tuple[str, int]]]:
    """The page's DOM after its scripts ran, the URLs requested, and what the server gave."""
    base, served = server
    served.clear()
    name = re.sub(r"\W", "_", path)[-40:]
    netlog, profile = workdir / f"{name}.netlog.json", workdir / f"profile-{name}"
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}"]
        + ["--dump-dom", f"{base}/{path}"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return _Resources(done.stdout), _requests(netlog, base), list(served)


def _no_failed_requests(base: str, requested: list[str], served: list[tuple[str, int]]) -> None:
    outside = [u for u in requested if not u.startswith(base) and not u.startswith("data:")]
    assert not outside, f"requests that leave the machine: {outside}"
    failed = [(path, code) for path, code in served if code != 200]
    assert not failed, f"requests that failed: {failed}"
    assert len(served) >= 15  # the page, its 15 vendored scripts and styles, images


def test_index_renders_offline(chromium: str, server, site: Path, tmp_path: Path) -> None:
    dom, requested, served = _open(chromium, server, "index.html", tmp_path)
    _no_failed_requests(server[0], requested, served)
    assert "bootstrap-table" in dom.classes, "bootstrap-table did not run: no table drawn"
    runs = len(list((site / "validations").rglob("*.html")))
    suites = len(list((site / "expectations").rglob("*.html")))
    # the suites' table and the validations' (its first page of at most 10 rows)
    assert dom.rows == suites + min(runs, 10) and runs > 0
    assert any(path.endswith(".woff2") for path, _ in served), "no icon font loaded"


def test_a_validation_page_renders_offline(
    chromium: str, server, site: Path, tmp_path: Path
) -> None:
    page = next((site / "validations").rglob("*.html")).relative_to(site).as_posix()
    dom, requested, served = _open(chromium, server, page, tmp_path)
    _no_failed_requests(server[0], requested, served)
    # bootstrap-table draws each outer table (one inside a cell is drawn as the cell's HTML)
    tables = _Resources((site / page).read_text(encoding="utf-8")).outer_tables
    assert dom.classes.count("bootstrap-table") == tables > 0, "bootstrap-table drew no table"


def test_a_chart_renders_offline(chromium: str, server, site: Path, tmp_path: Path) -> None:
    """GX draws charts with vega-embed (none of the demo's expectations has one): a page
    loading the same vendored scripts as the index draws a chart the way GX's graph
    template does."""
    index = (site / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script src="[^"]*vega[^"]*"></script>', index)
    assert len(scripts) == 3
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": [{"band": "day", "n": 12}, {"band": "night", "n": 7}]},
        "mark": "bar",
        "encoding": {"x": {"field": "band"}, "y": {"field": "n", "type": "quantitative"}},
    }
    (site / "chart_probe.html").write_text(
        '<!doctype html><html><head><link rel="icon" href="data:,">'
        + "".join(scripts)
        + "</head><body>"
        '<div id="chart"></div><script>vegaEmbed("#chart", '
        + json.dumps(spec)
        + ', {renderer: "svg", actions: false}).then(() => document.body.dataset.drawn = "ok")'
        ".catch(e => document.body.dataset.drawn = String(e));</script></body></html>",
        encoding="utf-8",
    )
    dom, requested, served = _open(chromium, server, "chart_probe.html", tmp_path)
    outside = [u for u in requested if not u.startswith(server[0])]
    assert not outside and all(code == 200 for _, code in served) and len(served) == 4, served
    assert dom.body.get("data-drawn") == "ok", dom.body
    assert "mark-rect" in dom.classes, "vega drew no bars"
