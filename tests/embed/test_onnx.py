"""Tests of the ONNX Runtime encoder backends (goalmatch.embed.onnx, ``Encoder(backend=...)``).

Fast tests export the tiny synthetic E5S1 model of test_encoder (2 layers, 32 wide) and
compare ONNX Runtime with sentence-transformers on it; the ``slow`` test builds the real
multilingual-e5-small int8 model into a temporary cache and checks its fidelity.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from goalmatch.embed import builds
from goalmatch.embed import onnx as _onnx
from goalmatch.embed.cache import EmbeddingCache
from goalmatch.embed.e5build import build_e5_small
from goalmatch.embed.encoder import Encoder

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tests.embed.test_encoder import write_tiny_e5

SWEDISH = [
    "Projektet bygger ut bredband på landsbygden så att företag och hushåll får snabb uppkoppling.",
    "Kurser i svenska för nyanlända i Haparanda.",
    "En festival med musik och teater för unga i byarna, med en ny scen i bygdegården.",
    "Fiber.",
]


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builds, "_verified", set())


# ------------------------------------------------------------------ parameters, ids, extra


def test_backends_have_their_own_id_and_checksum() -> None:
    torch_enc, fp32, int8 = Encoder(), Encoder(backend="onnx"), Encoder(backend="onnx-int8")
    assert torch_enc.id == "multilingual-e5-small"
    assert fp32.id == "multilingual-e5-small-onnx" and int8.id == "multilingual-e5-small-onnx-int8"
    assert len({torch_enc.checksum, fp32.checksum, int8.checksum}) == 3
    assert int8.checksum == Encoder(backend="onnx-int8").checksum  # stable: nothing built to know it


def test_backend_is_a_plain_parameter() -> None:
    est = Encoder(backend="onnx-int8", batch_size=8)
    assert clone(est).get_params()["backend"] == "onnx-int8"
    # what it loads is shared by the process (goalmatch.embed.forward.shared_model), never kept on the estimator
    assert set(pickle.loads(pickle.dumps(est)).__dict__) == set(est.get_params())
    with pytest.raises(ValueError, match="backend must be one of"):
        Encoder(backend="tensorrt").fit()
    with pytest.raises(ValueError, match="multilingual-e5-small only"):
        Encoder(model="/some/folder", backend="onnx").fit()


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOALMATCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'goalmatch\[onnx\]'"):
        Encoder(backend="onnx-int8").transform(["Fiber till byarna"])
    assert list(tmp_path.iterdir()) == []  # nothing was built before the error
    assert Encoder(backend="onnx-int8").encode([]).shape == (0, 384)  # nothing to encode: no runtime needed


def test_embedding_caches_of_two_backends_never_mix(tmp_path: Path) -> None:
    torch_cache = EmbeddingCache(Encoder(), tmp_path)
    torch_cache.memo = {"k": np.ones(384, dtype=np.float32)}
    torch_cache.save()
    int8_cache = EmbeddingCache(Encoder(backend="onnx-int8"), tmp_path)
    assert int8_cache.path != torch_cache.path and int8_cache.memo == {}
    assert EmbeddingCache(Encoder(), tmp_path).memo.keys() == {"k"}


# ------------------------------------------------------------------ the tiny model, exported


@pytest.fixture(scope="module")
def tiny_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-onnx")
    source = write_tiny_e5(root / "tiny-q4.bin")
    torch_folder = build_e5_small(root / "torch", source)
    sha = builds.source_sha256(source)
    folders = {"torch": torch_folder}
    for backend in ("onnx", "onnx-int8"):
        folders[backend] = _onnx.build_onnx(torch_folder, root / backend, backend, sha)
    return folders


def _st_vectors(folder: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return np.asarray(st.encode(texts, normalize_embeddings=True), dtype=np.float32)


def test_tiny_export_matches_sentence_transformers(tiny_builds: dict[str, Path]) -> None:
    texts = ["bredband på landsbygden", "byar", "bredband", "landsbygden bredband på byar en"]
    reference = _st_vectors(tiny_builds["torch"], texts)
    fp32 = _onnx.OnnxModel(tiny_builds["onnx"], max_tokens=16).encode(texts, batch_size=3, normalize=True)
    np.testing.assert_allclose(fp32, reference, atol=1e-5)  # same tokens, pooling and normalisation
    int8 = _onnx.OnnxModel(tiny_builds["onnx-int8"], max_tokens=16).encode(texts, batch_size=3, normalize=True)
    assert int8.dtype == np.float32 and int8.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, rtol=1e-5)
    import onnx  # random tiny weights say nothing of int8 fidelity (the slow test checks it); check the graph

    ops = {node.op_type for node in onnx.load(str(tiny_builds["onnx-int8"] / "model.onnx")).graph.node}
    assert ops & {"DynamicQuantizeMatMul", "MatMulInteger", "QAttention"}, ops


def test_tiny_build_is_checked_and_refused_when_tampered(tiny_builds: dict[str, Path], tmp_path: Path) -> None:
    build = tiny_builds["onnx-int8"]
    manifest = json.loads((build / "goalmatch-build.json").read_text(encoding="utf-8"))
    sha = manifest["source"]["sha256"]
    assert set(manifest["files"]) == {"model.onnx", "tokenizer.json"}
    assert not any(p.name.startswith(".") for p in build.parent.iterdir())  # no temp folder left behind
    assert _onnx.check_build(build, "onnx-int8", sha) is None
    assert "backend" in str(_onnx.check_build(build, "onnx", sha))
    assert "source" in str(_onnx.check_build(build, "onnx-int8", "0" * 64))
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in build.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    (copy / "model.onnx").write_bytes((copy / "model.onnx").read_bytes()[:-1] + b"\0")
    assert "model.onnx does not match" in str(_onnx.check_build(copy, "onnx-int8", sha))
    with pytest.raises(FileExistsError):
        _onnx.build_onnx(tiny_builds["torch"], copy, "onnx-int8", sha)


def test_ensure_onnx_builds_once_into_the_cache(tiny_builds: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOALMATCH_CACHE_DIR", str(tmp_path))
    source = write_tiny_e5(tmp_path / "tiny-q4.bin")
    calls: list[str] = []
    real_build = _onnx.build_onnx

    def counted(*args: object) -> Path:
        calls.append(str(args[2]))
        return real_build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_onnx, "build_onnx", counted)
    path = _onnx.ensure_onnx("onnx-int8", source)
    assert path == _onnx.folder("onnx-int8", builds.source_sha256(source)) and (path / "model.onnx").is_file()
    monkeypatch.setattr(builds, "_verified", set())
    assert _onnx.ensure_onnx("onnx-int8", source) == path and calls == ["onnx-int8"]  # verified, not rebuilt
    (path / "tokenizer.json").write_text("{}", encoding="utf-8")  # corrupt: rebuilt on next use
    monkeypatch.setattr(builds, "_verified", set())
    assert _onnx.ensure_onnx("onnx-int8", source) == path and calls == ["onnx-int8", "onnx-int8"]


# ------------------------------------------------------------------ the real model (slow)


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOALMATCH_CACHE_DIR", str(root))
        mp.setattr(builds, "_verified", set())
        _onnx.ensure_onnx("onnx-int8")
        yield root


@pytest.mark.slow  # builds e5-small and its int8 export: about a minute on 2 cores
def test_real_int8_is_close_to_float32(real_cache: Path) -> None:
    reference = Encoder().encode(SWEDISH)
    int8 = Encoder(backend="onnx-int8")
    vectors = int8.encode(SWEDISH)
    assert vectors.shape == (len(SWEDISH), 384) and vectors.dtype == np.float32
    cos = np.sum(vectors * reference, axis=1)
    assert cos.min() > 0.98, cos
    assert int8.count_tokens(SWEDISH[0]) == Encoder().count_tokens(SWEDISH[0])
    sims = vectors @ vectors.T
    assert sims[0, 3] > sims[1, 3]  # "Fiber." is nearer broadband than Swedish courses
