from __future__ import annotations

import itertools

import pytest

from goalmatch.text.lemmas import keywords, lemmatize
from goalmatch.text.prepare import chunk, detect_language, normalize, prepare, sentences


def test_normalize_nfc_soft_hyphens_whitespace_and_bullets() -> None:
    raw = (
        "Fo\u0308rstudie\u00ad om   ha\u030allbar  turism\r\n• bygga bredband\n"
        "  ◦ utveckla service\u200b\n\n\n\nNytt stycke. "
    )
    assert normalize(raw) == "Förstudie om hållbar turism\n- bygga bredband\n- utveckla service\n\nNytt stycke."


def test_words_broken_across_lines_are_joined_but_suspended_hyphens_stay() -> None:
    assert normalize("Projektet stärker kompetens-\nförsörjningen i länet.") == (
        "Projektet stärker kompetensförsörjningen i länet."
    )
    assert normalize("kultur-\noch fritidsaktiviteter") == "kultur- och fritidsaktiviteter"


def test_single_line_breaks_inside_a_paragraph_become_spaces() -> None:
    assert normalize("Syftet med\nprojektet är\natt bygga.") == "Syftet med projektet är att bygga."


def test_prepare_maps_every_span_back_to_the_original() -> None:
    original = "Fo\u0308rstudien   ska   sta rka\u00ad\nföretagandet  i byn."
    p = prepare(original)
    assert p.text == "Förstudien ska stärka företagandet i byn."
    assert p.repaired
    expected = {
        "Förstudien": "Fo\u0308rstudien",  # NFC composed the letter; the span covers both code points
        "ska": "ska",
        "stärka": "sta rka\u00ad",  # repaired word; the dropped soft hyphen rides along
        "företagandet": "företagandet",
        "byn.": "byn.",
    }
    for word, source in expected.items():
        start = p.text.index(word)
        s, e = p.original_span(start, start + len(word))
        assert original[s:e] == source
    assert p.original_span(0, len(p.text)) == (0, len(original))


def test_prepare_leaves_clean_text_alone_and_flags_it() -> None:
    text = "Projektet ska utveckla besöksnäringen i Jokkmokk genom samverkan mellan små företag."
    p = prepare(text)
    assert p.text == text and not p.repaired
    assert p.offsets == tuple(range(len(text) + 1))
    assert p.flags == {"language": "sv", "language_confidence": p.flags["language_confidence"], "repaired": False,
                       "too_short": False, "replaced_characters": 0}
    assert prepare("Bredband").too_short
    assert prepare("").too_short


def test_prepare_refuses_non_text() -> None:
    with pytest.raises(TypeError, match="expected text"):
        prepare(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Projektet ska stärka kompetensförsörjningen i Norrbottens län genom nya utbildningar.", "sv"),
        ("The project will strengthen the supply of skills in the county through new courses.", "en"),
        ("Hankkeen tavoitteena on kehittää matkailua ja palveluja Tornionlaaksossa.", "fi"),
        ("Das Projekt soll den Tourismus in der Region stärken und neue Arbeitsplätze schaffen.", "de"),
        ("Prosjektet skal styrke reiselivet i regionen og skape nye arbeidsplasser for unge.", "no"),
        ("Hej då", "und"),
    ],
)
def test_language_check(text: str, code: str) -> None:
    assert detect_language(text).code == code


def test_language_check_sees_swedish_in_pdf_broken_text_after_repair() -> None:
    broken = "Kompetensfo rso rjningsfra gan kra ver samsyn och samverkan pa  en helt ny niva ."
    assert prepare(broken).language.is_swedish


def test_lemmas_are_lowercased_and_corrected() -> None:
    lemmas = [t.text for t in lemmatize("Företagens utveckling FÖR bygden, företag och boende")]
    assert lemmas == ["företag", "utveckling", "för", "bygd", "företag", "och", "boende"]


