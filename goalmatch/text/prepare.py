"""The Swedish text pipeline: normalise, repair, check the language, split into sentences and chunks.

Lemmas and keywords live in :mod:`goalmatch.text.lemmas`.

Data flows one way: :func:`prepare` turns what the user gave into a :class:`PreparedText`
(clean text + an offset map back into the original + flags). Everything downstream
(encoding, keywords, evidence) works on ``prepared.text`` and reports positions in the
original through :meth:`PreparedText.original_span`.

>>> p = prepare("Projektet ska sta rka  fo retagandet\\u00ad i\\nbyn.")
>>> p.text
'Projektet ska stärka företagandet i byn.'
>>> p.repaired, p.original_span(14, 20)
(True, (14, 21))
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from goalmatch.text.offsets import Edit, Passage, apply_edits, compose, span_back

__all__ = [
    "MAX_TEXT_CHARS",
    "Language",
    "Passage",
    "PreparedText",
    "chunk",
    "detect_language",
    "normalize",
    "prepare",
    "replace_surrogates",
    "sentences",
]

MIN_WORDS_TO_JUDGE = 8

MAX_TEXT_CHARS = 200_000
"""The longest text goalmatch takes, in characters: the command line, batch scoring and the
review app refuse a longer one by name (it would hold an encoder for minutes)."""
"""Below this many words a text is flagged ``too_short``: a suggestion would be a guess."""

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK = r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]*"  # the spaces _SPACES tidies: indentation too
_BULLET = re.compile(rf"^{_BLANK}(?:[•·▪◦‣●○■□\uf0b7*]|[-–—](?=\s)){_BLANK}", re.MULTILINE)
_HYPHEN_BREAK = re.compile(r"(?<=[a-zåäöéü])-[ \t]*\n[ \t]*(?=([a-zåäöéü]+))")
_NOT_JOINED_AFTER_HYPHEN = frozenset(
    "och eller samt respektive resp till som men med utan än".split()
)


@dataclass(frozen=True)
class Language:
    """A language guess: ISO 639-1 ``code`` (``und`` when undecided) and a ``confidence`` in [0, 1]."""

    code: str
    confidence: float

    @property
    def is_swedish(self) -> bool:
        return self.code == "sv"


@dataclass(frozen=True)
class PreparedText:
    """A user's text made ready for matching, with the way back to the original."""

    original: str
    text: str
    offsets: tuple[int, ...] = field(repr=False)
    repaired: bool
    language: Language
    too_short: bool
    replaced: int = 0
    """Lone surrogates in the original replaced by U+FFFD (see :func:`replace_surrogates`)."""

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of :attr:`original` that ``text[start:end]`` came from."""
        return span_back(self.offsets, start, end)

    @property
    def flags(self) -> dict[str, object]:
        """The text flags a suggestion carries: language, repaired, too short, characters replaced."""
        return {
            "language": self.language.code,
            "language_confidence": round(self.language.confidence, 3),
            "repaired": self.repaired,
            "too_short": self.too_short,
            "replaced_characters": self.replaced,
        }


_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> tuple[str, int]:
    """``text`` with every lone surrogate (U+D800–U+DFFF) replaced by U+FFFD, and how many.

    A Python string can hold them (``surrogateescape`` decoding of bad bytes, JSON
    ``"\\udcff"``, a command-line argument in a broken locale) but they are not characters:
    UTF-8 cannot encode them and the encoder's tokenizer refuses them. One for one, so
    offsets into the text stay valid.
    """
    return _SURROGATE.subn("\ufffd", text)


def prepare(text: str, *, repair: bool = True) -> PreparedText:
    """Surrogates → U+FFFD, NFC → PDF repair → whitespace normalisation, then language and length flags.

    Raises ``TypeError`` for anything but a string; an empty string is allowed (it comes
    back flagged ``too_short``), so callers decide whether to refuse it. Lone surrogates
    are replaced, not refused, and counted in ``flags["replaced_characters"]``: every path
    (library, command line, batch, review app) then hands the encoder text it accepts.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text (str), got {type(text).__name__}")
    valid, replaced = replace_surrogates(text)
    step, offsets = _nfc(valid)
    repaired = False
    if repair:
        from goalmatch.text.repair import looks_broken
        from goalmatch.text.repair import repair as repair_text

        if looks_broken(step):
            result = repair_text(step)
            edits = [(start, end, new) for start, end, _old, new in result.changes]
            if edits:
                fixed, repair_offsets = apply_edits(step, edits)
                if _swedish_after_all(step, fixed):
                    step, offsets, repaired = fixed, compose(offsets, repair_offsets), True
    clean, clean_offsets = _tidy(step)
    offsets = compose(offsets, clean_offsets)
    return PreparedText(
        original=text,
        text=clean,
        offsets=tuple(offsets),
        repaired=repaired,
        language=detect_language(clean),
        too_short=len(clean.split()) < MIN_WORDS_TO_JUDGE,
        replaced=replaced,
    )


