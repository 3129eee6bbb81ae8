"""multilingual-e5-small's forward pass, run directly on its weights: numpy or torch.

The rebuilt folder (:func:`goalmatch.embed.e5build.ensure_e5_small`) is a BERT encoder
(12 layers, 384 wide, 12 heads) in ``model.safetensors``. Reading it with
sentence-transformers costs seconds of imports (transformers, sentence-transformers)
before the first text; here the file is memory-mapped (only the vocabulary rows a text
uses are ever read from its 384 MB embedding matrix) and the same arithmetic runs on:

``numpy``
    no torch at all: about 0.15 s for a 300-token text on 2 cores, nothing to import
    beyond numpy and scipy. Best for a handful of texts (one ``goalmatch suggest``).
``torch``
    PyTorch's fused kernels (``scaled_dot_product_attention``, ``layer_norm``): about
    twice numpy's speed in batches, after about a second of importing torch.

Both return the last layer's token states, so callers pool them as they need: over the
whole text (the sentence embedding: mean over every token, ``<s>`` and ``</s>``
included, as the model's pooling config says) or over the tokens of one sentence (late
chunking: sentence vectors from the text's own forward pass). Their vectors agree with
sentence-transformers' to float rounding (cosine > 0.99999; ``tests/embed/test_forward.py``).

Loaded weights are shared by every :class:`~goalmatch.embed.encoder.Encoder` of a process
(:func:`shared_model`): four classifiers fitted in one script hold one model.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch.errors import EncoderError

__all__ = ["BertConfig", "NumpyBert", "TorchBert", "is_loaded", "read_config", "read_safetensors", "shared_model"]

WEIGHTS_FILE = "model.safetensors"
_MAX_HEADER = 1 << 24  # the e5 header is ~20 kB
_DTYPES = {"F32": np.float32}

_lock = threading.RLock()  # re-entrant: making one object may need another (a tokenizer needs its build folder)
_models: dict[tuple[Any, ...], Any] = {}


def shared_model(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """The process's one object for ``key`` (e.g. folder, backend), made on first use."""
    with _lock:
        if key not in _models:
            _models[key] = make()
        return _models[key]


def is_loaded(key: tuple[Any, ...]) -> bool:
    """Whether :func:`shared_model` has made the object for ``key`` in this process."""
    return key in _models


@dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder, from its ``config.json``."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    max_positions: int
    eps: float
    pad_id: int


