"""The one place files and folders are written safely, and text files of unknown encoding are read.

A file is written beside its destination, flushed to disk and renamed into place, so a
reader sees the old file or the whole new one, never half of it; a failed write leaves
no temporary file. A folder (a model, an encoder build) is built beside its destination
and renamed in the same way. Errors are the operating system's ``OSError``: the caller
knows what the file was for and turns it into a message that names it.

:func:`detect_encoding` and :func:`decode_text` read the text files Swedish office software
writes (UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252), for ``goalmatch score``'s
tables and ``goalmatch suggest``'s text files alike.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> atomic_write(folder / "a.txt", "hej")
PosixPath('...a.txt')
>>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
('hej', ['a.txt'])
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from glob import escape as glob_escape
from pathlib import Path

__all__ = ["LockHeld", "atomic_write", "decode_text", "detect_encoding", "discard_dir", "exclusive_lock", "fsync_dir",
           "publish_dir", "replacing", "sweep_leftovers"]

logger = logging.getLogger(__name__)

_WESTERN = {"cp1252", "latin_1", "iso8859_15", "cp850", "mac_roman"}


def detect_encoding(sample: bytes) -> str:
    """The encoding of a text from its first bytes.

    A UTF-8 or UTF-16 byte-order mark wins (``utf-8-sig``, ``utf-16``); otherwise text that
    decodes as UTF-8 (bar a few broken bytes) is ``utf-8``, and anything else is read as
    Windows-1252, the code page Swedish office software exports (its letters å ä ö are
    Latin-1's; ``charset-normalizer``, when installed, may name another single-byte Western
    code page instead).
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(sample)  # a character cut at the end waits
    bad = text.count("\ufffd")
    wide = sum(1 for ch in text if ord(ch) > 127) - bad
    if bad == 0 or wide >= 10 * bad:  # UTF-8, or UTF-8 with a few broken bytes (those rows are rejected)
        return "utf-8"
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - charset-normalizer is optional
        return "cp1252"
    best = from_bytes(sample).best()
    name = codecs.lookup(best.encoding).name.replace("-", "_") if best is not None else ""
    return name if name in _WESTERN else "cp1252"


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a whole text file's bytes (see :func:`detect_encoding`).

    Raises ``UnicodeDecodeError`` when the bytes are not valid in the encoding found (UTF-8
    with a few broken bytes, a UTF-16 file cut in the middle of a character), or are UTF-8
    letters beside bytes UTF-8 cannot decode (broken UTF-8, not to be read as Windows-1252
    mojibake); the caller names the file.

    >>> decode_text("Fiber för byn".encode("cp1252"))
    ('Fiber för byn', 'cp1252')
    >>> decode_text("Fiber för byn".encode("utf-16"))
    ('Fiber för byn', 'utf-16')
    """
    encoding = detect_encoding(data)
    if not encoding.startswith("utf") and _UTF8_LETTER.search(data):
        data.decode("utf-8")  # UTF-8 letters beside broken bytes: broken UTF-8, not a code page; raises
    return data.decode(encoding), encoding


_UTF8_LETTER = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
"""A character in UTF-8's multi-byte form (``ä`` is ``\\xc3\\xa4``): Windows-1252 text seldom holds one."""


def fsync_dir(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def replacing(dest: str | Path) -> Iterator[Path]:
    """A temporary path beside ``dest`` to write; renamed over ``dest`` when the block succeeds.

    The temporary name keeps ``dest``'s suffix (writers that choose a format by it work)
    and carries this process's id, so temporary files of writes killed earlier are found
    and removed once their process is gone. On any failure the temporary file is removed
    and ``dest`` is left as it was.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(dest)
    tmp = dest.with_name(f".{dest.stem}.tmp-{os.getpid()}{dest.suffix}")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(dest.parent)


def atomic_write(dest: str | Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write text (in ``encoding``, ``\\n`` line ends) or bytes to ``dest`` atomically; return ``dest``."""
    dest = Path(dest)
    with replacing(dest) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            with tmp.open("w", encoding=encoding, newline="\n") as handle:
                handle.write(data)
    return dest


def _remove_stale(dest: Path) -> None:
    """Temporary files of earlier writes of ``dest`` whose process is gone (killed mid-write)."""
    prefix = f".{dest.stem}.tmp-"
    for stale in dest.parent.glob(f"{glob_escape(prefix)}*{glob_escape(dest.suffix)}"):
        pid = stale.name[len(prefix): len(stale.name) - len(dest.suffix)]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, owned by someone else
        return True
    return True


@contextlib.contextmanager
def publish_dir(dest: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """A new folder beside ``dest`` to build in, renamed to ``dest`` when the block succeeds.

    Before the rename every file and folder in it is flushed to disk and made readable
    (0644/0755). ``dest`` must be absent or empty unless ``replace`` is true; then an
    existing ``dest`` is swapped out and deleted only once the new folder is in place (if
    the rename fails, the old folder is put back). On any failure, a kill included (see
    :func:`sweep_leftovers`), the new folder is deleted.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        _seal(tmp)
        if replace and dest.exists():
            _swap(tmp, dest)
        else:
            if dest.exists():
                dest.rmdir()
            os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(dest.parent)


def _seal(folder: Path) -> None:
    """Readable permissions, then every file and folder below ``folder`` flushed to disk."""
    for p in (folder, *folder.rglob("*")):
        p.chmod(0o755 if p.is_dir() else 0o644)
    for p in sorted(folder.rglob("*"), reverse=True):
        if p.is_file():
            _fsync_file(p)
    for p in (*sorted(q for q in folder.rglob("*") if q.is_dir()), folder):
        fsync_dir(p)


def _swap(tmp: Path, dest: Path) -> None:
    trash = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(dest, trash)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(trash, dest)  # the previous folder stays in place
        raise
    shutil.rmtree(trash, ignore_errors=True)


def discard_dir(folder: str | Path) -> None:
    """Move ``folder`` aside (atomic), then delete it; a missing folder is fine."""
    folder = Path(folder)
    trash = folder.with_name(f".{folder.name}.trash-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def sweep_leftovers(dest: str | Path, min_age_s: float = 3600.0) -> None:
    """Delete temporary or trash folders of ``dest`` left by builds killed over ``min_age_s`` ago."""
    dest = Path(dest)
    if not dest.parent.is_dir():
        return
    now = time.time()
    for path in dest.parent.glob(f"{glob_escape('.' + dest.name)}.*"):
        with contextlib.suppress(OSError):
            if path.is_dir() and now - path.stat().st_mtime > min_age_s:
                logger.info("Removing %s, left by an interrupted build", path)
                shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ locks


class LockHeld(BlockingIOError):
    """Another process holds the lock; ``holder`` is its process id as it wrote it (None if unknown)."""

    def __init__(self, path: Path, holder: int | None) -> None:
        super().__init__(f"{path}: locked by {'process ' + str(holder) if holder else 'another process'}")
        self.path, self.holder = path, holder


@contextlib.contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking ``flock`` on the file ``path`` for the block; :class:`LockHeld` if taken.

    The file holds the holder's process id and is removed when the block ends. The lock
    lives with the open file, so a holder that is killed releases it at once (no stale
    lock to clear by hand); a lock file that was removed or replaced while this process
    waited to lock it is opened again, so two processes never hold two different files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(path, _lock_holder(path)) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            mine, there = os.fstat(fd), os.stat(path)
            same = (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed the file as we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # removed while still locked: a process that opened it sees it is gone, and retries
        os.close(fd)


def _lock_holder(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
