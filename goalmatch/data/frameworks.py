"""Strategy frameworks as data.

A framework (a Leader area's insatsområden, a regional strategy's priorities, Agenda 2030)
is one YAML file under ``corpora/frameworks/``; its schema is documented in
``docs/framework-schema.md``. This module loads such a file safely, validates it and
exposes it as immutable :class:`Framework` and :class:`Goal` objects. Adding a new
strategy never needs Python: drop a file in the folder.

>>> from goalmatch.data.frameworks import Framework
>>> fw = Framework.from_dict({
...     "id": "demo", "name": "Demo", "language": "sv", "multi_label": False,
...     "source": {"document": "exempel"},
...     "goals": [{"id": "demo-a", "name": "Service", "description": "Lokal service."}],
... })
>>> fw.goal_ids
('demo-a',)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from goalmatch.errors import FrameworkError

__all__ = [
    "Framework",
    "FrameworkError",
    "Goal",
    "default_frameworks_dir",
    "load_framework",
    "load_frameworks",
]

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 2_000_000
MAX_CHILD_DEPTH = 3
ID_PATTERN = re.compile(r"^[a-z][a-z0-9.-]*$")

_FRAMEWORK_KEYS = {
    "schema_version": False, "id": True, "name": True, "language": True, "multi_label": True,
    "source": True, "goals": True, "period": False, "region": False, "description": False,
}
_SOURCE_KEYS = {"document": True, "section": False, "url": False, "notes": False}
_GOAL_KEYS = {
    "id": True, "name": True, "description": True, "examples": False, "aliases": False,
    "language": False, "source": False, "children": False,
}


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: ``*name`` repeats a node without costing bytes,
    so a small file could expand into gigabytes of goal text (a "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a framework file", mark)
        return super().compose_node(parent, index)


@dataclass(frozen=True)
class Goal:
    """One goal of a framework (an insatsområde, a priority, an SDG or an SDG target)."""

    id: str
    name: str
    description: str
    examples: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    language: str = "sv"
    source: str | None = None
    children: tuple[Goal, ...] = ()
    parent: str | None = None

    def texts(self) -> Iterator[tuple[str, str]]:
        """Yield ``(kind, text)`` for every text of this goal itself (not its children).

        Kinds are ``name``, ``alias``, ``description`` and ``example``; these are the
        strategy passages a suggestion can point to as evidence.
        """
        yield "name", self.name
        for alias in self.aliases:
            yield "alias", alias
        yield "description", self.description
        for example in self.examples:
            yield "example", example

    def walk(self) -> Iterator[Goal]:
        """This goal's descendants, depth first (not the goal itself)."""
        for child in self.children:
            yield child
            yield from child.walk()


