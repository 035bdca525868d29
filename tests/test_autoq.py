"""AutoQ: validation, the forgiving factor, the search space rules, shared studies, results."""

from __future__ import annotations

import csv
import math
import multiprocessing
from pathlib import Path

import keras
import numpy as np
import pytest

from fpgaq.autoq import AutoQ, AutoQError, bits_cost, forgiving_factor, pareto_mask
from fpgaq.qstats import quantizer_kind

QCONFIG = {
    "kernel": {"ternary": 2, "quantized_bits(4,0,alpha=1)": 4, "quantized_bits(8,0,alpha=1)": 8},
    "bias": {"quantized_bits(4,0,alpha=1)": 4, "quantized_bits(8,3,alpha=1)": 8},
    "activation": {"quantized_relu(3,1)": 3, "quantized_relu(4,2)": 4, "quantized_relu(8,3)": 8},
}


def tiny_model() -> keras.Model:
    """4 -> h1 (8, relu) -> h2 (8, relu) -> out (3) -> softmax."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="h1")(inputs)
    h = keras.layers.Dense(8, activation="relu", name="h2")(h)
    h = keras.layers.Dense(3, name="out")(h)
    outputs = keras.layers.Activation("softmax", name="softmax")(h)
    return keras.Model(inputs, outputs, name="tiny")


def tiny_data(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4, dtype=np.float32)[y] * 2.0
    return x, y


def search(**kwargs) -> AutoQ:
    kwargs.setdefault("quantization_config", QCONFIG)
    kwargs.setdefault("goal", {"type": "bits"})
    return AutoQ(tiny_model(), **kwargs)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantization_config": {"weights": {"ternary": 2}}}, "unknown field 'weights'"),
        ({"quantization_config": {**QCONFIG, "kernel": {"ternary": 0}}}, "must be a positive number of bits"),
        ({"quantization_config": {**QCONFIG, "kernel": {"quantised_bitz(4)": 4}}}, "is not a quantizer fpgaq knows"),
        ({"quantization_config": {"kernel": QCONFIG["kernel"]}}, "field 'bias' is missing"),
        ({"goal": {"type": "area"}}, "goal.type: 'area' is not supported"),
        ({"goal": {"type": "bits", "params": {"rate": 1.0}}}, "goal.params.rate: must be a number > 1"),
        ({"goal": {"type": "bits", "params": {"delta_p": -1}}}, "goal.params.delta_p: must be a percentage >= 0"),
        ({"goal": {"type": "bits", "params": {"device": "x"}}}, "goal.params.device: not a parameter of the 'bits'"),
        ({"goal": {"type": "fpga", "params": {"metric": "ff"}}}, "use 'lut' or 'latency'"),
        ({"tune_filters": "all"}, "tune_filters: 'all' is not supported; use 'none', 'layer'"),
        ({"schedule_block": "random"}, "schedule_block: 'random' is not supported"),
        ({"sampler": "cmaes"}, "sampler: 'cmaes' is not supported"),
        ({"limit": {"Dense": [["binary"], 8, 8]}}, "quantizers ['binary'] for kernel of layer 'h1' are not in"),
        ({"limit": {"Dense": 1}}, "leaves no kernel quantizer for layer 'h1'"),
        ({"limit": {"h[": 4}}, "is not a valid regular expression"),
        ({"groups": ["conv.*"]}, "groups[0]: 'conv.*' matches no searchable layer"),
        ({"blocks": ["h1", "nothing"]}, "blocks[1]: 'nothing' matches no searchable layer"),
        ({"blocks": ["h1", "h2|out"], "groups": ["h[12]"]}, "its layers fall in different blocks"),
    ],
)
def test_bad_settings_name_the_setting_and_the_fix(kwargs, message):
    with pytest.raises(AutoQError) as err:
        search(**kwargs)
    assert message in str(err.value)


def test_a_quantized_model_is_refused_with_the_fix():
    from fpgaq import zoo

    with pytest.raises(AutoQError, match=r"already quantized .*pass the float twin"):
        AutoQ(zoo.jet_tagger(quantized=True), QCONFIG, "bits")


def test_fit_checks_its_arguments():
    x, y = tiny_data()
    with pytest.raises(AutoQError, match="fit epochs: must be an integer >= 1"):
        search().fit(x, y, epochs=0, n_trials=1)


# ------------------------------------------------------------------------------ forgiving factor
def test_forgiving_factor_matches_hand_computation():
    # 4x cheaper at rate 2 is two halvings, each worth delta_p = 8 %: 1 + 0.08 * 2.
    assert forgiving_factor(1000.0, 250.0) == pytest.approx(1.16)
    # stress 0.5 halves the reference: one halving left.
    assert forgiving_factor(1000.0, 250.0, stress=0.5) == pytest.approx(1.08)
    # 4x dearer with delta_n = 4: 1 - 0.04 * 2.
    assert forgiving_factor(1000.0, 4000.0, delta_p=8.0, delta_n=4.0) == pytest.approx(0.92)
    # rate 4: 16x cheaper is two steps of 4x.
    assert forgiving_factor(1600.0, 100.0, delta_p=5.0, rate=4.0) == pytest.approx(1.10)
    assert forgiving_factor(10.0, 10.0) == 1.0


def test_score_is_accuracy_times_the_factor():
    aq = search()
    ff, score = aq.score(0.5, aq.reference_cost / 2)
    assert ff == pytest.approx(1.08)
    assert score == pytest.approx(0.54)


def test_bits_cost_counts_parameters_and_activations_by_hand():
    aq = search()
    # 8-bit reference: weights (4*8+8 + 8*8+8 + 8*3+3) * 8 bits, relu outputs (8 + 8) * 8 bits,
    # 4 inputs at 8 bits, softmax outputs 3 at 8 bits; the linear 'out' output is not stored.
    params = (4 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)
    assert aq.reference_cost == params * 8 + 16 * 8 + 4 * 8 + 3 * 8
    assert bits_cost(aq.reference_model) == aq.reference_cost


# ------------------------------------------------------------------------------ search-space rules
@pytest.fixture(scope="module")
def limited_run() -> AutoQ:
    x, y = tiny_data()
    aq = search(
        limit={"Dense": [4, 8, 4], "out": {"kernel": ["ternary"], "bias": 4}},
        groups=["h[12]"],
        tune_filters="layer",
        seed=3,
    )
    aq.fit(x, y, epochs=1, n_trials=6, batch_size=64)
    return aq


def _quantizer_bits(model: keras.Model) -> dict[str, dict[str, int]]:
    out = {}
    for layer in model.layers:
        if type(layer).__name__ == "QDense":
            out[layer.name] = {
                "kernel": quantizer_kind(layer.kernel_quantizer_internal).bits,
                "bias": quantizer_kind(layer.bias_quantizer_internal).bits,
                "activation": quantizer_kind(layer.activation).bits if layer.name != "out" else None,
            }
    return out


def test_limits_are_respected_in_every_trial_model(limited_run):
    done = limited_run.completed()
    assert len(done) >= 3
    for c in done:
        bits = _quantizer_bits(limited_run.build_model(c.quantizers, c.filters))
        for name in ("h1", "h2"):
            assert bits[name]["kernel"] <= 4 and bits[name]["bias"] <= 8 and bits[name]["activation"] <= 4
        assert c.quantizers["out"]["kernel"] == "ternary"
        assert bits["out"]["bias"] <= 4


def test_grouped_layers_share_every_choice(limited_run):
    space = limited_run.search_space()
    assert "group:0/kernel" in space and "h1/kernel" not in space and "h2/kernel" not in space
    for c in limited_run.completed():
        assert c.quantizers["h1"] == c.quantizers["h2"]
        assert c.filters.get("h1", 1.0) == c.filters.get("h2", 1.0)


def test_tune_filters_changes_filter_counts_but_not_the_output_layer(limited_run):
    space = limited_run.search_space()
    assert "group:0/filters" in space and "out/filters" not in space
    quantizers, _ = limited_run._layer_choices(limited_run.default_assignment())
    for factor, units in ((0.5, 4), (2.0, 16), (0.75, 6)):
        model = limited_run.build_model(quantizers, {"h1": factor, "h2": factor})
        assert model.get_layer("h1").units == units and model.get_layer("h2").units == units
        assert model.get_layer("out").units == 3
    # the warm start keeps the float weights of the overlapping slice
    small = limited_run.build_model(quantizers, {"h1": 0.5, "h2": 0.5})
    np.testing.assert_array_equal(
        small.get_layer("h1").get_weights()[0], tiny_model().get_layer("h1").get_weights()[0][:, :4]
    )


def test_tune_filters_exceptions_and_block_mode():
    aq = search(tune_filters="layer", tune_filters_exceptions="^h2$")
    space = aq.search_space()
    assert "h1/filters" in space and "h2/filters" not in space and "out/filters" not in space
    block = search(tune_filters="block", blocks=["h1|h2", "out"])
    assert list(block.search_space(0)) == [
        "h1/kernel",
        "h1/bias",
        "h1/activation",
        "block0/filters",
        "h2/kernel",
        "h2/bias",
        "h2/activation",
    ]
    assert "block1/filters" not in block.search_space(1)


def test_block_schedules_sequential_and_by_cost():
    sequential = search(blocks=["out", "h1", "h2"])
    assert sequential.block_order == [0, 1, 2]
    by_cost = search(blocks=["out", "h1", "h2"], schedule_block="cost")
    costs = by_cost.block_costs()
    assert costs[2] > costs[1] > costs[0]  # h2 (8x8 weights) > h1 (4x8) > out (8x3), all at 8 bits
    assert by_cost.block_order == [2, 1, 0]
    shares = by_cost._trials_per_block(10)
    assert sum(shares.values()) == 10 and shares[2] >= shares[1] >= shares[0] >= 1


def test_blocks_fix_earlier_blocks_to_their_best_choice():
    x, y = tiny_data()
    aq = search(blocks=["h1", "h2|out"], seed=1)
    aq.fit(x, y, epochs=1, n_trials=6, batch_size=64)
    first = [c for c in aq.completed() if c.study.endswith("block0")]
    second = [c for c in aq.completed() if c.study.endswith("block1")]
    assert first and second
    best_first = max(first, key=lambda c: (c.score, -c.number))
    for c in second:
        assert c.quantizers["h1"] == best_first.quantizers["h1"]
    # before its turn, a later block stands at its most precise choice
    for c in first:
        assert c.quantizers["h2"] == {
            "kernel": "quantized_bits(8,0,alpha=1)",
            "bias": "quantized_bits(8,3,alpha=1)",
            "activation": "quantized_relu(8,3)",
        }


# ------------------------------------------------------------------------------ shared storage
def _worker(storage: str, seed: int, queue) -> None:
    import os

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    x, y = tiny_data()
    aq = AutoQ(tiny_model(), QCONFIG, "bits", storage=storage, study_name="shared", worker_seed=seed)
    aq.fit(x, y, epochs=1, n_trials=8, batch_size=64)
    queue.put([number for _, number in aq.my_trials])


# two spawned processes import TensorFlow: about 30 s on 2 cores (the issue asks for this test in CI)
def test_two_workers_share_one_sqlite_study(tmp_path):
    import optuna

    storage = str(tmp_path / "autoq.db")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(storage, seed, queue)) for seed in (11, 22)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=240) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    a, b = (set(r) for r in results)
    assert a and b, "both workers must have run trials"
    assert not a & b, "workers ran the same trial"
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{Path(storage).resolve()}")
    finished = [t for t in study.trials if t.state.is_finished()]
    assert {t.number for t in finished} == a | b
    assert len(finished) == len(a) + len(b) >= 8
    # any process can read the shared results
    reader = AutoQ(tiny_model(), QCONFIG, "bits", storage=storage, study_name="shared")
    assert {c.number for c in reader.completed()} <= a | b


# ------------------------------------------------------------------------------ results
def test_pareto_mask_by_hand():
    assert pareto_mask([0.9, 0.8, 0.7, 0.9], [10, 5, 6, 12]) == [True, True, False, False]


def test_pareto_front_is_non_dominated(limited_run):
    done = limited_run.completed()
    front = limited_run.pareto_front(models=False)
    keys = {(c.study, c.number) for c in front}
    for p in front:
        assert not any(
            o.accuracy >= p.accuracy and o.cost <= p.cost and (o.accuracy > p.accuracy or o.cost < p.cost) for o in done
        )
    for o in done:
        if (o.study, o.number) not in keys:
            assert any(p.accuracy >= o.accuracy and p.cost <= o.cost for p in front)
    assert [c.cost for c in front] == sorted(c.cost for c in front)


def test_end_to_end_search_results_and_files(tmp_path):
    x, y = tiny_data()
    aq = search(output_dir=tmp_path / "run")
    aq.fit(x[:180], y[:180], validation_data=(x[180:], y[180:]), epochs=1, n_trials=4, batch_size=64)
    done = aq.completed()
    assert done
    best = aq.best()
    assert best.score == max(c.score for c in done)
    assert best.score == pytest.approx(best.accuracy * best.forgiving_factor)
    model = aq.best_model()
    pred = np.argmax(model.predict(x[180:], verbose=0), axis=-1)
    assert np.mean(pred == y[180:]) == pytest.approx(best.accuracy)
    assert bits_cost(model) == pytest.approx(best.cost)
    front = aq.pareto_front()
    assert all(isinstance(c.model, keras.Model) for c in front)
    rows = list(csv.DictReader(aq.to_csv(tmp_path / "trials.csv").open()))
    assert [int(r["trial"]) for r in rows] == [c.number for c in done]
    assert sum(int(r["pareto"]) for r in rows) == len(front)
    png = aq.plot(tmp_path / "pareto.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "run" / "trials").glob("*.weights.h5"))) == len(done)


def test_search_cli_end_to_end(tmp_path, capsys):
    from fpgaq.cli import main

    x, y = tiny_data()
    model_path = tmp_path / "float.keras"
    tiny_model().save(model_path)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    (tmp_path / "autoq.yaml").write_text(
        "goal: {type: bits, params: {delta_p: 8}}\nepochs: 1\nbatch_size: 64\nquantization_config:\n"
        "  kernel: {ternary: 2, 'quantized_bits(4,0,alpha=1)': 4}\n  bias: {'quantized_bits(8,3,alpha=1)': 8}\n"
        "  activation: {'quantized_relu(4,2)': 4}\n"
    )
    out = tmp_path / "out"
    argv = [
        "search",
        str(model_path),
        "--data",
        str(tmp_path / "data.npz"),
        "-c",
        str(tmp_path / "autoq.yaml"),
        "--trials",
        "3",
        "-o",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "Pareto front" in capsys.readouterr().out
    for name in ("pareto.csv", "trials.csv", "pareto.png", "best.keras"):
        assert (out / name).stat().st_size > 0
    (tmp_path / "bad.yaml").write_text("epochz: 3\n")
    argv = ["search", str(model_path), "--data", str(tmp_path / "data.npz"), "-c", str(tmp_path / "bad.yaml")]
    assert main(argv) == 2
    assert "unknown key 'epochz'" in capsys.readouterr().err


def test_energy_and_fpga_goals_rank_cheaper_models_lower():
    aq = search(goal="energy")
    small = aq.model_for({k: v[0] for k, v in aq.search_space().items()})
    assert aq.cost(small) < aq.reference_cost
    fpga = search(goal={"type": "fpga", "params": {"metric": "lut"}})
    assert math.isfinite(fpga.reference_cost) and fpga.reference_cost > 0
