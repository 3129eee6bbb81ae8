"""Where the shipped data lives, in a source checkout and in an installed package."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _packaged(name: str) -> Path | None:
    # Installed wheels map the top-level folders into the package (see setup.cfg).
    candidate = Path(__file__).resolve().parent / name
    return candidate if candidate.is_dir() else None


def corpora_dir() -> Path:
    """The ``corpora`` folder: ``$GOALMATCH_CORPORA``, the installed copy, or the checkout's."""
    env = os.environ.get("GOALMATCH_CORPORA")
    if env:
        return Path(env)
    return _packaged("corpora") or _REPO_ROOT / "corpora"


def models_dir() -> Path:
    """The ``models`` folder holding shipped models such as ``default``."""
    env = os.environ.get("GOALMATCH_MODELS")
    if env:
        return Path(env)
    return _packaged("models") or _REPO_ROOT / "models"


def shared_dir() -> Path:
    """The shared material beside the checkout (benchmark data, TRAIL22): ``$GOALMATCH_SHARED``,
    else the folder ``shared`` next to the checkout. Read by path, never copied into the project."""
    env = os.environ.get("GOALMATCH_SHARED")
    return Path(env) if env else _REPO_ROOT.parent / "shared"


def cache_root() -> Path:
    """Where goalmatch keeps what it builds once per machine (encoders, the lemma table):
    ``$GOALMATCH_CACHE_DIR``, else the user cache directory for goalmatch."""
    env = os.environ.get("GOALMATCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("goalmatch"))


def benchmarks_dir() -> Path:
    """The checkout's ``benchmarks`` folder: benchmark frameworks (``frameworks/``), the off-topic
    and regression sets (``data/``)."""
    return _REPO_ROOT / "benchmarks"
