"""Config hardening (issue 17, item 7): every value that reaches SQL is checked or bound,
and no project file, however wrong, ends in a traceback.

The targeted tests replay what an adversarial tester did (a `COPY` smuggled through
`memory_limit`, a suite name that climbs out of `expectations/`, NaN labels, a CRS that
does not exist, `metrics = []`). The fuzz test then mutates the demo project and the
examples' files a few hundred times (wrong types, NaN/inf, empty lists, huge numbers,
unicode, path traversal, SQL fragments), seeded so that a failure replays: loading either
succeeds or raises `ConfigError`; a sample of the files that load goes through
`observatory check-config` (in process) and `observatory run` (a subprocess, on a one-month
demo city, within a time limit), and neither prints a traceback.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import random
import shutil
import subprocess
import sys
import time
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from observatory.cli import app
from observatory.config import ConfigError, load_config
from observatory.demo.generator import generate
from observatory.validation.suites import suite_path
from observatory.warehouse import connect, set_memory_limit

REPO = Path(__file__).resolve().parents[1]
OBSERVATORY = Path(sys.executable).parent / "observatory"
SEED = 17_007
N_CASES = 400


@pytest.fixture(scope="module")
def tiny_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-month demo city: landing files only, nothing ingested."""
    root = tmp_path_factory.mktemp("tiny_city")
    generate(root, scale="small-month")
    return root


def _doc(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "observatory.toml").read_text(encoding="utf-8"))


# --- a minimal TOML writer (the standard library only reads TOML) ---------------------------


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(key: str) -> str:
    bare = key and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in key)
    return key if bare else _toml_str(key)


def _toml_number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _toml_number(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def _toml(doc: dict[str, Any]) -> str:
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in doc.items())


# --- the mutator ---------------------------------------------------------------------------

