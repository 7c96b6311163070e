"""The build as a declared graph (issue 19): the runner derives the order from the models.

SQL models reveal their inputs (parsed by sqlglot), Python steps declare theirs; a new
model file is picked up with no list to edit, and a graph that cannot run is refused with
the model and table named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from observatory import graph
from observatory.index.steps import PYTHON_STEPS
from observatory.sql_util import repo_dir


def _positions(order: tuple[graph.Model, ...] | list[graph.Model]) -> dict[str, int]:
    return {t: i for i, m in enumerate(order) for t in m.outputs}


def test_every_model_runs_after_the_models_it_reads() -> None:
    order = graph.build_order()
    where = _positions(order)
    for i, model in enumerate(order):
        for table in model.inputs - set(model.outputs):
            if table in where:
                assert where[table] < i, f"{model.key} reads {table} before it is built"
    sql_files = {p.stem for layer in graph.LAYERS for p in (repo_dir("sql") / layer).glob("*.sql")}
    assert sql_files <= {m.key for m in order}
    # layers stay in order: staging views, then the index, then the marts
    layers = [graph.LAYERS.index(m.layer) for m in order]
    assert layers == sorted(layers)


def test_inputs_are_parsed_from_the_sql() -> None:
    models = {m.key: m for m in graph.build_order()}
    assert models["zone_index_latest"].inputs == {"marts.zone_index", "marts.zone_trends"}
    assert "idx.idx_periods" in models["idx_incident_families"].inputs
    assert "ref.zones" in models["idx_cells"].inputs
    # CTE names are not tables, nor are the words in comments
    assert all("." in t for m in models.values() for t in m.inputs)
    assert graph.table_references("-- from marts.not_a_table\nselect 1 from idx.a as b") == {
        "idx.a"
    }


def test_a_new_model_file_needs_no_list(tmp_path: Path) -> None:
    root = tmp_path / "sql"
    shutil.copytree(repo_dir("sql"), root)
    (root / "marts" / "zone_night_only.sql").write_text(
        "with z as (select * from marts.zone_index_latest)\n"
        "select zone_id, index_value from z where time_band = 'night'\n",
        encoding="utf-8",
    )
    models = graph.sql_models(root)
    order = graph.sort(models + graph.python_models(PYTHON_STEPS))
    where = {m.key: i for i, m in enumerate(order)}
    assert where["zone_night_only"] > where["zone_index_latest"] > where["zone_index"]


def test_a_graph_that_cannot_run_is_refused_with_its_names(tmp_path: Path) -> None:
    def model(key: str, reads: set[str]) -> graph.Model:
        return graph.Model(key, "marts", "sql", frozenset(reads), (f"marts.{key}",))

    with pytest.raises(ValueError, match="a reads idx.nowhere, which no model writes"):
        graph.sort([model("a", {"idx.nowhere"})])
    with pytest.raises(ValueError, match="cycle"):
        graph.sort([model("a", {"marts.b"}), model("b", {"marts.a"})])
    with pytest.raises(ValueError, match="written by both"):
        graph.sort([model("a", set()), graph.Model("b", "marts", "sql", frozenset(), ("marts.a",))])
    # sources need no model
    assert [m.key for m in graph.sort([model("a", {"ref.zones", "validated.survey"})])] == ["a"]
    with pytest.raises(TypeError, match="does not declare its tables"):
        graph.python_models({"idx_x": lambda con, cfg: []})


def test_the_order_is_the_same_every_time() -> None:
    models = graph.sql_models()
    python = graph.python_models(PYTHON_STEPS)
    first = [m.key for m in graph.sort(models + python)]
    second = [m.key for m in graph.sort(list(reversed(models)) + python)]
    assert first == second


def test_lineage_lists_upstream_models_and_sources() -> None:
    up = graph.upstream("marts.zone_index_latest")
    assert up[:2] == ["marts.zone_index", "marts.zone_trends"]
    assert {"idx.idx_composite", "staging.stg_survey", "validated.survey", "ref.zones"} <= set(up)


def test_no_parameter_is_offered_that_no_model_binds(tmp_path: Path) -> None:
    # every parameter the build offers is bound by some SQL model: nothing is passed in vain
    import datetime as dt  # noqa: PLC0415

    from observatory import pipeline  # noqa: PLC0415
    from observatory.config import load_config  # noqa: PLC0415
    from observatory.demo.generator import generate  # noqa: PLC0415

    generate(tmp_path / "city")
    cfg = load_config(tmp_path / "city" / "observatory.toml")
    order = graph.build_order()
    params = pipeline._build_params(cfg, dt.datetime.now(dt.UTC), order)
    assert graph.unused_parameters(params, order) == set()
    # and one more would be refused by name
    assert graph.unused_parameters({**params, "lux_worst": 0.0}, order) == {"lux_worst"}


def test_parsed_references_are_cached_by_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBSERVATORY_CACHE_DIR", str(tmp_path / "cache"))
    parsed = {m.key: m.inputs for m in graph.sql_models()}
    cache = graph.references_cache()
    assert cache.is_file()
    # a second read comes from the cache, and gives what parsing gave
    calls: list[str] = []
    real = graph.table_references
    monkeypatch.setattr(graph, "table_references", lambda sql: calls.append(sql) or real(sql))
    assert {m.key: m.inputs for m in graph.sql_models()} == parsed
    assert calls == []
    # an edited model misses (its key is its text) and is parsed again, the others not
    root = tmp_path / "sql"
    shutil.copytree(repo_dir("sql"), root)
    edited = root / "marts" / "zone_index_latest.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
    models = {m.key: m.inputs for m in graph.sql_models(root)}
    assert len(calls) == 1 and calls[0].endswith("-- edited\n")
    assert models == parsed
    # a cache that is not JSON, or not writable, only costs the parse
    cache.write_text("{not json", encoding="utf-8")
    assert {m.key: m.inputs for m in graph.sql_models()} == parsed
    monkeypatch.setenv("OBSERVATORY_CACHE_DIR", str(cache / "inside-a-file"))
    assert {m.key: m.inputs for m in graph.sql_models()} == parsed
