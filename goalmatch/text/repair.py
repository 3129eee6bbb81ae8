"""Repair Swedish text whose diacritics a PDF extraction broke.

Some PDFs come out of text extraction with every ``å``/``ä`` written ``a`` plus a stray
space, ``ö`` as ``o`` plus a space, ``é`` as ``e`` plus a space, ``Å``/``Ä`` as ``Å`` plus a
space, ``Ö`` as ``O`` plus a space, and a capital ``A`` as ``Å``::

    "Kompetensfo rso rjningsfra gan kra ver samsyn pa  en helt ny niva ."
    "Ågenda 2030", "O kad tillga nglighet", "Å terrapportering"

:func:`repair` undoes that. It never touches a valid word: only tokens that are not
Swedish words (Hunspell ``sv_SE`` with compounds, see :mod:`goalmatch.text.lexicon`), or runs of
fragments whose joined and restored form is a word, are changed. Where several restorations
are words ("mål"/"mäl", "få"/"fä") the more frequent one wins (wordfreq), helped by the
document itself: a spelling it already uses elsewhere is preferred. Ambiguous cases (both
readings are words, e.g. "Ånge"/"Ange", "sa"/"så") are decided only inside stretches of the
text that show the damage (or, for two words joined, where the joined word is far likelier:
"lo sa" → "lösa"), and English among English is left alone.

Every change is recorded in offsets of the original text, so evidence found in the repaired
text can be pointed back at what the user gave (:meth:`Repaired.original_span`).
"""

from __future__ import annotations

import logging
import random
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import NamedTuple

from goalmatch.text.lexicon import Lexicon, cannot_start_word, get_lexicon

__all__ = ["Change", "Repaired", "break_like_pdf", "looks_broken", "repair"]

log = logging.getLogger(__name__)


class Change(NamedTuple):
    """One replacement: ``original == text[start:end]`` of the original text became ``replacement``."""

    start: int
    end: int
    original: str
    replacement: str


