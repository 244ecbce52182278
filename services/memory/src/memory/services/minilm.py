"""all-MiniLM-L6-v2 run by ONNX Runtime (no torch).

``tokenizers`` does the WordPiece tokenization. The six-layer BERT encoder is built as an ONNX
graph from the safetensors weights when the embedder is created (:func:`encoder_graph`), and
ONNX Runtime runs it: mean pooling of the last hidden state over real tokens, then L2
normalisation, what sentence-transformers computes for this model (checked against the
similarities its documentation prints, tests/test_embedding.py).

Why ONNX Runtime rather than the numpy encoder it replaced: it packs the weight matrices once,
when the session is created, where OpenBLAS packed all 42 MB of them again on every call. A
search embeds one short query, and that packing was most of its cost: 14.6 ms per query on
this machine's cores, 6.3 ms with ONNX Runtime (docs/benchmarks.md). Batches of imports and
turns gain ~10 % (the fused layer norms and GELU). The float32 results agree with the numpy
encoder's to ~1e-6 (cosine 1.00000 over short and long texts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
# Word pieces encoded per text. sentence-transformers truncates this model at 256; it was
# trained on 128 (its model card), and the encoder's cost grows with the length: profiled under
# load, memory spent 72 % of its time here, mostly on long conversation excerpts
# (docs/benchmarks.md). 128 halves that cost and keeps what the model learned to summarise.
MAX_TOKENS = 128
_GROUP_SIZE = 64  # texts encoded in one pass at most
_HIDDEN, _HEADS, _LAYERS = 384, 12, 6
#: ONNX operator set of the graph: 20 is the first with Gelu (LayerNormalization is 17).
_OPSET = 20


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 over the weights in ``model_dir``, one ONNX Runtime session.

    ``embed`` may be called from several threads at once (ONNX Runtime's ``run`` is
    thread-safe); each call runs on its caller's thread (one intra-op thread), so the caller's
    pool decides the parallelism, as it did for the numpy encoder's one BLAS thread."""

    model_name = MODEL_NAME
    dimension = _HIDDEN

    def __init__(self, model_dir: Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # The model's tokenizer.json pads every text to 128 tokens; padding here is per group
        # (``embed``), so a short text costs a short pass (10x less for a memory's few words).
        self._tokenizer.no_padding()
        graph = encoder_graph(load_file(str(model_dir / "model.safetensors")))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no shape-merge warnings at start-up
        self._session = ort.InferenceSession(
            graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
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
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(encodings)), key=lengths.__getitem__)
        result = np.zeros((len(encodings), self.dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            shortest = lengths[order[start]]
            end = start + 1
            while (
                end < len(order)
                and end - start < _GROUP_SIZE
                and lengths[order[end]] <= 2 * shortest + 8
            ):
                end += 1
            group = [encodings[i] for i in order[start:end]]
            result[order[start:end]] = self._encode(group)
            start = end
        return result

    def _encode(self, encodings: list[Any]) -> NDArray[np.float32]:
        """The encoder over encodings padded to the longest of them."""
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            types[row, :n] = encoding.type_ids
            mask[row, :n] = 1
        (vectors,) = self._session.run(
            None, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        )
        result: NDArray[np.float32] = np.asarray(vectors, dtype=np.float32)
        return result


def encoder_graph(weights: dict[str, NDArray[Any]]) -> onnx.ModelProto:
    """The BERT encoder of all-MiniLM-L6-v2 with mean pooling and L2 normalisation, as an ONNX
    model over ``weights`` (the tensors of its ``model.safetensors``, Hugging Face BERT names).

    Inputs ``input_ids``, ``token_type_ids``, ``attention_mask``: int64 (texts, tokens), padded
    with zeros. Output ``embedding``: float32 (texts, 384), unit length. Per layer: one
    (384, 1152) projection for query, key and value, 12 heads of 32, scaled dot-product
    attention with padded keys masked (-1e9), output projection, residual and LayerNorm, the
    1536-wide feed-forward with exact (erf) GELU, residual and LayerNorm (eps 1e-12): BERT as
    transformers implements it (``BertModel``; github.com/huggingface/transformers)."""
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []

    def constant(name: str, value: NDArray[Any]) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: list[str], **attributes: Any) -> str:
        output = f"{kind.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output

    def linear(x: str, prefix: str, name: str) -> str:
        """x @ W.T + b of the dense layer ``prefix`` (Hugging Face keeps W as (out, in))."""
        w = constant(name + ".w", weights[prefix + ".weight"].T)
        return op("Add", [op("MatMul", [x, w]), constant(name + ".b", weights[prefix + ".bias"])])

    def layer_norm(x: str, prefix: str) -> str:
        scale = constant(prefix + ".gamma", weights[prefix + ".weight"])
        shift = constant(prefix + ".beta", weights[prefix + ".bias"])
        return op("LayerNormalization", [x, scale, shift], axis=-1, epsilon=1e-12)

    head_dim = _HIDDEN // _HEADS
    one = constant("one_i", np.array(1, dtype=np.int64))
    ones_f = constant("one_f", np.array(1.0, dtype=np.float32))
    # Position ids 0..length-1 for every text: a running count of ones along each row.
    ones = op("Add", [op("Mul", ["input_ids", constant("zero_i", np.array(0, np.int64))]), one])
    positions = op("Sub", [op("CumSum", [ones, one]), one])
    e = "embeddings."

    def lookup(table: str, indices: str) -> str:
        return op("Gather", [constant(table, weights[e + table + ".weight"]), indices])

    x = op(
        "Add", [lookup("word_embeddings", "input_ids"), lookup("position_embeddings", positions)]
    )
    x = op("Add", [x, lookup("token_type_embeddings", "token_type_ids")])
    x = layer_norm(x, e + "LayerNorm")
    mask = op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # (texts, 1, 1, tokens): 0 for a real key, -1e9 for padding, added to every head's scores.
    key_bias = op(
        "Unsqueeze",
        [
            op("Mul", [op("Sub", [ones_f, mask]), constant("neg", np.array(-1e9, np.float32))]),
            constant("axes_1_2", np.array([1, 2], np.int64)),
        ],
    )
    split_heads = constant("split_heads", np.array([0, 0, _HEADS, head_dim], np.int64))
    merge_heads = constant("merge_heads", np.array([0, 0, _HIDDEN], np.int64))
    scale = constant("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate(
            [weights[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")],
            axis=1,
        )
        qkv_b = np.concatenate(
            [weights[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
        )
        qkv = op("MatMul", [x, constant(f"l{i}.qkv.w", qkv_w)])
        qkv = op("Add", [qkv, constant(f"l{i}.qkv.b", qkv_b)])
        q, k, v = (f"l{i}.q", f"l{i}.k", f"l{i}.v")
        nodes.append(helper.make_node("Split", [qkv], [q, k, v], axis=2, num_outputs=3))

        def heads(t: str, perm: list[int]) -> str:
            return op("Transpose", [op("Reshape", [t, split_heads])], perm=perm)

        scores = op("MatMul", [heads(q, [0, 2, 1, 3]), heads(k, [0, 2, 3, 1])])
        scores = op("Softmax", [op("Add", [op("Mul", [scores, scale]), key_bias])], axis=-1)
        context = op("MatMul", [scores, heads(v, [0, 2, 1, 3])])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        attended = linear(context, p + "attention.output.dense", f"l{i}.out")
        x = layer_norm(op("Add", [attended, x]), p + "attention.output.LayerNorm")
        hidden = op("Gelu", [linear(x, p + "intermediate.dense", f"l{i}.up")])
        out = linear(hidden, p + "output.dense", f"l{i}.down")
        x = layer_norm(op("Add", [out, x]), p + "output.LayerNorm")
    # Mean over real tokens, then unit length.
    tokens_axis = constant("axis_1", np.array([1], np.int64))
    token_mask = op("Unsqueeze", [mask, constant("axis_2", np.array([2], np.int64))])
    summed = op("ReduceSum", [op("Mul", [x, token_mask]), tokens_axis], keepdims=0)
    counts = op("ReduceSum", [mask, tokens_axis], keepdims=1)
    counts = op("Max", [counts, constant("min_count", np.array(1e-9, np.float32))])
    pooled = op("Div", [summed, counts])
    norms = op("ReduceL2", [pooled, tokens_axis], keepdims=1)
    norms = op("Max", [norms, constant("min_norm", np.array(1e-12, np.float32))])
    nodes.append(helper.make_node("Div", [pooled, norms], ["embedding"]))
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["texts", "tokens"])
        for name in ("input_ids", "token_type_ids", "attention_mask")
    ]
    output = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["texts", _HIDDEN])
    graph = helper.make_graph(nodes, MODEL_NAME, inputs, [output], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 10  # what ONNX Runtime >= 1.20 reads
    onnx.checker.check_model(model)
    return model
