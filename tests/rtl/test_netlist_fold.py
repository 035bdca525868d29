"""The folding primitives of the netlist: hold, phase, accum, as the simulator evaluates them."""

from __future__ import annotations

import numpy as np
import pytest

from fpgaq.fixed import FixedType
from fpgaq.rtl.netlist import KINDS, Netlist, simulate

T8 = FixedType(8, 8, True)


def test_fold_kinds_are_listed() -> None:
    assert {"hold", "phase", "accum"} <= set(KINDS)


def test_accum_adds_the_value_of_each_phase() -> None:
    """Phase p selects x_p: the accumulated sum is x0 + x1 + x2 whatever the inputs."""
    net = Netlist()
    xs = net.add_input("x", T8, 3)
    g = net.fold_group(3)
    held = [net.hold(x, g) for x in xs]
    sel = held[0]
    for p in (1, 2):
        sel = net.mux(net.phase(g, p), held[p], sel)
    acc = net.accum(sel, g, -384, 381, -384, 381)
    net.add_output("y", [acc], FixedType(10, 10, True))
    x = np.array([[1, 2, 3], [-128, -128, -128], [127, 0, -5]])
    assert simulate(net, [x])[0][:, 0].tolist() == [6, -384, 122]
    assert net.fold_groups == {0: 3}


def test_products_with_phase_selected_weights() -> None:
    """sum_p x * w_p with weights (3, -2, 5): x * 6."""
    net = Netlist()
    (x,) = net.add_input("x", T8, 1)
    g = net.fold_group(3)
    h = net.hold(x, g)
    w = net.const(3)
    for p, c in ((1, -2), (2, 5)):
        w = net.mux(net.phase(g, p), net.const(c), w)
    acc = net.accum(net.mul(h, w), g, -768, 762, -640, 635)
    net.add_output("y", [acc], FixedType(12, 12, True))
    assert simulate(net, [np.array([[7], [-128], [127]])])[0][:, 0].tolist() == [42, -768, 762]


def test_accum_of_a_phase_invariant_value_counts_every_phase() -> None:
    net = Netlist()
    (x,) = net.add_input("x", T8, 1)
    g = net.fold_group(4)
    acc = net.accum(net.hold(x, g), g, -512, 508, -512, 508)
    net.add_output("y", [acc], FixedType(11, 11, True))
    assert simulate(net, [np.array([[5], [-128]])])[0][:, 0].tolist() == [20, -512]
    assert net.accum(net.const(3), g, 12, 12, 0, 12).lo == 12  # a constant folds to R * c


def test_holds_and_phases_of_one_fold() -> None:
    net = Netlist()
    (x,) = net.add_input("x", T8, 1)
    g = net.fold_group(2)
    assert net.hold(net.const(5), g).lo == 5  # constants need no register
    h = net.hold(x, g)
    assert (h.lo, h.hi, h.frac) == (x.lo, x.hi, x.frac)
    assert net.producer(h).param == (g, None)
    assert net.phase(g, 1) is net.phase(g, 1)  # shared
    single = net.fold_group(1)
    assert net.phase(single, 0).is_const  # one phase: always on


def test_a_phase_dependent_output_is_an_error() -> None:
    net = Netlist()
    (x,) = net.add_input("x", T8, 1)
    g = net.fold_group(2)
    net.add_output("y", [net.mux(net.phase(g, 1), net.hold(x, g), net.const(0))], T8)
    with pytest.raises(ValueError, match="fold phase without an accum"):
        simulate(net, [np.array([[1]])])
