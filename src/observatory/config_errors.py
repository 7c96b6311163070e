"""Configuration errors in plain words: one line per problem in a project file.

pydantic reports a mistake in its own words and often several times over: a number where a
column name or a list of names was expected comes back as `...zone_code.str: Input should
be a valid string` and `...zone_code.list[str]: Input should be a valid list`. The person
who edits `observatory.toml` needs one line that names the file, the key and what it should
hold, and for a misspelt key the key it probably meant. This module turns a
`ValidationError` of the config models into exactly that:

    observatory.toml: city.timezon: unknown key; did you mean 'timezone'?
    observatory.toml: sources[survey].columns.zone_code: expected a column name or a list
        of column names, got 3

How: each error's location is walked down the models' own type annotations, so the
expected value is described from the field's type (not from pydantic's message), the
alternatives of a union collapse into one line, and an unknown key is matched against the
fields of the table it sits in with `difflib`. Every error type the models can raise has a
wording in `_WORDING` (tests/test_config_errors.py walks them all); a type not listed there
still gets a plain line built from the field's type.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

#: Keys the loader adds itself: never suggested, never reported as missing.
_INTERNAL_KEYS = {"base_dir"}
#: The location pydantic gives the key of a dict entry whose key is invalid.
_KEY = "[key]"


def _constraint(err: dict[str, Any], word: str, key: str) -> str:
    return f"expected a number {word} {err.get('ctx', {}).get(key)}"


#: Error type -> what the line says is wrong, from the error and the expected type's words.
_WORDING: dict[str, typing.Callable[[dict[str, Any], str], str]] = {
    "greater_than_equal": lambda e, _: _constraint(e, "of at least", "ge"),
    "less_than_equal": lambda e, _: _constraint(e, "of at most", "le"),
    "greater_than": lambda e, _: _constraint(e, "above", "gt"),
    "less_than": lambda e, _: _constraint(e, "below", "lt"),
    "finite_number": lambda e, _: "expected a finite number (not nan or inf)",
    "too_short": lambda e, d: (
        f"expected {d} with at least {e.get('ctx', {}).get('min_length')} item(s)"
    ),
    "too_long": lambda e, d: (
        f"expected {d} with at most {e.get('ctx', {}).get('max_length')} item(s)"
    ),
    "value_error": lambda e, _: str(e.get("ctx", {}).get("error", "invalid value")),
    "assertion_error": lambda e, _: str(e.get("ctx", {}).get("error", "invalid value")),
}
#: Error types that mean "not the right kind of value": the line says what kind is expected.
_TYPE_ERRORS = {
    "string_type",
    "int_type",
    "int_parsing",
    "int_from_float",
    "float_type",
    "float_parsing",
    "bool_type",
    "bool_parsing",
    "list_type",
    "tuple_type",
    "dict_type",
    "model_type",
    "model_attributes_type",
    "time_type",
    "time_parsing",
    "date_type",
    "date_parsing",
    "date_from_datetime_parsing",
    "date_from_datetime_inexact",
    "path_type",
    "literal_error",
    "union_tag_invalid",
}
#: Every error type this module words itself (the rest fall back to the field's type).
KNOWN_TYPES = frozenset(_WORDING) | _TYPE_ERRORS | {"missing", "extra_forbidden"}


def format_validation_error(
    path: Path | str, exc: ValidationError, model: type[BaseModel], data: Any = None
) -> str:
    """The errors of a project file as lines of plain words, one per problem.

    Args:
        path: The project file, named at the start of every line.
        exc: pydantic's error from validating `data` against `model`.
        model: The model the file was validated against (`Config`).
        data: The file's parsed content, to name sources by their `name`.

    Returns:
        One line per problem: `<file>: <key path>: <what is wrong and what is expected>`.
    """
    errors = _collapsed(model, exc.errors(), data)
    lines = [_line(path, model, err, data) for err in _without_meant_keys(model, errors)]
    return "\n".join(dict.fromkeys(lines))  # duplicates (same key, same words) once


def _collapsed(model: type[BaseModel], errors: list[Any], data: Any) -> list[dict[str, Any]]:
    """One error per key: a union's alternatives, or a fixed-length list's items, as one.

    Such a key is worded from its own type (`a pair of finite numbers such as [1, 5]`) and the
    value the file gives it.
    """
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for err in errors:
        loc, cut = _walk(model, tuple(err["loc"]))[1:]
        entry = dict(err)
        if cut is not None:
            entry.update(type="whole_value", loc=loc[:cut], input=_value_at(data, loc[:cut]))
        out.setdefault((*entry["loc"], entry["type"]), entry)
    return list(out.values())


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _without_meant_keys(
    model: type[BaseModel], errors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Drop "missing" for a key that an unknown key beside it was probably meant to be.

    A misspelt required key (`timezon`) is one mistake, not an unknown key plus a missing one.
    """
    meant = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            guess = closest(str(err["loc"][-1]), _keys_at(model, tuple(err["loc"][:-1])))
            if guess:
                meant.add((*err["loc"][:-1], guess))
    return [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in meant)]


