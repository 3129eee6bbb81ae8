"""Retraining from the app: a new model on the reviewers' decisions, measured beside the old, switched in live.

:class:`Retrainer` trains in one background thread (one training at a time). The new model
learns from the data folder given to ``goalmatch serve --train-data`` (none by default: then
the frameworks' own texts and the decisions only) plus every reviewed application as a
labelled record (:func:`goalmatch.web.review.export_records`). Both models are measured on the
same reviewed decisions: the model in use on all of them (it was not trained on them, unless it
was itself retrained in the app, which the page says), the new one by k-fold cross-validation
over the reviewed applications, so no application is judged by a model that learnt from it.

The new model is saved as a folder under ``models_dir`` (:meth:`goalmatch.Matcher.save`,
as ``goalmatch train`` does) and recorded in ``model_versions``; :meth:`Retrainer.switch`
serves it without a restart (:meth:`goalmatch.web.services.Review.swap_matcher`) and marks it
active, so a restarted server loads it; :meth:`Retrainer.rollback` goes back to the one before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from goalmatch.data.corpus import Record, load_corpus_paths
from goalmatch.errors import GoalmatchError, StoreError
from goalmatch.model.matcher import Matcher
from goalmatch.web.database import utcnow
from goalmatch.web.lanes import lower_thread_priority
from goalmatch.web.review import export_records, model_goals
from goalmatch.web.services import Review

__all__ = ["FOLDS", "Retrainer", "Status", "active_folder", "cross_validate", "load_active", "measure"]

log = logging.getLogger(__name__)

FOLDS = 5
"""Folds of the new model's cross-validation (fewer when there are fewer reviewed applications)."""
TRAIN_NICE = 10
"""How much lower the training thread runs (Linux): the reviewers' suggestions get the CPU first."""


@dataclass(frozen=True)
class Status:
    """Where the latest training stands: ``state`` is idle, running, done or failed; ``step`` in Swedish."""

    state: str = "idle"
    step: str = ""
    started_by: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str = ""
    version_id: int | None = None


def measure(matcher: Any, records: Sequence[Record]) -> dict[str, Any]:
    """How ``matcher`` agrees with the reviewers on ``records`` (as :func:`export_records` makes them).

    Per framework with decisions: ``decided`` (reviewed applications), ``same`` (the model's
    confident goals are exactly the reviewer's; none fits and no confident goal agree too),
    ``labelled`` (decisions that chose goals) and ``top1`` (of those, the model's first
    suggestion is among the reviewer's goals).
    """
    out: dict[str, dict[str, int]] = {}
    if not records:
        return {"frameworks": out}
    answers = matcher.suggest_many([r.text for r in records], top_k=3, sentences=False)
    for record, answer in zip(records, answers, strict=True):
        decided = (record.provenance or {}).get("decisions", {})
        for fw in answer.to_dict()["frameworks"]:
            fid = fw["framework_id"]
            if fid not in decided:
                continue
            chosen = set(decided[fid]["goal_ids"])
            row = out.setdefault(fid, {"decided": 0, "same": 0, "labelled": 0, "top1": 0})
            row["decided"] += 1
            row["same"] += set(model_goals(fw)) == chosen
            if chosen:
                row["labelled"] += 1
                first = fw["suggestions"][0]["goal_id"] if fw["suggestions"] else None
                row["top1"] += first in chosen
    return {"frameworks": out}


def cross_validate(frameworks: Mapping[str, Any], base: Sequence[Record], reviewed: Sequence[Record], *,
                   encoder: Any, folds: int = FOLDS, cache_dir: Path | None = None,
                   step: Callable[[str], None] = lambda _: None) -> dict[str, Any] | None:
    """The new model's figures by k-fold cross-validation over ``reviewed``: each fold is measured by a
    model trained on ``base`` and the other folds. ``None`` with fewer than two reviewed applications."""
    k = min(folds, len(reviewed))
    if k < 2:
        return None
    total: dict[str, dict[str, int]] = {}
    for fold in range(k):
        step(f"Korsvalidering: omgång {fold + 1} av {k}")
        held = [r for i, r in enumerate(reviewed) if i % k == fold]
        rest = [r for i, r in enumerate(reviewed) if i % k != fold]
        model = Matcher.train(frameworks, [*base, *rest], encoder=encoder, cache_dir=cache_dir)
        for fid, row in measure(model, held)["frameworks"].items():
            into = total.setdefault(fid, dict.fromkeys(row, 0))
            for key, value in row.items():
                into[key] += value
    return {"frameworks": total, "folds": k}


