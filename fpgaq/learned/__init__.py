"""Learned precision: train every weight's and activation's bit width against the LUT cost.

``to_learned`` makes a float model's twin with ``learned_bits`` quantizers,
``calibrate_ranges`` sets their starting ranges from data, ``train_learned``
trains the task loss plus ``beta`` times the surrogate LUT cost
(:mod:`fpgaq.learned.cost`) and keeps the accuracy/LUT front of its epochs.
"""

from fpgaq.learned.cost import CostPlan, cost_plan, csd_digits, model_cost, rank_correlation
from fpgaq.learned.model import (
    LearnedPrecisionError,
    calibrate_ranges,
    learned_quantizers,
    tighten_ranges,
    to_learned,
)
from fpgaq.learned.training import Checkpoint, TrainResult, beta_schedule, train_learned

__all__ = [
    "Checkpoint",
    "CostPlan",
    "LearnedPrecisionError",
    "TrainResult",
    "beta_schedule",
    "calibrate_ranges",
    "cost_plan",
    "csd_digits",
    "learned_quantizers",
    "model_cost",
    "rank_correlation",
    "tighten_ranges",
    "to_learned",
    "train_learned",
]
