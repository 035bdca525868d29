"""The random-model soak: reference == Keras == C-simulation == RTL, bit for bit, on many random models.

    python benchmarks/soak.py --models 1000 --samples 1000 [--start SEED] [--workers 2] [--cache DIR]

Each seed draws a model with ``fpgaq.testing.random_models.soak_spec`` (dense,
convolutions, depthwise, separable, pooling incl. global, zero padding,
quantized batch normalization, every activation quantizer family that is exact
against Keras, a family per layer, learned precision) and one RTL variant with
``soak_variant`` (pipeline_every 0/1/3, reuse_factor 1/2/3, multiplier
lut/dsp/auto: pipelined and folded).  Its inputs are the design's edge rows
(just past both ends of the range, zero, half an LSB) and then
``random_inputs``: the range, beyond it (saturation) and exact midpoints.

For every model the fixed-point reference (``design.predict``) is compared with
Keras' ``model.predict`` as float values, and with the C-simulation
(``predict_hls``) and the Verilator-compiled RTL (``predict_rtl``,
``optimize=False``: for a thousand samples the build is the cost) for equality.
A mismatch prints its seed, the variant, the first differing sample and element
and the spec, so ``--start SEED --models 1`` reproduces it.  A model fpgaq
refuses with an FpgaqError is counted as refused (the generator should draw
none).  Exit code 1 on any mismatch, crash or refusal.

Keras' float32 depends on where it runs, and fpgaq follows one or the other:
``quantized_ulaw``'s levels are ``model.predict``'s (its compiled ``log1p``
vector values, see ``fpgaq/ir/ops/ulaw.py``), ``quantized_hswish``'s are the
eager call's (``model(x)``, which ``predict`` differs from at some ties: e.g.
``quantized_hswish(7,3)`` of 3.3125 is 3.25 eagerly and exactly, 3.375 in
``predict``).  So an element of the reference must equal Keras' ``predict`` or
its eager call; the summary counts the models where the two differ.  Keras
runs on a sample count padded to a multiple of 8 (copies of the first rows, cut
off again): the compiled ``log1p`` takes a scalar path with another last bit on
the last ``n mod 8`` elements of a tensor.

Libraries go to an isolated ``FPGAQ_CACHE`` (a temporary directory unless
``--cache``), so a run does not leave a thousand builds in the user's cache.
Workers are spawned processes, each with its own seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

#: The back ends compared with the reference, in the order they run.
BACKENDS = ("keras", "csim", "rtl")
#: Stages whose seconds the summary reports.
STAGES = ("keras", "convert", "reference", "csim", "rtl")
#: Edge rows in front of each model's random inputs (both saturation directions, zero, a tie).
EDGE_ROWS = 8
#: Keras' sample count is padded to a multiple of this (see the module docstring).
KERAS_ROW_MULTIPLE = 8


@dataclasses.dataclass
class SeedResult:
    """What one seed's model did: ``status`` is ok, mismatch, refused or crashed."""

    seed: int
    status: str
    describe: str = ""
    variant: str = ""
    messages: list[str] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    keras_contexts_differ: bool = False


def _variant_text(options: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in options.items())


def with_rtl_options(design: Any, **options: Any) -> Any:
    """The same design with RTL implementation options (reuse_factor, pipeline_every, multiplier) set
    where they apply, as a sweep sets them; they never change a number."""
    import fpgaq
    from fpgaq.ir.passes.requantize import with_options

    return fpgaq.Design(with_options(design.graph, **options), design.config)


def first_difference(want: np.ndarray, got: np.ndarray, alternative: np.ndarray | None = None) -> str | None:
    """The first sample and element where ``got`` differs from ``want``, and how many differ; None if equal.

    With ``alternative`` (Keras' eager result beside its ``predict``), an element differs only if it
    differs from both.
    """
    want, got = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if want.shape != got.shape:
        return f"shape {got.shape} != {want.shape}"
    differs = want != got
    alt = None if alternative is None else np.asarray(alternative, dtype=np.float64).reshape(want.shape)
    if alt is not None:
        differs &= want != alt
    bad = np.argwhere(differs)
    if len(bad) == 0:
        return None
    where = tuple(int(v) for v in bad[0])
    count = f"{len(bad)} of {want.size} elements differ"
    eager = "" if alt is None else f", eager call {float(alt[where])!r}"
    values = f"{float(got[where])!r}{eager} != reference {float(want[where])!r}"
    return f"sample {where[0]} element {where[1:]}: {values} ({count})"


