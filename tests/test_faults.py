"""Faults tried on purpose (issue 7): SIGKILL mid-run, tampered model folders, a full disk.

Every test here runs offline on a FakeEncoder model. The figures they produce (kills
survived, fault kinds refused, writes failed) are recorded in ``docs/reliability.md``.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from goalmatch import load
from goalmatch.batch import portfolio as report
from goalmatch.batch import tables as tabular
from goalmatch.batch import writers
from goalmatch.batch.journal import Journal
from goalmatch.batch.tables import TableError
from goalmatch.batch.writers import publish, write_atomic
from goalmatch.cli.main import main
from goalmatch.embed.cache import EmbeddingCache
from goalmatch.errors import ModelError
from goalmatch.model.matcher import Matcher
from goalmatch.persistence import files
from goalmatch.persistence.files import file_sha256 as _sha256
from tests.toys import BATCH_TEXTS

openpyxl = pytest.importorskip("openpyxl")

_CLI = "import sys; from goalmatch.cli.main import main; sys.exit(main(sys.argv[1:]))"


def _backlog(path: Path, n: int) -> Path:
    """``n`` rows with ids; every 37th row has no text and every 53rd repeats an id, so rejects are written too."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "titel", "beskrivning"])
        for i in range(1, n + 1):
            title, text = f"Projekt {i}", f"{BATCH_TEXTS[i % len(BATCH_TEXTS)]} Del {i}: {' '.join(['byn'] * (i % 7))}."
            writer.writerow([f"A-{i - 1 if i % 53 == 0 else i:04d}", *(("", "") if i % 37 == 0 else (title, text))])
    return path


def _score_argv(folder: Path, model: Path, out: str, chunk_rows: int = 2) -> list[str]:
    return ["score", str(folder / "in.csv"), "--model", str(model), "--id-column", "id", "--chunk-rows",
            str(chunk_rows), "--no-progress", "-o", str(folder / out)]


def _one_line_error(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("goalmatch: error: "), stderr
    assert "Traceback" not in stderr


def _chunks(journal: Path) -> int:
    return len(list(journal.glob("chunk-*.json")))


# ------------------------------------------------------------------ SIGKILL at random points, repeated

KILLS = 5
ROWS = 200


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_score_survives_repeated_sigkill_at_random_points(batch_model_dir: Path, tmp_path: Path, fmt: str) -> None:
    """5 SIGKILLs at seeded random moments (one in start-up, four after a random number of
    further committed chunks plus a random delay), then a run to completion: the output and
    rejects files equal an uninterrupted run's byte for byte, and nothing else is left."""
    rng = random.Random(f"kills-{fmt}")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for folder in (whole, killed):
        folder.mkdir()
        _backlog(folder / "in.csv", ROWS)
    out = f"out.{fmt}"
    journal = killed / f"{out}.partial"
    landed = []
    for kill in range(KILLS):
        before = _chunks(journal)
        victim = subprocess.Popen([sys.executable, "-c", _CLI, *_score_argv(killed, batch_model_dir, out)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if kill == 0:  # somewhere in start-up: imports, loading the model, opening the journal
            time.sleep(rng.uniform(0.05, 1.0))
        else:
            target = journal / f"chunk-{before + rng.randint(1, 8):08d}.json"  # one stat per poll, not a listing
            deadline = time.monotonic() + 120  # generous: on a loaded machine start-up alone can take a minute
            while not target.exists() and victim.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.02))  # between, or inside, a chunk's write and rename
        victim.send_signal(signal.SIGKILL)  # a no-op for a run that already ended: the assertion says so
        _, err = victim.communicate()
        assert victim.returncode == -signal.SIGKILL, f"kill {kill + 1}: the run ended first: {err}"
        assert not (killed / out).exists(), "the output appeared before the run was complete"
        landed.append((before, _chunks(journal)))
    assert landed[-1][1] < ROWS // 2, "the kills did not land mid-run"
    # most kills land after fresh commits (one may hit start-up again where the machine is slow)
    assert sum(after > before for before, after in landed[1:]) >= KILLS - 2, landed
    final = subprocess.run([sys.executable, "-c", _CLI, *_score_argv(killed, batch_model_dir, out), "--json"],
                           capture_output=True, text=True, timeout=120)
    assert final.returncode == 3, final.stderr  # finished, with the rejected rows in the rejects file
    summary = json.loads(final.stdout)
    assert summary["rows"] == ROWS and 0 < summary["resumed"] < ROWS
    assert main(_score_argv(whole, batch_model_dir, out)) == 3  # the uninterrupted run, here in-process
    assert (killed / out).read_bytes() == (whole / out).read_bytes()
    rejects = "out.rejects.csv"
    assert (killed / rejects).read_bytes() == (whole / rejects).read_bytes()
    assert len((whole / rejects).read_bytes().splitlines()) == 1 + ROWS // 37 + ROWS // 53
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in whole.iterdir())
    print(f"{fmt}: kills landed after committed chunks (before → after): {landed}; "
          f"resumed {summary['resumed']} of {ROWS} rows")


