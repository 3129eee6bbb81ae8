"""Classifier heads on disk: plain data, no code, no type names to trust.

A head is written as ``heads/<id>.json`` and one ``heads/<id>.<name>.npy`` per fitted
numeric array (``coef_``, ``prototypes_`` …)::

    {"format": "goalmatch-head", "version": 2, "kind": "GoalClassifier",
     "params": {"n_nearest": 3, "C": 0.01, ...},
     "fitted": {"multi_label_": true, "intercept_": -4.45,
                "classes_": {"strings": ["sdg-1", ...]},
                "prototype_kinds_": {"tuple": ["name", "alias", ...]},
                "min_similarity_": {"float": "-inf"},
                "coef_": {"array": "heads/agenda-2030.coef.npy"}, ...}}

Reading gives a :class:`HeadState` of JSON values and numeric arrays: nothing is
constructed from the file. The model layer builds the classifier from it
(:meth:`goalmatch.model.classifier.GoalClassifier.from_state`), refusing a parameter it
does not have. The head knows nothing of its framework or encoder: the model layer
reattaches them. (Version 1 heads were skops archives; their reader cost 2 s of imports
per process and trusted a type list. They are refused, naming the version.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch.data.frameworks import Framework
from goalmatch.errors import ModelError
from goalmatch.persistence import files

__all__ = ["KIND", "HeadState", "array_file", "read_head", "write_head"]

KIND = "GoalClassifier"
"""The one kind of head a model folder holds."""
FORMAT, VERSION = "goalmatch-head", 2
_FLOAT32 = ("prototypes_", "labelled_", "labelled_targets_")  # float32 on disk: exact for what the matcher keeps
_NOT_SAVED = ("framework_", "encoder_")  # reattached on load: the framework file and the encoder
_MAX_HEAD_BYTES = 4_000_000  # the shipped heads' JSON is 2-20 kB: their arrays live in .npy files
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


@dataclass
class HeadState:
    """A head as read: its parameters and its fitted values (JSON values, tuples, numeric arrays,
    arrays of strings), every fitted name ending in ``_``."""

    params: dict[str, Any]
    fitted: dict[str, Any]


def array_file(fid: str, name: str) -> str:
    """The path, in a model folder, of fitted array ``name`` of framework ``fid``'s head."""
    return f"heads/{fid}.{name.rstrip('_')}.npy"


def write_head(folder: Path, fid: str, clf: Any) -> dict[str, Any]:
    """Write the fitted head ``clf`` of framework ``fid`` into ``folder/heads``; return its manifest fields."""
    (folder / "heads").mkdir(exist_ok=True)
    params = {**clf.get_params(deep=False), "framework": fid, "encoder": None}
    fitted = {}
    for name, value in sorted(vars(clf).items()):
        if not name.endswith("_") or name.startswith("_") or name in _NOT_SAVED:
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            rel = array_file(fid, name)
            files.save_array(folder / rel, value.astype(np.float32) if name in _FLOAT32 else value)
            fitted[name] = {"array": rel}
        else:
            fitted[name] = _encode(value, f"{fid}: {name}")
    head = {"format": FORMAT, "version": VERSION, "kind": KIND,
            "params": {k: _encode(v, f"{fid}: parameter {k}") for k, v in sorted(params.items())}, "fitted": fitted}
    text = json.dumps(head, ensure_ascii=False, indent=1, sort_keys=True, allow_nan=False)
    (folder / "heads" / f"{fid}.json").write_text(text + "\n", encoding="utf-8")
    return {
        "head": f"heads/{fid}.json",
        "classes": [str(c) for c in clf.classes_], "labelled": len(clf.labelled_),
        "min_similarity": float(clf.min_similarity_) if np.isfinite(clf.min_similarity_) else None,
    }


