"""The web page as chat serves it: the files, their types and a policy the page can live
with (no inline script or style, nothing from another origin). The page's behaviour is tested
in a real browser against the running stack (tests/e2e/test_web_page.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from chat.api.web import CONTENT_SECURITY_POLICY, WEB_DIR


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] in ("script", "style"):
            self.script_text += data.strip()


async def test_the_page_and_its_assets_are_served_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        asset = await client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
        assert asset.content == (WEB_DIR / name).read_bytes()
    for name in ("index.html", "..%2Fapi%2Fweb.py", "missing.js"):
        assert (await client.get(f"/static/{name}")).status_code == 404
    assert "/" not in (await client.get("/openapi.json")).json()["paths"]


def test_the_page_needs_nothing_the_policy_forbids() -> None:
    parser = Tags()
    parser.feed((WEB_DIR / "index.html").read_text())
    assert parser.script_text == ""  # no inline script or style
    for tag, attrs in parser.tags:
        assert "style" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), tag  # no inline handlers
        for url in (attrs.get("src"), attrs.get("href")):
            if url and tag != "a":
                assert url.startswith("/static/") or url == "data:,", url
    script = (WEB_DIR / "app.js").read_text()
    # User text only ever goes in as textContent; no eval-like sinks.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function",
                 "document.write"):  # fmt: skip
        assert sink not in script, sink
    assert not re.search(r"https?://", script + (WEB_DIR / "app.css").read_text())
