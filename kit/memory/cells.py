"""MindSpore cells of chapter 02's real network and its segment-wise executor (section
"Experiment 4"). Module-level classes: MindSpore parses their source."""

from __future__ import annotations

import mindspore as ms
from mindspore import nn, ops


class Block(nn.Cell):
    """A dense layer followed by tanh (or nothing, for the head)."""

    def __init__(self, fan_in: int, fan_out: int, activation: bool) -> None:
        super().__init__()
        self.dense = nn.Dense(fan_in, fan_out)
        self.activation = activation

    def construct(self, x):
        y = self.dense(x)
        if self.activation:
            y = ops.tanh(y)
        return y


class Segment(nn.Cell):
    """Consecutive blocks (i, j] of the network: one segment of a plan."""

    def __init__(self, blocks: list) -> None:
        super().__init__()
        self.blocks = nn.SequentialCell(blocks)

    def construct(self, x):
        return self.blocks(x)


class LastSegment(nn.Cell):
    """The last segment plus the mean softmax cross-entropy against one-hot labels."""

    def __init__(self, blocks: list) -> None:
        super().__init__()
        self.blocks = nn.SequentialCell(blocks)

    def construct(self, x, labels):
        logits = self.blocks(x)
        return -(labels * ops.log_softmax(logits, axis=-1)).sum() / logits.shape[0]


class SegmentGrad(nn.Cell):
    """Gradients of a segment with respect to its input and parameters: with a sensitivity
    (the gradient of its output) for inner segments, of the loss for the last one."""

    def __init__(self, segment: nn.Cell, sens: bool) -> None:
        super().__init__()
        self.segment = segment
        self.params = ms.ParameterTuple(segment.trainable_params())
        self.grad = ops.GradOperation(get_all=True, get_by_list=True, sens_param=sens)

    def construct(self, *args):
        return self.grad(self.segment, self.params)(*args)
