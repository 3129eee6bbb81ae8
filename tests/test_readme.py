"""The Python examples of the README and of docs/*.md run (with the real encoder and the shipped model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def _run(path: Path) -> None:
    for block in _blocks(path):
        exec(compile(block, str(path), "exec"), {})


@pytest.mark.slow
def test_readme_python_blocks_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert _blocks(README), "the README has no Python example"
    _run(README)
    printed = capsys.readouterr().out
    assert "rus-" in printed
    assert "spira-" in printed


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in DOCS if _blocks(p)], ids=lambda p: p.name)
def test_docs_python_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the examples name files relative to the checkout, as the README's commands do
    _run(page)  # an example that raises fails the test
