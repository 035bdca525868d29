"""Fit the resource model to Yosys: a corpus of generated layers, synthesized, and a least-squares fit.

``fpgaq calibrate`` regenerates ``fpgaq/data/resource_model.json`` (the
coefficients :mod:`fpgaq.resource_model` reads) and
``fpgaq/data/calibration/<flow>.json`` (every synthesized design: its
name, description, features, Yosys' counts and, on xc7/xcup, its timing
(:func:`timing_record`), so the fit can be redone or audited, and a delay
model fitted, without synthesizing again; :func:`all_items` rebuilds any
design from its name).

The corpus covers what changes the cost of a layer: fan-in and fan-out,
input, weight and output bit widths, sparsity, power-of-two and ternary
weights, activations (ReLU, tables), pooling, convolutions, ``PipelineEvery``,
``ReuseFactor``, the multiplier style and binary or ternary adders
(:data:`TERNARY_SHARE`), and table layers alone (softmax, sigmoid, tanh of
several table sizes and entry widths, :func:`table_corpus`).  Designs are small (tens to a few
hundred products) so that Yosys takes seconds each; the model is additive
over nodes, so what is learnt on layers carries to whole networks, which is
what the held-out set (other seeds, and the example models in
``benchmarks/resource_model.py``) checks.

Fit: LUTs by non-negative least squares on the LUT features, relative to
each design's size (so small and large designs weigh alike); FFs likewise
on register bits, latency (valid bits) and a constant.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.errors import SettingError

__all__ = ["CorpusItem", "big_corpus", "corpus", "fit", "measure", "run_calibration", "table_corpus"]

FLOWS = ("xc7", "xcup", "generic-lut4")
#: LUT terms that a flow's fitting designs may lack (records of an older corpus), and what stands in:
#: a ternary adder bit as two binary adder bits (two carry chains where no LUT6_2 takes three operands).
UNFITTED_STAND_INS = {
    "add3_bits": ("lut_add_bits", 2.0),
    "fold_mux_bits": ("mux_bits", 1.0),
    "smul_bits": ("mul_bits", 1.0),
    # xc7's fit on layers folded 8 to 32 times (calibrate.fold_corpus): 3.94 per row-adder bit, 4.3 adder bits
    "gmul_bits": ("lut_add_bits", 4.3),
}
#: Share of corpus designs built with ternary adders (``Adders: ternary``), so ``add3_bits`` is fitted.
TERNARY_SHARE = 0.4
_DATA = Path(__file__).parent / "data"


@dataclasses.dataclass
class CorpusItem:
    name: str
    split: str  # "fit" or "holdout"
    description: str
    build: Callable[[], Any]  # -> Design
    use_dsp: bool = True  # synthesized with DSP slices allowed (False: every multiplier in LUTs)


# ----------------------------------------------------------------------------- the corpus
def _q_bits(bits: int, integer: int) -> str:
    return f"quantized_bits({bits},{integer},alpha=1)"


def _dense_model(rng: np.random.Generator, name: str) -> tuple[Any, str]:
    import keras

    from fpgaq.layers import QActivation, QDense

    n_in = int(rng.choice([4, 6, 8, 12, 16, 24, 32]))
    n_out = int(rng.choice([2, 4, 6, 8, 12, 16]))
    while n_in * n_out > 260:
        n_out = max(2, n_out // 2)
        n_in = max(4, n_in - 4)
    in_bits = int(rng.choice([4, 6, 8, 10, 12, 16]))
    kind = rng.choice(["bits", "bits", "bits", "bits", "po2", "ternary"])
    w_bits = int(rng.integers(2, 9))
    wq = {
        "bits": _q_bits(w_bits, 0),
        "po2": f"quantized_po2({min(w_bits, 5)},1)",
        "ternary": "ternary(alpha=1)",
    }[str(kind)]
    act = rng.choice(["relu", "relu", "none", "sigmoid"])
    out_bits = int(rng.integers(3, 9))
    sparsity = float(rng.choice([0.0, 0.0, 0.3, 0.6, 0.8]))
    inputs = keras.Input((n_in,), name="x")
    x = QActivation(_q_bits(in_bits, max(1, in_bits // 3)), name="in_q")(inputs)
    x = QDense(n_out, kernel_quantizer=wq, bias_quantizer=_q_bits(8, 2), name="fc")(x)
    if act == "relu":
        x = QActivation(f"quantized_relu({out_bits},1)", name="act")(x)
    elif act == "sigmoid":
        x = QActivation(f"quantized_sigmoid({out_bits})", name="act")(x)
    model = keras.Model(inputs, x, name=name)
    layer = model.get_layer("fc")
    k, b = layer.get_weights()
    k = rng.normal(0, 0.6, size=k.shape) * (rng.random(k.shape) >= sparsity)
    layer.set_weights([k.astype("float32"), rng.normal(0, 0.5, size=b.shape).astype("float32")])
    desc = f"dense {n_in}->{n_out} in {in_bits}b w {wq} sparsity {sparsity} act {act}({out_bits})"
    return model, desc


def _conv_model(rng: np.random.Generator, name: str) -> tuple[Any, str]:
    import keras

    from fpgaq.layers import QActivation, QConv2D

    size = int(rng.choice([4, 5, 6]))
    cin = int(rng.choice([1, 2, 3]))
    filters = int(rng.choice([2, 3, 4]))
    in_bits = int(rng.choice([4, 6, 8]))
    w_bits = int(rng.integers(3, 7))
    pool = rng.choice(["none", "max", "avg"])
    inputs = keras.Input((size, size, cin), name="img")
    x = QActivation(f"quantized_relu({in_bits},1)", name="in_q")(inputs)
    x = QConv2D(
        filters, 3, kernel_quantizer=_q_bits(w_bits, 0), bias_quantizer=_q_bits(8, 2), padding="same", name="conv"
    )(x)
    x = QActivation(f"quantized_relu({in_bits},1)", name="act")(x)
    if pool == "max":
        x = keras.layers.MaxPooling2D(2, name="pool")(x)
    elif pool == "avg":
        x = keras.layers.AveragePooling2D(2, name="pool")(x)
    model = keras.Model(inputs, x, name=name)
    desc = f"conv2d {size}x{size}x{cin}->{filters} in {in_bits}b w {w_bits}b pool {pool}"
    return model, desc


def _big_dense_model(rng: np.random.Generator, name: str) -> tuple[Any, str]:
    """A layer of the size real networks have (hundreds to thousands of products), so the fit
    also sees the long carry chains and the deep sharing of large layers."""
    import keras

    from fpgaq.layers import QActivation, QDense

    n_in = int(rng.choice([16, 32, 64]))
    n_out = int(rng.choice([8, 16, 32]))
    in_bits = int(rng.choice([6, 8, 12, 16]))
    w_bits = int(rng.integers(3, 9))
    out_bits = int(rng.integers(4, 9))
    inputs = keras.Input((n_in,), name="x")
    x = QActivation(_q_bits(in_bits, max(1, in_bits // 3)), name="in_q")(inputs)
    x = QDense(n_out, kernel_quantizer=_q_bits(w_bits, 0), bias_quantizer=_q_bits(8, 2), name="fc")(x)
    x = QActivation(f"quantized_relu({out_bits},1)", name="act")(x)
    model = keras.Model(inputs, x, name=name)
    layer = model.get_layer("fc")
    k, b = layer.get_weights()
    layer.set_weights(
        [rng.normal(0, 0.6, size=k.shape).astype("float32"), rng.normal(0, 0.5, size=b.shape).astype("float32")]
    )
    return model, f"big dense {n_in}->{n_out} in {in_bits}b w {w_bits}b relu({out_bits})"


def _table_model(rng: np.random.Generator, name: str) -> tuple[Any, str, dict[str, Any]]:
    """A table layer alone (softmax, sigmoid or tanh) after an input quantizer, with its table size
    and entry type drawn: what the ``rom`` primitives and the softmax's sum, reciprocal and products cost.
    Returns the model, its description and the config that sets the tables."""
    import keras

    from fpgaq.layers import QActivation

    function = str(rng.choice(["softmax", "softmax", "sigmoid", "tanh"]))
    in_bits = int(rng.choice([6, 8, 10, 12, 14]))
    in_int = int(rng.integers(2, 5))
    size = int(rng.choice([64, 128, 256, 512, 1024]))
    entry_bits = int(rng.integers(6, 17))
    entry_int = 2 if function == "softmax" else int(rng.integers(1, 3))
    n = int(rng.choice([2, 3, 5, 8, 10])) if function == "softmax" else int(rng.choice([2, 4, 8, 12]))
    inputs = keras.Input((n,), name="x")
    x = QActivation(_q_bits(in_bits, in_int - 1), name="in_q")(inputs)
    x = keras.layers.Activation(function, name="table")(x)
    model = keras.Model(inputs, x, name=name)
    config = {"Model": {"TableSize": size, "TablePrecision": f"fixed<{entry_bits},{entry_int}>"}}
    desc = f"{function} of {n} in {in_bits}b ({in_int} int) table {size} x fixed<{entry_bits},{entry_int}>"
    return model, desc, config


def table_corpus(split: str = "fit", n: int = 12) -> list[CorpusItem]:
    """Table layers (``tab_*``): softmax, sigmoid and tanh of several sizes and widths."""
    base = 7000 if split == "fit" else 7500
    items = []
    for i in range(n):
        name = f"tab_{split}_{i:03d}"
        rng = np.random.default_rng(base + i)
        options = {"pipeline_every": int(rng.choice([0, 0, 1, 2])), "reuse_factor": 1, "multiplier": "auto"}

        def build(rng_seed: int = base + i, name: str = name, options: dict = options) -> Any:
            import keras

            from fpgaq.design import convert

            keras.utils.set_random_seed(rng_seed)
            model, _, config = _table_model(np.random.default_rng(rng_seed + 100_000), name)
            return _with_options(convert(model, config), options)

        _, desc, _ = _table_model(np.random.default_rng(base + i + 100_000), name)
        items.append(CorpusItem(name, split, f"{desc}; {options}", build))
    return items


def _options(rng: np.random.Generator, allow_fold: bool = True) -> dict[str, Any]:
    every = int(rng.choice([0, 0, 1, 2, 3, 4]))
    reuse = int(rng.choice([1, 1, 1, 2, 4])) if allow_fold else 1
    multiplier = str(rng.choice(["lut", "lut", "lut", "auto", "dsp"]))
    # drawn last, so the earlier draws (and so every design's other options) stay as they were
    adders = "ternary" if rng.random() < TERNARY_SHARE else "binary"
    return {"pipeline_every": every, "reuse_factor": reuse, "multiplier": multiplier, "adders": adders}


def _with_options(design: Any, options: dict[str, Any]) -> Any:
    from fpgaq.design import Design
    from fpgaq.ir.passes.requantize import with_options

    return Design(with_options(design.graph, **options), design.config)


def big_corpus(split: str = "fit", n: int = 8) -> list[CorpusItem]:
    """Large single layers (``big_*``), fully parallel, as the example networks are built."""
    base = 9000 if split == "fit" else 9500
    items = []
    for i in range(n):
        name = f"big_{split}_{i:03d}"
        options = {
            "pipeline_every": [0, 2, 3][i % 3],
            "reuse_factor": 1,
            "multiplier": "auto",
            "adders": "ternary" if i % 5 in (1, 3) else "binary",
        }

        def build(rng_seed: int = base + i, name: str = name, options: dict = options) -> Any:
            import keras

            from fpgaq.design import convert

            keras.utils.set_random_seed(rng_seed)
            model, _ = _big_dense_model(np.random.default_rng(rng_seed), name)
            return _with_options(convert(model), options)

        _, desc = _big_dense_model(np.random.default_rng(base + i), name)
        items.append(CorpusItem(name, split, f"{desc}; {options}", build))
    return items


def _fold_model(rng: np.random.Generator, name: str) -> tuple[Any, str, int]:
    """A dense layer folded deeply (ReuseFactor 8 to 32): general multipliers of held inputs by
    multiplexed weights, the structure the small corpus folds only 2 or 4 times.  Returns the model,
    its description and the ReuseFactor."""
    import keras

    from fpgaq.layers import QActivation, QDense

    n_in = int(rng.choice([16, 32]))
    n_out = int(rng.choice([4, 8, 16]))
    in_bits = int(rng.choice([6, 8, 12, 16]))
    w_bits = int(rng.integers(3, 9))
    reuse = int(rng.choice([8, 16, 32]))
    while reuse > n_in:
        reuse //= 2
    inputs = keras.Input((n_in,), name="x")
    x = QActivation(_q_bits(in_bits, max(1, in_bits // 3)), name="in_q")(inputs)
    x = QDense(n_out, kernel_quantizer=_q_bits(w_bits, 0), bias_quantizer=_q_bits(8, 2), name="fc")(x)
    x = QActivation("quantized_relu(8,2)", name="act")(x)
    model = keras.Model(inputs, x, name=name)
    return model, f"folded dense {n_in}->{n_out} in {in_bits}b w {w_bits}b reuse {reuse}", reuse


def fold_corpus(split: str = "fit", n: int = 8) -> list[CorpusItem]:
    """Deeply folded dense layers (``fold_*``), synthesized without DSP slices: what their general
    multipliers cost in LUTs (the small corpus has folded layers with DSPs)."""
    base = 8000 if split == "fit" else 8500
    items = []
    for i in range(n):
        name = f"fold_{split}_{i:03d}"
        _, desc, reuse = _fold_model(np.random.default_rng(base + i), name)
        options = {"pipeline_every": [0, 1, 2][i % 3], "reuse_factor": reuse, "multiplier": "lut"}

        def build(rng_seed: int = base + i, name: str = name, options: dict = options) -> Any:
            import keras

            from fpgaq.design import convert

            keras.utils.set_random_seed(rng_seed)
            model, _, _ = _fold_model(np.random.default_rng(rng_seed), name)
            return _with_options(convert(model), options)

        items.append(CorpusItem(name, split, f"{desc}; {options}; no DSP", build, use_dsp=False))
    return items


def corpus(split: str = "fit", n: int = 48, seed: int | None = None) -> list[CorpusItem]:
    """``n`` generated designs; the held-out split uses other seeds than the fitting one."""
    if split not in ("fit", "holdout"):
        raise ValueError(f"corpus: split {split!r} is not supported; use 'fit' or 'holdout'")
    base = (1000 if split == "fit" else 5000) if seed is None else seed
    items = []
    for i in range(n):
        rng = np.random.default_rng(base + i)
        kind = "conv" if i % 5 == 4 else "dense"
        name = f"cal_{split}_{i:03d}"
        options = _options(rng, allow_fold=True)

        def build(rng_seed: int = base + i, kind: str = kind, name: str = name, options: dict = options) -> Any:
            import keras

            from fpgaq.design import convert

            r = np.random.default_rng(rng_seed)
            keras.utils.set_random_seed(rng_seed)
            model, _ = (_conv_model if kind == "conv" else _dense_model)(r, name)
            return _with_options(convert(model), options)

        probe = np.random.default_rng(base + i)
        _, desc = (_conv_model if kind == "conv" else _dense_model)(probe, name)
        items.append(CorpusItem(name, split, f"{desc}; {options}", build))
    return items


# ----------------------------------------------------------------------------- measuring
def design_features(design: Any) -> dict[str, Any]:
    """The model's inputs for a whole design (summed over nodes), as stored with each record."""
    from fpgaq.rtl.features import FEATURES, graph_features

    nfs, latency, input_bits = graph_features(design.graph)
    totals = dict.fromkeys(FEATURES, 0.0)
    shapes: list[list[int]] = []
    for nf in nfs:
        for k, v in nf.features.counts.items():
            totals[k] += v
        shapes += [list(s) for s in nf.features.mul_shapes]
    return {"features": totals, "mul_shapes": shapes, "latency": latency, "input_bits": input_bits}