def _outputs(y: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in (y if isinstance(y, list) else [y])]


def _keras_predict(model: Any, x: np.ndarray) -> list[np.ndarray]:
    """``model.predict`` on ``x`` padded to a multiple of KERAS_ROW_MULTIPLE rows, cut back to ``len(x)``."""
    pad = -len(x) % KERAS_ROW_MULTIPLE
    xp = np.concatenate([x, np.resize(x, (pad, *x.shape[1:]))]) if pad else x
    return [y[: len(x)] for y in _outputs(model.predict(xp, verbose=0))]


def _keras_eager(model: Any, x: np.ndarray) -> list[np.ndarray]:
    import keras

    return [keras.ops.convert_to_numpy(y) for y in _outputs_of(model(x, training=False))]


def _outputs_of(y: Any) -> list[Any]:
    return list(y) if isinstance(y, (list, tuple)) else [y]


def soak_inputs(spec: Any, design: Any, samples: int, seed: int) -> np.ndarray:
    """The design's edge rows, then ``random_inputs`` (range, saturation, midpoints): ``samples`` rows."""
    from fpgaq.testing.inputs import edge_inputs
    from fpgaq.testing.random_models import random_inputs

    edges = edge_inputs(design, min(EDGE_ROWS, samples), seed, extremes=True)[0].astype(np.float32)
    rest = random_inputs(spec, max(samples - len(edges), 0), seed)
    return np.concatenate([edges, rest])[:samples]


def check_seed(seed: int, samples: int, backends: Sequence[str] = BACKENDS) -> SeedResult:
    """Build, convert and run seed ``seed``'s model on every back end; compare each with the reference."""
    import keras

    import fpgaq
    from fpgaq.errors import FpgaqError
    from fpgaq.testing.random_models import build_model, soak_spec, soak_variant

    spec = soak_spec(seed)
    options = soak_variant(seed)
    result = SeedResult(seed, "ok", spec.describe(), _variant_text(options))
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.seconds[stage] = result.seconds.get(stage, 0.0) + now - clock
        clock = now

    try:
        model = build_model(spec)
        lap("keras")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            design = with_rtl_options(fpgaq.convert(model), **options)
        lap("convert")
        x = soak_inputs(spec, design, samples, seed)
        want = _outputs(design.predict(x))
        lap("reference")
        runs = {
            "keras": lambda: _keras_predict(model, x),
            "csim": lambda: _outputs(design.predict_hls(x)),
            "rtl": lambda: _outputs(design.predict_rtl(x, optimize=False)),
        }
        for backend in backends:
            got = runs[backend]()
            alternatives: list[Any] = [None] * len(got)
            if backend == "keras":  # TensorFlow's two float32 contexts: see the module docstring
                alternatives = _keras_eager(model, x)
                result.keras_contexts_differ = any(not np.array_equal(g, a) for g, a in zip(got, alternatives))
            lap(backend)
            for i, (w, g, a) in enumerate(zip(want, got, alternatives)):
                diff = first_difference(w, g, a)
                if diff is not None:
                    result.status = "mismatch"
                    result.messages.append(f"{backend} != reference on output {i} at {diff}")
    except FpgaqError as err:
        result.status = "refused"
        result.messages.append(f"{type(err).__name__}: {err}")
    except Exception as err:  # a crash is a finding: report it with the seed and go on
        result.status = "crashed"
        last = traceback.extract_tb(err.__traceback__)[-1]
        result.messages.append(f"{type(err).__name__}: {err} (at {last.filename}:{last.lineno})")
    finally:
        keras.utils.clear_session()  # a thousand models in one process: free each one's graph
    return result


def _check_task(task: tuple[int, int, tuple[str, ...]]) -> SeedResult:
    return check_seed(*task)


