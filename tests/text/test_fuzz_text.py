"""Property-based (Hypothesis) and worst-case tests of the text pipeline.

``prepare``, ``normalize``, ``sentences``, ``chunk`` and ``repair`` get arbitrary Unicode
from the whole code space, lone surrogates included (control characters, right-to-left text,
emoji, combining marks, decomposed å/ä/ö, soft hyphens, CR/LF mixes, PDF-broken Swedish) and
must not crash, must keep every offset inside the text, map back into the original, and hand
on text that UTF-8 (and so the encoder's tokenizer) accepts. The real encoder reads generated
texts with surrogates in tests/model/test_surrogates_real.py (slow). Settings are bounded and derandomized so CI is
stable; the two worst cases (5 MB of text, one 100,000-character word) assert generous
time and memory bounds that only a real blow-up breaks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goalmatch.text.prepare import chunk, normalize, prepare, sentences
from goalmatch.text.repair import looks_broken, repair

FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# pieces that stress the pipeline: decomposed å/ä/ö, combining marks, soft hyphen,
# zero-width characters, RTL text and marks, emoji (with ZWJ and skin tone), CR/LF mixes,
# bullets, hyphenated line breaks, PDF damage ("fo rso rjning", "Å genda", "pa  att")
PIECES = [
    "a\u030a", "a\u0308", "o\u0308", "A\u030a", "O\u0308", "e\u0301\u0301", "\u0301", "\u0308",
    "\u00ad", "\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u200f", "שלום", "مرحبا", "\u0627\u064b",
    "👍🏽", "👩\u200d👩\u200d👧", "🇸🇪", "\r\n", "\r", "\n", "\n\n\n", "\t", "\u00a0", "\u3000", " ",
    "• ", "- ", "\uf0b7 ", "före-\ntagen", "t.ex.", "bl.a.", "1.2.1", "...", "?!", "…",
    "fo rso rjning", "Å genda", "O kad", "pa  att", "a r", "la net", "hushÅllen", "sa  att",
    "Projektet ska stärka företagandet i byn.", "Vi bygger fiber.", "\x00", "\x07", "\x1b[31m", "\x7f",
    "\ud7ff", "\U0010ffff", "\ufffd", "ﬁ", "Å", "Ω", "K",  # ﬁ ligature, Ångström sign, Ohm sign, Kelvin
    # lone surrogates (issue 16, item 8): what surrogateescape makes of bad bytes, JSON "\udcff", half a pair
    "\udcff", "\ud800", "\udfff", "\ud83d", "\ud83d\udc4d", "a\udce5\u0308",
]
# the whole code space: st.text() alone leaves out the surrogates (category Cs), and at random
# they are 2,048 of 1.1 million code points, so they are drawn on purpose as well
CHARACTER = st.characters(codec=None, exclude_categories=()) | st.characters(categories=["Cs"])
TEXT = st.one_of(
    st.text(alphabet=CHARACTER, max_size=300),
    st.lists(st.sampled_from(PIECES) | st.text(alphabet=CHARACTER, max_size=5), max_size=40).map("".join),
    st.text(alphabet=" \t\r\n\u00a0.,;:!?-–—()\"'…", max_size=60),  # whitespace and punctuation only
)


def _check_span(p, start: int, end: int) -> None:  # type: ignore[no-untyped-def]
    a, b = p.original_span(start, end)
    assert 0 <= a <= b <= len(p.original)
    if start < end:
        assert a < b  # a non-empty span of the clean text came from something


@FUZZ
@given(TEXT)
def test_prepare_offsets_stay_in_the_original(text: str) -> None:
    p = prepare(text)
    assert p.original == text
    p.text.encode("utf-8")  # no lone surrogate reaches the encoder
    assert p.flags["replaced_characters"] == sum(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    assert len(p.offsets) == len(p.text) + 1
    assert unicodedata.is_normalized("NFC", p.text)
    assert p.text == p.text.strip()
    assert list(p.offsets) == sorted(p.offsets)  # the map is monotone: spans never turn over
    for passage in [*sentences(p.text), *chunk(p.text, max_tokens=8)]:
        assert 0 <= passage.start < passage.end <= len(p.text)
        _check_span(p, passage.start, passage.end)
    _check_span(p, 0, len(p.text))
    _check_span(p, len(p.text), len(p.text))
    with pytest.raises(ValueError):
        p.original_span(0, len(p.text) + 1)


@FUZZ
@given(TEXT)
def test_normalize_is_nfc_and_idempotent(text: str) -> None:
    once = normalize(text)
    once.encode("utf-8")
    assert unicodedata.is_normalized("NFC", once)
    assert normalize(once) == once
    assert once == prepare(text, repair=False).text


@FUZZ
@given(TEXT, st.integers(min_value=4, max_value=40))
def test_chunk_passages_are_slices_in_order_without_overlap(text: str, max_tokens: int) -> None:
    clean = normalize(text)
    passages = chunk(clean, max_tokens=max_tokens)
    last = 0
    for p in passages:
        assert p.text == clean[p.start : p.end]
        assert last <= p.start < p.end
        last = p.end
    assert bool(passages) == bool(clean.strip())
    for s in sentences(clean):
        assert s.text == clean[s.start : s.end] and s.text == s.text.strip()


@FUZZ
@given(TEXT)
def test_repair_is_idempotent_and_maps_back(text: str) -> None:
    once = repair(text, force=True)
    assert once.original == text
    again = repair(once.text, force=True)
    assert again.text == once.text, (once.changes, again.changes)
    for c in once.changes:
        assert text[c.start : c.end] == c.original
    a, b = once.original_span(0, len(once.text))
    assert (a, b) == (0, len(text))


def test_documented_errors_only() -> None:
    for bad in (None, b"bytes", 3):
        with pytest.raises(TypeError):
            prepare(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            repair(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        chunk("text", max_tokens=3)
    assert prepare("").text == "" and prepare("").too_short
    assert prepare(" \r\n\t\u00a0\u00ad ").text == ""
    assert chunk("") == [] and sentences("   ") == []


SENTENCE = "Projektet ska stärka företagandet och bygga fiber till byarna kring Soutujärvi. "
WORST_CASES = {
    "5MB-text": f"(({SENTENCE!r}) * {5_000_000 // len(SENTENCE) + 1})[:5_000_000]",
    "100k-char-word": "'x' * 100_000",
    "broken-and-decomposed": "'fo rso rjning ' * 1000 + 'a\\u0308' * 50_000",
}
# Measured in a child process: its own peak RSS (VmHWM, interpreter and imports included)
# and wall time. tracemalloc would slow this allocation-heavy code ten-fold.
_WORST_CASE_SCRIPT = """
import json, resource, sys, time
from goalmatch.text.prepare import chunk, prepare
text = eval(sys.argv[1])
begin = time.perf_counter()
p = prepare(text)
passages = chunk(p.text)
seconds = time.perf_counter() - begin
assert passages[0].start == 0 and passages[-1].end == len(p.text)
a, b = p.original_span(passages[-1].start, passages[-1].end)
assert 0 <= a < b <= len(text)
# VmHWM, not ru_maxrss: ru_maxrss survives execve, so it would report the (large) pytest
# process this child was forked from
try:
    status = open("/proc/self/status", encoding="ascii").read()
    peak = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1]) * 1024
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
print(json.dumps({"seconds": seconds, "peak": peak, "passages": len(passages), "chars": len(text)}))
"""


@pytest.mark.parametrize("name", list(WORST_CASES))
def test_worst_case_inputs_stay_within_bounds(name: str, record_property: pytest.RecordProperty) -> None:
    done = subprocess.run([sys.executable, "-c", _WORST_CASE_SCRIPT, WORST_CASES[name]],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    record_property("seconds", round(figures["seconds"], 2))
    record_property("peak_mb", round(figures["peak"] / 2**20, 1))
    assert figures["passages"] >= 1
    assert figures["seconds"] < 60, figures
    assert figures["peak"] < 1.5 * 2**30, figures


def test_looks_broken_is_linear_on_a_long_word() -> None:
    begin = time.perf_counter()
    looks_broken("a" * 200_000 + " " + "o " * 100_000)
    assert time.perf_counter() - begin < 10


def test_repair_near_a_long_word_is_not_quadratic() -> None:
    # before the fix: 39 s and 1.4 GB (an unbounded URL/e-mail pattern rescanned the word from
    # every position; compound splitting sliced and cached a part at every split point)
    text = "fo rso rjning " * 1000 + "a\u0308" * 50_000 + " kontakt@exempel.se www.exempel.se"
    begin = time.perf_counter()
    result = repair(text, force=True)
    assert time.perf_counter() - begin < 15
    assert result.text.startswith("försörjning försörjning")
    assert result.text.endswith(" kontakt@exempel.se www.exempel.se")
