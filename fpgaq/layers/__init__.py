"""QKeras-compatible quantized layers on Keras 3.

Importing this package registers every layer with Keras, so models saved with
``model.save("m.keras")`` load with ``keras.models.load_model`` and no
``custom_objects``.
"""

from fpgaq.layers.activation import QActivation
from fpgaq.layers.batchnorm import QBatchNormalization
from fpgaq.layers.conv import QConv1D, QConv2D, QConv2DTranspose
from fpgaq.layers.dense import QDense
from fpgaq.layers.depthwise import QDepthwiseConv2D
from fpgaq.layers.folded import QConv2DBatchnorm, QDenseBatchnorm
from fpgaq.layers.pooling import QAveragePooling2D, QGlobalAveragePooling2D
from fpgaq.layers.separable import QSeparableConv1D, QSeparableConv2D

__all__ = [
    "QActivation",
    "QAveragePooling2D",
    "QBatchNormalization",
    "QConv1D",
    "QConv2D",
    "QConv2DBatchnorm",
    "QConv2DTranspose",
    "QDense",
    "QDenseBatchnorm",
    "QDepthwiseConv2D",
    "QGlobalAveragePooling2D",
    "QSeparableConv1D",
    "QSeparableConv2D",
]
