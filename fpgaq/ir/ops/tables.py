"""Lookup-table non-linearities (sigmoid, tanh, softmax), defined bit for bit.

This docstring is the hardware contract.  The reference below computes
exactly these integer steps, and the HLS and RTL back ends must too.  They
take the table contents from :func:`function_table`, :func:`exp_table` and
:func:`reciprocal_table` instead of recomputing them with a C++ libm, because
libm results differ in the last bit between platforms.

Notation
    The input is a mantissa ``m`` of type ``tin`` with ``f = tin.frac``
    fractional bits (``x = m * 2**-f``).  ``N = 2**n`` is the table size,
    set by the config's ``TableSize`` and stored in ``attrs["table_size"]``.
    It must be a power of two because indices are taken by shifting.
    ``T = types["table"]`` is the type of the table entries.  It is
    ``TablePrecision``, except for a QKeras quantizer, where it is the
    quantizer's own type unless the layer sets ``TablePrecision`` itself
    (one rounding instead of two).  ``F = T.frac``.  ``tout`` is the output
    tensor's type: ``Precision.result`` or the quantizer's type when one is
    given, else ``T``.

    ``q(v, U)`` is the real number ``v`` rounded to nearest, ties to even,
    onto ``U``'s grid and clipped to ``U``'s range (``AC_RND_CONV``,
    ``AC_SAT``), whatever ``U``'s own modes are.  It is correctly rounded
    from the exact real value: float64 decides, except where float64 is
    within 2**-40 (relative) of a rounding boundary; 40-digit decimals decide
    those.  So the contents do not depend on a platform's libm.  ``tout <- v``
    is an ordinary assignment with ``tout``'s own rounding and overflow modes,
    as everywhere in fpgaq.

sigmoid and tanh (``op="activation"``, ``attrs["function"]``)
    The input range ``[lo, hi)`` (``attrs["table_range"]``) is ``[-8, 8)``
    for sigmoid and ``[-4, 4)`` for tanh.  It is cut into ``N`` bins of width
    ``h = (hi - lo) / N = 2**-k``.

    1. ``i = clamp(floor((x - lo) / h), 0, N - 1) = clamp((m >> (f - k)) - lo * 2**k, 0, N - 1)``.
       ``>>`` is an arithmetic (flooring) right shift, or a left shift by
       ``k - f`` when ``k > f``.  ``lo * 2**k`` is an integer (``N/2`` for
       both defaults).  Inputs below ``lo`` read entry 0; inputs at or above
       ``hi`` read entry ``N - 1``.
    2. ``table[i] = q(g(lo + (i + 1/2) * h), T)``: the function at the
       bin's centre.
    3. ``y = tout <- table[i]``.

    Error bound, for ``x`` inside the range: ``max|g'| * h / 2``
    (``h / 8`` for sigmoid, ``h / 2`` for tanh), plus half an lsb of ``T``,
    plus the output cast.  Outside the range, add ``g``'s distance to its
    limit at the last centre: 3.4e-4 for sigmoid and 6.8e-4 for tanh at
    ``N = 1024``.

softmax (``op="softmax"``, over the last axis of ``K`` elements)
    This is the "stable" form: exponentials of the differences to the
    maximum (all <= 0), then a sum, a reciprocal and a product.  The exp
    table has ``N`` entries over ``[-8, 0]`` (``attrs["table_range"] =
    (-8, 0)``) with step ``h = 8 / N = 2**-k``.  The reciprocal table has
    ``N`` entries and is indexed by the ``n`` bits after the sum's leading
    one.  This normalizes the sum as a floating-point number would, so the
    reciprocal's relative error does not depend on ``K``.  (hls4ml instead
    slices the top bits of a fixed type, which loses precision when ``K``
    is large.)

    1. ``u_j = max_l m_l - m_j >= 0``, exact (``tin.width + 1`` bits).
    2. ``j' = min(N - 1, floor(u_j * 2**(k - f) + 1/2))``: round half up to
       the nearest table point.  In integers this is
       ``(u_j + 2**(f-k-1)) >> (f - k)`` when ``f > k``, else
       ``u_j << (k - f)``.
    3. ``e_j = E[j']`` with ``E[t] = q(exp(-t * h), T)``.  Grid points
       rather than bin centres, so the largest element always reads
       ``E[0] = q(1, T)``, which is 1 whenever ``T`` holds 1.  ``E[0] > 0``
       is required, so the sum is never 0.
    4. ``S = sum_j e_j``, exact, in ``types["exp_sum"]``: unsigned, ``F``
       fractional bits, just wide enough for ``K * max(E)``.  It cannot
       overflow.
    5. ``p = bit_length(S) - 1`` is the position of the leading one.
       ``r = floor(S * 2**(n - p)) - 2**n``, i.e. ``(S >> (p - n)) - 2**n``,
       or ``(S << (n - p)) - 2**n`` when ``p < n``: the ``n`` bits after
       the leading one.
    6. ``R[r] = q(2**n / (2**n + r + 1/2), types["reciprocal"])``.  The
       reciprocal type is ``ufixed<F + 1, 1>`` (the lsb of ``T``, plus one
       integer bit so that 1 is representable); ``R[r]`` lies in
       ``(1/2, 1]``.  Then ``1 / (S * 2**-F)`` is approximately
       ``R[r] * 2**(F - p)``.
    7. ``P_j = e_j * R[r]`` is an exact integer product, and
       ``e_j * 2**-F * R[r] * 2**-Fr * 2**(F - p) = P_j * 2**-(Fr + p)``
       with ``Fr = types["reciprocal"].frac`` (= ``F``).  Finally
       ``y_j = tout <- P_j * 2**-(Fr + p)``: in integers, a right shift by
       ``Fr + p - tout.frac`` rounded by ``tout``'s rounding mode (or a left
       shift), then ``tout``'s overflow mode.  ``p`` only ranges over
       ``[bit_length(E[0]) - 1, bit_length(K * max(E)) - 1]``, so the
       hardware needs a small barrel shifter.

    Error: each ``e_j`` is within ``h / 2`` (relative) plus half an lsb of
    ``T`` of ``exp(-u_j)``.  The reciprocal is within ``2**-(n+1)`` plus
    ``2**-F`` (relative).  The output cast adds its own rounding.
    Differences of ``8 - h/2`` or more read ``E[N-1] = q(exp(-8 + h), T)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq import reference
from fpgaq.fixed import (
    FixedType,
    Overflow,
    Rounding,
    apply_overflow,
    round_divide,
    round_float,
    round_shift,
    saturate,
)
from fpgaq.ir import precision
from fpgaq.ir.graph import Graph, Node

__all__ = [
    "SOFTMAX_EXP_RANGE",
    "TABLE_FUNCTIONS",
    "TABLE_RANGES",
    "exp_sum_type",
    "exp_table",
    "function_table",
    "reciprocal_table",
    "reciprocal_type",
    "softmax",
    "table_activation",
    "table_index",
]

#: Input range ``[lo, hi)`` of each table function: powers of two, so indexing is a shift.
TABLE_RANGES: dict[str, tuple[int, int]] = {"sigmoid": (-8, 8), "tanh": (-4, 4)}
TABLE_FUNCTIONS = tuple(TABLE_RANGES)
#: The exp table of softmax covers differences to the maximum in ``[-SOFTMAX_EXP_RANGE, 0]``.
SOFTMAX_EXP_RANGE = 8

_INT64_SAFE_BITS = 61
# float64 decides a rounding unless it lies this close (relative) to a boundary; libm
# errors are a few ulps (2**-52), so the margin is thousands of times larger.
_FLOAT_GUARD = 2.0**-40
_DECIMAL_DIGITS = 40


# ------------------------------------------------------------------ the real functions
def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # split by sign so exp never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_FLOAT_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _np_sigmoid,
    "tanh": np.tanh,
    "exp": np.exp,
}


def _decimal_value(function: str, point: Fraction) -> Decimal:
    """``function(point)`` to about 40 significant digits (Decimal.exp is correctly rounded)."""
    with localcontext() as ctx:
        ctx.prec = _DECIMAL_DIGITS + 5
        c = Decimal(point.numerator) / Decimal(point.denominator)
        if function == "sigmoid":
            return 1 / (1 + (-c).exp())
        if function == "tanh":
            e = (2 * c).exp()
            return (e - 1) / (e + 1)
        return c.exp()


def _round_decimal(value: Decimal, frac: int, what: str) -> int:
    scaled = Fraction(value) * Fraction(2) ** frac
    floor = scaled.numerator // scaled.denominator
    rem = scaled - floor
    if abs(rem - Fraction(1, 2)) <= abs(scaled) * Fraction(10) ** (5 - _DECIMAL_DIGITS):
        raise RuntimeError(f"{what}: cannot decide the rounding of {value} to {frac} fractional bits")
    return floor + int(rem > Fraction(1, 2))


def _correctly_rounded(function: str, points: list[Fraction], t: FixedType) -> np.ndarray:
    """``q(function(point), t)`` for each point: nearest-even, saturated, from the exact value."""
    x = np.array([float(p) for p in points], dtype=np.float64)  # exact: dyadic points
    with np.errstate(over="ignore"):
        v = _FLOAT_FUNCTIONS[function](x)
    scaled = np.ldexp(v, t.frac)
    floor = np.floor(scaled)
    dist = np.abs(scaled - floor - 0.5)
    out = round_float(scaled, Rounding.RND_CONV)
    near = np.flatnonzero(dist <= np.abs(scaled) * _FLOAT_GUARD)
    mant = out.astype(object)
    for i in near:
        value = _decimal_value(function, points[i])
        mant[i] = _round_decimal(value, t.frac, f"{function}({points[i]})")
    return saturate(np.array([int(v) for v in mant], dtype=object), t).astype(np.int64)


# ------------------------------------------------------------------ checks
def _where(node: Node | None) -> str:
    return "table" if node is None else node.where()


def _table_bits(size: Any, where: str) -> int:
    """``n`` with ``size == 2**n``, or a clear error."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2 or size & (size - 1):
        hint = "use a power of two such as 1024"
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 2:
            low = 1 << (int(size).bit_length() - 1)
            hint = f"the nearest powers of two are {low} and {2 * low}"
        raise ValueError(
            f"{where}: TableSize {size!r} is not supported: table indices are cut from the input's bits by a "
            f"shift, which needs a power of two >= 2; {hint}"
        )
    return int(size).bit_length() - 1


