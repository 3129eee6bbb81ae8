"""The benchmark's tasks and side sets, read by path from the shared folder and the checkout.

A :class:`Task` is one framework with its labelled projects: either cross-validated in
``folds`` stratified parts (every part is the held-out test part once; the other parts are
the training pool), or with its own held-out ``test`` records (TRAIL22's test file).

- ``dk-2007`` / ``dk-2014``: the Danish regional- and social-fund projects of
  ``data/benchmarks/dk-erdf.jsonl`` in the shared folder (text = title + ". " + description),
  each label resolved through the benchmark framework's aliases (``Framework.resolve``); goals
  with fewer than ``min_projects`` projects leave the task (framework and projects), and the
  task says which.
- ``trail22``: Agenda 2030 with TRAIL22's class-balanced training sample as the pool and its
  own test file as the test part.
- ``corpora/<framework>``: the shipped corpora, per framework with enough labelled projects;
  the corpora's other records are the backlog (unlabelled project texts).

The off-topic set (``{"id", "kind", "language", "text"}`` a line) and the regression set
(``{"id", "text", "expected": {framework id: [goal ids]}}`` a line) are read here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalmatch.data.corpus import Record, json_lines
from goalmatch.data.frameworks import Framework
from goalmatch.errors import CorpusError
from goalmatch.persistence.files import file_sha256

__all__ = ["CORPORA_FRAMEWORKS", "DANISH_FILE", "DANISH_FRAMEWORKS", "TASKS", "OffTopic", "Regression", "Task",
           "capped", "corpora_tasks", "danish_tasks", "load_benchmark", "read_jsonl", "read_offtopic",
           "read_regression", "trail22_task"]

TASKS = ("dk-2007", "dk-2014", "trail22", "corpora")
"""The task groups ``goalmatch benchmark`` runs, in report order."""
DANISH_FILE = Path("data") / "benchmarks" / "dk-erdf.jsonl"
"""The Danish projects, relative to the shared folder."""
DANISH_FRAMEWORKS = {"dk-2007": ("2007-2013", "dk-erdf-2007-2013.yaml"),
                     "dk-2014": ("2014-2020", "dk-erdf-2014-2020.yaml")}
"""Danish task → (the ``period`` its rows have, its framework file in the benchmark frameworks folder)."""
CORPORA_FRAMEWORKS = ("rus-norrbotten-2030", "nationell-strategi-2021", "leader-polaris-2016")
"""The shipped frameworks whose corpora hold enough labelled projects to measure on."""


@dataclass(frozen=True, eq=False)
class Task:
    """One framework with its labelled projects (see the module docstring).

    ``records``: the labelled projects (every one labelled for ``framework.id``); with ``test``
    they are the training pool only. ``backlog``: further unlabelled project texts of the
    task (never test texts). ``notes``: what a reader must know (dropped goals, caps).
    ``files``: each data file read, with its sha256.
    """

    name: str
    framework: Framework
    records: Sequence[Record]
    test: Sequence[Record] = ()
    backlog: Sequence[str] = ()
    folds: int = 3
    notes: Sequence[str] = ()
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OffTopic:
    """A text no strategy goal should be suggested for."""

    id: str
    kind: str
    language: str
    text: str


@dataclass(frozen=True)
class Regression:
    """A hand-written application with the goals it was written for, per framework."""

    id: str
    text: str
    expected: Mapping[str, tuple[str, ...]]


def read_jsonl(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, each with the ``required`` string fields; errors name the line."""
    out = []
    for _, where, row in json_lines(path):
        if not isinstance(row, dict):
            raise CorpusError(f"{where}: expected a JSON object, got {type(row).__name__}")
        for key in required:
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise CorpusError(f"{where}: field {key!r}: expected a non-empty string")
        out.append(row)
    return out


# ------------------------------------------------------------------ the Danish projects