_KILL_IN_PUBLISH = """
import os, signal, sys
from goalmatch.batch.writers import publish
def rows():
    for i in range(200):
        yield [{"a": i, "b": "x" * 500}]
        if i == 100:
            os.kill(os.getpid(), signal.SIGKILL)
publish(sys.argv[1], ["a", "b"], rows())
"""


@pytest.mark.parametrize("name", ["out.csv", "out.jsonl", "out.xlsx"])
def test_sigkill_while_publishing_leaves_the_previous_file_and_no_temporary_file(tmp_path: Path, name: str) -> None:
    dest = tmp_path / name
    publish(dest, ["a", "b"], [[{"a": 1, "b": "old"}]])
    old = dest.read_bytes()
    victim = subprocess.run([sys.executable, "-c", _KILL_IN_PUBLISH, str(dest)], capture_output=True, timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert dest.read_bytes() == old
    # the killed write's temporary file (an .xlsx is only written out when it is closed)
    assert len(list(tmp_path.iterdir())) == (1 if name.endswith(".xlsx") else 2)
    publish(dest, ["a", "b"], [[{"a": 2, "b": "new"}]])  # the next write removes what the killed one left
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_journal_with_a_cut_or_foreign_chunk_redoes_it(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    journal = Journal(out, {"run": 1}, resume=True)
    for start in (1, 3, 5):
        journal.commit(start, start + 1, [{"row": start}], [])
    (journal.dir / "chunk-00000002.json").write_text('{"start": 3, "end"', encoding="utf-8")  # cut mid-write
    assert [c.name for c in Journal(out, {"run": 1}, resume=True).chunks] == ["chunk-00000001.json"]
    assert Journal(out, {"run": 2}, resume=True).chunks == []  # another run's journal is not resumed


# ------------------------------------------------------------------ model folder faults


def _rewrite_manifest(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _rehash(folder: Path, rel: str) -> None:
    """Make the manifest agree with a changed file, so the check after the hash is what is tried."""
    _rewrite_manifest(folder, lambda m: m["files"].__setitem__(
        rel, {"sha256": _sha256(folder / rel), "size": (folder / rel).stat().st_size}))


def _flip(folder: Path, rel: str) -> None:
    data = bytearray((folder / rel).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / rel).write_bytes(bytes(data))


def _append(folder: Path, rel: str, text: str) -> None:
    with (folder / rel).open("a", encoding="utf-8") as handle:
        handle.write(text)


def _cut(folder: Path, rel: str, keep: float, rehash: bool = True) -> None:
    data = (folder / rel).read_bytes()
    (folder / rel).write_bytes(data[: int(len(data) * keep)])
    if rehash:
        _rehash(folder, rel)


def _symlink_out(folder: Path, rel: str) -> None:
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.move(folder / rel, outside / Path(rel).name)
    os.symlink(outside / Path(rel).name, folder / rel)


def _symlink_in(folder: Path, rel: str, target: str) -> None:
    (folder / rel).unlink()
    os.symlink(folder / target, folder / rel)


def _head_value(folder: Path, rel: str, name: str, value: Any) -> None:
    head = json.loads((folder / rel).read_text(encoding="utf-8"))
    head["fitted"][name] = value
    (folder / rel).write_text(json.dumps(head), encoding="utf-8")
    _rehash(folder, rel)


def _manifest_field(folder: Path, index: int, key: str, value: str) -> None:
    _rewrite_manifest(folder, lambda m: m["frameworks"][index].__setitem__(key, value))


def _file_entry(folder: Path, rel: str) -> None:
    _rewrite_manifest(folder, lambda m: m["files"].__setitem__(rel, {"sha256": "0" * 64, "size": 1}))


MODEL_FAULTS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "changed head": (lambda f: _flip(f, "heads/bt.json"), r"heads/bt\.json: its sha256 or size differs"),
    "changed array": (lambda f: _flip(f, "heads/bt.prototypes.npy"), r"heads/bt\.prototypes\.npy: its sha256"),
    "changed framework": (lambda f: _append(f, "frameworks/bm.yaml", "# x\n"),
                          r"frameworks/bm\.yaml: its sha256 or size differs"),
    "missing array": (lambda f: (f / "heads/bm.labelled.npy").unlink(),
                      r"heads/bm\.labelled\.npy: listed in the manifest but missing"),
    "missing folder": (lambda f: shutil.rmtree(f / "frameworks"), r"frameworks/b[mt]\.yaml: listed .* but missing"),
    "extra file": (lambda f: (f / "notes.txt").write_text("x"), r"notes\.txt: not listed in the manifest"),
    "extra hidden file": (lambda f: (f / "heads" / ".x.json").write_bytes(b"PK"), r"heads/\.x\.json: not listed"),
    "path ../x": (lambda f: _file_entry(f, "../x"), r"manifest\.json: file path '\.\./x' leaves the model folder"),
    "path heads/../../x": (lambda f: _file_entry(f, "heads/../../x"), r"'heads/\.\./\.\./x' leaves the model"),
    "absolute path": (lambda f: _file_entry(f, "/etc/passwd"), r"'/etc/passwd' leaves the model folder"),
    "head path ../x": (lambda f: _manifest_field(f, 0, "head", "../m2/heads/bt.json"),
                       r"manifest\.json: file path '\.\./m2/heads/bt\.json' leaves the model folder"),
    "framework path absolute": (lambda f: _manifest_field(f, 0, "file", str(f / "frameworks/bt.yaml")),
                                r"leaves the model folder"),
    "symlink to outside": (lambda f: _symlink_out(f, "references.npy"), r"references\.npy: a symbolic link"),
    "symlinked folder": (lambda f: _symlink_out(f, "heads"), r"/heads: a symbolic link"),
    "symlink to inside": (lambda f: _symlink_in(f, "heads/bt.labelled.npy", "heads/bm.labelled.npy"),
                          r"heads/bt\.labelled\.npy: a symbolic link"),
    "extra symlink to inside": (lambda f: os.symlink(f / "references.npy", f / "alias.npy"),
                                r"alias\.npy: a symbolic link"),
    "truncated npy": (lambda f: _cut(f, "heads/bt.prototypes.npy", 0.5),
                      r"heads/bt\.prototypes\.npy: not a plain numeric array"),
    "truncated npy header": (lambda f: _cut(f, "references.npy", 0.02), r"references\.npy: not a plain numeric"),
    "empty npy": (lambda f: _cut(f, "heads/bm.prototype_goal.npy", 0.0), r"prototype_goal\.npy: not a plain"),
    "truncated npy, not rehashed": (lambda f: _cut(f, "references.npy", 0.5, rehash=False),
                                    r"references\.npy: its sha256 or size differs"),
    "pickled npy": (lambda f: (np.save(f / "references.npy", np.array([{}], dtype=object), allow_pickle=True),
                               _rehash(f, "references.npy")), r"references\.npy: not a plain numeric array"),
    "head naming a type": (lambda f: _head_value(f, "heads/bt.json", "coef_", {"__class__": "LogisticRegression"}),
                           r"heads/bt\.json: coef_: a value of a form goalmatch does not write"),
    "head array outside heads/": (lambda f: _head_value(f, "heads/bm.json", "coef_", {"array": "references.npy"}),
                                  r"heads/bm\.json: coef_: array file 'references\.npy' is not in heads/"),
    "truncated head": (lambda f: _cut(f, "heads/bt.json", 0.6), r"heads/bt\.json: not valid JSON"),
    "broken references.json": (lambda f: _cut(f, "references.json", 0.5), r"references\.json: not valid JSON"),
    "truncated manifest": (lambda f: _cut(f, "manifest.json", 0.5, rehash=False), r"manifest\.json: not valid JSON"),
}


@pytest.mark.parametrize("fault", list(MODEL_FAULTS))
def test_a_faulty_model_folder_is_refused_naming_the_file(batch_model_dir: Path, tmp_path: Path, fault: str) -> None:
    folder = Path(shutil.copytree(batch_model_dir, tmp_path / "m"))
    shutil.copytree(batch_model_dir, tmp_path / "m2")  # what a path escaping the folder would reach
    apply, message = MODEL_FAULTS[fault]
    apply(folder)
    with pytest.raises(ModelError, match=message):
        load(folder)


def test_the_cli_refuses_a_faulty_model_with_one_line(batch_model_dir: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(batch_model_dir, tmp_path / "m"))
    _symlink_in(folder, "heads/bt.labelled.npy", "heads/bm.labelled.npy")
    done = subprocess.run([sys.executable, "-c", _CLI, "info", str(folder)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    _one_line_error(done.stderr)
    assert "heads/bt.labelled.npy: a symbolic link" in done.stderr


# ------------------------------------------------------------------ disk full: real faults (RLIMIT_FSIZE)


_LIMITED = """
import resource, signal, sys
if sys.argv[1] == "warm":  # py3langid unpacks its model to a temporary file (4.6 MB) on first use
    from goalmatch.text.prepare import _language_identifier
    _language_identifier()
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
if sys.argv[3] == "fake-encoder":
    import goalmatch.embed.encoder as e
    e.Encoder = e.FakeEncoder
from goalmatch.cli.main import main
sys.exit(main(sys.argv[4:]))
"""


def _run_limited(argv: list[str], limit: int, *, warm: bool = True,
                 fake_encoder: bool = False) -> subprocess.CompletedProcess[str]:
    """``goalmatch ARGV`` in a child whose files may not grow past ``limit`` bytes (a real EFBIG, like a full disk)."""
    flags = ["warm" if warm else "cold", str(limit), "fake-encoder" if fake_encoder else "real"]
    return subprocess.run([sys.executable, "-c", _LIMITED, *flags, *argv], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_score_fails_clearly_when_the_text_pipeline_cannot_write_its_temporary_file(batch_model_dir: Path,
                                                                                     tmp_path: Path) -> None:
    _backlog(tmp_path / "in.csv", 10)
    full = _run_limited(_score_argv(tmp_path, batch_model_dir, "out.csv", chunk_rows=5), 16_000, warm=False)
    assert full.returncode in (1, 2), f"exit {full.returncode}: {full.stderr}"
    assert len(full.stderr.strip().splitlines()) == 1 and "File too large" in full.stderr


def test_score_with_a_full_disk_fails_clearly_keeps_the_old_output_and_resumes(batch_model_dir: Path,
                                                                               tmp_path: Path) -> None:
    _backlog(tmp_path / "in.csv", 60)
    (tmp_path / "out.csv").write_text("the previous output\n", encoding="utf-8")
    full = _run_limited(_score_argv(tmp_path, batch_model_dir, "out.csv", chunk_rows=8), 16_000)
    assert full.returncode == 2, full.stderr
    _one_line_error(full.stderr)
    assert "out.csv: cannot write it (File too large); the file was left as it was" in full.stderr
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "the previous output\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert _chunks(tmp_path / "out.csv.partial") == 8  # every row is scored and kept
    again = subprocess.run([sys.executable, "-c", _CLI, *_score_argv(tmp_path, batch_model_dir, "out.csv", 8),
                            "--json"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 3 and json.loads(again.stdout)["resumed"] == 60
    assert len(tabular.open_table(tmp_path / "out.csv").columns) > 10


def test_score_with_a_full_disk_for_the_journal_fails_clearly(batch_model_dir: Path, tmp_path: Path) -> None:
    _backlog(tmp_path / "in.csv", 40)
    full = _run_limited(_score_argv(tmp_path, batch_model_dir, "out.jsonl", chunk_rows=40), 4_000)
    assert full.returncode == 2, full.stderr
    _one_line_error(full.stderr)
    assert "out.jsonl.partial/chunk-00000001.json: cannot write it (File too large)" in full.stderr
    assert [p.name for p in (tmp_path / "out.jsonl.partial").iterdir()] == ["journal.json"]
    assert not (tmp_path / "out.jsonl").exists()


def _scored_table(tmp_path: Path, matcher: Matcher, rows: int) -> Path:
    from goalmatch.batch.score import score_file

    _backlog(tmp_path / "in.csv", rows)
    score_file(tmp_path / "in.csv", tmp_path / "scored.csv", matcher=matcher, id_column="id", progress=False)
    return tmp_path / "scored.csv"


@pytest.mark.parametrize("what", ["markdown", "xlsx"])
def test_report_with_a_full_disk_fails_clearly_and_keeps_the_old_files(batch_matcher: Matcher, tmp_path: Path,
                                                                       what: str) -> None:
    scored = _scored_table(tmp_path, batch_matcher, 80)
    (tmp_path / "r.md").write_text("old report\n", encoding="utf-8")
    (tmp_path / "r.xlsx").write_bytes(b"old workbook")
    argv = ["report", str(scored), "-o", str(tmp_path / "r.md")]
    if what == "xlsx":
        argv += ["--xlsx", str(tmp_path / "r.xlsx")]
    full = _run_limited(argv, 4_000)
    assert full.returncode == 2, full.stderr
    _one_line_error(full.stderr)
    # the Markdown's charts (r-*.svg) are written before it: the first file that does not fit is named
    named = r"r\.xlsx" if what == "xlsx" else r"r(\.md|-[\w-]+\.svg)"
    assert re.search(named + r": cannot write it \(File too large\)", full.stderr), full.stderr
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == "old report\n"
    assert (tmp_path / "r.xlsx").read_bytes() == b"old workbook"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_train_with_a_full_disk_fails_clearly_and_keeps_the_old_model(batch_model_dir: Path, tmp_path: Path) -> None:
    from goalmatch._paths import corpora_dir

    shutil.copytree(batch_model_dir, tmp_path / "model")
    before = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    argv = ["train", "--frameworks", str(corpora_dir() / "frameworks"), "--data", str(corpora_dir() / "projects"),
            "--out", str(tmp_path / "model"), "--force"]
    full = _run_limited(argv, 6_000, fake_encoder=True)
    assert full.returncode == 2, full.stderr
    _one_line_error(full.stderr)
    assert "cannot write the model folder" in full.stderr and "File too large" in full.stderr
    after = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # the old model, whole; no temporary folder
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# ------------------------------------------------------------------ disk full: ENOSPC in-process


def _enospc(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _no_stray(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("name", ["o.csv", "o.tsv", "o.jsonl", "o.xlsx", "o.parquet"])
def test_publish_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    dest = publish(tmp_path / name, ["a"], [[{"a": "old"}]])
    old = dest.read_bytes()
    calls = iter(range(10))

    def fill(self: Any, rows: Any) -> None:
        if next(calls) == 2:
            _enospc()
        original(self, rows)

    original = writers.TableWriter.write
    monkeypatch.setattr(writers.TableWriter, "write", fill)
    with pytest.raises(TableError, match=f"{name}: cannot write it \\(No space left on device\\); the file was left"):
        publish(dest, ["a"], ([{"a": i}] for i in range(5)))
    assert dest.read_bytes() == old and _no_stray(tmp_path) == []


def test_the_journal_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "o.csv", {"run": 1}, resume=True)
    journal.commit(1, 2, [{"row": 1}], [])
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(TableError, match=r"chunk-00000002\.json: cannot write it \(No space left on device\)"):
        journal.commit(3, 4, [{"row": 3}], [])
    assert sorted(p.name for p in journal.dir.iterdir()) == ["chunk-00000001.json", "journal.json"]
    monkeypatch.undo()
    assert len(Journal(tmp_path / "o.csv", {"run": 1}, resume=True).chunks) == 1


def test_write_atomic_on_a_full_disk_keeps_the_old_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_atomic(tmp_path / "a.md", "old")
    monkeypatch.setattr(os, "replace", _enospc)
    with pytest.raises(TableError, match=r"a\.md: cannot write it"):
        report.write_markdown("new", tmp_path / "a.md")
    assert (tmp_path / "a.md").read_text() == "old" and _no_stray(tmp_path) == []


def test_report_xlsx_on_a_full_disk(batch_matcher: Matcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = report.portfolio(_scored_table(tmp_path, batch_matcher, 6))
    report.to_xlsx(result, tmp_path / "r.xlsx")
    old = (tmp_path / "r.xlsx").read_bytes()

    def half_then_full(self: Any, filename: Any) -> None:
        Path(filename).write_bytes(b"PK half a workbook")
        _enospc()

    monkeypatch.setattr(openpyxl.Workbook, "save", half_then_full)
    with pytest.raises(TableError, match=r"r\.xlsx: cannot write it \(No space left on device\)"):
        report.to_xlsx(result, tmp_path / "r.xlsx")
    assert (tmp_path / "r.xlsx").read_bytes() == old and _no_stray(tmp_path) == []


def test_save_on_a_full_disk_keeps_the_old_model(batch_matcher: Matcher, batch_model_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    dest = Path(shutil.copytree(batch_model_dir, tmp_path / "m"))
    before = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    original, calls = files.save_array, iter(range(100))

    def fill(path: Path, array: np.ndarray) -> None:
        if next(calls) == 3:
            path.write_bytes(b"\x93NUMPY half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        original(path, array)

    monkeypatch.setattr(files, "save_array", fill)
    with pytest.raises(ModelError, match=r"cannot write the model folder .*/m \(No space left on device\); nothing"):
        batch_matcher.save(dest, overwrite=True)
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    monkeypatch.setattr(os, "rename", _enospc)  # the last step: the new folder into place
    with pytest.raises(ModelError, match="No space left on device"):
        batch_matcher.save(dest, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_the_embedding_cache_on_a_full_disk(batch_matcher: Matcher, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = EmbeddingCache(batch_matcher.encoder, tmp_path)
    cache.encode(["en text"])
    monkeypatch.setattr(np, "savez", _enospc)
    with pytest.raises(OSError, match="No space left on device"):
        cache.save()
    assert list(tmp_path.iterdir()) == []
