"""Issue 15, item 1: why there is no confident goal, as data (``reason_code``, ``reason_figures``)
beside the English ``reason``, and in plain Swedish through the one function that writes it
(:func:`goalmatch.model.render.reason_sv`)."""

from __future__ import annotations

import pytest

from goalmatch.model import render
from goalmatch.model.matcher import Matcher
from goalmatch.model.suggestions import REASON_CODES, Abstention, FrameworkSuggestions
from tests.toys import BREDBAND, GIBBERISH

FIGURES = {"too_short": {}, "off_topic": {"support": 0.838, "min_similarity": 0.848},
           "below_probability": {"best_probability": 0.312, "threshold": 0.4},
           "below_thresholds": {"best_probability": 0.312}}
INTERNALS = ("support", "0.838", "0,838", "0.848", "<", "threshold", "cosine", "probability", "the ")


def _abstained(why: Abstention | None, reason: str | None = None) -> FrameworkSuggestions:
    return FrameworkSuggestions("fw", "Strategi", False, True, reason if why is None else why.english, 0.8, 0.85,
                                (), why.code if why else None, dict(why.figures) if why else {})


def test_an_off_topic_text_says_so_as_a_code_with_its_figures(toy_matcher: Matcher) -> None:
    for fw in toy_matcher.suggest(GIBBERISH).frameworks:
        data = fw.to_dict()
        assert data["reason_code"] == "off_topic" and "less related to this strategy" in data["reason"]
        figures = {"support": round(fw.support, 4), "min_similarity": round(fw.min_similarity, 4)}
        assert data["reason_figures"] == figures
        assert render.reason_sv(fw) == render.reason_sv(data)
        assert "handla om något annat än strategin" in (render.reason_sv(fw) or "")


def test_a_short_text_and_a_confident_one(toy_matcher: Matcher) -> None:
    short = toy_matcher.suggest("Fiber till byn")["test"]
    assert (short.reason_code, short.reason_figures) == ("too_short", {})
    assert "för kort" in (render.reason_sv(short) or "")
    sure = toy_matcher.suggest(BREDBAND)["test"]
    assert not sure.abstained and (sure.reason, sure.reason_code, sure.reason_figures) == (None, None, {})
    assert sure.to_dict()["reason_code"] is None and render.reason_sv(sure) is None


@pytest.mark.parametrize("code", REASON_CODES)
def test_every_reason_reads_as_plain_swedish(code: str) -> None:
    why = Abstention(code, FIGURES[code])
    swedish = render.reason_sv(_abstained(why))
    assert swedish and swedish.endswith(".") and swedish[0].isupper()
    assert not any(word in swedish.casefold() for word in INTERNALS), swedish
    # a suggestion stored before the codes existed has the English sentence only: read the same
    assert render.reason_sv(_abstained(None, why.english)) == swedish or code == "below_probability"


def test_the_figures_are_written_with_a_decimal_comma() -> None:
    swedish = render.reason_sv(_abstained(Abstention("below_probability", FIGURES["below_probability"])))
    assert swedish is not None and "0,31" in swedish and "0,40" in swedish


def test_an_unknown_code_is_refused_and_an_unknown_reason_still_reads_as_swedish() -> None:
    with pytest.raises(ValueError, match="unknown abstention code"):
        Abstention("because")
    assert render.reason_sv(_abstained(None, "something new")) == (
        "Modellen står inte bakom något av målen för den här texten.")
