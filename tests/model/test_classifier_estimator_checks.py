"""scikit-learn's estimator checks on GoalClassifier (FakeEncoder, no network, a few seconds).

Two configurations:

* **labels only** (``framework=None``): a plain classifier over whatever labels ``fit``
  gets, on 2-D float input taken as precomputed embeddings. Every check applies and
  passes (two are skipped by scikit-learn itself: pandas and array-API input, neither
  installed/enabled here).
* **with a framework**: the real use. The classes are the framework's goal ids, fixed
  before ``fit`` sees any label, so the checks that fit on scikit-learn's synthetic data
  cannot apply; they are listed in ``FRAMEWORK_CANNOT_APPLY`` with the reason, and run
  as strict expected failures (a check that starts passing fails the suite, so the list
  stays true). What they would test is covered for this configuration in
  ``tests/model/test_classifier.py`` on texts and goal ids.

Both configurations use ``abstain_threshold=0.0``: an abstention is ``None``, which is not
one of scikit-learn's labels, and the checks compare predictions with labels.
"""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from goalmatch.data.frameworks import Framework
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model.classifier import GoalClassifier


class _ShortRepr(Framework):
    """The same framework, with a short repr: the check ids print the estimator's parameters."""

    def __repr__(self) -> str:
        return f"Framework({self.id!r})"


_FRAMEWORK = Framework.from_dict({
    "id": "checks", "name": "Checks", "language": "sv", "multi_label": False,
    "source": {"document": "synthetic"},
    "goals": [
        {"id": "checks-bredband", "name": "Bredband", "description": "Bredband och fiber till byarna."},
        {"id": "checks-kultur", "name": "Kultur", "description": "Musik och teater för unga."},
    ],
})
FRAMEWORK = _ShortRepr(**{f: getattr(_FRAMEWORK, f) for f in _FRAMEWORK.__dataclass_fields__})

_WIDTH_AND_LABELS = (
    "fits on scikit-learn's synthetic data: its X has 1-10 columns, but 2-D float input is taken as "
    "embeddings and must have the encoder's width (8 here), so fit refuses it ('X has 3 features, but "
    "GoalClassifier is expecting 8'); its labels 0, 1, 2 (or floats) would be refused next, as they are "
    "not goal ids of the framework"
)
FRAMEWORK_CANNOT_APPLY: dict[str, str] = {
    **dict.fromkeys(
        [
            "check_classifier_data_not_an_array",
            "check_classifiers_classes",
            "check_classifiers_one_label",
            "check_classifiers_regression_target",
            "check_classifiers_train",
            "check_decision_proba_consistency",
            "check_dict_unchanged",
            "check_dont_overwrite_parameters",
            "check_dtype_object",
            "check_estimators_dtypes",
            "check_estimators_fit_returns_self",
            "check_estimators_nan_inf",
            "check_estimators_overwrite_params",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_fit2d_1feature",
            "check_fit2d_1sample",
            "check_fit2d_predict1d",
            "check_fit_check_is_fitted",
            "check_fit_idempotent",
            "check_fit_score_takes_y",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_n_features_in",
            "check_n_features_in_after_fitting",
            "check_pipeline_consistency",
            "check_positive_only_tag_during_fit",
            "check_readonly_memmap_input",
            "check_requires_y_none",
            "check_supervised_y_2d",
        ],
        _WIDTH_AND_LABELS,
    ),
    "check_estimators_empty_data_messages": (
        "expects fit on an empty X to raise; with a framework an empty X is the zero-shot fit, "
        "fit([], []), which learns from the framework's texts alone"
    ),
}


def _expected_failures(estimator: Any) -> dict[str, str]:
    return FRAMEWORK_CANNOT_APPLY if estimator.framework is not None else {}


@parametrize_with_checks(
    [
        GoalClassifier(None, FakeEncoder(), abstain_threshold=0.0),
        GoalClassifier(FRAMEWORK, FakeEncoder(dim=8), abstain_threshold=0.0),
    ],
    expected_failed_checks=_expected_failures,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator: GoalClassifier, check: Any) -> None:
    check(estimator)
