"""A saved model is a folder of safe, explicit files, checked before anything is read.

::

    manifest.json                    versions, encoder, frameworks and their hashes, training data,
                                     metrics, sources, the command that built it, sha256 + size of
                                     every other file
    README.md                        what the model is, how it was built, attribution
    frameworks/<id>.yaml             the strategy frameworks it was trained for (self-contained)
    heads/<id>.json                  each GoalClassifier's parameters and small fitted values
                                     (classes_, intercept_, prototype_kinds_ …) as plain JSON
    heads/<id>.<array>.npy           its fitted arrays: coef, thresholds, prototypes, labelled …
    references.json, references.npy  reference projects (ids, titles, labels) and their embeddings

This layer sits below the model: it writes and reads the :class:`ModelParts` (heads,
frameworks, encoder, reference projects, facts), and :meth:`goalmatch.Matcher.save` and
:meth:`goalmatch.Matcher.load` hand them over and assemble them.

Loading refuses, naming the file: a file whose sha256 or size differs from the manifest,
a missing file, a file the manifest does not list, a path that leaves the folder or is a
symbolic link, a framework whose content hash differs from the one trained for, a head
holding anything but JSON values and numeric arrays. Arrays are read with
``allow_pickle=False``; nothing is unpickled, and no object is built from a file's say-so.

>>> parts = read_model()  # the shipped model, every file checked
>>> sorted(parts.heads)[:2], parts.encoder.id
(['agenda-2030', 'leader-polaris-2016'], 'multilingual-e5-small')
>>> parts.heads["agenda-2030"].params["framework"], parts.frameworks["agenda-2030"].goal_ids[:2]
('agenda-2030', ('sdg-1', 'sdg-2'))
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from goalmatch._io import publish_dir
from goalmatch._version import __version__
from goalmatch.data.frameworks import Framework, load_frameworks
from goalmatch.errors import FrameworkError, ModelError
from goalmatch.persistence import files, heads
from goalmatch.persistence.card import model_card
from goalmatch.persistence.files import MANIFEST

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelError", "ModelParts", "read_manifest", "read_model", "verify",
           "write_model"]

logger = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "goalmatch-model", 1
_MAX_MANIFEST_BYTES = 5_000_000
_MAX_REFERENCES_BYTES = 256_000_000  # ids, titles and labels: ~200 bytes a project, so about a million projects


@dataclass
class ModelParts:
    """What a model folder holds, as the objects the model layer assembles into a matcher.

    ``heads``: framework id → classifier head; written as fitted, read back as a
    :class:`~goalmatch.persistence.heads.HeadState` (parameters and fitted values, with
    ``framework`` the id and no encoder). ``frameworks``:
    framework id → :class:`~goalmatch.data.frameworks.Framework`, loaded from a file.
    ``encoder``: the encoder of every vector. ``references``: ``ids``, ``titles``,
    ``labels`` (per reference project, framework id → goal ids) and ``embeddings`` (unit
    rows) of the reference projects. ``info``: written, the training facts
    (``training_data``); read, the manifest and the folder's ``path``.
    """

    heads: dict[str, Any]
    frameworks: dict[str, Framework]
    encoder: Any
    references: Mapping[str, Any]
    info: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ write


def write_model(
    path: str | Path,
    parts: ModelParts,
    *,
    command: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    sources: Iterable[Mapping[str, Any]] = (),
    overwrite: bool = False,
) -> Path:
    """Write ``parts`` as a model folder at ``path`` and return the path.

    The folder is written beside ``path`` and renamed into place, so a reader never sees
    half a model. ``command`` is the command that built it; ``metrics`` any measured
    figures; ``sources`` the training data beyond the shipped corpora, each a mapping with
    at least ``name`` (and ``licence``, ``attribution`` where the licence asks for it).
    An existing ``path`` is replaced only with ``overwrite=True``.
    """
    dest = Path(path)
    if dest.exists() and not overwrite:
        raise ModelError(f"{dest}: already exists; choose another folder or overwrite it")
    for fid, fw in parts.frameworks.items():
        if fw.path is None or not Path(fw.path).is_file():
            raise ModelError(f"framework {fid} was not loaded from a file; a model folder needs its YAML")
        if Framework.from_file(fw.path).content_hash != fw.content_hash:
            raise ModelError(f"{fw.path}: changed since framework {fid} was loaded for training")
    try:
        with publish_dir(dest, replace=True) as tmp:
            entries = _write_folder(tmp, parts, command=command, metrics=metrics, sources=sources)
    except OSError as exc:  # disk full, file too large, no permission: nothing of the new model is left
        where = exc.filename or dest
        raise ModelError(f"{where}: cannot write the model folder {dest} ({exc.strerror or exc}); "
                         f"nothing was changed there") from None
    logger.info("Saved model with %d frameworks to %s", len(entries), dest)
    return dest


def _write_folder(tmp: Path, parts: ModelParts, *, command: str | None, metrics: Mapping[str, Any] | None,
                  sources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Write every file of the model folder into ``tmp``, the manifest last; return the framework entries."""
    entries = [_write_framework(tmp, fid, parts.frameworks[fid], head) for fid, head in parts.heads.items()]
    refs = parts.references
    (tmp / "references.json").write_text(json.dumps({
        "ids": list(refs["ids"]), "titles": list(refs["titles"]),
        "labels": [{k: list(v) for k, v in labels.items()} for labels in refs["labels"]],
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    files.save_array(tmp / "references.npy", refs["embeddings"].astype(np.float32))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "goalmatch_version": __version__,
        "created": _created(),
        "command": command,
        "encoder": _encoder_spec(parts.encoder),
        "frameworks": entries,
        "training_data": parts.info.get("training_data"),
        "sources": [dict(s) for s in sources],
        "metrics": dict(metrics) if metrics is not None else None,
        "references": {"file": "references.json", "embeddings": "references.npy", "count": len(refs["ids"])},
    }
    (tmp / "README.md").write_text(model_card(manifest), encoding="utf-8")
    manifest["files"] = {
        rel: {"sha256": files.file_sha256(tmp / rel), "size": (tmp / rel).stat().st_size}
        for rel in files.listing(tmp)
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return entries


def _write_framework(folder: Path, fid: str, fw: Framework, head: Any) -> dict[str, Any]:
    """The framework's file and head into ``folder``; its manifest entry."""
    (folder / "frameworks").mkdir(exist_ok=True)
    shutil.copyfile(fw.path, folder / "frameworks" / f"{fid}.yaml")  # type: ignore[arg-type]  # checked
    return {
        "id": fid, "name": fw.name, "content_hash": fw.content_hash, "multi_label": fw.multi_label,
        "file": f"frameworks/{fid}.yaml", **heads.write_head(folder, fid, head),
    }


def _encoder_spec(encoder: Any) -> dict[str, Any]:
    return {
        "id": encoder.id, "checksum": encoder.checksum, "class": type(encoder).__name__,
        "params": {k: v for k, v in getattr(encoder, "get_params", dict)().items()
                   if isinstance(v, str | int | float | bool)},
    }


def _created() -> str | None:
    """When the model was built, only if ``SOURCE_DATE_EPOCH`` says so (reproducible builds).

    The wall clock is left out by default: it is the one input of a model that is neither
    code, data nor the command, and it would make two trainings on the same data differ.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return None
    try:
        when = dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise ModelError(f"SOURCE_DATE_EPOCH: expected whole seconds since 1970, got {epoch!r}") from None
    return when.isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------ read


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a model folder (parsed, checked for format; files not verified)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelError(f"{root}: no model folder there (train one with `goalmatch train`)")
    file = root / MANIFEST
    if file.is_symlink() or not file.is_file():
        raise ModelError(f"{file}: missing; not a goalmatch model folder")
    if file.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ModelError(f"{file}: over {_MAX_MANIFEST_BYTES} bytes; not a goalmatch manifest")
    manifest = files.read_json(file, _MAX_MANIFEST_BYTES)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{file}: not a goalmatch model manifest (format {FORMAT!r} expected)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{file}: model format version {manifest.get('format_version')!r}; this goalmatch reads {FORMAT_VERSION}"
        )
    if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("frameworks"), list):
        raise ModelError(f"{file}: 'files' and 'frameworks' are missing or malformed")
    return manifest


def verify(path: str | Path) -> dict[str, Any]:
    """Check every file of a model folder against its manifest; return the manifest."""
    root = Path(path)
    manifest = read_manifest(root)
    listed: set[str] = set()
    for rel, meta in manifest["files"].items():
        file = files.inside(root, rel)
        if not file.is_file():
            raise ModelError(f"{file}: listed in the manifest but missing")
        if (not isinstance(meta, dict) or file.stat().st_size != meta.get("size")
                or files.file_sha256(file) != meta.get("sha256")):
            raise ModelError(f"{file}: its sha256 or size differs from the manifest; the file was changed")
        listed.add(PurePosixPath(rel).as_posix())
    for rel in files.listing(root, links=True):
        if rel != MANIFEST and rel not in listed:
            raise ModelError(f"{root / rel}: not listed in the manifest; a model folder holds only its own files")
    return manifest


def read_model(
    path: str | Path | None = None,
    *,
    encoder: Any = None,
    frameworks: Mapping[str, Framework] | str | Path | None = None,
) -> ModelParts:
    """The parts of a model folder (the shipped ``models/default`` when ``path`` is None), after :func:`verify`.

    ``encoder`` overrides the one named in the manifest (its id and checksum must match).
    ``frameworks`` (a mapping or a folder of framework files) replaces the copies in the
    model; each must have the content hash the model was trained for.
    """
    if path is None:
        from goalmatch._paths import models_dir

        path = models_dir() / "default"
    root = Path(path)
    manifest = verify(root)
    try:
        return _read_verified(root, manifest, encoder, frameworks)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{root / MANIFEST}: malformed ({type(exc).__name__}: {exc})") from None


def _read_verified(
    root: Path, manifest: dict[str, Any], encoder: Any, frameworks: Mapping[str, Framework] | str | Path | None
) -> ModelParts:
    given = load_frameworks(frameworks) if isinstance(frameworks, str | Path) else frameworks
    encoder = _encoder(manifest, encoder)
    fws: dict[str, Framework] = {}
    read: dict[str, Any] = {}
    for entry in manifest["frameworks"]:
        fid = entry["id"]
        fws[fid] = _read_framework(root, entry, given)
        read[fid] = heads.read_head(root, entry, fws[fid])
    references = _read_references(root)
    _check_widths(root, manifest, read, references["embeddings"], encoder)
    return ModelParts(read, fws, encoder, references, {**manifest, "path": str(root)})


def _check_widths(root: Path, manifest: Mapping[str, Any], read: Mapping[str, Any], embeddings: np.ndarray,
                  encoder: Any) -> None:
    """Every vector array is as wide as the encoder's vectors, so a crafted or mixed-up folder is
    refused here, naming the file, rather than failing in the first suggest."""
    dim = int(encoder.dim)
    arrays = [(root / "references.npy", embeddings)]
    for entry in manifest["frameworks"]:
        head = read[entry["id"]]
        arrays += [(files.inside(root, heads.array_file(entry["id"], name)), head.fitted[name])
                   for name in ("prototypes_", "labelled_")]
    for file, array in arrays:
        if array.ndim != 2 or array.shape[1] != dim:
            raise ModelError(f"{file}: vectors of shape {array.shape}, the encoder {encoder.id} gives {dim} wide; "
                             "the file does not belong to this model")


def _read_framework(root: Path, entry: Mapping[str, Any], given: Mapping[str, Framework] | None) -> Framework:
    """The framework of a manifest entry: the model's copy, or the given one; its content hash checked."""
    fid = entry["id"]
    file = files.inside(root, entry["file"])
    try:
        fw = Framework.from_file(file)
    except FrameworkError as exc:
        raise ModelError(str(exc)) from None
    if given is not None:
        if fid not in given:
            raise ModelError(f"the model needs framework {fid}, which the given frameworks lack")
        fw = given[fid]
    if fw.id != fid or fw.content_hash != entry["content_hash"]:
        where = fw.path or file
        raise ModelError(
            f"{where}: model trained for framework {fid} version {entry['content_hash'][:12]}, "
            f"the files have {fw.id if fw.id != fid else ''}{fw.content_hash[:12]}; retrain the model"
        )
    return fw


def _read_references(root: Path) -> dict[str, Any]:
    refs = files.read_json(files.inside(root, "references.json"), _MAX_REFERENCES_BYTES)
    embeddings = files.load_array(files.inside(root, "references.npy"))
    references = {
        "ids": tuple(refs["ids"]), "titles": tuple(refs["titles"]),
        "labels": tuple({k: tuple(v) for k, v in labels.items()} for labels in refs["labels"]),
        "embeddings": embeddings,
    }
    if len(references["ids"]) != len(embeddings):
        raise ModelError(f"{root / 'references.npy'}: {len(embeddings)} rows for {len(references['ids'])} projects")
    return references


def _encoder(manifest: Mapping[str, Any], encoder: Any) -> Any:
    """The encoder the manifest names (or the one given), checked against its id and checksum."""
    spec = manifest.get("encoder") or {}
    if encoder is None:
        from goalmatch.embed.encoder import DEFAULT_MODEL, Encoder, FakeEncoder

        params = dict(spec.get("params") or {})
        fake = re.fullmatch(r"fake-(\d+)", str(spec.get("id")))
        if spec.get("id") == DEFAULT_MODEL:
            allowed = {"prefix", "batch_size", "batch_tokens", "max_tokens", "normalize"}
            encoder = Encoder(**{k: v for k, v in params.items() if k in allowed})
        elif fake and spec.get("class") == "FakeEncoder":
            encoder = FakeEncoder(dim=int(fake.group(1)), prefix=str(params.get("prefix", "")))
        else:
            raise ModelError(f"the model was built with encoder {spec.get('id')!r}; pass that encoder to load()")
    if encoder.id != spec.get("id") or encoder.checksum != spec.get("checksum"):
        raise ModelError(
            f"the model was built with encoder {spec.get('id')} (checksum {str(spec.get('checksum'))[:12]}), "
            f"not {encoder.id} (checksum {encoder.checksum[:12]}); its embeddings would not match"
        )
    return encoder
