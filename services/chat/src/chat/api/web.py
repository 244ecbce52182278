"""The web chat page at ``/`` and its assets (docs/clients.md#the-web-page): plain files from
``chat/web`` (its script, its style sheet and two vendored libraries), no build step, served
with a strict Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

#: Only the page's own script and style run; no inline code, no other origin, no framing.
#: ``connect-src 'self'`` covers the page's fetches and its same-origin WebSocket (CSP Level 3,
#: https://www.w3.org/TR/CSP3/#match-url-to-source-expression: ws/wss match 'self').
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
#: Every file served under /static/, by its path in ``chat/web``; nothing else is (the vendor
#: folder's README and licences stay out).
ASSET_TYPES = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "vendor/markdown-it.esm.min.mjs": "text/javascript",
    "vendor/purify.es.mjs": "text/javascript",
}

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The chat page (HTML)."""
    return FileResponse(
        WEB_DIR / "index.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS
    )


@router.get("/static/{name:path}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    """One of the page's assets (ASSET_TYPES); any other name is a 404."""
    if name not in ASSET_TYPES:
        raise HTTPException(status_code=404, detail="no such asset")
    return FileResponse(
        WEB_DIR / name, media_type=f"{ASSET_TYPES[name]}; charset=utf-8", headers=SECURITY_HEADERS
    )
