"""The plain-file rules of a model folder: paths that stay inside it, no symbolic links,
sha256 of every file, and numeric arrays as ``.npy`` files read without pickle.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> save_array(root / "a.npy", np.arange(3, dtype=np.float32))
>>> listing(root), load_array(inside(root, "a.npy")).tolist()
(['a.npy'], [0.0, 1.0, 2.0])
>>> inside(root, "../b.npy")
Traceback (most recent call last):
...
goalmatch.errors.ModelError: ...manifest.json: file path '../b.npy' leaves the model folder or is not plain; refused
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from goalmatch.errors import ModelError

__all__ = ["MANIFEST", "MAX_JSON_DEPTH", "file_sha256", "inside", "listing", "load_array", "parse_json",
           "read_json", "save_array"]

MANIFEST = "manifest.json"
"""The one file of a model folder that lists the others."""

MAX_JSON_DEPTH = 32
"""The deepest nesting a model folder's JSON may have (goalmatch writes 5, skops 8): deeper is
crafted, and would exhaust the parser's or skops's recursion (RecursionError)."""
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats: all a model array holds


def inside(root: Path, rel: Any) -> Path:
    """``root/rel``, refusing absolute paths, ``..``, odd names and symbolic links on the way."""
    plain = (
        isinstance(rel, str) and rel and "\\" not in rel and "\0" not in rel and rel != MANIFEST
        and not rel.startswith("/") and PurePosixPath(rel).as_posix() == rel and ".." not in PurePosixPath(rel).parts
    )
    if not plain:
        raise ModelError(f"{root / MANIFEST}: file path {rel!r} leaves the model folder or is not plain; refused")
    parts = PurePosixPath(rel).parts
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise ModelError(f"{path}: a symbolic link; a model folder holds plain files only")
    return path


def listing(root: Path, *, links: bool = False) -> list[str]:
    """Relative paths of every file below ``root`` (sorted); symbolic links refused when ``links``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            mode = (base / name).lstat().st_mode
            if links and stat.S_ISLNK(mode):
                raise ModelError(f"{base / name}: a symbolic link; a model folder holds plain files only")
            if not stat.S_ISDIR(mode):
                out.append((base / name).relative_to(root).as_posix())
    return sorted(out)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as a plain ``.npy`` file (C order, never pickled)."""
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


def load_array(file: Path) -> np.ndarray:
    """A plain numeric array from an ``.npy`` file; anything pickled, cut, empty, not numeric or
    claiming more data than the file holds is refused naming the file, before anything is allocated."""
    try:
        with file.open("rb") as handle:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(handle)
            else:
                raise ValueError(f".npy format version {version[0]}.{version[1]} (1.0 or 2.0 expected)")
            if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
                raise ValueError(f"it holds {dtype} values, a model array holds numbers")
            held = os.fstat(handle.fileno()).st_size - handle.tell()
            claimed = math.prod(shape) * dtype.itemsize  # Python ints: 10**11 elements do not overflow
            if claimed != held:
                raise ValueError(f"its header claims shape {shape} of {dtype} ({claimed:,} bytes), "
                                 f"the file holds {held:,} bytes of data")
            handle.seek(0)
            return np.load(handle, allow_pickle=False)
    except (ValueError, EOFError) as exc:  # EOFError: an empty or cut file
        raise ModelError(f"{file}: not a plain numeric array ({exc or 'no data'})") from None


def parse_json(data: bytes | str, where: Path | str) -> Any:
    """JSON from a model folder: invalid or too deeply nested JSON is refused naming ``where``."""
    try:
        value = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except RecursionError:
        value, too_deep = None, True
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{where}: not valid JSON ({exc})") from None
    else:
        too_deep = _depth_over(value, MAX_JSON_DEPTH)
    if too_deep:
        raise ModelError(f"{where}: JSON nested over {MAX_JSON_DEPTH} levels deep; not written by goalmatch, refused")
    return value


def read_json(file: Path, max_bytes: int) -> Any:
    """:func:`parse_json` of ``file``, refused unread when over ``max_bytes``."""
    size = file.stat().st_size
    if size > max_bytes:
        raise ModelError(f"{file}: {size:,} bytes, over the {max_bytes:,} a model folder's JSON may have; refused")
    return parse_json(file.read_bytes(), file)


def _depth_over(value: Any, limit: int) -> bool:
    todo = [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            todo.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False