def read_config(folder: Path) -> BertConfig:
    """The folder's BERT shape; a folder that is no plain BERT with mean pooling is refused."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        cfg = BertConfig(int(config["num_hidden_layers"]), int(config["hidden_size"]),
                         int(config["num_attention_heads"]), int(config["intermediate_size"]),
                         int(config["max_position_embeddings"]), float(config["layer_norm_eps"]),
                         int(config.get("pad_token_id", 0)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EncoderError(f"{folder}: not a readable BERT folder ({type(exc).__name__}: {exc})") from None
    plain = (config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
             and config.get("position_embedding_type", "absolute") == "absolute"
             and pooling.get("pooling_mode_mean_tokens") is True and cfg.hidden % cfg.heads == 0
             and not any(v for k, v in pooling.items()
                         if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"))
    if not plain:
        raise EncoderError(f"{folder}: the direct forward pass reads BERT with GELU and mean pooling only")
    return cfg


def read_safetensors(path: Path, mode: str = "r") -> dict[str, np.ndarray]:
    """The float32 tensors of a safetensors file as memory-mapped arrays (``mode`` ``"r"``:
    read-only; ``"c"``: copy-on-write, for libraries that want writable arrays).

    The header is checked (size, dtype, every tensor's bytes inside the file and of its
    shape's size) before any array is made.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(8)
        n = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
        if not 0 < n <= min(_MAX_HEADER, size - 8):
            raise EncoderError(f"{path}: not a safetensors file (header length {n})")
        try:
            header = json.loads(handle.read(n))
        except ValueError as exc:
            raise EncoderError(f"{path}: unreadable safetensors header ({exc})") from None
    data = np.memmap(path, dtype=np.uint8, mode=mode)  # type: ignore[call-overload]  # mode: "r" or "c"
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[spec["dtype"]]
            shape = tuple(int(d) for d in spec["shape"])
            start, end = (8 + n + int(o) for o in spec["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise EncoderError(f"{path}: tensor {name!r} has an unreadable or non-float32 entry") from None
        if not 8 + n <= start <= end <= size or end - start != int(np.prod(shape)) * np.dtype(dtype).itemsize:
            raise EncoderError(f"{path}: tensor {name!r} lies outside the file or does not fit its shape")
        out[name] = data[start:end].view(dtype).reshape(shape)
    return out


class _Layers:
    """The weights in the order the forward pass uses them, checked against the config."""

    def __init__(self, folder: Path, cfg: BertConfig, as_array: Callable[[np.ndarray], Any], mode: str = "r") -> None:
        tensors = read_safetensors(folder / WEIGHTS_FILE, mode)

        def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
            if name not in tensors or tensors[name].shape != shape:
                found = tensors[name].shape if name in tensors else "missing"
                raise EncoderError(f"{folder / WEIGHTS_FILE}: {name} should be {shape}, is {found}")
            return tensors[name]

        h, m = cfg.hidden, cfg.intermediate
        vocabulary = len(tensors.get("embeddings.word_embeddings.weight", ()))  # any size, checked for width
        self.words = as_array(get("embeddings.word_embeddings.weight", (vocabulary, h)))
        self.positions = as_array(np.array(get("embeddings.position_embeddings.weight", (cfg.max_positions, h))))
        self.token_type = as_array(np.array(get("embeddings.token_type_embeddings.weight", (2, h))[0]))
        self.norm = tuple(as_array(np.array(get(f"embeddings.LayerNorm.{p}", (h,)))) for p in ("weight", "bias"))
        self.layers = []
        for i in range(cfg.layers):
            p = f"encoder.layer.{i}."
            qkv = np.concatenate([get(f"{p}attention.self.{w}.weight", (h, h)) for w in ("query", "key", "value")])
            qkv_b = np.concatenate([get(f"{p}attention.self.{w}.bias", (h,)) for w in ("query", "key", "value")])
            self.layers.append(tuple(as_array(np.ascontiguousarray(a)) for a in (
                qkv.T, qkv_b,
                get(f"{p}attention.output.dense.weight", (h, h)).T, get(f"{p}attention.output.dense.bias", (h,)),
                get(f"{p}attention.output.LayerNorm.weight", (h,)), get(f"{p}attention.output.LayerNorm.bias", (h,)),
                get(f"{p}intermediate.dense.weight", (m, h)).T, get(f"{p}intermediate.dense.bias", (m,)),
                get(f"{p}output.dense.weight", (h, m)).T, get(f"{p}output.dense.bias", (h,)),
                get(f"{p}output.LayerNorm.weight", (h,)), get(f"{p}output.LayerNorm.bias", (h,)),
            )))


# ------------------------------------------------------------------------ numpy

_SQRT_HALF = np.float32(0.7071067811865476)
# Abramowitz & Stegun 7.1.26: |erf error| < 1.5e-7, below float32's resolution of GELU's output
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, in place on float32 ``x``, without scipy's slower erf."""
    z = np.abs(x) * _SQRT_HALF
    t = 1.0 / (1.0 + _ERF_P * z)
    poly = _ERF_A[0]
    for a in _ERF_A[1:]:
        poly = poly * t + a
    tail = poly * t * np.exp(-z * z)  # 1 - erf(|x| / sqrt 2)
    # gelu(x) = x/2 (1 + erf(x / sqrt 2)) = x (1 - tail/2) for x >= 0, x tail/2 for x < 0
    tail *= np.float32(0.5)
    return np.where(x >= 0, x - x * tail, x * tail).astype(np.float32, copy=False)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    var = (x * x).mean(axis=-1, keepdims=True)
    x /= np.sqrt(var + np.float32(eps))
    return x * weight + bias


class NumpyBert:
    """The forward pass in numpy (float32): token states ``(batch, tokens, hidden)``."""

    def __init__(self, folder: Path) -> None:
        self.config = read_config(folder)
        self.weights = _Layers(folder, self.config, lambda a: a)

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states of a padded batch; each row runs alone, unpadded (numpy is faster so:
        a padded batch's attention matrices outgrow the CPU caches)."""
        out = np.zeros((*ids.shape, self.config.hidden), dtype=np.float32)
        for row, (row_ids, row_mask) in enumerate(zip(ids, mask, strict=True)):
            n = int(row_mask.sum())
            out[row, :n] = self._forward(row_ids[None, :n])[0]
        return out

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        cfg, w = self.config, self.weights
        b, t = ids.shape
        h, heads = cfg.hidden, cfg.heads
        d = h // heads
        x = w.words[ids] + w.positions[:t] + w.token_type
        x = _layer_norm(x.astype(np.float32), w.norm[0], w.norm[1], cfg.eps)
        scale = np.float32(1 / np.sqrt(d))
        for qkv, qkv_b, out, out_b, n1_w, n1_b, up, up_b, down, down_b, n2_w, n2_b in w.layers:
            q, k, v = (x.reshape(b * t, h) @ qkv + qkv_b).reshape(b, t, 3, heads, d).transpose(2, 0, 3, 1, 4)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * t, h)
            x = _layer_norm((context @ out + out_b).reshape(b, t, h) + x, n1_w, n1_b, cfg.eps)
            inner = _gelu(x.reshape(b * t, h) @ up + up_b)
            x = _layer_norm((inner @ down + down_b).reshape(b, t, h) + x, n2_w, n2_b, cfg.eps)
        return x


# ------------------------------------------------------------------------ torch


class TorchBert:
    """The forward pass in PyTorch (float32, inference mode): token states as a numpy array."""

    def __init__(self, folder: Path) -> None:
        import torch

        self.torch = torch
        self.config = read_config(folder)
        # copy-on-write: torch wants writable arrays; nothing is copied, the vocabulary stays on disk
        self.weights = _Layers(folder, self.config, torch.from_numpy, mode="c")

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch, cfg, w = self.torch, self.config, self.weights
        F = torch.nn.functional
        h, heads = cfg.hidden, cfg.heads
        with torch.inference_mode():
            ids_t = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
            b, t = ids_t.shape
            x = F.embedding(ids_t, w.words) + w.positions[:t] + w.token_type
            x = F.layer_norm(x, (h,), *w.norm, cfg.eps)
            keep = torch.from_numpy(np.ascontiguousarray(mask) > 0)[:, None, None, :]
            for qkv, qkv_b, out, out_b, n1_w, n1_b, up, up_b, down, down_b, n2_w, n2_b in w.layers:
                q, k, v = (x @ qkv + qkv_b).view(b, t, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
                x = F.layer_norm(context.transpose(1, 2).reshape(b, t, h) @ out + out_b + x, (h,), n1_w, n1_b, cfg.eps)
                x = F.layer_norm(F.gelu(x @ up + up_b) @ down + down_b + x, (h,), n2_w, n2_b, cfg.eps)
            return x.numpy()

