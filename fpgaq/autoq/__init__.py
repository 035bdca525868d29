"""AutoQ: automatic heterogeneous quantization search (the AutoQKeras workflow on Optuna).

Given a float Keras model, AutoQ chooses a quantizer for every kernel, bias
and activation (and optionally a width for every layer), trains each
candidate briefly with quantization-aware training, and keeps the trade-off
between accuracy and hardware cost.

What it takes, as AutoQKeras does
---------------------------------
* ``quantization_config``: per field (``kernel``, ``bias``, ``activation``
  for ReLU activations, ``linear`` for linear ``Activation`` layers) the
  allowed quantizers and their cost in bits, e.g.
  ``{"kernel": {"ternary": 2, "quantized_bits(4,0,1)": 4}, ...}``.
* ``limit``: which of them each layer may use.  Keys are an exact layer
  name, a regular expression that fully matches layer names, a layer class
  (``"Dense"``) or ``"default"``, looked up in that order.  A value is a
  number of bits (for every field), a list ``[kernel, bias, activation]``
  (``[activation]`` for activation layers) whose entries are a number of
  bits or a list of quantizer names, or a dict ``{field: bits or names}``.
  Layers with no entry may use every quantizer of the config.
* ``goal``: ``{"type": "energy" | "bits" | "fpga", "params": {...}}``.  The
  cost of a candidate is its QTools energy (:mod:`fpgaq.qtools`), its bits
  (parameters plus activations, as AutoQKeras' ``bits`` goal counts them), or
  the LUTs or latency cycles of the resource model
  (:mod:`fpgaq.resource_model`).  The reference cost is the same measure on
  the model with every layer at 8 bits (``quantized_bits(8,0,1)`` weights,
  ``quantized_relu(8)`` activations), unless ``params.reference`` says
  otherwise.
* the forgiving factor ranks candidates by one number: ``score = accuracy *
  (1 + delta * log_rate(stress * reference_cost / trial_cost))`` with
  ``delta = delta_p / 100`` when the log is >= 0 (the candidate is cheaper than
  the stressed reference) and ``delta_n / 100`` otherwise.  ``delta_p = 8``
  and ``rate = 2`` mean "halving the cost is worth 8 % of accuracy";
  ``stress < 1`` pushes the search towards smaller models.
* ``tune_filters``: ``"none"``, ``"layer"`` (each Dense/Conv1D/Conv2D/
  Separable layer picks a width factor from 0.5, 0.75, 1, 1.5, 2) or
  ``"block"`` (one factor per search block); ``tune_filters_exceptions`` is
  a regular expression (searched in the layer name) of layers to leave
  alone.  Layers that produce a model output are never resized: their width
  is the number of classes.
* ``groups``: regular expressions (a list, or a dict label -> regex); layers
  whose names fully match one share every choice (quantizers and width).
* ``blocks`` and ``schedule_block``: search the layers block by block
  (regular expressions, fully matched), in the listed order
  (``"sequential"``) or the most expensive block first (``"cost"``, by the
  reference model's bits).  Earlier blocks keep their best choice (by the
  forgiving factor); later ones, and layers in no block, keep their most
  precise allowed quantizer until their turn.  The trials are shared out in
  proportion to each block's cost.

Engine
------
Each block is one Optuna study with two objectives (maximize validation
accuracy, minimize cost), so the result is a Pareto front.  Trials record
their validation accuracy after every epoch; a trial whose accuracy is below
the median of finished trials that cost no more (in bits) at the same epoch,
by more than ``prune_margin``, is stopped (``optuna.TrialPruned``): a cheaper
design already learns better, so this one is very likely dominated.  Optuna's
own pruners need a single objective, hence this rule.

Studies live in Optuna storage: in memory by default, or a SQLite file, or
any database URL Optuna supports (``postgresql://user:pw@host/db``).  Workers
on many machines that run the same search with the same ``storage`` and
``study_name`` share one study: each asks Optuna for new trials, so their
trials are disjoint, and ``n_trials`` counts the trials of the whole study.

Differences from AutoQKeras, deliberately: the search engine is Optuna (TPE
or NSGA-II, seeded) rather than Keras Tuner; layers without a ``limit`` entry
are searched over the whole config instead of being left float; limit and
group patterns must match the whole layer name (``re.fullmatch``); a
resized layer keeps the overlapping slice of its float weights as a warm
start instead of starting from scratch.

Layout
------
``settings`` (the fields, goals and defaults, and their validation),
``sites`` (the layers searched, their limits, groups and blocks), ``costs``
(bits, energy, FPGA cost, forgiving factor, Pareto mask), ``storage``
(Optuna storage and studies), ``training`` (one trial's epochs and early
stop), ``search`` (:class:`AutoQ`) and ``results`` (:class:`Candidate`, the
CSV table and the plot).
"""

from fpgaq.autoq import costs, results, search, settings
from fpgaq.autoq.costs import *  # noqa: F403
from fpgaq.autoq.results import *  # noqa: F403
from fpgaq.autoq.search import *  # noqa: F403
from fpgaq.autoq.settings import *  # noqa: F403

# The package re-exports its submodules' public names; each submodule's ``__all__`` is the one list.
__all__: list[str] = []
__all__ += settings.__all__
__all__ += costs.__all__
__all__ += results.__all__
__all__ += search.__all__