NASTY: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    0,
    -1,
    10**30,
    -(10**18),
    1e308,
    -1e308,
    1.5,
    "",
    " ",
    "ñ☃🙂 Dora",
    "a\u0000b",
    "../../../../etc/passwd",
    "/etc/passwd",
    "{data_root}/../../..",
    "x'; copy (select 'pwned') to 'PWNED.csv' (format csv); --",
    '"); drop table ops.batches; --',
    "true), false) from batch; select 1 --",
    "*",
    "[",
    "%",
    "%Q%Q",
    "EPSG:999999",
    "400MB'; select 42; --",
    "-1GB",
    "25:00",
    "2024-13-01",
    True,
    [],
    {},
    [1, "a"],
    [[]],
    {"x": math.nan},
    {"k": {"x": math.inf}},
    dt.date(1, 1, 1),
    dt.date(9999, 12, 31),
    dt.time(0, 0),
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location in the document, containers and leaves."""
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _mutate(doc: dict[str, Any], rng: random.Random) -> str:
    """Change the document in place in one random way; say what was done."""
    path = rng.choice(list(_paths(doc)))
    parent, key = _parent(doc, path), path[-1]
    old = parent[key]
    where = ".".join(map(str, path))
    roll = rng.random()
    if isinstance(parent, dict) and roll < 0.20:
        if roll < 0.10:
            del parent[key]
            return f"del {where}"
        # an unknown key, or any text as a key (a label, alias or severity)
        new_key = (
            f"{key}_typo"
            if roll < 0.15
            else rng.choice([k for k in NASTY if k and isinstance(k, str)])
        )
        parent[new_key] = parent.pop(key)
        return f"{where} -> key {new_key!r}"
    if roll < 0.30 and isinstance(old, list | dict):
        new = type(old)()
    elif roll < 0.45 and isinstance(old, str):
        new = old + rng.choice(["'", '"', "; --", "/../..", "\u00e9\u0301", " or 1=1"])
    elif roll < 0.55 and isinstance(old, int | float) and not isinstance(old, bool):
        new = rng.choice([old * 10**9, -old, old + 0.5, math.nan, math.inf])
    else:
        new = copy.deepcopy(rng.choice(NASTY))
    parent[key] = new
    return f"{where} = {new!r}"


def _cases(bases: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    rng = random.Random(SEED)
    names = sorted(bases)
    for i in range(N_CASES):
        base = rng.choice(names)
        doc = copy.deepcopy(bases[base])
        steps = [_mutate(doc, rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        yield base, f"case {i} ({base}): " + "; ".join(steps), doc


def _load(folder: Path, doc: dict[str, Any]) -> tuple[str, Any]:
    """('ok', Config), ('config-error', message) or ('crash', traceback)."""
    path = folder / "observatory.toml"
    path.write_text(_toml(doc), encoding="utf-8")
    try:
        return "ok", load_config(path)
    except ConfigError as exc:
        return "config-error", str(exc)
    except Exception:  # the test's point: anything else is a bug
        return "crash", traceback.format_exc()


# --- targeted: what the adversarial tester did ---------------------------------------------


def _write(root: Path, text: str) -> Path:
    path = root / "observatory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _replace(root: Path, old: str, new: str) -> Path:
    text = (root / "observatory.toml").read_text(encoding="utf-8")
    assert old in text, old
    return _write(root, text.replace(old, new))


@pytest.fixture
def city(tiny_city: Path, tmp_path: Path) -> Path:
    root = tmp_path / "city"
    shutil.copytree(tiny_city, root)
    return root


def test_memory_limit_cannot_smuggle_sql_into_status(city: Path) -> None:
    pwned = city / "pwned.csv"
    injected = f"400MB'; copy (select 'pwned') to '{pwned}' (format csv); set memory_limit='400MB"
    path = _replace(city, 'memory_limit = "400MB"', f'memory_limit = "{injected}"')
    result = CliRunner().invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert "project.memory_limit" in result.output and "not a memory size" in result.output
    assert not pwned.exists()


def test_memory_limit_is_bound_even_past_validation(city: Path) -> None:
    """Defence in depth: a Config built without validation still cannot run SQL through it."""
    cfg = load_config(city / "observatory.toml")
    pwned = city / "pwned2.csv"
    bad = f"400MB'; copy (select 1) to '{pwned}'; set memory_limit='400MB"
    forged = cfg.model_copy(
        update={"project": cfg.project.model_copy(update={"memory_limit": bad})}
    )
    with pytest.raises(ValueError, match="not a memory size"):
        connect(forged)
    con = duckdb.connect()
    with pytest.raises(ValueError):
        set_memory_limit(con, bad)
    set_memory_limit(con, "300MB")
    (limit,) = con.execute("select current_setting('memory_limit')").fetchone()
    assert limit == "286.1 MiB"
    assert not pwned.exists()


@pytest.mark.parametrize(
    ("value", "ok"),
    [("400MB", True), ("1.5GiB", True), ("2 GB", True), ("400mb", True), ("10KB", False),
     ("-1GB", False), ("80%", False), ("1e3MB", False), ("400", False), ("99999999999TB", False)],
)  # fmt: skip
def test_memory_limit_is_a_number_and_a_unit(city: Path, value: str, ok: bool) -> None:
    path = _replace(city, 'memory_limit = "400MB"', f'memory_limit = "{value}"')
    if ok:
        assert load_config(path).project.memory_limit == value
    else:
        with pytest.raises(ConfigError, match="project.memory_limit"):
            load_config(path)


def test_threads_must_be_at_least_one(city: Path) -> None:
    path = _replace(city, 'memory_limit = "400MB"', 'memory_limit = "400MB"\nthreads = 0')
    with pytest.raises(ConfigError, match="project.threads: expected a number of at least 1"):
        load_config(path)


@pytest.mark.parametrize("suite", ["../../../../etc/passwd", "/etc/passwd", "a/b", "..", "x.json"])
def test_a_suite_name_cannot_leave_the_expectations_folder(city: Path, suite: str) -> None:
    path = _replace(
        city, 'name = "incidents_polizia"', f'name = "incidents_polizia"\nsuite = "{suite}"'
    )
    with pytest.raises(ConfigError, match=r"suite: .* is not a suite name"):
        load_config(path)
    with pytest.raises(ConfigError, match="is not a suite name"):
        suite_path(suite, city)


def test_a_suite_found_lies_inside_its_folder(city: Path) -> None:
    own = city / "expectations"
    own.mkdir()
    (own / "incidents.json").write_text('{"name": "incidents", "expectations": []}')
    assert suite_path("incidents", own) == (own / "incidents.json").resolve()
    assert suite_path("survey", own) == (REPO / "expectations" / "survey.json").resolve()


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('"poco sicuro" = 2', '"poco sicuro" = nan', "labels.answer.poco sicuro"),
        ('"molto sicuro" = 5', '"molto sicuro" = inf', "labels.answer.molto sicuro"),
        ("robbery = 3.0", "robbery = -inf", "severity.robbery"),
        ("lux = [0.0, 30.0]", "lux = [0.0, nan]", "goalposts.lux"),
        ("perception = 0.5,", "perception = nan,", "weights.perception"),
        ("scale = [1, 5]", "scale = [1, inf]", "scale"),
    ],
)
def test_numbers_must_be_finite(city: Path, old: str, new: str, key: str) -> None:
    path = _replace(city, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert key in message and "finite number" in message, message  # "finite numbers" too


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('metrics = ["lux", "footfall", "noise_db"]', "metrics = []", "metrics: expected a list"),
        ('weight = "peso"', "weight = []", "name no file column"),
        ('weight = "peso"', 'weight = ""', "name no file column"),
        ("scale = [1, 5]", "scale = [5, 1]", "lowest first"),
        ('delim = ";"', "delim = [1, 2]", "reader option is a string"),
    ],
)
def test_empty_or_inverted_values_are_refused(city: Path, old: str, new: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_config(_replace(city, old, new))


@pytest.mark.parametrize("crs", ["EPSG:999999", "not a crs", "", "EPSG:5703"])
def test_a_crs_must_resolve_to_lon_lat(city: Path, crs: str) -> None:
    text = (city / "observatory.toml").read_text(encoding="utf-8")
    text = text.replace('latitude = "lat"\nlongitude = "lon"\ncategory', "category", 1)
    text = text.replace(
        'source = "channel"\n',
        f'source = "channel"\n\n[sources.coordinates]\ncrs = "{crs}"\nx = "lon"\ny = "lat"\n',
        1,
    )
    with pytest.raises(
        ConfigError, match="coordinates.crs: .* not a coordinate reference system of x, y"
    ):
        load_config(_write(city, text))


def test_a_crs_that_resolves_is_kept(city: Path) -> None:
    text = (city / "observatory.toml").read_text(encoding="utf-8")
    text = text.replace('source = "channel"\n', 'source = "channel"\n\n[sources.coordinates]\n'
                        'crs = "EPSG:32632"\nx = "lon"\ny = "lat"\n', 1)  # fmt: skip
    cfg = load_config(_write(city, text))
    assert cfg.source("incidents_polizia").coordinates.crs == "EPSG:32632"


@pytest.mark.parametrize(
    "sql",
    [
        "true), false) from batch; copy (select 1) to 'x.csv'; select (true",
        "category = 'theft' -- and the rest",
        "exists (select 1 from ops.batches)",
        "category = 'theft'; drop table ops.batches",
        "1) or (1",
    ],
)
def test_keep_rows_is_one_expression(city: Path, sql: str) -> None:
    keep = f"keep_rows = {{ sql = {_toml_str(sql)}, reason = 'r' }}\n"
    path = _replace(city, 'schedule = "@daily"\n', f'schedule = "@daily"\n{keep}')
    with pytest.raises(ConfigError, match="keep_rows.sql: .* must be one boolean expression"):
        load_config(path)


def test_timestamp_time_zones_must_exist(city: Path) -> None:
    path = _replace(city, 'timezone = "Europe/Rome" }', 'timezone = "Europe/Romee" }')
    with pytest.raises(ConfigError, match="timestamp.timezone: unknown IANA time zone"):
        load_config(path)


def test_sensor_location_reader_options_are_checked(city: Path) -> None:
    path = _replace(city, 'longitude = "lon"\n\n', 'longitude = "lon"\nread = { drop = 1 }\n\n')
    with pytest.raises(ConfigError, match=r"read: options \['drop'\] are not supported"):
        load_config(path)


def test_a_member_warehouse_path_is_a_literal_in_attach(city: Path) -> None:
    """The network ATTACHes each city's warehouse by path: a quote in it stays a quote."""
    from observatory.network.members import Member, attach  # noqa: PLC0415

    folder = city / "it's here; select 1 --"
    folder.mkdir()
    warehouse = folder / "city.duckdb"
    duckdb.connect(str(warehouse)).close()
    con = duckdb.connect()
    member = Member(city / "observatory.toml", cfg=load_config(city / "observatory.toml"))
    member.alias = "m_demo_torino"
    problem = attach(con, member, warehouse)
    assert problem is not None and "lacks" in problem  # an empty file: read, then refused
    assert ("m_demo_torino",) in con.execute(
        "select database_name from duckdb_databases()"
    ).fetchall()


