"""Post-training re-quantization and back-end options at the IR level, for design-space sweeps.

In fpgaq the quantizers decide every weight and activation type, so trying
another precision would normally mean rebuilding and re-converting the Keras
model (tens of milliseconds).  A sweep needs thousands of points, so these
two pure functions derive a new graph from a converted one instead:

* :func:`requantize` rounds every kernel and bias to a new total width
  (keeping each type's integer bits and sign), narrows or widens every
  quantized activation the same way, and re-runs precision inference, so
  accumulators and every other derived type fit the new numbers exactly;
* :func:`with_options` sets the implementation options (reuse factor,
  pipelining, multiplier style), which never change a number.

The graph does not record which types the model declared (quantizers,
config) and which precision inference derived; :func:`reopen_types` finds
out by re-inferring and comparing, so a converted graph can be requantized
again and again.  A sweep reopens once and requantizes the reopened graph
for each point, which skips that comparison.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from fpgaq.config import ADDERS, MULTIPLIERS
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.ir.graph import Graph, Node, Weight
from fpgaq.ir.opspec import is_average_pool, is_exact_then_cast, is_reusable, ops_where
from fpgaq.ir.passes.prune_zero_weights import sparsity_annotations
from fpgaq.ir.precision import infer_precision

__all__ = [
    "DERIVED_NODE_TYPES",
    "MULTIPLIER_CHOICES",
    "REQUANTIZED_WEIGHTS",
    "REUSE_OPS",
    "reopen_types",
    "requantize",
    "reuse_limit",
    "with_options",
]

#: Weights that :func:`requantize` rounds to ``weight_bits`` (other constants, such as a batch
#: normalization's scale or a pooling multiplier, are part of the layer's arithmetic, not its weights).
REQUANTIZED_WEIGHTS = ("kernel", "bias")

#: ``node.types`` entries that precision inference may compute (all others come from the trace).
DERIVED_NODE_TYPES = ("exact", "accum", "linear_result", "reciprocal", "exp_sum")

#: Ops whose multiplications a reuse factor folds in time (declared ``reusable`` in fpgaq.ir.opspec).
REUSE_OPS = ops_where(is_reusable)

#: The ``Multiplier`` values the config accepts (an alias of fpgaq.config.MULTIPLIERS).
MULTIPLIER_CHOICES = MULTIPLIERS

# Activation functions whose quantizer type is a plain grid that can be narrowed or widened alone;
# leaky_relu (two types tied to a shift) and table activations (entries computed for the type) are not.
_REQUANTIZABLE_FUNCTIONS = ("relu", "linear")

# Ops whose declared output type is a quantized_bits merged into them (fpgaq.ir.passes.merge_quantizer)
# or a config Precision.result: both are the tensor's activation precision.
_CAST_OPS = ops_where(lambda spec: is_exact_then_cast(spec) or is_average_pool(spec))


# ------------------------------------------------------------------------------ reopening
def _is_quantizer_output(node: Node) -> bool:
    """Whether the node's output type is an activation quantizer's (declared, never inferred)."""
    if node.op == "activation":
        return "quantizer" in node.attrs
    fused = node.attrs.get("activation")
    return isinstance(fused, dict) and "quantizer" in fused


def _candidates(graph: Graph) -> list[tuple[str, str]]:
    """Every type precision inference might have derived, in the order it derives them."""
    out = []
    for node in graph.nodes:
        if node.op == "input":
            continue
        out += [(node.name, key) for key in DERIVED_NODE_TYPES if key in node.types]
        if not _is_quantizer_output(node) and graph.tensors[node.output].type is not None:
            out.append((node.name, ""))  # "" stands for the node's output tensor type
    return out


def _get(graph: Graph, name: str, key: str) -> FixedType | None:
    node = graph.node(name)
    return graph.tensors[node.output].type if key == "" else node.types.get(key)


def _set(graph: Graph, name: str, key: str, value: FixedType | None) -> None:
    node = graph.node(name)
    if key == "":
        graph.tensors[node.output].type = value
    elif value is None:
        node.types.pop(key, None)
    else:
        node.types[key] = value


def _is_open(graph: Graph) -> bool:
    return any(t.type is None for t in graph.tensors.values())


def reopen_types(graph: Graph, config: Any = None) -> Graph:
    """A copy of a typed graph with every type that precision inference derives set back to open.

    A type counts as declared (kept) when re-inference from the declared
    types does not reproduce it: a quantizer's, a config ``Precision``
    (result, accumulator) or an input type.  A declared type equal to the one
    inference would derive anyway is indistinguishable from a derived one and
    is reopened; at the graph's own precision that changes nothing.
    Inference runs once per declared type found this way (usually once).
    Graphs that still have open types are returned as a plain copy.
    """
    if _is_open(graph):
        return graph.copy()
    declared: set[tuple[str, str]] = set()
    candidates = _candidates(graph)
    while True:
        trial = graph.copy()
        for name, key in candidates:
            if (name, key) not in declared:
                _set(trial, name, key, None)
        opened = trial.copy()
        inferred = infer_precision(trial, config)
        first = next(
            ((n, k) for n, k in candidates if (n, k) not in declared and _get(inferred, n, k) != _get(graph, n, k)),
            None,
        )
        if first is None:
            return opened
        declared.add(first)  # later mismatches may follow from this one: re-infer with it kept


# ------------------------------------------------------------------------------ requantize
def _check_bits(value: int | None, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"requantize: {what} must be an integer >= 1 (total bits, sign included), got {value!r}")


def _requantized_weight(w: Weight, bits: int) -> Weight:
    """``w`` rounded to nearest (ties to even) onto ``bits`` total bits with its integer bits and sign.

    Rounding to nearest is what QKeras ``quantized_bits`` does with its
    inputs; values beyond the narrower range saturate (only the top value,
    which can round up past the largest code).  The stored type keeps the
    original rounding and overflow spelling, which only describe assignments.
    """
    grid = FixedType(bits, w.type.integer, w.type.signed, Rounding.RND_CONV, Overflow.SAT)
    values = grid.quantize(w.values)
    label = f"requantize({w.quantizer or w.type.short()}, {bits} bits)"
    return Weight(values, w.type.replace(width=bits), None, label)


def _requantize_activation(graph: Graph, node: Node, bits: int) -> None:
    out = graph.tensors[node.output]
    if out.type is None:
        return
    if node.op == "activation":
        if "quantizer" not in node.attrs or node.attrs.get("function") not in _REQUANTIZABLE_FUNCTIONS:
            return
    else:
        fused = node.attrs.get("activation")
        if isinstance(fused, dict):
            if "quantizer" not in fused or fused.get("function") not in _REQUANTIZABLE_FUNCTIONS:
                return
        elif node.op not in _CAST_OPS:
            return
    out.type = out.type.replace(width=bits)


def requantize(
    graph: Graph,
    weight_bits: int | None = None,
    activation_bits: int | None = None,
    *,
    input_bits: int | None = None,
    config: Any = None,
) -> Graph:
    """A new graph with kernels, biases and quantized activations at the given total widths.

    * ``weight_bits``: every ``kernel`` and ``bias`` is re-quantized (round to
      nearest, ties to even, saturating) to that many bits, keeping its type's
      integer bits and signedness.  Weights with a hardware descriptor
      (power-of-two, binary, ternary, per-channel po2 scale) are left alone:
      their circuits are defined by the descriptor, not by a bit width.
    * ``activation_bits``: the output type of every quantized ``relu`` or
      ``quantized_bits`` activation (separate, fused into its layer, or merged
      into its producer's type) gets that width, keeping integer bits, sign,
      rounding and overflow.  Leaky ReLU, table and piecewise activations and
      softmax keep their types (they are tied to shifts and tables).
    * ``input_bits``: the same for the graph inputs (default: unchanged: the
      input type is the interface to whatever feeds the design).

    Every derived type (accumulators, exact sums, unquantized outputs) is
    then inferred again with ``config`` (a Config or anything load_config
    takes), and the zero-weight annotations are refreshed.  ``graph`` may be a
    converted (fully typed) graph, which is reopened first with
    :func:`reopen_types`, or an already reopened one, which is faster.  The
    input graph is not modified.
    """
    _check_bits(weight_bits, "weight_bits")
    _check_bits(activation_bits, "activation_bits")
    _check_bits(input_bits, "input_bits")
    g = reopen_types(graph, config)
    for node in g.nodes:
        if node.op == "input":
            if input_bits is not None and g.tensors[node.output].type is not None:
                g.tensors[node.output].type = g.tensors[node.output].type.replace(width=input_bits)
            continue
        if weight_bits is not None:
            changed = False
            for key in REQUANTIZED_WEIGHTS:
                w = node.weights.get(key)
                if w is not None and w.hardware is None:
                    node.weights[key] = _requantized_weight(w, weight_bits)
                    changed = True
            if changed and "nonzero_mask" in node.attrs:
                node.attrs.update(sparsity_annotations(node))
        if activation_bits is not None:
            _requantize_activation(g, node, activation_bits)
    out = infer_precision(g, config)
    out.validate()
    return out


# ------------------------------------------------------------------------------ options
def reuse_limit(node: Node) -> int | None:
    """The largest useful reuse factor of ``node``: its taps per output (None if folding does not apply).

    The fold (fpgaq.rtl.fold) cuts each output's taps into ``R`` slices of
    ``ceil(taps / R)``, so any ``R >= 1`` is legal, but beyond the taps per
    output the extra phases do nothing except add latency.
    """
    if not is_reusable(node.op) or "kernel" not in node.weights:
        return None
    shape = node.weights["kernel"].values.shape
    size = 1
    for d in shape:
        size *= int(d)
    if node.op.startswith("depthwise"):
        return max(1, size // (int(shape[-2]) * int(shape[-1])))
    if node.op == "conv2d_transpose":  # (kh, kw, filters, in_channels)
        return max(1, size // int(shape[-2]))
    return max(1, size // int(shape[-1]))


def with_options(
    graph: Graph,
    reuse_factor: int | None = None,
    pipeline_every: int | None = None,
    multiplier: str | None = None,
    adders: str | None = None,
    clock_period: float | None = None,
    timing_device: str | None = None,
) -> Graph:
    """A new graph with implementation options set where they apply; ``None`` leaves one as it is.

    ``reuse_factor`` goes on the ops whose products fold in time
    (:data:`REUSE_OPS`); ``pipeline_every``, ``multiplier`` and ``adders`` on every
    non-input node (each back end reads them where they matter).  The options
    never change a number, so types and weights are shared with ``graph``
    rather than copied (graphs are values: nothing edits them in place), which
    keeps a sweep point well under a millisecond.  Raises for values the
    config would reject, naming the option and what it accepts.  ``clock_period`` (ns, on
    ``timing_device``) places the registers by the delay model instead of ``pipeline_every``.
    """
    if reuse_factor is not None and (
        isinstance(reuse_factor, bool) or not isinstance(reuse_factor, int) or reuse_factor < 1
    ):
        raise ValueError(
            f"with_options: reuse_factor must be an integer >= 1 (1 = fully parallel), got {reuse_factor!r}"
        )
    if pipeline_every is not None and (
        isinstance(pipeline_every, bool) or not isinstance(pipeline_every, int) or pipeline_every < 0
    ):
        raise ValueError(
            f"with_options: pipeline_every must be an integer >= 0 (0 = one register per layer, N = a register "
            f"every N adder levels), got {pipeline_every!r}"
        )
    if multiplier is not None and multiplier not in MULTIPLIER_CHOICES:
        raise ValueError(f"with_options: multiplier must be one of {', '.join(MULTIPLIER_CHOICES)}, got {multiplier!r}")
    if adders is not None and adders not in ADDERS:
        raise ValueError(f"with_options: adders must be one of {', '.join(ADDERS)}, got {adders!r}")
    if clock_period is not None and (isinstance(clock_period, bool) or not float(clock_period) > 0):
        raise ValueError(f"with_options: clock_period must be a period in ns > 0, got {clock_period!r}")
    nodes = []
    for node in graph.nodes:
        options = dict(node.options)
        if node.op != "input":
            if reuse_factor is not None and is_reusable(node.op):
                options["reuse_factor"] = reuse_factor
            if pipeline_every is not None:
                options["pipeline_every"] = pipeline_every
            if multiplier is not None:
                options["multiplier"] = multiplier
            if adders is not None:
                options["adders"] = adders
            if clock_period is not None:
                options["clock_period"] = float(clock_period)
                options["timing_device"] = timing_device
        nodes.append(dataclasses.replace(node, inputs=list(node.inputs), options=options))
    tensors = {k: copy.copy(t) for k, t in graph.tensors.items()}
    return Graph(graph.name, nodes, tensors, list(graph.inputs), list(graph.outputs))
