"""GoalClassifier's similarity weights and the correction that weighs the projects
(goalmatch.model.similarity, goalmatch.model.features.fit_residual): synthetic, offline, fast."""

from __future__ import annotations

import numpy as np

from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model import features as _features
from goalmatch.model.classifier import GoalClassifier
from tests.model.test_classifier import FW, MULTI, OBVIOUS, SNOW, SNOW_QUERY

# Project texts that say little about any goal, one per goal: what a handful of real projects
# often looks like next to a framework's own words.
GENERIC = ["Ett projekt i kommunen för invånarna", "Samverkan mellan aktörer i regionen",
           "Utveckling av verksamheten under tre år"]


class _Joint(GoalClassifier):
    similarity_fit = "joint"  # the similarity weights refitted with the projects (the fit before issue 13)


def test_a_few_projects_leave_the_zero_shot_similarity_weights_as_they_are() -> None:
    zero = GoalClassifier(FW, FakeEncoder()).fit()
    fitted = GoalClassifier(FW, FakeEncoder()).fit(GENERIC, list(FW.goal_ids))
    np.testing.assert_allclose(fitted.coef_[0], zero.coef_[0])
    assert fitted.temperature_ == 1.0
    # the joint refit learns from three vague projects that strategy similarity means little:
    # the mechanism of the dip under zero-shot on dk-2007 (docs/evaluation.md)
    joint = _Joint(FW, FakeEncoder()).fit(GENERIC, list(FW.goal_ids))
    assert joint.coef_[0] < 0.5 * zero.coef_[0]
    query = list(OBVIOUS.values())
    assert fitted.predict(query).tolist() == list(OBVIOUS)
    assert (fitted.predict_proba(query).max(axis=1) > joint.predict_proba(query).max(axis=1)).all()


def test_the_projects_weight_comes_from_the_correction() -> None:
    texts = [*SNOW, OBVIOUS["t-bredband"], OBVIOUS["t-kultur"]]
    labels = ["t-foretag", "t-foretag", "t-foretag", "t-bredband", "t-kultur"]
    clf = GoalClassifier(FW, FakeEncoder(), abstain_threshold=0.0).fit(texts, labels)
    assert clf.coef_[1] > 0
    assert clf.predict([SNOW_QUERY])[0] == "t-foretag"
    # the fitted weights are the whole model: scores are a * (F @ coef_) + correction
    E = clf.embed([SNOW_QUERY])
    F, _ = _features.pair_features(E, clf.prototypes_, clf.prototype_goal_, clf.labelled_, clf.labelled_targets_,
                                   clf.n_nearest)
    Z = clf.prior_weight_ * (F @ clf.coef_) + clf._standardise(E) @ clf.correction_coef_ + clf.correction_intercept_
    np.testing.assert_allclose(clf.decision_function([SNOW_QUERY]), Z)


def test_multi_label_keeps_the_joint_fit() -> None:
    texts = [*SNOW, OBVIOUS["t-kultur"]]
    labels = [["t-foretag"], ["t-foretag", "t-kultur"], ["t-foretag"], ["t-kultur"]]
    a = GoalClassifier(MULTI, FakeEncoder()).fit(texts, labels)
    b = _Joint(MULTI, FakeEncoder()).fit(texts, labels)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.predict_proba([SNOW_QUERY]), b.predict_proba([SNOW_QUERY]))


def test_fit_residual_weighs_the_extra_feature_and_never_against_a_goal() -> None:
    rng = np.random.default_rng(0)
    n, d, k = 60, 4, 3
    y = np.arange(n) % k
    Y = np.eye(k)[y]
    A = rng.normal(size=(n, d))
    offset = np.zeros((n, k))
    W0, _, _, u0 = _features.fit_residual(A, offset, Y, 0.01, 1.0, multi_label=False)
    assert u0 == 0.0
    W1, _, _, u1 = _features.fit_residual(A, offset, Y, 0.01, 1.0, multi_label=False, extra=np.zeros((n, k)))
    np.testing.assert_allclose(W1, W0)
    assert u1 == 0.0
    helpful = Y - Y.mean(axis=1, keepdims=True)
    _, _, _, u_strong = _features.fit_residual(A, offset, Y, 0.01, 1.0, multi_label=False, extra=helpful,
                                               extra_prior=1.0)
    _, _, _, u_weak = _features.fit_residual(A, offset, Y, 0.01, 1.0, multi_label=False, extra=helpful,
                                             extra_prior=100.0)
    assert u_strong > u_weak > 0  # the prior shrinks it
    _, _, _, u_against = _features.fit_residual(A, offset, Y, 0.01, 1.0, multi_label=False, extra=-helpful,
                                                extra_prior=1.0)
    assert u_against == 0.0


class _Strategy(GoalClassifier):
    similarity_fit = "strategy"


def _snow_projects(per_goal: int) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i in range(per_goal):
        for goal, text in OBVIOUS.items():
            texts.append(f"{text}, etapp {i + 1} av projektet i kommun {i}")
            labels.append(goal)
        texts[-1 - i % 3] = f"{SNOW[i % 3]} etapp {i}"  # some projects the strategy texts do not describe
    return texts, labels


def test_select_keeps_the_zero_shot_weights_with_few_projects_per_goal() -> None:
    texts, labels = _snow_projects(2)  # under SELECT_MIN_PER_GOAL per goal: nothing to cross-validate
    a = GoalClassifier(FW, FakeEncoder()).fit(texts, labels)
    b = _Strategy(FW, FakeEncoder()).fit(texts, labels)
    np.testing.assert_array_equal(a.predict_proba([SNOW_QUERY]), b.predict_proba([SNOW_QUERY]))
    assert a._fit_choice == "strategy"


def test_select_takes_the_fit_with_the_lower_cross_validated_loss() -> None:
    from goalmatch.model import similarity

    texts, labels = _snow_projects(similarity.SELECT_MIN_PER_GOAL)
    chosen = GoalClassifier(FW, FakeEncoder()).fit(texts, labels)
    assert chosen._fit_choice in ("strategy", "joint")
    same = (_Strategy if chosen._fit_choice == "strategy" else _Joint)(FW, FakeEncoder()).fit(texts, labels)
    np.testing.assert_array_equal(chosen.predict_proba([SNOW_QUERY]), same.predict_proba([SNOW_QUERY]))
    E = chosen.labelled_
    primary = chosen.labelled_targets_.argmax(axis=1)
    again = similarity.choose_fit(chosen.prototypes_, chosen.prototype_goal_, E, chosen._standardise(E),
                                  chosen.labelled_targets_, primary, n_nearest=3, C=0.01, prior=1.0,
                                  project_weight=1.0, alpha=1e-4, min_strategy_weight=50.0, temperature_prior=1.0)
    assert again == chosen._fit_choice  # deterministic
