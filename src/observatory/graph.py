"""The build as a declared graph: models state (or reveal) their inputs, the runner sorts them.

* A **SQL model** is a file `sql/<layer>/<name>.sql` (layer `staging`, `index` or `marts`)
  holding one `select`. It writes `<schema>.<name>` (schemas `staging`, `idx`, `marts`) and
  its inputs are the schema-qualified tables it reads, found by parsing the SQL with
  sqlglot (`docs/architecture-graph.md` says why not dbt). Adding a model is adding a file.
  The tables found are kept in a cache keyed by the SHA-256 of the SQL text and sqlglot's
  version (`references_cache`), so a process that builds parses only what changed.
* A **Python step** (`observatory.index.steps.PYTHON_STEPS`) declares the tables it reads
  and writes with `python_step(inputs=..., outputs=...)`.
* Tables of the source schemas (`ref`, `validated`, `ops`, `quarantine`, `raw`) are written
  before the graph runs (ingest, reference tables); any other input must be some model's
  output, else the graph is refused with the model and table named.

`build_order()` is a topological order: ties broken by layer (staging, index, marts) and
name, so the same files always give the same order.
"""

from __future__ import annotations

import functools
import graphlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from observatory.sql_util import repo_dir

Layer = Literal["staging", "index", "marts"]
LAYERS: tuple[Layer, ...] = ("staging", "index", "marts")
SCHEMA_OF: dict[Layer, str] = {"staging": "staging", "index": "idx", "marts": "marts"}
#: Schemas written outside the graph: inputs from them need no model.
SOURCE_SCHEMAS = frozenset({"ref", "validated", "ops", "quarantine", "raw"})
#: Marts that are not rebuilt by a model (appended by the build itself).
LOG_TABLES = frozenset({"marts.publication_log"})

_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PythonStep:
    """A Python step of the graph: a function of (connection, index settings)."""

    fn: Callable[..., list[str]]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def __call__(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.fn(*args, **kwargs)


def python_step(
    inputs: Iterable[str], outputs: Iterable[str]
) -> Callable[[Callable[..., list[str]]], PythonStep]:
    """Declare a Python step's input and output tables (`schema.table`)."""

    def wrap(fn: Callable[..., list[str]]) -> PythonStep:
        return PythonStep(fn, tuple(inputs), tuple(outputs))

    return wrap


@dataclass(frozen=True)
class Model:
    """One node of the build graph."""

    key: str  # the name the build records: the file stem, or the Python step's key
    layer: Layer
    kind: Literal["sql", "python"]
    inputs: frozenset[str]
    outputs: tuple[str, ...]
    path: Path | None = None
    parameters: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        """The table the model is known by (`schema.table`)."""
        return self.outputs[0]


def table_references(sql: str) -> frozenset[str]:
    """The schema-qualified tables (`schema.table`) a query reads, parsed by sqlglot."""
    import sqlglot  # noqa: PLC0415 (0.2 s to import: only when a graph is built)
    from sqlglot import exp  # noqa: PLC0415

    # `$name` parameters are not DuckDB SQL sqlglot knows: a literal takes their place
    tree = sqlglot.parse_one(_PARAM.sub("null", sql), read="duckdb")
    return frozenset(f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db)


def references_cache() -> Path:
    """The file of the cache of `table_references` (`$OBSERVATORY_CACHE_DIR`, else
    `$XDG_CACHE_HOME/observatory`, else `~/.cache/observatory`)."""
    base = os.environ.get("OBSERVATORY_CACHE_DIR") or (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "observatory"
    )
    return Path(base) / "sql_references.json"


#: Entries the references cache keeps before it drops those of texts not in this build.
_CACHE_ENTRIES = 2_000


def _sqlglot_version() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version("sqlglot")


def cached_references(texts: list[str]) -> list[frozenset[str]]:
    """`table_references` of each text, from the cache where its key (SHA-256 of sqlglot's
    version and the text) is there. Parsing 29 models cost 0.6 s of every build; a key is
    content, so an edited model misses and is parsed again. An unreadable or unwritable
    cache only costs the parse."""
    tag = _sqlglot_version()
    keys = [hashlib.sha256(f"{tag}\0{t}".encode()).hexdigest() for t in texts]
    path = references_cache()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    found, missed = [], False
    for key, text in zip(keys, texts, strict=True):
        refs = known.get(key)
        if not isinstance(refs, list):
            refs, missed = sorted(table_references(text)), True
            known[key] = refs
        found.append(frozenset(refs))
    if missed:
        # other trees' texts (a test's models) are kept, up to a bound
        keep = known if len(known) <= _CACHE_ENTRIES else {k: known[k] for k in keys}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8"
            ) as fh:
                json.dump(keep, fh, sort_keys=True)
            os.replace(fh.name, path)  # atomic: parallel builds never read half a file
        except OSError as exc:
            log.debug("SQL references not cached (%s): %s", path, exc)
    return found


