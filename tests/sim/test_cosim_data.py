"""Bus packing, manifest reading and the CLI's data files: pure Python, no simulator."""

import json
import re
import shutil

import numpy as np
import pytest

from fpgaq.sim._cosim_data import (
    CosimError,
    Port,
    load_manifest,
    pack_bus_words,
    pack_words,
    ports,
    read_vectors,
    unpack_bus_words,
    unpack_words,
    write_vectors,
)


def _bus(mantissas, ports):
    """The bus as one Python int, built element by element from the contract's bit order."""
    word = 0
    for values, p in zip(mantissas, ports):
        for i, m in enumerate(values):
            word |= (int(m) % (1 << p.width)) << (p.offset + i * p.width)
    return word


def test_bit_order_of_two_concatenated_tensors():
    # a = [-1, 2] as signed 4-bit at bits 0..7, b = [5] as unsigned 3-bit at bits 8..10
    ports = [Port("a", (2,), 2, 4, True, 0), Port("b", (1,), 1, 3, False, 8)]
    words = pack_words([np.array([[-1, 2]]), np.array([[5]])], ports)
    assert int(words[0], 16) == 0b101_0010_1111
    a, b = unpack_words(words, ports)
    assert a.tolist() == [[-1, 2]] and b.tolist() == [[5]]