def _swedish_after_all(before: str, after: str) -> bool:
    """Keep a repair only for Swedish text: the repair knows Swedish words alone, so on
    Norwegian or Danish ("noe økonomisk") it writes Swedish-looking nonsense. The text
    counts as Swedish when it reads as Swedish (or too short to tell) before the repair,
    or when the repair makes it read as Swedish (damage can hide the language)."""
    if detect_language(_normalize_with_offsets(before)[0]).code in ("sv", "und"):
        return True
    return detect_language(_normalize_with_offsets(after)[0]).code == "sv"


def normalize(text: str) -> str:
    """Unicode NFC, invisible characters dropped, bullets, hyphenated line breaks and whitespace tidied.

    Paragraph breaks (blank lines) and bullet lines survive; other line breaks become spaces.
    """
    step, _ = _nfc(replace_surrogates(text)[0])
    return _tidy(step)[0]


def _tidy(text: str) -> tuple[str, list[int]]:
    """Whitespace and invisibles tidied, then NFC once more where dropping a character (a
    control or zero-width one between a letter and its accent: "A\\x08\\u0300") joined a
    combining sequence that the first pass saw apart."""
    clean, offsets = _normalize_with_offsets(text)
    if unicodedata.is_normalized("NFC", clean):
        return clean, offsets
    again, nfc_offsets = _nfc(clean)
    return again, compose(offsets, nfc_offsets)


def _nfc(text: str) -> tuple[str, list[int]]:
    if unicodedata.is_normalized("NFC", text):
        return text, list(range(len(text) + 1))
    # normalise each run that starts at a starter character, so offsets stay exact
    edits: list[Edit] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or unicodedata.combining(text[i]) == 0:
            segment = text[start:i]
            normal = unicodedata.normalize("NFC", segment)
            if normal != segment:
                edits.append((start, i, normal))
            start = i
    return apply_edits(text, edits)


def _normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    edits: list[Edit] = []
    for i, ch in enumerate(text):
        if ch in "\u00ad\u200b\u200c\u200d\u2060\ufeff" or (
            unicodedata.category(ch) == "Cc" and ch not in "\n\t\r"
        ):
            edits.append((i, i + 1, ""))
        elif ch == "\r":
            edits.append((i, i + 1, "" if text[i + 1 : i + 2] == "\n" else "\n"))
    text1, off1 = apply_edits(text, edits)

    edits = []
    for match in _HYPHEN_BREAK.finditer(text1):
        if match.group(1) not in _NOT_JOINED_AFTER_HYPHEN:
            edits.append((match.start(), match.end(), ""))
    taken = [(s, e) for s, e, _ in edits]
    for match in _BULLET.finditer(text1):
        if match.end() > match.start() and not _overlaps(taken, match.start(), match.end()):
            edits.append((match.start(), match.end(), "- "))
    text2, off2 = apply_edits(text1, edits)

    lines = text2.split("\n")
    edits = []
    pos = 0
    blank_run = 0
    for n, line in enumerate(lines):
        end = pos + len(line)
        stripped = line.strip(" \t\u00a0")
        if n > 0:
            newline = pos - 1
            if not stripped:
                blank_run += 1
                edits.append((newline, newline + 1, "" if blank_run > 1 else "\n"))
            else:
                prev_blank = blank_run > 0
                blank_run = 0
                keep = prev_blank or stripped.startswith("- ")
                edits.append((newline, newline + 1, "\n" if keep else " "))
        for match in _SPACES.finditer(line):
            s, e = pos + match.start(), pos + match.end()
            at_edge = match.start() == 0 or match.end() == len(line)
            if at_edge:
                edits.append((s, e, ""))
            elif match.group() != " ":
                edits.append((s, e, " "))
        pos = end + 1
    text3, off3 = apply_edits(text2, edits)
    # collapse what the line joins left behind ("a \n b" → "a  b") and trim the ends
    edits = [(m.start(), m.end(), " ") for m in re.finditer(r" {2,}", text3)]
    edits += [(m.start(), m.end(), "\n") for m in re.finditer(r" +\n *| *\n +", text3)]
    edits += [(m.start(), m.end(), "\n\n") for m in re.finditer(r"\n{3,}", text3)]
    lead = len(text3) - len(text3.lstrip())
    trail = len(text3.rstrip())
    edits = [e for e in edits if e[1] <= lead or e[0] >= lead]
    edits = [e for e in edits if e[0] >= lead and e[1] <= trail]
    if lead:
        edits.append((0, lead, ""))
    if trail < len(text3):
        edits.append((trail, len(text3), ""))
    text4, off4 = apply_edits(text3, _drop_overlaps(edits))
    return text4, compose(compose(compose(off1, off2), off3), off4)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def _drop_overlaps(edits: list[Edit]) -> list[Edit]:
    kept: list[Edit] = []
    for edit in sorted(edits):
        if kept and edit[0] < kept[-1][1]:
            continue
        kept.append(edit)
    return kept


