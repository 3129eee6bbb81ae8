"""Tests of goalmatch.evaluation.crossval, .metrics and .baselines: synthetic frameworks, FakeEncoder,
offline and fast (no reads of the shared material)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import goalmatch.evaluation.crossval as evaluation
from goalmatch.data.corpus import Record, load_corpus, write_corpus
from goalmatch.data.frameworks import Framework, load_frameworks
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.evaluation import metrics
from goalmatch.evaluation.baselines import METHODS, Context, Part, fit_goalmatch
from goalmatch.evaluation.crossval import evaluate
from goalmatch.evaluation.report import bar_check
from goalmatch.model import features as _features

# Their own frameworks and 13 projects, not the toy of tests/toys.py: cross-validation needs
# several labelled projects per goal in each framework, and parallel single/multi goal ids.
SINGLE = {
    "id": "t-single", "name": "Test single", "language": "sv", "multi_label": False,
    "source": {"document": "test"},
    "goals": [
        {"id": "s-bredband", "name": "Bredband", "description": "Fiber, bredband och mobiltäckning i byarna.",
         "examples": ["fiber till byarna", "bredband på landsbygden"]},
        {"id": "s-kultur", "name": "Kultur", "description": "Musik, teater och konst för barn och unga.",
         "examples": ["musikfestival", "teater för barn"]},
        {"id": "s-foretag", "name": "Företag", "description": "Nya företag, entreprenörskap och export.",
         "examples": ["nya företag", "export och tillväxt"]},
    ],
}
MULTI = {**SINGLE, "id": "t-multi", "name": "Test multi", "multi_label": True,
         "goals": [{**g, "id": g["id"].replace("s-", "m-")} for g in SINGLE["goals"]]}

TOPICS = {
    "bredband": ["Fiber och bredband till byarna", "Mobiltäckning och fiber på landsbygden",
                 "Bredband till hushållen i byn", "Snabbare fiber för byarna längs älven"],
    "kultur": ["Teater och musik för barn", "En musikfestival för unga", "Konst och teater i byn",
               "Dans, musik och teater för unga"],
    "foretag": ["Stöd till nya företag", "Export för små företag", "Entreprenörskap och nya företag i byn",
                "Tillväxt och export i företagen"],
}


def _records() -> list[Record]:
    out = []
    for topic, texts in TOPICS.items():
        for i, text in enumerate(texts):
            labels = {"t-single": (f"s-{topic}",), "t-multi": (f"m-{topic}",)}
            if topic == "foretag" and i % 2:
                labels["t-multi"] = ("m-foretag", "m-bredband")
            out.append(Record(f"r/{topic}-{i}", text, "test", labels))
    out.append(Record("r/unlabelled", "Ett bibliotek och kulturhus i byn", "test", {}))
    return out


@pytest.fixture(autouse=True)
def short_curves(monkeypatch: Any) -> None:
    """Learning curves to 2 per goal: the tests check their shape, not their end."""
    monkeypatch.setattr(evaluation, "CURVE_SIZES", (0, 1, 2))


@pytest.fixture(scope="module")
def frameworks() -> dict[str, Framework]:
    return {d["id"]: Framework.from_dict(d) for d in (SINGLE, MULTI)}


# ------------------------------------------------------------------ metrics


def test_single_label_metrics_by_hand() -> None:
    y = np.array([0, 1, 2, 2])
    P = np.array([[.7, .2, .1, 0], [.5, .3, .2, 0], [.1, .2, .3, .4], [0, 0, 1., 0]])
    m = metrics.single_label(y, P, ["a", "b", "c", "d"])
    # predictions 0, 0, 3, 2: right twice; true goal in the top 3 for rows 0, 1, 2 (3rd), 3
    assert m["top1"] == 0.5 and m["top3"] == 1.0
    # F1 over present goals a, b, c: a: P 1/2 R 1 -> 2/3; b: 0; c: P 1 R 1/2 -> 2/3
    assert m["macro_f1"] == pytest.approx(round(4 / 9, 3))
    assert m["confusion"] == [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]]
    assert m["per_goal"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 1}
    assert m["nll"] == pytest.approx(round(-np.mean(np.log([.7, .3, .3, 1.])), 3))


def test_multi_label_metrics_by_hand() -> None:
    Y = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=bool)
    predicted = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1]], dtype=bool)
    P = np.array([[.9, .4, .1], [.2, .6, .7], [.8, .1, .6]])
    m = metrics.multi_label(Y, P, predicted, ["a", "b", "c"])
    # tp 3 (a0, c1, a2), fp 2 (b1, c2), fn 1 (b0): micro-F1 = 6 / (6 + 3)
    assert m["micro_f1"] == pytest.approx(round(6 / 9, 3))
    # a: 1.0; b: 0; c: P 1/2 R 1 -> 2/3
    assert m["macro_f1"] == pytest.approx(round((1 + 0 + 2 / 3) / 3, 3))
    assert m["cardinality_error"] == 1.0  # (|1 - 2| + |2 - 1| + |2 - 1|) / 3
    assert m["hit_at_1"] == 1.0


def test_cardinality_error_counts_absolute_differences() -> None:
    Y = np.array([[1, 1, 0], [0, 0, 1]], dtype=bool)
    predicted = np.array([[0, 0, 0], [1, 1, 1]], dtype=bool)
    m = metrics.multi_label(Y, np.full(Y.shape, .5), predicted, ["a", "b", "c"])
    assert m["cardinality_error"] == 2.0  # |0 - 2| and |3 - 1|


def test_ece_of_a_perfectly_calibrated_toy_is_zero() -> None:
    # in the 0.2 bin 1 of 5 is right, in the 0.8 bin 4 of 5: confidence equals accuracy
    confidence = np.array([.2] * 5 + [.8] * 5)
    correct = np.array([1, 0, 0, 0, 0, 1, 1, 1, 1, 0])
    ece, bins = metrics.expected_calibration_error(confidence, correct)
    assert ece == pytest.approx(0.0)
    assert [(b["count"], b["accuracy"]) for b in bins] == [(5, 0.2), (5, 0.8)]


def test_ece_of_an_overconfident_toy() -> None:
    ece, _ = metrics.expected_calibration_error(np.full(4, .9), np.array([1, 0, 1, 0]))
    assert ece == pytest.approx(0.4)


def test_abstention_curve_answers_the_most_confident_first() -> None:
    curve = metrics.abstention_curve(np.array([.9, .1, .8, .3]), np.array([1, 1, 0, 0]), coverages=(0.25, 0.5, 1.0))
    assert [(c["coverage"], c["accuracy"]) for c in curve] == [(0.25, 1.0), (0.5, 0.5), (1.0, 0.5)]


def test_metrics_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        metrics.single_label(np.array([0, 1]), np.zeros((3, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="confidence has 2"):
        metrics.expected_calibration_error(np.zeros(2), np.zeros(3))


# ------------------------------------------------------------------ folds and leakage


def test_no_test_fold_text_reaches_the_fitted_model(frameworks: dict[str, Framework], monkeypatch: Any) -> None:
    seen: list[tuple[str, set[str], set[str]]] = []
    original = METHODS["goalmatch"]

    def spy(ctx: Context, train: Part, test: Part) -> Any:
        clf = fit_goalmatch(ctx, train)
        learned = _features.unit_rows(clf.labelled_)
        for row in _features.unit_rows(test.E):
            assert not np.any(np.all(np.isclose(learned, row, atol=1e-6), axis=1)), "a test text was learned from"
        floor_rows = np.vstack([ctx.unlabelled, train.E])
        assert not any(np.allclose(floor_rows, r) for r in test.E)  # nor seen as an unlabelled project
        seen.append((ctx.framework.id, set(train.ids), set(test.ids)))
        return original(ctx, train, test)

    records = _records()
    report = evaluate(frameworks, records, encoder=FakeEncoder(), folds=2, repeats=2, progress=False,
                      methods={"goalmatch": spy})
    for fid in frameworks:
        fits = [(tr, te) for f, tr, te in seen if f == fid]
        assert len(fits) == 2 * 2
        assert all(not (tr & te) for tr, te in fits)
        labelled = {r.id for r in records if r.labels_for(fid)}
        for repeat in (fits[:2], fits[2:]):  # each repeat tests every labelled record exactly once
            tested = [i for _, te in repeat for i in te]
            assert sorted(tested) == sorted(labelled)
        assert report.metrics["frameworks"][fid]["methods"]["goalmatch"]["pooled"]["n"] == 2 * len(labelled)


def test_learning_curve_shapes(frameworks: dict[str, Framework]) -> None:
    report = evaluate(frameworks, _records(), encoder=FakeEncoder(), folds=2, repeats=1, progress=False)
    for entry in report.metrics["frameworks"].values():
        curve = entry["learning_curve"]
        assert list(curve) == [str(n) for n in evaluation.CURVE_SIZES]
        used = [curve[n]["labelled_used"] for n in curve]
        assert used[0] == 0 and used == sorted(used)
        assert used[-1] <= len(TOPICS["bredband"]) * 3 / 2  # never more than a training fold holds
        key = "micro_f1" if entry["multi_label"] else "macro_f1"
        assert all(0 <= curve[n][key] <= 1 and curve[n]["std"][key] >= 0 for n in curve)


def test_frameworks_without_labels_are_reported_not_crossvalidated(frameworks: dict[str, Framework]) -> None:
    records = [r for r in _records() if not r.labels] + [
        Record("only", "Fiber", "t", {"t-single": ("s-bredband",)})]
    report = evaluate(frameworks, records, encoder=FakeEncoder(), progress=False)
    assert "skipped" in report.metrics["frameworks"]["t-single"]
    assert "methods" not in report.metrics["frameworks"]["t-multi"]


def test_table_and_bar_name_every_method(frameworks: dict[str, Framework]) -> None:
    report = evaluate(frameworks, _records(), encoder=FakeEncoder(), folds=2, repeats=1, progress=False)
    table = report.table()
    for name in METHODS:
        assert f"| {name} |" in table
    bar = bar_check(report.metrics)
    assert set(bar) == set(frameworks) and bar["t-multi"]["metric"] == "micro_f1"


# ------------------------------------------------------------------ end to end


def _trail22(folder: Path) -> Path:
    folder.mkdir()
    rows = {
        "Train_data.csv": [("Broadband and fibre networks for rural villages and homes", 9),
                           ("Digital infrastructure and fibre for small rural communities now", 9),
                           ("Music and theatre for children and young people in the region", 4),
                           ("Education and culture for young people in schools and libraries", 4)],
        "Test_data.csv": [("Fibre broadband reaches every village in the rural region", 9),
                          ("A theatre and music festival for young people and children", 4)],
    }
    for name, items in rows.items():
        lines = [",source,header,text,SDG"] + [f'{i},UN,,"{t}",{g}' for i, (t, g) in enumerate(items)]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_quick_mode_end_to_end_writes_the_report(tmp_path: Path) -> None:
    agenda = {**MULTI, "id": "agenda-2030", "name": "Agenda", "goals": [
        {"id": f"sdg-{n}", "name": f"SDG {n}", "description": d} for n, d in
        ((4, "God utbildning och kultur för alla"), (9, "Hållbar infrastruktur, bredband och innovation"))]}
    fws = {d["id"]: Framework.from_dict(d) for d in (SINGLE, agenda)}
    records = [Record(r.id, r.text, r.source, {"t-single": r.labels["t-single"]}) for r in _records() if r.labels]
    records += [Record("sv/1", "Fiber och bredband till byarna", "t", {"agenda-2030": ("sdg-9",)}),
                Record("sv/2", "Teater och musik för barn", "t", {"agenda-2030": ("sdg-4",)}),
                Record("sv/3", "Bredband och innovation i byn", "t", {"agenda-2030": ("sdg-9", "sdg-4")})]
    out = tmp_path / "report"
    report = evaluate(fws, records, encoder=FakeEncoder(), quick=True, trail22=_trail22(tmp_path / "t22"),
                      out_dir=out, cache_dir=tmp_path / "cache", progress=False)
    names = {f.name for f in report.files}
    assert {"metrics.json", "report.md", "reliability.png", "abstention.png", "learning_curve.png"} <= names
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved["settings"]["quick"] and saved["settings"]["folds"] == 2
    t22 = saved["trail22"]
    assert t22["train_texts"] == 4 and t22["test_texts"] == 2 and t22["swedish_texts"] == 3
    assert set(t22["settings"]) == {"english test (TRAIL22 Test_data)", "swedish seed records (cross-lingual)"}
    assert "goalmatch + TRAIL22" in saved["frameworks"]["agenda-2030"]["methods"]
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "cross-lingual: trained on English, tested on Swedish" in text and "| goalmatch |" in text
    assert list((tmp_path / "cache").glob("embeddings-*.npz"))  # the encoder's work is kept


def test_cli_worker_and_wiring(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    from goalmatch.cli.evaluate import evaluate_corpora
    from goalmatch.cli.main import build_parser, main
    from goalmatch.errors import CorpusError
    from goalmatch.model.matcher import Matcher

    fw_dir = tmp_path / "frameworks"
    fw_dir.mkdir()
    (fw_dir / "t-single.yaml").write_text(yaml.safe_dump(SINGLE, allow_unicode=True), encoding="utf-8")
    data = write_corpus([Record(r.id, r.text, r.source, {"t-single": r.labels["t-single"]})
                         for r in _records() if r.labels], tmp_path / "data.jsonl")
    argv = ["evaluate", "--frameworks", str(fw_dir), "--data", str(data), "--out", str(tmp_path / "out"), "--quick",
            "--no-progress"]
    args = build_parser().parse_args(argv)
    assert (args.folds, args.repeats, args.trail22, args.model) == (5, 3, None, None)
    monkeypatch.setattr("goalmatch.embed.encoder.Encoder", FakeEncoder)  # no real model in unit tests
    assert main(argv) == 0
    assert "| goalmatch |" in capsys.readouterr().out
    assert (tmp_path / "out" / "report.md").is_file()
    assert main([*argv, "--folds", "1"]) == 2
    assert "goalmatch: error: --folds must be at least 2" in capsys.readouterr().err

    model = Matcher.train(load_frameworks(fw_dir), load_corpus(data), encoder=FakeEncoder(dim=32)).save(tmp_path / "m")
    report = evaluate_corpora(tmp_path / "out2", frameworks_dir=fw_dir, data=[data], model=model, quick=True,
                              progress=False)
    assert report.metrics["settings"]["encoder"] == "fake-32"  # the model's encoder (a 32-dimensional fake)
    with pytest.raises(CorpusError, match=r"missing\.jsonl: no such file"):
        evaluate_corpora(tmp_path / "out3", frameworks_dir=fw_dir, data=[tmp_path / "missing.jsonl"], quick=True)


def test_bad_settings_and_trail22_folder_are_named(frameworks: dict[str, Framework], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folds must be at least 2"):
        evaluate(frameworks, _records(), encoder=FakeEncoder(), folds=1, progress=False)
    agenda = Framework.from_dict({**MULTI, "id": "agenda-2030"})
    with pytest.raises(ValueError, match=r"Train_data\.csv"):
        evaluate({"agenda-2030": agenda}, [], encoder=FakeEncoder(), trail22=tmp_path, progress=False)
