"""Tests of the PDF diacritic repair (goalmatch.text.repair) and its lexicon (goalmatch.text.lexicon).

Self-contained: the broken examples are copied from seed 003 (Region Norrbotten's 2022 report)
into this file; nothing is read from ../shared.
"""

from __future__ import annotations

import re
from array import array
from pathlib import Path

import pytest

from goalmatch.text.lexicon import LexiconError, _read_cache, _write_cache, get_lexicon, hunspell_files
from goalmatch.text.repair import Repaired, break_like_pdf, looks_broken, repair

# (broken, repaired): lines of seed 003 and the examples of its damage
SEED003 = [
    (
        "Kompetensfo rso rjningsfra gan kra ver samsyn och samverkan pa  en helt ny niva .",
        "Kompetensförsörjningsfrågan kräver samsyn och samverkan på en helt ny nivå.",
    ),
    (
        "Nationell strategi fo r ha llbar regional utveckling i hela landet",
        "Nationell strategi för hållbar regional utveckling i hela landet",
    ),
    ("ha llbar fo rso rjning av innovationskritiska metaller", "hållbar försörjning av innovationskritiska metaller"),
    (
        "tillsammans med Region Va sterbotten och Tillva xtverket, fra n EU, beviljats sto d",
        "tillsammans med Region Västerbotten och Tillväxtverket, från EU, beviljats stöd",
    ),
    ("Ja msta lldhet, integration samt miljo  och klimat", "Jämställdhet, integration samt miljö och klimat"),
    ("Miljo  och klimat pa verkar alla", "Miljö och klimat påverkar alla"),
    (
        "och da rmed uppna  ma let fo r den regionala utvecklingspolitiken",
        "och därmed uppnå målet för den regionala utvecklingspolitiken",
    ),
    ("O kad kunskap kring gestaltade livsmiljo er", "Ökad kunskap kring gestaltade livsmiljöer"),
    (
        "en nod fo r politiken fo r gestaltad livsmiljo  i O vre Norrland",
        "en nod för politiken för gestaltad livsmiljö i Övre Norrland",
    ),
    (
        "Boden, Kalix, Lulea  samt Å lvsbyns kommun). En utredning",
        "Boden, Kalix, Luleå samt Älvsbyns kommun). En utredning",
    ),
    (
        "Å terrapportering av villkorsbeslut 2022 fo r Region Norrbotten",
        "Återrapportering av villkorsbeslut 2022 för Region Norrbotten",
    ),
    (
        "Årbetet med att fa rdigsta lla program och handlingsplaner fo r de Europeiska strukturfonderna",
        "Arbetet med att färdigställa program och handlingsplaner för de Europeiska strukturfonderna",
    ),
    (
        "Under a ret har Region Norrbottens insatser bidragit till genomfo rande av Ågenda 2030",
        "Under året har Region Norrbottens insatser bidragit till genomförande av Agenda 2030",
    ),
    (
        "Åktiviteterna har genomfo rts i samverkan med LKÅB och SSÅB.",
        "Aktiviteterna har genomförts i samverkan med LKAB och SSAB.",
    ),
    (
        "utvecklingsa tga rder men a ven insatser med annan finansiering kan redovisas. "
        "Ånge max 5 insatser och fyll i tabellen nedan.",
        "utvecklingsåtgärder men även insatser med annan finansiering kan redovisas. "
        "Ange max 5 insatser och fyll i tabellen nedan.",
    ),
    (
        "Da rfo r har det regionala kompetensfo rso rjningsra det utvidgats till att ocksa  omfatta",
        "Därför har det regionala kompetensförsörjningsrådet utvidgats till att också omfatta",
    ),
    (
        "elever har uppmuntrats att utveckla affa rside er utifra n spillmaterial",
        "elever har uppmuntrats att utveckla affärsidéer utifrån spillmaterial",
    ),
    (
        "Det vill sa ga likva rdiga mo jligheter till boende, arbete och va lfa rd",
        "Det vill säga likvärdiga möjligheter till boende, arbete och välfärd",
    ),
    (
        "regleringsmodell av helikopterskida kning Kirunafja llen. (Kiruna Lapland ek. Fo rening)",
        "regleringsmodell av helikopterskidåkning Kirunafjällen. (Kiruna Lapland ek. Förening)",
    ),
    (
        "Ett ma linriktat arbete med att sto tta de akto rer som bedriver kommersiell service i \n"
        "la net har genomfo rts.",
        "Ett målinriktat arbete med att stötta de aktörer som bedriver kommersiell service i \nlänet har genomförts.",
    ),
]


