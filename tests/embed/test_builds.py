"""File stamps of the build cache (goalmatch.embed.builds.stamped_sha256)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from goalmatch.embed import builds


def test_a_file_is_hashed_once_while_unchanged_and_again_after_an_edit_hiding_its_mtime(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOALMATCH_CACHE_DIR", str(tmp_path / "cache"))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"a" * 1000)
    hashed: list[Path] = []
    real = builds.file_sha256
    monkeypatch.setattr(builds, "file_sha256", lambda p: hashed.append(Path(p)) or real(p))
    assert builds.stamped_sha256(file) == hashlib.sha256(b"a" * 1000).hexdigest()
    builds._sha_memo.clear()  # as a new process would
    assert builds.stamped_sha256(file) == hashlib.sha256(b"a" * 1000).hexdigest()
    assert len(hashed) == 1 and (tmp_path / "cache" / "verified.json").is_file()
    before = file.stat()
    file.write_bytes(b"b" * 1000)  # same size, mtime put back (cp -p, rsync -t, touch -r)
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    builds._sha_memo.clear()
    assert builds.stamped_sha256(file) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert len(hashed) == 2


def test_an_unwritable_or_broken_stamp_file_only_means_hashing_again(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("GOALMATCH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "verified.json").write_text("{not json", encoding="utf-8")
    file = tmp_path / "w.bin"
    file.write_bytes(b"x")
    builds._sha_memo.clear()
    assert builds.stamped_sha256(file) == hashlib.sha256(b"x").hexdigest()