def test_keywords_drop_stop_words_and_count_lemmas() -> None:
    words = keywords("Vi bygger bredband. Bredbandet byggs i byarna och företagen får bredband.", top_k=3)
    assert words[0] == "bredband"
    assert "och" not in words and "vi" not in words


def test_sentences_respect_swedish_abbreviations_and_numbers() -> None:
    text = "Projektet ska bl.a. bygga t.ex. bryggor. Budgeten är 2,5 mnkr enligt kap. 1.2.1 i planen! Klart?"
    assert [s.text for s in sentences(text)] == [
        "Projektet ska bl.a. bygga t.ex. bryggor.",
        "Budgeten är 2,5 mnkr enligt kap. 1.2.1 i planen!",
        "Klart?",
    ]


def test_chunk_offsets_point_into_the_text_and_respect_the_budget() -> None:
    text = " ".join(f"Mening nummer {i} handlar om bredband och service i byn." for i in range(40))
    passages = chunk(text, max_tokens=30)
    assert len(passages) > 5
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert len(p.text.split()) + 2 <= 30
    assert passages[0].start == 0 and passages[-1].end == len(text)
    # passages follow each other without overlap
    assert all(a.end <= b.start for a, b in itertools.pairwise(passages))


def test_chunk_cuts_a_sentence_longer_than_the_budget() -> None:
    text = "ord " * 100 + "slut."
    passages = chunk(text.strip(), max_tokens=20)
    assert all(len(p.text.split()) + 2 <= 20 for p in passages)
    assert "".join(p.text.replace(" ", "") for p in passages) == text.replace(" ", "")


def test_chunk_uses_the_given_token_counter() -> None:
    passages = chunk("a b c d e f g h i j", max_tokens=4, count_tokens=lambda s: len(s.replace(" ", "")))
    assert [p.text for p in passages] == ["a b c d", "e f g h", "i j"]
    with pytest.raises(ValueError, match="at least 4"):
        chunk("text", max_tokens=1)


@pytest.mark.parametrize("text", [
    # Norwegian: "noe økonomisk" once came out as "noéøkonomisk", and the text was called repaired
    "Prosjektet skal styrke noe økonomisk samarbeid mellom bedrifter i regionen og gi bedre tilgang til kompetanse.",
    # Danish: the repair rewrote most Danish project texts towards Swedish spellings
    "Projektet skal styrke samarbejdet mellem virksomheder og uddannelsesinstitutioner om ny viden på området.",
])
def test_text_that_is_not_swedish_is_never_repaired(text: str) -> None:
    p = prepare(text)
    assert p.text == text and not p.repaired
    assert p.language.code in ("no", "da")


def test_broken_swedish_is_still_repaired_when_the_damage_hides_its_language() -> None:
    damaged = "Na ringslivet i la net beho ver fler ma nniskor med ra tt kompetens fo r framtiden."
    assert detect_language(damaged).code != "sv"  # the damage makes it read as another language
    p = prepare(damaged)
    assert p.repaired and p.text.startswith("Näringslivet i länet behöver") and p.language.code == "sv"


def test_prepare_replaces_lone_surrogates_and_counts_them() -> None:
    # issue 16, item 8: the real tokenizer raised "TextInputSequence must be str" on these
    p = prepare("Fiber \udcff i byn \ud83d och \udce5\u0308lven")
    assert p.text == "Fiber \ufffd i byn \ufffd och \ufffd\u0308lven"
    assert p.flags["replaced_characters"] == 3 and p.replaced == 3
    p.text.encode("utf-8")
    assert p.original_span(6, 7) == (6, 7)
    assert prepare("Fiber i byn").flags["replaced_characters"] == 0


def test_prepare_is_nfc_after_dropping_a_control_inside_a_combining_sequence() -> None:
    # found by the full-range fuzzing: NFC ran before the control character was dropped
    p = prepare("A\x08\u0300 och a\u200b\u030a")
    assert p.text == "\u00c0 och \u00e5"
    assert p.original_span(0, 1) == (0, 3)
