"""``fpgaq.load_qkeras`` on the corpus that real QKeras 0.9.0 wrote (``tests/fixtures/qkeras/models``).

Every file QKeras saved (full-model ``.h5``, ``to_json`` + ``save_weights``)
must import; the imported Keras 3 model must predict what QKeras predicted on
the stored inputs (ordinary, saturating and rounding-midpoint values); and
``fpgaq.convert`` must reproduce the imported model bit for bit.  The
expected outputs are QKeras' own, never fpgaq's.

Tolerance rules (the only departures from exact equality, each for a stated reason):

* Keras vs QKeras: exact, except (1) models using a quantizer in
  ``FLOAT32_INEXACT`` (QKeras' u-law is float32 log/exp), compared with
  ``rtol=2**-22`` (two float32 ulps) and no absolute slack; (2) models in
  ``FLOAT32_ACCUMULATION`` (``alpha='auto'``: arbitrary float32 scales, so
  float32 sums round, and differently in graph and eager mode), compared with
  ``atol=2**-19 * max|y|``, the float32 accumulation bound for their sizes.
* fpgaq.convert vs Keras: exact, except the ``FLOAT32_ACCUMULATION`` models,
  to the same bound as above (the test asserts that their designs form values
  wider than float32's 24 bits, so Keras' sums really round); and where fpgaq warns that it rounds a batch
  normalization's unquantized ``1/sqrt`` constants to 16 bits, at most one
  step of the output type on fewer than 5% of the outputs.  Models using a
  ``FLOAT32_INEXACT`` quantizer are compared with ``predict`` and QKeras'
  stored outputs (both compiled graphs), exactly.  Models fpgaq
  cannot convert exactly at all raise the error listed in ``CONVERT_REFUSED``.
"""

from __future__ import annotations

import copy
import functools
import json
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from _qkeras_h5 import KERAS2_DEFAULTS, QKERAS_QUANTIZER_DEFAULTS

import fpgaq
from fpgaq import layers as L
from fpgaq.ir.trace import UnsupportedLayerError
from fpgaq.ir.weights import UnquantizedWarning
from fpgaq.qkeras_import import QKerasImportError

CORPUS = Path(__file__).parent / "fixtures" / "qkeras" / "models"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
MODELS: dict[str, dict] = MANIFEST["models"]

RECURRENT_CLASSES = {"QSimpleRNN", "QLSTM", "QGRU"}
RECURRENT = sorted(name for name, entry in MODELS.items() if RECURRENT_CLASSES & set(entry["layers"]))
FEEDFORWARD = sorted(set(MODELS) - set(RECURRENT))

#: Quantizers whose QKeras output comes from inexact float32 arithmetic (see the module docstring).
FLOAT32_INEXACT = {
    "quantized_ulaw": "QKeras computes the u-law curve with float32 log/exp, whose last bit differs between Keras' "
    "graph mode (predict: exact here) and the eager calls these tests make",
}

#: Models that fpgaq.convert refuses because the IR has no exact fixed-point form for them: the error it gives.
CONVERT_REFUSED: dict[str, str] = {}

#: Models whose Keras float32 sums are inexact (``alpha='auto'`` scales are arbitrary float32 numbers, so the
#: products need more than float32's 24 bits), compared with fpgaq's exact sums to float32 accumulation error:
#: at most ``n * 2**-24 * sum(|terms|)`` for ``n <= 18`` terms, below ``2**-19 * max|output|`` here.
FLOAT32_ACCUMULATION = {"dense_alpha_auto", "conv2d_dilated_alpha_auto"}
FLOAT32_EXACT_BITS = 24

#: Every QKeras layer class issue 11 names, except those the qkeras 0.9.0 release lacks.
REQUIRED_CLASSES = {
    "QDense",
    "QConv1D",
    "QConv2D",
    "QConv2DTranspose",
    "QDepthwiseConv2D",
    "QSeparableConv1D",
    "QSeparableConv2D",
    "QActivation",
    "QBatchNormalization",
    "QConv2DBatchnorm",
    "QDepthwiseConv2DBatchnorm",
    "QAveragePooling2D",
    "QGlobalAveragePooling2D",
    "QSimpleRNN",
    "QLSTM",
    "QGRU",
}


def _forms(names: list[str]) -> list[tuple[str, str]]:
    return [(name, form) for name in names for form in MODELS[name]["forms"]]


