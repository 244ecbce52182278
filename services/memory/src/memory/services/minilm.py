"""all-MiniLM-L6-v2 as a small numpy BERT encoder (no torch).

``tokenizers`` does the WordPiece tokenization; the encoder runs the six transformer layers over
the safetensors weights, mean-pools the last hidden state over real tokens and L2-normalises:
what sentence-transformers computes for this model (checked against the similarities its
documentation prints, tests/test_embedding.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
# Word pieces encoded per text. sentence-transformers truncates this model at 256; it was
# trained on 128 (its model card), and the encoder's cost grows with the length: profiled under
# load, memory spent 72 % of its time here, mostly on long conversation excerpts
# (docs/benchmarks.md). 128 halves that cost and keeps what the model learned to summarise.
MAX_TOKENS = 128
_GROUP_SIZE = 64  # texts encoded in one pass at most


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 as a numpy BERT encoder over the weights in ``model_dir``."""

    model_name = MODEL_NAME
    dimension = 384

    def __init__(self, model_dir: Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # The model's tokenizer.json pads every text to 128 tokens; padding here is per group
        # (``embed``), so a short text costs a short pass (10x less for a memory's few words).
        self._tokenizer.no_padding()
        # No padding here: embed() pads each group of similar lengths itself.
        w = load_file(str(model_dir / "model.safetensors"))
        self._word = w["embeddings.word_embeddings.weight"]
        self._position = w["embeddings.position_embeddings.weight"]
        self._token_type = w["embeddings.token_type_embeddings.weight"]
        self._embed_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers: list[dict[str, Any]] = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            self._layers.append(
                {
                    # Query, key and value as one (384, 1152) matrix: one matmul instead of three.
                    "qkv_w": np.concatenate(
                        [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")],
                        axis=1,
                    ),
                    "qkv_b": np.concatenate(
                        [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
                    ),
                    "out_w": w[p + "attention.output.dense.weight"].T,
                    "out_b": w[p + "attention.output.dense.bias"],
                    "norm1": (
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                    ),
                    "up_w": w[p + "intermediate.dense.weight"].T,
                    "up_b": w[p + "intermediate.dense.bias"],
                    "down_w": w[p + "output.dense.weight"].T,
                    "down_b": w[p + "output.dense.bias"],
                    "norm2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                }
            )

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit vectors (len(texts), 384), float32, in the order of ``texts``.

        Texts are encoded in groups of similar token length, each padded only to its own
        longest: a batch that mixes a short search query with a long conversation excerpt
        would otherwise run the query at the excerpt's length (the encoder's cost grows with
        the padded length; profiled in docs/benchmarks.md)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        result = np.zeros((len(encodings), self.dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            shortest = len(encodings[order[start]].ids)
            end = start + 1
            while (
                end < len(order)
                and end - start < _GROUP_SIZE
                and len(encodings[order[end]].ids) <= 2 * shortest + 8
            ):
                end += 1
            group = [encodings[i] for i in order[start:end]]
            result[order[start:end]] = self._encode(group)
            start = end
        return result

    def _encode(self, encodings: list[Any]) -> NDArray[np.float32]:
        """The encoder over encodings padded to the longest of them."""
        length = max(len(e.ids) for e in encodings)

        def padded(values: list[int]) -> list[int]:
            return values + [0] * (length - len(values))

        ids = np.array([padded(e.ids) for e in encodings], dtype=np.int64)
        types = np.array([padded(e.type_ids) for e in encodings], dtype=np.int64)
        mask = np.array([padded(e.attention_mask) for e in encodings], dtype=np.float32)
        n, length = ids.shape
        x = self._word[ids] + self._position[:length][None, :, :] + self._token_type[types]
        x = _layer_norm(x, *self._embed_norm)
        # Padding positions get -inf-like scores so no token attends to them.
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        heads, head_dim = 12, self.dimension // 12
        # The dense layers run on (n·length, 384) matrices: one GEMM each, ~20 % faster than
        # numpy's stacked matmul over (n, length, 384).
        x = x.reshape(n * length, self.dimension)
        for layer in self._layers:
            qkv = x @ layer["qkv_w"]
            qkv += layer["qkv_b"]
            q, k, v = (
                qkv[:, i * self.dimension : (i + 1) * self.dimension]
                .reshape(n, length, heads, head_dim)
                .transpose(0, 2, 1, 3)
                for i in range(3)
            )
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= 1.0 / math.sqrt(head_dim)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, self.dimension)
            attended = context @ layer["out_w"]
            attended += layer["out_b"]
            attended += x
            x = _layer_norm(attended, *layer["norm1"])
            hidden = x @ layer["up_w"]
            hidden += layer["up_b"]
            out = _gelu(hidden) @ layer["down_w"]
            out += layer["down_b"]
            out += x
            x = _layer_norm(out, *layer["norm2"])
        x = x.reshape(n, length, self.dimension)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(
            mask.sum(axis=1, keepdims=True), 1e-9
        )
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


def _layer_norm(x: Any, weight: Any, bias: Any, eps: float = 1e-12) -> Any:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


#: Rows of the hidden layer GELU works on at a time: 32 x 1536 floats stay in the CPU's cache
#: through its dozen passes (the whole (n·length, 1536) matrix did not: 2x slower).
_GELU_ROWS = 32


def _gelu(hidden: Any) -> Any:
    """BERT's exact GELU, 0.5·x·(1 + erf(x/√2)), in place over ``hidden`` (rows x features),
    with erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7). Computed a block
    of rows at a time with two scratch buffers: with a temporary per step over the whole
    matrix it took 28 % of the encoder's time (cProfile, 640 short texts)."""
    for start in range(0, len(hidden), _GELU_ROWS):
        x = hidden[start : start + _GELU_ROWS]
        a = np.abs(x)
        a *= 1.0 / math.sqrt(2.0)  # |z|, z = x/√2
        t = a * np.float32(0.3275911)
        t += 1.0
        np.reciprocal(t, out=t)
        poly = t * np.float32(1.061405429)
        for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
            poly += np.float32(c)
            poly *= t
        np.square(a, out=a)
        np.negative(a, out=a)
        np.exp(a, out=a)
        poly *= a  # 1 - erf(|z|)
        np.subtract(1.0, poly, out=poly)
        np.copysign(poly, x, out=poly)  # erf(z)
        poly += 1.0
        poly *= 0.5
        x *= poly
    return hidden
