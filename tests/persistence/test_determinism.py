"""Training twice on the same data gives byte-identical model folders (issue 7).

``goalmatch train`` runs twice, each in its own process with another ``PYTHONHASHSEED``
(so an unordered set or dict of strings would show), on the shipped frameworks and
corpora plus a small synthetic TRAIL22 file (so the extra-data path runs too), with the
:class:`~goalmatch.embed.encoder.FakeEncoder` standing in for the real encoder. Every file,
the manifest included, must be equal byte for byte.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from goalmatch._paths import corpora_dir
from goalmatch.model.matcher import Matcher
from goalmatch.persistence.folder import read_manifest

# the real encoder is replaced by the fake one inside the child process only
_TRAIN = ("import sys, goalmatch.embed.encoder as e; e.Encoder = e.FakeEncoder; "
          "from goalmatch.cli.main import main; sys.exit(main(sys.argv[1:]))")
_WORDS = ["water", "energy", "school", "forest", "city", "health", "work", "ocean", "climate", "food", "peace",
          "women", "industry", "poverty", "partnership", "consumption", "inequality"]


def _trail22(path: Path) -> Path:
    """A TRAIL22-shaped CSV: three English texts per SDG, one text on two SDGs' rows."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "source", "header", "text", "SDG"])
        n = 0
        for goal, word in enumerate(_WORDS, start=1):
            for k in range(3):
                n += 1
                writer.writerow([n, "UN", "", f"The programme improves {word} for people in region {k} "
                                               f"through local {word} projects and shared {word} plans.", goal])
        writer.writerow([n + 1, "UN", "", "The programme improves water for people in region 0 through local "
                                          "water projects and shared water plans.", 7])
    return path


def _train(cwd: Path, trail22: Path, hash_seed: str) -> Path:
    cwd.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env.pop("SOURCE_DATE_EPOCH", None)
    argv = ["train", "--frameworks", str(corpora_dir() / "frameworks"), "--data", str(corpora_dir() / "projects"),
            "--trail22", str(trail22), "--trail22-per-goal", "2", "--out", "model"]
    done = subprocess.run([sys.executable, "-c", _TRAIN, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return cwd / "model"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_training_twice_gives_byte_identical_model_files(tmp_path: Path) -> None:
    trail22 = _trail22(tmp_path / "Train_data.csv")
    first = _files(_train(tmp_path / "a", trail22, "1"))
    second = _files(_train(tmp_path / "b", trail22, "2"))
    assert sorted(first) == sorted(second)
    assert {"manifest.json", "README.md", "references.npy", "heads/agenda-2030.json"} <= set(first)
    differ = [rel for rel in first if first[rel] != second[rel]]
    assert differ == [], f"these files differ between two trainings on the same data: {differ}"
    manifest = json.loads(first["manifest.json"])
    assert manifest["created"] is None  # no wall clock unless SOURCE_DATE_EPOCH says so
    assert manifest["training_data"]["extra_records"] > 0 and manifest["training_data"]["adjusted_for_extra"]


def test_source_date_epoch_sets_the_build_time(toy_matcher: Matcher, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from goalmatch.errors import ModelError

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    toy_matcher.save(tmp_path / "a")
    toy_matcher.save(tmp_path / "b")
    assert read_manifest(tmp_path / "a")["created"] == "2023-11-14T22:13:20Z"
    assert "Built 2023-11-14T22:13:20Z by goalmatch" in (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ModelError, match="SOURCE_DATE_EPOCH: expected whole seconds since 1970, got 'yesterday'"):
        toy_matcher.save(tmp_path / "c")
    assert not (tmp_path / "c").exists()