# --- language ---------------------------------------------------------------------------

_LANGUAGES = ("sv", "en", "no", "nn", "da", "fi", "de", "fr", "es", "it", "nl", "pl", "et", "ru", "ar", "so", "fa")


@lru_cache(maxsize=1)
def _language_identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(_LANGUAGES))
    return identifier


def detect_language(text: str) -> Language:
    """Guess the language offline (py3langid's bundled model, restricted to likely languages).

    Texts under four words are ``und`` (undecided): too little to tell.
    Norwegian variants are reported as ``no``.
    """
    words = re.findall(r"[^\W\d_]+", text)
    if len(words) < 4:
        return Language("und", 0.0)
    code, probability = _language_identifier().classify(" ".join(words))
    if code in ("nb", "nn"):
        code = "no"
    return Language(str(code), float(probability))


# --- sentences and chunks ---------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    "t.ex ex bl.a m.m m.fl s.k d.v.s dvs osv o.s.v ca resp jfr kap nr st kl fr.o.m t.o.m "
    "etc mfl inkl exkl p.g.a pga tel f.d o.d m.a.o e.d dr prof mm".split()
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"”’)]*(?=\s+|$)|\n+")
_NEXT_CHAR = re.compile(r" *([^ ])")


def sentences(text: str) -> list[Passage]:
    """Split into sentences (and bullet/paragraph lines), keeping offsets into ``text``.

    Aware of Swedish abbreviations ("t.ex.", "bl.a.") and numbers ("1.2.1", "2,5 mnkr").
    """
    out: list[Passage] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group().startswith("."):
            before = re.search(r"(\S+)$", text[start : match.start()])
            word = before.group(1).lower().lstrip("(\"'") if before else ""
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
            following = _NEXT_CHAR.match(text, end)  # not text[end:]: that copy made long texts quadratic
            if following and following.group(1).islower():
                continue
        _add_passage(out, text, start, end)
        start = end
    _add_passage(out, text, start, len(text))
    return out


def _add_passage(out: list[Passage], text: str, start: int, end: int) -> None:
    segment = text[start:end]
    left = len(segment) - len(segment.lstrip())
    right = len(segment.rstrip())
    if right > left:
        out.append(Passage(start + left, start + right, segment[left:right]))


def _whitespace_tokens(text: str) -> int:
    return len(text.split()) + 2


def chunk(
    text: str,
    max_tokens: int = 256,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Passage]:
    """Group sentences into passages of at most ``max_tokens`` (by ``count_tokens``).

    A sentence longer than the budget is cut at word boundaries. Offsets point into
    ``text``, so each passage is ``text[p.start:p.end]``. ``count_tokens`` defaults to a
    word count; pass the encoder's tokenizer count to respect its 512-token window.
    """
    if max_tokens < 4:
        raise ValueError(f"max_tokens must be at least 4, got {max_tokens}")
    count = count_tokens or _whitespace_tokens
    pieces: list[Passage] = []
    for sentence in sentences(text):
        if count(sentence.text) <= max_tokens:
            pieces.append(sentence)
        else:
            pieces.extend(_split_long(text, sentence, max_tokens, count))
    passages: list[Passage] = []
    current: list[Passage] = []
    for piece in pieces:
        if current:
            candidate = text[current[0].start : piece.end]
            if count(candidate) > max_tokens:
                passages.append(_join(text, current))
                current = []
        current.append(piece)
    if current:
        passages.append(_join(text, current))
    return passages


def _join(text: str, parts: list[Passage]) -> Passage:
    return Passage(parts[0].start, parts[-1].end, text[parts[0].start : parts[-1].end])


def _split_long(text: str, sentence: Passage, max_tokens: int, count: Callable[[str], int]) -> list[Passage]:
    words = [(sentence.start + m.start(), sentence.start + m.end()) for m in re.finditer(r"\S+", sentence.text)]
    out: list[Passage] = []
    i = 0
    while i < len(words):
        lo, hi = i + 1, len(words)
        # the longest run of words from i that fits (binary search; counting is monotone)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[words[i][0] : words[mid - 1][1]]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        j = max(lo, i + 1)
        start, end = words[i][0], words[j - 1][1]
        out.append(Passage(start, end, text[start:end]))
        i = j
    return out
