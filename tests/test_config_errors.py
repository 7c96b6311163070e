"""Config errors in plain words: one line per problem, naming the file, the key and what is
expected, for every error type the config models can raise.

The walk below goes over every field of every model reachable from `Config` (sub-tables the
demo's project file leaves out get a generated example), breaks it in each way its type
allows (wrong kind of value, out of range, unknown choice, misspelt or missing key), and
checks the words of each resulting error. A new field type brings its error types into the
walk by itself; the test fails until `observatory.config_errors` words them.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
import types
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from observatory.cli import app
from observatory.config import Config, ConfigError, load_config
from observatory.config_errors import KNOWN_TYPES, format_validation_error

FILE = "observatory.toml"
#: pydantic's own phrasing, which must never reach the person editing the file.
RAW_PHRASES = (
    "Input should",
    "valid string",
    "valid list",
    "Field required",
    "Extra inputs",
    "Value error,",
    "[type=",
    "pydantic",
    "For further information",
    "validation error",
)
#: Error types the walk must meet: the kinds of mistake the models' field types allow.
EXPECTED_TYPES = {
    "extra_forbidden",
    "missing",
    "string_type",
    "int_parsing",
    "int_from_float",
    "float_parsing",
    "bool_parsing",
    "literal_error",
    "greater_than_equal",
    "less_than_equal",
    "greater_than",
    "less_than",
    "too_short",
    "too_long",
    "list_type",
    "dict_type",
    "tuple_type",
    "model_type",
    "time_parsing",
    "date_from_datetime_parsing",
    "path_type",
    "value_error",
}


def _demo_data() -> dict[str, Any]:
    text = files("observatory.demo").joinpath("observatory.toml").read_text("utf-8")
    return {**tomllib.loads(text), "base_dir": "."}


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


_SIMPLE = {
    str: "x",
    int: 1,
    float: 1.0,
    bool: True,
    Path: "x",
    dt.date: dt.date(2024, 1, 1),
    dt.time: dt.time(7, 0),
}
#: Fields whose value is checked beyond its type (a CRS must resolve): a valid example.
_FIELD_EXAMPLES = {"crs": "EPSG:3435"}


def _example(annotation: Any) -> Any:
    """A valid value of a type, for sub-tables the demo's file leaves out."""
    annotation = _strip_optional(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if _is_model(annotation):
        return {
            name: _FIELD_EXAMPLES.get(name, _example(f.annotation))
            for name, f in annotation.model_fields.items()
            if f.is_required()
        }
    generic = {
        Literal: lambda: args[0],
        list: lambda: [_example(args[0])],
        tuple: lambda: [0.0, 1.0],
        dict: dict,
    }
    if origin in generic:
        return generic[origin]()
    return _SIMPLE.get(annotation, "x")


def _bounds(field: Any) -> Iterator[float]:
    """Values just outside each numeric constraint of a field."""
    for meta in field.metadata:
        if isinstance(meta, at.Ge):
            yield meta.ge - 1
        elif isinstance(meta, at.Gt):
            yield meta.gt
        elif isinstance(meta, at.Le):
            yield meta.le + 1
        elif isinstance(meta, at.Lt):
            yield meta.lt


def _bad_values(annotation: Any, field: Any = None) -> list[Any]:
    """Values that a field of this type must refuse, one per way of being wrong."""
    annotation = _strip_optional(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    bounds = list(_bounds(field)) if field is not None else []
    scalars: dict[Any, list[Any]] = {
        str: [3, "Not a name!"],  # the second only where a validator refuses it
        int: ["many", 1.5, *bounds],
        float: ["much", *bounds],
        bool: ["maybe"],
        Path: [3],
        dt.time: ["7am"],
        dt.date: ["2024-13-01"],
    }
    if annotation in scalars:
        return scalars[annotation]
    if _is_model(annotation):
        return ["x"]
    if origin in (Union, types.UnionType):
        return [3]
    generic = {
        Literal: lambda: ["zzz", f"{args[0]}s"],
        list: lambda: _bad_lists(args[0], field),
        tuple: lambda: ["x", [1], [1, 2, 3], ["a", "b"]],
        dict: lambda: _bad_tables(*args),
    }
    return generic[origin]() if origin in generic else []


def _bad_lists(item: Any, field: Any) -> list[Any]:
    has_min = any(isinstance(m, at.MinLen) for m in getattr(field, "metadata", []))
    return ["x", *[[v] for v in _bad_values(item)[:1]], *([[]] if has_min else [])]


def _bad_tables(key: Any, value: Any) -> list[Any]:
    bad: list[Any] = ["x"]
    if get_origin(key) is Literal:
        bad.append({"zzz": _example(value)})
    good_key = get_args(key)[0] if get_origin(key) is Literal else "k"
    bad.extend({good_key: v} for v in _bad_values(value)[:1])
    return bad


def _cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """(what was broken, the broken document) for every field of every model."""
    base = _demo_data()

    def at_path(doc: dict[str, Any], path: tuple[Any, ...]) -> Any:
        for part in path:
            doc = doc[part]
        return doc

    def walk(model: type[BaseModel], doc: dict[str, Any], path: tuple[Any, ...]) -> Iterator:
        node = at_path(doc, path)
        for name, field in model.model_fields.items():
            if name == "base_dir":
                continue
            where = ".".join(map(str, (*path, name)))
            for bad in _bad_values(field.annotation, field):
                broken = copy.deepcopy(doc)
                at_path(broken, path)[name] = bad
                yield f"{where} = {bad!r}", broken
            if name in node and len(name) > 3:  # a misspelt key
                broken = copy.deepcopy(doc)
                table = at_path(broken, path)
                table[name[:-1]] = table.pop(name)
                yield f"{where} misspelt", broken
            if field.is_required():
                broken = copy.deepcopy(doc)
                del at_path(broken, path)[name]
                yield f"{where} missing", broken
            yield from children(field.annotation, doc, (*path, name))

    def children(annotation: Any, doc: dict[str, Any], path: tuple[Any, ...]) -> Iterator:
        annotation = _strip_optional(annotation)
        parent, name = at_path(doc, path[:-1]), path[-1]
        value = parent.get(name)
        if _is_model(annotation):
            if value is None:  # a sub-table the file leaves out: walk a valid example
                doc = copy.deepcopy(doc)
                at_path(doc, path[:-1])[name] = _example(annotation)
                Config.model_validate(doc)  # the example must itself be valid
            yield from walk(annotation, doc, path)
        elif get_origin(annotation) is list and _is_model(get_args(annotation)[0]):
            for i in range(len(value or [])):
                yield from walk(get_args(annotation)[0], doc, (*path, i))
        elif get_origin(annotation) is dict and _is_model(get_args(annotation)[1]):
            for key in value or {}:
                yield from walk(get_args(annotation)[1], doc, (*path, key))

    Config.model_validate(base)
    yield from walk(Config, base, ())


CASES = list(_cases())


def _messages() -> Iterator[tuple[str, set[str], str]]:
    for case, doc in CASES:
        try:
            Config.model_validate(doc)
        except ValidationError as exc:
            types_ = {e["type"] for e in exc.errors()}
            yield case, types_, format_validation_error(FILE, exc, Config, doc)


MESSAGES = list(_messages())


def test_the_walk_meets_every_kind_of_mistake() -> None:
    seen = set().union(*(t for _, t, _ in MESSAGES))
    assert EXPECTED_TYPES <= seen, f"the walk no longer meets {EXPECTED_TYPES - seen}"
    assert seen <= KNOWN_TYPES, f"error types without their own wording: {seen - KNOWN_TYPES}"


@pytest.mark.parametrize(("case", "types_", "message"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_one_plain_line_per_mistake(case: str, types_: set[str], message: str) -> None:
    lines = message.splitlines()
    assert len(lines) == 1, f"{case} ({types_}) gave {len(lines)} lines:\n{message}"
    line = lines[0]
    assert line.startswith(f"{FILE}: "), line
    assert not [p for p in RAW_PHRASES if p in line], line
    key = case.split(" ", maxsplit=1)[0].rsplit(".", maxsplit=1)[-1]
    if types_ != {"value_error"}:  # a cross-field rule names the keys it relates itself
        assert key in line, f"{case}: the line does not name the key {key!r}: {line}"
    if "misspelt" in case:
        assert f"did you mean {key!r}?" in line, line


def test_a_union_is_one_line_in_words() -> None:
    doc = _demo_data()
    doc["sources"][0]["columns"]["zone_code"] = 3
    with pytest.raises(ValidationError) as err:
        Config.model_validate(doc)
    assert len(err.value.errors()) == 2  # pydantic: one per alternative of str | list[str]
    assert format_validation_error(FILE, err.value, Config, doc) == (
        f"{FILE}: sources[survey_quartieri].columns.zone_code: expected a column name or a "
        "list of column names, got 3"
    )


def test_a_misspelt_choice_suggests_the_right_one() -> None:
    doc = _demo_data()
    doc["index"]["normalisation"] = "minmaks"
    with pytest.raises(ValidationError) as err:
        Config.model_validate(doc)
    line = format_validation_error(FILE, err.value, Config, doc)
    assert line.endswith("got 'minmaks'; did you mean 'minmax'?"), line


def _project(tmp_path: Path, old: str, new: str) -> Path:
    text = files("observatory.demo").joinpath("observatory.toml").read_text("utf-8")
    assert old in text
    path = tmp_path / FILE
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_misspelt_key_in_the_project_file_is_exactly_one_line(tmp_path: Path) -> None:
    path = _project(tmp_path, 'timezone = "Europe/Rome"', 'timezon = "Europe/Rome"')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        f"{path}: city.timezon: unknown key 'timezon'; did you mean 'timezone'?"
    )
    result = CliRunner().invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {err.value}"]


def test_several_mistakes_give_one_error_line_each(tmp_path: Path) -> None:
    path = _project(tmp_path, "offset_minutes = 0", 'offset_minutes = 900\ntwilight_ = "civil"')
    result = CliRunner().invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {path}: ") for line in lines)
    assert any("time_bands.offset_minutes: expected a number of at most 180" in x for x in lines)
    assert any("time_bands.twilight_: unknown key" in x for x in lines)


def test_an_unknown_source_suggests_the_closest(tmp_path: Path) -> None:
    path = _project(tmp_path, "offset_minutes = 0", "offset_minutes = 0")
    result = CliRunner().invoke(app, ["ingest", "--config", str(path), "--source", "sensor_street"])
    assert result.exit_code == 2
    assert "did you mean 'sensors_street'?" in result.stderr


def test_the_walk_is_not_vacuous() -> None:
    assert len(CASES) > 300 and len(MESSAGES) > 200
