"""The toy strategy frameworks and projects the tests train on (with the FakeEncoder: offline, fast).

Two toys, each shared by several test files through the fixtures of ``tests/conftest.py``:

* the toy (``toy_framework_dir``, ``toy_frameworks``, ``toy_matcher``): frameworks ``test``
  (single-label) and ``test-multi`` with three goals, an alias and a target, and six
  projects; the matcher, persistence, determinism, CLI and fuzzed-suggest tests;
* the batch toy (``batch_matcher``, ``batch_model_dir``): frameworks ``bt`` and ``bm`` with
  three plainer goals and four projects; the batch scoring and fault tests, whose
  assertions name these ids and files (``heads/bt.json`` …).

The review app's tests have a third, ``WEB_GOALS`` and ``WEB_RECORDS`` (fixtures in
``tests/web/conftest.py``): the toy's goals without the alias and target, five projects, and
a multi-label framework named "Test multi", which the app's pages are checked to show.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from goalmatch.data.corpus import Record

# ------------------------------------------------------------------ the toy: test and test-multi

GOALS: list[dict[str, Any]] = [
    {
        "id": "t-bredband", "name": "Bredband och digital infrastruktur",
        "description": "Utbyggnad av bredband, fiber och mobilnät så att hushåll och företag får snabb uppkoppling.",
        "examples": ["fiber till byarna", "bredband på landsbygden", "mobiltäckning och digital uppkoppling"],
        "aliases": ["Digital infrastruktur"],
    },
    {
        "id": "t-kultur", "name": "Kultur och fritid",
        "description": "Musik, teater, konst och bibliotek för barn, unga och äldre i hela området.",
        "examples": ["musikfestival och teater", "kulturhus och bibliotek", "konst och dans för barn och unga"],
    },
    {
        "id": "t-foretag", "name": "Företagande och innovation",
        "description": "Fler nya företag, entreprenörskap, innovation och export i små och medelstora företag.",
        "examples": ["nya företag och entreprenörer", "innovation och produktutveckling", "export och tillväxt"],
        "children": [{"id": "t-foretag.1", "name": "Rådgivning till företag",
                      "description": "Rådgivning, coachning och affärsstöd till nystartade företag."}],
    },
]

RECORDS = [
    Record("p/fiber", "Fiberutbyggnad i byarna så att hushållen får bredband.", "test",
           {"test": ("t-bredband",), "test-multi": ("t-bredband", "t-foretag")}, title="Fiber i byarna"),
    Record("p/mobil", "Bättre mobiltäckning och uppkoppling längs vägarna på landsbygden.", "test",
           {"test": ("t-bredband",)}, title="Mobilnät"),
    Record("p/teater", "Teaterföreställningar och musik för barn och unga i byarna.", "test",
           {"test": ("t-kultur", "t-foretag"), "test-multi": ("t-kultur",)}, title="Teater för unga"),
    Record("p/export", "Stöd till små företag som vill börja exportera sina produkter.", "test",
           {"test": ("t-foretag",)}, title="Exportlyftet"),
    Record("p/bibliotek", "Ett nytt bibliotek och kulturhus med konst och dans.", "test", {}, title="Kulturhuset"),
    Record("p/inkubator", "En inkubator för entreprenörer och nya företag med innovation.", "test", {}),
]

BREDBAND = (
    "Fiber till Soutujärvi\n\nProjektet bygger fiber och bredband till byarna. Hushållen får snabb "
    "uppkoppling och bättre mobiltäckning.  Företagen   i byn kan sälja på nätet."
)
PDF_BROKEN = (
    "Projektet ska o ka kompetensfo rso rjningen i la net genom samverkan mellan fo retag.\n"
    "Vi bygger fiber och bredband till byarna sa  att hushÅllen fa r snabb uppkoppling."
)
GIBBERISH = "qxzv plrk wmbt zzyq grrk vvlp mmtx krrb qoop"


def framework_data(multi: bool = False) -> dict[str, Any]:
    """The toy framework ``test`` (or ``test-multi``) as a fresh dict, free to change."""
    return {
        "id": "test-multi" if multi else "test", "name": "Test" + (" (multi)" if multi else ""),
        "language": "sv", "multi_label": multi, "source": {"document": "synthetic"}, "goals": copy.deepcopy(GOALS),
    }


def write_framework(folder: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as ``folder/<id>.yaml`` (the folder is made when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{data['id']}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


# ------------------------------------------------------------------ the batch toy: bt and bm

BATCH_GOALS = [
    {"id": "b-bredband", "name": "Bredband", "description": "Bredband, fiber och mobilnät till hushåll och företag.",
     "examples": ["fiber till byarna", "bredband på landsbygden"]},
    {"id": "b-kultur", "name": "Kultur", "description": "Musik, teater och bibliotek för barn och unga.",
     "examples": ["musikfestival och teater", "kulturhus och bibliotek"]},
    {"id": "b-foretag", "name": "Företagande", "description": "Nya företag, entreprenörskap och export.",
     "examples": ["nya företag och entreprenörer", "export och tillväxt"]},
]
BATCH_RECORDS = [
    Record("p/fiber", "Fiberutbyggnad i byarna så att hushållen får bredband.", "t", {"bt": ("b-bredband",)}),
    Record("p/teater", "Teaterföreställningar och musik för barn och unga i byarna.", "t", {"bt": ("b-kultur",)}),
    Record("p/export", "Stöd till små företag som vill börja exportera sina produkter.", "t", {"bt": ("b-foretag",)}),
    Record("p/bibliotek", "Ett nytt bibliotek och kulturhus med konst och dans.", "t", {}),
]
BATCH_TEXTS = [
    "Vi bygger fiber och bredband till byarna så att hushållen får snabb uppkoppling.",
    "Projektet ordnar teater, musik och dans för barn och unga i bygdegården.",
    "Nya företag får rådgivning om export och tillväxt. Entreprenörer möts i en inkubator.",
    "Föreningen rustar bygdegården och ordnar kurser i slöjd för äldre och unga.",
]


def write_batch_frameworks(folder: Path) -> Path:
    """The batch toy's frameworks ``bt`` (single-label) and ``bm`` (multi-label) as files in ``folder``."""
    for fid, multi in (("bt", False), ("bm", True)):
        data = {"id": fid, "name": fid.upper(), "language": "sv", "multi_label": multi,
                "source": {"document": "synthetic"}, "goals": BATCH_GOALS}
        (folder / f"{fid}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


# ------------------------------------------------------------------ the review app's toy: test and test-multi

WEB_GOALS: list[dict[str, Any]] = [
    {"id": "t-bredband", "name": "Bredband och digital infrastruktur",
     "description": "Utbyggnad av bredband, fiber och mobilnät så att hushåll och företag får snabb uppkoppling.",
     "examples": ["fiber till byarna", "bredband på landsbygden", "mobiltäckning och digital uppkoppling"]},
    {"id": "t-kultur", "name": "Kultur och fritid",
     "description": "Musik, teater, konst och bibliotek för barn, unga och äldre i hela området.",
     "examples": ["musikfestival och teater", "kulturhus och bibliotek", "konst och dans för barn och unga"]},
    {"id": "t-foretag", "name": "Företagande och innovation",
     "description": "Fler nya företag, entreprenörskap, innovation och export i små och medelstora företag.",
     "examples": ["nya företag och entreprenörer", "innovation och produktutveckling", "export och tillväxt"]},
]
WEB_RECORDS = [
    Record("p/fiber", "Fiberutbyggnad i byarna så att hushållen får bredband.", "test",
           {"test": ("t-bredband",), "test-multi": ("t-bredband", "t-foretag")}, title="Fiber i byarna"),
    Record("p/mobil", "Bättre mobiltäckning och uppkoppling längs vägarna på landsbygden.", "test",
           {"test": ("t-bredband",)}, title="Mobilnät"),
    Record("p/teater", "Teaterföreställningar och musik för barn och unga i byarna.", "test",
           {"test": ("t-kultur",), "test-multi": ("t-kultur",)}, title="Teater för unga"),
    Record("p/export", "Stöd till små företag som vill börja exportera sina produkter.", "test",
           {"test": ("t-foretag",)}, title="Exportlyftet"),
    Record("p/bibliotek", "Ett nytt bibliotek och kulturhus med konst och dans.", "test", {}, title="Kulturhuset"),
]


def write_web_frameworks(folder: Path) -> Path:
    """The review app's toy frameworks ``test`` and ``test-multi`` ("Test multi") as files in ``folder``."""
    for multi in (False, True):
        data = {"id": "test-multi" if multi else "test", "name": "Test multi" if multi else "Test", "language": "sv",
                "multi_label": multi, "source": {"document": "synthetic"}, "goals": WEB_GOALS}
        (folder / f"{data['id']}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder
