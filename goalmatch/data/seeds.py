"""Rebuild ``corpora/projects/`` from the seed documents, so every record's making is visible.

``goalmatch build-corpora`` runs :func:`build_corpora`. Inputs, all the user's material:

- ``data/seed003-insatser.jsonl``: the hand-checked extraction of seed 003's labelled
  insatser (Region Norrbotten's 2022 report). Each becomes a record labelled with the RUS
  priority, the Agenda 2030 goals where the report gives them, and the national strategy
  area (the report section 1.2.1–1.2.4 it stands in). Raw labels are kept beside the ids.
- ``seeds/004_*.txt``: Leader Polaris's granted projects, as reference projects. Labels
  come only from ``corpora/annotations/leader-polaris-2016.yaml`` (the maintainers' own,
  marked as such), never guessed here.

Mapping raw labels onto goal ids goes through the frameworks' names and aliases; a raw
label that maps to nothing is an error naming the record, so a framework edit cannot
silently drop a label.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from goalmatch.data.corpus import Record, write_corpus
from goalmatch.data.frameworks import Framework
from goalmatch.errors import BuildError

__all__ = ["BuildError", "build_corpora", "parse_polaris_projects"]

logger = logging.getLogger(__name__)

RUS = "rus-norrbotten-2030"
SDG = "agenda-2030"
NATIONAL = "nationell-strategi-2021"
POLARIS = "leader-polaris-2016"
_BUILT_BY = "goalmatch build-corpora (goalmatch/data/seeds.py)"


@dataclass(frozen=True)
class PolarisProject:
    title: str
    status: str
    text: str
    line: int


def build_corpora(
    shared: Path, frameworks: Mapping[str, Framework], out_dir: Path, annotations: Path
) -> dict[str, int]:
    """Write ``seed003-insatser.jsonl`` and ``leader-polaris-projects.jsonl``; return record counts."""
    for needed in (RUS, SDG, NATIONAL, POLARIS):
        if needed not in frameworks:
            raise BuildError(f"framework {needed!r} is needed to build the corpora but was not found")
    insatser = _seed003_records(shared / "data" / "seed003-insatser.jsonl", frameworks)
    seed004 = _find_seed(shared / "seeds", "004_")
    polaris = _polaris_records(seed004, annotations / f"{POLARIS}.yaml", frameworks[POLARIS])
    write_corpus(insatser, out_dir / "seed003-insatser.jsonl")
    write_corpus(polaris, out_dir / "leader-polaris-projects.jsonl")
    return {"seed003-insatser.jsonl": len(insatser), "leader-polaris-projects.jsonl": len(polaris)}


def _find_seed(seeds: Path, prefix: str) -> Path:
    matches = sorted(seeds.glob(f"{prefix}*.txt"))
    if len(matches) != 1:
        raise BuildError(f"{seeds}: expected one seed file starting with {prefix!r}, found {len(matches)}")
    return matches[0]


def _resolve(framework: Framework, label: str, where: str) -> str:
    goal = framework.resolve(label)
    if goal is None:
        raise BuildError(f"{where}: label {label!r} matches no goal name or alias of {framework.id}")
    return goal


def _seed003_records(path: Path, frameworks: Mapping[str, Framework]) -> list[Record]:
    if not path.is_file():
        raise BuildError(f"{path}: not found (the hand-checked extraction of seed 003)")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        where = f"{path.name}, line {number} ({row.get('id')})"
        labels: dict[str, list[str]] = {}
        raw: dict[str, list[str]] = {}
        rus = [_resolve(frameworks[RUS], name, where) for name in row["rus_canonical"]]
        if rus:
            labels[RUS] = list(dict.fromkeys(rus))
            raw[RUS] = list(row["rus"])
        if row["sdg"]:
            labels[SDG] = [f"sdg-{int(n)}" for n in row["sdg"]]
            raw[SDG] = [str(n) for n in row["sdg"]]
        section = row["section"]
        area = frameworks[NATIONAL].resolve(re.sub(r"^\d+(\.\d+)*\s+", "", section))
        if section.startswith("1.2.") and area is None:
            raise BuildError(f"{where}: section {section!r} matches no area of {NATIONAL}")
        if area is not None:
            labels[NATIONAL] = [area]
            raw[NATIONAL] = [section]
        parts = [row["name"], row["description"], row["effects_text"]]
        text = "\n\n".join(p.strip() for p in parts if p and p.strip())
        records.append(
            Record(
                id=f"seed003/{row['id']}",
                title=row["name"],
                text=text,
                source="seed003",
                labels={k: tuple(v) for k, v in labels.items()},
                raw_labels={k: tuple(v) for k, v in raw.items()},
                label_origin={k: "source" for k in labels},
                provenance={
                    "document": "Region Norrbotten, Återrapportering av villkorsbeslut 2022 (seed 003)",
                    "lines": list(row["source_lines"]),
                    "table": row.get("table"),
                    "via": "data/seed003-insatser.jsonl (hand-checked extraction)",
                    "text": "name, description and effects cells joined by blank lines",
                    "built_by": _BUILT_BY,
                },
                meta=_compact({
                    "section": section,
                    "owner": row.get("owner"),
                    "smart_specialisation": row.get("smart_specialisation"),
                    "rus_other": row.get("rus_other"),
                    "other_goals": row.get("other_goals"),
                    "note": row.get("note"),
                }),
            )
        )
    return records


def _compact(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if v not in (None, "", [], {})}


_PROJECT_HEAD = re.compile(r"^\s*•\s+(?P<title>.+?)\s+[–-]\s+(?P<status>[^–]+?)\s*$")


def parse_polaris_projects(text: str) -> list[PolarisProject]:
    """The bullet list of seed 004: ``• Title – Status`` then an indented description."""
    projects: list[PolarisProject] = []
    current: dict[str, Any] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        head = _PROJECT_HEAD.match(line)
        if head:
            if current:
                projects.append(PolarisProject(**current))
            current = {"title": head["title"], "status": head["status"], "text": "", "line": number}
        elif current and line.strip():
            current["text"] = (current["text"] + " " + line.strip()).strip()
    if current:
        projects.append(PolarisProject(**current))
    return projects


def _polaris_records(seed: Path, annotation_file: Path, framework: Framework) -> list[Record]:
    projects = parse_polaris_projects(seed.read_text(encoding="utf-8"))
    annotations = _load_annotations(annotation_file, framework, {p.title for p in projects})
    records = []
    for project in projects:
        slug = re.sub(r"[^a-z0-9]+", "-", _ascii(project.title.lower())).strip("-")
        note = annotations.get(project.title)
        labels = {POLARIS: tuple(note["goals"])} if note else {}
        text = f"{project.title}\n\n{project.text}" if project.text else project.title
        records.append(
            Record(
                id=f"seed004/{slug}",
                title=project.title,
                text=text,
                source="seed004",
                labels=labels,
                label_origin={POLARIS: str(note["annotator"])} if note else {},
                provenance=_compact({
                    "document": "Leader Polaris, Beviljade projekt (seed 004)",
                    "file": seed.name,
                    "line": project.line,
                    "label_reason": note["reason"] if note else None,
                    "built_by": _BUILT_BY,
                }),
                meta=_compact({"status": project.status, "text_missing": not project.text or None}),
            )
        )
    return records


def _ascii(text: str) -> str:
    return text.translate(str.maketrans("åäöéüÅÄÖ", "aaoeuAAO"))


def _load_annotations(path: Path, framework: Framework, titles: set[str]) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        logger.warning("%s: no annotation file; Polaris projects stay unlabelled", path)
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("framework") != framework.id or not isinstance(data.get("labels"), list):
        raise BuildError(f"{path}: expected a mapping with framework: {framework.id} and a list 'labels'")
    annotator = data.get("annotator") or "goalmatch maintainers"
    out: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(data["labels"]):
        where = f"{path}: labels[{i}]"
        if not isinstance(item, dict) or set(item) - {"project", "goals", "reason"}:
            raise BuildError(f"{where}: expected keys project, goals, reason")
        title = item.get("project")
        if title not in titles:
            raise BuildError(f"{where}: project {title!r} is not in seed 004")
        goals = item.get("goals")
        if not isinstance(goals, list) or not goals:
            raise BuildError(f"{where}: goals: expected a non-empty list of goal ids")
        for goal in goals:
            if goal not in framework.goal_ids:
                raise BuildError(f"{where}: goals: {goal!r} is not a goal of {framework.id}")
        if not item.get("reason"):
            raise BuildError(f"{where}: reason: say which words make the label unambiguous")
        out[title] = {"goals": goals, "reason": item["reason"], "annotator": annotator}
    return out
