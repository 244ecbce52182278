"""The web page as chat serves it: the files, their types and a policy the page can live
with (no inline script or style, nothing from another origin). The page's behaviour is tested
in a real browser against the running stack (tests/clients/test_web_page.py)."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import httpx

from chat.api.web import ASSET_TYPES, CONTENT_SECURITY_POLICY, WEB_DIR


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
    assert {"app.js", "app.css", "vendor/purify.es.mjs"} <= set(ASSET_TYPES)
    for name, kind in ASSET_TYPES.items():
        asset = await client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"] == f"{kind}; charset=utf-8"
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.content == (WEB_DIR / name).read_bytes()
    for name in ("index.html", "..%2Fapi%2Fweb.py", "missing.js", "vendor/README.md",
                 "vendor/LICENSE-dompurify.txt", "vendor%2F..%2Fapp.js", "vendor"):  # fmt: skip
        assert (await client.get(f"/static/{name}")).status_code == 404, name
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
    # Its modules are served assets (the vendored libraries), nothing from another origin.
    imports = re.findall(r'^import .* from "\./([^"]+)";$', script, re.M)
    assert imports == ["vendor/markdown-it.esm.min.mjs", "vendor/purify.es.mjs"]
    assert set(imports) <= set(ASSET_TYPES)
    # Text only ever goes in as textContent (a reply: DOM nodes from the sanitizer, see
    # test_the_vendored_libraries_are_the_published_files); no eval-like sinks.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function",
                 "document.write"):  # fmt: skip
        assert sink not in script, sink
    assert not re.search(r"https?://", script + (WEB_DIR / "app.css").read_text())


def test_the_vendored_libraries_are_the_published_files() -> None:
    """vendor/README.md records each file's sha256 (and its package's npm integrity): the
    files are those, unmodified, and the page configures them as the README says."""
    readme = (WEB_DIR / "vendor" / "README.md").read_text()
    recorded = dict(
        re.findall(
            r"`([\w.-]+\.mjs)` \(`dist/[\w/]*`\) \| `sha512-[^`]+` \| `([0-9a-f]{64})`", readme
        )
    )
    assert set(recorded) == {"markdown-it.esm.min.mjs", "purify.es.mjs"}
    for name, digest in recorded.items():
        assert f"vendor/{name}" in ASSET_TYPES
        assert hashlib.sha256((WEB_DIR / "vendor" / name).read_bytes()).hexdigest() == digest
    script = (WEB_DIR / "app.js").read_text()
    assert "markdownit({ html: false, linkify: true })" in script  # raw HTML stays text
    assert "ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i" in script
    assert "RETURN_DOM_FRAGMENT: true" in script
