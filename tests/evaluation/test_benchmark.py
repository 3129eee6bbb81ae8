"""``goalmatch benchmark``: the learning curves, baselines, side sets and report on tiny data with
the fake encoder (fast, offline), the command's wiring, and one slow run of ``--quick`` with the
real encoder on the shared data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from goalmatch.cli.main import main
from goalmatch.data.corpus import Record
from goalmatch.data.frameworks import Framework
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.errors import CorpusError
from goalmatch.evaluation.benchmark import run_benchmark
from goalmatch.evaluation.benchmark_checks import regression_scores
from goalmatch.evaluation.benchmark_methods import description_pieces
from goalmatch.evaluation.benchmark_tasks import TASKS, OffTopic, Regression, Task, capped, danish_tasks
from goalmatch.evaluation.metrics import pooled_ece, scalar_scores

REPO = Path(__file__).resolve().parents[2]

WORDS = {
    "toy-fisk": "fiske båt nät hamn fisk torsk lax",
    "toy-skog": "skog träd sågverk timmer gran tall planta",
    "toy-musik": "musik sång konsert kör festival gitarr trumma",
}


def _framework(goals: dict[str, str] = WORDS) -> Framework:
    return Framework.from_dict({
        "id": "toy", "name": "Toy", "language": "sv", "multi_label": False, "source": {"document": "test"},
        "goals": [{"id": g, "name": w.split()[0].title(), "description": f"{', '.join(w.split()[:4])}. Mer {w}.",
                   "aliases": [f"label {g}"]} for g, w in goals.items()],
    })


def _records(per_goal: dict[str, int]) -> list[Record]:
    """Texts of five words from their goal's vocabulary only: a perfectly separable task."""
    out = []
    for g, n in per_goal.items():
        ws = WORDS[g].split()
        out += [Record(f"{g}-{i}", " ".join(ws[(i + j) % len(ws)] for j in range(5)), "toy", {"toy": (g,)})
                for i in range(n)]
    return out


OFFTOPIC = [OffTopic("lorem", "lorem", "la", "Lorem ipsum dolor sit amet"),
            OffTopic("recipe", "recipe", "sv", "Vispa mjöl, mjölk och ägg till en smet")]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    task = Task("toy", _framework(), _records({g: 12 for g in WORDS}), folds=3, backlog=["hamn och båt"])
    result = run_benchmark([task], encoder=FakeEncoder(), sizes=(1, 2, 16), repeats=2, offtopic=OFFTOPIC,
                           out_dir=out, settings={"command": "pytest"}, progress=False)
    return result.metrics, out


# ------------------------------------------------------------------ the run, on a toy


def test_every_method_runs_at_its_points_of_the_curve(toy_run: tuple[dict, Path]) -> None:
    m, _ = toy_run
    e = m["tasks"]["toy"]
    assert e["points"] == ["0", "0+U", "1", "2", "all"]  # 16 >= every goal's pool of 8: the same as "all"
    assert any("k = 16 left out" in note for note in e["notes"])
    assert e["labelled_used"] == {"0": 0, "0+U": 0, "1": 3, "2": 6, "all": 24}
    nearest = [n for n in e["methods"] if n.startswith("nearest description (")]
    assert len(nearest) == 5
    for point in e["points"]:
        got = set(e["curve"][point])
        assert "goalmatch" in got and set(nearest) <= got
        labelled = {"embeddings + LR", "TF-IDF + LR", "kNN vote"}
        assert (labelled <= got) == (point not in ("0", "0+U"))
        assert ("nearest description + self-training (backlog)" in got) == (point == "0+U")
    # a method that uses neither labels nor the backlog is the same at every point
    first = e["curve"]["0"][nearest[0]]["mean"]["accuracy"]
    assert all(e["curve"][p][nearest[0]]["mean"]["accuracy"] == first for p in e["points"])
    assert {"accuracy", "macro_f1", "top3", "log_loss", "answered", "accuracy_answered"} <= \
        set(e["curve"]["all"]["goalmatch"]["mean"])