def _line(path: Path | str, model: type[BaseModel], err: dict[str, Any], data: Any) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        where, text = loc, _unknown_key(str(loc[-1]), _keys_at(model, loc[:-1]))
    elif loc and loc[-1] == _KEY:  # a dict whose keys are a fixed set
        where, text = loc[:-1], _unknown_key(str(loc[-2]), _keys_at(model, loc[:-2]))
    else:
        where, text = loc, _wording(model, err)
    return f"{path}: {_key_path(where, data)}: {text}" if where else f"{path}: {text}"


def _wording(model: type[BaseModel], err: dict[str, Any]) -> str:
    """What is wrong with the value at the error's location, and what is expected there."""
    kind = err["type"]
    annotation = _walk(model, tuple(err["loc"]))[0]
    described = _describe(annotation)
    if kind == "missing":
        return f"required but missing; expected {described}"
    if kind in ("value_error", "assertion_error"):  # our validators' own words
        return _WORDING[kind](err, described)
    is_tuple = get_origin(_strip_optional(annotation)) is tuple
    if kind in _WORDING and not (is_tuple and kind in ("too_short", "too_long")):
        return _got(_WORDING[kind](err, described), err)
    text = _got(f"expected {described}", err)
    guess = closest(str(err.get("input")), _literal_values(annotation))
    return text + (f"; did you mean {guess!r}?" if guess else "")


def _got(text: str, err: dict[str, Any]) -> str:
    value = err.get("input")
    if isinstance(value, dict | list) and len(repr(value)) > 40:
        shown = "a table" if isinstance(value, dict) else "a list"
    else:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"{text}, got {shown}"


def _unknown_key(key: str, allowed: list[str]) -> str:
    guess = closest(key, allowed)
    if guess:
        return f"unknown key {key!r}; did you mean {guess!r}?"
    return f"unknown key {key!r}; expected one of {', '.join(allowed) or '(none)'}"


def closest(word: str, candidates: list[str]) -> str | None:
    """The candidate `word` was probably meant to be (difflib's closest match), if any."""
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not found:  # a different case or separator is still the same key
        norm = {c.lower().replace("-", "_"): c for c in candidates}
        found = [norm[word.lower().replace("-", "_")]] if word.lower() in norm else []
    return found[0] if found else None


def _key_path(loc: tuple[Any, ...], data: Any) -> str:
    """`sources[survey].columns.zone_code`: list items by their `name` where they have one."""
    parts: list[str] = []
    node = data
    for part in loc:
        child = None
        if isinstance(part, int):
            child = node[part] if isinstance(node, list) and part < len(node) else None
            name = child.get("name") if isinstance(child, dict) else None
            label = name if isinstance(name, str) and name else str(part)
            parts[-1:] = [f"{parts[-1] if parts else ''}[{label}]"]
        else:
            child = node.get(part) if isinstance(node, dict) else None
            parts.append(str(part))
        node = child
    return ".".join(parts)