def _load(name: str, form: str) -> keras.Model:
    if form == "h5":
        return fpgaq.load_qkeras(CORPUS / f"{name}.h5")
    weights = {"json+weights": "weights", "json+legacy_weights": "legacy_weights"}[form]
    return fpgaq.load_qkeras(CORPUS / f"{name}.json", CORPUS / f"{name}.{weights}.h5")


#: Warnings raised while importing each file (QKeras writes every setting; its defaults must load silently).
_LOAD_WARNINGS: dict[tuple[str, str], list[str]] = {}


@functools.cache
def imported(name: str, form: str) -> keras.Model:
    """Each corpus file is imported once for the whole module."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _load(name, form)
    _LOAD_WARNINGS[(name, form)] = [f"{w.category.__name__}: {w.message}" for w in caught]
    return model


@functools.cache
def stored(name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """QKeras' inputs and outputs for ``name``."""
    data = np.load(CORPUS / f"{name}.npz")
    outputs = MODELS[name]["outputs"]
    return data["x"], [data["y"]] if outputs == 1 else [data[f"y{i}"] for i in range(outputs)]


def _as_list(y: object) -> list[np.ndarray]:
    return [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])]


def _keras(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    """The model's inference outputs, called eagerly: ``predict`` traces a graph first, a second per model.

    Both run the same float32 ops; only where those are inexact (u-law's log/exp, ``alpha='auto'`` sums) can
    the two differ, by float32 rounding, which the tolerance rules above allow for exactly those models."""
    return _as_list(model(x, training=False))


# ----------------------------------------------------------------------------------- the corpus itself
def test_corpus_was_written_by_qkeras_and_covers_every_layer_class() -> None:
    assert MANIFEST["versions"]["qkeras"] == "0.9.0"
    assert MANIFEST["versions"]["tf_keras"].startswith("2.")
    assert len(MODELS) >= 40
    assert {"Sequential", "Functional"} <= {entry["kind"] for entry in MODELS.values()}
    classes = {c for entry in MODELS.values() for c in entry["layers"]}
    assert classes >= REQUIRED_CLASSES, REQUIRED_CLASSES - classes
    quantizers = {q for entry in MODELS.values() for q in entry["quantizers"]}
    for family in ("quantized_bits", "quantized_relu", "quantized_po2", "quantized_relu_po2", "quantized_tanh"):
        assert family in quantizers
    for family in ("quantized_sigmoid", "binary", "ternary", "stochastic_binary", "stochastic_ternary"):
        assert family in quantizers
    assert {"quantized_hswish", "quantized_ulaw"} <= quantizers
    for name, entry in MODELS.items():
        assert (CORPUS / f"{name}.npz").exists()
        assert (CORPUS / f"{name}.h5").exists() and (CORPUS / f"{name}.json").exists()
        assert (CORPUS / f"{name}.weights.h5").exists()
        assert entry["forms"][:2] == ["h5", "json+weights"]
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 3_000_000


def _saved_quantizers(value: object, found: dict[str, set[tuple[str, ...]]]) -> None:
    if isinstance(value, dict):
        if value.get("module") == "qkeras.quantizers" and isinstance(value.get("config"), dict):
            found.setdefault(value["class_name"], set()).add(tuple(sorted(value["config"])))
        for v in value.values():
            _saved_quantizers(v, found)
    elif isinstance(value, list):
        for v in value:
            _saved_quantizers(v, found)


def test_hand_written_qkeras_configs_have_the_keys_qkeras_writes() -> None:
    """tests/_qkeras_h5.py writes quantizer configs by hand; each must carry exactly the keys real QKeras saves."""
    found: dict[str, set[tuple[str, ...]]] = {}
    for name in MODELS:
        _saved_quantizers(json.loads((CORPUS / f"{name}.json").read_text()), found)
    assert len(found) >= 10
    for class_name, key_sets in found.items():
        assert key_sets == {tuple(sorted(QKERAS_QUANTIZER_DEFAULTS[class_name]))}, class_name


#: Arguments without defaults, which the hand-written layer entries pass explicitly.
_REQUIRED_ARGS = {"filters", "kernel_size", "units", "target_shape", "activation"}


def test_hand_written_layer_configs_have_the_keys_qkeras_writes() -> None:
    """tests/_qkeras_h5.py's KERAS2_DEFAULTS must list every setting real QKeras/Keras 2 saves for a class."""
    found: dict[str, set[frozenset[str]]] = {}
    for name in MODELS:
        for entry in json.loads((CORPUS / f"{name}.json").read_text())["config"]["layers"]:
            found.setdefault(entry["class_name"], set()).add(frozenset(entry["config"]))
    checked = 0
    for class_name, key_sets in found.items():
        if class_name not in KERAS2_DEFAULTS:
            continue
        hand = set(KERAS2_DEFAULTS[class_name])
        for keys in key_sets:
            assert hand <= keys, (class_name, sorted(hand - keys))
            assert keys - hand - {"name", "trainable", "dtype", "batch_input_shape"} <= _REQUIRED_ARGS, class_name
            checked += 1
    assert checked >= 15


# ----------------------------------------------------------------------------------- import and predict
@pytest.mark.parametrize(("name", "form"), _forms(FEEDFORWARD))
def test_imported_model_predicts_what_qkeras_predicted(name: str, form: str) -> None:
    x, want = stored(name)
    got = _keras(imported(name, form), x)
    assert len(got) == len(want)
    inexact = sorted(set(MODELS[name]["quantizers"]) & set(FLOAT32_INEXACT))
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == w.shape
        if name in FLOAT32_ACCUMULATION:
            np.testing.assert_allclose(g, w, rtol=0, atol=2**-19 * np.max(np.abs(w)), err_msg=f"{name} ({form})")
        elif inexact:
            np.testing.assert_allclose(g, w, rtol=2**-22, atol=0, err_msg=f"{name} ({form}): {inexact}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{name} ({form})")


@pytest.mark.parametrize(("name", "form"), _forms(FEEDFORWARD))
def test_every_setting_qkeras_wrote_loads_silently(name: str, form: str) -> None:
    imported(name, form)
    assert _LOAD_WARNINGS[(name, form)] == []


@pytest.mark.parametrize("name", ["dense_bits", "functional_two_outputs"])
def test_predict_equals_calling_the_model(name: str) -> None:
    """The tests call the model (fast); Keras' ``predict`` gives the very same numbers."""
    model, (x, _) = imported(name, "h5"), stored(name)
    for a, b in zip(_as_list(model.predict(x, verbose=0)), _keras(model, x)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("name", "form"), [(n, f) for n, f in _forms(FEEDFORWARD) if f != "h5"])
def test_every_form_holds_the_same_weights(name: str, form: str) -> None:
    full, other = imported(name, "h5"), imported(name, form)
    assert [type(la).__name__ for la in full.layers] == [type(la).__name__ for la in other.layers]
    for a, b in zip(full.layers, other.layers):
        assert [w.path.split("/")[-1] for w in a.weights] == [w.path.split("/")[-1] for w in b.weights]
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb), err_msg=f"{name}: {a.name}/{wa.name}")


