"""The serve / create-user command parts: parsers, the create-user worker, the missing-extra error."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("fastapi")

from goalmatch.cli import serve as web_cli
from goalmatch.errors import BadInput
from goalmatch.web.store import Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="goalmatch")
    sub = parser.add_subparsers(dest="command", required=True)
    web_cli.add_parsers(sub)
    return parser


def test_parsers_default_to_localhost_and_take_a_database_url() -> None:
    args = _parser().parse_args(["serve"])
    assert (args.command, args.host, args.port, args.database) == ("serve", "127.0.0.1", 8000, None)
    args = _parser().parse_args(["create-user", "alice", "--database", "sqlite:///x.db", "--password-stdin"])
    assert (args.command, args.username, args.database, args.password_stdin) == (
        "create-user", "alice", "sqlite:///x.db", True)


def test_create_user_stores_a_hash_that_signs_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'users.sqlite3'}"
    args = _parser().parse_args(["create-user", "alice", "--database", url, "--password-stdin"])
    monkeypatch.setattr("sys.stdin", io.StringIO("ett-langt-losen\n"))
    assert web_cli.run_user(args) == [f"sparade granskaren 'alice' i {url}"]
    store = Store(url)
    assert store.authenticate("alice", "ett-langt-losen") and not store.authenticate("alice", "fel")
    store.engine.dispose()
    with pytest.raises(BadInput, match="minst 8 tecken"):
        web_cli.create_user(url, "bob", "kort")


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    with pytest.raises(BadInput, match=r"goalmatch\[web\]"):
        web_cli.create_user("sqlite://", "alice", "ett-langt-losen")


def test_database_url_password_is_redacted() -> None:
    assert web_cli._redact("postgresql+psycopg://u:secret@127.0.0.1:5432/db") == "postgresql+psycopg://u:***@127.0.0.1:5432/db"


def test_revoke_sessions_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
    store = Store(url)
    store.create_user("alice", "ett-langt-losen")
    session_id = store.open_session("alice", 3600)
    assert store.session_user(session_id) == "alice"
    args = _parser().parse_args(["revoke-sessions", "alice", "--database", url])
    assert args.run(args) == ["avslutade 1 session för granskaren 'alice'"]
    assert store.session_user(session_id) is None
    args = _parser().parse_args(["revoke-sessions", "--all", "--database", url])
    (line,) = args.run(args)
    assert line.endswith("sessioner för alla granskare")
    with pytest.raises(BadInput, match="ingen granskare 'nobody'"):
        web_cli.revoke_sessions(url, "nobody", deactivate=True)
    with pytest.raises(BadInput, match="--deactivate behöver ett användarnamn"):
        web_cli.revoke_sessions(url, None, deactivate=True)
    assert web_cli.revoke_sessions(url, "alice", deactivate=True).endswith("och stängde av kontot")
    assert not store.authenticate("alice", "ett-langt-losen")
    with pytest.raises(SystemExit):
        _parser().parse_args(["revoke-sessions", "alice", "--all"])
    store.engine.dispose()


SERVE_A_TOY = """
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(message)s")  # as goalmatch.cli.main sets it up
from goalmatch.cli.serve import serve_app

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

serve_app(app, host="127.0.0.1", port=0, log_level="info")
"""


def test_serve_says_in_one_line_that_it_is_stopping_on_sigterm() -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    pytest.importorskip("uvicorn")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with subprocess.Popen([sys.executable, "-c", SERVE_A_TOY], stderr=subprocess.PIPE, text=True, env=env) as child:
        try:
            assert child.stderr is not None
            lines: list[str] = []
            deadline = time.monotonic() + 60
            while not any("Uvicorn running" in line for line in lines) and time.monotonic() < deadline:
                line = child.stderr.readline()
                assert line, "".join(lines)
                lines.append(line)
            child.send_signal(signal.SIGTERM)
            rest = child.stderr.read()
            status = child.wait(30)
        finally:
            child.kill()
    stopping = [line for line in rest.splitlines() if line.startswith("goalmatch serve: stopping")]
    assert stopping == ["goalmatch serve: stopping (SIGTERM); finishing the requests under way"], rest
    assert status == -signal.SIGTERM  # uvicorn's: it raises the signal again once it has shut down


def test_admin_flags_and_set_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'admins.sqlite3'}"
    args = _parser().parse_args(["create-user", "alice", "--admin", "--database", url, "--password-stdin"])
    monkeypatch.setattr("sys.stdin", io.StringIO("ett-langt-losen\n"))
    assert args.run(args) == [f"sparade administratören 'alice' i {url}"]
    web_cli.create_user(url, "bob", "ett-langt-losen")
    store = Store(url)
    assert store.is_admin("alice") and not store.is_admin("bob")
    args = _parser().parse_args(["set-admin", "bob", "--database", url])
    assert args.run(args) == ["'bob' är nu administratör"] and store.is_admin("bob")
    args = _parser().parse_args(["set-admin", "bob", "--remove", "--database", url])
    assert args.run(args) == ["'bob' är inte längre administratör"] and not store.is_admin("bob")
    with pytest.raises(BadInput, match=r"ingen granskare 'nobody'.*lägg till en med create-user"):
        web_cli.set_admin(url, "nobody")
    store.engine.dispose()


def test_serve_takes_a_models_dir_and_training_data() -> None:
    args = _parser().parse_args(["serve"])
    assert (args.models_dir, args.train_data) == (None, [])
    args = _parser().parse_args(["serve", "--models-dir", "m", "--train-data", "a.jsonl", "corpora"])
    assert (args.models_dir, args.train_data) == (Path("m"), [Path("a.jsonl"), Path("corpora")])


def test_serve_loads_the_active_model_unless_one_is_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'models.sqlite3'}"
    store = Store(url)
    assert web_cli._active_model(url) is None
    folder = tmp_path / "granskad-1"
    version = store.record_model("granskad-1", str(folder), "alice", {})
    store.activate_model(version)
    assert web_cli._active_model(url) is None  # the folder is gone: the default model, with a warning
    folder.mkdir()
    assert web_cli._active_model(url) == folder
    store.engine.dispose()