def _index_shift(size: int, lo: Fraction, hi: Fraction, where: str) -> int:
    """``k`` with ``N / (hi - lo) == 2**k``; ``lo * 2**k`` must be an integer."""
    _table_bits(size, where)
    if not hi > lo:
        raise ValueError(f"{where}: table range [{lo}, {hi}) is empty; give lo < hi")
    ratio = Fraction(size) / (hi - lo)
    k = ratio.numerator.bit_length() - ratio.denominator.bit_length()
    if Fraction(2) ** k != ratio:
        raise ValueError(
            f"{where}: TableSize {size} over the range [{lo}, {hi}) gives {ratio} entries per unit, not a power of "
            "two, so the index is not a shift of the input; use a range whose width is a power of two"
        )
    if (lo * Fraction(2) ** k).denominator != 1:
        raise ValueError(f"{where}: the range start {lo} is not a multiple of the table step {1 / ratio}")
    return k


def _range(value: Any) -> tuple[Fraction, Fraction]:
    lo, hi = value
    return Fraction(lo), Fraction(hi)


def _int_array(m: Any, bits: int) -> np.ndarray:
    arr = np.asarray(m)
    return arr.astype(object) if bits > _INT64_SAFE_BITS else arr.astype(np.int64)


# ------------------------------------------------------------------ sigmoid and tanh
@functools.lru_cache(maxsize=64)
def _function_table(function: str, size: int, table_type: FixedType, lo: Fraction, hi: Fraction) -> np.ndarray:
    _index_shift(size, lo, hi, f"{function} table")
    h = (hi - lo) / size
    points = [lo + (i + Fraction(1, 2)) * h for i in range(size)]
    entries = _correctly_rounded(function, points, table_type)
    entries.flags.writeable = False
    return entries


