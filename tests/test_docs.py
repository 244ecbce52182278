"""The generated documents (event schemas, OpenAPI) match the code."""

from __future__ import annotations

from scripts.gen_docs import documents, render


def test_generated_documents_are_up_to_date() -> None:
    stale = [
        str(path) for path, doc in documents().items()
        if not path.exists() or path.read_text() != render(doc)
    ]  # fmt: skip
    assert stale == [], "run `make docs` and commit the result"
