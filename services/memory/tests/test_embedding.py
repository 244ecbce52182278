from __future__ import annotations

import numpy as np
import pytest

from memory.services.embedding import TextEmbedder, load_default_embedder


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    loaded = load_default_embedder()
    assert loaded is not None, "memory[embeddings] is part of the workspace"
    return loaded


def test_matches_the_similarities_the_model_documentation_prints(embedder: TextEmbedder) -> None:
    # sentence-transformers' quickstart for all-MiniLM-L6-v2 prints these cosine similarities.
    vectors = embedder.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=5e-4)


def test_vectors_are_normalised_and_batch_independent(embedder: TextEmbedder) -> None:
    alone = embedder.embed(["I prefer window seats on trains"])
    batched = embedder.embed(["short", "I prefer window seats on trains", "a much longer " * 20])
    assert alone.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(alone[0], batched[1], atol=1e-5)  # padding changes nothing


def test_long_text_is_truncated_not_refused(embedder: TextEmbedder) -> None:
    assert embedder.embed(["word " * 5000]).shape == (1, 384)


def test_empty_batch(embedder: TextEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)
