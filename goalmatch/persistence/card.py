"""The model card: the ``README.md`` of a model folder, written from its manifest.

It says how the model was built (the command), with which encoder, for which
frameworks, from which training data and sources (with their licences), and what was
measured; a reader needs no goalmatch to read it.

>>> manifest = {
...     "created": None, "goalmatch_version": "0.1", "command": "goalmatch train",
...     "encoder": {"id": "fake-64", "checksum": "ab" * 32},
...     "frameworks": [{"id": "rus", "classes": ["a", "b"], "labelled": 3, "content_hash": "cd" * 32}],
...     "references": {"count": 3},
... }
>>> print(model_card(manifest).splitlines()[8])
Encoder: `fake-64` (checksum `abababababababab…`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["model_card"]


def model_card(manifest: Mapping[str, Any]) -> str:
    """The README of a model folder with this manifest (``files`` not needed)."""
    enc = manifest["encoder"]
    lines = [
        "# goalmatch model", "",
        f"Built{' ' + manifest['created'] if manifest.get('created') else ''} by goalmatch "
        f"{manifest['goalmatch_version']} with:", "",
        "```bash", str(manifest.get("command") or "(from Python: goalmatch.Matcher.save)"), "```", "",
        f"Encoder: `{enc['id']}` (checksum `{enc['checksum'][:16]}…`).", "",
        "| framework | goals | labelled texts | content hash |", "|---|---|---|---|",
        *(f"| `{e['id']}` | {len(e['classes'])} | {e['labelled']} | `{e['content_hash'][:12]}` |"
          for e in manifest["frameworks"]),
        "", f"Reference projects: {manifest['references']['count']}. "
        "Every file's sha256 is in `manifest.json`; `goalmatch info` shows it, and loading refuses a "
        "changed, missing or extra file.",
    ]
    data = manifest.get("training_data") or {}
    if data:
        lines += ["", f"Training data: {data.get('records')} corpus records and {data.get('extra_records')} "
                      f"further labelled texts (sha256 `{str(data.get('sha256'))[:16]}…`)."]
        for fid, adjusted in (data.get("adjusted_for_extra") or {}).items():
            lines += ["", f"`{fid}` was trained with further texts, then adapted to the corpus records "
                          "(`GoalClassifier.fit(..., corpus=...)`): " + ", ".join(
                              f"{k} {v:.3f}" for k, v in adjusted.items()) + "."]
    for source in manifest.get("sources") or []:
        lines += ["", f"## {source.get('name')}", ""]
        lines += [f"- {key}: {value}" for key, value in source.items() if key != "name"]
    if manifest.get("metrics"):
        lines += ["", "## Metrics", "", "```json", json.dumps(manifest["metrics"], indent=2, ensure_ascii=False), "```"]
    return "\n".join(lines) + "\n"
