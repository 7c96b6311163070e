"""The table of every config key, generated from the pydantic models so it cannot go stale.

Each key of `observatory.toml` is a field of a model in `observatory.config`; its type and
default come from the model, its meaning from the `#:` comment above the field (or the
model's docstring for a table). `python -m observatory.config_reference --write` rewrites
docs/config-reference.md; a test fails when the committed file and the models disagree.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from observatory.config import Config
from observatory.sql_util import repo_dir

_SKIP = {"base_dir"}
_HEADER = """# Configuration keys

Every key of `observatory.toml`, generated from the configuration models
(`src/observatory/config.py`) by `python -m observatory.config_reference --write`; a test
fails when this file and the models disagree. `[[sources]]` keys are per source;
`a.b` is key `b` of table `[a]`. A walkthrough: docs/adding-a-city.md.

| key | type | default | meaning |
|---|---|---|---|
"""


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The `#:` comment lines written above each field of a model's class body."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"^(\w+)\s*:", stripped)
        if match and pending:
            out[match.group(1)] = " ".join(pending)
        if not stripped.startswith("#"):
            pending = []
    return out


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _type_name(annotation: object) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = re.sub(r"\b(typing|pathlib|datetime|observatory\.config)\.", "", text)
    text = text.replace("NoneType", "None").replace("<class '", "").replace("'>", "")
    if isinstance(annotation, types.UnionType):
        text = " | ".join(_type_name(a) for a in typing.get_args(annotation))
    return text


def _default(field: object) -> str:
    default = field.default  # type: ignore[attr-defined]
    if default is PydanticUndefined:
        factory = field.default_factory  # type: ignore[attr-defined]
        if factory is None:
            return "required"
        default = factory()
    if isinstance(default, BaseModel):
        return "(table)"
    text = repr(default) if not isinstance(default, str) else f'"{default}"'
    return text.replace("PosixPath(", "Path(")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    notes = _comments(model)
    rows = []
    for name, field in model.model_fields.items():
        if name in _SKIP:
            continue
        key = f"{prefix}{name}"
        nested = _models_in(field.annotation)
        meaning = notes.get(name, "")
        if nested and not meaning:
            meaning = (inspect.getdoc(nested[0]) or "").split("\n\n")[0].replace("\n", " ")
        cell = meaning.replace("|", "\\|")
        kind = _type_name(field.annotation).replace("|", "\\|")
        rows.append(f"| `{key}` | `{kind}` | `{_default(field)}` | {cell} |")
        keyed = typing.get_origin(field.annotation) is dict  # a table per name
        for sub in nested:
            rows.extend(_rows(sub, f"{key}.<name>." if keyed else f"{key}."))
    return rows


def render() -> str:
    """docs/config-reference.md as it should be."""
    return _HEADER + "\n".join(_rows(Config, "")) + "\n"


def reference_path() -> Path:
    """Where the committed table lives."""
    return repo_dir("docs") / "config-reference.md"


def main(argv: list[str]) -> int:
    """`--write` rewrites the file; `--check` fails (exit 1) when it is stale."""
    text = render()
    path = reference_path()
    if "--write" in argv:
        path.write_text(text, encoding="utf-8")
        return 0
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if current != text:
        sys.stderr.write(f"{path} is stale: run python -m observatory.config_reference --write\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
