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


def test_text_lines_show_bars_marks_and_the_evidence() -> None:
    lines = render.text_lines(RESULT)
    assert lines == render.text_lines(RESULT.to_dict())  # the object or its JSON: one rendering
    assert lines[0] == "text: language sv"
    assert lines[2] == "Test  [test]"
    assert lines[3] == "  ✓ ████████████████░░░░  0.80  t-bredband: Bredband"
    assert lines[4] == "        text [0:29]: Vi drar fiber till byarna."
    head = "        matches example t-bredband (0.73): "
    assert lines[5].startswith(head + "fiber till byarna") and lines[5].endswith("…")
    assert len(lines[5]) == len(head) + 90
    assert lines[6:8] == ["        like project p/fiber (0.50): Fiber i byn", "        shared terms: fiber, by"]
    assert lines[8].startswith("    ███░") and lines[8].endswith("t-kultur: Kultur")
    assert lines[10:] == ["Other  [other]", "  ingen säker träff (no confident match): no goal reaches probability 0.4"]


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
    assert line == "agenda-2030                 17 goals (+169 sub-goals)  multi-label  Agenda 2030"
