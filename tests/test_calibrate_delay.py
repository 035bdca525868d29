"""The delay model's fit: it recovers planted constants, and the shipped ones carry their held-out errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "rtl"))
from _rtl_testing import build, random_design, with_options

from fpgaq.calibrate_delay import fit, predict
from fpgaq.rtl.delay import PARAMETERS, DelayModel, delay_model, shipped_flows


def test_the_fit_recovers_planted_constants() -> None:
    """Timing made by a known model is fitted back by the fitter from a different start."""
    nets = []
    for seed in (0, 1, 2):
        design, _ = random_design(seed)
        for every in (0, 1, 3):
            nets.append(build(with_options(design, pipeline_every=every)).net)
    planted = DelayModel("xc7", 0.8, 1.1, 1.4, 1.3, 0.5, 0.7, 0.3, 2.2, 0.1, 0.04)
    measured = [predict(net, planted) for net in nets]
    start = DelayModel("xc7", *([1.0] * len(PARAMETERS)))
    fitted = fit(nets, measured, "xc7", start)
    for net, m in zip(nets, measured):
        assert predict(net, fitted) == pytest.approx(m, rel=0.02)


def test_a_planted_fan_out_term_is_fitted_back_and_a_held_one_stays() -> None:
    """Paths that differ in their nets' fan-out tell the fitter the ns per doubling; held, it keeps its start."""
    nets = []
    for seed in (0, 1, 2, 4):
        design, _ = random_design(seed)
        for every in (0, 1, 3):
            nets.append(build(with_options(design, pipeline_every=every)).net)
    planted = DelayModel("ecp5", 1.7, 1.6, 2.4, 2.2, 1.0, 1.1, 0.8, 3.2, 1.4, 0.0, fanout=0.4)
    measured = [predict(net, planted) for net in nets]
    start = DelayModel("ecp5", *([1.0] * len(PARAMETERS)))
    fitted = fit(nets, measured, "ecp5", start)
    for net, m in zip(nets, measured):
        assert predict(net, fitted) == pytest.approx(m, rel=0.05)
    assert fitted.fanout > 0.1  # the planted fan-out is not all absorbed by the other constants
    held = fit(nets, measured, "ecp5", start, fixed=("fanout",))
    assert held.fanout == 1.0


@pytest.mark.parametrize("flow", ["xc7", "ecp5"])
def test_shipped_flows_state_what_they_were_fitted_on(flow: str) -> None:
    entry = shipped_flows()[flow]
    assert set(entry["ns"]) == set(PARAMETERS) and all(v >= 0 for v in entry["ns"].values())
    assert entry["source"]
    model = delay_model({"xc7": "xc7a100t", "ecp5": "lfe5u-85f"}[flow])
    assert model.flow == flow and model.register == entry["ns"]["register"]
