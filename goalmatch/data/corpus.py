"""Labelled and reference project corpora: one JSONL record format, a loader, a builder.

Record format (one JSON object a line; documented in ``corpora/projects/README.md``)::

    {"id": "seed003/loket",                       # unique within the file, required
     "text": "LOKET\\n\\nProjektet ...",           # the project text, required, non-empty
     "source": "seed003",                         # which document it came from, required
     "labels": {"rus-norrbotten-2030": ["rus-innovation"], "agenda-2030": ["sdg-8"]},  # required (may be {})
     "title": "LOKET",                            # optional
     "raw_labels": {"rus-norrbotten-2030": ["Innovation och företagande"]},  # optional: as the source wrote them
     "label_origin": {"rus-norrbotten-2030": "source"},  # optional: "source" or who assigned them
     "provenance": {...}, "meta": {...}}          # optional: how the record was made; anything else

Labels are ordered: for a single-label framework the first id is the primary goal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalmatch._io import atomic_write
from goalmatch.data.frameworks import Framework
from goalmatch.errors import CorpusError

__all__ = ["CorpusError", "Record", "default_projects_dir", "json_lines", "load_corpora", "load_corpus",
           "load_corpus_paths", "write_corpus"]

MAX_LINE_BYTES = 1_000_000
_REQUIRED = ("id", "text", "source", "labels")
_OPTIONAL = ("title", "raw_labels", "label_origin", "provenance", "meta")


@dataclass(frozen=True)
class Record:
    """One project text with its goal labels per framework."""

    id: str
    text: str
    source: str
    labels: Mapping[str, tuple[str, ...]]
    title: str | None = None
    raw_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    label_origin: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def labels_for(self, framework_id: str) -> tuple[str, ...]:
        """Goal ids for one framework, primary first; empty when unlabelled there."""
        return self.labels.get(framework_id, ())

    def to_dict(self) -> dict[str, Any]:
        """The record as written to JSONL (optional fields left out when empty)."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "text": self.text,
            "source": self.source,
            "labels": {k: list(v) for k, v in self.labels.items()},
            "raw_labels": {k: list(v) for k, v in self.raw_labels.items()},
            "label_origin": dict(self.label_origin),
            "provenance": dict(self.provenance),
            "meta": dict(self.meta),
        }
        return {k: v for k, v in out.items() if k in _REQUIRED or v not in (None, {}, [])}

    @classmethod
    def from_dict(cls, data: Any, where: str = "<record>") -> Record:
        """Validate one parsed JSON object; errors name ``where`` and the field."""
        if not isinstance(data, dict):
            raise CorpusError(f"{where}: expected a JSON object, got {type(data).__name__}")
        unknown = set(data) - set(_REQUIRED) - set(_OPTIONAL)
        if unknown:
            allowed = sorted((*_REQUIRED, *_OPTIONAL))
            raise CorpusError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {allowed}")
        for key in _REQUIRED:
            if key not in data:
                raise CorpusError(f"{where}: missing required field {key!r}")
        for key in ("id", "text", "source"):
            if not isinstance(data[key], str) or not data[key].strip():
                raise CorpusError(f"{where}: field {key!r}: expected non-empty text, got {data[key]!r}")
        title = data.get("title")
        if title is not None and not isinstance(title, str):
            raise CorpusError(f"{where}: field 'title': expected text, got {title!r}")
        for key in ("label_origin", "provenance", "meta"):
            if not isinstance(data.get(key, {}), dict):
                raise CorpusError(f"{where}: field {key!r}: expected an object")
        return cls(
            id=data["id"],
            text=data["text"],
            source=data["source"],
            labels=_label_map(data["labels"], f"{where}: field 'labels'"),
            title=title,
            raw_labels=_label_map(data.get("raw_labels", {}), f"{where}: field 'raw_labels'", ids=False),
            label_origin=dict(data.get("label_origin", {})),
            provenance=dict(data.get("provenance", {})),
            meta=dict(data.get("meta", {})),
        )


