"""/api/docs: Swagger UI over /api/openapi.json, its assets served from the
swagger-ui-py package (no CDN; the page's CSP allows only this origin).

The operations are also listed in the HTML itself, for a reader without JavaScript."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from craft_jobs.dashboard.deps import State
from craft_jobs.dashboard.errors import not_found

router = APIRouter(include_in_schema=False)
# Located without importing swagger_ui (its __init__ loads every web framework adapter).
SWAGGER_UI = Path(importlib.util.find_spec("swagger_ui").submodule_search_locations[0]) / "static"
ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})


@router.get("/api/docs")
async def api_docs(request: Request, state: State) -> Response:
    spec = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, **op}
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    return state.templates.TemplateResponse(
        request, "api_docs.html", {**state.page_context(request), "spec": spec, "operations": operations},
    )


@router.get("/api/docs/assets/{name}")
async def api_docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise not_found(f"asset {name!r}", "name")
    return FileResponse(SWAGGER_UI / name, headers={"Cache-Control": "public, max-age=86400"})
