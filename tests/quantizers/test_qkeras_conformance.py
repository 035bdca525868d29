"""fpgaq's quantizers against the real QKeras, configuration by configuration.

The table in ``tests/fixtures/qkeras/quantizers/`` was written by QKeras 0.9.0
(and, for what only QKeras' later source has, by qkeras-v3 1.2.1) through
``tests/fixtures/qkeras/make_quantizer_table.py``.  Every configuration is
run once through fpgaq on all its inputs and compared with ``np.array_equal``
(NaN-aware) on float32.  ``docs/qkeras_conformance.md`` explains the figures
and every allowed difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fpgaq.quantizers as fq

TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "qkeras" / "quantizers"

#: Configurations where fpgaq differs from QKeras on ordinary inputs, with why.
#: Keys are ``"<tool>:<name>(<kwargs>)"``; a new mismatch fails the test.
ALLOWED: dict[str, str] = {}

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
}

MIN_EXACT = 0.995


def _key(tool: str, record: dict[str, Any]) -> str:
    shape = f"@{tuple(record['shape'])}" if record.get("shape") else ""
    sig = f":{record['internal_sigmoid']}" if record.get("internal_sigmoid") else ""
    return f"{tool}:{record['name']}({record['kwargs']}){shape}{sig}"


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
        return np.asarray(q(x), dtype=np.float32)
    finally:
        if mode:
            fq.set_internal_sigmoid("hard")


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def _huge_ok(got: np.ndarray, qkeras: np.ndarray, value: np.ndarray | None) -> bool:
    """Each element equals QKeras' output, or QKeras' own value without the STE round trip."""
    same = (got == qkeras) | (np.isnan(got) & np.isnan(qkeras))
    if value is not None:
        same |= got == value
    return bool(same.all())


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    exact, ste, huge_bad, mismatched, rejected_ok, rejected_bad = [], [], [], {}, [], []
    accepted = 0
    for key, record, arrays in _load():
        if "rejected" in record:
            try:
                q = _build(record)
                _apply(q, record, np.linspace(-2, 2, 8 * int(np.prod(record.get("shape") or [4])), dtype=np.float32))
            except (ValueError, TypeError) as err:
                rejected_ok.append((key, str(err)))
            else:
                rejected_bad.append(key)
            continue
        accepted += 1
        try:
            q = _build(record)
            got = _apply(q, record, arrays["x"]).reshape(-1)
        except Exception as err:  # an error is a mismatch, reported by key
            mismatched[key] = f"{type(err).__name__}: {err}"
            continue
        want = arrays["y"].reshape(-1)
        if _equal(got, want):
            exact.append(key)
        elif "v" in arrays and _huge_ok(got, want, arrays["v"].reshape(-1)):
            ste.append(key)
        else:
            bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
            mismatched[key] = (
                f"{int(bad.sum())} of {bad.size}, e.g. x={arrays['x'].reshape(-1)[bad][:3]} "
                f"qkeras={want[bad][:3]} fpgaq={got[bad][:3]}"
            )
            continue
        if "hx" in arrays:
            hgot = _apply(q, record, arrays["hx"])
            if not _huge_ok(hgot, arrays["hy"], arrays.get("hv")):
                huge_bad.append((key, arrays["hx"], arrays["hy"], hgot))
    return {
        "accepted": accepted,
        "exact": exact,
        "ste": ste,
        "mismatched": mismatched,
        "huge_bad": huge_bad,
        "rejected_ok": rejected_ok,
        "rejected_bad": rejected_bad,
    }


def test_table_is_large() -> None:
    rows = _load()
    assert len(rows) >= 800
    names = {record["name"] for _, record, _ in rows}
    assert {"quantized_bits", "quantized_linear", "quantized_hswish", "quantized_po2", "binary_tanh"} <= names


def test_exact_fraction(results: dict[str, Any]) -> None:
    fraction = len(results["exact"]) / results["accepted"]
    assert fraction >= MIN_EXACT, f"{len(results['exact'])}/{results['accepted']} exact"


def test_every_mismatch_is_allowed(results: dict[str, Any]) -> None:
    new = {k: v for k, v in results["mismatched"].items() if k not in ALLOWED}
    assert not new, "mismatches not in ALLOWED:\n" + "\n".join(f"{k}: {v}" for k, v in new.items())


def test_allowed_mismatches_still_mismatch(results: dict[str, Any]) -> None:
    """An entry of ALLOWED that now matches is stale: remove it."""
    stale = [k for k in ALLOWED if k not in results["mismatched"]]
    assert not stale


def test_huge_inputs_follow_qkeras_value(results: dict[str, Any]) -> None:
    """On 1e4 ... 3e7 fpgaq gives QKeras' output, or QKeras' quantized value where
    its float32 ``x + (xq - x)`` loses it (fpgaq saturates exactly)."""
    assert not results["huge_bad"], "\n".join(f"{k}: x={x} qkeras={y} fpgaq={g}" for k, x, y, g in results["huge_bad"])


def test_rejected_where_qkeras_rejects(results: dict[str, Any]) -> None:
    ok = {k for k, _ in results["rejected_ok"]}
    missing = MUST_REJECT - ok
    assert not missing, f"fpgaq accepts what QKeras refuses: {sorted(missing)}"
