"""The ``goalmatch suggest``, ``train`` and ``info`` commands, called in-process through ``main``."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from goalmatch.cli.main import build_parser, main
from goalmatch.data.corpus import write_corpus
from goalmatch.data.trail22 import trail22_records
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.errors import CorpusError
from goalmatch.model.matcher import Matcher
from goalmatch.persistence.folder import read_manifest
from tests.toys import BREDBAND, GIBBERISH, RECORDS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ansokan-bredband.txt"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with data.jsonl, the toy projects, to train on (with the toy frameworks)."""
    folder = tmp_path_factory.mktemp("inputs")
    write_corpus(RECORDS, folder / "data.jsonl")
    return folder


# the toy matcher as a model folder, as the commands load it (no other file loads the toy from a folder)
@pytest.fixture(scope="module")
def model(toy_matcher: Matcher, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_matcher.save(tmp_path_factory.mktemp("cli") / "model", command="pytest")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ the wiring


def test_every_command_has_help_and_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(commands.choices)[:3] == ["frameworks", "corpora", "build-corpora"]
    for name, sub in commands.choices.items():
        assert callable(sub.get_default("run")), name
        with pytest.raises(SystemExit) as stopped:
            main([name, "--help"])
        assert stopped.value.code == 0 and f"användning: goalmatch {name}" in capsys.readouterr().out


# ------------------------------------------------------------------ suggest


def test_suggest_prints_a_table_with_bars_and_evidence(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, err = _run(capsys, "suggest", "--model", str(model), BREDBAND)
    assert code == 0, err
    assert "Test  [test]" in out and "Test (multi)  [test-multi]" in out
    assert "✓ " in out and "█" in out and "Bredband och digital infrastruktur  [t-bredband]" in out
    assert "ur texten" in out and "i strategin (" in out and "liknande projekt: " in out and "delade ord:" in out
    assert "[p/fiber]" in out


def test_suggest_says_no_confident_match(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, _ = _run(capsys, "suggest", "--model", str(model), GIBBERISH)
    assert code == 0
    assert out.count("ingen säker träff: Texten liknar ingen av strategins beskrivningar tillräckligt") == 2
    assert "no confident match" not in out and "support" not in out


def test_suggest_json_top_k_and_frameworks(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, _ = _run(capsys, "suggest", "--model", str(model), "--json", "--top-k", "1", "--frameworks", "test",
                        BREDBAND)
    assert code == 0
    data = json.loads(out)
    assert [fw["framework_id"] for fw in data["frameworks"]] == ["test"]
    (only,) = data["frameworks"][0]["suggestions"]
    assert only["goal_id"] == "t-bredband" and only["confident"] is True
    assert set(only["evidence"]) == {"sentences", "passage", "projects", "key_terms"}
    assert data["flags"]["language"] == "sv"


def test_suggest_reads_a_file_and_standard_input(capsys: pytest.CaptureFixture[str], model: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, from_file, _ = _run(capsys, "suggest", "--model", str(model), "--json", "--file", str(EXAMPLE))
    assert code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(EXAMPLE.read_text(encoding="utf-8")))
    code, from_stdin, _ = _run(capsys, "suggest", "--model", str(model), "--json", "-")
    assert code == 0 and json.loads(from_stdin) == json.loads(from_file)


# issue 16, item 8: invalid UTF-8 on standard input or in a file was "internal error", exit 1;
# an argument in a broken locale reaches Python as lone surrogates (surrogateescape)
BAD_UTF8 = "Fiber till byarna kring älven".encode() + b" \xff\xfe \xc3( \xed\xa0\x80 slut"


def test_suggest_refuses_invalid_utf8_by_name_with_exit_2(capsys: pytest.CaptureFixture[str], model: Path,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BAD_UTF8), encoding="utf-8"))
    code, out, err = _run(capsys, "suggest", "--model", str(model), "-")
    assert code == 2 and not out
    assert "standard input: not UTF-8 text" in err and "internal error" not in err
    path = tmp_path / "invalid-utf8.txt"
    path.write_bytes(BAD_UTF8)
    code, out, err = _run(capsys, "suggest", "--model", str(model), "--file", str(path))
    assert code == 2 and not out and f"{path}: not UTF-8 text" in err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbf" + BAD_UTF8[:31]), encoding="utf-8"))
    code, out, _ = _run(capsys, "suggest", "--model", str(model), "--json", "-")
    assert code == 0 and json.loads(out)["flags"]["replaced_characters"] == 0


def test_suggest_reads_an_argument_with_lone_surrogates(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    text = BAD_UTF8.decode("utf-8", errors="surrogateescape")  # what sys.argv holds in a broken locale
    code, out, err = _run(capsys, "suggest", "--model", str(model), "--json", text)
    assert code == 0, err
    assert json.loads(out)["flags"]["replaced_characters"] == 6


@pytest.mark.parametrize(("argv", "message"), [
    (["suggest", "   "], "the text is empty"),
    (["suggest", "--top-k", "0", "Fiber"], "--top-k must be at least 1"),
    (["suggest", "--frameworks", "nope", "Fiber till byarna"], "--frameworks: unknown nope"),
    (["suggest", "--file", "/no/such/file.txt"], "cannot read"),
])
def test_suggest_bad_input_exits_2(capsys: pytest.CaptureFixture[str], model: Path, argv: list[str],
                                   message: str) -> None:
    code, _, err = _run(capsys, *argv[:1], "--model", str(model), *argv[1:])
    assert code == 2
    assert message in err


def test_suggest_refuses_a_text_over_the_limit_before_loading_anything(
        capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path) -> None:
    from goalmatch.batch.score import MAX_CHARS

    path = tmp_path / "long.txt"
    path.write_text("fiber " * (MAX_CHARS // 6 + 1), encoding="utf-8")
    code, out, err = _run(capsys, "suggest", "--model", str(model), "--file", str(path))
    assert code == 2 and not out
    assert f"long.txt: {MAX_CHARS + 6 - MAX_CHARS % 6:,} characters, over the limit of {MAX_CHARS:,}" in err


def test_suggest_names_a_missing_or_tampered_model(capsys: pytest.CaptureFixture[str], model: Path,
                                                   tmp_path: Path) -> None:
    code, _, err = _run(capsys, "suggest", "--model", str(tmp_path / "nope"), "Fiber till byarna")
    assert code == 2 and "no model folder there" in err
    import shutil

    copy = Path(shutil.copytree(model, tmp_path / "copy"))
    (copy / "heads" / "test.json").write_bytes(b"not a head")
    code, _, err = _run(capsys, "suggest", "--model", str(copy), "Fiber till byarna")
    assert code == 2 and "heads/test.json: its sha256 or size differs from the manifest" in err
    code, _, err = _run(capsys, "info", str(copy))
    assert code == 2 and "test.json" in err


# ------------------------------------------------------------------ info and train


def test_info_shows_the_checked_manifest(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, _ = _run(capsys, "info", str(model))
    assert code == 0
    data = json.loads(out)
    assert data["verified"] is True and data["command"] == "pytest"
    assert "heads/test.json" in data["files"]


def test_train_writes_a_model_that_loads(capsys: pytest.CaptureFixture[str], inputs: Path, toy_framework_dir: Path,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("goalmatch.embed.encoder.Encoder", FakeEncoder)  # the real one is for the slow tests
    out_dir = tmp_path / "trained"
    argv = ["train", "--frameworks", str(toy_framework_dir), "--data", str(inputs / "data.jsonl"),
            "--out", str(out_dir)]
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    assert json.loads(out)["records"] == len(RECORDS)
    manifest = read_manifest(out_dir)
    assert manifest["command"].startswith("goalmatch train --frameworks ")
    assert manifest["encoder"]["id"] == "fake-64"
    code, out, _ = _run(capsys, "suggest", "--model", str(out_dir), "--json", BREDBAND)
    assert code == 0 and json.loads(out)["frameworks"]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and "already exists" in err
    code, _, err = _run(capsys, *argv, "--force", "--trail22", str(tmp_path / "t.csv"))
    assert code == 2 and "--trail22 labels goals of agenda-2030" in err


def test_trail22_sample_is_balanced_deterministic_and_merges_repeated_texts(tmp_path: Path) -> None:
    long = "this sentence about the goal has more than eight words in it, number"
    rows = [f'{i},UN,,"{long} {i}",{1 + i % 3}' for i in range(12)]
    rows += [f'100,UN,,"{long} 0",2', '101,UN,,"too short to count",1']
    csv_file = tmp_path / "Train_data.csv"
    csv_file.write_text(",source,header,text,SDG\n" + "\n".join(rows) + "\n", encoding="utf-8")
    records = trail22_records(csv_file, per_goal=3)
    assert records == trail22_records(csv_file, per_goal=3)
    assert all(r.source == "trail22" and len(r.text.split()) >= 8 for r in records)
    counts = {g: sum(f"sdg-{g}" in r.labels["agenda-2030"] for r in records) for g in (1, 2, 3)}
    assert counts[3] == 3 and counts[1] >= 3 and counts[2] >= 3
    repeated = [r for r in records if r.text.endswith(" 0")]
    assert not repeated or repeated[0].labels["agenda-2030"] == ("sdg-1", "sdg-2")
    csv_file.write_text(",source,header,text,SDG\n" + f'1,UN,,"{long}",18\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="line 2: column SDG: expected 1-17, got 18"):
        trail22_records(csv_file, per_goal=3)


# ------------------------------------------------------------------ the shipped model (slow)


@pytest.mark.slow
def test_suggest_with_the_shipped_model_covers_every_framework_with_evidence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "suggest", "--file", str(EXAMPLE))
    assert code == 0, err
    for fid in ("rus-norrbotten-2030", "leader-polaris-2016", "leader-spira-mare-2023", "leader-tornedalen-2020",
                "nationell-strategi-2021", "agenda-2030"):
        assert f"[{fid}]" in out
    assert "✓ " in out and "rus-transporter" in out and "sdg-9" in out
    assert out.count("ur texten") >= 6 and out.count("i strategin (") >= 6 and "liknande projekt" in out


# issue 15, item 7: several files at once, in the encodings Swedish office software writes
def test_suggest_reads_several_files_in_windows_1252_and_utf16(capsys: pytest.CaptureFixture[str], model: Path,
                                                              tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert any(ch in text for ch in "åäö")
    old, word = tmp_path / "gammal-ansökan.txt", tmp_path / "word-unicode.txt"
    old.write_bytes(text.encode("cp1252"))
    word.write_bytes(text.encode("utf-16"))  # with a byte-order mark, as Word and Notepad save "Unicode"
    assert word.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    code, single, err = _run(capsys, "suggest", "--model", str(model), "--json", "--file", str(EXAMPLE))
    assert code == 0, err
    code, out, err = _run(capsys, "suggest", "--model", str(model), "--json", "--file", str(old), "--file", str(word))
    assert code == 0, err
    got = json.loads(out)
    assert [g["file"] for g in got] == [str(old), str(word)]
    assert got[0]["suggestions"] == got[1]["suggestions"] == json.loads(single)  # the same text, read right
    code, out, err = _run(capsys, "suggest", "--model", str(model), "--file", str(old), "--file", str(word))
    assert code == 0, err
    assert out.startswith(f"== {old} ==\n") and f"\n\n== {word} ==\n" in out
    assert out.count("Texten: svenska") == 2


def test_suggest_names_the_file_it_cannot_decode_before_loading_the_model(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good, bad, nul = tmp_path / "bra.txt", tmp_path / "trasig.txt", tmp_path / "utan-bom.txt"
    good.write_text(BREDBAND, encoding="utf-8")
    bad.write_bytes(BAD_UTF8)  # UTF-8 letters beside broken bytes: not read as Windows-1252 mojibake
    nul.write_bytes(BREDBAND.encode("utf-16-le"))  # UTF-16 without its byte-order mark
    missing_model = tmp_path / "no-model"  # never loaded: the files are refused first
    for path, message in [(bad, "not UTF-8 text (invalid start byte at byte 31), nor UTF-16 with a byte-order "
                                "mark or Windows-1252"), (nul, "holds NUL characters")]:
        code, out, err = _run(capsys, "suggest", "--model", str(missing_model), "--file", str(good), "--file",
                              str(path))
        assert code == 2 and not out
        assert f"goalmatch: error: {path}: {message}" in err, err
    code, _, err = _run(capsys, "suggest", "--model", str(missing_model), "--file", str(good), "text too")
    assert code == 2 and "give the text or --file, not both" in err
    code, _, err = _run(capsys, "suggest", "--model", str(missing_model), "--file", "-", "--file", "-")
    assert code == 2 and "standard input ('-') can be read once" in err