def test_a_separable_toy_scores_what_it_should(toy_run: tuple[dict, Path]) -> None:
    m, _ = toy_run
    curve = m["tasks"]["toy"]["curve"]
    for method in ("embeddings + LR", "TF-IDF + LR", "kNN vote"):
        assert curve["all"][method]["mean"]["accuracy"] == 1.0, method
        assert curve["all"][method]["std"]["accuracy"] == 0.0
    assert curve["all"]["goalmatch"]["mean"]["top3"] == 1.0  # three goals: the right one is always in the top 3
    # 36 texts pooled over repeats are still 36 distinct texts: no ECE; and none for mere scores
    assert curve["all"]["goalmatch"]["ece"] == {"ece": None, "n": 36, "why": "n/a (n < 100)"}
    assert "ece" not in curve["all"]["nearest description (name + description, no prefix)"]


def test_the_report_folder(toy_run: tuple[dict, Path]) -> None:
    m, out = toy_run
    on_disk = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert on_disk["tasks"]["toy"]["curve"] == m["tasks"]["toy"]["curve"]
    assert on_disk["settings"]["encoder"]["id"] == "fake-64" and on_disk["settings"]["command"] == "pytest"
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.splitlines()[4] == "    pytest"  # the command that reproduces it, at the top
    assert "## toy: Toy" in report and "n/a (n < 100)" in report and "goalmatch − best" in report
    assert "## Off-topic texts" in report
    pytest.importorskip("matplotlib")
    assert (out / "curve-toy.png").stat().st_size > 10_000


def test_offtopic_is_measured_per_framework_and_head_version(toy_run: tuple[dict, Path]) -> None:
    o = toy_run[0]["offtopic"]
    assert o["texts"] == 2 and o["kinds"] == {"lorem": 1, "recipe": 1}
    versions = o["frameworks"]["toy"]
    assert set(versions) == {"zero-shot", "zero-shot + backlog", "trained"}
    for v in versions.values():
        assert 0.0 <= v["abstained"] <= 1.0
        assert len(v["answered"]) == round((1 - v["abstained"]) * 2)
    assert set(o["by_kind"]["trained"]) == {"lorem", "recipe"}
    # the other side of the floor: the task's labelled projects (21 distinct texts) under each head's floor
    projects = o["projects"]["toy"]
    assert projects["texts"] == 21
    assert projects["zero-shot"] == 0.0  # FakeEncoder has no prior floor: zero-shot calls nothing off-topic
    # the backlog head's floor is the 2 % quantile of the 22 project texts it saw: at most one under it
    assert 0.0 <= projects["zero-shot + backlog"] <= 1 / 21 and set(projects) == {"texts", *versions}
    report = (toy_run[1] / "report.md").read_text(encoding="utf-8")
    assert f"| toy | 21 | 0.000 | {projects['zero-shot + backlog']:.3f} |" in report


def test_ece_is_reported_from_100_distinct_texts() -> None:
    task = Task("big", _framework(), _records({g: 34 for g in WORDS}), folds=2)
    m = run_benchmark([task], encoder=FakeEncoder(), sizes=(1,), repeats=1, progress=False).metrics
    ece = m["tasks"]["big"]["curve"]["all"]["goalmatch"]["ece"]
    assert ece["n"] == 102 and isinstance(ece["ece"], float) and 0.0 <= ece["ece"] <= 1.0


def test_a_goal_with_a_small_pool_gives_all_it_has() -> None:
    task = Task("lopsided", _framework(), _records({"toy-fisk": 18, "toy-skog": 18, "toy-musik": 3}), folds=3)
    m = run_benchmark([task], encoder=FakeEncoder(), sizes=(1, 4), repeats=1, progress=False).metrics
    e = m["tasks"]["lopsided"]
    assert e["exhausted"] == {"4": ["toy-musik"]}
    assert any(n.startswith("k = 4: toy-musik had fewer than 4") for n in e["notes"])
    assert e["labelled_used"]["4"] == 10  # 4 + 4 + the 2 musik projects of each training pool


