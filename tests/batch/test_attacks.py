"""Issue 16's attacks on ``goalmatch score``, each reproduced small (FakeEncoder model, files of a few rows)."""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from goalmatch.batch.score import BatchError, score_file
from goalmatch.batch.tables import CSV_FIELD_LIMIT, open_table
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model.matcher import Matcher
from tests.toys import BATCH_TEXTS

pytest.importorskip("openpyxl")
pytest.importorskip("pyarrow")


def _backlog(path: Path, n: int, tag: str = "A") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "titel", "beskrivning"])
        for i in range(1, n + 1):
            writer.writerow([f"{tag}-{i:04d}", f"Projekt {i}", BATCH_TEXTS[i % len(BATCH_TEXTS)] + f" Del {i}."])
    return path


def _ids(path: Path) -> list[str | None]:
    return [row.cells["id"] for row in open_table(path).rows()]


def _cli(argv: list[str]) -> int:
    from goalmatch.cli.main import main

    return main(["score", *argv])


# ------------------------------------------------------------------ 1. two runs on one output


class GatedEncoder(FakeEncoder):
    """Encodes once freely, then waits at each call until ``go`` is set: a run caught in the middle."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.go, self.calls = threading.Event(), threading.Event(), 0

    def encode(self, texts: Any) -> np.ndarray:
        self.calls += 1
        if self.calls > 1:
            self.started.set()
            assert self.go.wait(30), "the test never let the run go on"
        return super().encode(texts)


def test_a_second_run_on_the_same_output_is_refused_and_the_first_is_unharmed(
        batch_matcher: Matcher, batch_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first_in, other_in = _backlog(tmp_path / "a.csv", 12, "A"), _backlog(tmp_path / "b.csv", 12, "B")
    out = tmp_path / "out.csv"
    encoder = GatedEncoder()
    failures: list[BaseException] = []

    def first() -> None:
        try:
            score_file(first_in, out, matcher=batch_matcher.with_encoder(encoder), id_column="id", chunk_rows=3,
                       progress=False)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert encoder.started.wait(30), "the first run never reached its second chunk"
        journal = sorted(p.name for p in (tmp_path / "out.csv.partial").iterdir())
        # the same input (it used to die with "internal error: TypeError") and another one (it used to
        # delete the first run's journal and mix its rows in) are both refused, naming the output and the run
        for source in (first_in, other_in):
            with pytest.raises(BatchError, match=rf"out\.csv: another goalmatch score run \(pid {os.getpid()}\) "
                                                 r"is writing this file"):
                score_file(source, out, matcher=batch_matcher, id_column="id", chunk_rows=3, progress=False)
        assert _cli([str(other_in), "-o", str(out), "--model", str(batch_model_dir), "--restart"]) == 2
        assert "another goalmatch score run" in capsys.readouterr().err
        # a run whose default rejects file is the first run's (out.xlsx → out.rejects.csv) is refused as well
        with pytest.raises(BatchError, match=r"out\.rejects\.csv: another goalmatch score run"):
            score_file(other_in, tmp_path / "out.xlsx", matcher=batch_matcher, progress=False)
        assert sorted(p.name for p in (tmp_path / "out.csv.partial").iterdir()) == journal
    finally:
        encoder.go.set()
        worker.join(60)
    assert not failures, failures
    assert _ids(out) == [f"A-{i:04d}" for i in range(1, 13)]
    assert not (tmp_path / "out.csv.lock").exists() and not (tmp_path / "out.csv.partial").exists()
    # once the first run is done, the output is free again
    score_file(other_in, out, matcher=batch_matcher, id_column="id", progress=False)
    assert _ids(out) == [f"B-{i:04d}" for i in range(1, 13)]


# ------------------------------------------------------------------ 2. a rejects file over the input


def test_a_rejects_file_that_would_overwrite_the_input_is_refused(batch_matcher: Matcher, batch_model_dir: Path,
                                                                  tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    victim = _backlog(tmp_path / "victim.csv", 3)
    before = victim.read_bytes()
    (tmp_path / "sub").mkdir()
    os.link(victim, tmp_path / "hard.csv")
    os.symlink(victim, tmp_path / "soft.csv")
    for rejects in (victim, tmp_path / "sub" / ".." / "victim.csv", tmp_path / "hard.csv", tmp_path / "soft.csv"):
        with pytest.raises(BatchError, match="the rejects file would overwrite the input"):
            score_file(victim, tmp_path / "v.out.csv", matcher=batch_matcher, rejects=rejects, progress=False)
    # the default rejects file of backlog.csv is backlog.rejects.csv: scoring that file into backlog.csv
    named = _backlog(tmp_path / "backlog.rejects.csv", 3)
    named_before = named.read_bytes()
    with pytest.raises(BatchError, match="the rejects file would overwrite the input"):
        score_file(named, tmp_path / "backlog.csv", matcher=batch_matcher, progress=False)
    with pytest.raises(BatchError, match="the rejects file and the output are the same file"):
        score_file(victim, tmp_path / "o.csv", matcher=batch_matcher, rejects=tmp_path / "o.csv", progress=False)
    with pytest.raises(BatchError, match="the output would overwrite the input"):
        score_file(victim, tmp_path / "hard.csv", matcher=batch_matcher, progress=False)
    assert _cli([str(victim), "-o", str(tmp_path / "v.out.csv"), "--rejects", str(victim), "--model",
                 str(batch_model_dir)]) == 2
    assert "the rejects file would overwrite the input" in capsys.readouterr().err
    assert victim.read_bytes() == before and named.read_bytes() == named_before
    assert not (tmp_path / "v.out.csv").exists() and not (tmp_path / "backlog.csv").exists()


# ------------------------------------------------------------------ 3. resume after a same-size edit


class StoppingEncoder(FakeEncoder):
    """Interrupts the run (as Ctrl-C would) at its second encoder call, when ``stop`` is set."""

    stop = True

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def encode(self, texts: Any) -> np.ndarray:
        self.calls += 1
        if self.stop and self.calls > 1:
            raise KeyboardInterrupt
        return super().encode(texts)


def test_an_input_edited_in_place_with_its_size_and_mtime_kept_is_not_resumed(batch_matcher: Matcher,
                                                                                tmp_path: Path) -> None:
    path = _backlog(tmp_path / "in.csv", 6)
    encoder = StoppingEncoder()
    with pytest.raises(KeyboardInterrupt):
        score_file(path, tmp_path / "out.csv", matcher=batch_matcher.with_encoder(encoder), id_column="id",
                   chunk_rows=3, progress=False)
    assert len(list((tmp_path / "out.csv.partial").glob("chunk-*.json"))) == 1  # rows 1-3 committed
    stat = path.stat()
    edited = path.read_bytes().replace(b"A-0002", b"Z-0002")  # same size, in the committed chunk
    path.write_bytes(edited)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as cp -p, rsync -t or touch -r leave it
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    encoder.stop = False
    summary = score_file(path, tmp_path / "out.csv", matcher=batch_matcher.with_encoder(encoder), id_column="id",
                         chunk_rows=3, progress=False)
    assert summary.resumed == 0 and summary.scored == 6
    assert _ids(tmp_path / "out.csv")[:3] == ["A-0001", "Z-0002", "A-0003"]


# ------------------------------------------------------------------ 5. a long text in the first data line


@pytest.mark.parametrize("line", [1, 3])
def test_a_long_valid_text_in_the_first_data_line_is_scored(batch_matcher: Matcher, tmp_path: Path,
                                                            line: int) -> None:
    default = 131_072
    previous = csv.field_size_limit(default)  # csv's own limit, as in a fresh process
    try:
        long_text = ("Fiber för byn och ett nytt samlingshus. " * 4000)[:150_000]
        assert default < len(long_text) < CSV_FIELD_LIMIT
        rows = [[f"A-{i}", "Projekt", "Kort text."] for i in range(1, 5)]
        rows[line - 1][2] = long_text
        path = tmp_path / "in.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([["id", "titel", "beskrivning"], *rows])
        cells = [row.cells for row in open_table(path).rows()]
        assert [c["id"] for c in cells] == ["A-1", "A-2", "A-3", "A-4"]
        assert cells[line - 1]["beskrivning"] == long_text
        summary = score_file(path, tmp_path / "out.csv", matcher=batch_matcher, id_column="id", sentences=False,
                             progress=False)
        assert summary.scored == 4 and summary.rejected == 0
    finally:
        csv.field_size_limit(previous)


# ------------------------------------------------------------------ 6. a damaged workbook, Parquet bytes and structs


def _workbook_with_a_missing_shared_string(path: Path) -> Path:
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "titel", "beskrivning"])
    for i in range(1, 16):  # the damaged cell below the rows read to find the header
        sheet.append([f"A-{i}", "Projekt", "damaged" if i == 13 else BATCH_TEXTS[i % len(BATCH_TEXTS)]])
    book.save(tmp := path.with_name("whole.xlsx"))
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name == "xl/worksheets/sheet1.xml":
                cell = b'<c r="C14" t="inlineStr"><is><t>damaged</t></is></c>'
                assert cell in data
                data = data.replace(cell, b'<c r="C14" t="s"><v>7</v></c>')  # shared string 7: there are none
            out.writestr(name, data)
    return path


def test_a_workbook_cell_pointing_at_a_missing_shared_string_is_a_table_error(
        batch_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from goalmatch.errors import TableError

    path = _workbook_with_a_missing_shared_string(tmp_path / "broken.xlsx")
    table = open_table(path)  # the header and the first rows are fine
    with pytest.raises(TableError, match=r"broken\.xlsx: sheet 'Sheet', row 14: a cell cannot be read"):
        list(table.rows())
    assert _cli([str(path), "-o", str(tmp_path / "out.csv"), "--model", str(batch_model_dir)]) == 2
    err = capsys.readouterr().err
    assert "broken.xlsx: sheet 'Sheet', row 14" in err and "internal error" not in err


def test_parquet_binary_and_struct_cells_are_decoded_or_rejected_never_reprs(batch_matcher: Matcher,
                                                                            tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [BATCH_TEXTS[0].encode(), b"\xff\xfe" + BATCH_TEXTS[1].encode(), BATCH_TEXTS[2].encode()]
    pq.write_table(pa.table({
        "id": pa.array([b"A-1", b"A-2", b"A-3"], pa.binary()),
        "beskrivning": pa.array(texts, pa.binary()),
        "meta": pa.array([{"x": "a", "y": b"b"}, {"x": "c", "y": b"\xff"}, None],
                         pa.struct([("x", pa.string()), ("y", pa.binary())])),
    }), path := tmp_path / "in.parquet")
    cells = [row.cells for row in open_table(path).rows()]
    assert [c["id"] for c in cells] == ["A-1", "A-2", "A-3"]
    assert cells[0]["beskrivning"] == BATCH_TEXTS[0] and cells[0]["meta"] == '{"x": "a", "y": "b"}'
    assert cells[2]["meta"] is None
    assert not any(str(v).startswith(("b'", 'b"', "{'")) for c in cells for v in c.values())
    summary = score_file(path, tmp_path / "out.csv", matcher=batch_matcher, id_column="id",
                         text_columns=["beskrivning"], progress=False)
    assert (summary.scored, summary.rejected, dict(summary.reasons)) == (2, 1, {"undecodable": 1})
    out = {row.cells["id"]: row.cells for row in open_table(tmp_path / "out.csv").rows()}
    assert out["A-2"]["status"] == "rejected: undecodable" and out["A-1"]["excerpt"] == BATCH_TEXTS[0][:100]
    struct = score_file(path, tmp_path / "meta.csv", matcher=batch_matcher, id_column="id", text_columns=["meta"],
                        progress=False)
    assert (struct.scored, struct.rejected) == (1, 2)  # a struct with bytes that are not UTF-8; an empty one


# ------------------------------------------------------------------ 7. formulas behind a separator, full-width ones


PAYLOADS = ["x;=cmd|' /C calc'!A0;", "\uff1dcmd|' /C calc'!A0", "a,+SUM(1;2)", "\ufe66HYPERLINK(1)", "x; =1",
            'x;"=1', "x;\uff20SUM(A1)", "rad ett\n=1+1", "a\tb;-2+3", '  "=1', "\u207c1"]
HARMLESS = ["Fiber för byn; ett samlingshus", "e-tjänst för 50 000 kr - minst", "A-0001", "x;y,z"]


def _formula_cells(raw: str) -> list[str]:
    """The cells that start a formula when a spreadsheet splits ``raw`` at any of ``; , TAB`` (quotes ignored:
    stricter than Excel) and at every line break."""
    import re
    import unicodedata

    found = []
    for line in re.split(r"\r\n|\n|\r", raw):
        for sep in ";,\t":
            for cell in line.split(sep):
                start = cell.lstrip(' "\t')
                if start and unicodedata.normalize("NFKC", start[0])[:1] in ("=", "+", "-", "@"):
                    found.append(cell)
    return found


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_no_cell_a_spreadsheet_splits_out_starts_a_formula(tmp_path: Path, fmt: str) -> None:
    from goalmatch.batch.writers import TableWriter

    path = tmp_path / f"out.{fmt}"
    with TableWriter(path, ["id", "text"]) as writer:
        writer.write([{"id": value, "text": "ok"} for value in PAYLOADS + HARMLESS])
    raw = path.read_text(encoding="utf-8-sig")
    assert _formula_cells(raw) == []
    read = [row.cells["id"] for row in open_table(path).rows()]
    assert read[len(PAYLOADS):] == HARMLESS  # text without a formula is written as it was
    assert read[0] == "x;'=cmd|' /C calc'!A0;" and read[1] == "'\uff1dcmd|' /C calc'!A0"
    assert [value.replace("'", "") for value in read[:len(PAYLOADS)]] == [p.replace("'", "") for p in PAYLOADS]


def test_score_writes_an_id_with_a_formula_behind_a_semicolon_neutralised(batch_matcher: Matcher,
                                                                           tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "beskrivning"], ["x;=cmd|' /C calc'!A0;", BATCH_TEXTS[0]],
                                      ["\uff1d1+1", ""]])
    summary = score_file(path, tmp_path / "out.csv", matcher=batch_matcher, id_column="id", progress=False)
    assert (summary.scored, summary.rejected) == (1, 1)
    for written in (tmp_path / "out.csv", tmp_path / "out.rejects.csv"):
        assert _formula_cells(written.read_text(encoding="utf-8-sig")) == [], written


# ------------------------------------------------------------------ 4. workbook bombs (the XLSX part)


def _rewritten_workbook(path: Path, change: Any) -> Path:
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "titel", "beskrivning"])
    for i in range(1, 4):
        sheet.append([f"A-{i}", "Projekt", "bomb" if i == 3 else BATCH_TEXTS[i % len(BATCH_TEXTS)]])
    book.save(tmp := path.with_name("whole.xlsx"))
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name in src.namelist():
            data = src.read(name)
            out.writestr(name, change(data) if name == "xl/worksheets/sheet1.xml" else data)
    return path


def test_a_workbook_part_that_inflates_like_a_bomb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from goalmatch.errors import TableError

    huge = b"a" * (24 << 20)  # 24 MiB of one letter: about 24 KB deflated (the attack's was 1.5 GiB in 1.5 MB)
    path = _rewritten_workbook(tmp_path / "bomb.xlsx",
                               lambda data: data.replace(b"<t>bomb</t>", b"<t>" + huge + b"</t>"))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(TableError, match=r"bomb\.xlsx: xl/worksheets/sheet1\.xml inflates .* decompression bomb"):
        open_table(path)


def test_a_workbook_declaring_the_whole_sheet_is_read_as_fast_as_the_rows_it_holds(tmp_path: Path) -> None:
    import re
    import time

    path = _rewritten_workbook(tmp_path / "wide.xlsx",
                               lambda data: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', data))
    started = time.monotonic()
    table = open_table(path)
    cells = [row.cells for _ in range(2) for row in table.rows()]
    assert time.monotonic() - started < 10  # padded to the declared 16,384 × 1,048,576 it took ~25 min a pass
    assert table.columns == ["id", "titel", "beskrivning"] and [c["id"] for c in cells] == ["A-1", "A-2", "A-3"] * 2


def test_a_parquet_cell_that_inflates_like_a_bomb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from goalmatch.errors import TableError

    huge = "a" * (24 << 20)  # the attack's was 500 MiB in 17 KB
    pq.write_table(pa.table({"id": ["A-1", "A-2"], "beskrivning": [BATCH_TEXTS[0], huge]}),
                   path := tmp_path / "bomb.parquet", compression="zstd")
    del huge
    assert path.stat().st_size < 1 << 20
    with pytest.raises(TableError, match=r"bomb\.parquet: column 'beskrivning' of row group 1 inflates .* bomb"):
        open_table(path)