def danish_tasks(shared: Path, frameworks_dir: Path, names: Sequence[str] = tuple(DANISH_FRAMEWORKS), *,
                 min_projects: int = 5) -> list[Task]:
    """The Danish tasks ``names`` (``dk-2007``, ``dk-2014``) from the shared folder and the framework files."""
    path = shared / DANISH_FILE
    rows = read_jsonl(path, ("id", "period", "title", "text", "label"))
    digest = file_sha256(path)
    tasks = []
    for name in names:
        period, file = DANISH_FRAMEWORKS[name]
        fw = Framework.from_file(frameworks_dir / file)
        records = []
        for row in (r for r in rows if r["period"] == period):
            goal = fw.resolve(row["label"])
            if goal is None:
                raise CorpusError(f"{path}: {row['id']}: label {row['label']!r} is no goal name or alias of "
                                  f"{frameworks_dir / file}; add it to a goal's aliases")
            records.append(Record(row["id"], f"{row['title']}. {row['text']}", "dk-erdf", {fw.id: (goal,)},
                                  title=row["title"]))
        fw, records, notes = _drop_small_goals(fw, records, min_projects)
        tasks.append(Task(name, fw, records, folds=3, notes=notes,
                          files={str(path): digest, str(frameworks_dir / file): file_sha256(frameworks_dir / file)}))
    return tasks


def _drop_small_goals(fw: Framework, records: list[Record], min_projects: int
                      ) -> tuple[Framework, list[Record], list[str]]:
    """Goals with fewer than ``min_projects`` projects leave the framework, and their projects the task."""
    counts = {g: sum(r.labels_for(fw.id)[0] == g for r in records) for g in fw.goal_ids}
    small = [g for g, n in counts.items() if n < min_projects]
    if not small:
        return fw, records, []
    kept = tuple(g for g in fw.goals if g.id not in small)
    notes = [f"goal {g} dropped from the task: {counts[g]} project(s), fewer than {min_projects}" for g in small]
    return (dataclasses.replace(fw, goals=kept), [r for r in records if r.labels_for(fw.id)[0] not in small],
            notes)


# ------------------------------------------------------------------ TRAIL22 and the shipped corpora


def trail22_task(shared: Path, framework: Framework, *, per_goal: int = 100, test_cap: int | None = None) -> Task:
    """Agenda 2030 on TRAIL22: its class-balanced training sample (``per_goal`` texts per SDG at most)
    as the pool, its own test file (the first ``test_cap`` texts) as the test part."""
    from goalmatch.data.trail22 import trail22_folder

    folder = shared / "data" / "trail22"
    train, test = trail22_folder(folder, per_goal, test_cap)
    notes = [f"training pool: {len(train)} texts of Train_data.csv (at most {per_goal} per SDG); "
             f"test: {len(test)} texts of Test_data.csv (its own split; texts also in the training file left out)"]
    files = {str(folder / f): file_sha256(folder / f) for f in ("Train_data.csv", "Test_data.csv")}
    return Task("trail22", framework, train, test=test, folds=0, notes=notes, files=files)


def corpora_tasks(frameworks: Mapping[str, Framework], records: Sequence[Record],
                  files: Mapping[str, str] | None = None, *, folds: int = 5) -> list[Task]:
    """One task per framework of :data:`CORPORA_FRAMEWORKS` with labelled records: ``folds``-fold
    cross-validation (fewer where a framework has fewer records); the corpora's records not
    labelled for it are its backlog."""
    tasks = []
    for fid in CORPORA_FRAMEWORKS:
        labelled = [r for r in records if r.labels_for(fid)]
        if fid not in frameworks or len(labelled) < 4:
            continue
        backlog = [r.text for r in records if not r.labels_for(fid)]
        tasks.append(Task(f"corpora/{fid}", frameworks[fid], labelled, backlog=backlog,
                          folds=min(folds, len(labelled)), files=dict(files or {})))
    return tasks


def capped(task: Task, cap: int) -> Task:
    """The task with at most ``cap`` labelled records, taken round-robin over primary goals (every
    goal keeps some), for ``--quick``."""
    if len(task.records) <= cap:
        return task
    by_goal: dict[str, list[Record]] = {}
    for r in task.records:
        by_goal.setdefault(r.labels_for(task.framework.id)[0], []).append(r)
    out: list[Record] = []
    while len(out) < cap:
        for group in by_goal.values():
            if group and len(out) < cap:
                out.append(group.pop(0))
    note = f"quick: {cap} of {len(task.records)} labelled records (round-robin over goals)"
    return dataclasses.replace(task, records=out, notes=[*task.notes, note])


# ------------------------------------------------------------------ the side sets