def function_table(
    function: str, size: int, table_type: FixedType, table_range: tuple[Any, Any] | None = None
) -> np.ndarray:
    """Mantissas (in ``table_type``) of the sigmoid or tanh table: ``q(g(bin centre), T)``."""
    if function not in TABLE_RANGES:
        raise ValueError(f"no table for function {function!r}; supported: {', '.join(TABLE_FUNCTIONS)}")
    lo, hi = _range(table_range or TABLE_RANGES[function])
    return _function_table(function, int(size), table_type, lo, hi)


def table_index(m: Any, tin: FixedType, size: int, table_range: tuple[Any, Any]) -> np.ndarray:
    """``clamp(floor((x - lo) * N / (hi - lo)), 0, N - 1)`` for input mantissas ``m`` of ``tin``."""
    lo, hi = _range(table_range)
    k = _index_shift(size, lo, hi, "table index")
    offset = int(-lo * Fraction(2) ** k)
    shift = tin.frac - k
    mm = _int_array(m, tin.width + max(-shift, 0) + 2)
    idx = (mm >> shift if shift >= 0 else mm << -shift) + offset
    return np.clip(idx, 0, size - 1).astype(np.int64)


def table_activation(
    m: Any,
    tin: FixedType,
    tout: FixedType,
    function: str,
    size: int,
    table_type: FixedType,
    table_range: tuple[Any, Any] | None = None,
) -> np.ndarray:
    """Output mantissas of a sigmoid or tanh table for input mantissas ``m`` (steps 1-3 above)."""
    table_range = table_range or TABLE_RANGES[function]
    entries = function_table(function, size, table_type, table_range)
    return tout.cast(entries[table_index(m, tin, size, table_range)], table_type)


