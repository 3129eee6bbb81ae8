"""The dask engine of batch scoring: a LocalCluster of two worker processes on loopback gives the local bytes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from goalmatch.batch.score import BatchError, score_file
from goalmatch.model.matcher import Matcher

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning",
                                        "ignore:.*:pytest.PytestUnraisableExceptionWarning")


@pytest.mark.slow  # each worker process imports goalmatch and loads the model: ~20 s of cold start on 2 cores
def test_dask_engine_writes_the_local_output(batch_model_dir: Path, tmp_path: Path) -> None:
    import goalmatch

    rows = [{"id": f"D-{i}", "text": f"Vi bygger fiber och bredband till byarna {i}. Teater för unga {i}."}
            for i in range(1, 24)]
    rows[5]["text"] = ""  # a rejected row keeps its place
    with (tmp_path / "in.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text"])
        writer.writeheader()
        writer.writerows(rows)
    matcher = goalmatch.load(batch_model_dir)
    local = score_file(tmp_path / "in.csv", tmp_path / "local.csv", matcher=matcher, id_column="id", chunk_rows=4,
                       progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = score_file(tmp_path / "in.csv", tmp_path / "dask.csv", matcher=matcher, id_column="id",
                            chunk_rows=4, progress=False, engine="dask", scheduler=cluster.scheduler_address)
    assert (remote.scored, remote.rejected) == (local.scored, local.rejected) == (22, 1)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


def test_dask_engine_needs_a_saved_model_and_a_scheduler(batch_matcher: Matcher, batch_model_dir: Path,
                                                         tmp_path: Path) -> None:
    import goalmatch

    (tmp_path / "in.csv").write_text("text\nfiber till byn\n", encoding="utf-8")
    with pytest.raises(BatchError, match="needs a model saved in a folder"):
        score_file(tmp_path / "in.csv", tmp_path / "o.csv", matcher=batch_matcher, engine="dask", scheduler="tcp://x:1")
    with pytest.raises(BatchError, match="scheduler's address"):
        score_file(tmp_path / "in.csv", tmp_path / "o.csv", matcher=goalmatch.load(batch_model_dir), engine="dask")


def test_score_partition_is_map_partitions_ready_and_matches_the_local_engine(batch_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    import goalmatch
    from goalmatch.batch.dask import partition_meta, score_partition

    rows = [{"nr": f"P-{i}", "titel": f"Projekt {i}", "text": f"Vi bygger fiber och bredband till byarna {i}."}
            for i in range(1, 9)]
    rows[2]["text"], rows[2]["titel"] = None, ""  # rejected, keeps its place
    rows[5]["nr"] = "P-5"  # a duplicate id within the partition
    frame = pd.DataFrame(rows, index=range(100, 108))
    with (tmp_path / "in.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["nr", "titel", "text"])
        writer.writeheader()
        writer.writerows([{k: v or "" for k, v in r.items()} for r in rows])
    score_file(tmp_path / "in.csv", tmp_path / "local.csv", matcher=goalmatch.load(batch_model_dir), id_column="nr",
               text_columns=["titel", "text"], progress=False)
    with (tmp_path / "local.csv").open(encoding="utf-8", newline="") as handle:
        local = list(csv.DictReader(handle))

    out = score_partition(frame, batch_model_dir, id_column="nr", text_columns=["titel", "text"])
    assert list(out.index) == list(frame.index)
    assert list(out.columns) == list(partition_meta(batch_model_dir).columns)
    assert out["status"].tolist() == [r["status"] for r in local]
    assert out["status"].tolist()[2] == "rejected: empty text" and out["status"].tolist()[5] == "rejected: duplicate id"
    for fid in goalmatch.load(batch_model_dir).heads:
        assert out[f"{fid}.goal_1"].fillna("").tolist() == [r[f"{fid}.goal_1"] for r in local]
        assert out[f"{fid}.p_1"].round(4).fillna(-1).tolist() == \
            [float(r[f"{fid}.p_1"]) if r[f"{fid}.p_1"] else -1 for r in local]

    ddf = dd.from_pandas(frame, npartitions=2)
    scored = ddf.map_partitions(score_partition, model=str(batch_model_dir), id_column="nr",
                                text_columns=["titel", "text"], meta=partition_meta(batch_model_dir)).compute(
        scheduler="sync")
    assert len(scored) == 8 and scored.index.tolist() == frame.index.tolist()
    with pytest.raises(KeyError, match="no column\\(s\\) 'beskrivning' in the partition"):
        score_partition(frame, batch_model_dir, text_columns=["beskrivning"])