@dataclass(frozen=True)
class Repaired:
    """The result of :func:`repair`: the repaired ``text`` and the ``changes`` that made it."""

    original: str
    text: str
    changes: tuple[Change, ...] = ()
    _starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @property
    def changed(self) -> bool:
        """Whether anything was repaired."""
        return bool(self.changes)

    repaired = changed

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map the half-open span ``[start, end)`` of the repaired text onto the original text.

        A span that starts or ends inside a replacement grows to cover all of what it replaced.
        """
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span ({start}, {end}) is outside the repaired text (length {len(self.text)})")
        return self._to_original(start, is_end=False), self._to_original(end, is_end=start != end)

    def _to_original(self, pos: int, *, is_end: bool) -> int:
        i = bisect_right(self._starts, pos - 1 if is_end else pos) - 1
        if i < 0:
            return pos
        change, r_start = self.changes[i], self._starts[i]
        r_end = r_start + len(change.replacement)
        if (r_start < pos <= r_end) if is_end else (r_start <= pos < r_end):
            return change.end if is_end else change.start
        return pos - r_end + change.end


def _apply(text: str, changes: Sequence[Change]) -> Repaired:
    kept: list[Change] = []
    for c in sorted(set(changes)):
        if not kept or c.start >= kept[-1].end:  # (overlaps cannot arise; if one did, the first wins)
            kept.append(c)
    changes = tuple(kept)
    out: list[str] = []
    starts, pos, shift = [], 0, 0
    for c in changes:
        out += [text[pos : c.start], c.replacement]
        starts.append(c.start + shift)
        shift += len(c.replacement) - (c.end - c.start)
        pos = c.end
    out.append(text[pos:])
    return Repaired(text, "".join(out), changes, tuple(starts))


# --------------------------------------------------------------------------- cheap test

_SPLIT = re.compile(r"(?<![^\W\d_])[^\W\d_]*[aoe] (?=([^\W\d_]+)(?![^\W\d_]))")
_MARKERS = re.compile(
    r"(?<![^\W\d_])(?:"
    r"[OÅ] [a-zåäö]{2,}"  # "O kad", "Å terrapportering"
    r"|[^\W\d_]*[ao]  (?=[a-zåäö])"  # "pa  att", "Miljo  och": the stray space doubles a real one
    r"|a (?:r|rets?|ven|ndra\w*|ldre|tga\w*|garna|terv\w*)(?![^\W\d_])"  # "a r", "a ret", "a ven"
    r"|o (?:ka[dt]?|kade|ver\w*|vrig\w*|nsk\w*)(?![^\W\d_])"  # "o kad", "o ver"
    r"|Å(?:tt|v|ntal|genda|rbete\w*|nalys\w*|ndra|ktivitet\w*|nsvar\w*)(?![^\W\d_])"  # "Ått", "Ågenda"
    r")"
)


def looks_broken(text: str) -> bool:
    """Cheap test (no lexicon): does ``text`` show the PDF diacritic damage at least once?

    Evidence is a word fragment after a stray space that cannot start a Swedish (or English)
    word ("fo rso rjning", "ma l", "ho gt"), a doubled space after a word ending in a/o
    ("pa  att"), a lone ``O``/``Å`` before a lower-case word ("O kad"), a few frequent damaged
    words ("a r", "a ven", "o ver") or a common word written with ``Å`` for ``A`` ("Ågenda").
    """
    if _MARKERS.search(text):
        return True
    return any(cannot_start_word(m.group(1)) for m in _SPLIT.finditer(text))


# --------------------------------------------------------------------------- the repair

_TOKEN = re.compile(r"[^\W\d_]+")
# (bounded repeats: an unbounded "\S+\." rescans a long run of letters from every position, quadratic)
_PROTECTED = re.compile(
    r"(?:https?://|www\.|mailto:)\S+|[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+|\S{1,253}\.(?:se|com|org|nu|eu|net)\b"
)
_RESTORE = {"a": "åä", "o": "ö", "e": "é", "Å": "ÅÄ", "O": "Ö"}
_PUNCT = frozenset(".,;:!?)]}”’-/")  # what follows a word without a space ("miljö- och"; not "–")
_FLOOR = 1.0  # zipf given to a listed word that wordfreq has never seen
_COMPOUND_CAP = 1.5  # zipf no compound unknown to wordfreq may exceed
_INVALID = -15.0  # log10-probability of keeping a token that is not a word
_UNKNOWN = -20.0  # ... of restoring fragments into a word the lexicon does not know ("leaderstöd")
_COST = {"join": -0.3, "strong": -0.5, "eol": -0.8, "weak": -2.0, "cap": 0.0}  # per letter, by evidence
_FOLD = str.maketrans("åäöéÅÄÖÉ", "aaoeAAOE")
_CONTEXT = {
    "år": frozenset("i per varje forra nasta samma nagra manga flera tva tre fyra fem tio".split()),
    "förstå": frozenset("att kan ska vill kunna maste".split()),
}
"""Left neighbours (diacritics folded, as they may still be broken) that pick one reading."""
_INFORMAL = frozenset("nåt nån nåra sån sånt såna nånting nånstans".split())
"""Spoken forms that wordfreq (subtitles, social media) ranks above the written "nät", "sän"..."""
_MAX_SPAN = 6
_WINDOW = 60.0  # characters: how far damage evidence reaches when judging a stretch of text


@dataclass
class _Token:
    start: int
    end: int
    text: str
    valid: bool
    frozen: bool
    final: str  # evidence that its last letter lost a diacritic at a word end: strong, eol, weak or ""


def _final_kind(text: str, tok_end: int, next_start: int) -> str:
    gap = text[tok_end:next_start]
    if not gap:
        return "strong" if tok_end == len(text) else ""
    if gap[0] != " ":
        return "weak" if gap[0] in "\n\r\t" else ""
    if len(gap) == 1:
        return "weak" if next_start < len(text) else "strong"
    if gap[1] in "\n\r":
        return "eol"
    return "strong" if gap[1].isspace() or gap[1] in _PUNCT else "weak"


def _damageable(word: str) -> bool:
    last = word[-1]
    return last in "aoe" or (last in "ÅO" and (len(word) == 1 or word.isupper()))


def _cap_slots(tok: _Token, skip_last: bool) -> list[tuple[int, str, str]]:
    """Places where ``Å`` may stand for a capital ``A`` in a token."""
    word = tok.text
    if "Å" not in word or len(word) < 2:
        return []
    stop = len(word) - 1 if skip_last else len(word)
    if word.isupper():
        return [(tok.start + k, "ÅA", "cap") for k in range(stop) if word[k] == "Å"]
    return [(tok.start, "ÅA", "cap")] if word[0] == "Å" and stop > 0 else []


class _Repairer:
    def __init__(self, text: str, lex: Lexicon) -> None:
        self.text, self.lex = text, lex
        protected = [m.span() for m in _PROTECTED.finditer(text)]
        spans = [m.span() for m in _TOKEN.finditer(text)]
        self.tokens: list[_Token] = []
        for i, (s, e) in enumerate(spans):
            word = text[s:e]
            frozen = any(ps < e and s < pe for ps, pe in protected)
            nxt = spans[i + 1][0] if i + 1 < len(spans) else len(text)
            self.tokens.append(_Token(s, e, word, self._valid(word), frozen, _final_kind(text, e, nxt)))
        lean = [self._english(t.text) for t in self.tokens]
        for i, tok in enumerate(self.tokens):  # English among English stays as it is ("to", "provide")
            near = lean[max(0, i - 3) : i] + lean[i + 1 : i + 4]
            if lean[i] and any(near) and not self.lex.is_word(tok.text, strict=True):
                tok.frozen = True
            elif tok.text == "a" and sum(near) >= 2 and i + 1 < len(spans):  # the English article
                tok.frozen = not cannot_start_word(text[spans[i + 1][0] : spans[i + 1][1]])
        self.seen = {t.text for t in self.tokens if t.valid and set(t.text) & set("åäöéÄÖ")}
        self.clean = [t.start for t in self.tokens if t.text in self.seen]  # undamaged diacritics
        self.events: list[int] = []  # where certain repairs were made: damage evidence
        self._near: dict[int, bool] = {}

    def _english(self, word: str) -> bool:
        """A common English word, likelier English than Swedish ("the", "provide", "to")."""
        if len(word) < 2:
            return False
        en = self.lex.zipf_en(word.lower())  # Swedish wordfreq holds much English: compare, don't threshold
        return en >= 4.0 and en - self.lex.zipf(word) >= 1.0 and (len(word) > 2 or en >= 6.0)

    def _valid(self, word: str) -> bool:
        """A word to keep: Swedish (compounds as Hunspell allows), an acronym, or English unknown to Swedish."""
        return (
            (word.isupper() and len(word) > 1 and "Å" not in word)
            or self.lex.is_word(word, strict=True)
            or (len(word) >= 4 and self.lex.zipf_en(word.lower()) >= 3.5 and self.lex.zipf(word) < 2.0)
        )

    def _lp(self, word: str) -> float:
        """log10 probability of a (valid) word: wordfreq, else its compound parts."""
        z = self.lex.zipf(word)
        if z > 0:
            lp = z - 9.0
        else:  # never likelier than a word wordfreq knows
            score = self.lex.compound_score(word)
            lp = _FLOOR - 9.0 if score is None else min(score, _COMPOUND_CAP - 9.0)
        return lp + (1.0 if word in self.seen else 0.0) - (2.0 if word.lower() in _INFORMAL else 0.0)

    def damaged_near(self, pos: int) -> bool:
        """Whether the text around ``pos`` shows more damage than clean diacritics."""
        if pos not in self._near:

            def weight(points: list[int]) -> float:
                lo, hi = bisect_left(points, pos - 5 * _WINDOW), bisect_right(points, pos + 5 * _WINDOW)
                return sum(1.0 / (1.0 + abs(p - pos) / _WINDOW) for p in points[lo:hi])

            self._near[pos] = weight(self.events) > 1.5 * weight(self.clean) + 0.3
        return self._near[pos]

    def groups(self) -> list[list[int]]:
        """Runs of tokens that a stray space may have split: "Kompetensfo rso rjningsra det"."""
        groups: list[list[int]] = [[]]
        for i, tok in enumerate(self.tokens):
            groups[-1].append(i)
            nxt = self.tokens[i + 1] if i + 1 < len(self.tokens) else None
            if not (
                nxt is not None
                and not (tok.frozen or nxt.frozen)
                and self.text[tok.end : nxt.start] == " "
                and _damageable(tok.text)
                and (nxt.text[0].islower() or (tok.text.isupper() and nxt.text.isupper()))
            ):
                groups.append([])
        return [g for g in groups if g]

    def _score_unknown(self, word: str, toks: list[_Token]) -> float | None:
        """A word the lexicon lacks, accepted only where each joint shows the damage plainly.

        Among å/ä readings the one whose restored letters sit in longer listed words wins
        ("klimatomställnigen": "ställ" beats "stål").
        """
        if len(toks) < 2 or any(t.valid for t in toks) or not all(cannot_start_word(t.text) for t in toks[1:]):
            return None
        lower = word.lower()
        return _UNKNOWN + 0.1 * sum(self._cover(lower, k) for k, ch in enumerate(lower) if ch in "åäöé")

    def _cover(self, word: str, k: int) -> int:
        """Length of the longest listed word (3+ letters, 8 either side) holding ``word[k]``."""
        spans = ((i, j) for i in range(max(0, k - 8), k + 1) for j in range(k + 1, min(len(word), k + 9) + 1))
        return max((j - i for i, j in spans if j - i >= 3 and self.lex.known(word[i:j])), default=0)

    def candidates(self, idx: list[int], ambiguous: bool) -> list[tuple[float, list[Change]]]:
        """Restorations of the tokens ``idx`` joined into one word, with score and changes."""
        toks = [self.tokens[i] for i in idx]
        last = toks[-1]
        any_invalid = any(not t.valid for t in toks)
        if not (any_invalid or ambiguous or len(toks) == 2) or any(t.frozen for t in toks):
            return []
        base: list[tuple[int, str, str]] = []
        for t in toks[:-1]:
            base += [*_cap_slots(t, skip_last=True), (t.end - 1, _RESTORE[t.text[-1]], "join")]
        final_ok = last.final and _damageable(last.text) and (len(last.text) > 1 or last.final == "strong")
        finals = [""] + ([last.final] if final_ok else [])  # a lone "o" is "och", not "ö", unless "o  "
        hyphen_after = self.text[last.end : last.end + 2].lstrip(" ")[:1] == "-"
        prev = self._previous(idx[0])
        out = []
        for final in finals:
            slots = base + _cap_slots(last, skip_last=bool(final))
            if final:
                slots.append((last.end - 1, _RESTORE[last.text[-1]], final))
            caps = sum(kind == "cap" for _, _, kind in slots)
            if caps == len(slots) or len(slots) > 6 or caps > 2:  # (bounded work on odd input)
                continue
            for letters in product(*(opts for _, opts, _ in slots)):
                chars = list(self.text[toks[0].start : last.end])
                for (pos, _, _), letter in zip(slots, letters, strict=True):
                    chars[pos - toks[0].start] = letter
                word = "".join(chars).replace(" ", "")
                if self.lex.is_word(word) or (hyphen_after and self.lex.is_compound_begin(word)):
                    score = self._lp(word) + (2.0 if prev & _CONTEXT.get(word, frozenset()) else 0.0)
                    if not any_invalid and not (
                        self._flip_ok(toks, word, final) if ambiguous else self._join_clear(toks, word)
                    ):
                        continue
                else:
                    unknown = self._score_unknown(word, toks)
                    if unknown is None:
                        continue
                    score = unknown
                if any_invalid or len(toks) > 1:  # (a word read as another passed _flip_ok already)
                    score += sum(_COST[kind] for _, _, kind in slots)
                changes = []
                for (pos, _, kind), letter in zip(slots, letters, strict=True):
                    width = 2 if kind in ("join", "strong", "eol") and self.text[pos + 1 : pos + 2] == " " else 1
                    if letter != self.text[pos] or width == 2:
                        changes.append(Change(pos, pos + width, self.text[pos : pos + width], letter))
                out.append((score, changes))
        return out

    def _previous(self, i: int) -> set[str]:
        """The word before token ``i``, diacritics folded, read as one token or two fragments."""
        if i == 0:
            return set()
        words = {self.tokens[i - 1].text}
        if i > 1 and self.text[self.tokens[i - 2].end : self.tokens[i - 1].start] == " ":
            words.add(self.tokens[i - 2].text + self.tokens[i - 1].text)
        return {w.lower().translate(_FOLD) for w in words}

    def _join_clear(self, toks: list[_Token], word: str) -> bool:
        """Valid fragments whose join is far likelier than the two words side by side ("lo sa")."""
        z = self.lex.zipf(word)
        return len(toks) == 2 and z >= 3.0 and z + 6.0 > sum(self.lex.zipf(t.text) for t in toks) + 0.5

    def _flip_ok(self, toks: list[_Token], word: str, final: str) -> bool:
        """Both readings are words (damaged stretches only): is the restored one clearly meant?"""
        if len(toks) > 1:  # "sko ta" → "sköta", "ide buren" → "idéburen": wordfreq must know the join
            return self.lex.zipf(word) >= 2.0
        margin = -0.5 if final == "strong" else 1.0
        return self.lex.zipf(word) >= self.lex.zipf(toks[0].text) + margin

    def solve(self, group: list[int], ambiguous_ok: bool) -> list[Change]:
        """Best split of a group into kept tokens and restored words (dynamic programming)."""
        n = len(group)
        best: list[tuple[float, list[Change]] | None] = [(0.0, [])] + [None] * n
        for q in range(1, n + 1):
            for p in range(max(0, q - _MAX_SPAN), q):
                if best[p] is None:
                    continue
                base, changes = best[p]  # type: ignore[misc]
                idx = group[p:q]
                options: list[tuple[float, list[Change]]] = []
                if q - p == 1:
                    tok = self.tokens[idx[0]]
                    options.append((self._lp(tok.text) if tok.valid else _INVALID, []))
                ambiguous = ambiguous_ok and self.damaged_near(self.tokens[idx[0]].start)
                options.extend(self.candidates(idx, ambiguous))
                for score, ch in options:
                    if best[q] is None or base + score > best[q][0]:  # type: ignore[index]
                        best[q] = (base + score, changes + ch)
        return best[n][1] if best[n] else []  # type: ignore[index]

    def capital_a(self, tok: _Token, ambiguous_ok: bool) -> list[Change]:
        """``Å`` written for a capital ``A`` ("Ågenda", "LKÅB"): restore it where the text says so."""
        word, lex = tok.text, self.lex
        caps = word.isupper()
        if tok.frozen or len(word) < 2 or "Å" not in word or not (caps or word[0] == "Å"):
            return []
        fixed = word.replace("Å", "A") if caps else "A" + word[1:]
        a_known = lex.is_word(fixed) or (
            not caps and max(lex.zipf(fixed), lex.zipf_en(fixed.lower())) >= 2.5 and lex.zipf(word) < 1.5
        )
        damaged = ambiguous_ok and self.damaged_near(tok.start)
        # both spellings may be meant: only where the text is damaged; neither is known: in a
        # damaged stretch a real Å would have come out as "Å " ("Å terrapportering")
        if not ((damaged and a_known) if lex.is_word(word) else (a_known or damaged)):
            return []
        return [Change(tok.start + k, tok.start + k + 1, "Å", "A") for k, ch in enumerate(word) if ch == "Å"]

    def run(self) -> list[Change]:
        groups = [g for g in self.groups() if len(g) > 1 or self.tokens[g[0]].final or "Å" in self.tokens[g[0]].text]
        first = [self.solve(g, ambiguous_ok=False) for g in groups]
        capitals = [self.capital_a(t, False) for t in self.tokens]
        self.events = sorted(c.start for cs in (*first, *capitals) for c in cs)
        self._near.clear()
        if not self.events:
            return []
        final: list[Change] = []
        for group, changes in zip(groups, first, strict=True):
            damaged = self.damaged_near(self.tokens[group[0]].start)
            final.extend(self.solve(group, ambiguous_ok=True) if damaged else changes)
        done = {c.start for c in final}
        for tok in self.tokens:
            if not done & set(range(tok.start, tok.end)):
                final.extend(self.capital_a(tok, True))
        return final


def repair(text: str, *, force: bool = False, lexicon: Lexicon | None = None) -> Repaired:
    """Undo PDF diacritic damage in ``text`` (see the module docs); clean text comes back unchanged.

    Text in which :func:`looks_broken` finds no damage is returned at once, unless ``force``.
    ``lexicon`` defaults to the shared Swedish lexicon (built and cached on first use).
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text (str), got {type(text).__name__}")
    if not text or not (force or looks_broken(text)):
        return Repaired(text, text)
    changes = _Repairer(text, lexicon or get_lexicon()).run()
    log.debug("repaired %d places", len(changes))
    return _apply(text, changes)