def read_head(root: Path, entry: dict[str, Any], fw: Framework) -> HeadState:
    """The head of manifest ``entry``, checked against ``fw``: its classes are ``fw``'s goals and
    its arrays fit them. Anything else in the file is refused naming it."""
    file = files.inside(root, entry["head"])
    if file.suffix != ".json":
        raise ModelError(f"{file}: a head of an older goalmatch (model format with skops heads); retrain the model")
    head = files.read_json(file, _MAX_HEAD_BYTES)
    if not isinstance(head, dict) or head.get("format") != FORMAT or head.get("kind") != KIND:
        raise ModelError(f"{file}: not a goalmatch head ({FORMAT}, kind {KIND})")
    if head.get("version") != VERSION:
        raise ModelError(f"{file}: head version {head.get('version')!r}, this goalmatch reads {VERSION}; "
                         "retrain the model")
    params, fitted = head.get("params"), head.get("fitted")
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise ModelError(f"{file}: 'params' and 'fitted' must be objects")
    for name in params:
        _check_name(file, name, fitted=False)
    for name in fitted:
        _check_name(file, name, fitted=True)
    state = HeadState({k: _decode(v, root, file, f"parameter {k}") for k, v in params.items()},
                      {k: _decode(v, root, file, k) for k, v in fitted.items()})
    _check_fits(file, state.fitted, fw)
    return state


def _check_name(file: Path, name: str, *, fitted: bool) -> None:
    if not name or not set(name) <= _NAME_CHARS or name.startswith("_") or name.endswith("_") != fitted:
        what = "fitted value" if fitted else "parameter"
        raise ModelError(f"{file}: {what} name {name[:40]!r} is not one a head has; refused")


def _check_fits(file: Path, fitted: dict[str, Any], fw: Framework) -> None:
    need = ("classes_", "prototypes_", "prototype_goal_", "labelled_", "labelled_targets_")
    missing = [name for name in need if name not in fitted]
    if missing:
        raise ModelError(f"{file}: lacks {', '.join(missing)}")
    classes, prototypes = fitted["classes_"], fitted["prototypes_"]
    labelled, targets = fitted["labelled_"], fitted["labelled_targets_"]
    for name in need[1:]:
        fitted[name] = np.asarray(fitted[name])
        if name in _FLOAT32:
            fitted[name] = fitted[name].astype(np.float64)
    if (not isinstance(classes, np.ndarray) or [str(c) for c in classes] != list(fw.goal_ids)
            or np.shape(fitted["prototype_goal_"]) != (len(prototypes),)
            or np.shape(targets) != (len(labelled), len(fw.goal_ids))):
        raise ModelError(f"{file}: its classes or arrays do not fit framework {fw.id}")


def _encode(value: Any, where: str) -> Any:
    """A head value as JSON (see the module's docstring)."""
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else {"float": str(float(value))}
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, where) for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.ndim == 1 and all(isinstance(v, str) for v in value.tolist()):
        return {"strings": [str(v) for v in value.tolist()]}
    raise ModelError(f"{where}: a {type(value).__name__} cannot be saved in a head")


def _decode(value: Any, root: Path, file: Path, where: str) -> Any:
    if isinstance(value, bool | str | int | float) or value is None:
        return value
    if isinstance(value, list):
        return [_decode(v, root, file, where) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        if tag == "float" and inner in ("inf", "-inf", "nan"):
            return float(inner)
        if tag == "tuple" and isinstance(inner, list):
            return tuple(_decode(v, root, file, where) for v in inner)
        if tag == "dict" and isinstance(inner, dict):
            return {str(k): _decode(v, root, file, where) for k, v in inner.items()}
        if tag == "strings" and isinstance(inner, list) and all(isinstance(v, str) for v in inner):
            return np.array(inner, dtype=object)
        if tag == "array" and isinstance(inner, str):
            if not inner.startswith("heads/"):
                raise ModelError(f"{file}: {where}: array file {inner!r} is not in heads/")
            try:
                path = files.inside(root, inner)
            except ModelError:
                raise ModelError(f"{file}: {where}: array file {inner!r} leaves the model folder or is not plain; "
                                 "refused") from None
            return files.load_array(path)
    raise ModelError(f"{file}: {where}: a value of a form goalmatch does not write ({json.dumps(value)[:60]})")
