"""/api/docs: the OpenAPI description rendered as a page, with no CDN assets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from craft_jobs.dashboard.deps import State

router = APIRouter(include_in_schema=False)


@router.get("/api/docs")
async def api_docs(request: Request, state: State) -> Response:
    spec = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, **op}
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    return state.templates.TemplateResponse(
        request, "api_docs.html",
        {**state.page_context(request), "spec": spec, "operations": operations, "schemas": spec["components"]["schemas"]},
    )
