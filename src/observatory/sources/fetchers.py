"""Fetchers: bring data that lives behind a protocol (an open-data API) into landing.

A fetcher is one function `(url, options, dest_dir) -> Path` that writes what it fetched
as a newline-delimited JSON file in the source's landing folder and returns its path. From
there the file is ingested like any other (format `json`), so a fetch that returns the same
rows as last time is the same batch and adds nothing. Built in: `socrata`, for paged
Socrata-style APIs (`$limit` / `$offset`, as the Chicago and Melbourne portals serve).
Others register under the `observatory.fetchers` entry-point group.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from observatory.sources.plugins import PluginNotFound, load_plugin
from observatory.sources.readers import BatchError

log = logging.getLogger(__name__)

Fetcher = Callable[[str, dict[str, Any], Path], Path]
_MAX_PAGES = 10_000


def _get_json(url: str, timeout: float) -> Any:
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise BatchError(f"{url}: a fetched source URL must be http:// or https://")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked above)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        return json.load(response)


def fetch_socrata(url: str, options: dict[str, Any], dest_dir: Path) -> Path:
    """Fetch every page of a Socrata-style resource into one JSON-lines landing file.

    Options: `page_size` (default 1000), `params` (extra query parameters such as
    `$where` or `$order`; an `$order` keeps paging stable), `timeout` seconds (30).

    Raises:
        BatchError: the server answered with something other than a JSON array, or failed.
    """
    page_size = int(options.get("page_size", 1000))
    timeout = float(options.get("timeout", 30))
    params = dict(options.get("params", {}))
    rows: list[dict[str, Any]] = []
    for page in range(_MAX_PAGES):
        query = urllib.parse.urlencode({**params, "$limit": page_size, "$offset": page * page_size})
        page_url = f"{url}{'&' if '?' in url else '?'}{query}"
        try:
            batch = _get_json(page_url, timeout)
        except (OSError, json.JSONDecodeError) as exc:
            raise BatchError(f"{page_url}: fetch failed: {exc}") from exc
        if not isinstance(batch, list):
            raise BatchError(
                f"{page_url}: expected a JSON array of records, got {type(batch).__name__}"
            )
        rows.extend(batch)
        if len(batch) < page_size:
            break
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    dest_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    existing = sorted(dest_dir.glob(f"*-{digest}.jsonl"))
    if existing:
        log.info("%s: same %d rows as %s; nothing new", url, len(rows), existing[0].name)
        return existing[0]
    path = dest_dir / f"{stamp}-{digest}.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    log.info("%s: fetched %d rows in %d page(s) into %s", url, len(rows), page + 1, path)
    return path


_FETCHERS: dict[str, Fetcher] = {"socrata": fetch_socrata}


def get_fetcher(protocol: str) -> Fetcher:
    """The fetcher for a protocol: built in, or registered under `observatory.fetchers`."""
    try:
        fetcher: Fetcher = load_plugin("observatory.fetchers", protocol, _FETCHERS)
    except PluginNotFound as exc:
        raise BatchError(str(exc)) from None
    return fetcher
