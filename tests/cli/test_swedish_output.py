"""Issue 15, item 1: what a case officer reads from the command line is Swedish.

The human output of ``suggest``, ``prepare`` and ``frameworks`` and the portfolio report of
``goalmatch report`` (Markdown and workbook) are rendered with the toy models and searched for
the English words and internals that leaked into them before: "ingen säker träff (no confident
match)", "support 0.838 < 0.848", "text [38:207]", "shared terms", "mean p" … ``--json`` keeps its
English field names and is not searched. The ``--help`` of the case officer's and the
administrator's commands, and argparse's own words and usage errors, are Swedish too; the
developer commands' (``train``, ``evaluate`` …) option help stays English.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import pytest

from goalmatch.cli.main import main
from goalmatch.cli.swedish import SwedishTranslations
from goalmatch.model.matcher import Matcher
from tests.toys import BATCH_TEXTS, BREDBAND, GIBBERISH, PDF_BROKEN

LEAKS = re.compile(
    r"\b(?:the|support|confident|match\w*|shared terms|no goal|reach\w*|threshold|projects?|similar\w*|example|"
    r"description|goals?|language|repaired|too short|scored|ranked|mean p|portfolio|rows?|of|and|for|with|"
    r"like|sub-goals|multi-label|framework)\b|text \[|\[\d+:\d+\]",
    re.IGNORECASE)
"""English words that leaked into the human output before, and character offsets (``[38:207]``)."""
RAW_FIGURE = re.compile(r"\b0\.\d")
"""A number with a decimal point (a raw cosine, or a probability not written the Swedish way)."""


def _leaks(text: str) -> list[str]:
    return sorted({m.group() for m in LEAKS.finditer(text)} | {m.group() for m in RAW_FIGURE.finditer(text)})


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def model(toy_matcher: Matcher, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return toy_matcher.save(tmp_path_factory.mktemp("sv") / "model", command="pytest")


@pytest.mark.parametrize("before", [
    "ingen säker träff (no confident match)", "the text is less related (support 0.838 < 0.848)", "Text [516:599]",
    "[38:207]", "shared terms: gammal", "| goal | name | projects | share | mean p | ranked first |",
    "matches example sdg-9 (0.88)", "like project seed003/loket", "No confident goal for 3 of 5 projects.",
])
def test_the_leak_check_catches_what_leaked_before(before: str) -> None:
    assert _leaks(before)


def test_the_leak_check_lets_swedish_through() -> None:
    assert _leaks("ingen säker träff: Texten liknar ingen av strategins beskrivningar tillräckligt. 0,73 projekt, "
                  "exempel, beskrivning, delade ord: äldre [sdg-9] [p/fiber]") == []


def test_suggest_and_prepare_speak_swedish(capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path) -> None:
    outputs = {text[:20]: _run(capsys, "suggest", "--model", str(model), "--top-k", "3", text)
               for text in (BREDBAND, GIBBERISH, PDF_BROKEN, "Fiber till byn")}
    files = []
    for n, text in enumerate((BREDBAND, PDF_BROKEN)):
        files += ["--file", str(tmp_path / f"ansökan-{n}.txt")]
        (tmp_path / f"ansökan-{n}.txt").write_text(text, encoding="utf-8")
    outputs["files"] = _run(capsys, "suggest", "--model", str(model), *files).replace(str(tmp_path), "")
    outputs["prepare"] = _run(capsys, "prepare", PDF_BROKEN)
    for name, out in outputs.items():
        assert out.strip() and _leaks(out) == [], (name, _leaks(out), out)
    assert "ingen säker träff: Texten liknar ingen" in outputs[GIBBERISH[:20]]
    assert "ingen säker träff: Texten är för kort" in outputs["Fiber till byn"]
    assert "reparerad PDF-text" in outputs[PDF_BROKEN[:20]] and "✓" in outputs[BREDBAND[:20]]


def test_frameworks_speak_swedish(capsys: pytest.CaptureFixture[str], toy_framework_dir: Path) -> None:
    out = _run(capsys, "frameworks", "--dir", str(toy_framework_dir))
    out += _run(capsys, "frameworks", "--check", *map(str, sorted(toy_framework_dir.glob("*.yaml"))))
    assert "mål" in out and _leaks(out.replace(str(toy_framework_dir), "")) == [], out


def test_the_report_speaks_swedish(capsys: pytest.CaptureFixture[str], batch_model_dir: Path,
                                   tmp_path: Path) -> None:
    backlog = tmp_path / "ansökningar.csv"
    with backlog.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["diarienr", "beskrivning"])
        writer.writerows([f"2026-{n:04}", text] for n, text in enumerate([*BATCH_TEXTS, GIBBERISH], start=1))
    openpyxl = pytest.importorskip("openpyxl")
    for columns in ("sv", "ids"):
        scored = tmp_path / f"bedömda-{columns}.csv"
        assert main(["score", str(backlog), "-o", str(scored), "--model", str(batch_model_dir), "--id-column",
                     "diarienr", "--text-columns", "beskrivning", "--columns", columns, "--no-progress"]) in (0, 3)
        capsys.readouterr()
        book = tmp_path / f"rapport-{columns}.xlsx"
        markdown = _run(capsys, "report", str(scored), "--xlsx", str(book))
        assert markdown.startswith("# Portfölj: ") and _leaks(markdown) == [], (_leaks(markdown), markdown)
        cells = []
        workbook = openpyxl.load_workbook(book, read_only=True)
        for sheet in workbook.worksheets:
            cells += [sheet.title, *(str(v) for row in sheet.iter_rows(values_only=True) for v in row
                                     if isinstance(v, str))]
        workbook.close()
        assert _leaks("\n".join(cells)) == [], _leaks("\n".join(cells))


# ------------------------------------------------------------------ --help and usage errors

ARGPARSE_ENGLISH = re.compile(r"usage:|options:|positional arguments|show this help|error:|required|invalid|"
                              r"unrecognized|expected|choose from", re.IGNORECASE)
"""argparse's own English words, which it prints unless they are translated."""


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--help"])
    assert stopped.value.code == 0
    return capsys.readouterr().out