def _label_map(value: Any, where: str, *, ids: bool = True) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise CorpusError(f"{where}: expected an object mapping framework ids to lists of goal ids")
    out: dict[str, tuple[str, ...]] = {}
    for framework_id, goals in value.items():
        if not isinstance(goals, list) or not all(isinstance(g, str) and g for g in goals):
            raise CorpusError(f"{where}[{framework_id!r}]: expected a list of non-empty texts, got {goals!r}")
        if ids and len(set(goals)) != len(goals):
            raise CorpusError(f"{where}[{framework_id!r}]: a goal id is listed twice in {goals!r}")
        out[framework_id] = tuple(goals)
    return out


def load_corpus(path: str | Path, frameworks: Mapping[str, Framework] | None = None) -> list[Record]:
    """Read and validate a JSONL corpus.

    With ``frameworks``, every label must name a known framework and one of its
    top-level goals; a label for a framework not given is refused too, so a typo in a
    framework id cannot silently drop training data.
    """
    records: list[Record] = []
    seen: dict[str, int] = {}
    for number, where, data in json_lines(path):
        record = Record.from_dict(data, where)
        if record.id in seen:
            raise CorpusError(f"{where}: duplicate id {record.id!r} (first on line {seen[record.id]})")
        seen[record.id] = number
        if frameworks is not None:
            _check_labels(record, frameworks, where)
        records.append(record)
    return records


def json_lines(path: str | Path) -> Iterator[tuple[int, str, Any]]:
    """``(line number, "FILE, line N", parsed value)`` for every non-blank line of a JSONL file.

    Lines over ``MAX_LINE_BYTES``, text that is not UTF-8 and lines that are not JSON are a
    :class:`CorpusError` naming the file and line.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}, line {number}"
            if len(raw) > MAX_LINE_BYTES:
                raise CorpusError(f"{where}: line of {len(raw)} bytes; at most {MAX_LINE_BYTES} allowed")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}") from None
            except RecursionError:  # json decodes recursively: a deeply nested line must not crash the caller
                raise CorpusError(f"{where}: JSON nested too deeply") from None
            yield number, where, data


def _check_labels(record: Record, frameworks: Mapping[str, Framework], where: str) -> None:
    for framework_id, goals in record.labels.items():
        framework = frameworks.get(framework_id)
        if framework is None:
            known = ", ".join(sorted(frameworks))
            raise CorpusError(f"{where}: labels: unknown framework {framework_id!r}; known: {known}")
        for goal in goals:
            if goal not in framework.goal_ids:
                raise CorpusError(
                    f"{where}: labels[{framework_id!r}]: {goal!r} is not a goal of {framework_id}; "
                    f"expected one of {', '.join(framework.goal_ids)}"
                )


def default_projects_dir() -> Path:
    """The shipped ``corpora/projects`` folder."""
    from goalmatch._paths import corpora_dir

    return corpora_dir() / "projects"


def load_corpora(
    directory: str | Path | None = None, frameworks: Mapping[str, Framework] | None = None
) -> list[Record]:
    """Every ``*.jsonl`` corpus in a folder, in file-name order; ids must be unique across files."""
    directory = Path(directory) if directory is not None else default_projects_dir()
    records: list[Record] = []
    owner: dict[str, Path] = {}
    for file in sorted(directory.glob("*.jsonl")):
        for record in load_corpus(file, frameworks):
            if record.id in owner:
                raise CorpusError(f"{file}: id {record.id!r} is also used in {owner[record.id]}")
            owner[record.id] = file
            records.append(record)
    return records


def load_corpus_paths(paths: Iterable[str | Path], frameworks: Mapping[str, Framework] | None = None) -> list[Record]:
    """The records of JSONL corpus files and folders of them (see :func:`load_corpora`), in the order given."""
    records: list[Record] = []
    for item in map(Path, paths):
        if item.is_dir():
            records += load_corpora(item, frameworks)
        elif item.is_file():
            records += load_corpus(item, frameworks)
        else:
            raise CorpusError(f"{item}: no such file or folder of JSONL corpora")
    return records


def write_corpus(records: Iterable[Record], path: str | Path) -> Path:
    """Write records as JSONL (UTF-8, stable key order) atomically: temp file, then rename."""
    return atomic_write(path, "".join(json.dumps(record.to_dict(), ensure_ascii=False) + "\n" for record in records))


def iter_labelled(records: Iterable[Record], framework_id: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(text, goal ids)`` pairs of the records labelled for one framework."""
    for record in records:
        goals = record.labels_for(framework_id)
        if goals:
            yield record.text, goals
