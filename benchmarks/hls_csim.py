"""HLS C-simulation build time of the jet tagger, fpgaq against hls4ml 1.3.0 on the same weights.

fpgaq: ``fpgaq.sim.csim.compile_design`` (render the project, build the g++
shared library, load it) from an empty ``FPGAQ_CACHE`` each time, for the
jet tagger (16-64-32-32-5) with its softmax table and without the softmax;
each library is checked bit for bit against ``design.predict``.

hls4ml: the same network and weights rebuilt from QKeras layers and timed
through ``hls_model.compile()`` (write the project, build, load) into an
empty directory each time, in a side venv (hls4ml 1.3.0, QKeras 0.9,
tf_keras) that this script builds once with ``tests/fixtures/sidevenv.py``;
``benchmarks/hls_csim_inside.py`` is the part that runs there.  hls4ml is a
baseline, not a dependency: ``--no-hls4ml`` prints fpgaq's figures alone.

Both sides print the median of ``--repeats`` builds and the load average of
the machine while they ran (builds are single-threaded g++ runs, so a busy
machine stretches them).  Run: ``python benchmarks/hls_csim.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's fpgaq, whatever the environment has installed
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import keras  # noqa: E402
import numpy as np  # noqa: E402
from sidevenv import ensure_venv  # noqa: E402 (a test fixture module, found through the path above)

from fpgaq import datasets, zoo  # noqa: E402
from fpgaq.design import Design, convert  # noqa: E402
from fpgaq.sim.csim import compile_design  # noqa: E402
from fpgaq.train import train_classifier  # noqa: E402

HLS4ML_REQUIREMENTS = [
    "tensorflow-cpu==2.21.*",
    "tf_keras==2.21.*",
    "qkeras==0.9.0",
    "hls4ml==1.3.0",
    "pyparsing",
    "h5py",
]
INSIDE = Path(__file__).resolve().parent / "hls_csim_inside.py"
DENSE_LAYERS = ("fc1", "fc2", "fc3", "output")


def jet_tagger() -> keras.Model:
    """The zoo's jet tagger after one epoch on jet-like data, so the weights are not the initial ones."""
    x, y = datasets.jet_like(10_000, seed=0)
    model = zoo.jet_tagger()
    train_classifier(model, x, y, epochs=1)
    return model


def without_softmax(model: keras.Model) -> keras.Model:
    return keras.Model(model.inputs, model.get_layer("output").output, name="jet_tagger_logits")


def fpgaq_build_seconds(design: Design, x: np.ndarray) -> float:
    """One C-simulation build from an empty cache, checked bit for bit against the reference."""
    saved = os.environ.get("FPGAQ_CACHE")
    with tempfile.TemporaryDirectory(prefix="fpgaq-csim-cache-") as cache:
        os.environ["FPGAQ_CACHE"] = cache
        try:
            start = time.perf_counter()
            compiled = compile_design(design)
            seconds = time.perf_counter() - start
        finally:
            if saved is None:
                os.environ.pop("FPGAQ_CACHE", None)
            else:
                os.environ["FPGAQ_CACHE"] = saved
        if not np.array_equal(compiled.predict(x), design.predict(x)):
            raise AssertionError(f"the C-simulation of {design.graph.name!r} is not bit-exact with design.predict")
    return seconds


def hls4ml_build_seconds(model: keras.Model, repeats: int) -> dict[str, list[float]]:
    """hls4ml's build times, softmax and no_softmax, from the side venv."""
    py = ensure_venv("hls4ml", HLS4ML_REQUIREMENTS)
    with tempfile.TemporaryDirectory(prefix="fpgaq-hls4ml-") as tmp:
        weights = Path(tmp) / "weights.npz"
        arrays = {}
        for name in DENSE_LAYERS:
            kernel, bias = model.get_layer(name).get_weights()[:2]
            arrays[f"{name}/kernel"], arrays[f"{name}/bias"] = kernel, bias
        np.savez(weights, **arrays)
        out = Path(tmp) / "seconds.json"
        cmd = [str(py), str(INSIDE), "--inside", "--weights", str(weights), "--repeats", str(repeats)]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_USE_LEGACY_KERAS": "1"}
        subprocess.run([*cmd, "--out", str(out)], env=env, check=True, stderr=subprocess.DEVNULL)
        return json.loads(out.read_text())


def _line(label: str, seconds: list[float], load: float) -> str:
    runs = ", ".join(f"{s:.2f}" for s in seconds)
    return f"  {label:<34}: median {statistics.median(seconds):6.2f} s   (runs {runs}; load {load:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="builds per variant (default 5)")
    parser.add_argument("--no-hls4ml", action="store_true", help="skip the hls4ml baseline (no side venv)")
    args = parser.parse_args()

    model = jet_tagger()
    x = datasets.jet_like(2_000, seed=1)[0]
    variants = {"softmax": convert(model), "no_softmax": convert(without_softmax(model))}
    ours: dict[str, list[float]] = {}
    loads: dict[str, float] = {}
    for label, design in variants.items():
        ours[label] = [fpgaq_build_seconds(design, x) for _ in range(args.repeats)]
        loads[label] = os.getloadavg()[0]
    cores = os.cpu_count()
    print(f"HLS C-simulation build of the jet tagger from an empty cache ({args.repeats} builds each, {cores} cores)")
    print("fpgaq (compile_design: render, g++, load; bit-exact with design.predict)")
    print(_line("with the softmax table", ours["softmax"], loads["softmax"]))
    print(_line("without the softmax", ours["no_softmax"], loads["no_softmax"]))
    if args.no_hls4ml:
        return
    try:
        theirs = hls4ml_build_seconds(model, args.repeats)
    except (subprocess.CalledProcessError, OSError) as err:
        print(f"hls4ml baseline not measured: its side venv or run failed ({err})")
        return
    load = os.getloadavg()[0]
    print(f"hls4ml {theirs['hls4ml']} (hls_model.compile(): write, g++, load; Vitis back end, io_parallel)")
    print(_line("with the softmax", theirs["softmax"], load))
    print(_line("without the softmax", theirs["no_softmax"], load))
    for label in ("softmax", "no_softmax"):
        ratio = statistics.median(theirs[label]) / statistics.median(ours[label])
        print(f"  fpgaq is {ratio:.1f}x faster to build ({label.replace('_', ' ')})")


if __name__ == "__main__":
    main()
