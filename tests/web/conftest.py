"""Fixtures of the review app's tests: its toy matcher (trained once per session), a database
URL (a fresh SQLite file, and an emptied PostgreSQL when ``GOALMATCH_TEST_POSTGRES_URL`` is
set) and an app with two reviewers on them.

Nothing here imports the web extra at module level: a test file skips itself when it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goalmatch.data.frameworks import Framework, load_frameworks
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model.matcher import Matcher
from tests.toys import WEB_RECORDS, write_web_frameworks
from tests.web.helpers import PASSWORD, SECRET, TOKEN


@pytest.fixture(scope="session")
def web_frameworks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Framework]:
    """The review app's toy frameworks ``test`` and ``test-multi``, loaded from their files."""
    return load_frameworks(write_web_frameworks(tmp_path_factory.mktemp("web-frameworks")))


@pytest.fixture(scope="session")
def web_matcher(web_frameworks: dict[str, Framework]) -> Matcher:
    """A FakeEncoder matcher of the review app's toy, once per session (the app only reads it)."""
    return Matcher.train(web_frameworks, WEB_RECORDS, encoder=FakeEncoder())


DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("GOALMATCH_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'review.sqlite3'}"
        return
    import sqlalchemy as sa

    from goalmatch.web.schema import metadata, schema_version

    url = os.environ["GOALMATCH_TEST_POSTGRES_URL"]
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a clean schema for every test
        metadata.drop_all(conn)
        schema_version.drop(conn, checkfirst=True)
    engine.dispose()
    yield url


@pytest.fixture
def app(web_matcher: Matcher, database_url: str) -> Any:
    from goalmatch.web.app import create_app

    app = create_app(matcher=web_matcher, database_url=database_url, secret=SECRET, token=TOKEN)
    store = app.state.review.store
    store.create_user("alice", PASSWORD)
    store.create_user("bob", PASSWORD)
    yield app
    store.engine.dispose()
