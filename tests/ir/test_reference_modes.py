"""Every rounding and overflow mode, set through the config, against an independent evaluation.

Keras cannot express a config-imposed output type, so the expected values
come from a float64 NumPy forward pass that applies each type with
``FixedType.quantize`` (itself tested against exact rational arithmetic):
an evaluation that shares no code with the reference's integer kernels.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fpgaq.design import convert
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.quantizers import get_quantizer
from fpgaq.testing.random_models import build_model, random_inputs, random_spec


def _float_forward(model, spec, results: dict[str, FixedType], x: np.ndarray) -> np.ndarray:
    """Dense layers and quantized activations in float64, each config type applied by FixedType."""
    in_q = get_quantizer(spec.input_quantizer).hardware()
    h = in_q.quantize(x.astype(np.float64))
    for i, ls in enumerate(spec.layers):
        name = f"l{i}_{ls.kind}"
        layer = model.get_layer(name)
        kernel = np.asarray(layer.kernel_quantizer_internal(layer.kernel), np.float64)
        h = h @ kernel
        if ls.args["use_bias"]:
            h = h + np.asarray(layer.bias_quantizer_internal(layer.bias), np.float64)
        if name in results:
            h = results[name].quantize(h)
        if ls.args.get("activation"):
            q = get_quantizer(ls.args["activation"])
            hw = q.hardware()
            h = hw.quantize(h) if isinstance(hw, FixedType) else hw.base.from_int(hw.to_int(h))
    return h


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    modes=st.lists(
        st.tuples(st.sampled_from(list(Rounding)), st.sampled_from(list(Overflow)), st.integers(2, 9)),
        min_size=3,
        max_size=3,
    ),
)
def test_config_result_types_in_every_mode(seed: int, modes) -> None:
    spec = random_spec(seed, family="mlp", depth=3)
    spec.layers = [ls for ls in spec.layers if ls.kind == "dense"]  # no branches: a plain chain
    model = build_model(spec)
    results, layer_names = {}, {}
    for i, ls in enumerate(spec.layers):
        rounding, overflow, width = modes[i % len(modes)]
        # narrow enough to saturate or wrap, coarse enough to round
        t = FixedType(width, max(1, width - 2), True, rounding, overflow)
        results[f"l{i}_{ls.kind}"] = t
        layer_names[f"l{i}_{ls.kind}"] = {"Precision": {"result": t.ap_fixed()}}
    design = convert(model, {"LayerName": layer_names})
    x = random_inputs(spec, 500, seed).astype(np.float64)
    want = _float_forward(model, spec, results, x)
    np.testing.assert_array_equal(design.predict(x), want, err_msg=spec.describe())