def _max_exact_width(design: fpgaq.Design) -> int:
    """The widest exact value the design forms (as tests/ir/test_reference_exact.py measures it)."""
    widths = [n.types["exact"].width for n in design.graph.nodes if "exact" in n.types]
    widths += [design.graph.tensors[n.output].type.width for n in design.graph.nodes]
    return max(widths)


@pytest.mark.parametrize("name", FEEDFORWARD)
def test_convert_matches_the_imported_model_bit_for_bit(name: str) -> None:
    model = imported(name, "h5")
    x, _ = stored(name)
    if name in CONVERT_REFUSED:
        with pytest.raises(UnsupportedLayerError, match=CONVERT_REFUSED[name]):
            fpgaq.convert(model)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnquantizedWarning)
        design = fpgaq.convert(model)
    rounded = [
        str(w.message)
        for w in caught
        if issubclass(w.category, UnquantizedWarning) and "batch-normalization" in str(w.message)
    ]
    if set(MODELS[name]["quantizers"]) & set(FLOAT32_INEXACT):
        # u-law levels are the compiled graph's float32 log (fpgaq/ir/ops/ulaw.py), which is what QKeras stored
        want = [w.astype(np.float64) for w in _as_list(model.predict(x, verbose=0))]
        for g, w in zip(_as_list(design.predict(x)), stored(name)[1]):
            np.testing.assert_array_equal(g, w.astype(np.float64), err_msg=f"{name}: QKeras' own outputs")
    else:
        want = [w.astype(np.float64) for w in _keras(model, x)]
    got = _as_list(design.predict(x))
    assert len(got) == len(want)
    if rounded:
        # fpgaq rounds a batch normalization's 1/sqrt(variance + eps) scale and shift (no quantizer made them) to
        # 16 bits and says so; a value that Keras' float32 constants put next to a rounding boundary of the
        # following quantizer may then land one step away, never more.
        for g, w, t in zip(got, want, design.graph.outputs):
            step = 2.0 ** -(design.graph.tensors[t].type.width - design.graph.tensors[t].type.integer)
            assert np.max(np.abs(g - w)) <= step, name
            assert np.mean(g != w) < 0.05, name
        return
    if name in FLOAT32_ACCUMULATION:
        # Keras sums these products in float32, which rounds once they need more than 24 bits; fpgaq does not.
        assert _max_exact_width(design) > FLOAT32_EXACT_BITS
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=0, atol=2**-19 * np.max(np.abs(w)), err_msg=name)
        return
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w, err_msg=name)