def _english(text: str) -> list[str]:
    """The leaked words and argparse's English in ``text``, option names (``--chunk-rows``) and the HTTP
    header X-Forwarded-For aside; an address like 127.0.0.1 is no figure."""
    text = re.sub(r"(?<!\w)--?[\w-]+", "", text.replace("X-Forwarded-For", ""))
    return sorted({m.group() for m in LEAKS.finditer(text)} | {m.group() for m in ARGPARSE_ENGLISH.finditer(text)})


@pytest.mark.parametrize("command", [
    (), ("score",), ("suggest",), ("report",), ("serve",), ("create-user",), ("set-admin",), ("revoke-sessions",),
    ("workspace",), ("workspace", "add"), ("workspace", "assign"), ("workspace", "list"), ("info",), ("frameworks",),
])
def test_the_case_officers_help_is_swedish(capsys: pytest.CaptureFixture[str], command: tuple[str, ...]) -> None:
    out = _help(capsys, *command)
    assert out.startswith(" ".join(["användning: goalmatch", *command])) and "flaggor:" in out, out
    assert "visa den här hjälpen och avsluta" in out and _english(out) == [], (_english(out), out)


def test_the_overview_names_every_command_in_swedish_and_owns_up_to_the_english_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(capsys)
    assert "har hjälptext på engelska" in out
    for command in ("suggest", "score", "report", "serve", "create-user", "workspace", "train", "benchmark"):
        assert f"    {command} " in out, command
    assert out.count("för utvecklare:") == 6  # train, evaluate, benchmark, corpora, build-corpora, prepare
    assert "--quick" in _help(capsys, "benchmark")  # a developer command's own help may stay English


@pytest.mark.parametrize(("argv", "swedish"), [
    ([], "följande argument saknas: KOMMANDO"),
    (["skatta"], "ogiltigt val: 'skatta' (välj bland 'frameworks',"),
    (["suggest", "--top-k", "tre", "text"], "--top-k: 'tre' är inget heltal"),
    (["serve", "--session-hours", "0,5"], "--session-hours: '0,5' är inget tal"),
    (["suggest", "--model"], "--model: ett värde behövs efter flaggan"),
    (["suggest", "text", "--bogus"], "okända argument: --bogus"),
    (["score", "a.csv", "--engine", "spark"], "--engine: ogiltigt val: 'spark' (välj bland 'local', 'dask')"),
    (["revoke-sessions"], "ett av argumenten ANVÄNDARNAMN --all behövs"),
    (["workspace", "add", "Leader Tornedalen"], "följande argument saknas: --frameworks"),
])
def test_usage_errors_are_swedish_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                             swedish: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("användning: goalmatch") and ": fel: " in err and swedish in err, err
    assert _english(err) == [], (_english(err), err)


def test_argparse_is_english_again_for_everyone_else(capsys: pytest.CaptureFixture[str]) -> None:
    _help(capsys, "suggest")
    with pytest.raises(SystemExit):
        main(["suggest", "--top-k", "tre"])
    capsys.readouterr()
    other = argparse.ArgumentParser(prog="annat")
    other.add_argument("n", type=int)
    assert "usage: annat" in other.format_help() and "options:" in other.format_help()
    with pytest.raises(SystemExit):
        other.parse_args(["x"])
    assert "annat: error: argument n: invalid int value: 'x'" in capsys.readouterr().err


def test_an_unknown_msgid_stays_as_it_is() -> None:
    sv = SwedishTranslations()
    assert sv.gettext("usage: ") == "användning: "
    assert sv.gettext("a message from Python 3.99") == "a message from Python 3.99"
    assert sv.ngettext("expected %s argument", "expected %s arguments", 2) == "%s värden behövs efter flaggan"
    assert sv.ngettext("one %s", "many %s", 2) == "many %s"
    invalid = sv.gettext("invalid %(type)s value: %(value)r")
    assert invalid % {"type": "Path", "value": "x"} == "ogiltigt värde: 'x' (Path)"
