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
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from goalmatch.errors import ModelError

__all__ = ["MANIFEST", "file_sha256", "inside", "listing", "load_array", "save_array"]

MANIFEST = "manifest.json"
"""The one file of a model folder that lists the others."""


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
    """A plain numeric array from an ``.npy`` file; anything pickled, cut or empty is refused naming the file."""
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, EOFError) as exc:  # EOFError: an empty or cut file
        raise ModelError(f"{file}: not a plain numeric array ({exc or 'no data'})") from None
