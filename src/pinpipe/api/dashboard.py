"""``GET /``: reserved for the dashboard (a later issue); for now a page listing the routes."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pinpipe.api.deps import ApiKeyGuard

router = APIRouter(dependencies=[ApiKeyGuard])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request) -> HTMLResponse:
    rows = []
    for path, operations in request.app.openapi()["paths"].items():
        for method, operation in operations.items():
            summary = operation.get("summary", "")
            rows.append(
                f"<tr><td>{escape(method.upper())}</td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(summary)}</td></tr>"
            )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>pinpipe gateway</title></head><body>"
        "<h1>pinpipe gateway</h1><p>The dashboard will live here. Routes (see <a href='/docs'>/docs</a>):</p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )
    return HTMLResponse(page)
