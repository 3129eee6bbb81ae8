"""Tests of goalmatch.persistence through Matcher.save / Matcher.load: round trips and every refusal (FakeEncoder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import goalmatch
from goalmatch.data.frameworks import Framework
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.errors import ModelError
from goalmatch.model.matcher import Matcher
from goalmatch.persistence.files import file_sha256
from goalmatch.persistence.folder import read_manifest, read_model, verify
from tests.toys import BREDBAND, GIBBERISH, PDF_BROKEN, RECORDS, framework_data, write_framework

TEXTS = [BREDBAND, PDF_BROKEN, GIBBERISH, "Teater och musik för barn och unga i byarna."]


# This module's own save of the toy matcher: the tests read back its metrics and sources, and
# one of them saves over it (overwrite=True) and back again.
@pytest.fixture(scope="module")
def saved(toy_matcher: Matcher, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_matcher.save(tmp_path_factory.mktemp("models") / "m", command="pytest", metrics={"note": "none"},
                            sources=[{"name": "Synthetic", "licence": "CC0"}])


@pytest.fixture()
def copy(saved: Path, tmp_path: Path) -> Path:
    """A fresh copy of the saved model to tamper with."""
    return Path(shutil.copytree(saved, tmp_path / "m"))


def _rewrite_manifest(folder: Path, change: Any) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _rehash(folder: Path, rel: str) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["files"][rel] = {"sha256": file_sha256(folder / rel), "size": (folder / rel).stat().st_size}

    _rewrite_manifest(folder, change)


# ------------------------------------------------------------------ round trip


def test_save_then_load_gives_identical_predictions(toy_matcher: Matcher, saved: Path) -> None:
    loaded = Matcher.load(saved)
    for fid in toy_matcher.heads:
        np.testing.assert_array_equal(loaded.predict_proba(TEXTS, framework=fid),
                                      toy_matcher.predict_proba(TEXTS, framework=fid))
    for text in TEXTS:
        assert loaded.suggest(text).to_dict() == toy_matcher.suggest(text).to_dict()
    head = loaded.heads["test"]
    assert head.framework_.content_hash == toy_matcher.heads["test"].framework_.content_hash
    assert head.encoder_ is loaded.encoder


def test_manifest_lists_every_file_with_hash_and_size(saved: Path, toy_matcher: Matcher) -> None:
    manifest = read_manifest(saved)
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    assert {"frameworks/test.yaml", "heads/test.json", "heads/test.prototypes.npy", "README.md"} <= files
    for rel, meta in manifest["files"].items():
        assert meta == {"sha256": file_sha256(saved / rel), "size": (saved / rel).stat().st_size}
    assert manifest["goalmatch_version"] == goalmatch.__version__
    assert manifest["encoder"]["id"] == "fake-64" and manifest["encoder"]["checksum"] == FakeEncoder().checksum
    assert {e["id"]: e["content_hash"] for e in manifest["frameworks"]} == {
        fid: clf.framework_.content_hash for fid, clf in toy_matcher.heads.items()
    }
    assert manifest["training_data"]["sha256"] == toy_matcher.info["training_data"]["sha256"]
    assert manifest["command"] == "pytest" and manifest["metrics"] == {"note": "none"}
    readme = (saved / "README.md").read_text(encoding="utf-8")
    assert "pytest" in readme and "## Synthetic" in readme and "licence: CC0" in readme


def test_arrays_are_plain_npy_and_heads_plain_json_naming_no_type(saved: Path) -> None:
    array = np.load(saved / "heads" / "test.prototypes.npy", allow_pickle=False)
    assert array.dtype == np.float32 and array.ndim == 2
    head = json.loads((saved / "heads" / "test.json").read_text(encoding="utf-8"))
    assert head["kind"] == "GoalClassifier" and head["params"]["framework"] == "test"
    assert head["fitted"]["coef_"] == {"array": "heads/test.coef.npy"}
    assert "__class__" not in json.dumps(head) and "sklearn" not in json.dumps(head)


def test_save_refuses_to_overwrite_and_leaves_no_temp_folders(toy_matcher: Matcher, saved: Path) -> None:
    with pytest.raises(ModelError, match="already exists"):
        toy_matcher.save(saved)
    toy_matcher.save(saved, overwrite=True, command="again")
    assert read_manifest(saved)["command"] == "again"
    assert [p.name for p in saved.parent.iterdir()] == ["m"]
    toy_matcher.save(saved, overwrite=True, command="pytest", metrics={"note": "none"},
         sources=[{"name": "Synthetic", "licence": "CC0"}])


def test_save_needs_framework_files(tmp_path: Path) -> None:
    fw = Framework.from_dict(framework_data())
    matcher = Matcher.train([fw], RECORDS, encoder=FakeEncoder())
    with pytest.raises(ModelError, match="framework test was not loaded from a file"):
        matcher.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ refusals


def test_tampered_head_is_refused(copy: Path) -> None:
    head = copy / "heads" / "test.json"
    data = bytearray(head.read_bytes())
    data[len(data) // 2] ^= 0xFF
    head.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"heads/test\.json: its sha256 or size differs from the manifest"):
        Matcher.load(copy)


def test_tampered_array_is_refused(copy: Path) -> None:
    arr = np.load(copy / "heads" / "test.prototypes.npy")
    np.save(copy / "heads" / "test.prototypes.npy", arr * 0.5)
    with pytest.raises(ModelError, match=r"test\.prototypes\.npy: its sha256 or size differs"):
        Matcher.load(copy)


def test_extra_file_is_refused(copy: Path) -> None:
    (copy / "heads" / "evil.json").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"heads/evil\.json: not listed in the manifest"):
        Matcher.load(copy)


def test_missing_file_is_refused(copy: Path) -> None:
    (copy / "references.npy").unlink()
    with pytest.raises(ModelError, match=r"references\.npy: listed in the manifest but missing"):
        Matcher.load(copy)


def test_missing_folder_and_manifest_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model folder there"):
        Matcher.load(tmp_path / "nothing")
    with pytest.raises(ModelError, match=r"manifest\.json: missing"):
        Matcher.load(tmp_path)


def test_framework_hash_mismatch_is_refused(copy: Path) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["frameworks"][0]["content_hash"] = "0" * 64

    _rewrite_manifest(copy, change)
    fid = read_manifest(copy)["frameworks"][0]["id"]
    with pytest.raises(ModelError, match=f"model trained for framework {fid} version 000000000000, the files have"):
        Matcher.load(copy)


def test_changed_framework_files_are_refused(saved: Path, tmp_path: Path, toy_frameworks: dict[str, Framework]) -> None:
    data = framework_data()
    data["goals"][0]["description"] += " Nu också satellit."
    write_framework(tmp_path, data)
    write_framework(tmp_path, framework_data(multi=True))
    with pytest.raises(ModelError, match=r"test\.yaml: model trained for framework test version"):
        Matcher.load(saved, frameworks=tmp_path)
    assert sorted(Matcher.load(saved, frameworks=toy_frameworks).heads) == ["test", "test-multi"]


@pytest.mark.parametrize("bad", ["../outside.npy", "/etc/passwd", "heads/../../x", "./heads/x.npy", "manifest.json"])
def test_paths_leaving_the_folder_are_refused(copy: Path, bad: str) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["files"][bad] = {"sha256": "0" * 64, "size": 1}

    _rewrite_manifest(copy, change)
    with pytest.raises(ModelError, match="leaves the model folder"):
        Matcher.load(copy)


def test_symlinks_are_refused(copy: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.npy"
    shutil.move(copy / "references.npy", target)
    os.symlink(target, copy / "references.npy")
    with pytest.raises(ModelError, match=r"references\.npy: a symbolic link"):
        Matcher.load(copy)


@pytest.mark.parametrize(("where", "value", "refusal"), [
    ("fitted", {"__class__": "LogisticRegression", "__module__": "sklearn.linear_model"}, "a value of a form"),
    ("fitted", {"array": "../references.npy"}, "not in heads/"),
    ("fitted", {"array": "heads/../references.npy"}, "leaves the model folder"),
    ("name", "__reduce__", "is not one a head has"),
    ("kind", "LogisticRegression", "not a goalmatch head"),
])
def test_a_head_holding_anything_but_plain_values_is_refused(copy: Path, where: str, value: object,
                                                             refusal: str) -> None:
    file = copy / "heads" / "test.json"
    head = json.loads(file.read_text(encoding="utf-8"))
    if where == "fitted":
        head["fitted"]["coef_"] = value
    elif where == "name":
        head["fitted"][value] = 1
    else:
        head["kind"] = value
    file.write_text(json.dumps(head), encoding="utf-8")
    _rehash(copy, "heads/test.json")
    with pytest.raises(ModelError, match=rf"heads/test\.json: .*{re.escape(refusal)}"):
        Matcher.load(copy)


def test_a_skops_head_of_an_older_goalmatch_is_refused_naming_it(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["frameworks"][0]["head"] = "heads/test.skops"
    (copy / "heads" / "test.json").rename(copy / "heads" / "test.skops")
    manifest["files"]["heads/test.skops"] = manifest["files"].pop("heads/test.json")
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match=r"test\.skops: a head of an older goalmatch .*retrain"):
        Matcher.load(copy)


def test_a_pickled_array_is_refused(copy: Path) -> None:
    rel = "heads/test.prototype_goal.npy"
    np.save(copy / rel, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _rehash(copy, rel)
    with pytest.raises(ModelError, match=r"test\.prototype_goal\.npy: not a plain numeric array"):
        Matcher.load(copy)


def test_another_encoder_is_refused(saved: Path) -> None:
    with pytest.raises(ModelError, match="built with encoder fake-64"):
        Matcher.load(saved, encoder=FakeEncoder(dim=32))


def test_verify_returns_the_manifest(saved: Path) -> None:
    assert verify(saved)["format"] == "goalmatch-model"


def test_goalmatch_load_without_a_path_reads_the_shipped_default(monkeypatch: pytest.MonkeyPatch, saved: Path,
                                                                   tmp_path: Path) -> None:
    shutil.copytree(saved, tmp_path / "default")
    monkeypatch.setenv("GOALMATCH_MODELS", str(tmp_path))
    assert sorted(goalmatch.load().heads) == ["test", "test-multi"]


def test_framework_yaml_in_the_model_is_a_copy(saved: Path, toy_frameworks: dict[str, Framework]) -> None:
    copied = yaml.safe_load((saved / "frameworks" / "test.yaml").read_text(encoding="utf-8"))
    assert copied == yaml.safe_load(Path(toy_frameworks["test"].path).read_text(encoding="utf-8"))  # type: ignore[arg-type]


def test_a_head_from_another_version_is_refused_naming_the_file(copy: Path) -> None:
    from goalmatch.model.classifier import GoalClassifier

    rel = "heads/test.json"
    head = json.loads((copy / rel).read_text(encoding="utf-8"))
    name = sorted(GoalClassifier().get_params())[-1]
    del head["params"][name]
    (copy / rel).write_text(json.dumps(head), encoding="utf-8")
    _rehash(copy, rel)
    with pytest.raises(ModelError, match=rf"heads/test\.json: the head lacks the parameter\(s\) {name} .*retrain"):
        Matcher.load(copy)


def test_read_model_gives_parts_that_the_matcher_assembles(saved: Path, toy_matcher: Matcher) -> None:
    parts = read_model(saved)
    assert sorted(parts.heads) == sorted(parts.frameworks) == ["test", "test-multi"]
    head = parts.heads["test"]
    assert head.params["framework"] == "test" and head.params["encoder"] is None
    assert "framework_" not in head.fitted and "encoder_" not in head.fitted
    assert parts.encoder.id == "fake-64" and parts.info["path"] == str(saved)
    assert parts.references["ids"] == toy_matcher.references.ids
    np.testing.assert_array_equal(parts.references["embeddings"], toy_matcher.references.embeddings)


def test_the_persistence_layer_loads_neither_the_model_layer_nor_scikit_learn() -> None:
    code = ("import sys, goalmatch.persistence.folder; "
            "print(sorted(m for m in ('goalmatch.model', 'sklearn', 'skops', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------------ crafted folders (issue 16, item 19)
# Each crashed with RecursionError, MemoryError or ValueError, or loaded and failed in suggest;
# each is now a ModelError naming the file. The bombs are small: the mechanism is the same.


def _deep_json(levels: int) -> str:
    return '{"format": "goalmatch-model", "x": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("levels", [100, 100_000])  # past the depth limit; past Python's recursion limit
def test_a_deeply_nested_manifest_is_refused_naming_it(copy: Path, levels: int) -> None:
    (copy / "manifest.json").write_text(_deep_json(levels), encoding="utf-8")
    with pytest.raises(ModelError, match=r"manifest\.json: JSON nested over 32 levels deep"):
        Matcher.load(copy)


@pytest.mark.parametrize("levels", [100, 100_000])
def test_deeply_nested_references_are_refused_naming_them(copy: Path, levels: int) -> None:
    (copy / "references.json").write_text(_deep_json(levels), encoding="utf-8")
    _rehash(copy, "references.json")
    with pytest.raises(ModelError, match=r"references\.json: JSON nested over 32 levels deep"):
        Matcher.load(copy)


@pytest.mark.parametrize("levels", [100, 100_000])
def test_a_deeply_nested_head_is_refused_naming_it(copy: Path, levels: int) -> None:
    (copy / "heads" / "test.json").write_text(_deep_json(levels), encoding="utf-8")
    _rehash(copy, "heads/test.json")
    with pytest.raises(ModelError, match=r"test\.json: JSON nested over 32 levels deep"):
        Matcher.load(copy)


def test_an_npy_header_claiming_more_than_the_file_holds_is_refused_before_allocating(copy: Path) -> None:
    from numpy.lib import format as npy_format

    rel = "heads/test.prototypes.npy"
    with (copy / rel).open("wb") as handle:  # 10**11 float32 claimed (373 GiB), 64 bytes held
        npy_format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (10**11,)})
        handle.write(bytes(64))
    _rehash(copy, rel)
    with pytest.raises(ModelError, match=r"test\.prototypes\.npy: not a plain numeric array \(its header claims "
                                         r"shape \(100000000000,\) of float32 \(400,000,000,000 bytes\)"):
        Matcher.load(copy)


@pytest.mark.parametrize("array", [np.array(["sdg-1", "sdg-2"]), np.array([b"ab"]), np.array([1 + 2j]),
                                   np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])])
def test_an_array_of_strings_or_records_is_refused_naming_it(copy: Path, array: np.ndarray) -> None:
    rel = "heads/test.prototype_goal.npy"
    np.save(copy / rel, array, allow_pickle=False)
    _rehash(copy, rel)
    with pytest.raises(ModelError, match=r"test\.prototype_goal\.npy: not a plain numeric array \(it holds .* "
                                         r"values, a model array holds numbers\)"):
        Matcher.load(copy)


@pytest.mark.parametrize("rel", ["references.npy", "heads/test.prototypes.npy", "heads/test.labelled.npy"])
def test_vectors_of_the_wrong_width_are_refused_at_load(copy: Path, rel: str) -> None:
    rows = len(np.load(copy / rel))
    np.save(copy / rel, np.zeros((rows, 32), dtype=np.float32))  # the encoder gives 64
    _rehash(copy, rel)
    with pytest.raises(ModelError, match=rf"{re.escape(rel)}: vectors of shape \({rows}, 32\), the encoder fake-64 "
                                         r"gives 64 wide"):
        Matcher.load(copy)
