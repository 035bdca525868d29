"""Every declared op has a reference kernel, an HLS builder, an RTL lowering and a cost term,
and every op those tables name is declared (fpgaq.ir.opspec).

A failure names the op and what it lacks, so that adding an op is one
declaration plus the implementations this test asks for.  Trace handlers
(``fpgaq.ir.trace.HANDLERS``) are keyed by Keras class, not by op, and
precision rules are optional (ops without one get ``precision.exact_output``),
so only their keys are checked to be declared ops.
"""

from __future__ import annotations

import pytest

import fpgaq.ir.ops  # noqa: F401  (registers the op modules' kernels and rules)
from fpgaq.converters._hls_nodes import BUILDERS
from fpgaq.ir.graph import OPS, Node
from fpgaq.ir.opspec import COSTS, OP_SPECS, OpSpec, is_linear, op_spec, ops_where
from fpgaq.ir.precision import PRECISION_RULES
from fpgaq.reference import KERNELS
from fpgaq.rtl.lower.registry import LOWERINGS, load_families

load_families()  # every RTL lowering family registers its ops

DECLARED = sorted(OP_SPECS)


def _computed(op: str) -> bool:
    return OP_SPECS[op].computed


#: What every computed op must have: (what it is, where it is registered, the table).
IMPLEMENTATIONS = [
    ("reference kernel", "fpgaq.reference.KERNELS", KERNELS),
    ("HLS builder", "fpgaq.converters._hls_nodes.BUILDERS", BUILDERS),
    ("RTL lowering", "fpgaq.rtl.lower.registry.LOWERINGS", LOWERINGS),
]


@pytest.mark.parametrize(("what", "table", "keys"), IMPLEMENTATIONS, ids=[i[0] for i in IMPLEMENTATIONS])
@pytest.mark.parametrize("op", DECLARED)
def test_declared_op_has_its_implementations(op: str, what: str, table: str, keys: dict) -> None:
    if _computed(op):
        assert op in keys, f"op {op!r} is declared but has no {what} ({table})"
    else:
        assert op not in keys, f"op {op!r} is declared computed=False but has a {what} in {table}"


@pytest.mark.parametrize("op", DECLARED)
def test_declared_op_has_a_cost_term(op: str) -> None:
    """The resource model prices linear ops by their dot products (fpgaq.rtl.features' core, the HLS
    model's multiplier count) and every other computed op by the netlist its RTL lowering builds."""
    spec = op_spec(op)
    assert spec.cost in COSTS, f"op {op!r} declares cost {spec.cost!r}; choose one of {', '.join(COSTS)}"
    if spec.cost == "dot_products":
        assert spec.linear, f"op {op!r} is priced by its dot products but is not declared linear"
        assert spec.has_weights, f"op {op!r} is priced by its dot products but has no kernel"
    elif spec.cost == "netlist":
        assert not spec.linear, f"op {op!r} is linear: declare cost='dot_products'"
        assert op in LOWERINGS, f"op {op!r} is priced by its RTL netlist but has no RTL lowering"
    else:
        assert not spec.computed, f"op {op!r} is computed, so it costs something: declare its cost term"


@pytest.mark.parametrize(
    ("table", "keys"),
    [(table, keys) for _, table, keys in IMPLEMENTATIONS] + [("fpgaq.ir.precision.PRECISION_RULES", PRECISION_RULES)],
)
def test_every_op_a_table_names_is_declared(table: str, keys: dict) -> None:
    undeclared = sorted(set(keys) - set(OP_SPECS))
    assert not undeclared, f"{table} names ops that fpgaq.ir.opspec does not declare: {', '.join(undeclared)}"


def test_the_graph_knows_exactly_the_declared_ops() -> None:
    assert {name: spec.doc for name, spec in OP_SPECS.items()} == OPS


@pytest.mark.parametrize("spec", OP_SPECS.values(), ids=DECLARED)
def test_traits_are_consistent(spec: OpSpec) -> None:
    if spec.fusable or spec.reusable:
        assert spec.linear, f"op {spec.name!r}: fusable and reusable ops are linear layers"
    if spec.linear:
        assert spec.has_weights, f"op {spec.name!r}: a linear op has a kernel"
    if spec.wiring:
        assert not spec.linear and not spec.has_weights, f"op {spec.name!r}: a wiring op computes nothing"


def test_linear_ops_are_the_dense_and_convolution_layers() -> None:
    assert ops_where(is_linear) == ("dense", "conv1d", "conv2d", "depthwise1d", "depthwise2d", "conv2d_transpose")


def test_an_unknown_op_is_named() -> None:
    with pytest.raises(KeyError, match="unknown op 'lstm'; known: activation"):
        op_spec("lstm")
    assert not is_linear("lstm")


def test_a_node_says_where_it_is() -> None:
    node = Node("fc1", "dense", ["x"], "y", source="dense_1")
    assert node.where() == "node 'fc1' (layer 'dense_1')"
    assert node.where(with_op=True) == "node 'fc1' (dense, layer 'dense_1')"
    assert Node("fc2", "dense", ["x"], "z").where() == "node 'fc2' (layer 'fc2')"
