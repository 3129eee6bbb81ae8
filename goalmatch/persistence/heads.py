"""Classifier heads on disk: a small skops file holding the head's state, its large arrays
as ``.npy`` files beside it, and the allowlist of types a head file may hold.

A head is written as ``heads/<id>.skops`` (parameters, ``classes_``, ``coef_``,
``intercept_``, thresholds …; no framework, no encoder: those are reattached on load) and
``heads/<id>.<array>.npy`` for each of :data:`ARRAYS`. The skops archive is rewritten
canonically, so the same head always gives the same bytes. Reading refuses a head
naming any type outside :data:`HEAD_TYPES`; skops itself is trusted with
:data:`TRUSTED_TYPES` only. This module knows the head by duck typing: the class lives
in the model layer above it and is named here as a string.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from goalmatch.data.frameworks import Framework
from goalmatch.errors import ModelError
from goalmatch.persistence import files

__all__ = ["ARRAYS", "HEAD_TYPES", "TRUSTED_TYPES", "array_file", "canonical_skops", "read_head", "write_head"]

TRUSTED_TYPES = ("goalmatch.model.classifier.GoalClassifier",)
"""The one type a head may hold that skops does not trust by itself."""
HEAD_TYPES = frozenset({
    *TRUSTED_TYPES, "numpy.ndarray", "numpy.float64", "numpy.int64", "numpy.bool_",
    *(f"builtins.{name}" for name in ("dict", "list", "tuple", "str", "int", "float", "bool", "NoneType")),
})
"""Every type a head file may name, anywhere in it; skops trusts more (scikit-learn's classes), we do not."""
ARRAYS = ("prototypes_", "prototype_goal_", "labelled_", "labelled_targets_")
"""The head's large arrays, each kept in its own ``.npy`` file."""
_FLOAT32 = ("prototypes_", "labelled_", "labelled_targets_")  # float32 on disk: exact for what the matcher keeps
_NOT_SAVED = ("framework_", "encoder_")  # reattached on load: the framework file and the encoder
_MAX_SCHEMA_BYTES = 16_000_000  # the shipped heads' schemas are 15-150 kB: their large arrays live in .npy files
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold; see canonical_skops


def array_file(fid: str, name: str) -> str:
    """The path, in a model folder, of array ``name`` (one of :data:`ARRAYS`) of framework ``fid``'s head."""
    return f"heads/{fid}.{name.rstrip('_')}.npy"


def write_head(folder: Path, fid: str, clf: Any) -> dict[str, Any]:
    """Write the fitted head ``clf`` of framework ``fid`` into ``folder/heads``; return its manifest fields."""
    import skops.io as sio

    (folder / "heads").mkdir(exist_ok=True)
    head = copy.copy(clf)
    arrays = {name: head.__dict__.pop(name) for name in ARRAYS}
    for name in _NOT_SAVED:
        head.__dict__.pop(name, None)
    head.set_params(framework=fid, encoder=None)
    (folder / "heads" / f"{fid}.skops").write_bytes(canonical_skops(sio.dumps(head, compression=zipfile.ZIP_DEFLATED)))
    for name, value in arrays.items():
        value = np.asarray(value)
        files.save_array(folder / array_file(fid, name), value.astype(np.float32) if name in _FLOAT32 else value)
    return {
        "head": f"heads/{fid}.skops",
        "classes": [str(c) for c in clf.classes_], "labelled": len(arrays["labelled_"]),
        "min_similarity": float(clf.min_similarity_) if np.isfinite(clf.min_similarity_) else None,
    }


def read_head(root: Path, entry: dict[str, Any], fw: Framework) -> Any:
    """The head of manifest ``entry``, as skops gives it back, its arrays restored and checked against ``fw``.

    Neither framework nor encoder is attached: the model layer does that.
    """
    import skops.io as sio

    file = files.inside(root, entry["head"])
    named = _head_types(file)  # first: it refuses a file that is no skops archive, naming it
    untrusted = sio.get_untrusted_types(file=file)
    refused = sorted((set(untrusted) - set(TRUSTED_TYPES)) | (named - HEAD_TYPES))
    if refused:
        raise ModelError(f"{file}: holds type(s) outside the allowlist, refused: {', '.join(refused)}")
    try:
        head = sio.load(file, trusted=[t for t in untrusted if t in TRUSTED_TYPES])
    except Exception as exc:
        raise ModelError(f"{file}: cannot read the classifier head ({type(exc).__name__}: {exc})") from None
    kind = TRUSTED_TYPES[0].rpartition(".")[2]
    if f"{type(head).__module__}.{type(head).__qualname__}" not in TRUSTED_TYPES:
        raise ModelError(f"{file}: expected a {kind}, found {type(head).__name__}")
    missing = [name for name in type(head)._get_param_names() if name not in vars(head)]
    if missing:  # saved by a goalmatch whose GoalClassifier had fewer parameters
        raise ModelError(f"{file}: the head lacks the parameter(s) {', '.join(missing)} of this goalmatch's "
                         f"{kind} (the model was made by another version); retrain the model")
    for name in ARRAYS:
        array = files.load_array(files.inside(root, array_file(entry["id"], name)))
        setattr(head, name, array.astype(np.float64) if name in _FLOAT32 else array)
    n = len(head.labelled_)
    if ([str(c) for c in head.classes_] != list(fw.goal_ids) or head.prototype_goal_.shape != (len(head.prototypes_),)
            or head.labelled_targets_.shape != (n, len(fw.goal_ids))):
        raise ModelError(f"{file}: its classes or arrays do not fit framework {fw.id}")
    return head


def canonical_skops(data: bytes) -> bytes:
    """A skops archive rewritten so the same head always gives the same bytes.

    skops names each object by ``id(obj)`` (its memory address) in ``schema.json``
    (``__id__``) and in the names of the ``.npy`` members, and stamps every member with
    the time of writing. Both are renumbered here, in the order the schema names them,
    and the time is fixed; object identity (two places naming one object) is kept.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        members = {name: archive.read(name) for name in archive.namelist() if name != "schema.json"}
    ids: dict[Any, int] = {}
    names: dict[str, str] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, list):
            return [renumber(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                value = ids.setdefault(value, len(ids) + 1)  # 0 would read as "no id" in skops
            elif key == "file" and isinstance(value, str) and value in members:
                value = names.setdefault(value, f"{len(names) + 1}{PurePosixPath(value).suffix}")
            else:
                value = renumber(value)
            out[key] = value
        return out

    schema = renumber(schema)
    if set(names) != set(members):
        raise ModelError(f"skops wrote members the schema does not name: {sorted(set(members) - set(names))}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for old, new in sorted(names.items(), key=lambda item: item[1]):
            archive.writestr(_zip_info(new), members[old])
        archive.writestr(_zip_info("schema.json"), json.dumps(schema, indent=2))
    return buffer.getvalue()


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, whatever system writes it
    info.external_attr = 0o644 << 16
    return info


def _head_types(file: Path) -> set[str]:
    """``module.class`` of every object a skops file's schema names."""
    try:
        with zipfile.ZipFile(file) as archive:
            size = archive.getinfo("schema.json").file_size  # the size the zip declares, checked before inflating
            data = archive.read("schema.json") if size <= _MAX_SCHEMA_BYTES else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelError(f"{file}: not a skops file ({exc})") from None
    if data is None:
        raise ModelError(f"{file}: schema.json of {size:,} bytes, over {_MAX_SCHEMA_BYTES:,}; refused")
    schema = files.parse_json(data, f"{file}: schema.json")
    found: set[str] = set()
    todo: list[Any] = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found
