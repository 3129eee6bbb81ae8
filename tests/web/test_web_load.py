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
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from goalmatch.embed.encoder import FakeEncoder
from goalmatch.web.lanes import LONG_CHARS, Lanes
from tests.web.helpers import SECRET, TEXT, TOKEN

USERS, DURATION_S = 4, 5.0


def load_web() -> Any:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "load_web.py"
    spec = importlib.util.spec_from_file_location("load_web", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("load_web", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # the server loads the language tools (about 15-30 s)
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


# ------------------------------------------------------------------ a long text beside short ones (issue 16, item 9)

MARK = "Långsamvägen"  # the slow encoder below stops at a text holding this word
LONG_TEXT = " ".join(f"{MARK} {i} bygger fiber och bredband till byarna i hela kommunen." for i in range(1200))


class Stalling(FakeEncoder):
    """The FakeEncoder's vectors; a call with a text holding :data:`MARK` waits for ``release`` (at most
    ``patience_s``). ``started`` is set when the first such call arrives; ``calls`` counts them."""

    def encode(self, texts: Any) -> Any:
        if any(MARK in text for text in texts):
            self.calls += 1
            self.started.set()
            self.release.wait(self.patience_s)
        return super().encode(texts)


def stalling(patience_s: float = 20.0) -> Stalling:
    encoder = Stalling()
    encoder.started, encoder.release = threading.Event(), threading.Event()
    encoder.calls, encoder.patience_s = 0, patience_s
    return encoder


def test_a_short_suggestion_is_answered_while_a_long_text_is_being_encoded(
        web_matcher: Any, database_url: str) -> None:
    """The long text's encoder is stuck until the test lets it go, after the short request's answer:
    with one lock around the matcher (before item 9) the short one waited for the long one (20 s),
    which then finished first, and this fails."""
    from fastapi.testclient import TestClient

    from goalmatch.web.app import create_app

    assert len(LONG_TEXT) > LONG_CHARS
    encoder = stalling()
    app = create_app(matcher=web_matcher.with_encoder(encoder), database_url=database_url, secret=SECRET,
                     token=TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    client = TestClient(app)
    assert client.post("/api/suggest", json={"text": TEXT}, headers=headers).status_code == 200  # warm
    order: list[str] = []
    answers: dict[str, int] = {}

    def long_one() -> None:
        answers["long"] = TestClient(app).post("/api/suggest", json={"text": LONG_TEXT}, headers=headers).status_code
        order.append("long")

    thread = threading.Thread(target=long_one)
    thread.start()
    try:
        assert encoder.started.wait(60), "the long text never reached the encoder"
        short = client.post("/api/suggest", json={"text": TEXT + " Kort."}, headers=headers)
        order.append("short")
    finally:
        encoder.release.set()
        thread.join(60)
    app.state.review.store.engine.dispose()
    assert short.status_code == 200 and answers == {"long": 200}, (short.text, answers)
    assert order == ["short", "long"]
    assert encoder.calls > 1  # the long text was encoded in pieces


def test_the_long_lane_suggests_what_the_matcher_suggests(web_matcher: Any) -> None:
    encoder = stalling(patience_s=0)
    matcher = web_matcher.with_encoder(encoder)
    lanes = Lanes(long_chars=1000)
    paced = lanes.suggest(matcher, LONG_TEXT, top_k=3).to_dict()
    assert encoder.calls > 5  # one passage a call
    calls = encoder.calls
    assert paced == web_matcher.suggest(LONG_TEXT, top_k=3).to_dict()
    assert lanes.suggest(matcher, TEXT).to_dict() == web_matcher.suggest(TEXT).to_dict()
    assert encoder.calls == calls  # a short text holds no MARK


def test_a_long_texts_next_piece_waits_for_the_short_suggestions_under_way() -> None:
    lanes = Lanes(max_wait_s=60)
    inside, leave = threading.Event(), threading.Event()

    class Short:
        def suggest(self, text: str) -> str:
            inside.set()
            leave.wait(60)
            return text

    short = threading.Thread(target=lanes.suggest, args=(Short(), "kort"))
    short.start()
    assert inside.wait(60)
    gave_way = threading.Thread(target=lanes.give_way)
    gave_way.start()
    gave_way.join(0.2)
    waited = gave_way.is_alive()  # still waiting while the short one runs
    leave.set()
    short.join(60)
    gave_way.join(60)
    assert waited and not gave_way.is_alive()
    lanes.give_way()  # nothing under way: returns at once


def test_the_long_lane_runs_in_one_thread_at_a_lower_priority() -> None:
    import os

    seen: list[tuple[int, int]] = []

    class Plain:  # no with_encoder: suggested as it is, in the lane's thread
        def suggest(self, text: str) -> int:
            thread = threading.get_native_id()
            seen.append((thread, os.getpriority(os.PRIO_PROCESS, thread)))
            return len(text)

    lanes = Lanes(long_chars=10)
    assert [lanes.suggest(Plain(), "x" * 11) for _ in range(3)] == [11, 11, 11]
    assert lanes.suggest(Plain(), "kort") == 4  # in the caller's thread
    here = threading.get_native_id()
    assert {thread for thread, _ in seen[:3]} != {here} and len({thread for thread, _ in seen[:3]}) == 1
    assert seen[3][0] == here
    if sys.platform == "linux":
        assert {nice for _, nice in seen[:3]} == {min(19, os.getpriority(os.PRIO_PROCESS, here) + 10)}