# ------------------------------------------------------------------ softmax
@functools.lru_cache(maxsize=64)
def _exp_table(size: int, table_type: FixedType, exp_range: Fraction) -> np.ndarray:
    _index_shift(size, -exp_range, Fraction(0), "exp table")
    h = exp_range / size
    entries = _correctly_rounded("exp", [-t * h for t in range(size)], table_type)
    entries.flags.writeable = False
    return entries


def exp_table(size: int, table_type: FixedType, exp_range: Any = SOFTMAX_EXP_RANGE) -> np.ndarray:
    """``E[t] = q(exp(-t * exp_range / N), T)`` for ``t = 0 .. N-1`` (softmax step 3)."""
    return _exp_table(int(size), table_type, Fraction(exp_range))


def reciprocal_type(table_type: FixedType, where: str = "softmax") -> FixedType:
    """``ufixed<F + 1, 1>``: the exp table's lsb and one integer bit, so that 1 fits."""
    if table_type.frac < 1:
        raise ValueError(
            f"{where}: TablePrecision {table_type.ap_fixed()} has no fractional bits, so exp(-u) <= 1 and its "
            "reciprocal cannot be tabulated; give TablePrecision fractional bits, e.g. 'ap_fixed<18,8>'"
        )
    return FixedType(table_type.frac + 1, 1, False, Rounding.RND_CONV, Overflow.SAT)


@functools.lru_cache(maxsize=64)
def _reciprocal_table(size: int, rtype: FixedType) -> np.ndarray:
    n = _table_bits(size, "reciprocal table")
    # 2**n / (2**n + r + 1/2) = 2**(n+1) / (2**(n+1) + 2r + 1); an odd divisor never gives a tie
    dens = np.array([(1 << (n + 1)) + 2 * r + 1 for r in range(size)], dtype=object)
    nums = np.full(size, 1 << (n + 1 + rtype.frac), dtype=object)
    entries = saturate(round_divide(nums, dens, Rounding.RND_CONV), rtype).astype(np.int64)
    entries.flags.writeable = False
    return entries


def reciprocal_table(size: int, rtype: FixedType) -> np.ndarray:
    """``R[r] = q(2**n / (2**n + r + 1/2), rtype)`` for ``r = 0 .. N-1`` (softmax step 6)."""
    return _reciprocal_table(int(size), rtype)


