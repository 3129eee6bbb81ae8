from __future__ import annotations

import json
from pathlib import Path

import pytest

import goalmatch
from goalmatch.data.corpus import CorpusError, Record, load_corpora, load_corpus, write_corpus

GOOD = {
    "id": "p1",
    "text": "Projektet bygger bredband.",
    "source": "test",
    "labels": {"rus-norrbotten-2030": ["rus-transporter"]},
}


def _jsonl(tmp_path: Path, *rows: object, raw: bytes | None = None) -> Path:
    path = tmp_path / "c.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    record = Record(
        id="p1", text="Text", source="s", labels={"agenda-2030": ("sdg-8", "sdg-9")}, title="T",
        raw_labels={"agenda-2030": ("8", "9")}, label_origin={"agenda-2030": "source"},
        provenance={"lines": [1, 2]}, meta={"status": "Pågående"},
    )
    path = write_corpus([record], tmp_path / "out.jsonl")
    assert load_corpus(path) == [record]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "text"}, "line 1: missing required field 'text'"),
        ({**GOOD, "text": "  "}, "field 'text': expected non-empty text"),
        ({**GOOD, "colour": "red"}, "unknown field(s) ['colour']"),
        ({**GOOD, "labels": {"rus-norrbotten-2030": "rus-transporter"}}, "expected a list of non-empty texts"),
        ({**GOOD, "labels": {"rus-norrbotten-2030": ["rus-x"]}}, "'rus-x' is not a goal of rus-norrbotten-2030"),
        ({**GOOD, "labels": {"rus-2031": ["rus-transporter"]}}, "unknown framework 'rus-2031'"),
        ({**GOOD, "labels": {"agenda-2030": ["sdg-1", "sdg-1"]}}, "listed twice"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_records_are_refused_with_line_and_field(tmp_path: Path, row: object, message: str) -> None:
    path = _jsonl(tmp_path, row)
    with pytest.raises(CorpusError) as info:
        load_corpus(path, goalmatch.frameworks())
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_bad_bytes_json_and_duplicates_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"line 2: not valid JSON"):
        load_corpus(_jsonl(tmp_path, raw=json.dumps(GOOD).encode() + b"\n{oops\n"))
    with pytest.raises(CorpusError, match=r"line 1: not UTF-8"):
        load_corpus(_jsonl(tmp_path, raw=b'{"id": "\xff"}\n'))
    with pytest.raises(CorpusError, match=r"line 2: duplicate id 'p1' \(first on line 1\)"):
        load_corpus(_jsonl(tmp_path, GOOD, GOOD))
    with pytest.raises(CorpusError, match="cannot read"):
        load_corpus(tmp_path / "missing.jsonl")


def test_shipped_corpora_load_against_the_shipped_frameworks() -> None:
    records = load_corpora(frameworks=goalmatch.frameworks())
    by_source: dict[str, list[Record]] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(record)
    assert len(by_source["seed003"]) == 27
    assert len(by_source["seed004"]) == 16
    rus = [r for r in by_source["seed003"] if r.labels_for("rus-norrbotten-2030")]
    assert len(rus) == 24
    loket = next(r for r in records if r.id == "seed003/loket")
    assert loket.labels_for("agenda-2030") == ("sdg-8", "sdg-9", "sdg-12", "sdg-17")
    assert loket.labels_for("nationell-strategi-2021") == ("nat-innovation",)
    assert loket.raw_labels["agenda-2030"] == ("8", "9", "12", "17")
    assert loket.label_origin["rus-norrbotten-2030"] == "source"
    # Polaris labels are the maintainers' own, and say so
    polaris = [r for r in by_source["seed004"] if r.labels_for("leader-polaris-2016")]
    assert polaris and all(r.label_origin["leader-polaris-2016"] != "source" for r in polaris)
    assert all(r.provenance["label_reason"] for r in polaris)


@pytest.mark.slow
def test_build_corpora_reproduces_the_committed_files(tmp_path: Path, shared_dir: Path) -> None:
    from goalmatch.cli.main import main

    assert main(["build-corpora", "--shared", str(shared_dir), "--out", str(tmp_path)]) == 0
    shipped = Path(goalmatch.__file__).resolve().parent.parent / "corpora" / "projects"
    for built in sorted(tmp_path.glob("*.jsonl")):
        assert built.read_bytes() == (shipped / built.name).read_bytes(), built.name
    assert len(list(tmp_path.glob("*.jsonl"))) == 2
