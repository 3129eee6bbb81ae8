"""Tests of goalmatch.model.floor: the support floor below which a head calls a text off-topic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model import floor as _floor
from goalmatch.model.classifier import GoalClassifier
from tests.model.test_classifier import FW, GIBBERISH, OBVIOUS


class _Named:
    """FakeEncoder's vectors under another encoder's id (so the prior of that id applies)."""

    def __init__(self, name: str) -> None:
        self.inner, self.id = FakeEncoder(), name

    def encode(self, texts: Any) -> np.ndarray:
        return np.asarray(self.inner.encode(texts))


class _Cache:
    """An embedding cache: no id of its own, the wrapped encoder's."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder


def test_a_zero_shot_head_takes_its_encoders_prior_floor() -> None:
    e5 = GoalClassifier(FW, _Named("multilingual-e5-small")).fit()
    assert e5.min_similarity_ == _floor.PRIOR_FLOORS["multilingual-e5-small"]
    # the ONNX builds of the same encoder share its cosine scale
    assert _floor.prior_floor(_Named("multilingual-e5-small-onnx-int8")) == e5.min_similarity_
    # an encoder without a measured prior has no floor zero-shot (FakeEncoder's scale is not e5's)
    assert GoalClassifier(FW, FakeEncoder()).fit().min_similarity_ == -np.inf
    assert _floor.prior_floor(_Named("some-other-model")) == -np.inf
    assert _floor.prior_floor(object()) == -np.inf
    # an explicit floor or None still wins
    assert GoalClassifier(FW, _Named("multilingual-e5-small"), min_similarity=None).fit().min_similarity_ == -np.inf
    assert GoalClassifier(FW, _Named("multilingual-e5-small"), min_similarity=0.3).fit().min_similarity_ == 0.3


def test_the_encoder_id_is_read_through_a_cache() -> None:
    assert _floor.encoder_id(_Cache(_Named("multilingual-e5-small"))) == "multilingual-e5-small"
    assert _floor.encoder_id(FakeEncoder(dim=8)) == "fake-8"
    assert _floor.encoder_id(object()) is None


def test_with_project_texts_the_floor_is_a_low_quantile_of_their_support() -> None:
    texts = [*OBVIOUS.values(), GIBBERISH]  # one odd "project" among them
    clf = GoalClassifier(FW, _Named("multilingual-e5-small")).fit(texts, [None] * len(texts))
    support = clf._scores(clf.embed(texts))[1]
    assert clf.min_similarity_ == pytest.approx(np.quantile(support, _floor.FLOOR_QUANTILE))
    # above the odd one's support (the minimum would have let everything like it through), below the rest
    assert support.min() < clf.min_similarity_ < np.sort(support)[1]
    assert clf.predict([GIBBERISH])[0] is None


def test_support_floor_ignores_missing_support() -> None:
    assert _floor.support_floor(np.array([-np.inf, 0.5, 0.7]), FakeEncoder()) == pytest.approx(
        float(np.quantile([0.5, 0.7], _floor.FLOOR_QUANTILE)))
    assert _floor.support_floor(np.array([-np.inf]), _Named("multilingual-e5-small")) == 0.846
