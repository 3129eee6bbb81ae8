"""Layer 4, persistence: model folders written and read as safe, explicit files (below the
model layer: it reads and writes parts, and the Matcher assembles them).

:func:`write_model`, :func:`read_model` and :func:`verify` live in
:mod:`goalmatch.persistence.folder`; the classifier heads as plain JSON and arrays in
:mod:`~goalmatch.persistence.heads`, the plain-file rules in :mod:`~goalmatch.persistence.files`,
the model card in :mod:`~goalmatch.persistence.card`.
"""

from goalmatch.persistence.folder import ModelError, ModelParts, read_manifest, read_model, verify, write_model

__all__ = ["ModelError", "ModelParts", "read_manifest", "read_model", "verify", "write_model"]