# ----------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("name", "form"), _forms(RECURRENT))
def test_recurrent_layers_are_refused_until_supported(name: str, form: str) -> None:
    cls = next(c for c in MODELS[name]["layers"] if c in RECURRENT_CLASSES)
    config = json.loads((CORPUS / f"{name}.json").read_text())
    layer = next(la["config"]["name"] for la in config["config"]["layers"] if la["class_name"] == cls)
    message = (
        f"layer '{layer}' ({cls}): class '{cls}' is not yet supported: fpgaq has no recurrent layers (QSimpleRNN, "
        "QLSTM, QGRU) until issue 17 lands; keep the recurrent part outside the FPGA model, or replace it with "
        "QConv1D/QDense layers"
    )
    with pytest.raises(QKerasImportError) as info:
        _load(name, form)
    assert str(info.value) == message


def _edited(tmp_path: Path, name: str, layer_class: str, **settings: object) -> Path:
    """The JSON QKeras wrote for ``name`` with ``settings`` changed on its first ``layer_class`` layer."""
    config = copy.deepcopy(json.loads((CORPUS / f"{name}.json").read_text()))
    entry = next(la for la in config["config"]["layers"] if la["class_name"] == layer_class)
    entry["config"].update(settings)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(
    ("name", "layer_class", "settings", "message"),
    [
        (
            "depthwise_bits",
            "QDepthwiseConv2D",
            {"groups": 2},
            r"layer 'q_depthwise_conv2d' \(QDepthwiseConv2D\): setting groups=2 has no equivalent in "
            r"fpgaq\.layers\.depthwise\.QDepthwiseConv2D; supported settings: .*depth_multiplier.*; remove or reset "
            r"it in the Keras 2 model and save again",
        ),
        (
            "separable2d",
            "QSeparableConv2D",
            {"groups": 3},
            r"layer 'q_separable_conv2d' \(QSeparableConv2D\): setting groups=3 has no equivalent in "
            r"fpgaq\.layers\.separable\.QSeparableConv2D; supported settings: .*pointwise_quantizer.*; remove or "
            r"reset it in the Keras 2 model and save again",
        ),
        (
            "conv2d_bits",
            "QConv2D",
            {"mask": [1, 0]},
            r"layer 'q_conv2d' \(QConv2D\): setting mask=\[1, 0\] has no equivalent in fpgaq\.layers\.conv\.QConv2D; "
            r"supported settings: .*kernel_quantizer.*; remove or reset it in the Keras 2 model and save again",
        ),
        (
            "batchnorm_dense",
            "QBatchNormalization",
            {"virtual_batch_size": 4},
            r"layer 'q_batch_normalization' \(QBatchNormalization\): setting virtual_batch_size=4 has no equivalent "
            r"in fpgaq\.layers\.batchnorm\.QBatchNormalization; supported settings: .*; remove or reset it in the "
            r"Keras 2 model and save again",
        ),
        (
            "batchnorm_dense",
            "QBatchNormalization",
            {"renorm": True},
            r"layer 'q_batch_normalization' \(QBatchNormalization\): renorm=True is not supported; only "
            r"renorm=False \(the default\) is; train without batch renormalization and save again",
        ),
        (
            "dense_bits",
            "QDense",
            {"kernel_quantizer": "quantized_fancy(4, 0)"},
            r"layer 'fc1' \(QDense\): kernel_quantizer='quantized_fancy\(4, 0\)' cannot be mapped: .*Supported "
            r"quantizers: .*quantized_bits.*; register a custom one with fpgaq\.register_quantizer, or change the "
            r"layer's quantizer in QKeras and save again",
        ),
    ],
)
def test_a_non_default_setting_is_an_error_naming_it(
    tmp_path: Path, name: str, layer_class: str, settings: dict, message: str
) -> None:
    path = _edited(tmp_path, name, layer_class, **settings)
    with pytest.raises(QKerasImportError, match=f"^{message}$"):
        fpgaq.load_qkeras(path, CORPUS / f"{name}.weights.h5")


