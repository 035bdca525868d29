"""Random models from fpgaq.testing.random_models: the RTL netlist equals the reference under every option."""

from __future__ import annotations

import pytest
from _rtl_testing import build, mismatches, random_design, with_options
from test_pipeline import _check_schedule

SEEDS = list(range(24))
OPTIONS = [
    {"pipeline_every": 0, "multiplier": "auto"},
    {"pipeline_every": 1, "multiplier": "dsp"},
    {"pipeline_every": 3, "multiplier": "lut", "reuse_factor": 3},
    {"pipeline_every": 0, "reuse_factor": 2},
]


#: Learned precision: every kernel, bias and activation its own per-element (or channel) grid.
LEARNED_SEEDS = list(range(10))


@pytest.mark.parametrize(
    ("seed", "learned"),
    [(s, False) for s in SEEDS] + [(s, True) for s in LEARNED_SEEDS],
    ids=[f"{s}" for s in SEEDS] + [f"learned-{s}" for s in LEARNED_SEEDS],
)
def test_random_model_is_bit_exact(seed: int, learned: bool) -> None:
    design, x = random_design(seed, learned)
    for options in OPTIONS:
        variant = with_options(design, **options)
        p = build(variant)
        _check_schedule(p)
        assert p.ii == options.get("reuse_factor", 1) or not any(
            n.op in ("dense", "conv1d", "conv2d", "depthwise2d") for n in design.graph.nodes
        )
        assert mismatches(variant, x, p) == [], (seed, options)


def test_the_seeds_cover_every_family() -> None:
    ops = set()
    for seed in SEEDS:
        ops |= {n.op for n in random_design(seed)[0].graph.nodes}
    assert {"dense", "conv1d", "conv2d", "depthwise2d", "add", "concatenate", "maxpool2d", "avgpool2d"} <= ops
