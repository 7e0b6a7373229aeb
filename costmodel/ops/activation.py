"""Activations: elementwise maps with no weights and no products (softmax included)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.ops.base import Array, Elementwise, Layer, OnnxReader, OnnxWriter, numpy, register


@dataclass(frozen=True)
class _Simple(Elementwise):
    """An activation that is one ONNX operator of the same meaning, both ways."""

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit((self.onnx_types or ("",))[0], node.name, out.inputs(node))

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        reader.add(node, cls.op_name, [node.inputs[0]])


@register
@dataclass(frozen=True)
class ReLU(_Simple):
    op_name: ClassVar[str] = "relu"
    other_ops_per_element: ClassVar[int] = 1
    in_place: ClassVar[bool] = True
    fusable_activation: ClassVar[bool] = True
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Relu",)
    other_ops_doc: ClassVar[str] = "N"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return self.kernel_in_place(inputs, weights, overwrite=False)

    def kernel_in_place(self, inputs: list[Array], weights: dict[str, Array], overwrite: bool) -> tuple[Array, int]:
        return numpy().maximum(inputs[0], 0, out=inputs[0] if overwrite else None), 0


@register
@dataclass(frozen=True)
class ReLU6(Elementwise):
    op_name: ClassVar[str] = "relu6"
    other_ops_per_element: ClassVar[int] = 2  # clamp below and above
    in_place: ClassVar[bool] = True
    fusable_activation: ClassVar[bool] = True
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Clip",)  # to [0, 6]; [0, inf) reads as a ReLU
    other_ops_doc: ClassVar[str] = "2·N"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return self.kernel_in_place(inputs, weights, overwrite=False)

    def kernel_in_place(self, inputs: list[Array], weights: dict[str, Array], overwrite: bool) -> tuple[Array, int]:
        return numpy().clip(inputs[0], 0, 6, out=inputs[0] if overwrite else None), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        np = numpy()
        low = out.constant(node.name, "min", np.array(0, dtype=np.float32))
        high = out.constant(node.name, "max", np.array(6, dtype=np.float32))
        out.emit("Clip", node.name, [out.inputs(node)[0], low, high])

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if reader.opset < 11:
            low, high = node.attrs.get("min"), node.attrs.get("max")
        else:
            inputs = [*node.inputs, "", ""]
            low, high = (
                float(reader.constant(t, node, what).reshape(-1)[0]) if t else None
                for t, what in ((inputs[1], "min"), (inputs[2], "max"))
            )
        if low == 0 and high == 6:
            reader.add(node, cls.op_name, [node.inputs[0]])
        elif low == 0 and (high is None or math.isinf(high)):
            reader.add(node, ReLU.op_name, [node.inputs[0]])
        else:
            raise reader.fail(
                f"Clip to [{low}, {high}] is not supported (only ReLU, [0, inf), and ReLU6, [0, 6])", node.name
            )


@register
@dataclass(frozen=True)
class HardSwish(_Simple):
    """x · relu6(x + 3) / 6 (MobileNetV3)."""

    op_name: ClassVar[str] = "hard_swish"
    other_ops_per_element: ClassVar[int] = 5  # add, two clamps, multiply, divide
    onnx_types: ClassVar[tuple[str, ...] | None] = ("HardSwish",)
    other_ops_doc: ClassVar[str] = "5·N (x · relu6(x + 3) / 6)"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        x = inputs[0]
        gate = numpy().clip(x + 3, 0, 6)
        gate /= 6
        gate *= x
        return gate, 0


@register
@dataclass(frozen=True)
class HardSigmoid(_Simple):
    """relu6(x + 3) / 6 (MobileNetV3's squeeze-excite gate)."""

    op_name: ClassVar[str] = "hard_sigmoid"
    other_ops_per_element: ClassVar[int] = 4  # add, two clamps, divide
    onnx_types: ClassVar[tuple[str, ...] | None] = ("HardSigmoid",)
    other_ops_doc: ClassVar[str] = "4·N (relu6(x + 3) / 6)"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        gate = numpy().clip(inputs[0] + 3, 0, 6)
        gate /= 6
        return gate, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("HardSigmoid", node.name, out.inputs(node), alpha=1.0 / 6.0, beta=0.5)


@register
@dataclass(frozen=True)
class Sigmoid(_Simple):
    op_name: ClassVar[str] = "sigmoid"
    other_ops_per_element: ClassVar[int] = 3  # exp, add, divide
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Sigmoid",)
    other_ops_doc: ClassVar[str] = "3·N"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        x = inputs[0]
        e = np.exp(-np.abs(x))  # never overflows
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False), 0

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        """A Sigmoid whose only use is ``Mul(x, Sigmoid(x))`` is SiLU as files before opset 24 write
        it (PyTorch's exporters, and this tool's): one silu layer, named after the Mul."""
        x = node.inputs[0]
        user = reader.only_consumer(node.outputs[0])
        if user is not None and user.op_type == "Mul" and sorted(user.inputs) == sorted([x, node.outputs[0]]):
            reader.add(user, SiLU.op_name, [x])
            reader.absorb(user)
            return
        reader.add(node, cls.op_name, [x])


@register
@dataclass(frozen=True)
class SiLU(Elementwise):
    """x · sigmoid(x), also called swish (EfficientNet, MobileNetV3's search space)."""

    op_name: ClassVar[str] = "silu"
    other_ops_per_element: ClassVar[int] = 4  # a sigmoid's exp, add, divide, then a multiply
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Swish",)  # opset 24; older files hold Sigmoid and Mul
    other_ops_doc: ClassVar[str] = "4·N (x · sigmoid(x))"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        x = inputs[0]
        gate, _ = Sigmoid().kernel([x], {})
        gate *= x
        return gate, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """Sigmoid then Mul: ONNX's own Swish needs opset 24, and files are written at opset 17."""
        x = out.inputs(node)[0]
        gate = out.emit("Sigmoid", f"{node.name}/sigmoid", [x])
        out.emit("Mul", node.name, [x, gate])

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if float(node.attrs.get("alpha", 1.0)) != 1.0:
            raise reader.fail(f"Swish with alpha {node.attrs['alpha']} is not supported (only x·sigmoid(x))", node.name)
        reader.add(node, cls.op_name, [node.inputs[0]])


@register
@dataclass(frozen=True)
class Softmax(_Simple):
    op_name: ClassVar[str] = "softmax"
    other_ops_per_element: ClassVar[int] = 3  # exp, sum, divide
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Softmax",)
    other_ops_doc: ClassVar[str] = "3·N"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Over the channel (feature) axis, shifted by the maximum so that exp never overflows."""
        np = numpy()
        x = inputs[0]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Softmax", node.name, out.inputs(node), axis=1)
