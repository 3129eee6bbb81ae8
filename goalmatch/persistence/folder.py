"""A saved model is a folder of safe, explicit files, checked before anything is read.

::

    manifest.json                    versions, encoder, frameworks and their hashes, training data,
                                     metrics, sources, the command that built it, sha256 + size of
                                     every other file
    README.md                        what the model is, how it was built, attribution
    frameworks/<id>.yaml             the strategy frameworks it was trained for (self-contained)
    heads/<id>.skops                 each GoalClassifier's small state (parameters, classes_, coef_,
                                     intercept_, thresholds_, min_similarity_, prototype_kinds_ …)
    heads/<id>.<array>.npy           its large arrays: prototypes, prototype_goal, labelled,
                                     labelled_targets
    references.json, references.npy  reference projects (ids, titles, labels) and their embeddings

Loading refuses, naming the file: a file whose sha256 or size differs from the manifest,
a missing file, a file the manifest does not list, a path that leaves the folder or is a
symbolic link, a framework whose content hash differs from the one trained for, a head
holding any type outside :data:`TRUSTED_TYPES`. Arrays are read with
``allow_pickle=False``; nothing is unpickled.

>>> import tempfile, goalmatch
>>> from goalmatch.embed.encoder import FakeEncoder
>>> from goalmatch.model.matcher import Matcher
>>> rus = goalmatch.frameworks()["rus-norrbotten-2030"]
>>> matcher = Matcher.train([rus], goalmatch.load_corpora(), encoder=FakeEncoder())
>>> folder = save(matcher, Path(tempfile.mkdtemp()) / "model", command="doctest")
>>> sorted(p.name for p in folder.iterdir())
['README.md', 'frameworks', 'heads', 'manifest.json', 'references.json', 'references.npy']
>>> text = "Vi bygger ut fiber och mobilnät i byarna."
>>> loaded = load(folder)
>>> bool((loaded.predict_proba([text]) == matcher.predict_proba([text])).all())
True
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from goalmatch._io import publish_dir, replacing
from goalmatch.data.frameworks import Framework, FrameworkError, load_frameworks
from goalmatch.errors import ModelError

if TYPE_CHECKING:  # imported where used, so the CLI can name ModelError without loading scikit-learn
    from goalmatch.model.classifier import GoalClassifier
    from goalmatch.model.matcher import Matcher

__all__ = ["HEAD_TYPES", "TRUSTED_TYPES", "ModelError", "load", "read_manifest", "save", "verify"]

logger = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "goalmatch-model", 1
MANIFEST = "manifest.json"
TRUSTED_TYPES = ("goalmatch.model.classifier.GoalClassifier",)
"""The one type a head may hold that skops does not trust by itself."""
HEAD_TYPES = frozenset({
    *TRUSTED_TYPES, "numpy.ndarray", "numpy.float64", "numpy.int64", "numpy.bool_",
    *(f"builtins.{name}" for name in ("dict", "list", "tuple", "str", "int", "float", "bool", "NoneType")),
})
"""Every type a head file may name, anywhere in it; skops trusts more (scikit-learn's classes), we do not."""
_ARRAYS = ("prototypes_", "prototype_goal_", "labelled_", "labelled_targets_")
_FLOAT32 = ("prototypes_", "labelled_", "labelled_targets_")  # float32 on disk: exact for what the matcher keeps
_NOT_SAVED = ("framework_", "encoder_")  # reattached on load: the framework file and the encoder
_MAX_MANIFEST_BYTES = 5_000_000


# ------------------------------------------------------------------ save


def save(
    matcher: Matcher,
    path: str | Path,
    *,
    command: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    sources: Iterable[Mapping[str, Any]] = (),
    overwrite: bool = False,
) -> Path:
    """Write ``matcher`` as a model folder at ``path`` and return the path.

    The folder is written beside ``path`` and renamed into place, so a reader never sees
    half a model. ``command`` is the command that built it; ``metrics`` any measured
    figures; ``sources`` the training data beyond the shipped corpora, each a mapping with
    at least ``name`` (and ``licence``, ``attribution`` where the licence asks for it).
    An existing ``path`` is replaced only with ``overwrite=True``.
    """
    dest = Path(path)
    if dest.exists() and not overwrite:
        raise ModelError(f"{dest}: already exists; choose another folder or overwrite it")
    for fid, fw in matcher.frameworks.items():
        if fw.path is None or not Path(fw.path).is_file():
            raise ModelError(f"framework {fid} was not loaded from a file; a model folder needs its YAML")
        if Framework.from_file(fw.path).content_hash != fw.content_hash:
            raise ModelError(f"{fw.path}: changed since framework {fid} was loaded for training")
    try:
        with publish_dir(dest, replace=True) as tmp:
            entries = _write_folder(tmp, matcher, command=command, metrics=metrics, sources=sources)
    except OSError as exc:  # disk full, file too large, no permission: nothing of the new model is left
        where = exc.filename or dest
        raise ModelError(f"{where}: cannot write the model folder {dest} ({exc.strerror or exc}); "
                         f"nothing was changed there") from None
    logger.info("Saved model with %d frameworks to %s", len(entries), dest)
    return dest


def _write_folder(tmp: Path, matcher: Matcher, *, command: str | None, metrics: Mapping[str, Any] | None,
                  sources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Write every file of the model folder into ``tmp``, the manifest last; return the head entries."""
    entries = [_save_head(tmp, fid, clf) for fid, clf in matcher.heads.items()]
    refs = matcher.references
    (tmp / "references.json").write_text(json.dumps({
        "ids": list(refs.ids), "titles": list(refs.titles),
        "labels": [{k: list(v) for k, v in labels.items()} for labels in refs.labels],
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    _save_array(tmp / "references.npy", refs.embeddings.astype(np.float32))
    encoder = matcher.encoder
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "goalmatch_version": _version(),
        "created": _created(),
        "command": command,
        "encoder": {
            "id": encoder.id, "checksum": encoder.checksum, "class": type(encoder).__name__,
            "params": {k: v for k, v in getattr(encoder, "get_params", dict)().items()
                       if isinstance(v, str | int | float | bool)},
        },
        "frameworks": entries,
        "training_data": matcher.info.get("training_data"),
        "sources": [dict(s) for s in sources],
        "metrics": dict(metrics) if metrics is not None else None,
        "references": {"file": "references.json", "embeddings": "references.npy", "count": len(refs.ids)},
    }
    (tmp / "README.md").write_text(_readme(manifest), encoding="utf-8")
    manifest["files"] = {
        rel: {"sha256": _sha256(tmp / rel), "size": (tmp / rel).stat().st_size} for rel in _listing(tmp)
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return entries


def _save_head(folder: Path, fid: str, clf: GoalClassifier) -> dict[str, Any]:
    import skops.io as sio

    fw: Framework = clf.framework_  # type: ignore[assignment]  # save() checked it
    (folder / "frameworks").mkdir(exist_ok=True)
    (folder / "heads").mkdir(exist_ok=True)
    shutil.copyfile(fw.path, folder / "frameworks" / f"{fid}.yaml")  # type: ignore[arg-type]
    head = copy.copy(clf)
    arrays = {name: head.__dict__.pop(name) for name in _ARRAYS}
    for name in _NOT_SAVED:
        head.__dict__.pop(name, None)
    head.set_params(framework=fid, encoder=None)
    (folder / "heads" / f"{fid}.skops").write_bytes(_canonical_skops(sio.dumps(head, compression=zipfile.ZIP_DEFLATED)))
    for name, value in arrays.items():
        value = np.asarray(value)
        _save_array(folder / "heads" / f"{fid}.{name.rstrip('_')}.npy",
                    value.astype(np.float32) if name in _FLOAT32 else value)
    return {
        "id": fid, "name": fw.name, "content_hash": fw.content_hash, "multi_label": fw.multi_label,
        "file": f"frameworks/{fid}.yaml", "head": f"heads/{fid}.skops",
        "classes": [str(c) for c in clf.classes_], "labelled": len(arrays["labelled_"]),
        "min_similarity": float(clf.min_similarity_) if np.isfinite(clf.min_similarity_) else None,
    }


def _save_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold; see _canonical_skops


def _canonical_skops(data: bytes) -> bytes:
    """A skops archive rewritten so the same head always gives the same bytes.

    skops names each object by ``id(obj)`` (its memory address) in ``schema.json``
    (``__id__``) and in the names of the ``.npy`` members, and stamps every member with
    the time of writing. Both are renumbered here, in the order the schema names them,
    and the time is fixed; object identity (two places naming one object) is kept.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        members = {name: archive.read(name) for name in archive.namelist() if name != "schema.json"}
    ids: dict[Any, int] = {}
    names: dict[str, str] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, list):
            return [renumber(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                value = ids.setdefault(value, len(ids) + 1)  # 0 would read as "no id" in skops
            elif key == "file" and isinstance(value, str) and value in members:
                value = names.setdefault(value, f"{len(names) + 1}{PurePosixPath(value).suffix}")
            else:
                value = renumber(value)
            out[key] = value
        return out

    schema = renumber(schema)
    if set(names) != set(members):
        raise ModelError(f"skops wrote members the schema does not name: {sorted(set(members) - set(names))}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for old, new in sorted(names.items(), key=lambda item: item[1]):
            archive.writestr(_zip_info(new), members[old])
        archive.writestr(_zip_info("schema.json"), json.dumps(schema, indent=2))
    return buffer.getvalue()


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, whatever system writes it
    info.external_attr = 0o644 << 16
    return info


def _created() -> str | None:
    """When the model was built, only if ``SOURCE_DATE_EPOCH`` says so (reproducible builds).

    The wall clock is left out by default: it is the one input of a model that is neither
    code, data nor the command, and it would make two trainings on the same data differ.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return None
    try:
        when = dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise ModelError(f"SOURCE_DATE_EPOCH: expected whole seconds since 1970, got {epoch!r}") from None
    return when.isoformat().replace("+00:00", "Z")


def _version() -> str:
    from goalmatch._version import __version__

    return __version__


# ------------------------------------------------------------------ load


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a model folder (parsed, checked for format; files not verified)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelError(f"{root}: no model folder there (train one with `goalmatch train`)")
    file = root / MANIFEST
    if file.is_symlink() or not file.is_file():
        raise ModelError(f"{file}: missing; not a goalmatch model folder")
    if file.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ModelError(f"{file}: over {_MAX_MANIFEST_BYTES} bytes; not a goalmatch manifest")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{file}: not a goalmatch model manifest (format {FORMAT!r} expected)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{file}: model format version {manifest.get('format_version')!r}; this goalmatch reads {FORMAT_VERSION}"
        )
    if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("frameworks"), list):
        raise ModelError(f"{file}: 'files' and 'frameworks' are missing or malformed")
    return manifest


def verify(path: str | Path) -> dict[str, Any]:
    """Check every file of a model folder against its manifest; return the manifest."""
    root = Path(path)
    manifest = read_manifest(root)
    listed: set[str] = set()
    for rel, meta in manifest["files"].items():
        file = _inside(root, rel)
        if not file.is_file():
            raise ModelError(f"{file}: listed in the manifest but missing")
        if not isinstance(meta, dict) or file.stat().st_size != meta.get("size") or _sha256(file) != meta.get("sha256"):
            raise ModelError(f"{file}: its sha256 or size differs from the manifest; the file was changed")
        listed.add(PurePosixPath(rel).as_posix())
    for rel in _listing(root, links=True):
        if rel != MANIFEST and rel not in listed:
            raise ModelError(f"{root / rel}: not listed in the manifest; a model folder holds only its own files")
    return manifest


def load(
    path: str | Path | None = None,
    *,
    encoder: Any = None,
    frameworks: Mapping[str, Framework] | str | Path | None = None,
) -> Matcher:
    """Load a model folder (the shipped ``models/default`` when ``path`` is None), after :func:`verify`.

    ``encoder`` overrides the one named in the manifest (its id and checksum must match).
    ``frameworks`` (a mapping or a folder of framework files) replaces the copies in the
    model; each must have the content hash the model was trained for.
    """
    if path is None:
        from goalmatch._paths import models_dir

        path = models_dir() / "default"
    root = Path(path)
    manifest = verify(root)
    try:
        return _load_verified(root, manifest, encoder, frameworks)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{root / MANIFEST}: malformed ({type(exc).__name__}: {exc})") from None


def _load_verified(
    root: Path, manifest: dict[str, Any], encoder: Any, frameworks: Mapping[str, Framework] | str | Path | None
) -> Matcher:
    from goalmatch.model.matcher import Matcher, References

    given = load_frameworks(frameworks) if isinstance(frameworks, str | Path) else frameworks
    encoder = _encoder(manifest, encoder)
    heads: dict[str, GoalClassifier] = {}
    for entry in manifest["frameworks"]:
        fid = entry["id"]
        file = _inside(root, entry["file"])
        try:
            fw = Framework.from_file(file)
        except FrameworkError as exc:
            raise ModelError(str(exc)) from None
        if given is not None:
            if fid not in given:
                raise ModelError(f"the model needs framework {fid}, which the given frameworks lack")
            fw = given[fid]
        if fw.id != fid or fw.content_hash != entry["content_hash"]:
            where = fw.path or file
            raise ModelError(
                f"{where}: model trained for framework {fid} version {entry['content_hash'][:12]}, "
                f"the files have {fw.id if fw.id != fid else ''}{fw.content_hash[:12]}; retrain the model"
            )
        heads[fid] = _load_head(root, entry, fw, encoder)
    refs_file = _inside(root, "references.json")
    try:
        refs = json.loads(refs_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{refs_file}: not valid JSON ({exc})") from None
    embeddings = _load_array(_inside(root, "references.npy"))
    references = References(
        ids=tuple(refs["ids"]), titles=tuple(refs["titles"]),
        labels=tuple({k: tuple(v) for k, v in labels.items()} for labels in refs["labels"]),
        embeddings=embeddings,
    )
    if len(references.ids) != len(embeddings):
        raise ModelError(f"{root / 'references.npy'}: {len(embeddings)} rows for {len(references.ids)} projects")
    return Matcher(heads, encoder, references, {**manifest, "path": str(root)})


def _load_head(root: Path, entry: Mapping[str, Any], fw: Framework, encoder: Any) -> GoalClassifier:
    import skops.io as sio

    from goalmatch.model.classifier import GoalClassifier

    file = _inside(root, entry["head"])
    named = _head_types(file)  # first: it refuses a file that is no skops archive, naming it
    untrusted = sio.get_untrusted_types(file=file)
    refused = sorted((set(untrusted) - set(TRUSTED_TYPES)) | (named - HEAD_TYPES))
    if refused:
        raise ModelError(f"{file}: holds type(s) outside the allowlist, refused: {', '.join(refused)}")
    try:
        head = sio.load(file, trusted=[t for t in untrusted if t in TRUSTED_TYPES])
    except Exception as exc:
        raise ModelError(f"{file}: cannot read the classifier head ({type(exc).__name__}: {exc})") from None
    if type(head) is not GoalClassifier:
        raise ModelError(f"{file}: expected a GoalClassifier, found {type(head).__name__}")
    missing = [name for name in GoalClassifier._get_param_names() if name not in vars(head)]
    if missing:  # saved by a goalmatch whose GoalClassifier had fewer parameters
        raise ModelError(f"{file}: the head lacks the parameter(s) {', '.join(missing)} of this goalmatch's "
                         f"GoalClassifier (the model was made by another version); retrain the model")
    for name in _ARRAYS:
        array = _load_array(_inside(root, f"heads/{entry['id']}.{name.rstrip('_')}.npy"))
        setattr(head, name, array.astype(np.float64) if name in _FLOAT32 else array)
    head.set_params(framework=fw, encoder=encoder)
    head.framework_ = fw
    head.encoder_ = encoder
    if [str(c) for c in head.classes_] != list(fw.goal_ids) or len(head.prototypes_) != len(head.prototype_goal_):
        raise ModelError(f"{file}: its classes or arrays do not fit framework {fw.id}")
    return head


def _head_types(file: Path) -> set[str]:
    """``module.class`` of every object a skops file's schema names."""
    try:
        with zipfile.ZipFile(file) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelError(f"{file}: not a skops file ({exc})") from None
    found: set[str] = set()
    todo: list[Any] = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def _load_array(file: Path) -> np.ndarray:
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, EOFError) as exc:  # EOFError: an empty or cut file
        raise ModelError(f"{file}: not a plain numeric array ({exc or 'no data'})") from None


def _encoder(manifest: Mapping[str, Any], encoder: Any) -> Any:
    spec = manifest.get("encoder") or {}
    if encoder is None:
        from goalmatch.embed.encoder import DEFAULT_MODEL, Encoder, FakeEncoder

        params = dict(spec.get("params") or {})
        fake = re.fullmatch(r"fake-(\d+)", str(spec.get("id")))
        if spec.get("id") == DEFAULT_MODEL:
            allowed = {"prefix", "batch_size", "batch_tokens", "max_tokens", "normalize"}
            encoder = Encoder(**{k: v for k, v in params.items() if k in allowed})
        elif fake and spec.get("class") == "FakeEncoder":
            encoder = FakeEncoder(dim=int(fake.group(1)), prefix=str(params.get("prefix", "")))
        else:
            raise ModelError(f"the model was built with encoder {spec.get('id')!r}; pass that encoder to load()")
    if encoder.id != spec.get("id") or encoder.checksum != spec.get("checksum"):
        raise ModelError(
            f"the model was built with encoder {spec.get('id')} (checksum {str(spec.get('checksum'))[:12]}), "
            f"not {encoder.id} (checksum {encoder.checksum[:12]}); its embeddings would not match"
        )
    return encoder


# ------------------------------------------------------------------ files


def _inside(root: Path, rel: Any) -> Path:
    """``root/rel``, refusing absolute paths, ``..``, odd names and symbolic links on the way."""
    plain = (
        isinstance(rel, str) and rel and "\\" not in rel and "\0" not in rel and rel != MANIFEST
        and not rel.startswith("/") and PurePosixPath(rel).as_posix() == rel and ".." not in PurePosixPath(rel).parts
    )
    if not plain:
        raise ModelError(f"{root / MANIFEST}: file path {rel!r} leaves the model folder or is not plain; refused")
    parts = PurePosixPath(rel).parts
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise ModelError(f"{path}: a symbolic link; a model folder holds plain files only")
    return path


def _listing(root: Path, *, links: bool = False) -> list[str]:
    """Relative paths of every file below ``root`` (sorted); symbolic links refused when ``links``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            mode = (base / name).lstat().st_mode
            if links and stat.S_ISLNK(mode):
                raise ModelError(f"{base / name}: a symbolic link; a model folder holds plain files only")
            if not stat.S_ISDIR(mode):
                out.append((base / name).relative_to(root).as_posix())
    return sorted(out)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _readme(manifest: Mapping[str, Any]) -> str:
    enc = manifest["encoder"]
    lines = [
        "# goalmatch model", "",
        f"Built{' ' + manifest['created'] if manifest.get('created') else ''} by goalmatch "
        f"{manifest['goalmatch_version']} with:", "",
        "```bash", str(manifest.get("command") or "(from Python: goalmatch.persistence.folder.save)"), "```", "",
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
                          "(`goalmatch.model.matcher._adapt_to_corpus`): " + ", ".join(
                              f"{k} {v:.3f}" for k, v in adjusted.items()) + "."]
    for source in manifest.get("sources") or []:
        lines += ["", f"## {source.get('name')}", ""]
        lines += [f"- {key}: {value}" for key, value in source.items() if key != "name"]
    if manifest.get("metrics"):
        lines += ["", "## Metrics", "", "```json", json.dumps(manifest["metrics"], indent=2, ensure_ascii=False), "```"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ training cache


class EmbeddingCache:
    """Wraps an encoder so each distinct text is encoded once; optionally remembered on disk.

    Used while training. The disk cache is one ``.npz`` per encoder (id, checksum and
    prefix in its name), keyed by the sha256 of each text, read with ``allow_pickle=False``.
    """

    def __init__(self, encoder: Any, cache_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.memo: dict[str, np.ndarray] = {}
        self.encoded = 0
        self.path: Path | None = None
        if cache_dir is not None:
            tag = hashlib.sha256(f"{getattr(encoder, 'prefix', '')}|{encoder.checksum}".encode()).hexdigest()[:16]
            self.path = Path(cache_dir) / f"embeddings-{encoder.id}-{tag}.npz"
            if self.path.is_file():
                with np.load(self.path, allow_pickle=False) as data:
                    self.memo = {key: data[key] for key in data.files}
                logger.info("Read %d cached embeddings from %s", len(self.memo), self.path)
        self._loaded = len(self.memo)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.memo}
        if missing:
            logger.info("Encoding %d texts", len(missing))
            vectors = np.asarray(self.encoder.encode(list(missing.values())), dtype=np.float32)
            self.memo.update(zip(missing, vectors, strict=True))
            self.encoded += len(missing)
        if not keys:
            return np.asarray(self.encoder.encode([]), dtype=np.float32)
        return np.stack([self.memo[k] for k in keys])

    def save(self) -> None:
        if self.path is None or len(self.memo) == self._loaded:
            return
        with replacing(self.path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, **self.memo)  # type: ignore[arg-type]
        logger.info("Cached %d embeddings in %s", len(self.memo), self.path)