def _exp_entries(size: int, table_type: FixedType, exp_range: Any, where: str) -> np.ndarray:
    entries = exp_table(size, table_type, exp_range)
    if entries[0] <= 0:
        raise ValueError(
            f"{where}: TablePrecision {table_type.ap_fixed()} rounds exp(0) = 1 to {table_type.from_int(entries[0])}, "
            "so the softmax sum could be 0; use a type that holds 1, e.g. 'ap_fixed<18,8>'"
        )
    return entries


def exp_sum_type(table_type: FixedType, size: int, length: int, exp_range: Any = SOFTMAX_EXP_RANGE) -> FixedType:
    """The exact type of the sum of ``length`` exp table entries (softmax step 4)."""
    entries = _exp_entries(size, table_type, exp_range, "softmax")
    top = length * int(entries.max()) * table_type.lsb
    return precision.range_type(Fraction(0), top, table_type.frac)


def _bit_length(a: np.ndarray) -> np.ndarray:
    if a.dtype != object and int(a.max()) < 2**53:
        return np.frexp(a.astype(np.float64))[1].astype(np.int64)  # exact below 2**53
    return np.vectorize(lambda v: int(v).bit_length(), otypes=[np.int64])(a)


def _shift_by(values: np.ndarray, shifts: np.ndarray, rounding: Rounding) -> np.ndarray:
    """``values * 2**-shifts`` rounded by ``rounding``, with one shift amount per element."""
    shifts = np.broadcast_to(shifts, values.shape)
    out = np.empty(values.shape, dtype=values.dtype)
    for s in np.unique(shifts):
        sel = shifts == s
        out[sel] = round_shift(values[sel], int(s), rounding)
    return out


def softmax(
    m: Any,
    tin: FixedType,
    tout: FixedType,
    size: int,
    table_type: FixedType,
    exp_range: Any = SOFTMAX_EXP_RANGE,
    where: str = "softmax",
) -> np.ndarray:
    """Output mantissas of softmax over the last axis of input mantissas ``m`` (steps 1-7 above)."""
    n = _table_bits(size, where)
    k = _index_shift(size, -Fraction(exp_range), Fraction(0), where)
    entries = _exp_entries(size, table_type, exp_range, where)
    rtype = reciprocal_type(table_type, where)
    recip = reciprocal_table(size, rtype)
    f = tin.frac
    x = _int_array(m, tin.width + 2)
    u = np.max(x, axis=-1, keepdims=True) - x
    # round half up to the nearest table point (when k >= f, u >= N already reads the last entry)
    j = np.minimum(u, size) << (k - f) if k >= f else (u + (1 << (f - k - 1))) >> (f - k)
    e = entries[np.minimum(j, size - 1).astype(np.int64)]
    length = x.shape[-1]
    e = _int_array(e, table_type.width + length.bit_length() + 1)
    total = np.sum(e, axis=-1, keepdims=True)
    p = _bit_length(total) - 1
    lead = (total >> np.maximum(p - n, 0).astype(total.dtype)) << np.maximum(n - p, 0).astype(total.dtype)
    r = np.asarray(lead - (1 << n)).astype(np.int64)
    shifts = rtype.frac + p - tout.frac
    left = max(0, -int(np.min(shifts)))
    product = _int_array(e, table_type.width + rtype.width + left + 2) * recip[r]
    y = apply_overflow(_shift_by(product, shifts, tout.rounding), tout)
    return y if tout.wide else y.astype(np.int64)


# ------------------------------------------------------------------ IR registration
def _settings(node: Node, config: Any) -> tuple[int, FixedType]:
    """TableSize and the entry type, as the trace recorded them (else from the config)."""
    if "table_size" not in node.attrs or "table" not in node.types:
        lc = config.layer(node.source or node.name, "")
        node.attrs.setdefault("table_size", lc.table_size)
        node.types.setdefault("table", lc.table_precision)
    return node.attrs["table_size"], node.types["table"]


def _table_activation_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    size, table = _settings(node, config)
    fn = node.attrs["function"]
    lo, hi = _range(node.attrs.setdefault("table_range", TABLE_RANGES[fn]))
    _index_shift(size, lo, hi, _where(node))
    return table