def sql_models(root: Path | None = None) -> list[Model]:
    """Every SQL model under `sql/`, with the tables it reads and the parameters it binds."""
    root = root or repo_dir("sql")
    found = [
        (layer, path, path.read_text(encoding="utf-8"))
        for layer in LAYERS
        for path in sorted((root / layer).glob("*.sql"))
    ]
    references = cached_references([sql for _, _, sql in found])
    return [
        Model(
            key=path.stem,
            layer=layer,
            kind="sql",
            inputs=inputs,
            outputs=(f"{SCHEMA_OF[layer]}.{path.stem}",),
            path=path,
            parameters=frozenset(_PARAM.findall(sql)),
        )
        for (layer, path, sql), inputs in zip(found, references, strict=True)
    ]


def unused_parameters(params: Iterable[str], models: Iterable[Model]) -> set[str]:
    """The parameters offered to the build that none of `models` binds (leftovers to
    remove: the Python steps read the configuration itself)."""
    used = set().union(*(m.parameters for m in models))
    return set(params) - used


def python_models(steps: dict[str, Any]) -> list[Model]:
    """The Python steps as graph nodes (each must be declared with `python_step`)."""
    models = []
    for key, step in sorted(steps.items()):
        if not isinstance(step, PythonStep):
            raise TypeError(
                f"Python step {key!r} does not declare its tables: wrap it in "
                "observatory.graph.python_step(inputs=[...], outputs=[...])"
            )
        models.append(Model(key, "index", "python", frozenset(step.inputs), tuple(step.outputs)))
    return models


def sort(models: list[Model]) -> list[Model]:
    """A topological order of `models` (deterministic), or an error naming what is wrong."""
    writer: dict[str, Model] = {}
    for model in models:
        for table in model.outputs:
            if table in writer:
                raise ValueError(f"{table} is written by both {writer[table].key} and {model.key}")
            writer[table] = model
    graph: dict[str, set[str]] = {}
    for model in models:
        needs = set()
        for table in model.inputs:
            schema = table.split(".", 1)[0]
            if table in writer:
                if writer[table] is not model:
                    needs.add(writer[table].key)
            elif schema not in SOURCE_SCHEMAS and table not in LOG_TABLES:
                raise ValueError(
                    f"{model.key} reads {table}, which no model writes (models write "
                    f"staging.*, idx.*, marts.*; sources are {sorted(SOURCE_SCHEMAS)})"
                )
        graph[model.key] = needs
    by_key = {m.key: m for m in models}
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        raise ValueError(f"the build graph has a cycle: {' -> '.join(exc.args[1])}") from exc
    return _sort_by_kahn(graph, by_key, rank)


def _sort_by_kahn(
    graph: dict[str, set[str]], by_key: dict[str, Model], rank: dict[str, int]
) -> list[Model]:
    """Kahn's algorithm picking the smallest (layer, name) ready node at every step."""
    remaining = {k: set(v) for k, v in graph.items()}
    order: list[Model] = []
    while remaining:
        ready = sorted(
            (k for k, needs in remaining.items() if not needs),
            key=lambda k: (rank[by_key[k].layer], k),
        )
        first = ready[0]
        order.append(by_key[first])
        del remaining[first]
        for needs in remaining.values():
            needs.discard(first)
    return order


@functools.cache
def build_order() -> tuple[Model, ...]:
    """The whole build, SQL models and Python steps, in the order it runs."""
    from observatory.index.steps import PYTHON_STEPS  # noqa: PLC0415 (index imports numpy)

    return tuple(sort(sql_models() + python_models(PYTHON_STEPS)))


def layer_keys(layer: Layer) -> tuple[str, ...]:
    """The keys of one layer's models, in build order."""
    return tuple(m.key for m in build_order() if m.layer == layer)


def upstream(table: str) -> list[str]:
    """Every model and source table `table` depends on, nearest first (for `lineage`)."""
    writer = {t: m for m in build_order() for t in m.outputs}
    seen: list[str] = []
    frontier = [table]
    while frontier:
        current = frontier.pop(0)
        model = writer.get(current)
        inputs = sorted(model.inputs - set(model.outputs)) if model else []
        for name in inputs:
            if name not in seen:
                seen.append(name)
                frontier.append(name)
    return seen