def test_a_task_with_its_own_test_split() -> None:
    records = _records({g: 10 for g in WORDS})
    task = Task("split", _framework(), records[::2], test=records[1::2], folds=0)
    e = run_benchmark([task], encoder=FakeEncoder(), sizes=(1, 2), repeats=2, progress=False).metrics["tasks"]["split"]
    assert e["test_texts"] == 15 and e["folds"] is None
    assert e["curve"]["all"]["goalmatch"]["std"]["accuracy"] == 0.0  # the same pool and test part every repeat
    assert e["curve"]["all"]["embeddings + LR"]["mean"]["accuracy"] == 1.0


# ------------------------------------------------------------------ parts


def test_scalar_scores_and_pooled_ece_on_a_constructed_case() -> None:
    Y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=bool)
    P = np.array([[.6, .3, .1], [.5, .4, .1], [.1, .2, .7], [.2, .3, .5]])
    s = scalar_scores(Y, Y.argmax(1), P, P >= .5, multi=False, answered=np.array([True, True, True, False]))
    assert s["accuracy"] == 0.5 and s["top3"] == 1.0 and s["answered"] == 0.75
    assert s["accuracy_answered"] == round(2 / 3, 3)
    assert s["log_loss"] == round(-np.mean(np.log([.6, .4, .7, .2])), 3)
    multi = scalar_scores(Y, Y.argmax(1), P, P >= .5, multi=True)
    assert multi["precision"] == round(2 / 4, 3) and multi["recall"] == 0.5  # predicted .6, .5, .7, .5; 2 right
    assert pooled_ece(Y, Y.argmax(1), P, multi=False, distinct=99)["why"] == "n/a (n < 100)"
    big = pooled_ece(np.tile(Y, (25, 1)), np.tile(Y.argmax(1), 25), np.tile(P, (25, 1)), multi=False, distinct=100)
    # bins of width 0.1: the two 0.5s (both wrong), 0.6 (right), 0.7 (right)
    assert big["ece"] == round(.5 * .5 + .25 * .4 + .25 * .3, 3) and big["predictions"] == 100


def test_description_pieces() -> None:
    assert description_pieces("Bredband till byarna, fiber och mobilnät; snabb uppkoppling. Alla") == \
        ["Bredband till byarna", "fiber och mobilnät", "snabb uppkoppling"]


def test_quick_caps_keep_every_goal() -> None:
    task = Task("lopsided", _framework(), _records({"toy-fisk": 30, "toy-skog": 5, "toy-musik": 2}))
    small = capped(task, 9)
    assert [r.labels_for("toy")[0] for r in small.records].count("toy-musik") == 2 and len(small.records) == 9
    assert small.notes == ["quick: 9 of 37 labelled records (round-robin over goals)"]
    assert capped(task, 100) is task


def test_danish_tasks_resolve_labels_and_drop_small_goals(tmp_path: Path) -> None:
    shared, fws = tmp_path / "shared", tmp_path / "fws"
    (shared / "data" / "benchmarks").mkdir(parents=True)
    fws.mkdir()
    fw = {"id": "dk-erdf-2007-2013", "name": "DK", "language": "da", "multi_label": False, "source": {"document": "t"},
          "goals": [{"id": "dk-a", "name": "A", "description": "Innovation.", "aliases": ["Innovation og videndeling"]},
                    {"id": "dk-b", "name": "B", "description": "Teknologi.", "aliases": ["Ny teknologi"]}]}
    (fws / "dk-erdf-2007-2013.yaml").write_text(json.dumps(fw), encoding="utf-8")
    rows = [{"id": f"dk0713-{i:04}", "period": "2007-2013", "title": f"P{i}", "text": "Tekst.",
             "label": "Innovation og videndeling" if i < 6 else "ny teknologi"} for i in range(8)]
    data = shared / "data" / "benchmarks" / "dk-erdf.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (task,) = danish_tasks(shared, fws, ["dk-2007"])
    assert task.framework.goal_ids == ("dk-a",) and len(task.records) == 6
    assert task.records[0].text == "P0. Tekst." and task.notes == ["goal dk-b dropped from the task: 2 project(s), "
                                                                   "fewer than 5"]
    assert set(task.files) == {str(data), str(fws / "dk-erdf-2007-2013.yaml")}
    rows[0]["label"] = "Noget andet"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(CorpusError, match="dk0713-0000: label 'Noget andet' is no goal name or alias"):
        danish_tasks(shared, fws, ["dk-2007"])


