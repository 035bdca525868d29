"""Precision inference: give every open tensor type the exact type it needs.

Accumulators are sized from the actual constant weights and the input's
range, per output channel, so they can never overflow yet carry no bit they
do not need (zero weights and small weights cost nothing).  Every other
"auto" type is the exact type of the operation's result, so the reference
and both back ends compute without rounding until a quantizer says so.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.fixed import FixedType, Rounding
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.opspec import is_average_pool, is_fusable, keeps_input_type

__all__ = [
    "PRECISION_RULES",
    "UntypedInputWarning",
    "accumulator_bounds",
    "exact_output",
    "infer_precision",
    "range_type",
]

#: Extra rules ``op -> rule(graph, node, input_types, config) -> FixedType`` registered by
#: op modules (``fpgaq.ir.ops``); a rule may also record internal types in ``node.types``.
PRECISION_RULES: dict[str, Callable[..., FixedType]] = {}


class UntypedInputWarning(UserWarning):
    """The model input had no quantizer and the config gave no input precision."""


def range_type(lo: Fraction, hi: Fraction, frac: int) -> FixedType:
    """The narrowest type with ``frac`` fractional bits holding [lo, hi] (both on that grid)."""
    scale = Fraction(2) ** frac
    mlo, mhi = lo * scale, hi * scale
    if mlo.denominator != 1 or mhi.denominator != 1:
        raise ValueError(f"range [{lo}, {hi}] is not on the 2**-{frac} grid")
    mlo_i, mhi_i = int(mlo), int(mhi)
    if mlo_i < 0:
        width = max(mhi_i.bit_length(), (-mlo_i - 1).bit_length()) + 1
        return FixedType(width, width - frac, True)
    width = max(mhi_i.bit_length(), 1)
    return FixedType(width, width - frac, False)


def _columns(kernel: np.ndarray, op: str) -> np.ndarray:
    """The kernel as (fan-in, output channel) for dense and convolutions."""
    if op == "dense":
        return kernel.reshape(kernel.shape[0], -1) if kernel.ndim == 2 else kernel.reshape(-1, kernel.shape[-1])
    if op.startswith("depthwise"):
        # (k..., C, M): output channel c*M + m sees only input channel c
        return kernel.reshape(-1, kernel.shape[-2] * kernel.shape[-1])
    return kernel.reshape(-1, kernel.shape[-1])


def accumulator_bounds(node: Node, tin: FixedType) -> tuple[Fraction, Fraction, int]:
    """Exact smallest and largest accumulator values over all inputs in ``tin``'s range.

    Every partial sum lies within these bounds too (each term's range
    contains zero), which is what lets the reference sum in any order.
    """
    kernel = node.weights["kernel"]
    frac = tin.frac + kernel.type.frac
    bias = node.weights.get("bias")
    if bias is not None:
        frac = max(frac, bias.type.frac)
    w = _columns(kernel.mantissa, node.op).astype(object)
    xlo, xhi = tin.min_int, tin.max_int
    hi_terms = np.where(w > 0, w * xhi, w * xlo)
    lo_terms = np.where(w > 0, w * xlo, w * xhi)
    shift = frac - (tin.frac + kernel.type.frac)
    hi = np.sum(hi_terms, axis=0) * (1 << shift)
    lo = np.sum(lo_terms, axis=0) * (1 << shift)
    if bias is not None:
        b = bias.mantissa.astype(object).reshape(-1) * (1 << (frac - bias.type.frac))
        hi = hi + b
        lo = lo + b
    unit = Fraction(1, 1 << frac) if frac >= 0 else Fraction(1 << -frac)
    return Fraction(int(min(lo))) * unit, Fraction(int(max(hi))) * unit, frac


def exact_output(graph: Graph, node: Node, ins: list[FixedType]) -> FixedType:
    """The exact type of ``node``'s result for the ops without a rule of their own (and the
    accumulator types of the linear ops, recorded in ``node.types``); op modules whose rule
    reuses the default (a transposed convolution, the table activations) call it too."""
    op = node.op
    if is_fusable(op):
        lo, hi, frac = accumulator_bounds(node, ins[0])
        exact = range_type(lo, hi, frac)
        node.types["exact"] = exact
        accum = node.types.get("accum")
        if accum is None:
            node.types["accum"] = exact
            return exact
        _check_accumulator(node, accum, exact)
        return accum
    if op == "activation":
        fn = node.attrs["function"]
        tin = ins[0]
        if fn == "relu":
            if not tin.signed:
                return tin
            return FixedType(max(tin.width - 1, 1), tin.integer - 1, False)
        if fn == "linear":
            return tin
        raise ValueError(
            f"node {node.name!r}: activation {fn!r} needs an explicit output type (a quantizer, or "
            f"Precision.result for layer {node.source!r} in the config)"
        )
    if keeps_input_type(op):
        return ins[0]
    if is_average_pool(op):
        area = _pool_area(graph, node)
        tin = ins[0]
        k = math.ceil(math.log2(area)) if area > 1 else 0
        if area & (area - 1) == 0:
            return FixedType(tin.width + k, tin.integer, tin.signed)
        # Not a power of two: the mean is not a finite binary fraction; keep k more
        # fractional bits than a power-of-two pool would and round to nearest-even.
        return FixedType(tin.width + k + 1, tin.integer, tin.signed, Rounding.RND_CONV)
    if op == "add":
        frac = max(t.frac for t in ins)
        return range_type(sum((t.min for t in ins), Fraction(0)), sum((t.max for t in ins), Fraction(0)), frac)
    if op == "concatenate":
        frac = max(t.frac for t in ins)
        return range_type(min(t.min for t in ins), max(t.max for t in ins), frac)
    raise ValueError(f"node {node.name!r}: no precision rule for op {op!r}; give its type in the config")


def _check_accumulator(node: Node, accum: FixedType, exact: FixedType) -> None:
    """A configured accumulator may drop integer bits only by wrapping: that is the one
    narrowing whose result does not depend on the order in which products are added."""
    where = f"layer {node.source or node.name!r}: Precision.accum {accum.ap_fixed()}"
    if accum.frac < exact.frac:
        raise ValueError(
            f"{where} has {accum.frac} fractional bits but the products need {exact.frac}; rounding inside the "
            f"sum would depend on the summation order; use at least {exact.frac} fractional bits, or 'auto'"
        )
    if not accum.contains(exact) and accum.overflow.value != "WRAP":
        raise ValueError(
            f"{where} cannot hold every sum (exact range needs {exact.ap_fixed()}) and saturates; saturation "
            "inside the sum would depend on the summation order; use WRAP overflow, a wider type, or 'auto'"
        )


def _pool_area(graph: Graph, node: Node) -> int:
    if node.op.startswith("global_"):
        return int(np.prod(graph.tensors[node.inputs[0]].shape[:-1]))
    return int(np.prod(node.attrs["pool_size"]))


# ---------------------------------------------- fused activations (see passes.fuse_activation)
def _fused_activation_type(graph: Graph, node: Node, pre_activation: FixedType, config: Any) -> FixedType:
    """Output type of a linear node that carries a fused activation.

    The linear rule gave the pre-activation type (the accumulator, unless the
    node's result type was declared before fusing); it is recorded as
    ``types["linear_result"]`` and the activation's own rule maps it to the
    output type, exactly as for a separate activation node.
    """
    pre = node.types.get("linear_result") or pre_activation
    node.types["linear_result"] = pre
    declared = graph.tensors[node.output].type
    if declared is not None:
        return declared
    view = Node(node.name, "activation", [], node.output, dict(node.attrs["activation"]), source=node.source)
    rule = PRECISION_RULES.get("activation")
    return rule(graph, view, [pre], config) if rule else exact_output(graph, view, [pre])


def infer_precision(graph: Graph, config: Any = None) -> Graph:
    """Return a copy of ``graph`` in which every tensor has a FixedType."""
    from fpgaq.config import load_config

    cfg = load_config(config)
    g = graph.copy()
    for node in g.nodes:
        out = g.tensors[node.output]
        if node.op == "input":
            if out.type is None:
                warnings.warn(
                    f"input {node.name!r} has no quantizer and the config sets no input precision; using "
                    f"{cfg.default_precision.ap_fixed()} (add a QActivation('quantized_bits(...)') after the input "
                    "or set Model.Input.Precision)",
                    UntypedInputWarning,
                    stacklevel=2,
                )
                out.type = cfg.default_precision.replace(rounding="RND_CONV", overflow="SAT")
            continue
        ins = [g.tensors[t].type for t in node.inputs]
        if any(t is None for t in ins):
            raise ValueError(f"node {node.name!r} reads an untyped tensor; infer_precision must run in order")
        rule = PRECISION_RULES.get(node.op)
        if rule is not None:
            # a rule also records internal types (accumulator, tables) in node.types
            exact = rule(g, node, ins, cfg)
        elif out.type is None or is_fusable(node.op):
            exact = exact_output(g, node, ins)  # records the accumulator types of linear ops
        else:
            continue
        if "activation" in node.attrs and is_fusable(node.op):
            exact = _fused_activation_type(g, node, exact, cfg)
        if out.type is None:
            out.type = exact
        _carry_elements(g, node)
    return g


#: Ops whose output holds the input's elements, in the same order, in the same type.
_SAME_ELEMENTS = ("reshape", "identity")


def _carry_elements(graph: Graph, node: Node) -> None:
    """A Flatten after a ``quantize`` node keeps its per-element types (the RTL passes each element's
    own signal through), so the layer after it is costed on them too."""
    src, out = graph.tensors[node.inputs[0]] if node.inputs else None, graph.tensors[node.output]
    if node.op in _SAME_ELEMENTS and src is not None and src.elements is not None and out.type == src.type:
        et = src.elements
        shape = out.shape
        out.elements = dataclasses.replace(
            et, frac=et.frac.reshape(shape), lo=et.lo.reshape(shape), hi=et.hi.reshape(shape)
        )
