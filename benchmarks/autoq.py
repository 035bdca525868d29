"""AutoQ in quick mode on the jet tagger (synthetic jet-like data) and the digits CNN.

For each model: train the float model, train the 8-bit reference (every
kernel and bias ``quantized_bits(8,0,1)``, every ReLU ``quantized_relu(8)``)
with the same QAT recipe as each trial, run a 20-trial AutoQ search, then
measure the best model (by the forgiving factor) on held-out test data.

Targets (issue 7): the best model costs >= 2x less than the 8-bit reference,
and loses <= 2 points of test accuracy against it.

    python benchmarks/autoq.py            # both models, 20 trials each
    python benchmarks/autoq.py --trials 8 # a smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from fpgaq import datasets, zoo
from fpgaq.autoq import AutoQ
from fpgaq.train import accuracy, train_classifier

#: Quick mode: few epochs of QAT per trial from the trained float weights, a subsample of the data.
CASES = {
    "jet_tagger": {
        "data": lambda: datasets.jet_like(8000, seed=0),
        "model": lambda: zoo.jet_tagger(quantized=False),
        "float_epochs": 8,
        "epochs": 3,
        # delta_p: a halving of the energy is worth 3 % of accuracy (about 2 points here).
        "goal": {"type": "energy", "params": {"delta_p": 3.0, "delta_n": 3.0, "rate": 2.0}},
    },
    "digits_cnn": {
        "data": datasets.digits,
        "model": lambda: zoo.digits_cnn(quantized=False),
        "float_epochs": 30,
        "epochs": 6,
        # AutoQKeras' default: a halving of the energy is worth 8 % of accuracy.
        "goal": {"type": "energy", "params": {"delta_p": 8.0, "delta_n": 8.0, "rate": 2.0}},
    },
}
TARGET_RATIO = 2.0
TARGET_LOSS_POINTS = 2.0


def run_case(name: str, trials: int, seed: int = 0) -> dict[str, float]:
    case = CASES[name]
    x, y = case["data"]()
    x_train, y_train, x_test, y_test = datasets.train_test_split(x, y, test_fraction=0.25, seed=seed)
    x_fit, y_fit, x_val, y_val = datasets.train_test_split(x_train, y_train, test_fraction=0.2, seed=seed)
    start = time.perf_counter()
    float_model = case["model"]()
    train_classifier(float_model, x_fit, y_fit, epochs=case["float_epochs"], seed=seed)
    float_acc = accuracy(float_model, x_test, y_test)

    search = AutoQ(float_model, goal=case["goal"], seed=seed, study_name=f"bench-{name}")
    reference = search.reference_model
    train_classifier(reference, x_fit, y_fit, epochs=case["epochs"], seed=seed)
    ref_acc = accuracy(reference, x_test, y_test)

    search.fit(x_fit, y_fit, validation_data=(x_val, y_val), epochs=case["epochs"], n_trials=trials)
    best = search.best()
    best_acc = accuracy(search.best_model(), x_test, y_test)
    pruned = trials - len(search.completed())
    return {
        "float_acc": float_acc,
        "ref_acc": ref_acc,
        "best_acc": best_acc,
        "ratio": best.cost_ratio,
        "loss": 100 * (ref_acc - best_acc),
        "front": len(search.pareto_front(models=False)),
        "pruned": pruned,
        "seconds": time.perf_counter() - start,
        "best_quantizers": best.quantizers,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--models", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    rows = {name: run_case(name, args.trials) for name in args.models}
    print(f"\nAutoQ quick mode, {args.trials} trials per model, goal energy (QTools pJ), test accuracy")
    header = (
        f"{'model':12} {'float':>7} {'8-bit':>7} {'best':>7} {'loss pts':>8} {'cost 8b/best':>12} "
        f"{'front':>5} {'pruned':>6} {'time s':>7}  target"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for name, r in rows.items():
        passed = r["ratio"] >= TARGET_RATIO and r["loss"] <= TARGET_LOSS_POINTS
        ok &= passed
        print(
            f"{name:12} {100 * r['float_acc']:6.2f}% {100 * r['ref_acc']:6.2f}% {100 * r['best_acc']:6.2f}% "
            f"{r['loss']:8.2f} {r['ratio']:11.2f}x {r['front']:5d} {r['pruned']:6d} {r['seconds']:7.1f}  "
            f"{'PASS' if passed else 'FAIL'}"
        )
    for name, r in rows.items():
        print(f"\n{name} best quantizers:")
        for layer, choice in r["best_quantizers"].items():
            print(f"  {layer:10} " + ", ".join(f"{k}={v}" for k, v in choice.items()))
    print(
        f"\ntargets: cost >= {TARGET_RATIO:g}x lower than the 8-bit reference, accuracy loss <= {TARGET_LOSS_POINTS:g} "
        f"points: {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
