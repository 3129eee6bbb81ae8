"""A bounded load test of the review app: 4 reviewers for 5 s against the real server.

``benchmarks/load_web.py`` starts ``uvicorn`` in a subprocess on 127.0.0.1 (FakeEncoder on
the shipped frameworks and corpora) and runs the reviewers in threads; this test checks
correctness only, not timings: no 5xx, no transport error, and every decision the app
acknowledged is in the database exactly once, with the review states agreeing. On
SQLite, and on PostgreSQL when ``GOALMATCH_TEST_POSTGRES_URL`` is set. The timings are
the benchmark's business (``python benchmarks/load_web.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")


pytestmark = pytest.mark.slow  # the server loads the language tools (about 15-30 s)

USERS, DURATION_S = 4, 5.0


def load_web() -> Any:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "load_web.py"
    spec = importlib.util.spec_from_file_location("load_web", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("load_web", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_four_reviewers_for_five_seconds_lose_nothing(tmp_path: Path, database_url: str) -> None:
    bench = load_web()
    url = None if database_url.startswith("sqlite") else database_url
    server = bench.Server(tmp_path, "fake", users=USERS, database_url=url)
    try:
        tally = bench.run_load(server.base_url, USERS, DURATION_S)
    finally:
        server.stop()
    check = bench.check_decisions(server.database_url, tally.acked)
    statuses = {name: dict(counts) for name, counts in tally.statuses.items()}
    log = (tmp_path / "server.log").read_text(errors="replace")[-3000:]
    assert tally.server_errors == 0, (statuses, log)
    assert not tally.errors, (dict(tally.errors), log)
    assert check["lost"] == 0 and check["duplicated"] == 0 and check["state_mismatch"] == 0, check
    assert check["acknowledged"] > 0 and check["stored"] >= check["acknowledged"], check
    assert {"POST /applications", "POST /api/suggest", "GET /queue", "POST /api/…/decisions",
            "POST /applications/ID/decisions"} <= set(statuses), statuses
    assert all(status < 500 for counts in statuses.values() for status in counts), statuses