@dataclass(frozen=True)
class Framework:
    """A strategy framework: an ordered set of goals, single- or multi-label."""

    id: str
    name: str
    language: str
    multi_label: bool
    source: Mapping[str, str]
    goals: tuple[Goal, ...]
    description: str | None = None
    period: str | None = None
    region: str | None = None
    content_hash: str = ""
    path: Path | None = field(default=None, compare=False)

    @property
    def goal_ids(self) -> tuple[str, ...]:
        """Ids of the top-level goals, in file order: the classes a classifier predicts."""
        return tuple(goal.id for goal in self.goals)

    def goal(self, goal_id: str) -> Goal:
        """The goal (top level or child) with this id; ``KeyError`` naming it if unknown."""
        for goal in self.all_goals():
            if goal.id == goal_id:
                return goal
        raise KeyError(f"framework {self.id!r} has no goal {goal_id!r}")

    def all_goals(self) -> Iterator[Goal]:
        """Every goal, each top-level goal followed by its descendants."""
        for goal in self.goals:
            yield goal
            yield from goal.walk()

    def top_level(self, goal_id: str) -> str:
        """The top-level goal id a goal or sub-goal id belongs to."""
        goal = self.goal(goal_id)
        while goal.parent is not None:
            goal = self.goal(goal.parent)
        return goal.id

    def resolve(self, label: str) -> str | None:
        """Map a raw label (a goal id, a name or an alias, any case) to a top-level goal id.

        Returns ``None`` when nothing matches, so callers decide how loud to be.
        """
        key = _label_key(label)
        for goal in self.all_goals():
            names = (goal.id, goal.name, *goal.aliases)
            if any(_label_key(name) == key for name in names):
                return self.top_level(goal.id)
        return None

    @classmethod
    def from_file(cls, path: str | Path) -> Framework:
        """Load and validate a framework YAML file (safe loader, no aliases; size limited)."""
        path = Path(path)
        where = str(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise FrameworkError(where, "<file>", f"cannot read: {exc.strerror}") from None
        if size > MAX_FILE_BYTES:
            raise FrameworkError(where, "<file>", f"{size} bytes; at most {MAX_FILE_BYTES} allowed")
        raw = path.read_bytes()
        try:
            data = yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # a SafeLoader subclass
        except UnicodeDecodeError as exc:
            raise FrameworkError(where, "<file>", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise FrameworkError(where, "<file>", f"not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
        except RecursionError:  # PyYAML composes recursively: a deeply nested file must not crash the caller
            raise FrameworkError(where, "<file>", "nested too deeply to be a framework file") from None
        return cls.from_dict(data, where=where, path=path)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "<framework>", path: Path | None = None) -> Framework:
        """Validate a parsed mapping and build the framework; errors name the field."""
        _check_mapping(data, _FRAMEWORK_KEYS, where, "")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise FrameworkError(where, "schema_version", f"expected {SCHEMA_VERSION}, got {version!r}")
        fw_id = _id(data, "id", where, "")
        multi = data["multi_label"]
        if not isinstance(multi, bool):
            raise FrameworkError(where, "multi_label", f"expected true or false, got {multi!r}")
        language = _string(data, "language", where, "")
        source = data["source"]
        _check_mapping(source, _SOURCE_KEYS, where, "source")
        source = {key: _string(source, key, where, "source") for key in source}
        goals_raw = data["goals"]
        if not isinstance(goals_raw, list) or not goals_raw:
            raise FrameworkError(where, "goals", "expected a non-empty list of goals")
        seen: dict[str, str] = {}
        goals = tuple(
            _goal(item, where, f"goals[{i}]", language, None, seen, depth=0)
            for i, item in enumerate(goals_raw)
        )
        _check_aliases(goals, where)
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return cls(
            id=fw_id,
            name=_string(data, "name", where, ""),
            language=language,
            multi_label=multi,
            source=source,
            goals=goals,
            description=_optional_string(data, "description", where, ""),
            period=_optional_string(data, "period", where, ""),
            region=_optional_string(data, "region", where, ""),
            content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
            path=path,
        )


def default_frameworks_dir() -> Path:
    """The shipped ``corpora/frameworks`` folder (inside the package when installed)."""
    from goalmatch._paths import corpora_dir

    return corpora_dir() / "frameworks"


def load_framework(path: str | Path) -> Framework:
    """Load one framework file; same as :meth:`Framework.from_file`."""
    return Framework.from_file(path)


def load_frameworks(directory: str | Path | None = None) -> dict[str, Framework]:
    """Load every ``*.yaml``/``*.yml`` in a folder, keyed by framework id.

    Two files declaring the same framework id are refused, naming both files.
    """
    directory = Path(directory) if directory is not None else default_frameworks_dir()
    if not directory.is_dir():
        raise FrameworkError(str(directory), "<folder>", "not a folder of framework files")
    frameworks: dict[str, Framework] = {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for file in files:
        fw = Framework.from_file(file)
        if fw.id in frameworks:
            other = frameworks[fw.id].path
            raise FrameworkError(str(file), "id", f"framework id {fw.id!r} is already used by {other}")
        frameworks[fw.id] = fw
    return frameworks


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Framework]:
    return load_frameworks()


def shipped_frameworks() -> dict[str, Framework]:
    """The shipped strategy frameworks, keyed by id (loaded and validated once per process)."""
    return dict(_shipped())


def _label_key(label: str) -> str:
    return " ".join(label.casefold().replace("–", "-").split())


def _check_mapping(data: Any, keys: Mapping[str, bool], where: str, path: str) -> None:
    label = path or "<top level>"
    if not isinstance(data, dict):
        raise FrameworkError(where, label, f"expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in keys:
            allowed = ", ".join(sorted(keys))
            raise FrameworkError(where, _join(path, str(key)), f"unknown key; allowed keys are: {allowed}")
    for key, required in keys.items():
        if required and key not in data:
            raise FrameworkError(where, _join(path, key), "missing required key")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _string(data: Mapping[str, Any], key: str, where: str, path: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise FrameworkError(where, _join(path, key), f"expected non-empty text, got {value!r}")
    return value.strip()


def _optional_string(data: Mapping[str, Any], key: str, where: str, path: str) -> str | None:
    return _string(data, key, where, path) if data.get(key) is not None else None


def _id(data: Mapping[str, Any], key: str, where: str, path: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise FrameworkError(
            where, _join(path, key),
            f"expected an id of lowercase ASCII letters, digits, '.' and '-' starting with a letter, got {value!r}",
        )
    return value


def _string_list(data: Mapping[str, Any], key: str, where: str, path: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FrameworkError(where, _join(path, key), f"expected a list of texts, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise FrameworkError(where, f"{_join(path, key)}[{i}]", f"expected non-empty text, got {item!r}")
        out.append(item.strip())
    return tuple(out)


def _goal(
    data: Any, where: str, path: str, language: str, parent: str | None,
    seen: dict[str, str], depth: int,
) -> Goal:
    _check_mapping(data, _GOAL_KEYS, where, path)
    goal_id = _id(data, "id", where, path)
    if goal_id in seen:
        raise FrameworkError(where, f"{path}.id", f"duplicate goal id {goal_id!r} (first at {seen[goal_id]})")
    seen[goal_id] = path
    goal_language = _optional_string(data, "language", where, path) or language
    children_raw = data.get("children")
    children: tuple[Goal, ...] = ()
    if children_raw is not None:
        if depth + 1 > MAX_CHILD_DEPTH:
            raise FrameworkError(where, f"{path}.children", f"goals nested deeper than {MAX_CHILD_DEPTH} levels")
        if not isinstance(children_raw, list):
            raise FrameworkError(where, f"{path}.children", "expected a list of goals")
        children = tuple(
            _goal(item, where, f"{path}.children[{i}]", goal_language, goal_id, seen, depth + 1)
            for i, item in enumerate(children_raw)
        )
    return Goal(
        id=goal_id,
        name=_string(data, "name", where, path),
        description=_string(data, "description", where, path),
        examples=_string_list(data, "examples", where, path),
        aliases=_string_list(data, "aliases", where, path),
        language=goal_language,
        source=_optional_string(data, "source", where, path),
        children=children,
        parent=parent,
    )


def _check_aliases(goals: tuple[Goal, ...], where: str) -> None:
    owner: dict[str, str] = {}
    for goal in (g for top in goals for g in (top, *top.walk())):
        for name in (goal.name, *goal.aliases):
            key = _label_key(name)
            if key in owner and owner[key] != goal.id:
                raise FrameworkError(
                    where, f"goal {goal.id}",
                    f"name or alias {name!r} is also used by goal {owner[key]!r}; labels must map to one goal",
                )
            owner.setdefault(key, goal.id)