@pytest.mark.parametrize(("broken", "expected"), SEED003)
def test_seed003_damage_is_repaired(broken: str, expected: str) -> None:
    assert looks_broken(broken)
    result = repair(broken)
    assert result.text == expected
    assert result.changed and result.repaired


CLEAN = [
    "Projektet ska utveckla besöksnäringen i Jokkmokk genom samverkan mellan små företag.",
    "Utvecklingsstrategin utgör ramen för vårt arbete och styr hur vi kan fördela leaderstöd. Under 2021 och "
    "2022 har den tagits fram tillsammans med ideell, privat och offentlig sektor i Boden, Luleå, Piteå, "
    "Kalix och Älvsbyn.",
    "Han sa att en idé om ett fä kan bli ett arbetstillfälle. Ånge kommun och Åre ligger i Västernorrland "
    "och Jämtland.",
    "The project will strengthen the supply of skills in the county through new courses, to do so a lot of data "
    "are needed.",
    "Anna Lo, Maria Sjö och Åsa Öberg träffades på Hotell Aurora 2022-08-01 kl. 10.30; budget 58,7 mnkr (1:1).",
    "Läs mer på https://www.tillvaxtverket.se/amnesomraden/regional-kapacitet.html eller mejla "
    "ulrika.aberg@tillvaxtverket.se, li.registrator@regeringskansliet.se.",
    "Insatsområde 3: Ett engagerat och inkluderande civilsamhälle. NTI-gymnasiet, IoT-sensorer och EU-program.",
]


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text_is_left_alone_even_when_forced(text: str) -> None:
    assert not looks_broken(text)
    assert repair(text) == Repaired(text, text)
    assert repair(text, force=True).changes == ()


def test_correct_words_beside_broken_ones_survive() -> None:
    text = "Projektet, som Anna Lo leder i Luleå, ska sta rka fo retagandet. Ånge kommun deltar med data från 2021."
    result = repair(text)
    assert result.text == (
        "Projektet, som Anna Lo leder i Luleå, ska stärka företagandet. Ånge kommun deltar med data från 2021."
    )
    assert {c.original for c in result.changes} == {"a ", "o "}


def test_english_in_a_broken_document_is_not_swedified() -> None:
    text = "Projektet North Sweden Green Deal ska sta rka fo retagen. To do so, partners provide a sense of direction."
    assert repair(text).text == (
        "Projektet North Sweden Green Deal ska stärka företagen. To do so, partners provide a sense of direction."
    )


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("Vi ska na  ma len under a ret.", "Vi ska nå målen under året."),  # mål, not mäl
        ("Fo retagen ska kunna fa  sto d.", "Företagen ska kunna få stöd."),  # få, not fä
        ("Det a r viktigt fo r la net.", "Det är viktigt för länet."),  # är, länet
        ("Vi har arbetat i ma nga a r med det.", "Vi har arbetat i många år med det."),  # år after "många"
        ("Det a r ett na t fo r 6G.", "Det är ett nät för 6G."),  # nät, not the spoken "nåt"
    ],
)
def test_the_likelier_of_a_and_a_wins(broken: str, expected: str) -> None:
    assert repair(broken).text == expected


def test_changes_are_in_original_offsets() -> None:
    original = "Projektet ska sta rka fo retagandet i byn."
    result = repair(original)
    assert result.text == "Projektet ska stärka företagandet i byn."
    for start, end, old, new in result.changes:
        assert original[start:end] == old
        assert new in "åäöéA"
    assert result.original_span(14, 20) == (14, 21)  # "stärka" ← "sta rka"


def _damage_blind(text: str) -> str:
    """Letters as the damage leaves them: no spaces, no diacritics, every capital A an Å."""
    return text.replace(" ", "").translate(str.maketrans("åäöéÄÖA", "aaoeÅOÅ"))


def test_every_word_maps_back_to_its_original_letters() -> None:
    original = SEED003[0][0] + " " + SEED003[9][0] + " " + SEED003[12][0]
    result = repair(original)
    for m in re.finditer(r"\w+", result.text):
        s, e = result.original_span(m.start(), m.end())
        assert _damage_blind(original[s:e]) == _damage_blind(m.group()), m.group()
    assert result.original_span(0, len(result.text)) == (0, len(original))
    assert result.original_span(0, 0) == (0, 0)
    assert result.original_span(len(result.text), len(result.text)) == (len(original), len(original))
    with pytest.raises(ValueError, match="outside"):
        result.original_span(5, len(result.text) + 1)


def test_a_span_inside_a_replacement_covers_all_it_replaced() -> None:
    result = repair("Det a r bra.")
    assert result.text == "Det är bra."
    assert result.original_span(4, 5) == (4, 6)  # "ä" ← "a "
    assert result.original_span(5, 6) == (6, 7)  # "r"


def test_repair_is_idempotent() -> None:
    samples = [b for b, _ in SEED003] + [break_like_pdf(PARAGRAPH, seed) for seed in range(3)]
    for text in samples:
        once = repair(text).text
        assert repair(once).text == once


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("ska sta rka", True),
        ("a r", True),
        ("pa  att", True),
        ("O kad", True),
        ("Ågenda 2030", True),
        ("ho gt", True),
        ("ska stärka", False),
        ("Agenda 2030", False),
        ("to the core", False),
        ("", False),
    ],
)
def test_looks_broken(text: str, broken: bool) -> None:
    assert looks_broken(text) is broken


def test_empty_and_wrong_input() -> None:
    assert repair("") == Repaired("", "")
    assert not repair("").changed
    assert not looks_broken("")
    with pytest.raises(TypeError, match="expected text"):
        repair(b"bytes")  # type: ignore[arg-type]


PARAGRAPH = (
    "Områdets lokala och regionala aktörer ska uppmuntras att utveckla nya lösningar för landsbygdens välfärd, "
    "för boende, service och infrastruktur. Ett brett och hållbart näringsliv ökar områdets attraktivitet och "
    "ger också en bredare arbetsmarknad som möjliggör att fler kan stanna kvar i regionen.\n"
    "Arbetet med Agenda 2030 fortsätter under året. Övriga aktörer får stöd för att förbättra samverkan."
)


def test_break_like_pdf_breaks_deterministically_and_repair_undoes_it() -> None:
    broken = break_like_pdf(PARAGRAPH, 3)
    assert broken == break_like_pdf(PARAGRAPH, 3)
    assert "Områdets" not in broken and "Å rbetet" not in broken and "Årbetet" in broken and "O vriga" in broken
    assert looks_broken(broken)
    assert repair(broken).text == PARAGRAPH
    assert repair(break_like_pdf(PARAGRAPH, 0, collapse=0.0)).text == PARAGRAPH


def test_lexicon_knows_compounds_and_drops_fragments() -> None:
    lex = get_lexicon()
    assert lex is get_lexicon()  # loaded once, shared
    for word in ("kompetensförsörjningsrådet", "Tillväxtverket", "försörjning", "INSATSOMRÅDE", "helikopterskidåkning"):
        assert lex.is_word(word), word
    for fragment in ("kning", "fo", "rso", "rjning", "llbar", "ndringarna", "pa"):
        assert not lex.is_word(fragment), fragment
    assert lex.zipf("mål") > lex.zipf("mäl")


def test_missing_dictionary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="pip install hunspell-sv"):
        hunspell_files([tmp_path])


def test_cache_round_trip_and_corruption(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.bin"
    hashes = array("Q", [1, 5, 9])
    _write_cache(path, hashes, bytes([1, 3, 9]))
    assert _read_cache(path) == (hashes, bytes([1, 3, 9]))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert _read_cache(path) is None  # checksum fails: the caller rebuilds
    path.write_bytes(b"not a lexicon")
    assert _read_cache(path) is None
    assert _read_cache(tmp_path / "missing.bin") is None
