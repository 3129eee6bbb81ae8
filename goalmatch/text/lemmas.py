"""Swedish lemmas and keywords from spaCy's lookup table, compiled once into a compact cache.

spaCy's Swedish lookup lemmatiser (``spacy-lookups-data``: 660,000 word forms) took about
4 s per process to load through spaCy (1.8 s importing spaCy, 2.4 s building its table),
for the few hundred words a suggestion needs. Here the table is compiled at first use
into one ``.npz`` file in the user cache: the sorted 64-bit hashes of the lower-case forms,
each form's lemma number, the lemmas, and spaCy's Swedish stop words. Reading it is a few
milliseconds; a lookup is a binary search. A form hashing like another (about one in
10^13 per word) would get that form's lemma.

>>> [p.text for p in lemmatize("Företagen bygger bredband")]
['företag', 'bygga', 'bredband']
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from goalmatch._io import atomic_write
from goalmatch._paths import cache_root
from goalmatch.text.offsets import Passage

__all__ = ["keywords", "lemmatize"]

logger = logging.getLogger(__name__)

_FORMAT = 1
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")
# The lookup table is context-free; these entries are wrong for the common reading.
_LEMMA_FIXES = {
    "för": "för", "fick": "få", "mer": "mycket", "mest": "mycket", "bättre": "bra",
    "bäst": "bra", "samt": "samt", "dels": "dels", "att": "att", "vara": "vara",
    "bland": "bland", "kommer": "komma", "ska": "skola", "skall": "skola",
    "regionen": "region", "länet": "län", "målen": "mål", "målet": "mål",
    # nouns the table reads as verb forms ("företag" → "företa", "boende" → "bo")
    "företag": "företag", "företagande": "företagande", "boende": "boende",
    "sökande": "sökande", "studerande": "studerande",
}
_EXTRA_STOP = frozenset({"ska", "skall", "projekt", "projektet", "genom", "även"})

_lock = threading.Lock()
_table: _Table | None = None


def lemmatize(text: str) -> list[Passage]:
    """Word tokens of ``text`` with their lowercase lemma as ``Passage.text``.

    spaCy's Swedish lookup table (``spacy-lookups-data``), lowercased first, with a few
    known-wrong lemmas corrected.
    """
    matches = list(_WORD.finditer(text))
    words = [m.group().lower() for m in matches]
    lemmas = _get().lemmas(words)
    return [Passage(m.start(), m.end(), _LEMMA_FIXES.get(w) or lemma)
            for m, w, lemma in zip(matches, words, lemmas, strict=True)]


def keywords(text: str, top_k: int | None = None) -> list[str]:
    """Content lemmas of ``text`` (no stop words, at least 3 letters), most frequent first."""
    stop = _get().stop_words
    counts: dict[str, int] = {}
    for token in lemmatize(text):
        lemma = token.text
        surface = text[token.start : token.end].lower()
        if len(lemma) >= 3 and lemma not in stop and surface not in stop:
            counts[lemma] = counts.get(lemma, 0) + 1
    ranked = sorted(counts, key=lambda k: (-counts[k], k))
    return ranked[:top_k] if top_k is not None else ranked


# ------------------------------------------------------------------ the compiled table


@dataclass(frozen=True)
class _Table:
    keys: np.ndarray  # (n,) uint64, sorted: hashes of the forms
    lemma_of: np.ndarray  # (n,) uint32: each form's lemma number
    names: tuple[str, ...]  # the lemmas
    stop_words: frozenset[str]

    def lemmas(self, words: list[str]) -> list[str]:
        """Each word's lemma, the word itself where the table has none."""
        if not words or not len(self.keys):
            return list(words)
        hashed = np.fromiter((_hash(w) for w in words), dtype=np.uint64, count=len(words))
        at = np.minimum(np.searchsorted(self.keys, hashed), len(self.keys) - 1)
        found = self.keys[at] == hashed
        return [self.names[self.lemma_of[i]] if hit else w for w, i, hit in zip(words, at, found, strict=True)]


def _hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _get() -> _Table:
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _load()
    return _table


def _version() -> str:
    try:
        return f"{metadata.version('spacy-lookups-data')}-{metadata.version('spacy')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_path() -> Path:
    """Where the compiled table lives (per spacy-lookups-data and spaCy version)."""
    return cache_root() / f"lemmas-sv-{_version()}-f{_FORMAT}.npz"


def _load() -> _Table:
    path = cache_path()
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
            names = tuple(bytes(data["names"]).decode("utf-8").split("\n"))
            stop = frozenset(bytes(data["stop"]).decode("utf-8").split("\n"))
            table = _Table(data["keys"], data["lemma_of"], names, stop)
        if len(table.keys) == len(table.lemma_of) and int(table.lemma_of.max(initial=0)) < len(names):
            return table
        logger.warning("lemma cache %s is inconsistent; rebuilding it", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("lemma cache %s is unreadable (%s); rebuilding it", path, exc)
    table = _build()
    try:
        _write(path, table)
    except OSError as exc:
        logger.warning("could not cache the lemma table at %s (%s); it is rebuilt next time", path, exc)
    return table


def _build() -> _Table:
    """Compile spaCy's Swedish lookup table and stop words (a few seconds, once)."""
    import spacy_lookups_data
    from spacy.lang.sv.stop_words import STOP_WORDS

    source = Path(spacy_lookups_data.__file__).parent / "data" / "sv_lemma_lookup.json.gz"
    logger.info("compiling the Swedish lemma table from %s (once)", source)
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        forms: dict[str, str] = json.load(handle)
    return _compile(((f, lemma) for f, lemma in forms.items() if f == f.lower()), STOP_WORDS | _EXTRA_STOP)


def _compile(pairs: Iterable[tuple[str, str]], stop_words: Iterable[str]) -> _Table:
    numbers: dict[str, int] = {}
    keyed = {_hash(form): numbers.setdefault(str(lemma), len(numbers)) for form, lemma in pairs}
    keys = np.fromiter(keyed, dtype=np.uint64, count=len(keyed))
    order = np.argsort(keys)
    lemma_of = np.fromiter(keyed.values(), dtype=np.uint32, count=len(keyed))[order]
    return _Table(keys[order], lemma_of, tuple(numbers), frozenset(stop_words))


def _write(path: Path, table: _Table) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, keys=table.keys, lemma_of=table.lemma_of,
             names=np.frombuffer("\n".join(table.names).encode("utf-8"), dtype=np.uint8),
             stop=np.frombuffer("\n".join(sorted(table.stop_words)).encode("utf-8"), dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())