class Retrainer:
    """Trains, records, switches and rolls back the app's model; one training at a time, in a thread."""

    def __init__(self, review: Review, models_dir: Path, train_data: Sequence[Path] = ()) -> None:
        self.review = review
        self.store = review.store
        self.models_dir = Path(models_dir)
        self.train_data = [Path(p) for p in train_data]
        self._lock = threading.Lock()
        self._status = Status()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> Status:
        with self._lock:
            return self._status

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def start(self, user: str) -> bool:
        """Start a training in the background; ``False`` (nothing started) while one is running."""
        with self._lock:
            if self._status.state == "running":
                return False
            self._status = Status("running", "Startar", user, utcnow())
            self._thread = threading.Thread(target=self._run, args=(user,), name="goalmatch-retrain", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> Status:
        """The status once the training under way (if any) has ended (for tests and shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status

    def _run(self, user: str) -> None:
        lower_thread_priority(TRAIN_NICE, "the training")
        try:
            version_id = self.train(user, step=lambda text: self._set(step=text))
        except Exception as exc:  # a failed training must end as a status, never kill the server
            log.exception("retraining failed")
            reason = str(exc) if isinstance(exc, GoalmatchError) else "ett oväntat fel; se serverns logg"
            self._set(state="failed", step="", error=f"Träningen misslyckades: {reason}", finished_at=utcnow())
            return
        self._set(state="done", step="", version_id=version_id, finished_at=utcnow())

    def reviewed_records(self) -> list[Record]:
        """Every reviewed application as a labelled record (a rejected framework is decided but unlabelled)."""
        trail = self.store.decisions()
        apps = self.store.applications(ids={d.application_id for d in trail})
        return export_records(apps, trail, model=self.review.model_name)

    def train(self, user: str, step: Callable[[str], None] = lambda _: None) -> int:
        """Train, measure, save and record a new model (not yet in use); returns its version id."""
        old = self.review.matcher
        frameworks = old.frameworks
        step("Läser träningsdata och granskade beslut")
        base = load_corpus_paths(self.train_data, frameworks) if self.train_data else []
        reviewed = self.reviewed_records()
        if not reviewed:
            raise StoreError("det finns inga granskade beslut att träna på")
        cache = self.models_dir / "inbäddningar"
        step("Mäter modellen som används")
        figures: dict[str, Any] = {"old": measure(old, reviewed), "old_name": self.review.model_name,
                                   "reviewed": len(reviewed), "base": len(base)}
        figures["new"] = cross_validate(frameworks, base, reviewed, encoder=old.encoder, cache_dir=cache, step=step)
        step("Tränar den nya modellen på alla beslut")
        new = Matcher.train(frameworks, [*base, *reviewed], encoder=old.encoder, cache_dir=cache)
        step("Sparar den nya modellen")
        name = f"granskad-{utcnow():%Y%m%d-%H%M%S}"
        path = self.models_dir / name
        new.save(path, command=f"goalmatch serve: omträning av {user}", metrics=figures)
        return self.store.record_model(name, str(path.resolve()), user, figures)

    def _recorded_current(self, user: str) -> int:
        """The version id of the model in use, recording it (saved first, if it has no folder) when it is not."""
        current = self.review.matcher
        active = self.store.active_model()
        path = current.info.get("path")
        if active is not None and path and Path(active["path"]).resolve() == Path(path).resolve():
            return int(active["id"])
        if not path or not Path(path).is_dir():
            path = current.save(self.models_dir / f"start-{utcnow():%Y%m%d-%H%M%S}")
        return self.store.record_model(Path(path).name, str(Path(path).resolve()), user, {})

    def switch(self, version_id: int, user: str) -> None:
        """Serve model version ``version_id`` from now on, remembering the one in use to roll back to."""
        version = next((v for v in self.store.model_versions() if v["id"] == version_id), None)
        if version is None:
            raise StoreError(f"Modellversion {version_id} finns inte.")
        previous = self._recorded_current(user)
        if previous == version_id:
            return
        matcher = Matcher.load(version["path"], encoder=self.review.matcher.encoder)
        self.review.swap_matcher(matcher)
        self.store.activate_model(version_id, previous=previous)
        log.warning("model switched to %s by %s (was version %d)", version["name"], user, previous)

    def rollback(self, user: str) -> None:
        """Serve the model that was in use before the active one."""
        active = self.store.active_model()
        if active is None or active.get("previous_id") is None:
            raise StoreError("Det finns ingen föregående modell att återgå till.")
        previous = next((v for v in self.store.model_versions() if v["id"] == active["previous_id"]), None)
        if previous is None:
            raise StoreError("Den föregående modellen finns inte längre.")
        matcher = Matcher.load(previous["path"], encoder=self.review.matcher.encoder)
        self.review.swap_matcher(matcher)
        self.store.activate_model(previous["id"])
        log.warning("model rolled back to %s by %s", previous["name"], user)


def active_folder(store: Any) -> Path | None:
    """The folder of the model version the database marks active, if any and still there (else a warning)."""
    active = store.active_model()
    if active is None:
        return None
    if not Path(active["path"]).is_dir():
        log.warning("the active model %s is missing (%s); serving the one given", active["name"], active["path"])
        return None
    return Path(active["path"])


def load_active(review: Review) -> bool:
    """At start: serve the database's active model version instead of the one given; ``False`` if none."""
    folder = active_folder(review.store)
    current = review.matcher.info.get("path")
    if folder is None or (current and Path(current).resolve() == folder.resolve()):
        return False
    review.swap_matcher(Matcher.load(folder, encoder=review.matcher.encoder))
    log.warning("serving the active model version %s", folder)
    return True
