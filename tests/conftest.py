"""Fixtures shared across the layers' test folders: the shared material, and the toy matchers
of :mod:`tests.toys` trained once per session on the FakeEncoder.

Session fixtures are shared by every test that asks for them: a test must not change one
(a model folder it wants to tamper with, it copies to its ``tmp_path`` first).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from goalmatch.data.frameworks import Framework, load_frameworks
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model.matcher import Matcher
from tests.toys import BATCH_RECORDS, RECORDS, framework_data, write_batch_frameworks, write_framework

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared material beside the checkout (CI has it; tests that rebuild from seeds need it)."""
    path = Path(os.environ.get("GOALMATCH_SHARED", REPO.parent / "shared"))
    if not (path / "seeds").is_dir():
        pytest.fail(f"{path}: the shared seeds are needed by this test; set GOALMATCH_SHARED")
    return path


# ------------------------------------------------------------------ the toy: test and test-multi


@pytest.fixture(scope="session")
def toy_framework_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the toy frameworks ``test.yaml`` and ``test-multi.yaml``."""
    folder = tmp_path_factory.mktemp("frameworks")
    write_framework(folder, framework_data())
    write_framework(folder, framework_data(multi=True))
    return folder


@pytest.fixture(scope="session")
def toy_frameworks(toy_framework_dir: Path) -> dict[str, Framework]:
    """The toy frameworks, loaded from their files (so a matcher trained on them can be saved)."""
    return load_frameworks(toy_framework_dir)


@pytest.fixture(scope="session")
def toy_matcher(toy_frameworks: dict[str, Framework]) -> Matcher:
    """A FakeEncoder matcher of the toy frameworks trained on the toy projects, once per session."""
    return Matcher.train(toy_frameworks, RECORDS, encoder=FakeEncoder())


# ------------------------------------------------------------------ the batch toy: bt and bm


@pytest.fixture(scope="session")
def batch_matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    """A FakeEncoder matcher of the batch toy's frameworks (written as files: a saved model needs them)."""
    folder = write_batch_frameworks(tmp_path_factory.mktemp("batch-frameworks"))
    return Matcher.train(load_frameworks(folder), BATCH_RECORDS, encoder=FakeEncoder())


@pytest.fixture(scope="session")
def batch_model_dir(batch_matcher: Matcher, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``batch_matcher`` saved as a model folder, for the commands that load one (read it; copy to change it)."""
    return batch_matcher.save(tmp_path_factory.mktemp("batch-model") / "m")
