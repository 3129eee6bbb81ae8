"""The compiled lemma table (goalmatch.text.lemmas): what it answers, and its cache file."""

from __future__ import annotations

from pathlib import Path

import pytest

from goalmatch.text import lemmas


def test_a_compiled_table_answers_each_form_and_leaves_unknown_words_alone() -> None:
    table = lemmas._compile([("byarna", "by"), ("bygger", "bygga"), ("byar", "by")], ["och"])
    assert table.lemmas(["byarna", "och", "bygger", "okänt", "byar"]) == ["by", "och", "bygga", "okänt", "by"]
    assert len(table.names) == 2 and table.stop_words == frozenset({"och"})


def test_the_table_is_written_once_and_read_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    built: list[int] = []

    def build() -> lemmas._Table:
        built.append(1)
        return lemmas._compile([("företagen", "företag")], ["och"])

    monkeypatch.setenv("GOALMATCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(lemmas, "_build", build)
    first = lemmas._load()
    again = lemmas._load()
    assert built == [1] and lemmas.cache_path().parent == tmp_path
    assert again.lemmas(["företagen"]) == first.lemmas(["företagen"]) == ["företag"]
    assert again.stop_words == frozenset({"och"})


def test_a_corrupt_cache_is_rebuilt_with_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GOALMATCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(lemmas, "_build", lambda: lemmas._compile([("byarna", "by")], []))
    lemmas.cache_path().write_bytes(b"PK\x03\x04 not a zip")
    assert lemmas._load().lemmas(["byarna"]) == ["by"]
    assert "unreadable" in caplog.text
    assert lemmas._load().lemmas(["byarna"]) == ["by"]  # the rebuilt file reads


def test_the_real_table_lemmatises_swedish_as_spacy_did() -> None:
    words = [p.text for p in lemmas.lemmatize("Företagen bygger bredband för äldre i byarna")]
    assert words == ["företag", "bygga", "bredband", "för", "gammal", "i", "by"]
    assert lemmas.keywords("Vi bygger bredband. Bredbandet byggs i byarna och företagen får bredband.",
                           top_k=2) == ["bredband", "bygga"]
