"""Lowering of add, concatenate, reshape, identity and zero padding."""

from __future__ import annotations

import numpy as np
import pytest
from _lower_testing import MODES, assert_exact, kinds, lower, one_node, random_codes

from fpgaq.config import load_config
from fpgaq.design import Design
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor
from fpgaq.ir.precision import infer_precision
from fpgaq.rtl.netlist import simulate


def _multi(op: str, attrs: dict, ins: list[tuple[tuple[int, ...], FixedType]], out_shape, tout=None) -> Design:
    names = [f"x{i}" for i in range(len(ins))]
    nodes = [Node(n, "input", [], n) for n in names] + [Node("f", op, names, "f", attrs, source="f")]
    tensors = {n: Tensor(n, shape, t) for n, (shape, t) in zip(names, ins)}
    tensors["f"] = Tensor("f", out_shape, tout)
    return Design(infer_precision(Graph("g", nodes, tensors, names, ["f"])), load_config(None))


def _all_pairs(a: FixedType, b: FixedType) -> list[np.ndarray]:
    ma, mb = np.meshgrid(np.arange(a.min_int, a.max_int + 1), np.arange(b.min_int, b.max_int + 1))
    return [a.from_int(ma.reshape(-1, 1)), b.from_int(mb.reshape(-1, 1))]


def test_add_every_pair_every_mode() -> None:
    a, b = FixedType(5, 3, True), FixedType(6, 2, False)  # 2 and 4 fractional bits: aligned by a shift
    x = _all_pairs(a, b)
    assert_exact(_multi("add", {}, [((1,), a), ((1,), b)], (1,)), x)  # the exact type
    for rounding, overflow in MODES:
        tout = FixedType(4, 2, True, rounding, overflow)
        assert_exact(_multi("add", {}, [((1,), a), ((1,), b)], (1,), tout), x)


def test_add_of_three_is_one_adder_tree_and_one_cast() -> None:
    ts = [FixedType(6, 3, True), FixedType(5, 1, False), FixedType(7, 4, True)]
    tout = FixedType(6, 3, True, "RND_CONV", "SAT")
    design = _multi("add", {}, [((2, 2), t) for t in ts], (2, 2), tout)
    x = [random_codes(t, (2, 2), 500, seed=i) for i, t in enumerate(ts)]
    net = assert_exact(design, x)
    assert kinds(net)["add"] == 4 * (2 + 1)  # two adders per element, and one for the rounding bias


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_concatenate_order_by_hand(axis: int) -> None:
    a, b = FixedType(6, 6, True), FixedType(7, 7, False)  # integers: values are the mantissas
    shape_b = [2, 2, 1]
    shape_b[axis] = 3
    out_shape = [2, 2, 1]
    out_shape[axis] = 2 + 3 if axis < 2 else 1 + 3
    design = _multi("concatenate", {"axis": axis}, [((2, 2, 1), a), (tuple(shape_b), b)], tuple(out_shape))
    va = np.arange(4).reshape(1, 2, 2, 1)
    vb = (100 + np.arange(int(np.prod(shape_b)))).reshape(1, *shape_b)
    net = assert_exact(design, [va.astype(float), vb.astype(float)])
    got = simulate(net, [va.reshape(1, -1), vb.reshape(1, -1)])[0][0]
    want = np.concatenate([va[0], vb[0]], axis=axis).reshape(-1)
    assert got.tolist() == want.tolist()
    assert kinds(net) == {}  # wiring only: both inputs fit the output type


def test_concatenate_casts_each_input_into_the_output_type() -> None:
    a, b = FixedType(8, 3, True), FixedType(6, 5, False)
    for rounding, overflow in MODES[::2]:
        tout = FixedType(5, 3, True, rounding, overflow)
        design = _multi("concatenate", {"axis": 0}, [((3,), a), ((2,), b)], (5,), tout)
        assert_exact(design, [random_codes(a, (3,), 300), random_codes(b, (2,), 300, seed=1)])


@pytest.mark.parametrize("op", ["reshape", "identity"])
def test_reshape_and_identity_cast_in_every_mode(op: str) -> None:
    tin = FixedType(8, 3, True)
    attrs = {"shape": (3, 2)} if op == "reshape" else {}
    out_shape = (3, 2) if op == "reshape" else (6,)
    x = random_codes(tin, (6,), 400)
    wiring = lower(one_node(op, attrs, tin, (6,), None, out_shape))
    assert kinds(wiring) == {}
    for rounding, overflow in MODES:
        assert_exact(one_node(op, attrs, tin, (6,), FixedType(5, 2, True, rounding, overflow), out_shape), x)


@pytest.mark.parametrize(
    ("op", "shape", "padding", "out_shape"),
    [
        ("zeropad1d", (4, 2), [(2, 1)], (7, 2)),
        ("zeropad2d", (2, 3, 1), [(1, 0), (0, 2)], (3, 5, 1)),
    ],
)
def test_zero_padding_cells_are_constant_zeros(op, shape, padding, out_shape) -> None:
    tin = FixedType(6, 3, True)
    tout = FixedType(4, 2, True, "RND", "SAT")
    design = one_node(op, {"padding": padding}, tin, shape, tout, out_shape)
    net = assert_exact(design, random_codes(tin, shape, 300))
    inside = np.zeros(out_shape, dtype=bool)
    inside[tuple(slice(b, b + n) for (b, _), n in zip(padding, shape[:-1]))] = True
    sigs = net.outputs[0][1]
    assert [s.is_const and s.lo == 0 for s in sigs] == (~inside).reshape(-1).tolist()