# ----------------------------------------------------------------------------------- building layers directly
@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (L.QDepthwiseConv2D, ((3, 3),)),
        (L.QSeparableConv1D, (2, 3)),
        (L.QSeparableConv2D, (2, (3, 3))),
        (L.QConv2DTranspose, (2, (3, 3))),
    ],
)
def test_layers_take_the_groups_default_qkeras_writes(cls: type, args: tuple) -> None:
    layer = cls(*args, groups=1, name="k")
    assert layer.name == "k"
    with pytest.raises(ValueError) as info:
        cls(*args, groups=2, name="k")
    assert str(info.value) == (
        f"{cls.__name__} 'k': groups=2 is not supported; {cls.__name__} takes only groups=1 (its Keras 3 base has no "
        "grouped form); use QConv1D/QConv2D(groups=...) for a grouped convolution, or drop the setting"
    )


@pytest.mark.parametrize("name", ["depthwise_bits", "separable1d", "separable2d", "conv2d_transpose"])
def test_qkeras_configs_rebuild_with_fpgaq_layers(name: str) -> None:
    """The configs QKeras wrote (``groups=1`` included) build the fpgaq layer of the same class directly."""
    config = json.loads((CORPUS / f"{name}.json").read_text())
    for entry in config["config"]["layers"]:
        cls = getattr(L, entry["class_name"], None)
        if cls is None or entry["class_name"] == "QActivation":
            continue
        # Initializers and constraints name QKeras' own classes (QInitializer, Clip), which load_qkeras drops.
        kwargs = {k: v for k, v in entry["config"].items() if not k.endswith(("_initializer", "_constraint"))}
        kwargs.pop("batch_input_shape", None)
        assert "groups" in kwargs
        assert type(cls.from_config(kwargs)) is cls


@pytest.mark.parametrize(
    ("config", "weights", "message"),
    [
        (
            "dense_bits",
            "conv2d_bits",
            "layer 'fc1' (QDense): saved weight 'kernel' has shape (27, 2), the imported layer expects (6, 4); the "
            "model config and the weights file do not match",
        ),
        (
            "separable2d",
            "depthwise_bits",
            "layer 'q_separable_conv2d' (QSeparableConv2D): the weights file has no entry for it; pass the weights "
            "saved from this model",
        ),
    ],
)
def test_weights_of_another_model_are_refused(config: str, weights: str, message: str) -> None:
    with pytest.raises(QKerasImportError) as info:
        fpgaq.load_qkeras(CORPUS / f"{config}.json", CORPUS / f"{weights}.weights.h5")
    assert str(info.value) == message


def test_a_weights_file_with_other_weights_per_layer_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, "dense_bits", "QDense", use_bias=False)
    with pytest.raises(QKerasImportError) as info:
        fpgaq.load_qkeras(path, CORPUS / "dense_bits.weights.h5")
    assert str(info.value) == (
        "layer 'fc1' (QDense): the weights file holds 2 weights under layers/q_dense (expected 1: kernel); the model "
        "config and the weights file do not match"
    )


@pytest.mark.parametrize(
    ("name", "layer_class"), [("conv2d_bits", "QConv2D"), ("conv2d_batchnorm_folded", "QConv2DBatchnorm")]
)
def test_mask_none_of_later_qkeras_loads_silently(tmp_path: Path, name: str, layer_class: str) -> None:
    """Issue 11 reports QKeras files with ``mask=None`` on these classes; the QKeras 0.9.0 wheel does not write
    it, so it is added here to a file QKeras wrote."""
    path = _edited(tmp_path, name, layer_class, mask=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = fpgaq.load_qkeras(path, CORPUS / f"{name}.weights.h5")
    x, want = stored(name)
    np.testing.assert_array_equal(_keras(model, x)[0], want[0])
