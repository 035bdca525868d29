"""Test support for the quantized layers: a stand-in grid quantizer and float64
NumPy references of the Keras operations, written from their definitions."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from keras import ops

from fpgaq.quantizers import QUANTIZERS, BaseQuantizer, straight_through

GRID = "test_grid"


class TestGrid(BaseQuantizer):
    """``quantized_bits(bits, integer, alpha=1)`` numerics on keras.ops, for the
    layer tests to run whether or not the real quantizers have landed."""

    __test__ = False  # not a pytest class
    name = GRID

    def __init__(self, bits: int = 4, integer: int = 0) -> None:
        self.bits = bits
        self.integer = integer

    def __call__(self, x: Any) -> Any:
        scale = 2.0 ** (self.bits - 1 - self.integer)
        top = 2.0 ** (self.bits - 1)
        return straight_through(x, ops.clip(ops.round(x * scale), -top, top - 1) / scale)

    def get_config(self) -> dict[str, Any]:
        return {"bits": self.bits, "integer": self.integer}

    def max(self) -> float:
        return max(1.0, 2.0**self.integer)

    def min(self) -> float:
        return -self.max()


keras.saving.register_keras_serializable(package="fpgaq", name=GRID)(TestGrid)


def use_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``test_grid`` known to string/dict forms for one test only, so other
    tests' lists of supported quantizers stay as they are."""
    monkeypatch.setitem(QUANTIZERS, GRID, TestGrid)


def has_quantizer(name: str) -> bool:
    return name in QUANTIZERS


def q4(w: np.ndarray) -> np.ndarray:
    """quantized_bits(4, 0, alpha=1) by hand: steps of 1/8 in [-1, 0.875], ties to even."""
    return np.clip(np.round(np.asarray(w, np.float64) * 8) / 8, -1.0, 0.875)


def q6i2(w: np.ndarray) -> np.ndarray:
    """quantized_bits(6, 2, alpha=1) by hand: steps of 1/8 in [-4, 3.875], ties to even."""
    return np.clip(np.round(np.asarray(w, np.float64) * 8) / 8, -4.0, 3.875)


# Float weights around the 1/8 grid: on it, exactly half-way (1/16 -> 0, 3/16 -> 1/4,
# 5/16 -> 1/4, -3/16 -> -1/4), and out of range (saturating to -1 or 0.875).
SPECIAL = np.array([0.0, 0.125, 1 / 16, 3 / 16, 5 / 16, -3 / 16, -1 / 16, 0.9, 1.3, -1.0, -1.7, 0.8], np.float32)


def weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random floats in [-1.2, 1.2] with the special values at the front."""
    w = rng.uniform(-1.2, 1.2, size=shape).astype(np.float32).ravel()
    n = min(w.size, SPECIAL.size)
    w[:n] = SPECIAL[:n]
    return w.reshape(shape)


def grid_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Multiples of 1/4 in [-2, 2]: products with 1/8-grid weights and their
    sums are exact in float32, so layer outputs can be compared exactly."""
    return (rng.integers(-8, 9, size=shape) / 4).astype(np.float32)


def _same_pad(size: int, k_eff: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def conv2d_ref(
    x: np.ndarray,
    k: np.ndarray,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Cross-correlation, NHWC input, kernel (kh, kw, cin, cout), as TF defines it."""
    x = np.asarray(x, np.float64)
    k = np.asarray(k, np.float64)
    kh, kw, _, cout = k.shape
    keff = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    if padding == "same":
        pads = [_same_pad(x.shape[1 + i], keff[i], strides[i]) for i in range(2)]
        x = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])
    n, h, w, _ = x.shape
    oh = (h - keff[0]) // strides[0] + 1
    ow = (w - keff[1]) // strides[1] + 1
    y = np.zeros((n, oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    px = x[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1], :]
                    y[:, i, j, :] += px @ k[a, b]
    return y


def conv1d_ref(x: np.ndarray, k: np.ndarray, stride: int = 1, padding: str = "valid", dilation: int = 1) -> np.ndarray:
    """Conv1D (NWC, kernel (k, cin, cout)); "causal" pads (k-1)*dilation zeros on the left."""
    x = np.asarray(x, np.float64)
    if padding == "causal":
        x = np.pad(x, [(0, 0), ((k.shape[0] - 1) * dilation, 0), (0, 0)])
        padding = "valid"
    y = conv2d_ref(x[:, None], np.asarray(k)[None], (1, stride), padding, (1, dilation))
    return y[:, 0]


def depthwise2d_ref(
    x: np.ndarray,
    k: np.ndarray,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Each input channel c convolved with k[..., c, m] into output channel c*M + m."""
    _, _, cin, mult = k.shape
    outs = []
    for c in range(cin):
        outs.append(conv2d_ref(x[..., c : c + 1], k[:, :, c : c + 1, :], strides, padding, dilation))
    y = np.stack(outs, axis=-2)  # (n, oh, ow, cin, mult)
    return y.reshape((*y.shape[:3], cin * mult))


def conv2d_transpose_ref(
    x: np.ndarray,
    k: np.ndarray,
    strides: tuple[int, int],
    padding: str,
    output_padding: tuple[int, int] | None = None,
) -> np.ndarray:
    """Transposed convolution by its scatter definition, kernel (kh, kw, cout, cin):
    input pixel (i, j) adds ``x[i, j] . k[a, b]`` at ``(i*s + a - pad, j*s + b - pad)``;
    the output size and ``pad`` are those of the convolution it transposes."""
    x = np.asarray(x, np.float64)
    k = np.asarray(k, np.float64)
    kh, kw, cout, _ = k.shape
    n, h, w, _ = x.shape
    sizes, pads = [], []
    for size, ksz, s, i in ((h, kh, strides[0], 0), (w, kw, strides[1], 1)):
        if output_padding is None:
            out = size * s if padding == "same" else size * s + max(ksz - s, 0)
        else:
            out = (size - 1) * s + (ksz % 2 if padding == "same" else ksz) + output_padding[i]
        sizes.append(out)
        pads.append(max((size - 1) * s + ksz - out, 0) // 2 if padding == "same" else 0)
    y = np.zeros((n, sizes[0], sizes[1], cout))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    oi, oj = i * strides[0] + a - pads[0], j * strides[1] + b - pads[1]
                    if 0 <= oi < sizes[0] and 0 <= oj < sizes[1]:
                        y[:, oi, oj, :] += x[:, i, j, :] @ k[a, b].T
    return y


def ste_kernel_grad(forward: Any, kernel_shape: tuple[int, ...]) -> np.ndarray:
    """d sum(forward(K)) / dK for a forward pass linear in K: entry idx is the
    sum of the output for a one-hot kernel at idx (what the straight-through
    gradient through the quantizer must equal)."""
    grad = np.zeros(kernel_shape)
    for idx in np.ndindex(*kernel_shape):
        onehot = np.zeros(kernel_shape)
        onehot[idx] = 1.0
        grad[idx] = forward(onehot).sum()
    return grad