def _quiet_worker() -> None:
    """Worker start-up: no TensorFlow banner or Python warnings between the soak's lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.simplefilter("ignore")


def run_seeds(seeds: Sequence[int], samples: int, workers: int, backends: Sequence[str]) -> Iterator[SeedResult]:
    """Each seed's result as it finishes: in this process for one worker, else in spawned processes."""
    tasks = [(seed, samples, tuple(backends)) for seed in seeds]
    if workers <= 1:
        yield from map(_check_task, tasks)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_quiet_worker, maxtasksperchild=50) as pool:
        yield from pool.imap_unordered(_check_task, tasks)


def report_line(result: SeedResult) -> str:
    """One line per failing seed: everything needed to reproduce it (``--start SEED --models 1``)."""
    messages = "; ".join(result.messages)
    return f"{result.status.upper()} seed {result.seed} [{result.variant}]: {messages} | model: {result.describe}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000, help="how many seeds (default 1000)")
    parser.add_argument("--samples", type=int, default=1000, help="inputs per model (default 1000)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--cache", help="FPGAQ_CACHE for the builds (default: a temporary directory)")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"compared with the reference (default {','.join(BACKENDS)})"
    )
    parser.add_argument("--progress", type=int, default=25, help="a progress line every N models (0: none)")
    parser.add_argument("--time-limit", type=float, default=0.0, help="stop after this many seconds (0: none)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; 0 if every model agreed on every back end, 1 otherwise."""
    args = _parser().parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        print(f"soak: unknown back end(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fpgaq-soak-") as scratch:
        saved = os.environ.get("FPGAQ_CACHE")
        os.environ["FPGAQ_CACHE"] = args.cache or scratch  # spawned workers inherit it
        try:
            return _soak(args, backends)
        finally:
            if saved is None:
                os.environ.pop("FPGAQ_CACHE", None)
            else:
                os.environ["FPGAQ_CACHE"] = saved


def _soak(args: argparse.Namespace, backends: list[str]) -> int:
    from fpgaq.testing.random_models import SOAK_EXCLUDED

    print(
        f"soak: seeds {args.start}..{args.start + args.models - 1}, {args.samples} samples each, "
        f"reference vs {', '.join(backends)}, {args.workers} worker(s), cache {os.environ['FPGAQ_CACHE']}"
    )
    print("soak: not drawn (and why):")
    for what, why in SOAK_EXCLUDED.items():
        print(f"  - {what}: {why}")
    sys.stdout.flush()
    start = time.perf_counter()
    seeds = range(args.start, args.start + args.models)
    counts = dict.fromkeys(("ok", "mismatch", "refused", "crashed"), 0)
    contexts_differ = 0
    seconds = dict.fromkeys(STAGES, 0.0)
    done = 0
    results = run_seeds(seeds, args.samples, args.workers, backends)
    for result in results:
        done += 1
        counts[result.status] += 1
        contexts_differ += result.keras_contexts_differ
        for stage, s in result.seconds.items():
            seconds[stage] += s
        if result.status != "ok":
            print(report_line(result), flush=True)
        if args.progress and done % args.progress == 0:
            rate = done / (time.perf_counter() - start) * 3600
            failed = done - counts["ok"]
            print(f"soak: progress {done}/{args.models} models, {failed} failing, {rate:.0f} models/hour", flush=True)
        if args.time_limit and time.perf_counter() - start > args.time_limit and done < args.models:
            print(f"soak: time limit of {args.time_limit:.0f} s reached after {done} of {args.models} models")
            break
    results.close()  # a pool left early is terminated here
    elapsed = time.perf_counter() - start
    stage_text = " ".join(f"{stage} {seconds[stage]:.1f}" for stage in STAGES)
    print(
        f"soak: {done} models checked, {counts['mismatch']} mismatches, {counts['refused']} refused, "
        f"{counts['crashed']} crashed in {elapsed:.0f} s: {done / elapsed * 3600:.0f} models/hour "
        f"with {args.workers} worker(s)"
    )
    print(
        f"soak: {contexts_differ} models where Keras' model.predict and its eager call differ "
        "(the reference must equal one of them on every element)"
    )
    print(f"soak: seconds per stage (summed over models): {stage_text}", flush=True)
    return 0 if done == counts["ok"] else 1


SUMMARY = re.compile(r"soak: (\d+) models checked, (\d+) mismatches, (\d+) refused, (\d+) crashed")


if __name__ == "__main__":
    sys.exit(main())
