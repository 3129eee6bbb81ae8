"""The training-time embedding cache: each distinct text encoded once, optionally kept on disk.

>>> from goalmatch.embed.encoder import FakeEncoder
>>> cache = EmbeddingCache(FakeEncoder())
>>> cache.encode(["Fiber till byarna", "Fiber till byarna", "Teater för unga"]).shape
(3, 64)
>>> cache.encoded
2
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch._io import replacing
from goalmatch.embed.tokens import encode_spans_apart

__all__ = ["EmbeddingCache"]

logger = logging.getLogger(__name__)


class EmbeddingCache:
    """Wraps an encoder so each distinct text is encoded once; optionally remembered on disk.

    Used while training. The disk cache is one ``.npz`` per encoder (id, checksum and
    prefix in its name), keyed by the sha256 of each text, read with ``allow_pickle=False``.
    """

    def __init__(self, encoder: Any, cache_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.memo: dict[str, np.ndarray] = {}
        self.encoded = 0
        self.path: Path | None = None
        if cache_dir is not None:
            tag = hashlib.sha256(f"{getattr(encoder, 'prefix', '')}|{encoder.checksum}".encode()).hexdigest()[:16]
            self.path = Path(cache_dir) / f"embeddings-{encoder.id}-{tag}.npz"
            if self.path.is_file():
                with np.load(self.path, allow_pickle=False) as data:
                    self.memo = {key: data[key] for key in data.files}
                logger.info("Read %d cached embeddings from %s", len(self.memo), self.path)
        self._loaded = len(self.memo)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.memo}
        if missing:
            logger.info("Encoding %d texts", len(missing))
            vectors = np.asarray(self.encoder.encode(list(missing.values())), dtype=np.float32)
            self.memo.update(zip(missing, vectors, strict=True))
            self.encoded += len(missing)
        if not keys:
            return np.asarray(self.encoder.encode([]), dtype=np.float32)
        return np.stack([self.memo[k] for k in keys])

    def encode_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The encoder's ``encode_spans``, each (text, spans) pair computed once: kept as one
        array, the text's vector first, then its spans'."""
        keys = [hashlib.sha256(json.dumps([t, [list(map(int, s)) for s in row]]).encode("utf-8", "surrogatepass"))
                .hexdigest() for t, row in zip(texts, spans, strict=True)]
        missing = {k: i for i, k in enumerate(keys) if k not in self.memo}
        if missing:
            rows = list(missing.values())
            logger.info("Encoding %d texts with their spans", len(rows))
            late = getattr(self.encoder, "encode_spans", None)
            todo = [texts[i] for i in rows], [list(spans[i]) for i in rows]
            docs, parts = late(*todo) if late is not None else encode_spans_apart(self.encoder, *todo)
            for key, doc, part in zip(missing, docs, parts, strict=True):
                self.memo[key] = np.vstack([doc[None], part]).astype(np.float32)
            self.encoded += len(rows)
        blocks = [self.memo[k] for k in keys]
        width = blocks[0].shape[1] if blocks else 0
        docs = np.stack([b[0] for b in blocks]) if blocks else np.zeros((0, width), np.float32)
        return docs, [b[1:] for b in blocks]

    def save(self) -> None:
        if self.path is None or len(self.memo) == self._loaded:
            return
        with replacing(self.path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, **self.memo)  # type: ignore[arg-type]
        logger.info("Cached %d embeddings in %s", len(self.memo), self.path)
