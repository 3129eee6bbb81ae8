"""ONNX Runtime backends of multilingual-e5-small, built locally from the same weights.

``Encoder(backend="onnx-int8")`` (or ``"onnx"``) runs the model with ONNX Runtime instead
of torch. The ONNX file is made once, at first use, from the rebuilt torch folder (see
:func:`goalmatch.embed.e5build.ensure_e5_small`): exported with ``torch.onnx.export``, its
attention, GELU and LayerNorm fused by ONNX Runtime's transformer optimiser, and for
``onnx-int8`` its weights quantised to int8 per output channel (dynamic quantisation:
activations are quantised on the fly). It is cached beside the torch build in
``cache_root()/encoders/multilingual-e5-small-<backend>-<16 hex of the source sha256>/``
with a ``goalmatch-build.json`` listing the sha256 of every file, written beside the
final folder and renamed into place, and re-checked once per process like the torch build.

Tokeniser (the build's ``tokenizer.json``), mean pooling over the attention mask and L2
normalisation are those of the torch encoder. Needs the ``onnx`` extra
(``pip install 'goalmatch[onnx]'``: onnxruntime and onnx); this module imports neither
until a model is built or run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch._io import publish_dir
from goalmatch._paths import cache_root
from goalmatch.embed import builds
from goalmatch.embed import e5build as _e5build

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
"""``torch``: sentence-transformers on torch; ``onnx``: ONNX Runtime, float32; ``onnx-int8``: int8 weights."""
EXPORT_FORMAT = 1
"""Bump when the built ONNX folder changes; older cached builds are then rebuilt (and checksums change)."""
MODEL_FILE = "model.onnx"
OPSET = 17


def encoder_id(backend: str) -> str:
    """The encoder id recorded in model manifests: ``multilingual-e5-small`` or ``multilingual-e5-small-<backend>``."""
    return _e5build.MODEL_NAME if backend == "torch" else f"{_e5build.MODEL_NAME}-{backend}"


def checksum(source_sha256: str, backend: str) -> str:
    """sha256 naming an ONNX backend's vectors: of its recipe (format, backend) and the weights' source file.

    Computed without building anything, so embedding caches keyed by it never mix the
    vectors of two backends, nor those of an older export recipe.
    """
    return hashlib.sha256(f"goalmatch-onnx:{EXPORT_FORMAT}:{backend}:{source_sha256}".encode()).hexdigest()


def require() -> Any:
    """The ``onnxruntime`` module, or an ``ImportError`` naming the extra to install."""
    try:
        import onnx  # noqa: F401  (needed to build: the optimiser and the quantiser read it)
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            f"Encoder(backend='onnx' or 'onnx-int8') needs ONNX Runtime ({exc.name} is not installed): "
            "pip install 'goalmatch[onnx]'"
        ) from exc
    return onnxruntime


# -------------------------------------------------------------------- building


def folder(backend: str, source_sha256: str) -> Path:
    """Where the cached build of ``backend`` for this source lives."""
    return cache_root() / "encoders" / f"{_e5build.MODEL_NAME}-{backend}-{source_sha256[:16]}"


def ensure_onnx(backend: str, source: str | Path | None = None) -> Path:
    """The cached ONNX folder of ``backend`` (``onnx`` or ``onnx-int8``), built on first use.

    Its ``goalmatch-build.json`` is re-checked once per process; a missing, corrupt or
    outdated build is rebuilt from the torch folder (itself built first if needed).
    """
    if backend not in BACKENDS[1:]:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS[1:]))}, got {backend!r}")
    src = Path(source) if source is not None else _e5build.default_source()
    sha = builds.source_sha256(src)

    def build(dest: Path) -> None:
        require()
        build_onnx(_e5build.ensure_e5_small(src), dest, backend, sha)

    return builds.ensure_built(folder(backend, sha), sha, lambda path: check_build(path, backend, sha), build,
                               f"the {backend} encoder")


def build_onnx(torch_folder: str | Path, dest: str | Path, backend: str, source_sha256: str) -> Path:
    """Export the sentence-transformers folder ``torch_folder`` to ONNX into empty ``dest``.

    Written beside ``dest`` and renamed into place, so a reader never sees half a build.
    Takes about a minute and 2 GB of memory on 2 cores; the ``onnx-int8`` folder is about
    120 MB, the float32 one about 470 MB.
    """

    ort = require()
    source, dest = Path(torch_folder), Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"cannot build into {dest}: it exists and is not an empty folder")
    with publish_dir(dest) as tmp:
        work = tmp / "work"
        work.mkdir()
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        exported = _export(source, work / "export.onnx")
        fused = _fuse(exported, work / "fused.onnx", config)
        if backend == "onnx-int8":
            _quantize(fused, tmp / MODEL_FILE)
        else:
            os.replace(fused, tmp / MODEL_FILE)
        shutil.rmtree(work)
        shutil.copyfile(source / "tokenizer.json", tmp / "tokenizer.json")
        files = {p.name: builds.file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        import torch

        manifest = {
            "build_format": EXPORT_FORMAT, "model": _e5build.MODEL_NAME, "backend": backend,
            "source": {"sha256": source_sha256}, "files": files,
            "pad_token_id": int(config.get("pad_token_id") or 0),
            "tools": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        }
        (tmp / builds.BUILD_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                                   encoding="utf-8")
    logger.info("Built the %s encoder from %s into %s", backend, source, dest)
    return dest


def check_build(path: Path, backend: str, source_sha256: str) -> str | None:
    """Why ``path`` is not a good build of ``backend`` from this source, or ``None`` if it is."""
    return builds.check_manifest(path, source_sha256, EXPORT_FORMAT, (MODEL_FILE, "tokenizer.json"), backend=backend)


def _export(source: Path, out: Path) -> Path:
    """``torch.onnx.export`` of the BERT body: (input_ids, attention_mask) -> last_hidden_state."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), local_files_only=True, attn_implementation="eager").eval()

    class Body(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.tensor([[0, 10, 11, 12, 2], [0, 13, 2, 1, 1]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            Body(), (ids, mask), str(out), input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )
    return out


def _fuse(model: Path, out: Path, config: dict[str, Any]) -> Path:
    """ONNX Runtime's BERT fusions (attention, bias-GELU, skip-LayerNorm, embedding LayerNorm)."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(model), model_type="bert", num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]), opt_level=1,
    )
    optimized.save_model_to_file(str(out))
    return out


def _quantize(model: Path, out: Path) -> Path:
    """Dynamic int8 quantisation of the weights, per output channel."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(model), str(out), weight_type=QuantType.QInt8, per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # the fused ops carry no inferred types
    )
    return out


# --------------------------------------------------------------------- running


class OnnxModel:
    """A loaded ONNX build: its tokenizer and an ONNX Runtime session (CPU)."""

    def __init__(self, path: Path, max_tokens: int) -> None:
        ort = require()
        from tokenizers import Tokenizer

        manifest = json.loads((path / builds.BUILD_MANIFEST).read_text(encoding="utf-8"))
        self.pad_id = int(manifest.get("pad_token_id", 0))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path / MODEL_FILE), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int, normalize: bool) -> np.ndarray:
        """Mean-pooled (and optionally L2-normalised) float32 vectors; batches of similar length."""
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            if out is None:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
        assert out is not None
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out