def test_check_config_on_a_nan_label_is_one_line(city: Path) -> None:
    path = _replace(city, '"poco sicuro" = 2', '"poco sicuro" = nan')
    result = CliRunner().invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        line for line in result.output.splitlines() if line.strip()
    ]


# --- the fuzz test ---------------------------------------------------------------------------


def _traceback_free(result: Any) -> bool:
    return result.exception is None or isinstance(result.exception, SystemExit)


def _touched_source(what: str, doc: dict[str, Any]) -> str | None:
    """The source a demo mutation changed (`sources.N...`), if it changed one."""
    parts = what.split(": ", 1)[1].split(".")
    if parts[0] == "sources" and len(parts) > 1 and parts[1].isdigit():
        sources = doc.get("sources")
        if isinstance(sources, list) and int(parts[1]) < len(sources):
            name = sources[int(parts[1])].get("name")
            return name if isinstance(name, str) else None
    return None


def _invoke(args: list[str], what: str) -> None:
    result = CliRunner().invoke(app, args)
    assert _traceback_free(result), f"`observatory {args[0]}` crashed on {what}:\n" + "".join(
        traceback.format_exception(result.exception)
    )
    assert result.exit_code in (0, 1, 2), (what, result.output)


@pytest.mark.slow  # ~30 s of CPU (about 50 s on a shared machine): 400 loads, ~25 ingests, 2 runs
def test_no_config_ends_in_a_traceback(tiny_city: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    bases = {
        "demo": _doc(tiny_city),
        "chicago": _doc(REPO / "examples" / "chicago"),
        "melbourne": _doc(REPO / "examples" / "melbourne"),
    }
    folder = tmp_path / "load"
    folder.mkdir()
    crashes: list[str] = []
    valid: list[tuple[str, dict[str, Any]]] = []
    outcomes = {"ok": 0, "config-error": 0}
    for base, what, doc in _cases(bases):
        outcome, detail = _load(folder, doc)
        if outcome == "crash":
            crashes.append(f"{what}\n{detail}")
            continue
        outcomes[outcome] += 1
        if outcome == "config-error":
            assert "Traceback" not in detail, what
        elif base == "demo":
            valid.append((what, doc))
    assert not crashes, f"{len(crashes)} configs crashed the loader:\n" + "\n".join(crashes[:5])
    assert outcomes["config-error"] > N_CASES // 2 and outcomes["ok"] > 40, outcomes
    assert len(valid) >= 10, outcomes

    # Every demo file that loads goes further on the one-month city: a mutated source
    # through `check-config` and its ingest, anything else through the ingest of one source
    # (warehouse, zones, a source's mapping, suite and SQL): no traceback.
    for i, (what, doc) in enumerate(valid):
        root = tmp_path / f"case{i}"
        shutil.copytree(tiny_city, root)
        path = str(_write(root, _toml(doc)))
        source = _touched_source(what, doc)
        if source is not None:
            _invoke(["check-config", "--config", path, "--source", source, "--sample", "20"], what)
        _invoke(["ingest", "--config", path, "--source", source or "incidents_polizia"], what)
        shutil.rmtree(root)

    # ... and a few go through the whole `observatory run`, each within a time limit.
    for i, (what, doc) in enumerate(random.Random(SEED).sample(valid, 2)):
        root = tmp_path / f"run{i}"
        shutil.copytree(tiny_city, root)
        path = _write(root, _toml(doc))
        done = subprocess.run(
            [str(OBSERVATORY), "run", "--config", str(path)],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, f"run crashed on {what}:\n{done.stderr[-3000:]}"
        assert done.returncode in (0, 1, 2), (what, done.stderr[-2000:])
    assert time.monotonic() - started < 180