def measure(item: CorpusItem, flow: str, workdir: Path, dsp: bool | None = None) -> dict[str, Any]:
    """Synthesize one corpus design and return its record (features, Yosys counts, latency);
    ``dsp`` None: as the item says."""
    from fpgaq.sim.synth import synthesize_project

    design = item.build()
    project = workdir / item.name
    design.write_rtl(project, force=True, samples=0)
    manifest = json.loads((project / "fpgaq_rtl.json").read_text())
    start = time.perf_counter()
    use_dsp = item.use_dsp if dsp is None else dsp
    result, _ = synthesize_project(project, device=flow, dsp=use_dsp)
    return {
        "name": item.name,
        "split": item.split,
        "description": item.description,
        "use_dsp": use_dsp,
        **design_features(design),
        "rtl_latency": manifest["latency"],
        "synth": {
            "lut": result.luts,
            "ff": result.ffs,
            "carry": result.carry,
            "dsp": result.dsp,
            "bram36": result.bram36,
            "bram18": result.bram18,
            "srl": result.srl,
            "lutram": result.lutram,
            "logic_depth": result.logic_depth,
            "carry_depth": result.carry_depth,
        },
        "timing": timing_record(result.timing),
        "synth_seconds": round(time.perf_counter() - start, 1),
    }


