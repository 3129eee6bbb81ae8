"""Tests of goalmatch.model.classifier.GoalClassifier: a synthetic framework and FakeEncoder, offline, fast."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from goalmatch.data.frameworks import Framework
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model import features as _features
from goalmatch.model.classifier import GoalClassifier, goal_texts
from tests.toys import GOALS as TOY_GOALS

# The toy of tests/toys.py as bare Framework objects (no files, no Matcher), with a target of
# its own description under t-foretag, which test_goal_texts_include_descendants_once reads back.
GOALS: list[dict[str, Any]] = [
    *TOY_GOALS[:2],
    {**TOY_GOALS[2], "children": [
        {"id": "t-foretag.1", "name": "Företagsstöd", "description": "Rådgivning och stöd till företag."},
    ]},
]


def _framework(multi_label: bool = False) -> Framework:
    return Framework.from_dict({
        "id": "test-multi" if multi_label else "test", "name": "Test", "language": "sv",
        "multi_label": multi_label, "source": {"document": "synthetic"}, "goals": GOALS,
    })


FW = _framework()
MULTI = _framework(multi_label=True)
OBVIOUS = {
    "t-bredband": "Projektet bygger fiber och bredband till byarna för snabb uppkoppling",
    "t-kultur": "En musikfestival med teater och konst för barn och unga",
    "t-foretag": "Stöd till nya företag, entreprenörskap och export",
}
GIBBERISH = "qxzv plrk wmbt zzyq"
# Texts the framework does not speak of; the labelled ones say where they belong.
SNOW = [
    "Snöskoterleder och skoteruthyrning för turister i fjällen",
    "Skoterturer och snöskotersafari i fjällvärlden",
    "Hundspann och skotersafari för besökare",
]
SNOW_QUERY = "Snöskoteruthyrning och nya skoterleder i fjällen"


def _fit(**params: Any) -> GoalClassifier:
    return GoalClassifier(FW, FakeEncoder(), **params).fit([], [])


# --------------------------------------------------------------------- zero-shot


def test_zero_shot_assigns_obvious_texts_to_their_goal() -> None:
    clf = _fit()
    assert list(clf.classes_) == list(FW.goal_ids)
    assert clf.predict(list(OBVIOUS.values())).tolist() == list(OBVIOUS)


def test_fit_without_arguments_is_the_zero_shot_classifier() -> None:
    a = GoalClassifier(FW, FakeEncoder()).fit()
    np.testing.assert_array_equal(a.predict_proba(list(OBVIOUS.values())), _fit().predict_proba(list(OBVIOUS.values())))


def test_single_label_probabilities_are_rows_summing_to_one_in_classes_order() -> None:
    clf = _fit()
    P = clf.predict_proba([*OBVIOUS.values(), GIBBERISH])
    assert P.shape == (4, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert (P >= 0).all()
    for i, goal in enumerate(OBVIOUS):
        assert clf.classes_[P[i].argmax()] == goal


def test_calibration_is_fitted_not_a_no_op() -> None:
    clf = _fit()
    # raw centred cosines are a few hundredths apart; the fitted scale makes them probabilities
    assert clf.coef_[0] > 3
    assert clf.predict_proba([OBVIOUS["t-kultur"]]).max() > 0.6
    # a strong penalty pulls the scale, and the probabilities, towards uniform (down to the floor)
    clf = _fit(min_strategy_weight=0.0)
    heavier = _fit(alpha=10.0, min_strategy_weight=0.0)
    assert heavier.coef_[0] < clf.coef_[0]
    assert heavier.predict_proba([OBVIOUS["t-kultur"]]).max() < clf.predict_proba([OBVIOUS["t-kultur"]]).max()


def test_goal_texts_include_descendants_once() -> None:
    texts, index, kinds = goal_texts(FW)
    assert "Rådgivning och stöd till företag." in texts
    assert index[texts.index("Rådgivning och stöd till företag.")] == 2
    assert len(texts) == len(set(zip(texts, index.tolist(), strict=True)))
    assert set(kinds) == {"name", "alias", "description", "example"}


# ---------------------------------------------------------------- labelled data


def test_labelled_projects_change_predictions() -> None:
    zero = _fit(abstain_threshold=0.0)
    fitted = GoalClassifier(FW, FakeEncoder(), abstain_threshold=0.0).fit(
        [*SNOW, OBVIOUS["t-bredband"], OBVIOUS["t-kultur"]],
        ["t-foretag", "t-foretag", "t-foretag", "t-bredband", "t-kultur"],
    )
    before = zero.predict_proba([SNOW_QUERY])[0]
    after = fitted.predict_proba([SNOW_QUERY])[0]
    foretag = list(FW.goal_ids).index("t-foretag")
    assert before.argmax() != foretag
    assert after[foretag] > before[foretag] + 0.3
    assert fitted.predict([SNOW_QUERY])[0] == "t-foretag"
    assert fitted.coef_[1] > 0  # the labelled-projects evidence got weight
    # what the strategy says plainly still wins
    assert fitted.predict([OBVIOUS["t-kultur"]])[0] == "t-kultur"


class _Joint(GoalClassifier):
    similarity_fit = "joint"  # the similarity weights refitted with the projects (the fit before issue 13)


def test_temperature_is_refitted_on_the_projects_and_shrunk_by_its_prior() -> None:
    # only the joint fit refits the temperature; the default keeps the zero-shot weights (test_classifier_similarity)
    texts = [*OBVIOUS.values(), *SNOW]
    labels = [*OBVIOUS, "t-foretag", "t-foretag", "t-foretag"]
    joint = _Joint(FW, FakeEncoder(), temperature_prior=None).fit(texts, labels)
    refit = _Joint(FW, FakeEncoder()).fit(texts, labels)
    loose = _Joint(FW, FakeEncoder(), temperature_prior=0.0).fit(texts, labels)
    assert joint.temperature_ == 1.0
    assert refit.temperature_ != 1.0
    # the prior pulls the temperature towards the joint fit's (log T towards 0), never past it
    assert 0 < np.log(refit.temperature_) / np.log(loose.temperature_) < 1
    np.testing.assert_allclose(refit.coef_, joint.coef_ / refit.temperature_)
    query = [OBVIOUS["t-kultur"], SNOW_QUERY, OBVIOUS["t-bredband"]]
    np.testing.assert_array_equal(refit.predict_proba(query).argmax(1), joint.predict_proba(query).argmax(1))
    sharper = refit.temperature_ < 1
    assert ((refit.predict_proba(query).max(1) > joint.predict_proba(query).max(1)) == sharper).all()
    assert _fit().temperature_ == 1.0  # zero-shot: no projects, nothing to refit
    with pytest.raises(ValueError, match="temperature_prior must be a number >= 0 or None"):
        GoalClassifier(FW, FakeEncoder(), temperature_prior=-1).fit()


def test_single_label_list_uses_its_first_id_as_primary() -> None:
    texts = [*SNOW, OBVIOUS["t-kultur"]]
    a = GoalClassifier(FW, FakeEncoder()).fit(texts, ["t-foretag", "t-foretag", "t-foretag", "t-kultur"])
    b = GoalClassifier(FW, FakeEncoder()).fit(
        texts, [["t-foretag", "t-kultur"], ("t-foretag",), ["t-foretag", "t-bredband"], ["t-kultur"]]
    )
    np.testing.assert_array_equal(a.predict_proba([SNOW_QUERY]), b.predict_proba([SNOW_QUERY]))


def test_imbalanced_labels_do_not_swamp_the_strategy() -> None:
    many = [f"{text} och företag nummer {i}" for i, text in enumerate(SNOW * 3)]
    clf = GoalClassifier(FW, FakeEncoder()).fit(many, ["t-foretag"] * len(many))
    assert clf.predict([OBVIOUS["t-bredband"], OBVIOUS["t-kultur"]]).tolist() == ["t-bredband", "t-kultur"]


def test_precomputed_embeddings_give_the_same_result_as_texts() -> None:
    enc = FakeEncoder()
    texts = [*SNOW, OBVIOUS["t-kultur"]]
    y = ["t-foretag", "t-foretag", "t-foretag", "t-kultur"]
    from_texts = GoalClassifier(FW, enc).fit(texts, y)
    from_vectors = GoalClassifier(FW, enc).fit(enc.encode(texts), y)
    queries = [SNOW_QUERY, *OBVIOUS.values()]
    np.testing.assert_allclose(from_texts.predict_proba(queries), from_vectors.predict_proba(enc.encode(queries)))
    assert from_texts.n_features_in_ == enc.dim
    with pytest.raises(ValueError, match="X has 5 features, but GoalClassifier is expecting 64"):
        from_vectors.predict_proba(np.ones((2, 5)))


# -------------------------------------------------------------------- abstention


def test_abstains_on_gibberish_once_it_has_seen_project_texts() -> None:
    clf = GoalClassifier(FW, FakeEncoder()).fit(
        [*OBVIOUS.values(), SNOW[0]], [*OBVIOUS, None]  # None: an unlabelled project text
    )
    assert np.isfinite(clf.min_similarity_)
    pred = clf.predict([GIBBERISH, OBVIOUS["t-kultur"]])
    assert pred[0] is None
    assert pred[1] == "t-kultur"


def test_abstains_below_the_probability_threshold_and_never_when_switched_off() -> None:
    always = _fit(abstain_threshold=1.0)
    assert list(always.predict([OBVIOUS["t-kultur"], GIBBERISH])) == [None, None]
    never = _fit(abstain_threshold=0.0, min_similarity=None)
    assert set(never.predict([OBVIOUS["t-kultur"], GIBBERISH])) <= set(FW.goal_ids)
    # zero-shot there is no project text to set the similarity floor; an explicit one works
    assert _fit().min_similarity_ == -np.inf
    zero = _fit()
    _, support = _features.pair_features(
        zero.embed([GIBBERISH, OBVIOUS["t-kultur"]]), zero.prototypes_, zero.prototype_goal_,
        zero.labelled_, zero.labelled_targets_, zero.n_nearest,
    )
    assert support[0] < support[1]
    explicit = _fit(min_similarity=float(support.mean()))
    assert list(explicit.predict([GIBBERISH, OBVIOUS["t-kultur"]])) == [None, "t-kultur"]


def test_unlabelled_texts_are_not_training_examples() -> None:
    with_unlabelled = GoalClassifier(FW, FakeEncoder(), min_similarity=None).fit(SNOW, [None, None, None])
    np.testing.assert_array_equal(with_unlabelled.predict_proba([SNOW_QUERY]), _fit().predict_proba([SNOW_QUERY]))
    assert len(with_unlabelled.labelled_) == 0


# ------------------------------------------------------------------- multi-label


def test_multi_label_returns_lists_most_probable_first() -> None:
    clf = GoalClassifier(MULTI, FakeEncoder(), threshold=0.2, abstain_threshold=0.0).fit(
        [OBVIOUS["t-bredband"], OBVIOUS["t-kultur"], "Fiber och bredband till kulturhuset, teater och musik"],
        [["t-bredband"], ["t-kultur"], ["t-bredband", "t-kultur"]],
    )
    pred = clf.predict([OBVIOUS["t-foretag"], "Bredband och fiber till kulturhus med teater och musik"])
    assert isinstance(pred, list) and all(isinstance(row, list) for row in pred)
    assert pred[0][0] == "t-foretag"
    assert set(pred[1]) >= {"t-bredband", "t-kultur"}
    P = clf.predict_proba(["Bredband och fiber till kulturhus med teater och musik"])[0]
    assert pred[1] == [clf.classes_[g] for g in np.argsort(-P) if P[g] >= 0.2]


def test_multi_label_thresholds_per_goal_and_abstention() -> None:
    clf = GoalClassifier(MULTI, FakeEncoder(), threshold={"t-kultur": 1.0}).fit([], [])
    assert clf.thresholds_.tolist() == [0.5, 1.0, 0.5]
    assert "t-kultur" not in clf.predict([OBVIOUS["t-kultur"]])[0]
    assert GoalClassifier(MULTI, FakeEncoder(), abstain_threshold=1.0).fit().predict([OBVIOUS["t-kultur"]]) == [[]]
    with pytest.raises(ValueError, match="unknown goal id"):
        GoalClassifier(MULTI, FakeEncoder(), threshold={"t-okand": 0.3}).fit()


def test_multi_label_accepts_an_empty_label_list_single_label_does_not() -> None:
    GoalClassifier(MULTI, FakeEncoder()).fit([SNOW[0], OBVIOUS["t-kultur"]], [[], ["t-kultur"]])
    with pytest.raises(ValueError, match=r"y\[0\]: no goal id"):
        GoalClassifier(FW, FakeEncoder()).fit([SNOW[0]], [[]])


# ---------------------------------------------------------- further texts, precision

FURTHER = ["Fiber to the farm", "Choir and concerts", "Export advice for firms", "Mobile masts along the road"]
FURTHER_Y = [["t-bredband"], ["t-kultur"], ["t-foretag"], ["t-bredband"]]  # one goal each, another language
CORPUS = [OBVIOUS["t-bredband"], "Fiber och bredband till kulturhuset, teater och musik", SNOW[0]]
CORPUS_Y = [["t-bredband"], ["t-bredband", "t-kultur"], None]


def test_further_texts_fit_the_head_which_then_adapts_to_the_corpus_rows() -> None:
    X, y, corpus = [*CORPUS, *FURTHER], [*CORPUS_Y, *FURTHER_Y], [True] * 3 + [False] * 4
    plain = GoalClassifier(MULTI, FakeEncoder()).fit(X, y)
    adapted = GoalClassifier(MULTI, FakeEncoder()).fit(X, y, corpus=corpus)
    change = adapted.corpus_adjustment_
    assert set(change) == {"min_similarity", "intercept_shift"} and plain.corpus_adjustment_ == {}
    np.testing.assert_array_equal(adapted.coef_, plain.coef_)
    np.testing.assert_allclose(adapted.correction_intercept_, plain.correction_intercept_ + change["intercept_shift"])
    # the labelled corpus rows' expected label count is their real one (3)
    assert adapted.predict_proba(CORPUS[:2]).sum() == pytest.approx(3.0, rel=1e-6)
    # the floor comes from the corpus rows alone, so it is no lower than over all rows
    assert adapted.min_similarity_ == change["min_similarity"] >= plain.min_similarity_
    assert adapted.get_params()["min_similarity"] == "auto"  # fit leaves the parameters alone
    explicit = GoalClassifier(MULTI, FakeEncoder(), min_similarity=0.05).fit(X, y, corpus=corpus)
    assert explicit.min_similarity_ == 0.05 and set(explicit.corpus_adjustment_) == {"intercept_shift"}
    only_corpus = GoalClassifier(MULTI, FakeEncoder()).fit(X, y, corpus=[True] * 7)
    assert only_corpus.corpus_adjustment_ == {}
    np.testing.assert_array_equal(only_corpus.predict_proba(CORPUS), plain.predict_proba(CORPUS))
    with pytest.raises(ValueError, match=r"corpus must hold one bool per row of X \(7\)"):
        GoalClassifier(MULTI, FakeEncoder()).fit(X, y, corpus=[True])


def test_float32_embeddings_are_kept_as_a_saved_model_keeps_them() -> None:
    X, y = [*OBVIOUS.values()], list(OBVIOUS)
    wide = GoalClassifier(FW, FakeEncoder()).fit(X, y)
    narrow = GoalClassifier(FW, FakeEncoder(), embedding_dtype="float32").fit(X, y)
    np.testing.assert_array_equal(narrow.coef_, wide.coef_)  # fitted before rounding
    for name in ("prototypes_", "labelled_"):
        got = getattr(narrow, name)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, getattr(wide, name).astype(np.float32))
    with pytest.raises(ValueError, match="embedding_dtype must be"):
        GoalClassifier(FW, FakeEncoder(), embedding_dtype="float16").fit()


# ------------------------------------------------------------- errors and contract


def test_predict_before_fit_raises_not_fitted() -> None:
    clf = GoalClassifier(FW, FakeEncoder())
    for method in (clf.predict, clf.predict_proba, clf.decision_function):
        with pytest.raises(NotFittedError):
            method([OBVIOUS["t-kultur"]])


def test_unknown_goal_id_names_the_label_and_the_row() -> None:
    texts = [*OBVIOUS.values()]
    with pytest.raises(ValueError, match=r"y\[2\]: 't-okand' is not a goal of test; expected one of t-bredband"):
        GoalClassifier(FW, FakeEncoder()).fit(texts, ["t-bredband", "t-kultur", "t-okand"])
    with pytest.raises(ValueError, match=r"y\[1\]: 'Kultur och fritid' .*did you mean 't-kultur'"):
        GoalClassifier(FW, FakeEncoder()).fit(texts, ["t-bredband", "Kultur och fritid", "t-foretag"])
    with pytest.raises(ValueError, match=r"y\[0\]: 't-foretag.1' .*did you mean 't-foretag'"):
        GoalClassifier(MULTI, FakeEncoder()).fit(texts[:1], [["t-foretag.1"]])
    with pytest.raises(ValueError, match="X has 3 rows but y has 2 labels"):
        GoalClassifier(FW, FakeEncoder()).fit(texts, ["t-bredband", "t-kultur"])


def test_parameters_are_checked_in_fit_not_in_init() -> None:
    bad = GoalClassifier(FW, FakeEncoder(), n_nearest=0)  # no error yet
    with pytest.raises(ValueError, match="n_nearest must be a positive integer"):
        bad.fit()
    with pytest.raises(ValueError, match="abstain_threshold"):
        GoalClassifier(FW, FakeEncoder(), abstain_threshold=1.5).fit()
    with pytest.raises(TypeError, match="encode"):
        GoalClassifier(FW, encoder=object()).fit()
    with pytest.raises(ValueError, match="nothing to learn from"):
        GoalClassifier(None, FakeEncoder()).fit([], [])
    with pytest.raises(TypeError, match="single string"):
        _fit().predict(OBVIOUS["t-kultur"])


def test_deterministic_and_independent_of_row_order() -> None:
    texts = [*SNOW, *OBVIOUS.values()]
    y = ["t-foretag"] * 3 + list(OBVIOUS)
    a = GoalClassifier(FW, FakeEncoder()).fit(texts, y)
    b = GoalClassifier(FW, FakeEncoder()).fit(texts, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    order = [4, 0, 5, 2, 1, 3]
    c = GoalClassifier(FW, FakeEncoder()).fit([texts[i] for i in order], [y[i] for i in order])
    queries = [SNOW_QUERY, GIBBERISH, *OBVIOUS.values()]
    np.testing.assert_array_equal(a.predict_proba(queries), b.predict_proba(queries))
    np.testing.assert_allclose(a.predict_proba(queries), c.predict_proba(queries), atol=1e-6)


def test_clone_get_params_set_params_and_pickle() -> None:
    clf = GoalClassifier(FW, FakeEncoder(dim=32), n_nearest=2, abstain_threshold=0.3)
    params = clf.get_params()
    assert params["framework"] is FW and params["n_nearest"] == 2 and params["encoder__dim"] == 32
    twin = clone(clf)
    assert twin is not clf and twin.get_params()["n_nearest"] == 2 and twin.encoder is not clf.encoder
    assert not hasattr(twin, "classes_")
    twin.set_params(n_nearest=1, encoder__dim=16).fit()
    assert twin.n_features_in_ == 16 and clf.encoder.dim == 32
    fitted = clf.fit([], [])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba([SNOW_QUERY]), fitted.predict_proba([SNOW_QUERY]))


def test_the_old_name_top_k_is_refused_naming_n_nearest() -> None:
    with pytest.raises(TypeError, match="top_k"):
        GoalClassifier(FW, FakeEncoder(), top_k=2)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="top_k was renamed n_nearest"):
        GoalClassifier(FW, FakeEncoder()).set_params(top_k=2)
    with pytest.raises(ValueError, match="top_k was renamed n_nearest"):
        make_pipeline(GoalClassifier(FW, FakeEncoder())).set_params(goalclassifier__top_k=2)


def test_framework_by_shipped_id() -> None:
    clf = GoalClassifier("rus-norrbotten-2030", FakeEncoder()).fit()
    assert clf.classes_[0] == "rus-livsmiljoer" and clf.framework_.id == "rus-norrbotten-2030"
    with pytest.raises(ValueError, match="not shipped"):
        GoalClassifier("no-such-framework", FakeEncoder()).fit()


def test_without_a_framework_it_is_a_plain_classifier_over_the_labels() -> None:
    enc = FakeEncoder()
    X = enc.encode([*OBVIOUS.values(), *SNOW])
    clf = GoalClassifier(None, enc).fit(X, ["a", "b", "c", "d", "d", "d"])
    assert list(clf.classes_) == ["a", "b", "c", "d"]
    assert clf.predict(enc.encode([SNOW_QUERY]))[0] == "d"