# --------------------------------------------------------------------------- making damage


def break_like_pdf(text: str, seed: int = 0, *, collapse: float = 0.3, clean_lines: float = 0.0) -> str:
    """Damage clean Swedish ``text`` the way the broken PDF did (for tests and evaluation).

    Deterministic for a given ``seed``: ``å``/``ä`` → ``a`` + space, ``ö`` → ``o`` + space,
    ``é`` → ``e`` + space, ``Å``/``Ä`` → ``Å`` + space, ``Ö`` → ``O`` + space, ``A`` → ``Å``.
    At the end of a word the stray space is dropped with probability ``collapse`` (as the
    extraction sometimes did), and a share ``clean_lines`` of lines is left undamaged.
    """
    rng = random.Random(seed)
    table = {"å": "a", "ä": "a", "ö": "o", "é": "e", "Å": "Å", "Ä": "Å", "Ö": "O"}
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        if rng.random() < clean_lines:
            out.append(line)
            continue
        for i, ch in enumerate(line):
            if ch == "A":
                out.append("Å")
            elif ch in table:
                at_end = i + 1 < len(line) and line[i + 1].isspace()
                out.append(table[ch] if at_end and rng.random() < collapse else table[ch] + " ")
            else:
                out.append(ch)
    return "".join(out)
