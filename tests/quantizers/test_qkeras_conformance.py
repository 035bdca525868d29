"""fpgaq's quantizers against the real QKeras, configuration by configuration.

The table in ``tests/fixtures/qkeras/quantizers/`` was written by QKeras 0.9.0
(and, for what only QKeras' later source has, by qkeras-v3 1.2.1) through
``tests/fixtures/qkeras/make_quantizer_table.py``.  Every configuration is run
once through fpgaq on all its inputs and compared with QKeras' float32 output
(``np.array_equal``, NaN-aware).  A configuration is

* *exact*: equal on every input;
* *exact up to QKeras' float32 artefacts*: every other element is one of the
  two documented artefacts, each recognised from QKeras' own numbers:
  (1) QKeras' output ``x + (xq - x)`` in float32 loses ``xq`` (large or tiny
  ``x``), and fpgaq gives ``xq``, QKeras' own value with ``use_ste=False``
  (or, for quantizers without that switch, from its own scale and codes);
  (2) a power-of-two quantizer's input sits on a rounding boundary of
  ``log2`` (exact powers of two for ``floor``, odd powers with the quadratic
  approximation) where QKeras' float32 ``log`` picks either neighbour, even
  depending on the element's position in the tensor; fpgaq takes the exact
  exponent, one of those two neighbours;
* *a clear error where QKeras gives NaN or a degenerate constant* (e.g.
  ``quantized_bits(1, alpha='auto')``, whose scale divides by zero levels);
* or a mismatch, which must be listed in :data:`ALLOWED` with its reason.

``docs/qkeras_conformance.md`` gives the figures and the reasons.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fpgaq.quantizers as fq

TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "qkeras" / "quantizers"

#: Configurations where fpgaq differs from QKeras beyond its float32 artefacts, with why.
#: Keys as :func:`_key` writes them; a new mismatch fails the test, and so does a stale entry.
_REAL_FUNCTION = (
    "the input sits at a rounding midpoint of the 16-bit grid; fpgaq evaluates {f} in float64 so that the "
    "converted table and the Keras model agree, TensorFlow's float32 {f} is a few ulps off and rounds the other way"
)
ALLOWED: dict[str, str] = {
    "qkeras09:quantized_sigmoid({'bits': 16, 'symmetric': False, 'use_real_sigmoid': True})": _REAL_FUNCTION.format(
        f="sigmoid"
    ),
    "qkeras09:quantized_sigmoid({'bits': 16, 'symmetric': True, 'use_real_sigmoid': True})": _REAL_FUNCTION.format(
        f="sigmoid"
    ),
}

#: QKeras refuses these; fpgaq must refuse them too.
MUST_REJECT = {
    "qkeras09:quantized_bits({'bits': 4, 'alpha': 'max'})",
    "qkeras09:binary({'alpha': 'auto_pow2'})",
    "qkeras09:ternary({'alpha': 'mean'})",
    "qkeras09:quantized_relu({'bits': 4, 'negative_slope': -0.25})",
    "qkeras09:quantized_relu({'bits': 4, 'negative_slope': 0.3})",
    "qkeras09:quantized_hswish({'bits': 8, 'relu_upper_bound': 0})",
    "qkeras09:quantized_hswish({'bits': 8, 'relu_shift': 0})",
    "qkeras09:quantized_po2({'bits': 4, 'log2_rounding': 'ceil'})",
    *(
        f"qkeras09:ternary({{'alpha': '{alpha}', 'threshold': 0.3}})@{shape}"
        for alpha in ("auto", "auto_po2")
        for shape in ((16, 4), (3, 3, 2, 4))
    ),
}

#: QKeras refuses these, fpgaq accepts them on purpose (why in the value).
ACCEPTED_ON_PURPOSE = {
    f"qkeras_v3:quantized_bits({{'bits': {bits}, 'integer': 0, 'alpha': 'auto_po2', "
    f"'min_po2_exponent': {lo}, 'max_po2_exponent': {hi}}})@{shape}": (
        "a one-sided exponent clip: qkeras-v3 passes None to Kops.clip and crashes; fpgaq clips the given side"
    )
    for bits in (3, 4, 8)
    for lo, hi in ((None, 0), (-2, None))
    for shape in ((16, 4), (3, 3, 2, 4))
}

#: The share of configurations that must be exact, or exact up to QKeras' float32 artefacts.
MIN_CONFORMING = 0.995

#: Configurations equal to QKeras' output on every input, artefacts included (the figure in the docs).
EXACT_AT_LEAST = 1312

PO2 = ("quantized_po2", "quantized_relu_po2")


def _key(tool: str, record: dict[str, Any]) -> str:
    shape = f"@{tuple(record['shape'])}" if record.get("shape") else ""
    sig = f":{record['internal_sigmoid']}" if record.get("internal_sigmoid") else ""
    return f"{tool}:{record['name']}({record['kwargs']}){shape}{sig}"


@functools.cache
def _load() -> list[tuple[str, dict[str, Any], dict[str, np.ndarray]]]:
    rows = []
    for path in sorted(TABLE.glob("*.npz")):
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            for i, record in enumerate(meta["records"]):
                arrays = {k: z[f"{k}{i}"] for k in ("x", "y", "v", "hx", "hy", "hv") if f"{k}{i}" in z.files}
                rows.append((_key(meta["tool"], record), record, arrays))
    return rows


def _build(record: dict[str, Any]) -> Any:
    if record.get("function"):
        return getattr(fq, record["name"])
    # What a saved model holds (QKeras' get_config), plus the constructor arguments get_config leaves out
    # (QKeras 0.9 drops e.g. quantized_relu's relu_upper_bound); the arguments alone where QKeras refused them.
    saved = record.get("config", {}).get("config", {})
    config = {**{k: v for k, v in record["kwargs"].items() if k not in saved}, **saved}
    return fq.get_quantizer({"class_name": record["name"], "config": config})


def _apply(q: Any, record: dict[str, Any], x: np.ndarray) -> np.ndarray:
    shape = record.get("shape")
    x = x.reshape(shape) if shape else x
    mode = record.get("internal_sigmoid")
    if mode:
        fq.set_internal_sigmoid(mode)
    try:
        return np.asarray(q(x), dtype=np.float32).reshape(-1)
    finally:
        if mode:
            fq.set_internal_sigmoid("hard")


def _po2_boundary(record: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Inputs whose ``log2`` (of the clipped magnitude QKeras rounds) lies within float32 noise of a boundary."""
    kw = record["kwargs"]
    x = x.astype(np.float64)
    slope = kw.get("negative_slope", 0) or 0
    v = np.where(x >= 0, x, -x * slope) if record["name"] == "quantized_relu_po2" else np.abs(x)
    if kw.get("max_value") is not None:
        v = np.minimum(v, kw["max_value"])
    with np.errstate(divide="ignore"):
        t = np.log2(np.maximum(v, 1e-7))
    if kw.get("quadratic_approximation"):
        t = t / 2
    offset = 0.0 if kw.get("log2_rounding") == "floor" else 0.5
    distance = np.abs((t - offset) - np.round(t - offset))
    return distance <= 4 * np.spacing(np.float32(np.maximum(np.abs(t), 1.0))).astype(np.float64)