@pytest.mark.parametrize("width", [1, 2, 8, 16, 61, 62, 64, 100])
@pytest.mark.parametrize("signed", [True, False])
def test_round_trip_at_the_range_ends(width, signed):
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    values = [lo, hi, lo + 1 if hi > lo else lo, 0, hi // 3]
    dtype = object if width > 61 else np.int64
    m = np.array([values, values[::-1]], dtype=dtype)
    ports = [Port("t", (5,), 5, width, signed, 3)]  # offset 3: element boundaries straddle bytes
    words = pack_words([m], ports)
    assert [int(w, 16) for w in words] == [_bus([row], ports) for row in m]
    (back,) = unpack_words(words, ports)
    assert [[int(v) for v in row] for row in back] == [values, values[::-1]]


@pytest.mark.parametrize("seed", range(12))
def test_column_wise_word_packing_equals_the_bus_built_bit_by_bit(seed):
    """The bulk model's fast path (elements up to 32 bits, several tensors, any offsets) against
    the bus assembled element by element from the contract; wider elements take the bit path."""
    rng = np.random.default_rng(seed)
    layout, offset = [], int(rng.integers(0, 5))
    for k in range(int(rng.integers(1, 4))):
        width = int(rng.integers(1, 33)) if seed < 10 else int(rng.integers(30, 70))
        elements = int(rng.integers(0 if k else 1, 40))
        layout.append(Port(f"t{k}", (elements,), elements, width, bool(rng.random() < 0.6), offset))
        offset += elements * width + int(rng.integers(0, 3))
    n = 7
    mants = []
    for p in layout:
        if p.width > 61:
            mants.append(
                np.array(
                    [[rng.integers(0, 1 << 30) * (1 << (p.width - 31)) for _ in range(p.elements)] for _ in range(n)],
                    dtype=object,
                ).reshape(n, p.elements)
            )
        else:
            m = rng.integers(p.min_int, p.max_int, size=(n, p.elements), endpoint=True)
            m[0], m[1] = p.min_int, p.max_int  # both ends of every element's range
            mants.append(m)
    words = -(-max(p.offset + p.bits for p in layout) // 32) + 1
    got = pack_bus_words(mants, layout, words)
    assert got.shape == (n, words)
    for r in range(n):
        bus = _bus([m[r] for m in mants], layout)
        assert int.from_bytes(got[r].astype("<u4").tobytes(), "little") == bus, (seed, r)
    back = unpack_bus_words(got, layout)
    for b, m in zip(back, mants):
        assert [[int(v) for v in row] for row in b] == [[int(v) for v in row] for row in m]


def test_unpack_reads_the_msb_as_sign_only_when_signed():
    ports_s = [Port("t", (1,), 1, 5, True, 0)]
    ports_u = [Port("t", (1,), 1, 5, False, 0)]
    assert unpack_words(["11"], ports_s)[0].tolist() == [[-15]]  # 0b10001
    assert unpack_words(["11"], ports_u)[0].tolist() == [[17]]


def test_mantissa_out_of_range_names_tensor_sample_and_element():
    ports = [Port("x", (3,), 3, 4, True, 0)]
    with pytest.raises(CosimError, match=r"input 'x': mantissa 8 of sample 1 element 2 does not fit 4 signed bits"):
        pack_words([np.array([[0, 0, 0], [1, 2, 8]])], ports)
    with pytest.raises(CosimError, match=r"mantissa -1 of sample 0 element 0 does not fit 4 unsigned bits"):
        pack_words([np.array([[-1, 0, 0]])], [Port("x", (3,), 3, 4, False, 0)])


def test_output_wider_than_the_manifest_is_an_error():
    with pytest.raises(CosimError, match="more than the 4 bits"):
        unpack_words(["1ff"], [Port("y", (1,), 1, 4, True, 0)])


def test_many_samples_pack_in_chunks():
    rng = np.random.default_rng(0)
    ports = [Port("x", (3,), 3, 7, True, 0), Port("z", (2,), 2, 9, False, 21)]
    a, b = rng.integers(-64, 64, size=(50, 3)), rng.integers(0, 512, size=(50, 2))
    words = pack_words([a, b], ports, chunk=7)
    assert [int(w, 16) for w in words] == [_bus([ra, rb], ports) for ra, rb in zip(a, b)]


MANIFEST = {
    "top": "t",
    "latency": 2,
    "ii": 1,
    "files": ["rtl/t.v"],
    "inputs": [
        {"tensor": "a", "shape": [2, 3], "elements": 6, "width": 5, "signed": True},
        {"tensor": "b", "shape": [4], "elements": 4, "width": 2, "signed": False},
    ],
    "outputs": [{"tensor": "y", "shape": [1], "elements": 1, "width": 9, "signed": True, "offset": 0}],
}


def test_offsets_default_to_concatenation_in_order(tmp_path):
    (tmp_path / "fpgaq_rtl.json").write_text(json.dumps(MANIFEST))
    manifest = load_manifest(tmp_path)
    a, b = ports(manifest, "inputs")
    assert (a.offset, a.bits, b.offset, b.bits) == (0, 30, 30, 8)
    assert a.shape == (2, 3)


def test_manifest_errors(tmp_path):
    message = "is not an fpgaq RTL project (no fpgaq_rtl.json); write one with design.write_rtl"
    with pytest.raises(CosimError, match=re.escape(message)):
        load_manifest(tmp_path)
    (tmp_path / "fpgaq_rtl.json").write_text(json.dumps({"top": "t", "inputs": [], "outputs": []}))
    with pytest.raises(CosimError, match="lacks latency, ii"):
        load_manifest(tmp_path)
    bad = dict(MANIFEST, outputs=[{"tensor": "y", "shape": [2], "elements": 3, "width": 9, "signed": True}])
    (tmp_path / "fpgaq_rtl.json").write_text(json.dumps(bad))
    with pytest.raises(CosimError, match="'y' has width 9 or elements 3 inconsistent with shape"):
        load_manifest(tmp_path)


def test_vectors_round_trip_through_the_data_files(tmp_path):
    a = np.arange(12).reshape(2, 2, 3) - 6
    b = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    y = np.array([[(1 << 80) + 1], [-(1 << 70)]], dtype=object)  # wider than int64: stored as text
    data = write_vectors(tmp_path, [a, b], [y])
    assert data == {
        "samples": 2,
        "inputs": ["data/inputs_int_0.npy", "data/inputs_int_1.npy"],
        "expected": ["data/expected_int.npy"],
    }
    assert np.load(tmp_path / "data/expected_int.npy", allow_pickle=False).dtype.kind == "U"
    (tmp_path / "fpgaq_rtl.json").write_text(json.dumps(dict(MANIFEST, data=data)))
    (xa, xb), (ey,) = read_vectors(tmp_path)
    assert xa.tolist() == a.tolist() and xb.tolist() == b.tolist()
    assert [int(v) for v in ey.ravel()] == [(1 << 80) + 1, -(1 << 70)]


def test_default_data_names_without_a_data_entry(tmp_path):
    (tmp_path / "fpgaq_rtl.json").write_text(json.dumps(MANIFEST))
    missing = "no test vectors (data/inputs_int_0.npy, data/inputs_int_1.npy, data/expected_int.npy)"
    with pytest.raises(CosimError, match=re.escape(missing)):
        read_vectors(tmp_path)
    write_vectors(tmp_path, [np.zeros((1, 2, 3), int), np.zeros((1, 4), int)], [np.zeros((1, 1), int)])
    xs, ys = read_vectors(tmp_path)
    assert [x.shape for x in xs] == [(1, 2, 3), (1, 4)] and ys[0].shape == (1, 1)
    shutil.rmtree(tmp_path / "data")
    with pytest.raises(CosimError, match=re.escape("regenerate it with design.write_rtl")):
        read_vectors(tmp_path)


def test_overlapping_tensors_on_a_bus_are_rejected(tmp_path):
    y = {"tensor": "y", "shape": [2], "width": 4, "signed": True, "offset": 0}
    z = {"tensor": "z", "shape": [1], "width": 4, "signed": True, "offset": 7}
    clash = dict(MANIFEST, outputs=[y, z])
    (tmp_path / "fpgaq_rtl.json").write_text(json.dumps(clash))
    with pytest.raises(CosimError, match=re.escape("outputs 'y' and 'z' overlap on the bus (bit 7)")):
        load_manifest(tmp_path)
