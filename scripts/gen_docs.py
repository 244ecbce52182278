"""Write the documents generated from the code: event JSON schemas and both OpenAPI specs.

uv run python scripts/gen_docs.py          # rewrite docs/events/*.json, docs/openapi/*.json
uv run python scripts/gen_docs.py --check  # fail if they are out of date (run by the tests)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent


def event_schemas() -> dict[str, type[BaseModel]]:
    from memory.models.events import (
        ConversationTurn,
        IndexUpdated,
        SessionDeletedEvent,
        UserForgotten,
    )
    from memory.models.memory import StoredMemory

    return {
        "memory-event.v1.json": StoredMemory,
        "memory-index-updated.v1.json": IndexUpdated,
        "user-forgotten.v1.json": UserForgotten,
        "conversation-turn.v1.json": ConversationTurn,
        "session-deleted.v1.json": SessionDeletedEvent,
    }


def documents() -> dict[Path, Any]:
    from chat.main import create_app as create_chat
    from memory.main import create_app as create_memory

    docs: dict[Path, Any] = {}
    for name, model in event_schemas().items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://dapr-agent-services.dev/schemas/{name}"
        docs[ROOT / "docs" / "events" / name] = schema
    docs[ROOT / "docs" / "openapi" / "memory.json"] = create_memory(embedder=None).openapi()
    docs[ROOT / "docs" / "openapi" / "chat.json"] = create_chat().openapi()
    return docs


def render(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path, document in documents().items():
        text = render(document)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run `make docs`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
