"""One registry for plug-ins (readers, fetchers): built-ins first, then entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any


class PluginNotFound(LookupError):
    """No plug-in of that name in the group."""


def load_plugin(group: str, name: str, registry: dict[str, Any]) -> Any:
    """The plug-in called `name`: from `registry` (built-ins and ones already loaded), else
    from the `group` entry points of installed packages (then cached in `registry`).

    Raises:
        PluginNotFound: no such plug-in; the message lists the known ones.
    """
    if name in registry:
        return registry[name]
    for ep in entry_points(group=group):
        if ep.name == name:
            registry[name] = ep.load()
            return registry[name]
    known = sorted({*registry, *(ep.name for ep in entry_points(group=group))})
    raise PluginNotFound(f"no {group.rsplit('.', 1)[-1][:-1]} called {name!r}; known: {known}")
