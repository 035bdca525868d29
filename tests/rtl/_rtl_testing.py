"""Shared helpers of the RTL generator tests: conversion, option variants, inputs, full builds."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np

import fpgaq
from fpgaq import zoo
from fpgaq.rtl.build import Lowered, lower
from fpgaq.rtl.pipeline import Pipelined, pipeline
from fpgaq.rtl.verilog import emit_verilog
from fpgaq.sim.cosim import design_cosim
from fpgaq.sim.verilator import lint
from fpgaq.testing.inputs import edge_inputs
from fpgaq.testing.random_models import build_model, random_inputs, random_spec
from fpgaq.testing.rtl_check import netlist_mismatches

__all__ = [
    "build",
    "convert",
    "cosim_exact",
    "digits_design",
    "inputs_for",
    "jet_design",
    "lint_design",
    "mismatches",
    "random_design",
    "with_options",
]


def convert(model: keras.Model, config: Any = None) -> fpgaq.Design:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fpgaq.convert(model, config)


def with_options(design: fpgaq.Design, **options: Any) -> fpgaq.Design:
    """The same design with implementation options (reuse_factor, multiplier, pipeline_every, adders,
    clock_period) set where they apply: they never change the numbers, so no reconversion is needed."""
    from fpgaq.ir.passes.requantize import with_options as set_options

    return fpgaq.Design(set_options(design.graph, **options), design.config)


def cosim_exact(design: fpgaq.Design, x: np.ndarray, directory: Path) -> None:
    """Co-simulate ``x`` in ``directory`` with idle cycles and back-pressure: bit for bit on every sample,
    no protocol or timing error, at the manifest's latency."""
    result = design_cosim(design, x, directory=directory, idle=0.25, backpressure=0.3)
    assert result.passed, result.report()
    assert result.mismatch_count == 0 and not result.protocol_errors and not result.timing_errors
    assert result.n_samples == len(x)
    assert result.measured_latency == json.loads((directory / "fpgaq_rtl.json").read_text())["latency"]


def inputs_for(design: fpgaq.Design, n: int, seed: int = 0) -> list[np.ndarray]:
    """Like the HLS tests' inputs, with saturating, zero and tie values in the first rows."""
    return edge_inputs(design, n, seed, extremes=True)


_LOWERED: dict[tuple, Lowered] = {}


def _lowering_key(design: fpgaq.Design) -> tuple:
    """What the lowered netlist depends on: the graph's numbers and the multiplier/reuse options."""
    digest = hashlib.sha256()
    for node in design.graph.nodes:
        digest.update(repr((node.name, node.op, node.inputs, sorted(node.attrs), node.types)).encode())
        for key in sorted(node.attrs):  # values too: quantize nodes differ only in their per-element arrays
            value = node.attrs[key]
            digest.update(value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
        digest.update(repr([node.options.get(k) for k in ("multiplier", "reuse_factor", "adders")]).encode())
        for key in sorted(node.weights):
            digest.update(np.ascontiguousarray(node.weights[key].mantissa).tobytes())
    return (design.name, digest.hexdigest())


def build(design: fpgaq.Design) -> Pipelined:
    """Lowered (cached: PipelineEvery does not change the netlist) and pipelined."""
    key = _lowering_key(design)
    if key not in _LOWERED:
        _LOWERED[key] = lower(design.graph)
    return pipeline(dataclasses.replace(_LOWERED[key], graph=design.graph))


def mismatches(design: fpgaq.Design, x: Any, pipelined: Pipelined | None = None) -> list[str]:
    """Bit-exactness of the pipelined netlist (which contains the lowered one's function)."""
    p = build(design) if pipelined is None else pipelined
    return netlist_mismatches(design, p.net, x)


def lint_design(design: fpgaq.Design, directory: Path, pipelined: Pipelined | None = None) -> list[str]:
    p = build(design) if pipelined is None else pipelined
    top = "top_" + "".join(c if c.isalnum() else "_" for c in design.name)
    files = emit_verilog(p, top)
    paths = []
    directory.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = directory / Path(rel).name
        path.write_text(text)
        paths.append(path)
    return lint(paths, top)


@functools.cache
def jet_design() -> fpgaq.Design:
    keras.utils.set_random_seed(2)  # the zoo's initial weights: the same design in every run
    return convert(zoo.jet_tagger())


@functools.cache
def digits_design() -> fpgaq.Design:
    keras.utils.set_random_seed(3)
    return convert(zoo.digits_cnn())


@functools.cache
def random_design(seed: int, learned: bool = False) -> tuple[fpgaq.Design, np.ndarray]:
    """A random model's design and inputs; ``learned``: learned precision (per-element quantize nodes)."""
    spec = random_spec(seed, learned=learned)
    return convert(build_model(spec)), random_inputs(spec, 400, seed)
