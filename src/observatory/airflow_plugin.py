"""The Airflow plugin: each city's Data Docs and quarantine summary in the Airflow UI.

Registered through the `airflow.plugins` entry point (pyproject.toml), so any Airflow with
this package installed loads it. It adds

* a small FastAPI app under `/observatory` on Airflow's API server, serving every served
  city's Data Docs folder (`/observatory/<city>/data-docs/...`) and its quarantine summary
  (`/observatory/<city>/quarantine`, the page the ingest DAG's `data_docs` task writes);
* external views "Data Docs" and "Quarantine" on every DAG's and task's page, whose links
  go to the city of the DAG (`/observatory/dag/<dag_id>/...`: the city is the first part
  of an observatory DAG id).

The pages are static files written by the DAGs: serving them never opens a warehouse.
Airflow does not authenticate a plugin's FastAPI app (a mounted app inherits none of the
API's dependencies), so this one does: every page needs a user whom Airflow's auth manager
lets see plugins (`AccessView.PLUGINS`: a logged-in UI session's cookie or an API token),
a browser without one is sent to Airflow's login page and back, and an Airflow without
that API refuses every page (fail closed). The Data Docs are also redacted (no record ids
or exact coordinates, docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from observatory.ops.quality_page import PAGE


def _sites() -> dict[str, Path]:
    """city id -> its Data Docs folder, for every served project that loads."""
    from observatory.orchestration import served_projects  # noqa: PLC0415

    return {
        cfg.city.id: cfg.resolve(cfg.project.data_docs).resolve()
        for _, cfg in served_projects()
        if not isinstance(cfg, str)
    }


def _file(city: str, relative: str) -> FileResponse:
    site = _sites().get(city)
    if site is None:
        raise HTTPException(404, f"no served city {city!r}")
    path = (site / (relative or "index.html")).resolve()
    if not path.is_relative_to(site):
        raise HTTPException(404, "outside the Data Docs folder")
    if path.is_dir():
        path = path / "index.html"
    if not path.is_file():
        raise HTTPException(
            404,
            f"{path} does not exist yet: it is written after the city's first ingest "
            "(the ingest DAG's data_docs task, or `observatory docs`)",
        )
    return FileResponse(path)


def _city_of(dag_id: str) -> str:
    return dag_id.split(".", 1)[0]


def _access() -> list[Any]:
    """The dependency every page has: Airflow's own check that the caller may see plugins."""
    try:
        from airflow.api_fastapi.auth.managers.models.resource_details import (  # noqa: PLC0415
            AccessView,
        )
        from airflow.api_fastapi.core_api.security import requires_access_view  # noqa: PLC0415
    except ImportError:  # an Airflow without the API: nobody is let in

        def _deny() -> None:
            raise HTTPException(403, "this Airflow cannot check access: the pages are closed")

        return [Depends(_deny)]
    return [Depends(requires_access_view(AccessView.PLUGINS))]


async def _to_login(request: Request, exc: StarletteHTTPException) -> Response:
    """A browser that is not logged in goes to Airflow's login page, and back here after."""
    wants_page = "text/html" in request.headers.get("accept", "")
    if exc.status_code == 401 and wants_page and request.method == "GET":
        from airflow.api_fastapi.app import get_auth_manager  # noqa: PLC0415

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), 303)
    return await http_exception_handler(request, exc)


def create_app() -> FastAPI:
    """The FastAPI app mounted at `/observatory`."""
    app = FastAPI(
        title="observatory",
        description="Data Docs and quarantine per city",
        dependencies=_access(),
        exception_handlers={StarletteHTTPException: _to_login},
    )

    @app.get("/", response_class=HTMLResponse)
    def cities() -> str:
        items = "".join(
            f'<li>{c}: <a href="{c}/data-docs/index.html">Data Docs</a>, '
            f'<a href="{c}/quarantine">quarantine</a></li>'
            for c in sorted(_sites())
        )
        return f"<!doctype html><title>observatory</title><ul>{items}</ul>"

    @app.get("/dag/{dag_id}/data-docs/{relative:path}")
    def dag_data_docs(dag_id: str, relative: str) -> FileResponse:
        return _file(_city_of(dag_id), relative)

    @app.get("/dag/{dag_id}/quarantine")
    def dag_quarantine(dag_id: str) -> FileResponse:
        return _file(_city_of(dag_id), PAGE)

    @app.get("/{city}/data-docs/{relative:path}")
    def data_docs(city: str, relative: str) -> FileResponse:
        return _file(city, relative)

    @app.get("/{city}/quarantine")
    def quarantine(city: str) -> FileResponse:
        return _file(city, PAGE)

    return app


def _views() -> list[dict[str, Any]]:
    views = []
    for destination in ("dag", "task"):
        for name, route in (("Data Docs", "data-docs/index.html"), ("Quarantine", "quarantine")):
            key = name.lower().replace(" ", "-")
            views.append(
                {
                    "name": name,
                    "href": f"/observatory/dag/{{DAG_ID}}/{route}",
                    "destination": destination,
                    "url_route": f"observatory-{key}-{destination}",
                }
            )
    return views


class ObservatoryPlugin(AirflowPlugin):
    """Data Docs and quarantine links on the DAG and task pages, and the pages themselves."""

    name = "observatory"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/observatory", "name": "observatory"}]  # noqa: RUF012
    external_views = _views()  # noqa: RUF012
