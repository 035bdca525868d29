"""The typed graph IR: trace a Keras model, run passes, infer precision."""

from fpgaq.ir.graph import OPS, Graph, Node, Tensor, Weight

__all__ = ["OPS", "Graph", "Node", "Tensor", "Weight"]