#: Endpoints (destination registers and outputs) kept per design in the records, worst first.
ENDPOINTS_KEPT = 32
#: The columns of a record's ``timing["endpoints"]["rows"]``.
ENDPOINT_COLUMNS = ("endpoint", "kind", "delay_ns", "cell_ns", "nets", "lut_levels", "carry_cells", "start")


def timing_record(timing: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a delay model is fitted to, from :func:`fpgaq.sim.timing.critical_path`'s result: the
    critical path (``delay_ns`` with the ``routing_ns`` allowance per net, ``cell_ns``, ``nets``,
    ``lut_levels``, ``carry_cells``, ``kind``, ``start``, ``end``, ``worst_by_kind``) and the worst
    :data:`ENDPOINTS_KEPT` endpoints' paths as rows of :data:`ENDPOINT_COLUMNS`.  The critical path's
    cell-by-cell steps are left out (rebuild the design and synthesize it to see them).  None where
    the flow has no cell delays; a record already in this form is returned as it is."""
    if timing is None:
        return None
    kept = {k: v for k, v in timing.items() if k not in ("steps", "endpoints", "source")}
    endpoints = timing.get("endpoints", [])
    if isinstance(endpoints, dict):  # already compact
        return {**kept, "endpoints": endpoints}
    rows = [[e.get(c) for c in ENDPOINT_COLUMNS] for e in endpoints[:ENDPOINTS_KEPT]]
    return {**kept, "endpoints": {"columns": list(ENDPOINT_COLUMNS), "rows": rows, "total": len(endpoints)}}


# ----------------------------------------------------------------------------- fitting
def _lut_matrix(records: Iterable[dict[str, Any]], flow: str) -> tuple[np.ndarray, np.ndarray]:
    from fpgaq.resource_model import LUT_FEATURES, lut_terms

    rows, target = [], []
    for r in records:
        terms, _ = lut_terms(r["features"], r["mul_shapes"], flow, r.get("use_dsp", True))
        rows.append([terms[k] for k in LUT_FEATURES])
        target.append(r["synth"]["lut"])
    return np.array(rows, dtype=float), np.array(target, dtype=float)


def _ff_matrix(records: Iterable[dict[str, Any]], flow: str) -> tuple[np.ndarray, np.ndarray]:
    from fpgaq.resource_model import FF_FEATURES, ff_terms

    rows, target = [], []
    for r in records:
        terms = ff_terms(r["features"], r["input_bits"], r["latency"], const=1.0, synth_device=flow)
        rows.append([terms[k] for k in FF_FEATURES])
        target.append(r["synth"]["ff"])
    return np.array(rows, dtype=float), np.array(target, dtype=float)


def _nnls_relative(a: np.ndarray, y: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Non-negative coefficients minimizing the sum of absolute relative errors (iteratively
    reweighted least squares): the median error is what users read, and a few designs that
    synthesis shrinks for reasons the model does not see must not drag every estimate."""
    from scipy.optimize import nnls

    scale = 1.0 / np.maximum(y, 10.0)
    weights = np.ones_like(y)
    coef = np.zeros(a.shape[1])
    for _ in range(iterations):
        w = scale * np.sqrt(weights)
        coef, _ = nnls(a * w[:, None], y * w)
        rel = np.abs(a @ coef - y) * scale
        weights = 1.0 / np.maximum(rel, 0.01)
    return coef


def fit(records: list[dict[str, Any]], flow: str) -> dict[str, Any]:
    """Coefficients for one flow from its ``fit`` records, with errors on the held-out ones."""
    from fpgaq.resource_model import FF_FEATURES, LUT_FEATURES

    train = [r for r in records if r["split"] == "fit"]
    if len(train) < len(LUT_FEATURES) + 2:
        raise SettingError(f"calibrate: {len(train)} fitting designs for {flow} are too few to fit the model")
    a, y = _lut_matrix(train, flow)
    lut = dict(zip(LUT_FEATURES, (float(round(c, 4)) for c in _nnls_relative(a, y))))
    unseen = [k for k, column in zip(LUT_FEATURES, a.T) if not column.any()]
    for k in unseen:  # no fitting design has it: a stated stand-in rather than a silent zero
        if k in UNFITTED_STAND_INS:
            base, factor = UNFITTED_STAND_INS[k]
            lut[k] = float(round(lut[base] * factor, 4))
    a, y = _ff_matrix(train, flow)
    ff = dict(zip(FF_FEATURES, (float(round(c, 4)) for c in _nnls_relative(a, y))))
    out: dict[str, Any] = {"lut": lut, "ff": ff, "designs": len(train)}
    if unseen:
        out["unfitted"] = {
            k: f"{lut[k]} ({UNFITTED_STAND_INS[k][1]} x {UNFITTED_STAND_INS[k][0]})"
            if k in UNFITTED_STAND_INS
            else "0 (no design)"
            for k in unseen
        }
    return out


def errors(records: list[dict[str, Any]], coef: dict[str, Any], flow: str) -> dict[str, Any]:
    """Median and worst relative errors of LUT and FF predictions over ``records``."""
    from fpgaq.resource_model import FF_FEATURES, LUT_FEATURES

    if not records:
        return {}
    a, y = _lut_matrix(records, flow)
    pred = a @ np.array([coef["lut"].get(k, 0.0) for k in LUT_FEATURES])
    lut_err = np.abs(pred - y) / np.maximum(y, 1)
    a, y = _ff_matrix(records, flow)
    pred_ff = a @ np.array([coef["ff"][k] for k in FF_FEATURES])
    ff_err = np.abs(pred_ff - y) / np.maximum(y, 1)
    return {
        "designs": len(records),
        "lut_median_error": float(round(np.median(lut_err), 4)),
        "lut_max_error": float(round(lut_err.max(), 4)),
        "ff_median_error": float(round(np.median(ff_err), 4)),
        "ff_max_error": float(round(ff_err.max(), 4)),
    }


# ----------------------------------------------------------------------------- the command
def _records_path(flow: str, data_dir: Path) -> Path:
    return data_dir / "calibration" / f"{flow}.json"


def all_items(
    n_fit: int = 48, n_holdout: int = 24, n_big: int = 8, n_table: int = 12, n_fold: int = 8
) -> list[CorpusItem]:
    """The whole corpus: table layers, small layers, large dense layers and deeply folded ones, each
    with a held-out part."""
    items = table_corpus("fit", n_table) + table_corpus("holdout", n_table // 2)
    items += corpus("fit", n_fit) + corpus("holdout", n_holdout)
    items += big_corpus("fit", n_big) + big_corpus("holdout", n_big // 2)
    return items + fold_corpus("fit", n_fold) + fold_corpus("holdout", n_fold // 2)


def _write_records(path: Path, data: dict[str, Any]) -> None:
    """One record per line (readable, and a re-run changes only the lines of the designs that changed);
    written whole or not at all."""
    head = {k: v for k, v in data.items() if k != "records"}
    records = [{**r, "timing": timing_record(r.get("timing"))} for r in data["records"]]
    lines = ",\n".join(json.dumps(r, separators=(",", ":")) for r in records)
    text = json.dumps(head, indent=1)[:-2] + ',\n "records": [\n' + lines + "\n ]\n}\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run_calibration(
    flows: Iterable[str] = FLOWS,
    n_fit: int = 48,
    n_holdout: int = 24,
    data_dir: str | os.PathLike[str] | None = None,
    resynthesize: bool = True,
    progress: bool = True,
    recompute: bool = True,
    n_big: int = 8,
    n_table: int = 12,
) -> dict[str, Any]:
    """Synthesize the corpus for each flow (unless ``resynthesize`` is False: then refit the stored
    records, recomputing their features with today's code when ``recompute``), fit, and write the
    records and ``resource_model.json`` into ``data_dir``.  The corpus: ``n_fit`` + ``n_holdout``
    small generated layers and ``n_big`` + ``n_big // 2`` large dense layers.

    The shipped data was made with ``fpgaq calibrate -o fpgaq/data --flow xc7 --force`` (48 + 24 + 8 + 4
    designs) and ``--flow xcup --flow generic-lut4 --fit 32 --holdout 16`` (generic-lut4 holds 3 of the
    large layers: ``abc -lut 4`` on the 64x32 ones takes very long)."""
    from fpgaq.sim.synth import find_yosys

    out_dir = Path(data_dir) if data_dir is not None else _DATA
    model_path = out_dir / "resource_model.json"
    shipped = json.loads(model_path.read_text()) if model_path.is_file() else {"flows": {}}
    yosys = find_yosys()
    for flow in flows:
        if flow not in FLOWS:
            raise SettingError(f"calibrate: flow {flow!r} is not supported; choose from {', '.join(FLOWS)}")
        path = _records_path(flow, out_dir)
        if resynthesize:
            items = all_items(n_fit, n_holdout, n_big, n_table)
            records = []
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f"fpgaq-calibrate-{flow}-") as tmp:
                for k, item in enumerate(items):
                    rec = measure(item, flow, Path(tmp))
                    records.append(rec)
                    # written after every design, so an interrupted run keeps what it synthesized
                    _write_records(path, {"flow": flow, "yosys": yosys.version, "records": records})
                    if progress:
                        print(
                            f"[{flow} {k + 1}/{len(items)}] {item.name}: {rec['synth']['lut']} LUT "
                            f"{rec['synth']['ff']} FF {rec['synth']['dsp']} DSP ({rec['synth_seconds']} s)",
                            flush=True,
                        )
        else:
            records = json.loads(path.read_text())["records"]
            if recompute:  # the same designs (the corpus is seeded), today's feature extraction
                items_by_name = {it.name: it for it in all_items(n_fit, n_holdout, n_big, n_table)}
                for r in records:
                    if r["name"] in items_by_name:
                        r.update(design_features(items_by_name[r["name"]].build()))
                _write_records(path, {**json.loads(path.read_text()), "records": records})
        coef = fit(records, flow)
        coef["holdout"] = errors([r for r in records if r["split"] == "holdout"], coef, flow)
        coef["train"] = errors([r for r in records if r["split"] == "fit"], coef, flow)
        shipped["flows"][flow] = coef
        if progress:
            print(f"{flow}: {json.dumps(coef)}", flush=True)
    shipped["schema"] = "fpgaq-resource-model/1"
    shipped["source"] = f"Yosys {yosys.version.split(' (')[0]} synth on a corpus of generated layers"
    model_path.write_text(json.dumps(shipped, indent=1, sort_keys=True) + "\n")
    return shipped