def _neighbour_powers(record: dict[str, Any], got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """fpgaq's and QKeras' outputs are adjacent powers of two of one sign (2x apart; 4x when quadratic)."""
    factor = 4.0 if record["kwargs"].get("quadratic_approximation") else 2.0
    ratio = np.divide(got, want, out=np.zeros_like(got, dtype=np.float64), where=want != 0)
    return (ratio == factor) | (ratio == 1.0 / factor)


def _explained(record: dict[str, Any], x: np.ndarray, got: np.ndarray, want: np.ndarray, value: Any) -> np.ndarray:
    """Elements equal to QKeras' output, or differing from it only by a documented float32 artefact."""
    ok = (got == want) | (np.isnan(got) & np.isnan(want))
    if value is not None:
        ok |= got == value.reshape(-1)
    if record["name"] in PO2:
        ok |= _po2_boundary(record, x) & _neighbour_powers(record, got, want)
    return ok


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    out: dict[str, Any] = {
        "accepted": 0,
        "exact": [],
        "float32": [],
        "error_where_nan": [],
        "mismatched": {},
        "huge_bad": [],
        "rejected_ok": [],
        "rejected_bad": [],
    }
    for key, record, arrays in _load():
        if "rejected" in record:
            try:
                q = _build(record)
                _apply(q, record, np.linspace(-2, 2, int(np.prod(record.get("shape") or [32])), dtype=np.float32))
            except (ValueError, TypeError) as err:
                out["rejected_ok"].append((key, str(err)))
            else:
                out["rejected_bad"].append(key)
            continue
        out["accepted"] += 1
        x, want = arrays["x"].reshape(-1), arrays["y"].reshape(-1)
        try:
            q = _build(record)
            got = _apply(q, record, arrays["x"])
        except ValueError as err:
            if np.isnan(want).all() or np.unique(want).size == 1:
                out["error_where_nan"].append((key, str(err)))
            else:
                out["mismatched"][key] = f"ValueError: {err}"
            continue
        except Exception as err:  # an error is a mismatch, reported by key
            out["mismatched"][key] = f"{type(err).__name__}: {err}"
            continue
        ok = _explained(record, x, got, want, arrays.get("v"))
        if got.shape == want.shape and np.array_equal(got, want, equal_nan=True):
            out["exact"].append(key)
        elif got.shape == want.shape and ok.all():
            out["float32"].append(key)
        else:
            bad = ~ok if got.shape == want.shape else np.ones(want.shape, bool)
            out["mismatched"][key] = (
                f"{int(bad.sum())} of {bad.size}, e.g. x={x[bad][:3]} qkeras={want[bad][:3]} fpgaq={got[bad][:3]}"
            )
            continue
        if "hx" in arrays:
            hgot = _apply(q, record, arrays["hx"])
            if not _explained(record, arrays["hx"], hgot, arrays["hy"], arrays.get("hv")).all():
                out["huge_bad"].append((key, arrays["hx"], arrays["hy"], hgot))
    return out


def test_table_covers_every_quantizer() -> None:
    rows = _load()
    assert len(rows) >= 800
    names = {record["name"] for _, record, _ in rows}
    assert {
        "quantized_bits",
        "quantized_linear",
        "quantized_relu",
        "quantized_ulaw",
        "quantized_tanh",
        "quantized_sigmoid",
        "quantized_po2",
        "quantized_relu_po2",
        "binary",
        "ternary",
        "stochastic_binary",
        "stochastic_ternary",
        "quantized_hswish",
        "hard_sigmoid",
        "hard_tanh",
        "smooth_sigmoid",
        "smooth_tanh",
        "binary_sigmoid",
        "binary_tanh",
    } <= names


def test_conforming_fraction(results: dict[str, Any]) -> None:
    conforming = len(results["exact"]) + len(results["float32"]) + len(results["error_where_nan"])
    assert conforming / results["accepted"] >= MIN_CONFORMING, (
        f"{len(results['exact'])} exact + {len(results['float32'])} up to float32 artefacts + "
        f"{len(results['error_where_nan'])} errors where QKeras gives NaN, of {results['accepted']}"
    )


def test_exact_on_every_input_stays_at_the_documented_figure(results: dict[str, Any]) -> None:
    """Configurations equal to QKeras on every input, float32 artefacts included (docs/qkeras_conformance.md)."""
    assert len(results["exact"]) >= EXACT_AT_LEAST, f"{len(results['exact'])} of {results['accepted']} exact"


def test_every_mismatch_is_allowed(results: dict[str, Any]) -> None:
    new = {k: v for k, v in results["mismatched"].items() if k not in ALLOWED}
    assert not new, "mismatches not in ALLOWED:\n" + "\n".join(f"{k}: {v}" for k, v in new.items())


def test_allowed_mismatches_still_mismatch(results: dict[str, Any]) -> None:
    """An entry of ALLOWED that now conforms is stale: remove it."""
    assert not [k for k in ALLOWED if k not in results["mismatched"]]


def test_huge_inputs_follow_qkeras_value(results: dict[str, Any]) -> None:
    """On 1e4 ... 3e7 fpgaq gives QKeras' output, or QKeras' quantized value where
    its float32 ``x + (xq - x)`` loses it (fpgaq saturates exactly)."""
    assert not results["huge_bad"], "\n".join(f"{k}: x={x} qkeras={y} fpgaq={g}" for k, x, y, g in results["huge_bad"])


def test_errors_only_where_qkeras_gives_nan(results: dict[str, Any]) -> None:
    for key, message in results["error_where_nan"]:
        assert "QKeras" in message and "use " in message, (key, message)


def test_rejected_where_qkeras_rejects(results: dict[str, Any]) -> None:
    ok = {k for k, _ in results["rejected_ok"]}
    assert not MUST_REJECT - ok, f"fpgaq accepts what QKeras refuses: {sorted(MUST_REJECT - ok)}"


def test_every_refusal_of_qkeras_is_followed_or_explained(results: dict[str, Any]) -> None:
    assert set(results["rejected_bad"]) == set(ACCEPTED_ON_PURPOSE)
