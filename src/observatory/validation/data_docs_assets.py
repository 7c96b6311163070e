"""Data Docs that open without the internet: GX's CDN scripts and styles, served locally.

GX's page templates load jQuery, Bootstrap, bootstrap-table, Font Awesome, Vega and five
more from public CDNs, and its logo from a public bucket. On a city's internal network
without internet access the pages then render unstyled, with no tables or charts. So the
same files, at the versions GX asks for, come from the npm registry and ship with the
package (`vendor/`), and every build of the site copies them into `static/vendor/` and
rewrites the pages to reference them by relative path (they open from a file share too).

`vendor/` holds:
- `package.json` (exact versions; vega, vega-lite and vega-embed at the newest release of
  the major version GX names), `package-lock.json` (npm's integrity hashes) and `.npmrc`
  (GX pairs Bootstrap 4.3.1 with popper.js 1.12.9, below Bootstrap's declared peer range:
  npm is told to accept what GX uses);
- `assets.json`: each CDN address GX writes, the package file that replaces it, and its
  SHA-256 (tests/test_data_docs_offline.py checks the files against it);
- `files/`: those files, in their packages' folder layout (Font Awesome's CSS finds its
  fonts in `../webfonts/`);
- `LICENSES.txt`: the licence of every package installed with them (all permissive: MIT,
  BSD-3-Clause, ISC, Apache-2.0; Font Awesome's icons CC BY 4.0 and fonts OFL 1.1). It is
  copied into the site beside the files.

To change a version: edit `vendor/package.json`, then `make data-docs-assets` (runs
`python -m observatory.validation.data_docs_assets`, which needs npm: it updates the lock,
runs `npm ci` from it in a scratch folder, copies the files and rewrites `assets.json`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VENDOR = Path(__file__).with_name("vendor")
#: Where the files go inside a Data Docs site.
SITE_FOLDER = "static/vendor"
_LOCK_FILES = ("package.json", "package-lock.json", ".npmrc")
#: A resource a page loads from elsewhere: <script src>, <link href>, <img src>, CSS url().
_EXTERNAL = re.compile(
    r"<(?:script|link|img)\b[^>]*?\b(?:src|href)=[\"']((?:https?:)?//[^\"']+)"
    r"|url\(\s*[\"']?((?:https?:)?//[^\"')]+)"
)
_SRI = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')


def manifest() -> dict[str, Any]:
    """`vendor/assets.json`: the CDN addresses GX writes and the files that replace them."""
    return json.loads((VENDOR / "assets.json").read_text(encoding="utf-8"))


def sha256(path: Path) -> str:
    """The SHA-256 of a file, as hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install(site_dir: Path) -> Path:
    """Copy the vendored files and their licences into `site_dir/static/vendor`.

    Returns:
        The folder they were copied to.
    """
    target = site_dir / SITE_FOLDER
    for entry in manifest()["files"]:
        source = VENDOR / "files" / entry["file"]
        dest = target / entry["file"]
        if not dest.is_file() or dest.stat().st_size != source.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
    shutil.copyfile(VENDOR / "LICENSES.txt", target / "LICENSES.txt")
    return target


