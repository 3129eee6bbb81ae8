"""The newcomer's notebook runs top to bottom (quick configuration: a small evaluation with a fake encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "evaluation.ipynb"


@pytest.mark.slow  # loads the shipped model and the real encoder for the suggestions
def test_the_notebook_runs_and_reproduces_the_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert cells, "the notebook has no code"
    monkeypatch.setenv("GOALMATCH_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("GOALMATCH_NOTEBOOK_OUT", str(tmp_path / "report"))
    monkeypatch.chdir(NOTEBOOK.parent)  # as Jupyter runs it
    namespace: dict[str, object] = {}
    for i, source in enumerate(cells):
        exec(compile(source, f"{NOTEBOOK.name} cell {i}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "== bredband" in printed and "rus-norrbotten-2030" in printed
    assert "ingen säker träff" in printed  # the recipe is off-topic everywhere
    assert "| goalmatch |" in printed
    for name in ("metrics.json", "report.md", "reliability.png", "abstention.png", "learning_curve.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
