"""Tests of goalmatch.model.render: each output format from one hand-made suggestion (no encoder)."""

from __future__ import annotations

from goalmatch.model import render
from goalmatch.model import suggestions as s

SENTENCE = "Vi drar   fiber till byarna."
EVIDENCE = s.Evidence(
    sentences=(s.SentenceEvidence(0, 29, SENTENCE, 0.9, 0.61),),
    passage=s.PassageEvidence("t-bredband", "example", "fiber till byarna " * 12, 0.734),
    projects=(s.ProjectEvidence("p/fiber", "Fiber i byn", 0.5, ("t-bredband",)),),
    key_terms=("fiber", "by"),
)
RESULT = s.Suggestions(
    flags={"language": "sv", "repaired": False, "too_short": False},
    frameworks=(
        s.FrameworkSuggestions("test", "Test", False, False, None, 0.7, 0.2, (
            s.Suggestion("t-bredband", "Bredband", 0.8, True, EVIDENCE),
            s.Suggestion("t-kultur", "Kultur", 0.15, False, s.Evidence((), None, (), ())),
        )),
        s.FrameworkSuggestions("other", "Other", True, True, "no goal reaches probability 0.4", 0.3, 0.2, ()),
    ),
    similar_projects=(),
)


def test_text_lines_show_bars_marks_and_the_evidence_in_swedish() -> None:
    lines = render.text_lines(RESULT)
    assert lines == render.text_lines(RESULT.to_dict())  # the object or its JSON: one rendering
    assert lines[0] == "Texten: svenska"
    assert lines[2] == "Test  [test]"
    assert lines[3] == "  ✓ ████████████████░░░░  0,80  Bredband  [t-bredband]"
    assert lines[4] == "        ur texten (starkt stöd): «Vi drar fiber till byarna.»"  # no offsets
    head = "        i strategin (exempel): "
    assert lines[5].startswith(head + "fiber till byarna") and lines[5].endswith("…")  # no cosine
    assert len(lines[5]) == len(head) + 90
    assert lines[6:8] == ["        liknande projekt: Fiber i byn  [p/fiber]", "        delade ord: fiber, by"]
    assert lines[8].startswith("    ███░") and lines[8].endswith("Kultur  [t-kultur]")
    assert lines[10] == "Other  [other]"
    assert lines[11] == ("  ingen säker träff: Texten berör strategin, men inget mål är tillräckligt sannolikt: "
                         "ett säkert förslag kräver minst 0,40.")  # read from the English of a stored suggestion
    assert len(lines) == 12


def test_shared_words_are_shown_as_the_text_has_them() -> None:
    text = "Vi drar fiber till byarna. Fibern når alla byar och fler byar."  # a tie: the first form
    lines = render.text_lines(RESULT, text)
    assert "        delade ord: fiber, byar" in lines
    assert render.surface_words("Fler äldre bor kvar i Älvsbyn; äldre vill ha service.", ["gammal", "älvsbyn"]) == [
        "äldre", "Älvsbyn"]


def test_a_table_row_fills_the_columns_of_its_frameworks() -> None:
    names, types = render.columns(["test", "other"], 2)
    row = render.row(7, "a-7", "x" * 150, RESULT, 2)
    assert set(row) <= set(names) and {n for n in names if n.startswith("test.")} <= set(row)
    assert row["excerpt"] == "x" * 99 + "…" and types["row"] == "int" and types["test.p_1"] == "float"
    assert row["test.confident"] == "t-bredband" and row["test.p_2"] == 0.15
    assert row["test.evidence"].startswith("«Vi drar fiber till byarna.» matches example t-bredband (0.73): fiber")
    assert row["other.abstained"] is True and row["other.evidence"] is None
    assert row["other.reason"] == "no goal reaches probability 0.4"


def test_framework_line() -> None:
    line = render.framework_line({"id": "agenda-2030", "goals": 17, "sub_goals": 169, "multi_label": True,
                                  "name": "Agenda 2030"})
    assert line == "agenda-2030                 17 mål (+169 delmål)  flera mål per projekt  Agenda 2030"


def test_an_abstaining_framework_does_not_call_its_sentences_strong_support() -> None:
    off_topic = s.FrameworkSuggestions("test", "Test", False, True, None, 0.3, 0.5, (
        s.Suggestion("t-bredband", "Bredband", 0.96, False, EVIDENCE),), "off_topic", {"support": 0.3,
                                                                                       "min_similarity": 0.5})
    lines = render.text_lines(s.Suggestions(RESULT.flags, (off_topic,), ()))
    assert "        ur texten: «Vi drar fiber till byarna.»" in lines and not any("stöd" in line for line in lines)
