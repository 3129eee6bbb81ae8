"""TRAIL22, English SDG-labelled texts, read as Agenda 2030 records.

The TRAIL22 SDG challenge data (DelinteNicolas/TRAIL22-SDG, CC BY 4.0) is not shipped; a
user who has it can add it to training (``goalmatch train --trail22 Train_data.csv``) and
to evaluation (``goalmatch evaluate --trail22 FOLDER``). Both read it here, so the sample
and its licence text are written once.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path
from typing import Any

from goalmatch.data.corpus import Record
from goalmatch.errors import CorpusError

__all__ = ["TRAIL22_FRAMEWORK", "TRAIL22_SOURCE", "trail22_folder", "trail22_records"]

logger = logging.getLogger(__name__)

TRAIL22_FRAMEWORK = "agenda-2030"
"""The framework whose goals (``sdg-1`` … ``sdg-17``) TRAIL22's SDG column labels."""
TRAIL22_SOURCE: dict[str, Any] = {
    "name": "TRAIL22 SDG classification data",
    "used_for": "agenda-2030 head: English SDG-labelled texts as extra labelled examples "
                "(embeddings only; no text is stored in the model)",
    "origin": "TRAIL22 SDG challenge (DelinteNicolas/TRAIL22-SDG), file Train_data.csv",
    "licence": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
    "attribution": "Contains embeddings of texts from the TRAIL22 SDG challenge data (repository "
                   "DelinteNicolas/TRAIL22-SDG on GitHub), licensed under CC BY 4.0. Changes: a class-balanced "
                   "sample of Train_data.csv (texts under 8 words left out) was encoded with multilingual-e5-small; "
                   "the texts themselves are not included.",
}
"""What a model trained with TRAIL22 records in its manifest: origin, licence and attribution."""


def trail22_records(path: Path, per_goal: int) -> list[Record]:
    """A class-balanced, deterministic sample of TRAIL22's CSV as Agenda 2030 training records.

    Columns: an unnamed row index, ``source``, ``header``, ``text``, ``SDG`` (1-17). Texts
    under 8 words are skipped; per SDG the ``per_goal`` texts first by sha256 are kept; a
    text on rows of several SDGs becomes one record with all of them.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read: {exc.strerror}") from None
    if not rows or not {"text", "SDG"} <= set(rows[0]):
        raise CorpusError(f"{path}: expected a CSV with columns 'text' and 'SDG' (TRAIL22's Train_data.csv)")
    texts: dict[str, str] = {}
    goals: dict[str, set[int]] = {}
    for number, row in enumerate(rows, start=2):
        try:
            goal = int(row["SDG"])
        except (TypeError, ValueError):
            raise CorpusError(f"{path}, line {number}: column SDG: expected 1-17, got {row['SDG']!r}") from None
        if not 1 <= goal <= 17:
            raise CorpusError(f"{path}, line {number}: column SDG: expected 1-17, got {goal}")
        text = " ".join((row.get("text") or "").split())
        if len(text.split()) >= 8:
            key = hashlib.sha256(text.encode("utf-8")).hexdigest()
            texts[key] = text
            goals.setdefault(key, set()).add(goal)
    chosen: set[str] = set()
    for goal in range(1, 18):  # a text labelled with several SDGs (on several rows) is one record
        chosen.update(sorted(k for k in texts if goal in goals[k])[:per_goal])
    return [
        Record(id=f"trail22/{key[:16]}", text=texts[key], source="trail22",
               labels={TRAIL22_FRAMEWORK: tuple(f"sdg-{g}" for g in sorted(goals[key]))})
        for key in sorted(chosen)
    ]


def trail22_folder(folder: Path, per_goal: int, test_cap: int | None = None) -> tuple[list[Record], list[Record]]:
    """TRAIL22's class-balanced training sample and its test texts (``Train_data.csv``, ``Test_data.csv``).

    A test text that is also in the training file is left out of the test texts; ``test_cap``
    keeps the first so many of them.
    """
    train_file, test_file = folder / "Train_data.csv", folder / "Test_data.csv"
    for file in (train_file, test_file):
        if not file.is_file():
            raise CorpusError(f"{file}: not found; --trail22 takes the folder with Train_data.csv and Test_data.csv")
    train = trail22_records(train_file, per_goal)
    test = [Record(r.id.replace("trail22/", "trail22-test/"), r.text, "trail22-test", r.labels)
            for r in trail22_records(test_file, 10**6)]
    seen = {r.text for r in train}
    test = [r for r in test if r.text not in seen]  # a text in both files is training data
    if test_cap is not None:
        test = test[:test_cap]
    logger.info("TRAIL22: %d training texts (<= %d per SDG), %d test texts", len(train), per_goal, len(test))
    return train, test