def test_regression_scores_top1_top3_and_misses() -> None:
    from goalmatch.model.matcher import Matcher

    fw = _framework()
    encoder = FakeEncoder()
    model = Matcher.train({"toy": fw}, _records({g: 4 for g in WORDS}), encoder=encoder)
    items = [Regression("fisk", "fiske båt nät hamn torsk", {"toy": ("toy-fisk",), "elsewhere": ("x",)}),
             Regression("wrong", "skog träd sågverk timmer gran", {"toy": ("toy-musik",)})]
    from goalmatch.embed.cache import EmbeddingCache

    r = regression_scores(items, model, EmbeddingCache(encoder))
    assert r["pairs"] == 2 and r["top1"] == 0.5 and r["skipped"] == ["fisk: elsewhere"]
    assert [x["id"] for x in r["misses"]] == ["wrong"] and r["misses"][0]["top3"][0][0] == "toy-skog"
    with pytest.raises(CorpusError, match="expected goal 'toy-nope' is not a goal of toy"):
        regression_scores([Regression("bad", "text", {"toy": ("toy-nope",)})], model, EmbeddingCache(encoder))


# ------------------------------------------------------------------ the command


def test_the_command_is_wired(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--out" in out and "--tasks" in out
    assert main(["benchmark", "--tasks", "dk-2007,nope", "--out", str(tmp_path)]) == 2
    assert "unknown task(s) nope" in capsys.readouterr().err


def _benchmark_data() -> Path:
    """The shared folder, when it has the benchmark data and the checkout has the framework files;
    outside CI a missing piece skips the slow test, under CI it fails it."""
    shared = Path(os.environ.get("GOALMATCH_SHARED", REPO.parent / "shared"))
    needed = [shared / "data" / "benchmarks" / "dk-erdf.jsonl", shared / "data" / "trail22" / "Test_data.csv",
              REPO / "benchmarks" / "frameworks" / "dk-erdf-2007-2013.yaml",
              REPO / "benchmarks" / "frameworks" / "dk-erdf-2014-2020.yaml"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        message = (f"benchmark data missing: {', '.join(missing)} (the shared folder is $GOALMATCH_SHARED or "
                   "../shared; the framework files belong in the checkout's benchmarks/frameworks)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return shared


@pytest.mark.slow
def test_quick_benchmark_with_the_real_encoder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = _benchmark_data()
    out = tmp_path / "bench"
    cache = os.environ.get("GOALMATCH_BENCHMARK_CACHE", str(tmp_path / "cache"))
    assert main(["benchmark", "--quick", "--shared", str(shared), "--out", str(out), "--cache", cache,
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    report = (out / "report.md").read_text(encoding="utf-8")
    for task in TASKS:
        assert any(name.startswith(task) for name in m["tasks"]), task
        assert f"## {task}" in report and task in printed
    assert m["settings"]["encoder"]["id"] == "multilingual-e5-small"
    assert all(len(h) == 64 for h in m["settings"]["data_files"].values())
    assert "offtopic" in m or any("offtopic" in n for n in m["settings"]["notes"])


def test_the_learning_curve_plot_spaces_its_sizes_evenly(toy_run: tuple[dict, Path]) -> None:
    from goalmatch.evaluation.benchmark_report import curve_figure
    from goalmatch.evaluation.report import pyplot

    pytest.importorskip("matplotlib")
    e = toy_run[0]["tasks"]["toy"]
    plt = pyplot()
    fig = curve_figure(plt, "toy", e)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert ax.get_xscale() == "linear" and labels[0] == "0" and labels[-1].startswith("all")
    assert list(ax.get_xticks()) == list(range(len(labels)))  # evenly spaced, whatever the sizes
    assert [p for p in e["points"] if p != "0+U"] == ["0", *labels[1:-1], "all"]
    assert ax.get_legend() is None and fig.legends  # the legend beside the axes, not over the lines
    plt.close(fig)