def _relative(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def _localised(text: str, page: Path, site_dir: Path, files: list[dict[str, Any]]) -> str:
    """A page (or style sheet) with every known CDN address replaced by a relative path."""
    vendor = _relative(site_dir / SITE_FOLDER, page)
    for entry in files:
        for url in entry["urls"]:
            if url in text:
                local = f"{vendor}/{entry['file']}"
                # Subresource integrity and CORS mode are for cross-origin copies: a page
                # opened from a file has no origin, and the browser would refuse the file.
                text = re.sub(
                    rf"<(script|link)\b[^>]*{re.escape(url)}[^>]*>",
                    lambda m, u=url, loc=local: _SRI.sub("", m.group(0)).replace(u, loc),
                    text,
                )
                text = text.replace(url, local)
    images = _relative(site_dir / "static" / "images", page)
    # GX's own images, by the page's real depth (its favicon link is one level short on
    # validation pages, whose folders nest one deeper than its templates count)
    text = re.sub(r"(?<=[\"'(])(?:\./|(?:\.\./)+)?static/images/", images + "/", text)
    for prefix, names in manifest()["images"].items():
        text = re.sub(
            re.escape(prefix) + r"([\w.-]+)(\?[^\"')\s]*)?",
            lambda m, n=names, i=images: f"{i}/{n.get(m.group(1), n['*'])}",
            text,
        )
    return text


def localise(site_dir: Path) -> list[str]:
    """Rewrite every page and style sheet of a built site to load only its own files.

    Returns:
        External resources still referenced (each as `page: address`); none with the GX
        version whose templates `assets.json` was made for.
    """
    files = manifest()["files"]
    left = []
    pages = [*site_dir.rglob("*.html"), *(site_dir / "static" / "styles").glob("*.css")]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        done = _localised(text, page, site_dir, files)
        if done != text:
            page.write_text(done, encoding="utf-8")
        for match in _EXTERNAL.finditer(done):
            left.append(f"{page.relative_to(site_dir)}: {match.group(1) or match.group(2)}")
    if left:
        log.warning(
            "Data Docs still load %d resource(s) from the internet, e.g. %s: add them to "
            "%s (docs/validation.md, 'Offline Data Docs')",
            len(left),
            left[0],
            VENDOR / "assets.json",
        )
    return left


def update(npm: str = "npm") -> None:
    """Re-vendor from the npm registry: the lock brought up to `vendor/package.json`, `npm
    ci` from it in a scratch folder, then the files copied and hashed into `vendor/`.

    Run by `make data-docs-assets` after a version in `vendor/package.json` changed. Needs
    npm; nothing else does.
    """
    spec = manifest()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for name in _LOCK_FILES:
            shutil.copyfile(VENDOR / name, work / name)
        quiet = ["--ignore-scripts", "--no-audit", "--no-fund"]
        # the lock follows package.json (a no-op when they agree), then install from it
        install = [npm, "install", "--package-lock-only", *quiet]
        subprocess.run(install, cwd=work, check=True)  # noqa: S603 (npm, fixed args, no shell)
        shutil.copyfile(work / "package-lock.json", VENDOR / "package-lock.json")
        subprocess.run([npm, "ci", *quiet], cwd=work, check=True)  # noqa: S603 (npm, fixed args, no shell)
        modules = work / "node_modules"
        shutil.rmtree(VENDOR / "files", ignore_errors=True)
        for entry in spec["files"]:
            package = json.loads((modules / entry["package"] / "package.json").read_text())
            dest = VENDOR / "files" / entry["file"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(modules / entry["package"] / entry["path"], dest)
            entry.update(version=package["version"], sha256=sha256(dest))
        (VENDOR / "LICENSES.txt").write_text(_licences(modules, spec), encoding="utf-8")
    (VENDOR / "assets.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")


def _licences(modules: Path, spec: dict[str, Any]) -> str:
    """Every installed package's licence text, by name and version, in one file."""
    parts = [spec["licences_preamble"]]
    for package_json in sorted(modules.glob("**/package.json")):
        folder = package_json.parent
        if folder.parent.name not in ("node_modules",) and not folder.parent.name.startswith("@"):
            continue  # a package.json inside a package (build/, src/), not a package
        meta = json.loads(package_json.read_text(encoding="utf-8"))
        if "name" not in meta or "version" not in meta:
            continue
        found = sorted(p for p in folder.iterdir() if re.match(r"(?i)licen[cs]e", p.name))
        text = found[0].read_text(encoding="utf-8") if found else ""
        if not text:
            text = spec["licences_missing"].get(meta["name"], "")
        head = f"{meta['name']} {meta['version']} ({meta.get('license', 'see text')})"
        parts.append(f"{'=' * 78}\n{head}\n{'=' * 78}\n{text.strip()}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    update(*(sys.argv[1:2] or []))
    print(f"vendored {len(manifest()['files'])} files into {VENDOR / 'files'}")
