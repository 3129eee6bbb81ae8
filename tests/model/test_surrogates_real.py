"""Lone surrogates through the REAL encoder (issue 16, item 8).

Before the fix 101 of 101 generated texts with a surrogate made the tokenizer raise
``TypeError: TextInputSequence must be str``. Here about a hundred generated texts (seeded,
so CI is stable) go through the shipped model's Matcher and straight through its Encoder.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from goalmatch.model.matcher import Matcher

SENTENCES = [
    "Projektet ska bygga fiber till byarna kring älven.",
    "Föreningen ordnar sommarläger för barn och unga i Älvsbyn.",
    "Vi vill stärka företagandet och besöksnäringen i Jokkmokk.",
    "Kommunen utvecklar kollektivtrafiken mellan byarna.",
]


def _texts_with_surrogates(n: int, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = " ".join(rng.sample(SENTENCES, 2)).split(" ")
        for _ in range(rng.randint(1, 4)):  # lone surrogates, half pairs, reversed pairs, anywhere
            at = rng.randrange(len(words) + 1)
            words.insert(at, "".join(chr(rng.randint(0xD800, 0xDFFF)) for _ in range(rng.randint(1, 2))))
        if rng.random() < 0.5:  # and some other code points from the whole range
            words.append("".join(chr(rng.randint(0x20, 0x10FFFF)) for _ in range(rng.randint(1, 6))))
        out.append(" ".join(words))
    return out


@pytest.mark.slow
def test_the_real_encoder_reads_generated_texts_with_surrogates() -> None:
    texts = _texts_with_surrogates(100)
    with_surrogates = sum(any(0xD800 <= ord(ch) <= 0xDFFF for ch in t) for t in texts)
    assert with_surrogates == 100
    matcher = Matcher.load()
    results = matcher.suggest_many(texts, top_k=1)
    answered = sum(1 for r in results if r.frameworks and r.flags["replaced_characters"] >= 1)
    assert answered == with_surrogates, f"{answered} of {with_surrogates} texts with surrogates read"
    one = matcher.suggest("Fiber \udcff i byn kring älven, för hushållen och företagen i Norrbotten")
    assert one.flags["replaced_characters"] == 1
    encoder = matcher.encoder  # the Encoder itself, given the raw texts (no prepare in between)
    X = encoder.transform(texts[:20])
    assert X.shape == (20, encoder.dim) and np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert encoder.count_tokens("Fiber \udcff i byn") == encoder.count_tokens("Fiber \ufffd i byn")
