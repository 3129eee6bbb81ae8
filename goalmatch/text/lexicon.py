"""A compact Swedish word-form lexicon built from the ``hunspell-sv`` package.

The PyPI package ``hunspell-sv`` (LGPL-3.0) installs ``share/hunspell/sv_SE.dic`` and
``sv_SE.aff`` into the Python environment. Checking words through a full Hunspell engine
(``spylls``) costs about 3 s to load and 1–2 ms a word, so the first use expands the
dictionary once into every surface form (about a million) and stores a 64-bit hash of each,
sorted, with a byte of flags (stand-alone word, compound first / middle / last part). The
result (about 9 MB) is cached under ``platformdirs.user_cache_dir("goalmatch")``, keyed by
the package version, and written atomically. Later loads read it in milliseconds.

Compounds ("kompetensförsörjningsrådet") are checked by splitting against the compound
flags of the dictionary (``COMPOUNDBEGIN``/``MIDDLE``/``END``, at most four parts of at
least two letters), as Hunspell does for Swedish minus its rarer checks (``strict``), or a
little more leniently, since hunspell-sv marks too few compound ends ("råd" is none); see
:meth:`Lexicon.compound_score`. Bare entries that are word fragments ("kning") are dropped.

Word frequencies come from ``wordfreq`` (Swedish, the large list where installed).

Nothing is loaded at import time: :func:`get_lexicon` builds or reads the lexicon on first
use and shares it across the process.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import re
import sys
import sysconfig
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from goalmatch._io import atomic_write
from goalmatch.errors import LexiconError

__all__ = ["Lexicon", "LexiconError", "cannot_start_word", "get_lexicon", "hunspell_files"]

log = logging.getLogger(__name__)

WORD, BEGIN, MIDDLE, END = 1, 2, 4, 8
"""Flag bits of a form: a word on its own; may start, sit inside or end a compound."""

_FORMAT = 4
_MAGIC = b"goalmatch-lexicon\n"
_PACKAGE = "hunspell-sv"
_COMPOUND_MIN = 2  # COMPOUNDMIN in sv_SE.aff
_COMPOUND_MAX = 4  # COMPOUNDWORDMAX in sv_SE.aff
_COMPOUND_CHARS = 100  # longer tokens are not split: every split point slices and caches a part (quadratic)
_JOINT_BONUS = 1.5
_LENIENT_COST = 2.0
_SINGLE_LETTER_WORDS = frozenset("iåöI")
"""Hunspell accepts every letter on its own; in running Swedish text only these are words
(a lone capital Å or Ö is the PDF damage of "Å..."/"Ö...", practically never a word)."""


_WORD_INITIAL = frozenset(
    "bj bl br dj dr dv fj fl fr gj gl gn gr hj kj kl kn kr kv lj mj nj pj pl pr ps sc sf sj sk sl sm sn sp "
    "st sv sw th tj tr ts tv tw vr wr wh ch cl cr ph qu rh kh sh sq dw".split()
)
_VOWELS = frozenset("aeiouyåäöéü")


def cannot_start_word(fragment: str) -> bool:
    """Whether no Swedish (or English) word starts like this lower-case ``fragment`` ("llbar", "r")."""
    if not fragment.islower() or not fragment.isalpha():
        return False
    if len(fragment) == 1:
        return fragment not in _VOWELS
    head = fragment[:2]
    return not (set(head) & _VOWELS) and head not in _WORD_INITIAL


def hunspell_files(roots: Iterable[Path] | None = None) -> tuple[Path, Path]:
    """The ``sv_SE.dic`` and ``sv_SE.aff`` installed by the ``hunspell-sv`` package.

    Looks under ``share/hunspell`` of the environment's data folders (``sysconfig``,
    ``sys.prefix``, the user base), or of ``roots`` if given.
    """
    if roots is None:
        found = [sysconfig.get_path("data"), sys.prefix, sys.exec_prefix, sys.base_prefix]
        found.append(sysconfig.get_config_var("userbase") or os.environ.get("PYTHONUSERBASE", ""))
        roots = [Path(p) for p in found if p]
    roots = list(dict.fromkeys(roots))
    for root in roots:
        folder = root / "share" / "hunspell"
        dic, aff = folder / "sv_SE.dic", folder / "sv_SE.aff"
        if dic.is_file() and aff.is_file():
            return dic, aff
    raise LexiconError(
        "The Swedish dictionary (sv_SE.dic/.aff from the PyPI package 'hunspell-sv') was not found "
        f"under {', '.join(str(r / 'share' / 'hunspell') for r in roots)}. "
        "Install it into this environment: pip install hunspell-sv"
    )


def _package_version() -> str:
    try:
        return importlib.metadata.version(_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _hash(form: str) -> int:
    return int.from_bytes(hashlib.blake2b(form.encode("utf-8"), digest_size=8).digest(), "little")


# --------------------------------------------------------------------------- building


_Rule = tuple[str, str, frozenset[str], "re.Pattern[str] | None"]


def _parse_suffixes(aff: Path) -> dict[str, list[_Rule]]:
    """``SFX`` rules of an .aff file: flag → (strip, add, continuation flags, condition)."""
    rules: dict[str, list[_Rule]] = {}
    for line in aff.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] != "SFX":
            continue
        _, flag, strip, add, cond = parts[:5]
        add, _, cont = add.partition("/")
        pattern = None if cond == "." else re.compile(f"(?:{cond})$")
        rules.setdefault(flag, []).append(
            ("" if strip == "0" else strip, "" if add == "0" else add, frozenset(cont), pattern)
        )
    return rules


def _expand(dic: Path, aff: Path) -> Iterator[tuple[str, int, bool]]:
    """Every (form, flag bits, from a bare entry) the dictionary generates (sv_SE has no PFX)."""
    rules = _parse_suffixes(aff)
    with dic.open(encoding="utf-8") as fh:
        next(fh, None)  # the entry count
        for line in fh:
            stem, _, rest = line.rstrip("\n").partition("/")
            stem = stem.strip() if not rest else stem
            if not stem:
                continue
            flags = set(rest.split()[0]) if rest.strip() else set()
            if "%" in flags:  # FORBIDDENWORD
                continue
            bits = (BEGIN if "X" in flags else 0) | (MIDDLE if "U" in flags else 0) | (END if "Y" in flags else 0)
            if not flags & {"¤", "Z"}:  # NEEDAFFIX, ONLYINCOMPOUND
                bits |= WORD
            if bits:
                yield stem, bits, not flags
            for flag in flags:
                for strip, add, cont, cond in rules.get(flag, ()):
                    if (strip and not stem.endswith(strip)) or (cond is not None and not cond.search(stem)):
                        continue
                    form = stem[: len(stem) - len(strip)] + add
                    bits = 0
                    if "W" in cont:  # COMPOUNDPERMITFLAG: this suffix may stand inside a compound
                        bits |= (BEGIN if "X" in cont or "X" in flags else 0) | (
                            MIDDLE if "U" in cont or "U" in flags else 0
                        )
                    if "Z" not in cont:
                        bits |= WORD | (END if "Y" in flags or "Y" in cont else 0)
                    if bits:
                        yield form, bits, False


def _junk(bare: set[str], forms: dict[str, int]) -> set[str]:
    """Bare entries (no flags) that are fragments of words, not words.

    hunspell-sv took words from translation memories, some of which had the very damage this
    package repairs: "kning" (from "ö kning"), "ndringarna", "kerhetskopiorna". A bare entry
    is dropped when no word can start like it, or when it is rare (wordfreq) and is the tail
    of a listed word right after an å/ä/ö/é.
    """
    import wordfreq

    tails = {f[i + 1 :] for f, b in forms.items() if b & WORD for i, c in enumerate(f) if c in "åäöé"}
    return {
        w
        for w in bare
        if (cannot_start_word(w) and set(w) & _VOWELS)  # (vowel-less "mkr", "tkr" are abbreviations)
        or (w in tails and wordfreq.zipf_frequency(w, "sv") < 3.0)
    }


def _build(dic: Path, aff: Path) -> tuple[array, bytes]:
    forms: dict[str, int] = {}
    bare: set[str] = set()
    for form, bits, is_bare in _expand(dic, aff):
        if is_bare and form not in forms:
            bare.add(form)
        else:
            forms[form] = forms.get(form, 0) | bits
    bare -= forms.keys()
    junk = _junk(bare, forms)
    log.debug("dropped %d fragment entries such as %s", len(junk), sorted(junk)[:5])
    for form in bare - junk:
        forms[form] = WORD
    table: dict[int, int] = {}
    for form, bits in forms.items():
        key = _hash(form)
        table[key] = table.get(key, 0) | bits
    keys = sorted(table)
    return array("Q", keys), bytes(table[k] for k in keys)


def _cache_path(version: str) -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("goalmatch")) / f"lexicon-sv-{version}-f{_FORMAT}.bin"


def _write_cache(path: Path, hashes: array, flags: bytes) -> None:
    if sys.byteorder != "little":  # the file is little-endian everywhere
        hashes = array("Q", hashes)
        hashes.byteswap()
    payload = hashes.tobytes() + flags
    digest = hashlib.blake2b(payload, digest_size=16).hexdigest().encode()
    atomic_write(path, _MAGIC + f"{len(flags)}\n".encode() + digest + b"\n" + payload)


def _read_cache(path: Path) -> tuple[array, bytes] | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_MAGIC):
        return None
    try:
        count_line, digest, payload = data[len(_MAGIC) :].split(b"\n", 2)
        count = int(count_line)
    except ValueError:
        return None
    if len(payload) != count * 9 or hashlib.blake2b(payload, digest_size=16).hexdigest().encode() != digest:
        return None
    hashes = array("Q")
    hashes.frombytes(payload[: count * 8])
    if sys.byteorder != "little":
        hashes.byteswap()
    return hashes, payload[count * 8 :]


# --------------------------------------------------------------------------- lookups


def _fold_case(token: str) -> str:
    """Compound parts are listed in lower case: "Kompetensförsörjningsrådet", "INSATSOMRÅDE"."""
    return token.lower() if token.isupper() or (token[:1].isupper() and token[1:].islower()) else token


class Lexicon:
    """Swedish word forms (Hunspell sv_SE, compounds included) and wordfreq frequencies."""

    def __init__(self, hashes: array, flags: bytes, version: str = "") -> None:
        self._hashes = hashes
        self._flags = flags
        self.version = version
        self.bits = lru_cache(maxsize=200_000)(self._bits)
        self.is_word = lru_cache(maxsize=200_000)(self._is_word)  # type: ignore[method-assign]
        self.zipf = lru_cache(maxsize=200_000)(self._zipf)  # type: ignore[method-assign]

    def __len__(self) -> int:
        return len(self._hashes)

    def _bits(self, form: str) -> int:
        key = _hash(form)
        i = bisect_left(self._hashes, key)
        return self._flags[i] if i < len(self._hashes) and self._hashes[i] == key else 0

    def _case_variants(self, token: str) -> tuple[str, ...]:
        """Dictionary spellings a token may stand for: as written, lower-cased, Capitalised."""
        if token.islower() or not token[:1].isupper():
            return (token,)
        if token[1:].islower() or len(token) == 1:
            return (token, token.lower())
        if token.isupper():
            return (token, token.capitalize(), token.lower())
        return (token,)

    def known(self, token: str) -> bool:
        """Whether the dictionary lists ``token`` (any casing rule applied), without compounding."""
        if len(token) == 1:
            return token in _SINGLE_LETTER_WORDS
        return any(self.bits(v) & WORD for v in self._case_variants(token))

    def _is_word(self, token: str, strict: bool = False) -> bool:
        """A valid Swedish word: listed, a compound of listed parts, or hyphen-joined valid parts.

        ``strict`` accepts only compounds Hunspell's flags allow (see :meth:`compound_split`).
        """
        if self.known(token):
            return True
        if "-" in token:
            parts = token.split("-")
            return all(p == "" or self.is_word(p, strict) or p.isupper() for p in parts) and any(parts)
        return self.compound_split(token, strict=strict) is not None

    def compound_split(self, token: str, tail: int = END, strict: bool = False) -> tuple[str, ...] | None:
        """The likeliest split of ``token`` into compound parts, or None (see :meth:`compound_score`)."""
        found = self._best(_fold_case(token), tail, strict)
        return found[1] if found else None

    def compound_score(self, token: str) -> float | None:
        """log10-probability-like score of the best compound reading of ``token``, or None.

        At most four parts of at least two letters; the first must be a compound first part,
        the inner ones first or middle parts, the last a word (``tail=END``) or, for a word
        left open before a hyphen ("efterfråge-"), a first or middle part. Hunspell-sv marks
        too few words as compound ends ("råd" is not) or middles ("validerings"), so unless
        ``strict``, any listed word of three letters or more may end a compound and one of
        four letters or more may start one. Each part scores its wordfreq zipf - 9; a joint
        that Hunspell's flags allow adds ``_JOINT_BONUS`` (a compound is likelier than its parts side by
        side), a lenient joint adds nothing.
        """
        found = self._best(_fold_case(token), END, False)
        return found[0] if found else None

    @lru_cache(maxsize=100_000)  # noqa: B019 - one lexicon per process
    def _best(self, word: str, tail: int, strict: bool) -> tuple[float, tuple[str, ...]] | None:
        if not 2 * _COMPOUND_MIN <= len(word) <= _COMPOUND_CHARS or not word.isalpha():
            return None
        best: tuple[float, tuple[str, ...]] | None = None
        for parts, lenient in self._splits(word, 0, 0, tail, strict):
            score = sum(self._part_zipf(p) - 9.0 for p in parts) + _JOINT_BONUS * (len(parts) - 1 - lenient)
            score -= _LENIENT_COST * lenient
            if best is None or score > best[0]:
                best = (score, parts)
        return best

    def _part_zipf(self, part: str) -> float:
        z = self.zipf(part)
        if part.endswith("s") and len(part) > 3:  # linking -s: "försörjnings"
            z = max(z, self.zipf(part[:-1]))
        return max(z, 1.0)

    def _splits(
        self, word: str, start: int, count: int, tail: int, strict: bool
    ) -> Iterator[tuple[tuple[str, ...], int]]:
        """Compound splits of ``word[start:]`` with the number of lenient joints in each."""
        n = len(word)
        for end in range(start + _COMPOUND_MIN, n - _COMPOUND_MIN + 1):
            part = word[start:end]
            bits = self.bits(part)
            if bits & (BEGIN if count == 0 else MIDDLE | BEGIN):
                lenient = 0
            elif count == 0 and not strict and len(part) >= 4 and bits & WORD:
                lenient = 1
            else:
                continue
            # SIMPLIFIEDTRIPLE: "fall" + "lucka" is written "fallucka"
            starts = (end, end - 1) if word[end - 1] == word[end - 2] else (end,)
            for nxt in starts:
                rest = word[nxt:]
                rest_bits = self.bits(rest) if len(rest) >= _COMPOUND_MIN and rest != part else 0
                if rest_bits & tail:
                    yield (part, rest), lenient
                elif tail == END and not strict and len(rest) >= 3 and rest_bits & WORD:
                    yield (part, rest), lenient + 1
                if count + 2 < _COMPOUND_MAX:
                    for more, extra in self._splits(word, nxt, count + 1, tail, strict):
                        yield (part, *more), lenient + extra

    def is_compound_begin(self, token: str) -> bool:
        """Whether ``token`` can open a compound ("efterfråge-", "kompetensförsörjnings-")."""
        return bool(self.bits(_fold_case(token)) & BEGIN) or self.compound_split(token, BEGIN | MIDDLE) is not None

    def _zipf(self, word: str) -> float:
        """Zipf frequency of ``word`` in Swedish (wordfreq; 0.0 for unseen words)."""
        import wordfreq

        return float(wordfreq.zipf_frequency(word, "sv"))

    @staticmethod
    def zipf_en(word: str) -> float:
        """Zipf frequency of ``word`` in English (wordfreq)."""
        import wordfreq

        return float(wordfreq.zipf_frequency(word, "en"))


_LOCK = threading.Lock()
_SHARED: Lexicon | None = None


def get_lexicon() -> Lexicon:
    """The process-wide lexicon: read from the cache, or built (a few seconds) and cached."""
    global _SHARED
    if _SHARED is not None:
        return _SHARED
    with _LOCK:
        if _SHARED is None:
            _SHARED = _load()
    return _SHARED


def _load() -> Lexicon:
    dic, aff = hunspell_files()
    version = _package_version()
    if version == "unknown":  # not installed as a distribution: key the cache by the files themselves
        stat = dic.stat()
        version = f"local-{stat.st_size}-{int(stat.st_mtime)}"
    path = _cache_path(version)
    cached = _read_cache(path)
    if cached is not None:
        log.debug("lexicon read from %s", path)
        return Lexicon(*cached, version=version)
    if path.exists():
        log.warning("lexicon cache %s is unreadable or corrupt; rebuilding it", path)
    log.info("building the Swedish lexicon from %s (once; takes a few seconds)", dic)
    hashes, flags = _build(dic, aff)
    try:
        _write_cache(path, hashes, flags)
        for stale in path.parent.glob(f"lexicon-sv-{version}-f*.bin"):  # older formats of this version
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not cache the lexicon at %s (%s); it will be rebuilt next time", path, exc)
    return Lexicon(hashes, flags, version=version)
