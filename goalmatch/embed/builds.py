"""Encoder builds in the user cache: where they live, how they are checked, built once.

multilingual-e5-small (:mod:`goalmatch.embed.e5build`) and its ONNX exports
(:mod:`goalmatch.embed.onnx`) are built locally at first use into
``goalmatch._paths.cache_root()/encoders/<name>/``. A build is written beside its folder and renamed into
place, so a reader never sees half of one. Its ``goalmatch-build.json`` records the
source's sha256 and the sha256 of every file; :func:`ensure_built` re-checks a build once
per process and rebuilds a missing, corrupt or outdated one.

Nothing here knows a model format: the builders pass in how to check and how to build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from goalmatch._io import atomic_write, discard_dir, sweep_leftovers
from goalmatch._paths import cache_root

logger = logging.getLogger(__name__)

BUILD_MANIFEST = "goalmatch-build.json"
"""The file in every build folder that says how it was built and lists its files' sha256."""

_guard = threading.Lock()
_locks: dict[Path, threading.Lock] = {}  # one per build folder: an ONNX build waits for its torch build
_verified: set[tuple[Path, str]] = set()
_sha_memo: dict[tuple[Any, ...], str] = {}


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_sha256(source: str | Path) -> str:
    """sha256 of a source file (see :func:`stamped_sha256`)."""
    return stamped_sha256(Path(source))


def _stamp(st: os.stat_result) -> list[int]:
    # ctime changes with every write and cannot be set back (touch -r, cp -p, rsync -t set mtime only)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def stamped_sha256(path: Path) -> str:
    """sha256 of a file in (or read by) the build cache, hashed once per machine while it is unchanged.

    The hash is remembered in ``cache_root()/verified.json`` with the file's stamp (size,
    mtime, ctime, inode, device); a file whose stamp differs is hashed again. Encoder
    builds are hundreds of MB: hashing them in every process cost 0.3-0.5 s per start. A
    model folder (what a user may be handed) is still hashed in full at every load.
    """
    resolved = path.resolve()
    st = os.stat(resolved)
    key = (str(resolved), *_stamp(st))
    with _guard:
        if key in _sha_memo:
            return _sha_memo[key]
    stamps = _read_stamps()
    entry = stamps.get(str(resolved))
    if isinstance(entry, list) and entry[:-1] == _stamp(st) and isinstance(entry[-1], str):
        digest = entry[-1]
    else:
        digest = file_sha256(resolved)
        stamps[str(resolved)] = [*_stamp(os.stat(resolved)), digest]
        _write_stamps(stamps)
    with _guard:
        _sha_memo[key] = digest
    return digest


def _stamps_file() -> Path:
    return cache_root() / "verified.json"


def _read_stamps() -> dict[str, Any]:
    try:
        data = json.loads(_stamps_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamps(stamps: dict[str, Any]) -> None:
    try:
        live = {k: v for k, v in stamps.items() if Path(k).exists()}
        atomic_write(_stamps_file(), json.dumps(live, sort_keys=True))
    except OSError as exc:  # a read-only cache: hash again next time
        logger.debug("could not record file stamps in %s: %s", _stamps_file(), exc)


def folder_checksum(folder: Path) -> str:
    """The source checksum of a goalmatch build, else a sha256 over all its files."""
    manifest = folder / BUILD_MANIFEST
    if manifest.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return str(json.loads(manifest.read_text(encoding="utf-8"))["source"]["sha256"])
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + file_sha256(path).encode())
    return h.hexdigest()


def check_manifest(folder: Path, source_sha256: str, build_format: int, required: tuple[str, ...],
                   **expected: object) -> str | None:
    """Why ``folder`` is not a good build, or ``None`` if it is.

    Its ``goalmatch-build.json`` must say ``build_format``, the source ``source_sha256``
    and each of ``expected``'s keys with the value given (e.g. ``backend="onnx"``), and
    list every file in ``required``; every file it lists must be there, a plain file (not
    a link) with its recorded sha256.
    """
    manifest_path = folder / BUILD_MANIFEST
    if not manifest_path.is_file():
        return f"{manifest_path} is missing"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files, fmt = dict(manifest["files"]), manifest["build_format"]
        found = {key: manifest[key] for key in expected}
        recorded = manifest["source"]["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"{manifest_path} is unreadable ({exc})"
    if fmt != build_format:
        return f"built by format {fmt}, this version writes {build_format}"
    for key, value in expected.items():
        if found[key] != value:
            return f"built for {key} {found[key]!r}, expected {value!r}"
    if recorded != source_sha256:
        return f"built from source {recorded[:16]}, expected {source_sha256[:16]}"
    for name in required:
        if name not in files:
            return f"{name} is not in the build manifest"
    for rel, digest in files.items():
        path = folder / rel
        if not path.is_file() or path.is_symlink():
            return f"{rel} is missing"
        if stamped_sha256(path) != digest:
            return f"{rel} does not match its recorded checksum"
    return None


def ensure_built(
    dest: Path, source_sha256: str, check: Callable[[Path], str | None], build: Callable[[Path], object], what: str
) -> Path:
    """``dest``, built first with ``build(dest)`` unless ``check(dest)`` finds it good.

    ``check`` returns why a folder is not a good build, or ``None``. A good build is
    remembered for this process (with ``source_sha256``) and not checked again; a bad one
    is moved aside and deleted, and leftovers of builds killed long ago are swept, before
    ``build`` writes a new one. ``what`` names the build in the log.
    """
    with _guard:
        lock = _locks.setdefault(dest, threading.Lock())
    with lock:
        if (dest, source_sha256) in _verified:
            return dest
        problem = check(dest) if dest.exists() else "not built yet"
        if problem is not None:
            logger.info("Building %s into %s: %s", what, dest, problem)
            if dest.exists():
                discard_dir(dest)
            sweep_leftovers(dest)
            try:
                build(dest)
            except OSError:
                # Another process may have renamed its build into place first.
                if not dest.exists() or check(dest) is not None:
                    raise
        _verified.add((dest, source_sha256))
    return dest
