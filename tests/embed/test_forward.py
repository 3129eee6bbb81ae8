"""The direct forward pass (goalmatch.embed.forward) and late chunking (Encoder.encode_spans).

Fast tests run on a tiny random BERT folder written here; the tests marked ``slow`` run
the real multilingual-e5-small and compare with sentence-transformers.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from goalmatch.embed import forward, tokens
from goalmatch.embed.encoder import Encoder, FakeEncoder
from goalmatch.errors import EncoderError

HIDDEN, HEADS, LAYERS, INNER, VOCAB, POSITIONS = 8, 2, 2, 16, 50, 32


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def _tiny_bert(folder: Path, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = {
        "embeddings.word_embeddings.weight": rng.normal(size=(VOCAB, HIDDEN)),
        "embeddings.position_embeddings.weight": rng.normal(size=(POSITIONS, HIDDEN)),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, HIDDEN)),
        "embeddings.LayerNorm.weight": 1 + 0.1 * rng.normal(size=HIDDEN),
        "embeddings.LayerNorm.bias": 0.1 * rng.normal(size=HIDDEN),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            w[f"{p}attention.self.{name}.weight"] = rng.normal(size=(HIDDEN, HIDDEN)) / 3
            w[f"{p}attention.self.{name}.bias"] = 0.1 * rng.normal(size=HIDDEN)
        shapes = {"attention.output.dense": (HIDDEN, HIDDEN), "intermediate.dense": (INNER, HIDDEN),
                  "output.dense": (HIDDEN, INNER)}
        for name, shape in shapes.items():
            w[f"{p}{name}.weight"] = rng.normal(size=shape) / 3
            w[f"{p}{name}.bias"] = 0.1 * rng.normal(size=shape[0])
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[f"{p}{name}.weight"] = 1 + 0.1 * rng.normal(size=HIDDEN)
            w[f"{p}{name}.bias"] = 0.1 * rng.normal(size=HIDDEN)
    w = {k: np.asarray(v, dtype=np.float32) for k, v in w.items()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "hidden_act": "gelu", "hidden_size": HIDDEN, "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS, "intermediate_size": INNER, "max_position_embeddings": POSITIONS,
        "layer_norm_eps": 1e-12, "pad_token_id": 1}))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    _write_safetensors(folder / forward.WEIGHTS_FILE, w)
    return w


def _reference(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """BERT written out plainly in float64, one head at a time, with math.erf."""
    def ln(x: np.ndarray, name: str) -> np.ndarray:
        x = x - x.mean(-1, keepdims=True)
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-12) * w[name + ".weight"] + w[name + ".bias"]

    def lin(x: np.ndarray, name: str) -> np.ndarray:
        return x @ w[name + ".weight"].T.astype(np.float64) + w[name + ".bias"]

    t = len(ids)
    x = ln(w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
           + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    d = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q, k, v = (lin(x, f"{p}attention.self.{n}") for n in ("query", "key", "value"))
        heads = []
        for h in range(HEADS):
            cols = slice(h * d, (h + 1) * d)
            s = q[:, cols] @ k[:, cols].T / math.sqrt(d)
            a = np.exp(s - s.max(1, keepdims=True))
            heads.append((a / a.sum(1, keepdims=True)) @ v[:, cols])
        x = ln(lin(np.hstack(heads), f"{p}attention.output.dense") + x, f"{p}attention.output.LayerNorm")
        mid = lin(x, f"{p}intermediate.dense")
        mid = 0.5 * mid * (1 + np.vectorize(math.erf)(mid / math.sqrt(2)))
        x = ln(lin(mid, f"{p}output.dense") + x, f"{p}output.LayerNorm")
    return x


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("tiny-bert")
    return folder, _tiny_bert(folder)


@pytest.mark.parametrize("kind", [forward.NumpyBert, forward.TorchBert])
def test_the_forward_pass_is_bert_as_written_out(tiny: tuple[Path, dict[str, np.ndarray]], kind: type) -> None:
    folder, w = tiny
    model = kind(folder)
    rows = [[0, 5, 9, 2], [0, 7, 11, 13, 17, 19, 2]]
    ids = np.ones((2, 7), dtype=np.int64)
    mask = np.zeros((2, 7), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    states = model(ids, mask)
    for i, row in enumerate(rows):  # padding changes nothing in the real tokens
        np.testing.assert_allclose(states[i, : len(row)], _reference(w, row), atol=2e-5)


def test_gelu_matches_erf_to_float32_resolution() -> None:
    x = np.linspace(-8, 8, 20001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    assert np.abs(forward._gelu(x.copy()) - exact).max() < 2e-6


def test_a_crafted_safetensors_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    with pytest.raises(EncoderError, match="not a safetensors file"):
        forward.read_safetensors(path)
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(EncoderError, match="'w' lies outside the file"):
        forward.read_safetensors(path)
    header = json.dumps({"w": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(EncoderError, match="non-float32"):
        forward.read_safetensors(path)


def test_a_folder_that_is_no_plain_bert_is_refused(tiny: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    folder = tmp_path / "cls"
    _tiny_bert(folder)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(EncoderError, match="BERT with GELU and mean pooling only"):
        forward.NumpyBert(folder)


def test_one_model_per_key_per_process() -> None:
    made: list[int] = []
    key = ("test", id(made))
    first = forward.shared_model(key, lambda: made.append(1) or object())
    assert forward.shared_model(key, lambda: made.append(2) or object()) is first
    assert made == [1] and forward.is_loaded(key)


def test_spans_pool_the_tokens_they_overlap() -> None:
    states = np.arange(12, dtype=np.float32).reshape(6, 2)
    offsets = np.array([[0, 0], [-1, 3], [4, 7], [7, 9], [10, 12], [0, 0]])  # <s>, 3 words and a half, </s>
    pooled = tokens.pool_spans(states, offsets, [(0, 3), (4, 9), (8, 12), (20, 25)])
    np.testing.assert_allclose(pooled[:3], [states[1], states[2:4].mean(0), states[3:5].mean(0)])
    assert np.isnan(pooled[3]).all()  # beyond the tokens: the caller encodes it alone


def test_spans_are_checked_naming_the_text_and_span() -> None:
    with pytest.raises(ValueError, match=r"spans\[0\]\[1\] = \(3, 2\) is not a non-empty span"):
        FakeEncoder().encode_spans(["Fiber i byn"], [[(0, 5), (3, 2)]])
    with pytest.raises(ValueError, match="2 lists for 1 texts"):
        FakeEncoder().encode_spans(["Fiber i byn"], [[], []])


def test_without_late_chunking_a_span_is_encoded_as_its_own_text() -> None:
    enc = FakeEncoder()
    docs, parts = enc.encode_spans(["Fiber i byn. Teater för unga.", "Kort."], [[(0, 12), (13, 29)], []])
    np.testing.assert_allclose(docs, enc.encode(["Fiber i byn. Teater för unga.", "Kort."]))
    np.testing.assert_allclose(parts[0], enc.encode(["Fiber i byn.", "Teater för unga."]))
    assert parts[1].shape == (0, enc.dim)


# ------------------------------------------------------------ the real model

TEXTS = [
    "Projektet bygger ut fiber och mobiltäckning i byarna kring Soutujärvi.",
    "Föreningen ordnar sommarläger för barn och unga i Älvsbyn. Lägret är gratis. Alla är välkomna!",
    "Ett språkcafé för nyanlända kvinnor, två kvällar i veckan i bygdegården.",
]


@pytest.mark.slow
def test_real_backends_agree_with_sentence_transformers() -> None:
    long_text = " ".join(TEXTS * 40)  # over 512 tokens: truncated as the tokenizer truncates
    texts = [*TEXTS, long_text]
    reference = Encoder()._st().encode(["query: " + t for t in texts], normalize_embeddings=True)
    for backend in ("numpy", "torch", "auto"):
        X = Encoder(backend=backend).encode(texts)
        assert (X * reference).sum(axis=1).min() > 0.99999, backend
    assert Encoder().count_tokens(long_text) > 512


@pytest.mark.slow
def test_real_late_chunking_gives_the_text_vector_for_the_whole_text_and_close_sentence_vectors() -> None:
    enc = Encoder(backend="numpy")
    text = TEXTS[1]
    spans = [(0, 57), (58, 74), (75, len(text)), (0, len(text))]
    docs, parts = enc.encode_spans([text], [spans])
    alone = enc.encode([text[a:b] for a, b in spans])
    np.testing.assert_allclose(docs, enc.encode([text]), atol=1e-6)
    cosines = (parts[0] * alone).sum(axis=1)
    assert cosines.min() > 0.8 and float(parts[0][3] @ docs[0]) > 0.99  # the whole text's tokens minus <s>, </s>


@pytest.mark.slow
def test_real_spans_beyond_the_window_are_encoded_alone() -> None:
    enc = Encoder(backend="numpy", max_tokens=16)
    text = TEXTS[0] + " " + TEXTS[2]
    start = len(TEXTS[0]) + 1
    _, parts = enc.encode_spans([text], [[(start, len(text))]])
    np.testing.assert_allclose(parts[0][0], enc.encode([TEXTS[2]])[0], atol=1e-6)


@pytest.mark.slow
def test_real_one_suggestion_never_imports_torch_or_sentence_transformers() -> None:
    code = ("import sys, goalmatch; m = goalmatch.load(); m.suggest('Fiber och mobiltäckning i byarna kring "
            "Soutujärvi, med ett servicekontor för föreningarna.'); "
            "print(sorted(k for k in ('torch', 'sentence_transformers', 'transformers', 'spacy', 'skops') "
            "if k in sys.modules))")
    # the first process on a fresh machine builds the encoder folder and the lemma table (torch, spaCy);
    # every later one only reads them
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "[]"
