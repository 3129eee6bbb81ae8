"""Tests of goalmatch.model.matcher.Matcher: synthetic frameworks, FakeEncoder, offline and fast.

The ``slow`` tests at the end load the shipped ``models/default`` with the real encoder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import goalmatch
from goalmatch.data.corpus import Record
from goalmatch.data.frameworks import Framework
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model.matcher import Matcher, Suggestions
from goalmatch.text.prepare import prepare
from tests.toys import BREDBAND, GIBBERISH, PDF_BROKEN, RECORDS


class CountingEncoder(FakeEncoder):
    """FakeEncoder that records every call."""

    def __init__(self, dim: int = 64, prefix: str = "", batch_size: int = 32, show_progress: bool = False) -> None:
        super().__init__(dim=dim, prefix=prefix, batch_size=batch_size, show_progress=show_progress)
        self.calls: list[list[str]] = []

    def encode(self, texts: Any) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode(texts)


# ------------------------------------------------------------------ train


def test_train_builds_one_head_per_framework_and_keeps_the_records(toy_matcher: Matcher) -> None:
    assert sorted(toy_matcher.heads) == ["test", "test-multi"]
    assert list(toy_matcher.heads["test"].classes_) == ["t-bredband", "t-kultur", "t-foretag"]
    assert toy_matcher.references.ids == tuple(r.id for r in RECORDS)
    assert toy_matcher.references.embeddings.shape == (len(RECORDS), 64)
    assert toy_matcher.info["training_data"]["labelled"] == {"test": 4, "test-multi": 2}
    assert np.isfinite(toy_matcher.heads["test"].min_similarity_)  # unlabelled records set the support floor


def test_train_encodes_every_distinct_text_once_in_one_call(toy_frameworks: dict[str, Framework]) -> None:
    encoder = CountingEncoder()
    extra = [Record("x/1", RECORDS[0].text, "x", {"test": ("t-bredband",)})]  # a text seen twice
    Matcher.train(toy_frameworks, RECORDS, encoder=encoder, extra=extra)
    real = [call for call in encoder.calls if call]
    assert len(real) == 1
    assert len(real[0]) == len(set(real[0]))
    assert set(r.text for r in RECORDS) <= set(real[0])


def test_single_label_heads_learn_the_primary_label_only(toy_matcher: Matcher) -> None:
    head = toy_matcher.heads["test"]
    # p/teater is labelled ("t-kultur", "t-foretag"): only t-kultur counts for a single-label framework
    assert head.labelled_targets_.sum(axis=1).tolist() == [1, 1, 1, 1]
    assert head.labelled_targets_[2].tolist() == [0, 1, 0]
    assert toy_matcher.heads["test-multi"].labelled_targets_.tolist() == [[1, 0, 1], [0, 1, 0]]


def test_extra_records_train_but_are_not_references(toy_frameworks: dict[str, Framework]) -> None:
    extra = [Record("x/kultur", "Körsång och konserter i kyrkan.", "x", {"test": ("t-kultur",)})]
    fitted = Matcher.train(toy_frameworks, RECORDS, encoder=FakeEncoder(), extra=extra)
    assert len(fitted.heads["test"].labelled_) == 5
    assert len(fitted.heads["test-multi"].labelled_) == 2
    assert "x/kultur" not in fitted.references.ids


def test_heads_with_extra_texts_take_floor_and_base_rate_from_the_corpus(toy_frameworks: dict[str, Framework]) -> None:
    # one goal per extra text (like TRAIL22), several per corpus project
    extra = [
        Record(f"x/{i}", text, "x", {"test-multi": (goal,)})
        for i, (text, goal) in enumerate([
            ("Fiber och bredband till gården", "t-bredband"), ("Körsång och konserter", "t-kultur"),
            ("Exportrådgivning för företag", "t-foretag"), ("Mobilmaster längs vägen", "t-bredband"),
        ])
    ]
    fitted = Matcher.train(toy_frameworks, RECORDS, encoder=FakeEncoder(), extra=extra)
    plain = Matcher.train(toy_frameworks, RECORDS, encoder=FakeEncoder())
    adjusted = fitted.info["training_data"]["adjusted_for_extra"]
    assert set(adjusted) == {"test-multi"}
    head = fitted.heads["test-multi"]
    assert adjusted["test-multi"]["intercept_shift"] != 0
    # the labelled corpus records' expected label count matches their real one
    E = fitted.references.embeddings[[0, 2]]
    assert head.predict_proba(E).sum() == pytest.approx(3.0, rel=1e-4)
    # the floor comes from the corpus records, not the extra texts
    assert head.min_similarity_ == adjusted["test-multi"]["min_similarity"]
    assert head.min_similarity == "auto" and head.corpus_adjustment_ == adjusted["test-multi"]  # fit keeps params
    assert head.min_similarity_ == pytest.approx(plain.heads["test-multi"].min_similarity_)


def test_train_names_the_record_with_a_bad_label(toy_frameworks: dict[str, Framework]) -> None:
    bad = [Record("p/bad", "En text.", "x", {"test": ("t-nope",)})]
    with pytest.raises(ValueError, match=r"record p/bad: label 't-nope' is not a goal of test"):
        Matcher.train(toy_frameworks, bad, encoder=FakeEncoder())


def test_the_old_name_fit_is_refused_naming_train(toy_frameworks: dict[str, Framework]) -> None:
    with pytest.raises(AttributeError, match=r"Matcher\.fit was renamed Matcher\.train"):
        Matcher.fit(toy_frameworks, RECORDS, encoder=FakeEncoder())
    assert not hasattr(Matcher, "fit")  # a Matcher is no scikit-learn estimator


def test_a_saved_head_with_the_old_parameter_top_k_is_refused_naming_n_nearest(toy_matcher: Matcher,
                                                                                tmp_path: Path) -> None:
    from goalmatch.errors import ModelError

    folder = toy_matcher.save(tmp_path / "m")
    rel = "heads/test.json"
    head = json.loads((folder / rel).read_text(encoding="utf-8"))
    head["params"]["top_k"] = head["params"].pop("n_nearest")  # as saved before the rename
    (folder / rel).write_text(json.dumps(head), encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data = (folder / rel).read_bytes()
    manifest["files"][rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match=r"heads/test\.json: the head lacks the parameter\(s\) n_nearest"):
        goalmatch.load(folder)


# ------------------------------------------------------------------ suggest


def test_suggest_ranks_goals_with_evidence(toy_matcher: Matcher) -> None:
    result = toy_matcher.suggest(BREDBAND)
    test = result["test"]
    probabilities = [s.probability for s in test.suggestions]
    assert probabilities == sorted(probabilities, reverse=True)
    top = test.suggestions[0]
    assert top.goal_id == "t-bredband" and top.confident and not test.abstained
    assert top.name == "Bredband och digital infrastruktur"
    assert top.evidence.sentences and top.evidence.passage is not None
    assert top.evidence.passage.goal_id == "t-bredband"
    assert top.evidence.passage.kind in {"name", "description", "example"}
    assert [p.id for p in top.evidence.projects] == ["p/fiber", "p/mobil"]  # labelled t-bredband, nearest first
    assert {"fiber", "bredband"} <= set(top.evidence.key_terms)
    assert result.flags["language"] == "sv" and result.flags["too_short"] is False
    assert len(result.similar_projects) == 3


def test_suggest_respects_top_k_and_frameworks(toy_matcher: Matcher) -> None:
    result = toy_matcher.suggest(BREDBAND, top_k=1, frameworks=["test-multi"])
    assert [r.framework_id for r in result.frameworks] == ["test-multi"]
    assert len(result["test-multi"].suggestions) == 1
    with pytest.raises(KeyError, match="no suggestions for framework 'test'"):
        result["test"]
    with pytest.raises(ValueError, match="unknown framework"):
        toy_matcher.suggest(BREDBAND, frameworks=["nope"])
    with pytest.raises(ValueError, match="top_k"):
        toy_matcher.suggest(BREDBAND, top_k=0)


def test_framework_ids_are_checked_in_one_place(toy_matcher: Matcher) -> None:
    assert toy_matcher.framework_ids() == list(toy_matcher.heads)
    assert toy_matcher.framework_ids("test") == toy_matcher.framework_ids(["test"]) == ["test"]
    with pytest.raises(ValueError, match=r"unknown framework\(s\) nope; this model has: "):
        toy_matcher.framework_ids(["test", "nope"])
    with pytest.raises(ValueError, match="unknown framework"):
        toy_matcher.predict_proba([BREDBAND], "nope")


def test_with_encoder_gives_the_same_answers_through_another_encoder(toy_matcher: Matcher) -> None:
    encoder = CountingEncoder()
    twin = toy_matcher.with_encoder(encoder)
    assert twin.encoder is encoder and twin.heads == toy_matcher.heads and twin.references is toy_matcher.references
    assert twin.suggest(BREDBAND).to_dict() == toy_matcher.suggest(BREDBAND).to_dict()
    assert len(encoder.calls) == 1


@pytest.mark.parametrize("text", [BREDBAND, "  \n" + BREDBAND.replace(" ", "\u00a0", 3), PDF_BROKEN])
def test_evidence_offsets_slice_the_original_text_back_to_the_sentence(toy_matcher: Matcher, text: str) -> None:
    result = toy_matcher.suggest(text)
    seen = 0
    for fw in result.frameworks:
        for suggestion in fw.suggestions:
            for sent in suggestion.evidence.sentences:
                piece = text[sent.start : sent.end]
                assert prepare(piece).text == sent.text
                seen += 1
    assert seen


def test_pdf_broken_input_is_repaired_and_flagged(toy_matcher: Matcher) -> None:
    result = toy_matcher.suggest(PDF_BROKEN)
    assert result.flags["repaired"] is True
    sentences = {s.text for fw in result.frameworks for sug in fw.suggestions for s in sug.evidence.sentences}
    assert any("kompetensförsörjningen i länet" in s for s in sentences)
    assert result["test"].suggestions[0].goal_id == "t-bredband"


def test_gibberish_abstains_with_a_reason(toy_matcher: Matcher) -> None:
    result = toy_matcher.suggest(GIBBERISH)
    for fw in result.frameworks:
        assert fw.abstained and not fw.confident
        assert "less related to this strategy" in (fw.reason or "")
        assert fw.support < fw.min_similarity


def test_empty_text_is_refused_and_a_short_one_flagged(toy_matcher: Matcher) -> None:
    for empty in ("", "   \n\t "):
        with pytest.raises(ValueError, match="the text is empty"):
            toy_matcher.suggest(empty)
    short = toy_matcher.suggest("Fiber till byn")
    assert short.flags["too_short"] is True
    assert short["test"].suggestions[0].goal_id == "t-bredband"  # ranked, but not trusted
    assert short["test"].abstained and "too short" in (short["test"].reason or "")


def test_multi_label_sub_goal_passages_are_targets(toy_matcher: Matcher) -> None:
    result = toy_matcher.suggest("Rådgivning, coachning och affärsstöd till nystartade företag i byarna.")
    top = result["test-multi"].suggestions[0]
    assert top.goal_id == "t-foretag"
    assert top.evidence.passage is not None
    assert (top.evidence.passage.kind, top.evidence.passage.goal_id) == ("target", "t-foretag.1")


def test_to_dict_is_strict_json(toy_matcher: Matcher) -> None:
    data = toy_matcher.suggest(BREDBAND).to_dict()
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    assert json.loads(text)["frameworks"][0]["suggestions"][0]["evidence"]["sentences"]
    assert isinstance(toy_matcher.suggest(BREDBAND), Suggestions)


def test_suggest_encodes_text_and_sentences_in_one_call(toy_frameworks: dict[str, Framework]) -> None:
    encoder = CountingEncoder()
    fitted = Matcher.train(toy_frameworks, RECORDS, encoder=encoder)
    encoder.calls.clear()
    fitted.suggest(BREDBAND)
    assert len(encoder.calls) == 1
    assert BREDBAND.split("\n")[0] in encoder.calls[0]  # the title line is a sentence of its own


# ------------------------------------------------------------------ long texts and batches


def test_long_text_is_pooled_over_passages_within_the_window(toy_frameworks: dict[str, Framework]) -> None:
    encoder = CountingEncoder()
    fitted = Matcher.train(toy_frameworks, RECORDS, encoder=encoder)
    encoder.calls.clear()
    long_text = " ".join([BREDBAND] * 60)  # about 1,500 words
    assert encoder.count_tokens(long_text) > 512
    result = fitted.suggest(long_text)
    assert result["test"].suggestions[0].goal_id == "t-bredband"
    assert len(encoder.calls) == 1
    assert max(encoder.count_tokens(t) for t in encoder.calls[0]) <= 512
    encoder.calls.clear()
    proba = fitted.predict_proba([long_text], framework="test")
    assert proba.shape == (1, 3) and len(encoder.calls) == 1
    assert max(encoder.count_tokens(t) for t in encoder.calls[0]) <= 512


def test_suggest_many_equals_suggest_one_by_one_with_one_encoder_call(toy_frameworks: dict[str, Framework]) -> None:
    encoder = CountingEncoder()
    fitted = Matcher.train(toy_frameworks, RECORDS, encoder=encoder)
    texts = [BREDBAND, PDF_BROKEN, GIBBERISH, "Fiber.", " ".join([BREDBAND] * 60),
             "Teater och musik för unga. Nya företag inom kultur."]
    encoder.calls.clear()
    many = fitted.suggest_many(texts, top_k=2)
    assert len(encoder.calls) == 1
    one = [fitted.suggest(t, top_k=2) for t in texts]
    assert [r.to_dict() for r in many] == [r.to_dict() for r in one]
    assert [r.framework_id for r in fitted.suggest_many(texts[:2], frameworks=["test-multi"])[0].frameworks] == [
        "test-multi"]
    assert fitted.suggest_many([]) == []


def test_suggest_many_without_sentences_encodes_less_and_decides_the_same(toy_frameworks: dict[str, Framework]) -> None:
    encoder = CountingEncoder()
    fitted = Matcher.train(toy_frameworks, RECORDS, encoder=encoder)
    texts = [BREDBAND, "Teater och musik för unga. Nya företag inom kultur.", GIBBERISH]
    encoder.calls.clear()
    full = fitted.suggest_many(texts)
    lean = fitted.suggest_many(texts, sentences=False)
    assert len(encoder.calls[1]) == len(texts) < len(encoder.calls[0])
    for a, b in zip(full, lean, strict=True):
        for fa, fb in zip(a.frameworks, b.frameworks, strict=True):
            assert (fa.abstained, fa.reason) == (fb.abstained, fb.reason)
            ranked = [[(s.goal_id, s.confident) for s in f.suggestions] for f in (fa, fb)]
            assert ranked[0] == ranked[1]
            assert [s.probability for s in fa.suggestions] == pytest.approx([s.probability for s in fb.suggestions])
            assert all(s.evidence.sentences == () and s.evidence.passage is not None for s in fb.suggestions)
            assert [s.evidence.projects for s in fa.suggestions] == [s.evidence.projects for s in fb.suggestions]


def test_late_sentences_come_from_the_encoders_spans_and_decide_the_same(toy_frameworks: dict[str, Framework]) -> None:
    class Spanning(CountingEncoder):
        def encode_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> object:
            self.span_calls.append(len(texts))
            return FakeEncoder().encode_spans(texts, spans)

    encoder = Spanning()
    encoder.span_calls = []
    fitted = Matcher.train(toy_frameworks, RECORDS, encoder=encoder)
    texts = [BREDBAND, "Teater och musik för unga. Nya företag inom kultur."]
    separate = fitted.suggest_many(texts)
    assert encoder.span_calls == []  # the default encodes each sentence on its own
    late = fitted.suggest_many(texts, sentences="late")
    assert encoder.span_calls == [len(texts)]
    assert [a.to_dict() for a in separate] == [b.to_dict() for b in late]  # the fake's spans are encoded apart
    with pytest.raises(ValueError, match="sentences must be True, False or 'late'"):
        fitted.suggest_many(texts, sentences="early")


def test_suggest_many_names_the_bad_text(toy_matcher: Matcher) -> None:
    with pytest.raises(ValueError, match=r"texts\[1\]: the text is empty"):
        toy_matcher.suggest_many([BREDBAND, "  "])
    with pytest.raises(TypeError, match="wrap it in a list"):
        toy_matcher.suggest_many(BREDBAND)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_k"):
        toy_matcher.suggest_many([BREDBAND], top_k=0)
    with pytest.raises(ValueError, match="unknown framework"):
        toy_matcher.suggest_many([BREDBAND], frameworks=["nope"])


def test_predict_proba_batches_and_matches_one_at_a_time(toy_matcher: Matcher) -> None:
    texts = [BREDBAND, "Teater och musik för barn.", PDF_BROKEN]
    batch = toy_matcher.predict_proba(texts, framework="test")
    assert batch.shape == (3, 3)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0)
    one = np.vstack([toy_matcher.predict_proba([t], framework="test") for t in texts])
    np.testing.assert_allclose(batch, one)
    assert toy_matcher.predict_proba([], framework="test").shape == (0, 3)
    with pytest.raises(ValueError, match="name the framework"):
        toy_matcher.predict_proba(texts)
    with pytest.raises(ValueError, match=r"texts\[1\]: the text is empty"):
        toy_matcher.predict_proba(["Fiber", " "], framework="test")
    with pytest.raises(TypeError, match="wrap it in a list"):
        toy_matcher.predict_proba(BREDBAND, framework="test")  # type: ignore[arg-type]


# ------------------------------------------------------------------ the shipped model (slow)

BROADBAND_APPLICATION = (Path(__file__).resolve().parents[2] / "examples" / "ansokan-bredband.txt")


@pytest.fixture(scope="session")
def shipped() -> Matcher:
    """The shipped default model with the real encoder, loaded once per test session."""
    return goalmatch.load()


@pytest.mark.slow
def test_shipped_model_puts_broadband_and_rural_service_under_transport(shipped: Matcher) -> None:
    # RUS files digital infrastructure (bredband, mobiltäckning) under "Tillgänglighet"
    # (rus-transporter); rural service and wanting to live in the villages is rus-livsmiljoer.
    # The application is mostly about fibre and mobile coverage, so rus-transporter leads
    # and rus-livsmiljoer follows.
    result = shipped.suggest(BROADBAND_APPLICATION.read_text(encoding="utf-8"))
    rus = result["rus-norrbotten-2030"]
    assert [s.goal_id for s in rus.suggestions[:2]] == ["rus-transporter", "rus-livsmiljoer"]
    assert rus.suggestions[0].confident
    assert rus.suggestions[0].evidence.sentences[0].text.startswith("Syftet med projektet är att bygga ut fiber")
    agenda = result["agenda-2030"]
    assert "sdg-9" in [s.goal_id for s in agenda.suggestions]


@pytest.mark.slow
def test_shipped_model_abstains_on_off_topic_text(shipped: Matcher) -> None:
    result = shipped.suggest("asdf qwerty zxcv blorf gnarp plonk vimp trask")
    assert all(fw.abstained for fw in result.frameworks)