def read_offtopic(path: Path) -> list[OffTopic]:
    """The off-topic set: ``{"id", "kind", "language", "text"}`` a line."""
    return [OffTopic(r["id"], r["kind"], r["language"], r["text"])
            for r in read_jsonl(path, ("id", "kind", "language", "text"))]


def read_regression(path: Path) -> list[Regression]:
    """The regression set: ``{"id", "text", "expected": {framework id: [goal ids]}}`` a line."""
    out = []
    for r in read_jsonl(path, ("id", "text")):
        expected = r.get("expected")
        if not isinstance(expected, dict) or not expected or not all(
                isinstance(g, list) and g and all(isinstance(x, str) for x in g) for g in expected.values()):
            raise CorpusError(f"{path}: {r['id']}: field 'expected': expected {{framework id: [goal ids]}}, "
                              f"not empty")
        out.append(Regression(r["id"], r["text"], {str(f): tuple(g) for f, g in expected.items()}))
    return out


# ------------------------------------------------------------------ everything, by path


def load_benchmark(
    names: Sequence[str] = TASKS, *, shared: Path | None = None, frameworks_dir: Path | None = None,
    offtopic: Path | None = None, regression: Path | None = None, model: Path | None = None, quick: bool = False,
) -> tuple[list[Task], dict[str, Any]]:
    """The tasks ``names`` and the keyword arguments of ``run_benchmark`` for them, read by path.

    Defaults: the shared folder :func:`goalmatch._paths.shared_dir`, the benchmark frameworks in
    the checkout's ``benchmarks/frameworks``, the sets in ``benchmarks/data`` (``offtopic.jsonl``,
    ``regression-sv.jsonl``; skipped, and said so, where a default file is missing), the shipped
    model. ``quick``: 60 projects per Danish task, 8 TRAIL22 texts per SDG in the pool and 40
    test texts, k in {1, 4}, one repeat.
    """
    from goalmatch._paths import benchmarks_dir, models_dir, shared_dir
    from goalmatch.data.corpus import default_projects_dir, load_corpora
    from goalmatch.data.frameworks import load_frameworks
    from goalmatch.model.matcher import Matcher

    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise CorpusError(f"unknown task(s) {', '.join(unknown)}; the tasks are {', '.join(TASKS)}")
    shared = shared if shared is not None else shared_dir()
    frameworks_dir = frameworks_dir if frameworks_dir is not None else benchmarks_dir() / "frameworks"
    shipped = load_frameworks(None)
    records = load_corpora(None, shipped)
    corpora_files = {str(p): file_sha256(p) for p in sorted(default_projects_dir().glob("*.jsonl"))}
    tasks = danish_tasks(shared, frameworks_dir, [n for n in names if n in DANISH_FRAMEWORKS])
    if "trail22" in names:
        tasks.append(trail22_task(shared, shipped["agenda-2030"], per_goal=8 if quick else 100,
                                  test_cap=40 if quick else None))
    if "corpora" in names:
        tasks += corpora_tasks(shipped, records, corpora_files)
    if quick:
        tasks = [capped(t, 60) if t.name in DANISH_FRAMEWORKS else t for t in tasks]
    notes: list[str] = []
    sets: dict[str, Any] = {"frameworks": shipped, "backlogs": {fid: [r.text for r in records] for fid in shipped}}
    for key, path, default, read in (("offtopic", offtopic, "offtopic.jsonl", read_offtopic),
                                     ("regression", regression, "regression-sv.jsonl", read_regression)):
        file = path if path is not None else benchmarks_dir() / "data" / default
        if path is None and not file.is_file():
            notes.append(f"{key}: {file} not found; left out")
            continue
        sets[key] = read(file)
        corpora_files[str(file)] = file_sha256(file)
    model_path = model if model is not None else models_dir() / "default"
    sets["model"] = Matcher.load(model_path)
    data_files = {p: h for t in tasks for p, h in t.files.items()} | corpora_files
    data_files[str(model_path / "manifest.json")] = file_sha256(model_path / "manifest.json")
    sets["settings"] = {"quick": quick, "tasks": list(names), "shared": str(shared),
                        "frameworks_dir": str(frameworks_dir), "data_files": data_files, "notes": notes}
    if quick:
        sets.update(sizes=(1, 4), repeats=1)
    return tasks, sets