def _softmax_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    size, table = _settings(node, config)
    where = _where(node)
    shape = graph.tensors[node.inputs[0]].shape
    axis = node.attrs.get("axis", -1)
    if axis not in (-1, len(shape) - 1):
        raise ValueError(f"{where}: softmax over axis {axis} is not supported; only the last axis (-1) is")
    lo, hi = _range(node.attrs.setdefault("table_range", (-SOFTMAX_EXP_RANGE, 0)))
    if hi != 0:
        raise ValueError(f"{where}: the softmax exp table must end at 0, got range [{lo}, {hi}]")
    _index_shift(size, lo, hi, where)
    node.types["reciprocal"] = reciprocal_type(table, where)
    node.types["exp_sum"] = exp_sum_type(table, size, shape[-1], -lo)
    return table


def _table_kernel_settings(node: Node) -> tuple[int, FixedType]:
    try:
        return node.attrs["table_size"], node.types["table"]
    except KeyError:
        raise ValueError(
            f"{_where(node)}: no table settings (attrs['table_size'], types['table']); "
            "run fpgaq.ir.precision.infer_precision on the graph first"
        ) from None


def _integer_mode(kernel: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Run ``kernel`` on integers; the reference may hold small mantissas as integer-valued float64."""

    @functools.wraps(kernel)
    def run(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
        if x.dtype.kind != "f":
            return kernel(node, x, tin, tout)
        return np.asarray(kernel(node, x.astype(np.int64), tin, tout)).astype(np.float64)

    return run


@_integer_mode
def _table_activation_kernel(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    size, table = _table_kernel_settings(node)
    fn = node.attrs["function"]
    return table_activation(x, tin, tout, fn, size, table, node.attrs.get("table_range", TABLE_RANGES[fn]))


@_integer_mode
def _softmax_one(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    size, table = _table_kernel_settings(node)
    where = _where(node)
    axis = node.attrs.get("axis", -1)
    if axis not in (-1, x.ndim - 2):
        raise ValueError(f"{where}: softmax over axis {axis} is not supported; only the last axis (-1) is")
    lo, _ = _range(node.attrs.get("table_range", (-SOFTMAX_EXP_RANGE, 0)))
    return softmax(x, tin, tout, size, table, -lo, where)


def _softmax_kernel(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    return _softmax_one(node, xs[0], tins[0], tout)


def _unwrap(fn: Any) -> Any:
    """The function this module wrapped (so that re-importing never wraps twice)."""
    while getattr(fn, "_tables_wrapper", False):
        fn = fn._tables_previous
    return fn


_previous_rule = _unwrap(precision.PRECISION_RULES.get("activation"))
_previous_kernel = _unwrap(reference.KERNELS["activation"])


def _activation_rule(graph: Graph, node: Node, ins: list[FixedType], config: Any) -> FixedType:
    """Table functions here; every other activation as before."""
    if node.attrs.get("function") in TABLE_FUNCTIONS:
        return _table_activation_rule(graph, node, ins, config)
    if _previous_rule is not None:
        return _previous_rule(graph, node, ins, config)
    tensor = graph.tensors.get(node.output)
    if tensor is not None and tensor.type is not None:
        return tensor.type
    return precision.exact_output(graph, node, ins)


def _activation_kernel(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    if node.attrs.get("function") in TABLE_FUNCTIONS:
        return _table_activation_kernel(node, xs[0], tins[0], tout)
    return _previous_kernel(node, xs, tins, tout)


for _wrapper, _previous in ((_activation_rule, _previous_rule), (_activation_kernel, _previous_kernel)):
    _wrapper._tables_wrapper = True  # type: ignore[attr-defined]
    _wrapper._tables_previous = _previous  # type: ignore[attr-defined]
precision.PRECISION_RULES["activation"] = _activation_rule
precision.PRECISION_RULES["softmax"] = _softmax_rule
reference.KERNELS["activation"] = _activation_kernel
reference.KERNELS["softmax"] = _softmax_kernel
