"""Edits that keep track of where every character came from.

Every text-cleaning step (Unicode normalisation, PDF repair, whitespace) is expressed as a
list of replacements on its input. :func:`apply_edits` applies them and returns, beside
the new text, an offset map: ``offsets[i]`` is the position in the input of character
``i`` of the output, with one extra entry for the end. Maps compose, so evidence found in
the cleaned text can always be pointed back into the text the user gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Edit = tuple[int, int, str]  # (start, end, replacement) in input offsets


@dataclass(frozen=True)
class Passage:
    """A span of text: ``text == source[start:end]``."""

    start: int
    end: int
    text: str


def apply_edits(text: str, edits: Iterable[Edit]) -> tuple[str, list[int]]:
    """Apply non-overlapping ``(start, end, replacement)`` edits; return text and offset map."""
    out: list[str] = []
    offsets: list[int] = []
    pos = 0
    for start, end, new in sorted(edits):
        if start < pos or end < start or end > len(text):
            raise ValueError(f"overlapping or out-of-range edit ({start}, {end}) at position {pos}")
        out.append(text[pos:start])
        offsets.extend(range(pos, start))
        out.append(new)
        width = end - start
        for k in range(len(new)):
            # spread the replacement over the span it replaces
            offsets.append(start + (k * width) // max(len(new), 1) if width else start)
        pos = end
    out.append(text[pos:])
    offsets.extend(range(pos, len(text)))
    offsets.append(len(text))
    return "".join(out), offsets


def compose(first: Sequence[int], second: Sequence[int]) -> list[int]:
    """Offsets of a two-step change: ``second`` maps step-2 text into step-1 text, ``first`` step-1 into the input."""
    return [first[i] for i in second]


def span_back(offsets: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """Map a half-open span of the output back to a half-open span of the input."""
    if not 0 <= start <= end < len(offsets):
        raise ValueError(f"span ({start}, {end}) outside a text of length {len(offsets) - 1}")
    if start == end:
        return offsets[start], offsets[start]
    last = offsets[end - 1]
    # the last character covers up to the next distinct input position
    stop = next((o for o in offsets[end:] if o > last), last + 1)
    return offsets[start], stop
