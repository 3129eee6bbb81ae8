"""The bookkeeping of a batch run: its resumable journal and its progress display.

:class:`Journal` keeps ``OUTPUT.partial/``: ``journal.json`` says what the run is (input,
model, options) and each scored chunk is one JSON file, written, fsynced and renamed into
place, so a run killed at any point resumes after its last committed chunk.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch.batch.writers import write_atomic

__all__ = ["Journal", "Progress", "read_json"]

logger = logging.getLogger(__name__)


class Journal:
    """``OUTPUT.partial/``: ``journal.json`` (what the run is) and one committed JSON file per chunk."""

    def __init__(self, output: Path, fingerprint: dict[str, Any], resume: bool) -> None:
        self.dir = output.with_name(output.name + ".partial")
        self.chunks: list[Path] = []
        meta = self.dir / "journal.json"
        if self.dir.exists():
            old = read_json(meta)
            if resume and old == fingerprint:
                self.chunks = self._valid_chunks()
            else:
                logger.warning("%s: %s; starting over", self.dir,
                               "not resuming" if not resume else "left by a run with other input, model or options")
                shutil.rmtree(self.dir)
        if not self.dir.exists():
            self.dir.mkdir(parents=True)
            write_atomic(meta, json.dumps(fingerprint, sort_keys=True))

    def _valid_chunks(self) -> list[Path]:
        chunks, done = [], 0
        for path in sorted(self.dir.glob("chunk-*.json")):
            data = read_json(path)
            if not isinstance(data, dict) or data.get("start") != done + 1:
                logger.warning("%s: not the chunk that follows row %d; it and later ones are redone", path, done)
                break
            chunks.append(path)
            done = int(data["end"])
        return chunks

    def done(self) -> Iterator[dict[str, Any]]:
        for path in self.chunks:
            yield read_json(path)

    def commit(self, start: int, end: int, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> None:
        path = self.dir / f"chunk-{len(self.chunks) + 1:08d}.json"
        write_atomic(path, json.dumps({"start": start, "end": end, "rows": rows, "rejects": rejects},
                                       ensure_ascii=False))
        self.chunks.append(path)

    def iter_rows(self, key: str) -> Iterator[list[dict[str, Any]]]:
        for path in self.chunks:
            yield read_json(path)[key]


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None



class Progress:
    """A tqdm bar (rows/s, ETA) on a terminal; otherwise a log line every ``every`` seconds."""

    def __init__(self, mode: bool | None, total: int, done: int, every: float = 10.0) -> None:
        self.total, self.done, self.start, self.every = total, done, done, every
        self.t0 = self.last = time.monotonic()
        self.bar: Any = None
        if mode or (mode is None and sys.stderr.isatty()):
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="rows", desc="scoring", smoothing=0.1)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every or self.done >= self.total:
            rate = (self.done - self.start) / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            logger.info("scored %d/%d rows (%.1f rows/s, ETA %s)", self.done, self.total, rate, _duration(eta))
            self.last = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    minutes, s = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{s:02d}s"
