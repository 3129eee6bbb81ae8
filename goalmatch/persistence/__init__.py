"""Layer 4, persistence: model folders written and read as safe, explicit files (below the
model layer: it reads and writes parts, and the Matcher assembles them).

:func:`save`, :func:`load` and :func:`verify` live in :mod:`goalmatch.persistence.folder`.
"""

from goalmatch.persistence.folder import ModelError, load, read_manifest, save, verify

__all__ = ["ModelError", "load", "read_manifest", "save", "verify"]
