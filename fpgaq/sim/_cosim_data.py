"""The bus layout of an RTL project and the mantissa vectors that cross it.

The manifest ``fpgaq_rtl.json`` lists each graph input and output with its
shape, element width, signedness and bit offset on ``in_data``/``out_data``;
element ``i`` of a tensor sits at ``bus[offset + i*width +: width]`` as a
two's-complement (or unsigned) mantissa.  Buses cross to the bench as hex
strings, packed and unpacked here with NumPy bit matrices rather than one
Python shift per element.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.errors import FpgaqError
from fpgaq.fixed import FixedType

MANIFEST = "fpgaq_rtl.json"
_NARROW_BITS = 61  # mantissas up to this width go through int64


class CosimError(FpgaqError, RuntimeError):
    """The project could not be read, built or simulated; the message says why and holds the tool's log."""


# ----------------------------------------------------------------------------- manifest and bus layout
@dataclasses.dataclass(frozen=True)
class Port:
    """One tensor's place on a flattened bus: element ``i`` is ``bus[offset + i*width +: width]``."""

    tensor: str
    shape: tuple[int, ...]
    elements: int
    width: int
    signed: bool
    offset: int

    @property
    def bits(self) -> int:
        return self.elements * self.width

    @property
    def mantissa_type(self) -> FixedType:
        """The integer type of one element (the binary point plays no part on the bus)."""
        return FixedType(self.width, self.width, self.signed)

    @property
    def min_int(self) -> int:
        return self.mantissa_type.min_int

    @property
    def max_int(self) -> int:
        return self.mantissa_type.max_int


def load_manifest(project_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The project's ``fpgaq_rtl.json``, checked for the fields co-simulation relies on."""
    path = Path(project_dir) / MANIFEST
    if not path.is_file():
        raise CosimError(f"{project_dir} is not an fpgaq RTL project (no {MANIFEST}); write one with design.write_rtl")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CosimError(f"{path} is not valid JSON: {err}") from None
    missing = [k for k in ("top", "latency", "ii", "inputs", "outputs") if k not in manifest]
    if missing:
        raise CosimError(f"{path} lacks {', '.join(missing)}; regenerate the project with design.write_rtl")
    for kind in ("inputs", "outputs"):
        ports(manifest, kind)  # validates the layout
    return manifest


def ports(manifest: dict[str, Any], kind: str) -> list[Port]:
    """The manifest's ``inputs`` or ``outputs`` as Ports; a missing offset continues after the previous tensor."""
    found: list[Port] = []
    offset = 0
    for entry in manifest[kind]:
        try:
            shape = tuple(int(d) for d in entry["shape"])
            elements = int(entry.get("elements", int(np.prod(shape)) if shape else 1))
            width, signed, start = int(entry["width"]), bool(entry["signed"]), int(entry.get("offset", offset))
            port = Port(str(entry["tensor"]), shape, elements, width, signed, start)
        except (KeyError, TypeError, ValueError) as err:
            raise CosimError(f"{MANIFEST}: malformed {kind} entry {entry!r} ({err})") from None
        if port.width < 1 or port.elements != (int(np.prod(shape)) if shape else 1):
            raise CosimError(
                f"{MANIFEST}: {kind} entry {port.tensor!r} has width {port.width} or elements {port.elements} "
                f"inconsistent with shape {list(shape)}"
            )
        found.append(port)
        offset = port.offset + port.bits
    if not found:
        raise CosimError(f"{MANIFEST}: no {kind}; regenerate the project with design.write_rtl")
    spans = sorted((p.offset, p.offset + p.bits, p.tensor) for p in found)
    for (_, end, first), (start, _, second) in itertools.pairwise(spans):
        if start < end:
            raise CosimError(f"{MANIFEST}: {kind} {first!r} and {second!r} overlap on the bus (bit {start})")
    return found


def bus_bits(ports: list[Port]) -> int:
    return max(p.offset + p.bits for p in ports)


# ----------------------------------------------------------------------------- packing mantissas into buses
def as_matrix(values: Any, port: Port, n: int | None, what: str) -> np.ndarray:
    """``values`` as an (N, elements) integer matrix, checked against the port's shape."""
    a = np.asarray(values)
    if a.dtype.kind == "U":
        a = np.vectorize(int, otypes=[object])(a)
    elif a.dtype.kind == "f":  # the reference keeps some mantissas in float64, exact below 2**53
        if not (np.all(np.isfinite(a)) and np.all(a == np.rint(a)) and np.all(np.abs(a) < 2.0**53)):
            raise CosimError(f"{what} {port.tensor!r}: mantissas must be integers, got non-integral {a.dtype} values")
        a = a.astype(np.int64)
    if a.dtype.kind not in "iuO":
        raise CosimError(f"{what} {port.tensor!r}: mantissas must be integers, got dtype {a.dtype}")
    if a.ndim == 0 or int(np.prod(a.shape[1:])) != port.elements:
        raise CosimError(
            f"{what} {port.tensor!r}: expected shape (N, {', '.join(map(str, port.shape))}), got {a.shape}"
        )
    if n is not None and len(a) != n:
        raise CosimError(f"{what} {port.tensor!r} has {len(a)} samples, the other tensors {n}")
    return a.reshape(len(a), port.elements)


def _to_bits(block: np.ndarray, width: int) -> np.ndarray:
    """Two's-complement bits, lsb first: (m, E) integers -> (m, E*width) uint8."""
    m, e = block.shape
    if width <= _NARROW_BITS and block.dtype != object:
        u = block.astype(np.int64) & ((1 << width) - 1)
        bits = (u[:, :, None] >> np.arange(width, dtype=np.int64)) & 1
        return bits.astype(np.uint8).reshape(m, e * width)
    mask, nbytes = (1 << width) - 1, (width + 7) // 8
    raw = b"".join((int(v) & mask).to_bytes(nbytes, "little") for v in block.ravel())
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(m * e, nbytes), axis=1, bitorder="little")
    return bits[:, :width].reshape(m, e * width)


