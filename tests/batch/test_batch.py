"""Tests of goalmatch.batch.score and goalmatch.batch.tables: FakeEncoder model, synthetic backlogs, offline."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from goalmatch.batch import rows as batch_rows
from goalmatch.batch.score import BatchError, score_file, suggest_many
from goalmatch.batch.tables import detect_encoding, open_table
from goalmatch.batch.writers import TableWriter
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model.matcher import Matcher
from tests.toys import BATCH_TEXTS

pytest.importorskip("openpyxl")
pytest.importorskip("pyarrow")


def _backlog(n: int) -> list[dict[str, str]]:
    return [{"id": f"A-{i:04d}", "titel": f"Projekt {i}",
             "beskrivning": BATCH_TEXTS[i % len(BATCH_TEXTS)] + f" Del {i}."} for i in range(1, n + 1)]


def _write_csv(path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    return [row.cells for row in open_table(path).rows()]


class CountingEncoder(FakeEncoder):
    def __init__(self, dim: int = 64, prefix: str = "", batch_size: int = 32, show_progress: bool = False) -> None:
        super().__init__(dim=dim, prefix=prefix, batch_size=batch_size, show_progress=show_progress)
        self.calls: list[list[str]] = []
        self.fail_on: str | None = None
        self.interrupt_after: int | None = None

    def encode(self, texts: Any) -> np.ndarray:
        texts = list(texts)
        if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
            raise KeyboardInterrupt
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise RuntimeError("encoder broke")
        self.calls.append(texts)
        return super().encode(texts)


def _counting(matcher: Matcher) -> tuple[Matcher, CountingEncoder]:
    encoder = CountingEncoder()
    return matcher.with_encoder(encoder), encoder


# ------------------------------------------------------------------ suggest_many


def test_suggest_many_equals_suggest_with_one_encoder_call(batch_matcher: Matcher) -> None:
    counted, encoder = _counting(batch_matcher)
    many = suggest_many(counted, BATCH_TEXTS, top_k=2)
    assert len(encoder.calls) == 1
    assert [s.to_dict() for s in many] == [batch_matcher.suggest(t, top_k=2).to_dict() for t in BATCH_TEXTS]
    assert [r.framework_id
            for r in suggest_many(batch_matcher, BATCH_TEXTS[:1], frameworks=["bm"])[0].frameworks] == ["bm"]


# ------------------------------------------------------------------ rows in, rows out


def test_score_csv_keeps_order_and_ids_and_joins_title_and_text(batch_matcher: Matcher, tmp_path: Path) -> None:
    rows = _backlog(7)
    summary = score_file(_write_csv(tmp_path / "in.csv", rows), tmp_path / "out.csv", matcher=batch_matcher,
                         id_column="id", chunk_rows=3, top_k=2, progress=False)
    assert (summary.rows, summary.scored, summary.rejected) == (7, 7, 0)
    out = _read(tmp_path / "out.csv")
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    assert [r["row"] for r in out] == [str(i) for i in range(1, 8)]
    expected = batch_matcher.suggest(f"{rows[0]['titel']}\n\n{rows[0]['beskrivning']}", top_k=2)
    for fid in ("bt", "bm"):
        top = expected[fid].suggestions
        assert out[0][f"{fid}.goal_1"] == top[0].goal_id and out[0][f"{fid}.name_2"] == top[1].name
        assert float(out[0][f"{fid}.p_1"]) == pytest.approx(top[0].probability, abs=1e-4)
        assert out[0][f"{fid}.abstained"] == str(expected[fid].abstained).lower()
        assert out[0][f"{fid}.evidence"].startswith("«")
    assert out[0]["language"] == "sv" and out[0]["too_short"] == "false"
    assert "bt.goal_3" not in out[0]
    assert (tmp_path / "out.rejects.csv").is_file() and _read(tmp_path / "out.rejects.csv") == []
    assert not (tmp_path / "out.csv.partial").exists()


def test_without_sentences_the_goals_are_the_same_and_the_evidence_quotes_no_sentence(batch_matcher: Matcher,
                                                                                       tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", _backlog(5))
    score_file(path, tmp_path / "full.csv", matcher=batch_matcher, id_column="id", progress=False)
    score_file(path, tmp_path / "lean.csv", matcher=batch_matcher, id_column="id", progress=False, sentences=False)
    full, lean = _read(tmp_path / "full.csv"), _read(tmp_path / "lean.csv")
    for a, b in zip(full, lean, strict=True):
        for fid in ("bt", "bm"):
            assert [a[f"{fid}.goal_{k}"] for k in (1, 2, 3)] == [b[f"{fid}.goal_{k}"] for k in (1, 2, 3)]
            assert a[f"{fid}.p_1"] == b[f"{fid}.p_1"] and a[f"{fid}.abstained"] == b[f"{fid}.abstained"]
            assert a[f"{fid}.evidence"].startswith("«") and b[f"{fid}.evidence"].startswith("matches ")


def test_bad_rows_are_rejected_and_the_run_goes_on(batch_matcher: Matcher, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_rows, "MAX_CHARS", 500)
    good = BATCH_TEXTS[0]
    lines = [b"id,text", b"a1," + good.encode(), b"a2,", b",no id here", b"a1," + BATCH_TEXTS[1].encode(),
             b"a3," + ("bredband " * 80).encode(), b"a4,trasig \xff byte " + "här är å ä ö ".encode() * 5,
             b"a5," + BATCH_TEXTS[2].encode()]
    path = tmp_path / "in.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = score_file(path, tmp_path / "out.jsonl", matcher=batch_matcher, id_column="id", progress=False,
                         chunk_rows=2)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["status"] for r in out] == ["scored", "rejected: empty text", "rejected: missing id",
                                          "rejected: duplicate id", "rejected: too long", "rejected: undecodable",
                                          "scored"]
    assert [r["row"] for r in out] == list(range(1, 8))
    assert (summary.scored, summary.rejected) == (2, 5)
    rejects = _read(tmp_path / "out.rejects.csv")
    assert [r["reason"] for r in rejects] == ["empty text", "missing id", "duplicate id", "too long", "undecodable"]
    assert rejects[2]["detail"] == "rad 4, kolumn id: id 'a1' finns redan på rad 1"
    assert "kolumn text" in rejects[4]["detail"]
    assert summary.reasons["duplicate id"] == 1


def test_a_text_over_the_csv_field_limit_is_rejected_as_too_long(batch_matcher: Matcher, tmp_path: Path) -> None:
    rows = [{"id": "x", "text": "bredband " * 25_000}, {"id": "y", "text": BATCH_TEXTS[0]}]  # 224,999 once stripped
    summary = score_file(_write_csv(tmp_path / "in.csv", rows), tmp_path / "o.csv", matcher=batch_matcher,
                         id_column="id", progress=False)
    assert (summary.reasons, summary.scored) == ({"too long": 1}, 1)
    assert "224\u00a0999 tecken, över gränsen 200\u00a0000" in _read(tmp_path / "o.rejects.csv")[0]["detail"]


def test_a_row_the_matcher_fails_on_is_rejected_alone(batch_matcher: Matcher, tmp_path: Path) -> None:
    counted, encoder = _counting(batch_matcher)
    encoder.fail_on = "Del 2."
    score_file(_write_csv(tmp_path / "in.csv", _backlog(4)), tmp_path / "out.csv", matcher=counted,
               id_column="id", progress=False)
    statuses = [r["status"] for r in _read(tmp_path / "out.csv")]
    assert statuses == ["scored", "rejected: scoring failed", "scored", "scored"]
    assert "RuntimeError: encoder broke" in _read(tmp_path / "out.rejects.csv")[0]["detail"]


def test_without_an_id_column_the_row_number_is_the_id(batch_matcher: Matcher, tmp_path: Path) -> None:
    rows = [{"Beskrivning": t} for t in BATCH_TEXTS]  # found by name, case-insensitively
    score_file(_write_csv(tmp_path / "in.tsv", rows, delimiter="\t"), tmp_path / "o.csv", matcher=batch_matcher,
               progress=False)
    assert [r["id"] for r in _read(tmp_path / "o.csv")] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("encoding,delimiter", [("cp1252", ";"), ("utf-8-sig", ","), ("utf-8", "\t"),
                                                ("utf-16", "\t")])
def test_swedish_office_exports_are_decoded(batch_matcher: Matcher, tmp_path: Path, encoding: str,
                                            delimiter: str) -> None:
    rows = [{"id": "å1", "text": "Föreningen ordnar teater för äldre – och unga"}, {"id": "ö2", "text": BATCH_TEXTS[0]}]
    table = open_table(_write_csv(tmp_path / "in.csv", rows, encoding, delimiter))
    assert table.delimiter == delimiter and table.columns == ["id", "text"]
    assert [r.cells for r in table.rows()] == rows
    assert detect_encoding(rows[0]["text"].encode(encoding)) in (encoding, "utf-16")


def test_formats_round_trip_to_the_same_scores(batch_matcher: Matcher, tmp_path: Path) -> None:
    rows = _backlog(5)
    with TableWriter(tmp_path / "in.xlsx", list(rows[0])) as writer:
        writer.write(rows)
    with TableWriter(tmp_path / "in.parquet", list(rows[0])) as writer:
        writer.write(rows)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    results = {}
    for source, dest in [("in.xlsx", "a.parquet"), ("in.parquet", "b.xlsx"), ("in.jsonl", "c.csv"),
                         ("in.xlsx", "d.jsonl")]:
        score_file(tmp_path / source, tmp_path / dest, matcher=batch_matcher, id_column="id",
                   text_columns=["titel", "beskrivning"], progress=False)
        results[dest] = [(r["id"], r["bt.goal_1"], round(float(r["bm.p_1"]), 4)) for r in _read(tmp_path / dest)]
    assert len({tuple(v) for v in results.values()}) == 1
    assert [r[0] for r in results["a.parquet"]] == [r["id"] for r in rows]


def test_runs_that_cannot_start_name_the_problem(batch_matcher: Matcher, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", _backlog(2))
    with pytest.raises(BatchError, match=r"no column 'nr' for the id; the columns are: id, titel, beskrivning"):
        score_file(path, tmp_path / "o.csv", matcher=batch_matcher, id_column="nr")
    with pytest.raises(BatchError, match="unknown framework"):
        score_file(path, tmp_path / "o.csv", matcher=batch_matcher, frameworks=["rus"])
    with pytest.raises(BatchError, match=r"unknown table format '\.docx'"):
        score_file(path, tmp_path / "o.docx", matcher=batch_matcher)
    with pytest.raises(BatchError, match="would overwrite the input"):
        score_file(path, path, matcher=batch_matcher)
    with pytest.raises(BatchError, match="no text column found"):
        score_file(_write_csv(tmp_path / "x.csv", [{"a": "b"}]), tmp_path / "o.csv", matcher=batch_matcher)


# ------------------------------------------------------------------ resume, cache


def test_an_interrupted_run_resumes_without_losing_or_repeating_rows(batch_matcher: Matcher, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", _backlog(10))
    score_file(path, tmp_path / "whole.csv", matcher=batch_matcher, id_column="id", chunk_rows=3, progress=False)
    counted, encoder = _counting(batch_matcher)
    encoder.interrupt_after = 2
    with pytest.raises(KeyboardInterrupt):
        score_file(path, tmp_path / "out.csv", matcher=counted, id_column="id", chunk_rows=3, progress=False)
    assert not (tmp_path / "out.csv").exists()
    assert len(list((tmp_path / "out.csv.partial").glob("chunk-*.json"))) == 2
    encoder.interrupt_after, encoder.calls = None, []
    summary = score_file(path, tmp_path / "out.csv", matcher=counted, id_column="id", chunk_rows=3, progress=False)
    assert summary.resumed == 6 and len(encoder.calls) == 2  # rows 7-9 and 10
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert not (tmp_path / "out.csv.partial").exists()


def test_a_journal_of_other_options_is_not_resumed(batch_matcher: Matcher, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", _backlog(4))
    counted, encoder = _counting(batch_matcher)
    encoder.interrupt_after = 1
    with pytest.raises(KeyboardInterrupt):
        score_file(path, tmp_path / "out.csv", matcher=counted, chunk_rows=2, progress=False)
    encoder.interrupt_after = None
    summary = score_file(path, tmp_path / "out.csv", matcher=counted, chunk_rows=2, top_k=1, progress=False)
    assert summary.resumed == 0 and summary.scored == 4


def test_the_embedding_cache_spares_encoding_on_a_rerun(batch_matcher: Matcher, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "in.csv", _backlog(5))
    counted, encoder = _counting(batch_matcher)
    score_file(path, tmp_path / "a.csv", matcher=counted, cache_dir=tmp_path / "cache", chunk_rows=2, progress=False)
    assert len(encoder.calls) == 3
    encoder.calls = []
    score_file(path, tmp_path / "b.csv", matcher=counted, cache_dir=tmp_path / "cache", chunk_rows=2, progress=False)
    assert encoder.calls == []
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


_RUN = "import sys; from goalmatch.cli.main import main; sys.exit(main(sys.argv[1:]))"


def test_a_run_killed_with_sigkill_resumes_to_the_same_bytes(batch_model_dir: Path, tmp_path: Path) -> None:
    _write_csv(tmp_path / "in.csv", _backlog(120))
    common = [str(tmp_path / "in.csv"), "--model", str(batch_model_dir), "--id-column", "id", "--chunk-rows", "2",
              "--no-progress"]
    victim = subprocess.Popen([sys.executable, "-c", _RUN, "score", *common, "-o", str(tmp_path / "out.csv")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "out.csv.partial"
    deadline = time.monotonic() + 50
    while len(list(journal.glob("chunk-*.json"))) < 3 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "out.csv").exists()
    committed = len(list(journal.glob("chunk-*.json")))
    assert 3 <= committed < 60
    assert _cli([*common, "-o", str(tmp_path / "out.csv"), "--json"]) == 0  # the rerun, here in-process
    assert _cli([*common, "-o", str(tmp_path / "whole.csv")]) == 0
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert [r["Id"] for r in _read(tmp_path / "out.csv")] == [f"A-{i:04d}" for i in range(1, 121)]


# ------------------------------------------------------------------ command line


def _cli(argv: list[str]) -> int:
    from goalmatch.cli.main import main

    return main(["score", *argv])


def test_score_command_exit_codes(batch_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_csv(tmp_path / "in.csv", _backlog(3))
    assert _cli([str(path), "--model", str(batch_model_dir), "--id-column", "id", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scored"] == 3 and summary["output"] == str(tmp_path / "in.scores.csv")
    rows = [*_backlog(2), {"id": "A-0001", "titel": "", "beskrivning": "dubbel"}]
    path = _write_csv(tmp_path / "dup.csv", rows)
    assert _cli([str(path), "--model", str(batch_model_dir), "--id-column", "id", "-o", str(tmp_path / "d.xlsx")]) == 3
    assert "1 rad avvisad (1 id förekommer redan)" in capsys.readouterr().out
    assert _cli([str(path), "--model", str(batch_model_dir), "--text-columns", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert _cli([str(tmp_path / "missing.csv"), "--model", str(batch_model_dir)]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


@pytest.mark.parametrize(("fault", "code", "message"), [
    (KeyboardInterrupt(), 130, "goalmatch: interrupted; run the same command again to resume\n"),
    (OSError(28, "No space left on device", "out.csv"), 1,
     "goalmatch: error: out.csv: No space left on device; fix it and run the same command again to resume\n"),
    (RuntimeError("a bug"), 1, "goalmatch: internal error: RuntimeError: a bug\n"),
])
def test_score_command_says_how_to_resume(batch_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, fault: BaseException, code: int,
                                          message: str) -> None:
    def stopped(*args: object, **kwargs: object) -> None:
        raise fault

    monkeypatch.setattr("goalmatch.cli.score.score_file", stopped)
    assert _cli([str(_write_csv(tmp_path / "in.csv", _backlog(2))), "--model", str(batch_model_dir)]) == code
    assert capsys.readouterr().err == message


def test_progress_is_a_bar_on_request_and_log_lines_otherwise(batch_matcher: Matcher, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    path = _write_csv(tmp_path / "in.csv", _backlog(4))
    score_file(path, tmp_path / "a.csv", matcher=batch_matcher, chunk_rows=2, progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "rows/s" in err
    with caplog.at_level("INFO", logger="goalmatch"):
        score_file(path, tmp_path / "b.csv", matcher=batch_matcher, chunk_rows=2, progress=False)
    assert any("scored 4/4 rows" in r.getMessage() and "rows/s" in r.getMessage() for r in caplog.records)