def _strip_optional(annotation: Any) -> Any:
    if _is_union(annotation):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...], int | None]:
    """The annotation at `loc`, the location, and where a key to word as a whole ends.

    Returns:
        (annotation or None where the location leaves the models, loc, and the index in `loc`
        of a union alternative's tag or of a fixed-length list's item, or None when the
        location passes through neither).
    """
    annotation: Any = model
    for i, part in enumerate(loc):
        annotation = _strip_optional(annotation)
        origin = get_origin(annotation)
        if _is_union(annotation):
            return annotation, loc, i
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        elif origin in (list, set, frozenset):
            annotation = get_args(annotation)[0]
        elif origin is tuple:
            return annotation, loc, i
        elif origin is dict:
            key_type, value_type = get_args(annotation)
            annotation = key_type if part == _KEY else value_type
        else:
            return None, loc, None
    return annotation, loc, None


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the table at `loc` (a model's fields, or a dict's literal keys)."""
    annotation = _strip_optional(_walk(model, loc)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [k for k in annotation.model_fields if k not in _INTERNAL_KEYS]
    if get_origin(annotation) is dict:
        return _literal_values(get_args(annotation)[0])
    return []


def _literal_values(annotation: Any) -> list[str]:
    annotation = _strip_optional(annotation)
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    return []


#: Plain words for the scalar types of the config models.
_SCALARS: dict[Any, str] = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    Path: "a file or folder path (text)",
    dt.time: 'a time of day such as 07:30 or "07:30"',
    dt.date: "a date such as 2024-01-31",
    Any: "a value",
}


def _describe(annotation: Any) -> str:
    """What a value of this type looks like in a TOML file, in words."""
    annotation = _strip_optional(annotation)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"a table (keys: {', '.join(_keys_at(annotation, ()))})"
    origin = get_origin(annotation)
    describe = _DESCRIBE_GENERIC.get(types.UnionType if _is_union(annotation) else origin)
    return describe(get_args(annotation)) if describe else "a value"


def _describe_literal(args: tuple[Any, ...]) -> str:
    values = [repr(v) for v in args]
    return "one of " + (", ".join(values[:-1]) + " or " + values[-1] if values else "")


def _describe_union(args: tuple[Any, ...]) -> str:
    members = [a for a in args if a is not type(None)]
    if set(members) == {str, list[str]}:
        return "a column name or a list of column names"
    return " or ".join(_describe(a) for a in members)


def _describe_tuple(args: tuple[Any, ...]) -> str:
    inner = [a for a in args if a is not Ellipsis]
    if len(inner) == 2 and all(a is float for a in inner):
        return "a pair of finite numbers such as [1, 5]"
    return f"a list of {len(inner)} values ({', '.join(_describe(a) for a in inner)})"


_DESCRIBE_GENERIC: dict[Any, typing.Callable[[tuple[Any, ...]], str]] = {
    Literal: _describe_literal,
    types.UnionType: _describe_union,
    list: lambda args: f"a list of {_plural(_describe(args[0]))}",
    set: lambda args: f"a list of {_plural(_describe(args[0]))}",
    tuple: _describe_tuple,
    dict: lambda args: f"a table of {_describe(args[0])} keys = {_describe(args[1])}",
}


def _plural(words: str) -> str:
    if words.startswith("one of "):
        return "values among " + words.removeprefix("one of ")
    for single, many in (
        ("a whole number", "whole numbers"),
        ("a number", "numbers"),
        ("a time of day", "times of day"),
        ("a date", "dates"),
        ("text", "texts"),
    ):
        if words.startswith(single):
            return many + words[len(single) :]
    return words