def _from_bits(bits: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """(m, E*width) bits, lsb first -> (m, E) mantissas (int64, or Python ints when wide)."""
    m = bits.shape[0]
    b = bits.reshape(m, -1, width)
    if width <= _NARROW_BITS:
        values = b.astype(np.int64) @ (np.int64(1) << np.arange(width, dtype=np.int64))
        if signed:
            values -= b[:, :, width - 1].astype(np.int64) << width
        return values
    packed = np.packbits(b.reshape(-1, width), axis=1, bitorder="little")
    out = np.array([int.from_bytes(row.tobytes(), "little") for row in packed], dtype=object)
    if signed:
        out = np.where(out >= (1 << (width - 1)), out - (1 << width), out)
    return out.reshape(m, -1)


def check_ranges(mantissas: Sequence[np.ndarray], ports: list[Port]) -> None:
    """Every input mantissa fits its port's width (a CosimError naming the first that does not)."""
    for a, p in zip(mantissas, ports):
        if a.size and (a.min() < p.min_int or a.max() > p.max_int):
            bad = np.argwhere((a < p.min_int) | (a > p.max_int))[0]
            raise CosimError(
                f"input {p.tensor!r}: mantissa {a[tuple(bad)]} of sample {bad[0]} element {bad[1]} does not fit "
                f"{p.width} {'signed' if p.signed else 'unsigned'} bits [{p.min_int}, {p.max_int}]"
            )


def pack_bytes(mantissas: Sequence[np.ndarray], ports: list[Port], nbytes: int | None = None) -> np.ndarray:
    """Each sample's bus as little-endian bytes: an (N, nbytes) uint8 matrix (bit 0 of the bus first).

    ``nbytes`` pads each row (a harness reading whole 32-bit words wants a multiple of 4).
    """
    width = max(nbytes or 0, (bus_bits(ports) + 7) // 8)
    if _word_packable(mantissas, ports):
        words = pack_bus_words(mantissas, ports, (width + 3) // 4)
        return np.ascontiguousarray(words.view(np.uint8)[:, :width])
    n = len(mantissas[0])
    total = bus_bits(ports)
    bits = np.zeros((n, total), dtype=np.uint8)
    for a, p in zip(mantissas, ports):
        bits[:, p.offset : p.offset + p.bits] = _to_bits(a, p.width)
    packed = np.packbits(bits, axis=1, bitorder="little")
    if packed.shape[1] < width:
        packed = np.concatenate([packed, np.zeros((n, width - packed.shape[1]), dtype=np.uint8)], axis=1)
    return packed


def unpack_bytes(raw: np.ndarray, ports: list[Port]) -> list[np.ndarray]:
    """(N, nbytes) little-endian bus bytes -> one (N, elements) mantissa array per tensor."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if all(p.width <= _WORD_BITS for p in ports):
        pad = (-raw.shape[1]) % 4
        if pad:
            raw = np.concatenate([raw, np.zeros((len(raw), pad), dtype=np.uint8)], axis=1)
        return unpack_bus_words(raw.view("<u4"), ports)
    bits = np.unpackbits(raw, axis=1, bitorder="little")
    return [_from_bits(bits[:, p.offset : p.offset + p.bits], p.width, p.signed) for p in ports]


#: Elements up to this width are packed a whole column at a time (an element then spans at most two
#: 32-bit words, and its value shifted into place fits 64 bits); wider ones go bit by bit.
_WORD_BITS = 32


def _word_packable(mantissas: Sequence[np.ndarray], ports: list[Port]) -> bool:
    return all(p.width <= _WORD_BITS and np.asarray(a).dtype != object for a, p in zip(mantissas, ports))


def _element_words(p: Port) -> tuple[np.ndarray, np.ndarray]:
    """Each element's first 32-bit word on the bus and its bit position in that word."""
    start = p.offset + np.arange(p.elements, dtype=np.int64) * p.width
    return start // 32, (start % 32).astype(np.uint64)


def pack_bus_words(mantissas: Sequence[np.ndarray], ports: list[Port], words: int) -> np.ndarray:
    """Each sample's bus as an (N, words) matrix of little-endian 32-bit words (bit 0 of the bus first).

    Column-wise: every element's value is shifted into its place as a 64-bit integer whose low
    half lands in its first word and high half in the next; elements that start in the same word
    are OR-ed together first (``bitwise_or.reduceat``), so the work is a few passes over the data.
    """
    if not _word_packable(mantissas, ports):
        return pack_bytes(mantissas, ports, 4 * words).view("<u4")
    n = len(mantissas[0])
    out = np.zeros((n, words + 1), dtype=np.uint64)  # a spare word for the last element's high half
    for a, p in zip(mantissas, ports):
        if p.elements == 0:
            continue
        first, shift = _element_words(p)
        v = (np.asarray(a, dtype=np.int64).reshape(n, p.elements) & ((1 << p.width) - 1)).astype(np.uint64)
        placed = v << shift
        groups = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
        cols = first[groups]
        out[:, cols] |= np.bitwise_or.reduceat(placed & np.uint64(0xFFFFFFFF), groups, axis=1)
        out[:, cols + 1] |= np.bitwise_or.reduceat(placed >> np.uint64(32), groups, axis=1)
    return out[:, :words].astype("<u4")


def unpack_bus_words(words: np.ndarray, ports: list[Port]) -> list[np.ndarray]:
    """(N, words) little-endian 32-bit bus words -> one (N, elements) mantissa array per tensor."""
    if not all(p.width <= _WORD_BITS for p in ports):
        return unpack_bytes(np.ascontiguousarray(words, dtype="<u4").view(np.uint8), ports)
    n = len(words)
    w = np.zeros((n, words.shape[1] + 1), dtype=np.uint64)
    w[:, :-1] = words
    out = []
    for p in ports:
        first, shift = _element_words(p)
        v = ((w[:, first] | (w[:, first + 1] << np.uint64(32))) >> shift) & np.uint64((1 << p.width) - 1)
        v = v.astype(np.int64)
        if p.signed:
            v -= (v >> (p.width - 1)) << p.width
        out.append(v)
    return out


def pack_words(mantissas: Sequence[np.ndarray], ports: list[Port], chunk: int = 4096) -> list[str]:
    """Each sample's bus as a hex string (most significant digit first), range-checked per tensor."""
    check_ranges(mantissas, ports)
    words: list[str] = []
    for start in range(0, len(mantissas[0]), chunk):
        packed = pack_bytes([a[start : start + chunk] for a in mantissas], ports)
        words.extend(row[::-1].tobytes().hex() for row in packed)
    return words


def unpack_words(words: Sequence[str], ports: list[Port]) -> list[np.ndarray]:
    """Hex bus words -> one (len(words), elements) mantissa array per tensor; '' (X/Z) reads as 0."""
    total = bus_bits(ports)
    nbytes = (total + 7) // 8
    try:
        raw = b"".join(int(w or "0", 16).to_bytes(nbytes, "little") for w in words)
    except OverflowError:
        raise CosimError(f"out_data carries more than the {total} bits the manifest's outputs describe") from None
    return unpack_bytes(np.frombuffer(raw, dtype=np.uint8).reshape(len(words), nbytes), ports)


# ----------------------------------------------------------------------------- data files for the CLI
def _default_data_names(kind: str, count: int) -> list[str]:
    stem = "inputs_int" if kind == "inputs" else "expected_int"
    return [f"data/{stem}.npy"] if count == 1 else [f"data/{stem}_{k}.npy" for k in range(count)]


def _save_int_array(path: Path, values: np.ndarray) -> None:
    a = np.asarray(values)
    if a.dtype == object:
        wide = any(int(v).bit_length() > 63 for v in a.ravel())
        a = a.astype(str) if wide else a.astype(np.int64)
    elif a.dtype.kind in "iu":
        a = a.astype(np.int64)
    else:
        raise CosimError(f"{path.name}: mantissas must be integers, got dtype {a.dtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, a, allow_pickle=False)


def _load_int_array(path: Path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise CosimError(f"cannot read {path}: {err}") from None
    return np.vectorize(int, otypes=[object])(a) if a.dtype.kind == "U" else a


def write_vectors(
    project_dir: str | os.PathLike[str], inputs: Sequence[np.ndarray], expected: Sequence[np.ndarray]
) -> dict[str, Any]:
    """Write the CLI's data files into ``project_dir`` and return the manifest's ``"data"`` entry."""
    root = Path(project_dir)
    entry: dict[str, Any] = {"samples": len(inputs[0]) if len(inputs) else 0}
    for kind, arrays in (("inputs", inputs), ("expected", expected)):
        names = _default_data_names(kind, len(arrays))
        for name, a in zip(names, arrays):
            _save_int_array(root / name, a)
        entry[kind] = names
    return entry


def read_vectors(project_dir: str | os.PathLike[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The input and expected output mantissas that a project carries for ``fpgaq cosim``."""
    root = Path(project_dir)
    manifest = load_manifest(root)
    data = manifest.get("data") or {}
    files = {}
    for kind, port_kind in (("inputs", "inputs"), ("expected", "outputs")):
        names = list(data.get(kind) or _default_data_names(kind, len(manifest[port_kind])))
        if len(names) != len(manifest[port_kind]):
            raise CosimError(
                f"{MANIFEST} of {root}: 'data' lists {len(names)} {kind} files for {len(manifest[port_kind])} "
                f"tensors; regenerate the project with design.write_rtl"
            )
        files[kind] = names
    missing = [n for names in files.values() for n in names if not (root / n).is_file()]
    if missing:
        raise CosimError(
            f"{root} has no test vectors ({', '.join(missing)}): regenerate it with design.write_rtl, "
            f"or call fpgaq.sim.cosim.cosimulate with your own vectors"
        )
    arrays = [[_load_int_array(root / n) for n in names] for names in files.values()]
    return arrays[0], arrays[1]
