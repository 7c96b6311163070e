"""The serving copy BI tools open, and exports swapped in whole (issue 17, item 4).

Readers are real second processes: a BI tool holding the serving file open must not block
ingest or build, and an export killed at any point leaves the whole old export or the
whole new one, with every file carrying its build."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from observatory import pipeline, publish
from tests.conftest import DemoCity

_READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
def build_id(c):
    return c.execute("select max(build_id) from marts.publication_log").fetchone()[0]
print(build_id(con), flush=True)
sys.stdin.readline()  # hold the file open until told
print(build_id(con), flush=True)
con.close()  # DuckDB shares one open database per path within a process: reconnect
fresh = duckdb.connect(sys.argv[1], read_only=True)
print(build_id(fresh), flush=True)
"""


def _latest_build(cfg) -> str:  # noqa: ANN001
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        return con.execute(
            "select build_id from ops.builds where status = 'succeeded' "
            "order by started_at desc limit 1"
        ).fetchone()[0]


def test_a_reader_of_the_serving_copy_blocks_no_build(demo_copy: DemoCity) -> None:
    cfg = demo_copy.cfg
    old = _latest_build(cfg)
    assert cfg.serving_path.is_file(), "the build publishes the serving copy"
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(cfg.serving_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == old
        # the BI tool holds the serving file: ingest and build still take the warehouse
        pipeline.ingest(cfg)
        pipeline.build(cfg)
        new = _latest_build(cfg)
        assert new != old
        out, _ = reader.communicate("go\n", timeout=60)
    finally:
        reader.kill()
    held, fresh = out.split()
    assert held == old  # the open file is the old copy, whole
    assert fresh == new  # who opens the path now reads the new build
    assert not list(cfg.serving_path.parent.glob("*.tmp*"))
    with duckdb.connect(str(cfg.serving_path), read_only=True) as con:
        for mart in (*pipeline.MART_MODELS, "publication_log"):
            (n,) = con.execute(f"select count(*) from marts.{mart}").fetchone()
            with duckdb.connect(str(cfg.warehouse_path), read_only=True) as wh:
                assert (n,) == wh.execute(f"select count(*) from marts.{mart}").fetchone()


def test_a_reader_of_the_warehouse_itself_would_block_the_build(demo_copy: DemoCity) -> None:
    """Why the serving copy exists: DuckDB's lock on the warehouse stops the writer."""
    cfg = demo_copy.cfg
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(cfg.warehouse_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip()
        with pytest.raises(duckdb.IOException, match="lock"):
            pipeline.ingest(cfg)
    finally:
        reader.kill()
        reader.wait()


def _export_state(link: Path) -> str | None:
    """The build of the export a reader of `link` sees, after checking that it is whole:
    the manifest lists exactly the folder's files, their hashes match, and every file
    names the manifest's build (or, row by row, the earlier build that wrote the row)."""
    if not link.exists():
        return None
    folder = link.resolve()
    manifest = json.loads((folder / publish.MANIFEST_NAME).read_text(encoding="utf-8"))
    build = manifest["build_id"]
    files = {p.name for p in folder.iterdir()} - {publish.MANIFEST_NAME}
    assert files == set(manifest["files"]), "a file that the manifest does not list"
    assert not [f for f in files if f.endswith(".tmp") or f.startswith(".")]
    for name, digest in manifest["files"].items():  # each file is the one that export wrote
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    with duckdb.connect() as con:
        for name in sorted(files):
            path = folder / name
            if name.endswith(".geojson"):
                assert json.loads(path.read_text(encoding="utf-8"))["build_id"] == build
                continue
            reader = "read_parquet" if name.endswith(".parquet") else "read_csv"
            ids = con.execute(f"select distinct build_id from {reader}(?)", [str(path)]).fetchall()
            if name.startswith("publication_log."):  # the log of every build so far
                assert (build,) in ids, (name, ids, build)
            else:  # rows of months a build left as they were keep the build that wrote them
                assert all(i <= build for (i,) in ids), (name, ids, build)
    return build


def test_every_export_file_carries_its_build(demo_copy: DemoCity) -> None:
    cfg = demo_copy.cfg
    link = demo_copy.root / "exports"
    link.mkdir()  # an exports folder from before the link: moved aside, kept as previous
    (link / "zone_index.csv").write_text("from an older version\n", encoding="utf-8")
    written = publish.export(cfg)
    assert link.is_symlink() and all(p.parent == link for p in written)
    (legacy,) = link.with_name("exports.builds").glob("legacy.*")
    assert (legacy / "zone_index.csv").read_text(encoding="utf-8") == "from an older version\n"
    assert _export_state(link) == _latest_build(cfg)
    with duckdb.connect() as con:
        header = con.execute(
            "select column_name from (describe select * from read_csv(?))",
            [str(link / "zone_index.csv")],
        ).fetchall()
    assert ("build_id",) in header


def _point(link: Path, folder: Path) -> None:
    tmp = link.with_name(".test-link")
    os.symlink(os.path.relpath(folder, link.parent), tmp)
    os.replace(tmp, link)


_EXPORT = """
import sys
from observatory.config import load_config
from observatory.publish import export
cfg = load_config(sys.argv[1])
print("go", flush=True)
export(cfg)
print("done", flush=True)
"""


def test_an_export_killed_at_any_point_leaves_the_old_or_the_new_one(
    demo_copy: DemoCity,
) -> None:
    cfg = demo_copy.cfg
    link = demo_copy.root / "exports"
    publish.export(cfg)
    old = _export_state(link)
    pipeline.build(cfg)  # a new build: the next export is of another build_id
    new = _latest_build(cfg)
    assert new != old

    def start() -> tuple[subprocess.Popen, float]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _EXPORT, str(cfg.base_dir / "observatory.toml")],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "go"
        return proc, time.perf_counter()

    # how long an export takes, without a kill (then back to the old export, as a kill
    # test must start from one)
    proc, began = start()
    assert proc.stdout.readline().strip() == "done"
    duration = time.perf_counter() - began
    proc.wait()
    assert _export_state(link) == new
    builds = link.with_name("exports.builds")
    (old_folder,) = (p for p in builds.iterdir() if p.name.startswith(f"{old}."))
    seen = set()
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9, 1.1):
        _point(link, old_folder)  # every kill starts from the old export
        assert _export_state(link) == old
        proc, began = start()
        time.sleep(max(0.0, fraction * duration - (time.perf_counter() - began)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = _export_state(link)
        assert state in (old, new), state
        seen.add(state)
    assert old in seen, "no kill landed before the swap: the test proved nothing"
    # the next export completes and clears what the killed ones left
    publish.export(cfg)
    assert _export_state(link) == new
    assert not [p for p in builds.iterdir() if p.name.endswith(".tmp")]
    assert len([p for p in builds.iterdir()]) <= 2
