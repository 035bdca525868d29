"""The quantizer contract, the registry and QKeras' string and dict forms.

A quantizer is a callable on Keras tensors that returns quantized values with
a straight-through gradient, exactly like its QKeras namesake, and that also
says what its output *is* in hardware (:meth:`BaseQuantizer.hardware`).
Layers store quantizers as QKeras-style ``{"class_name", "config"}`` dicts so
that saved models read back both here and in tools that know QKeras.
"""

from __future__ import annotations

import ast
from typing import Any, ClassVar

import keras
from keras import ops

from fpgaq.hwtypes import HardwareType

__all__ = [
    "QUANTIZERS",
    "BaseQuantizer",
    "FunctionForm",
    "get_quantizer",
    "parse_quantizer_string",
    "register_quantizer",
    "serialize_quantizer",
    "straight_through",
]

QUANTIZERS: dict[str, type[BaseQuantizer]] = {}


class BaseQuantizer:
    """Base class of every quantizer; subclass it for a custom quantizer.

    A subclass sets ``name`` (the QKeras function name), implements
    ``__call__`` on Keras tensors, ``get_config`` (keys as QKeras names them,
    constructor arguments only) and ``hardware``.  ``bits`` is the width of
    the stored code.  Register it with :func:`register_quantizer` so that its
    string and dict forms, and saved models, can name it.
    """

    name: ClassVar[str] = "base_quantizer"
    #: For quantizers that apply a function before quantizing (tanh,
    #: sigmoid, ...): its name, so the IR knows it needs a table, not a cast.
    nonlinearity: ClassVar[str | None] = None
    #: QKeras ``is_quantized_clip``-style hint: the output range is bounded.
    bits: int = 0

    def __call__(self, x: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def hardware(self, x: Any = None) -> HardwareType:
        """The exact hardware meaning of this quantizer's output.

        Quantizers whose scale depends on the data (``alpha='auto_po2'``)
        need the tensor ``x`` they quantize (e.g. the kernel).
        """
        raise NotImplementedError(f"{type(self).__name__} does not declare its hardware type")

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement get_config")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BaseQuantizer:
        return cls(**config)

    def max(self) -> float:
        raise NotImplementedError

    def min(self) -> float:
        raise NotImplementedError

    def __str__(self) -> str:
        """QKeras-style string form, readable back by :func:`get_quantizer`."""
        args = ",".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), str(self)))


class FunctionForm:
    """For quantizers QKeras defines as plain functions (``hard_sigmoid``, ``binary_tanh``, ...).

    QKeras users call them on tensors, ``hard_sigmoid(x)``; models name them as
    activations, ``"hard_sigmoid"``.  Called with a tensor the class returns the
    values; called without arguments it is the quantizer object that layers
    keep and that answers ``hardware()``.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls)
        if not args and not kwargs:
            return self
        if len(args) != 1 or kwargs:
            raise TypeError(f"{cls.__name__}(x) takes one tensor, as in QKeras; got {len(args)} positional arguments")
        return self(args[0])


def register_quantizer(cls: type[BaseQuantizer]) -> type[BaseQuantizer]:
    """Make ``cls`` known by its ``name`` to string and dict forms and to saved models."""
    if not (isinstance(cls, type) and issubclass(cls, BaseQuantizer)):
        raise TypeError(f"register_quantizer expects a BaseQuantizer subclass, got {cls!r}")
    existing = QUANTIZERS.get(cls.name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"a quantizer named {cls.name!r} is already registered ({existing.__qualname__})")
    QUANTIZERS[cls.name] = cls
    keras.saving.register_keras_serializable(package="fpgaq", name=cls.name)(cls)
    return cls


def _literal(node: ast.AST, text: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(
            f"quantizer string {text!r}: arguments must be literals (numbers, strings, True/False/None), "
            f"got {ast.unparse(node)!r}"
        ) from None


def parse_quantizer_string(text: str) -> BaseQuantizer:
    """Read ``"quantized_relu(6)"``, ``"quantized_bits(8,0,1,alpha=1)"``, ``"binary"``.

    Only a call of a registered quantizer with literal arguments is accepted:
    nothing is evaluated.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"cannot read quantizer string {text!r}; write e.g. 'quantized_bits(8,0,alpha=1)'") from None
    if isinstance(tree, ast.Name):
        name, args, kwargs = tree.id, [], {}
    elif isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
        name = tree.func.id
        args = [_literal(a, text) for a in tree.args]
        kwargs = {kw.arg: _literal(kw.value, text) for kw in tree.keywords if kw.arg}
    else:
        raise ValueError(f"cannot read quantizer string {text!r}; write e.g. 'quantized_relu(6)'")
    cls = QUANTIZERS.get(name)
    if cls is None:
        raise ValueError(f"unknown quantizer {name!r} in {text!r}; supported: {', '.join(sorted(QUANTIZERS))}")
    try:
        return cls(*args, **kwargs)
    except TypeError as err:
        raise ValueError(f"quantizer string {text!r}: {err}") from None


def get_quantizer(spec: Any) -> BaseQuantizer | None:
    """A quantizer from an object, a string form or a QKeras-style config dict.

    ``None`` stays ``None`` (no quantization).
    """
    if spec is None or isinstance(spec, BaseQuantizer):
        return spec
    if isinstance(spec, str):
        return parse_quantizer_string(spec)
    if isinstance(spec, dict) and "class_name" in spec:
        name = spec["class_name"]
        cls = QUANTIZERS.get(name)
        if cls is None:
            raise ValueError(f"unknown quantizer {name!r}; supported: {', '.join(sorted(QUANTIZERS))}")
        return cls.from_config(dict(spec.get("config", {})))
    raise TypeError(
        f"cannot make a quantizer from {spec!r}; give a quantizer object, a string such as "
        "'quantized_bits(8,0,alpha=1)' or a dict {'class_name': ..., 'config': {...}}"
    )


def serialize_quantizer(q: BaseQuantizer | None) -> dict[str, Any] | None:
    """QKeras' serialized form of a quantizer: ``{"class_name", "config"}``."""
    if q is None:
        return None
    return {"class_name": q.name, "config": q.get_config()}


def straight_through(x: Any, xq: Any, qnoise_factor: float = 1.0) -> Any:
    """Forward ``xq``, backward the identity.

    QKeras writes ``x + stop_gradient(xq - x)``, which in float32 is inexact
    for large ``x``; ``xq + (x - stop_gradient(x))`` gives ``xq`` exactly and
    the same gradient.  A ``qnoise_factor`` below 1 mixes in the float value
    as QKeras does during gradual quantization.
    """
    if qnoise_factor == 1.0:
        return ops.stop_gradient(xq) + (x - ops.stop_gradient(x))
    return x + ops.stop_gradient(qnoise_factor * (xq - x))
