from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared material beside the checkout (CI has it; tests that rebuild from seeds need it)."""
    path = Path(os.environ.get("GOALMATCH_SHARED", REPO.parent / "shared"))
    if not (path / "seeds").is_dir():
        pytest.fail(f"{path}: the shared seeds are needed by this test; set GOALMATCH_SHARED")
    return path
