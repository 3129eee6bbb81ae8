"""The trainable goal classifier: which goals of a strategy framework does a text serve?

>>> from goalmatch.embed.encoder import FakeEncoder
>>> from goalmatch.data.frameworks import Framework
>>> fw = Framework.from_dict({
...     "id": "demo", "name": "Demo", "language": "sv", "multi_label": False,
...     "source": {"document": "exempel"},
...     "goals": [
...         {"id": "demo-bredband", "name": "Bredband", "description": "Bredband och fiber till byarna.",
...          "examples": ["utbyggnad av fiber", "bredband på landsbygden"]},
...         {"id": "demo-kultur", "name": "Kultur", "description": "Kultur, musik och teater för unga.",
...          "examples": ["musikfestival", "teater för barn"]},
...     ],
... })
>>> clf = GoalClassifier(fw, FakeEncoder()).fit([], [])   # zero-shot: the strategy's own texts
>>> clf.predict(["Fiber och bredband till byarna", "Teater och musik för barn och unga"]).tolist()
['demo-bredband', 'demo-kultur']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from goalmatch.data.frameworks import Framework
from goalmatch.model import features as _features
from goalmatch.model import floor as _floor
from goalmatch.model import similarity as _similarity
from goalmatch.model.inputs import corpus_rows, framework_targets, goal_texts, is_texts, label_targets, n_rows

__all__ = ["GoalClassifier", "goal_texts"]

logger = logging.getLogger(__name__)

SIMILARITY_FIT = "select"
"""How the similarity weights are fitted (:mod:`goalmatch.model.similarity`); not a parameter, so older heads load."""
RENAMED_PARAMETERS = {"top_k": "n_nearest"}
"""Old parameter name → new one; ``set_params`` refuses the old names, naming the new."""


class GoalClassifier(ClassifierMixin, BaseEstimator):
    """Suggests the goals of one strategy framework that a project text serves.

    Parameters
    ----------
    framework:
        A :class:`~goalmatch.data.frameworks.Framework`, the id of a shipped one (looked up in
        ``fit``), or ``None`` for a plain classifier over the labels given to ``fit``.
        Its goals are the classes (``classes_ == framework.goal_ids``); its
        ``multi_label`` decides single- or multi-label.
    encoder:
        Anything with ``encode(texts) -> (n, d) array`` (:class:`goalmatch.embed.encoder.Encoder`,
        ``FakeEncoder``); ``None`` means ``Encoder()`` (multilingual-e5-small).
    n_nearest:
        A text's closeness to a goal is the mean of its ``n_nearest`` highest cosine
        similarities to that goal's strategy texts.
    project_weight:
        The labelled projects together weigh this much relative to the framework's
        texts together when fitting (each group is class-balanced within itself).
    alpha:
        L2 penalty on the (standardised) feature weights.
    abstain_threshold:
        Rows whose highest probability is below this get no goal: ``None`` (single-label)
        or ``[]`` (multi-label). ``0`` never abstains.
    min_similarity:
        Rows whose *support* (the mean of the ``n_nearest`` best cosine similarities to the
        closest goal's strategy texts) is below this get no goal either. ``"auto"``: the
        2 % quantile of the support of the project texts given to ``fit`` (labelled or
        not), so a text less related to the strategy than nearly every known project
        abstains; without project texts the encoder's prior floor, set on real projects of
        other frameworks (:mod:`goalmatch.model.floor`). ``None``: no floor. Ignored
        without a framework.
    threshold:
        Multi-label only: the probability a goal needs to be suggested, one number for
        all goals or ``{goal_id: threshold}`` (goals left out use 0.5).
    temperature_prior:
        The Gaussian prior, worth this many projects, on the logarithm of the correction's
        weight on the similarity scores (``prior_weight_``; ``None``: 1). Under the joint
        similarity fit (``similarity_fit = "joint"``, single-label, at least 2 labelled
        projects) also the prior of the softmax temperature refitted on the projects. See
        "Calibration" below.
    C:
        Inverse L2 strength of the correction learnt from labelled projects (as
        ``LogisticRegression(C=...)``; FINDINGS: 0.01–0.3 on standardised embeddings).
    min_strategy_weight:
        The least weight strategy similarity gets (cosine units): a held-out fit on a
        framework's own texts can otherwise invert it (dk-2007: −30.8, accuracy 0.03).
    embedding_dtype:
        The precision the learned embeddings (``prototypes_``, ``labelled_``) are kept at
        once the weights are fitted: ``"float32"`` rounds them as a saved model stores
        them, so the fitted head predicts exactly as it will after saving and loading (the
        :class:`~goalmatch.model.matcher.Matcher` asks for it). The arrays stay float64.

    How it decides, and why (measured, ``scripts/measure_classifier.py``)
    -------------------------------------------------------------------------
    For every (text, goal) pair two similarity features are computed
    (:mod:`goalmatch.model.features`): *strategy*, the mean of the ``n_nearest`` best cosine
    similarities to the goal's strategy texts (its own and its sub-goals' names, aliases,
    descriptions and examples), and *projects*, the mean similarity to the labelled
    projects of that goal minus the mean similarity to all labelled projects. A softmax
    over goals (single-label) or a logistic per pair (multi-label) with one weight per
    feature, shared by all goals, turns them into probabilities. The weights are fitted by
    maximum likelihood on *held-out* features: each framework text is scored against the
    other framework texts, each labelled project without itself. So the fit is a
    leave-one-out temperature/Platt calibration of the similarity scores, and
    ``fit([], [])`` already gives a calibrated zero-shot classifier from the strategy texts.

    Leave-one-out on the shipped corpora (RUS 24 projects, national strategy 15, Polaris 8;
    ``python scripts/measure_classifier.py``), zero-shot / with the projects, accuracy:
    0.75 / 0.75, 0.80 / 0.93, 1.00 / 1.00 (before the correction below; the realistic
    figures are in docs/benchmark.md).

    A logistic regression on the 384 embedding dimensions learns the *genre* as well as
    the topic: project rows and strategy-text rows differ in every coordinate, so a
    held-out project drifts to the goals that have many labelled projects (Polaris: 4 of
    8 are innovation). Prototype similarities or TF-IDF lemmas beside the embeddings made
    that worse (mean accuracy 0.66 and 0.63 against 0.76). Two weights shared by all
    goals, fitted on held-out similarities, cannot overfit 8-24 projects and need no
    per-goal prior, which is also how class imbalance is handled. The calibration is not
    a no-op: a softmax over the same similarities at temperature 1 has NLL 1.38 / 1.38 /
    1.92 (a uniform guess). With this few projects the best rows differ by one or two
    projects; the choice rests as much on the zero-shot start and the calibration.

    Calibration (``temperature_prior``; issue 4, ``scripts/experiment_variants.py``): the
    joint fit leaves project probabilities *under*-confident, because strategy texts are
    harder to tell apart than real projects. Refitting the temperature on the projects'
    leave-one-out evidence, with a prior worth one project, lowered the expected
    calibration error in 5-fold cross-validation (3 repeats) from 0.19 / 0.19 / 0.28 to
    0.13 / 0.14 / 0.16 (RUS / national / Polaris), mean NLL 0.50 → 0.47, argmax and F1
    unchanged. Without the prior (0) ECE falls further on Polaris (0.004) but one
    confident mistake costs the national strategy NLL 0.40 → 1.95; post-hoc isotonic or
    sigmoid maps fitted by nested CV lowered ECE more (0.08 / 0.13 mean) but changed
    argmaxes (national macro-F1 0.93 → 0.90) and raised NLL to 0.6. Multi-label keeps the
    projects' own intercept: the same refit did not lower Agenda 2030's ECE.

    Abstention: probabilities are relative (which goal, not whether any), so an
    off-topic text can look confident. Hence the support floor (``min_similarity``; zero-shot
    the encoder's prior floor, :mod:`goalmatch.model.floor`; figures in docs/benchmark.md).
    Multi-label (Agenda 2030, 6 labelled projects, 34 labels): zero-shot the most probable
    goal was one of the labelled ones 6 of 6 times, but the probabilities are calibrated
    on strategy texts, which serve one goal each, so few goals pass 0.5 (micro-F1 0.06);
    with the projects (their own intercept) 4.2 goals per text, micro-F1 0.41, top goal
    right 4 of 6.

    Further texts (``fit(..., corpus=...)``): labelled texts of another kind (TRAIL22:
    English UN snippets, one SDG each) teach *which* goal, but they are less related to
    the Swedish strategy texts than real applications, and carry one goal each where a
    Swedish project serves several. So, once fitted, the ``"auto"`` support floor is taken
    from the corpus rows alone, and a multi-label head's intercept is shifted to the
    maximum-likelihood value on the labelled corpus rows (their label count, matched).
    Measured leave-one-out on the 6 Agenda-labelled seed-003 projects with TRAIL22 (100
    per SDG): unshifted no goal reached 0.5 (0 suggested); shifted micro-F1 0.62, the top
    goal one of the project's own 6 times of 6.

    Since the learning-curve work of issue 13 (:mod:`goalmatch.model.similarity`), single-label
    heads keep the zero-shot fit of the two weights whatever projects are labelled: refitting
    them on a handful of projects pulled dk-2007 under its own zero-shot. The projects feature
    is weighed by the correction below instead; multi-label keeps the joint fit.

    The correction (issue 13): the similarity model's scores are the *offset* of a logistic
    regression on the standardised embeddings (``correction_coef_``, ``correction_intercept_``,
    ``prior_weight_``), penalised as ``LogisticRegression(C=C)`` and fitted on the labelled
    rows' held-out scores: no labels, no correction (zero-shot is the similarity model, which
    never inverts similarity); many labels, a full discriminative learner.

    Attributes
    ----------
    classes_: the goal ids (or labels), in framework order.
    multi_label_: whether ``predict`` returns lists.
    coef_: weights of the (strategy, projects) features; ``intercept_`` (multi-label).
    correction_coef_ (d, k), correction_intercept_ (k,), prior_weight_, embedding_mean_,
    embedding_scale_: the correction above.
    temperature_: single-label: the temperature refitted on the projects (``coef_`` is
    already divided by it; ``1.0``: not refitted).
    thresholds_: per-goal decision thresholds (multi-label; ``0.0`` for single-label).
    min_similarity_: the support floor (``-inf``: none).
    corpus_adjustment_: what adapting to the ``corpus`` rows changed (``min_similarity``,
    ``intercept_shift``); empty when there were no further texts.
    prototypes_, prototype_goal_, prototype_kinds_: the strategy texts' embeddings,
    goal indices and kinds (in :func:`goal_texts` order, for evidence).
    labelled_, labelled_targets_: the labelled texts' embeddings and 0/1 goal matrix.
    n_features_in_: the embedding dimension (2-D float input is taken as embeddings).

    Deterministic: no randomness, no dependence on the order of goals beyond
    ``classes_`` order.
    """

    similarity_fit = SIMILARITY_FIT

    def __init__(
        self,
        framework: Framework | str | None = None,
        encoder: Any = None,
        *,
        n_nearest: int = 3,
        project_weight: float = 1.0,
        alpha: float = 1e-4,
        abstain_threshold: float = 0.4,
        min_similarity: float | str | None = "auto",
        threshold: float | Mapping[str, float] = 0.5,
        temperature_prior: float | None = 1.0,
        embedding_dtype: str = "float64",
        C: float = 0.01,
        min_strategy_weight: float = 50.0,
    ) -> None:
        # stored as given (the scikit-learn contract), grouped by what they steer
        self.framework, self.encoder = framework, encoder
        self.n_nearest, self.project_weight, self.alpha = n_nearest, project_weight, alpha  # the fit
        self.abstain_threshold, self.min_similarity, self.threshold = abstain_threshold, min_similarity, threshold
        self.temperature_prior, self.embedding_dtype = temperature_prior, embedding_dtype
        self.C, self.min_strategy_weight = C, min_strategy_weight  # the correction learnt from labels

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any = None, y: Any = None, *, corpus: Any = None) -> GoalClassifier:
        """Learn from the framework's texts and labelled texts ``X`` (texts or embeddings).

        ``y[i]`` is a goal id, or a list of goal ids (for a single-label framework its
        first id is the primary goal and the only one used; for a multi-label one ``[]``
        means "none of the goals"). ``y[i] = None`` marks an unlabelled project text: it
        is not a training example, but it shows what real inputs look like (see
        ``min_similarity``). ``fit([], [])`` or ``fit()`` learns from the framework's texts
        alone. Returns ``self``.

        ``corpus``: one bool per row of ``X``, True for the framework's own project texts.
        Where some rows are not (further labelled texts of another kind), the head adapts
        itself to the corpus rows once fitted; see "Further texts" below.
        """
        self._check_params()
        framework = self._resolve_framework()
        self.framework_ = framework
        self.encoder_ = self.encoder if self.encoder is not None else _default_encoder()
        n = 0 if X is None else n_rows(X)
        if framework is None and n == 0:
            raise ValueError("nothing to learn from: give a framework, or labelled texts X with labels y")
        if n == 0 and y is not None and n_rows(y) > 0:
            raise ValueError(f"got {n_rows(y)} labels but no texts")
        in_corpus = corpus_rows(corpus, n)
        if framework is not None:
            self.classes_ = np.asarray(framework.goal_ids, dtype=object)
            self.multi_label_ = framework.multi_label
            texts, goal_index, kinds = goal_texts(framework)
            self.prototypes_ = _features.unit_rows(self._encode(texts))
            self.prototype_goal_ = goal_index
            self.prototype_kinds_ = tuple(kinds)
            self.n_features_in_ = self.prototypes_.shape[1]
        E = self._embed(X, reset=framework is None) if n else np.zeros((0, self.n_features_in_))
        if framework is None:
            self.classes_, primary, targets = label_targets(y, n)
            self.multi_label_ = False
            labelled = np.ones(n, dtype=bool)
            self.prototypes_ = np.zeros((0, E.shape[1]))
            self.prototype_goal_ = np.zeros(0, dtype=np.intp)
            self.prototype_kinds_ = ()
        elif n:
            primary, targets, labelled = framework_targets(y, n, framework)
        else:
            k = len(self.classes_)
            primary, targets, labelled = np.zeros(0, np.intp), np.zeros((0, k)), np.zeros(0, dtype=bool)
        self.labelled_ = E[labelled]
        self.labelled_targets_ = targets[labelled]
        self._standardisation(E)
        self._fit_weights(primary[labelled])
        self._fit_correction(E)
        self.min_similarity_ = self._support_floor(E)
        k = len(self.classes_)
        self.thresholds_ = self._thresholds() if self.multi_label_ else np.zeros(k)
        if self.embedding_dtype == "float32":
            self.prototypes_, self.labelled_ = _float32(self.prototypes_), _float32(self.labelled_)
        further = in_corpus is not None and not in_corpus.all()
        self.corpus_adjustment_ = self._adapt_to_corpus(E[in_corpus], targets[in_corpus]) if further else {}
        logger.info(
            "GoalClassifier fitted on %s: %d strategy texts, %d labelled of %d project texts, coef %s, floor %.3f",
            framework.id if framework is not None else "labels", len(self.prototypes_), int(labelled.sum()), n,
            np.round(self.coef_, 2).tolist(), self.min_similarity_,
        )
        return self

    def _support_floor(self, E: np.ndarray) -> float:
        if not isinstance(self.min_similarity, str):
            return -np.inf if self.min_similarity is None else float(self.min_similarity)
        if not len(self.prototypes_):
            return -np.inf
        return _floor.support_floor(self._scores(E)[1] if len(E) else np.zeros(0), self.encoder_)

    def _fit_weights(self, primary: np.ndarray) -> None:
        prior = None if self.temperature_prior is None else float(self.temperature_prior)
        settings: dict[str, Any] = {"project_weight": self.project_weight, "alpha": self.alpha,
                    "min_strategy_weight": self.min_strategy_weight, "temperature_prior": prior}
        self._fit_choice = self.similarity_fit if len(self.prototypes_) else "joint"  # no strategy texts: labels
        if self._fit_choice == "select":
            self._fit_choice = "joint" if self.multi_label_ else _similarity.choose_fit(
                self.prototypes_, self.prototype_goal_, self.labelled_, self._standardise(self.labelled_),
                self.labelled_targets_, primary, n_nearest=self.n_nearest, C=float(self.C),
                prior=1.0 if prior is None else prior, **settings)
        fitted = _similarity.fit_similarity(
            self.prototypes_, self.prototype_goal_, self.labelled_, self.labelled_targets_, primary,
            n_nearest=self.n_nearest, multi_label=self.multi_label_, fit=self._fit_choice, **settings)
        self.coef_, self.intercept_, temperature = fitted
        if not self.multi_label_:
            self.temperature_ = temperature

    def _fit_correction(self, E: np.ndarray) -> None:
        """The discriminative part (:func:`goalmatch.model.similarity.fit_correction`): a logistic
        regression on the standardised embeddings whose offset is the similarity model's held-out
        score of each labelled row (its own project left out), penalised as
        ``LogisticRegression(C=C)``: no labels, no correction."""
        L, T = self.labelled_, self.labelled_targets_
        F, _ = _features.pair_features(L, self.prototypes_, self.prototype_goal_, L, T, self.n_nearest,
                                       own_labelled=np.arange(len(L)))
        prior = float(self.temperature_prior) if self.temperature_prior is not None else 1.0
        W, b, a, self.coef_ = _similarity.fit_correction(
            self._standardise(L), F, T, self.coef_, self.intercept_, C=float(self.C), prior=prior,
            multi_label=self.multi_label_, fit=self._fit_choice)
        self.correction_coef_, self.correction_intercept_, self.prior_weight_ = W, b, a

    def _standardisation(self, E: np.ndarray) -> None:
        rows = E if len(E) >= 2 else (self.prototypes_ if len(self.prototypes_) >= 2 else self.labelled_)
        self.embedding_mean_ = rows.mean(axis=0) if len(rows) else np.zeros(self.n_features_in_)
        spread = rows.std(axis=0) if len(rows) >= 2 else np.ones(self.n_features_in_)
        self.embedding_scale_ = np.where(spread > 1e-12, spread, 1.0)

    def _standardise(self, E: np.ndarray) -> np.ndarray:
        return np.asarray((E - self.embedding_mean_) / self.embedding_scale_)

    def _adapt_to_corpus(self, E: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """Fit the support floor and a multi-label intercept to the corpus rows ``E`` (unit
        embeddings; ``targets`` their 0/1 goal rows, zeros where unlabelled); returns what changed."""
        out: dict[str, float] = {}
        if len(E) and self.min_similarity == "auto":
            self.min_similarity_ = out["min_similarity"] = _floor.support_floor(self._scores(E)[1], self.encoder_)
        rows = targets.sum(axis=1) > 0
        if self.multi_label_ and rows.sum() >= 2 and 0 < targets[rows].sum() < targets[rows].size:
            shift = _features.fit_intercept_shift(self._scores(E[rows])[0], targets[rows])
            self.correction_intercept_ = self.correction_intercept_ + shift  # added to every goal's score
            out["intercept_shift"] = shift
        return out

    def _thresholds(self) -> np.ndarray:
        if isinstance(self.threshold, Mapping):
            unknown = sorted(set(self.threshold) - set(self.classes_.tolist()))
            if unknown:
                raise ValueError(f"threshold: unknown goal id(s) {unknown}; expected ids from {list(self.classes_)}")
            return np.array([float(self.threshold.get(g, 0.5)) for g in self.classes_])
        return np.full(len(self.classes_), float(self.threshold))

    # --------------------------------------------------------------- predicting

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores ``(n, n_goals)`` (log-odds for multi-label); ``(n,)`` for two classes, single-label."""
        Z, _ = self._evidence(X)
        if not self.multi_label_ and Z.shape[1] == 2:
            return Z[:, 1] - Z[:, 0]
        return Z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities ``(n, n_goals)``, columns in ``classes_`` order.

        Single-label rows sum to 1; multi-label columns are one probability per goal.
        """
        Z, _ = self._evidence(X)
        return self._proba(Z)

    def predict(self, X: Any) -> Any:
        """Goal per text (``None`` where it abstains), or for multi-label a list of goal
        lists, most probable first (``[]`` where it abstains).

        A row abstains when its highest probability is below ``abstain_threshold`` or the
        text is less related to the strategy than ``min_similarity_``.
        """
        Z, support = self._evidence(X)
        proba = self._proba(Z)
        confident = (proba.max(axis=1, initial=0.0) >= self.abstain_threshold) & (support >= self.min_similarity_)
        if self.multi_label_:
            out: list[list[Any]] = []
            for row, ok in zip(proba, confident, strict=True):
                order = np.argsort(-row, kind="stable")
                out.append([self.classes_[g] for g in order if ok and row[g] >= self.thresholds_[g]])
            return out
        labels = self.classes_[proba.argmax(axis=1)]
        if self.abstain_threshold <= 0 and (self.min_similarity is None or self.framework_ is None):
            return labels  # abstention is off: the labels' own dtype
        labels = labels.astype(object)
        labels[~confident] = None
        return labels

    def embed(self, X: Any) -> np.ndarray:
        """Unit-length embeddings of texts (or of given embeddings), as the classifier sees them."""
        check_is_fitted(self)
        return self._embed(X, reset=False)

    def _proba(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(expit(Z) if self.multi_label_ else softmax(Z, axis=1))

    def _evidence(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self)
        return self._scores(self._embed(X, reset=False))

    def _scores(self, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (log-odds) and support of unit embeddings ``E``."""
        F, support = _features.pair_features(
            E, self.prototypes_, self.prototype_goal_, self.labelled_, self.labelled_targets_, self.n_nearest
        )
        Z = getattr(self, "prior_weight_", 1.0) * (F @ self.coef_ + self.intercept_)
        if hasattr(self, "correction_coef_"):  # heads saved before the correction have none
            Z = Z + self._standardise(E) @ self.correction_coef_ + self.correction_intercept_
        return np.asarray(Z, dtype=np.float64), support

    # --------------------------------------------------------------------- input

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.encoder_.encode(texts), dtype=np.float64)

    def _embed(self, X: Any, *, reset: bool) -> np.ndarray:
        if is_texts(X):
            E = self._encode(list(X) if not isinstance(X, np.ndarray) else X.ravel().tolist())
            if reset:
                self.n_features_in_ = E.shape[1]
        else:
            E = validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))
        expected = getattr(self, "n_features_in_", E.shape[1])
        if E.shape[1] != expected:
            raise ValueError(
                f"X has {E.shape[1]} features, but GoalClassifier is expecting {expected} features as input "
                "(the encoder's embedding dimension)"
            )
        return _features.unit_rows(E)

    # ------------------------------------------------------------------- checks

    def _check_params(self) -> None:
        if not isinstance(self.n_nearest, int | np.integer) or isinstance(self.n_nearest, bool) or self.n_nearest < 1:
            raise ValueError(f"n_nearest must be a positive integer, got {self.n_nearest!r}")
        if self.temperature_prior is not None and not (_is_number(self.temperature_prior)
                                                       and self.temperature_prior >= 0):
            raise ValueError(f"temperature_prior must be a number >= 0 or None, got {self.temperature_prior!r}")
        for name in ("project_weight", "alpha", "min_strategy_weight"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.abstain_threshold, int | float) or not 0 <= self.abstain_threshold <= 1:
            raise ValueError(f"abstain_threshold must be a probability in [0, 1], got {self.abstain_threshold!r}")
        if not (self.min_similarity is None or self.min_similarity == "auto" or _is_number(self.min_similarity)):
            raise ValueError(f"min_similarity must be 'auto', None or a number, got {self.min_similarity!r}")
        values = self.threshold.values() if isinstance(self.threshold, Mapping) else [self.threshold]
        if not all(isinstance(v, int | float) and 0 <= v <= 1 for v in values):
            raise ValueError(f"threshold must be a probability in [0, 1] or a mapping of them, got {self.threshold!r}")
        if not _is_number(self.C) or not self.C > 0:
            raise ValueError(f"C must be a number > 0, got {self.C!r}")
        if self.embedding_dtype not in ("float64", "float32"):
            raise ValueError(f"embedding_dtype must be 'float64' or 'float32', got {self.embedding_dtype!r}")
        if self.encoder is not None and not callable(getattr(self.encoder, "encode", None)):
            raise TypeError(f"encoder must have an encode(texts) method, got {type(self.encoder).__name__}")

    def _resolve_framework(self) -> Framework | None:
        if self.framework is None or isinstance(self.framework, Framework):
            return self.framework
        if isinstance(self.framework, str):
            from goalmatch.data.frameworks import shipped_frameworks

            shipped = shipped_frameworks()
            if self.framework not in shipped:
                raise ValueError(f"framework {self.framework!r} is not shipped; known: {', '.join(sorted(shipped))}")
            return shipped[self.framework]
        raise TypeError(f"framework must be a Framework, a framework id or None, got {type(self.framework).__name__}")

    def set_params(self, **params: Any) -> GoalClassifier:
        """scikit-learn's ``set_params``; a parameter's old name is refused with its new one."""
        renamed = sorted(params.keys() & RENAMED_PARAMETERS.keys())
        if renamed:
            old, new = renamed[0], RENAMED_PARAMETERS[renamed[0]]
            raise ValueError(f"GoalClassifier's parameter {old} was renamed {new}: set {new} instead")
        return super().set_params(**params)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.target_tags.required = self.framework is None
        return tags


def _default_encoder() -> Any:
    from goalmatch.embed.encoder import Encoder

    return Encoder()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _float32(E: np.ndarray) -> np.ndarray:
    return np.asarray(E, dtype=np.float32).astype(np.float64)
