"""Activations: elementwise maps with no weights and no products (softmax included)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.ops.base import (
    FLAG,
    INDEX,
    Array,
    Elementwise,
    Layer,
    OnnxReader,
    OnnxWriter,
    Shape,
    attr,
    axis_of,
    numpy,
    register,
)


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


# the tanh approximation of GELU: 0.5·x·(1 + tanh(BETA·(x + KAPPA·x³)))
KAPPA = 0.044715
BETA = math.sqrt(2 / math.pi)


@register
@dataclass(frozen=True)
class Tanh(_Simple):
    """The hyperbolic tangent (MaxViT's classifier)."""

    op_name: ClassVar[str] = "tanh"
    other_ops_per_element: ClassVar[int] = 3  # exp, add, divide, as a sigmoid
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by gelu, which owns Tanh: one outside a GELU
    other_ops_doc: ClassVar[str] = "3·N"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        return np.tanh(inputs[0]), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Tanh", node.name, out.inputs(node))


@register
@dataclass(frozen=True)
class GELU(Elementwise):
    """x · Φ(x), Φ the standard normal distribution function (ViT, Swin, ConvNeXt); with ``tanh``, the
    approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch's ``approximate='tanh'``)."""

    op_name: ClassVar[str] = "gelu"
    other_ops_per_element: ClassVar[int] = 5  # x / √2, erf, + 1, · x, / 2
    # opset 20's Gelu; before it, PyTorch writes x · (1 + erf(x / √2)) / 2 around an Erf (or a Tanh)
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Gelu", "Erf", "Tanh")
    other_ops_doc: ClassVar[str] = "5·N (x · (1 + erf(x / √2)) / 2)"

    tanh: bool = attr(FLAG, False, doc="the tanh approximation")

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        x = inputs[0].astype(np.float64)
        if self.tanh:
            y = 0.5 * x * (1 + np.tanh(BETA * (x + KAPPA * x**3)))
        else:
            # Φ(x) = erfc(-x/√2)/2 from a rational erfc with relative error below 1.2e-7 everywhere
            # (Numerical Recipes' erfcc), so the tails keep their digits; NumPy has no erf
            z = np.abs(x) / math.sqrt(2)
            t = 1 / (1 + 0.5 * z)
            poly = 0.17087277
            for c in (-0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196):
                poly = c + t * poly
            poly = 1.00002368 + t * poly
            tail = 0.5 * t * np.exp(-z * z - 1.26551223 + t * poly)  # Φ(-|x|)
            y = x * np.where(x >= 0, 1 - tail, tail)
        return y.astype(inputs[0].dtype), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """As PyTorch writes GELU before opset 20 (Gelu itself is opset 20; files are written at 17):
        x · (1 + erf(x / √2)) / 2, or with ``tanh`` x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))) / 2."""
        np = numpy()
        x = out.inputs(node)[0]
        if self.tanh:
            three = out.constant(node.name, "three", np.array(3, dtype=np.float32))
            cube = out.emit("Pow", f"{node.name}/pow", [x, three])
            kappa = out.constant(node.name, "kappa", np.array(KAPPA, dtype=np.float32))
            inner = out.emit("Mul", f"{node.name}/cubic", [cube, kappa])
            inner = out.emit("Add", f"{node.name}/inner", [x, inner])
            beta = out.constant(node.name, "beta", np.array(BETA, dtype=np.float32))
            inner = out.emit("Mul", f"{node.name}/scale", [inner, beta])
            curve = out.emit("Tanh", f"{node.name}/tanh", [inner])
        else:
            root2 = out.constant(node.name, "root2", np.array(math.sqrt(2), dtype=np.float32))
            inner = out.emit("Div", f"{node.name}/div", [x, root2])
            curve = out.emit("Erf", f"{node.name}/erf", [inner])
        one = out.constant(node.name, "unit", np.array(1, dtype=np.float32))
        half = out.constant(node.name, "halving", np.array(0.5, dtype=np.float32))
        shifted = out.emit("Add", f"{node.name}/add", [curve, one])
        scaled = out.emit("Mul", f"{node.name}/mul", [x, shifted])
        out.emit("Mul", node.name, [scaled, half])

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if node.op_type == "Gelu":
            how = node.attrs.get("approximate", "none")
            how = str(how)
            if how not in ("none", "tanh"):
                raise reader.fail(f"Gelu with approximate '{how}' is not supported (only none and tanh)", node.name)
            reader.add(node, cls.op_name, [node.inputs[0]], tanh=how == "tanh")
            return
        found = reader.claimed(node)
        if found is None and node.op_type == "Tanh":
            reader.add(node, Tanh.op_name, [node.inputs[0]])
            return
        if found is None:
            raise reader.fail("Erf is supported only inside a GELU, x · (1 + erf(x / √2)) / 2", node.name)
        x, _, last = found
        reader.add(last, cls.op_name, [x], last.outputs[0], tanh=node.op_type == "Tanh")

    @classmethod
    def claims(cls, node: Any, reader: OnnxReader) -> tuple[str, list[Any], Any] | None:
        """(x, the other nodes of the GELU around an Erf or a Tanh, the last of them) as PyTorch writes
        GELU before opset 20, else None: x · (1 + erf(x / √2)) / 2 (x / √2 as a Div or a Mul), or
        x · (1 + tanh(√(2/π) · (x + 0.044715 · Pow(x, 3)))) / 2, the halving of x, of (1 + erf) or of
        the product. Each node of it is the only reader of the one before it."""
        head = _erf_head(node, reader) if node.op_type == "Erf" else _tanh_head(node, reader)
        if head is None:
            return None
        x, front = head
        shifted = reader.only_consumer(node.outputs[0])
        if shifted is None or shifted.op_type != "Add" or _other_constant(reader, shifted, node.outputs[0]) != 1:
            return None
        product = reader.only_consumer(shifted.outputs[0])
        if product is None or product.op_type != "Mul" or shifted.outputs[0] not in product.inputs:
            return None
        other = product.inputs[1] if product.inputs[0] == shifted.outputs[0] else product.inputs[0]
        if _scalar(reader, other, product) == 0.5:  # (1 + erf) / 2 first, then times x (dynamo, opset 18)
            last = reader.only_consumer(product.outputs[0])
            if last is None or last.op_type != "Mul" or sorted(last.inputs) != sorted([x, product.outputs[0]]):
                return None
            return x, [*front, shifted, product, last], last
        if other == x:  # x · (1 + erf) then halved
            last = reader.only_consumer(product.outputs[0])
            if last is None or _times(reader, last, {"Div": 2, "Mul": 0.5}) != product.outputs[0]:
                return None
            return x, [*front, shifted, product, last], last
        halving = reader.producer(other)  # (x / 2) · (1 + erf)
        if halving is None or reader.only_consumer(other) is not product or _times(reader, halving, {"Mul": 0.5}) != x:
            return None
        return x, [*front, shifted, halving, product], product


def _erf_head(node: Any, reader: OnnxReader) -> tuple[str, list[Any]] | None:
    """(x, [the node making x / √2]) of an Erf of x / √2."""
    scaling = reader.producer(node.inputs[0])
    if scaling is None or reader.only_consumer(scaling.outputs[0]) is not node:
        return None
    x = _times(reader, scaling, {"Div": math.sqrt(2), "Mul": 1 / math.sqrt(2)})
    return None if x is None else (x, [scaling])


def _tanh_head(node: Any, reader: OnnxReader) -> tuple[str, list[Any]] | None:
    """(x, its nodes) of a Tanh of √(2/π) · (x + 0.044715 · Pow(x, 3))."""
    if node.op_type != "Tanh":
        return None
    scaling = reader.producer(node.inputs[0])
    if scaling is None or reader.only_consumer(scaling.outputs[0]) is not node:
        return None
    inner = _times(reader, scaling, {"Mul": BETA})
    if inner is None:
        return None
    total = reader.producer(inner)
    if total is None or total.op_type != "Add" or reader.only_consumer(inner) is not scaling or len(total.inputs) != 2:
        return None
    for x, cubic in (total.inputs, total.inputs[::-1]):
        weighting = reader.producer(cubic)
        if weighting is None or reader.only_consumer(cubic) is not total:
            continue
        cube = _times(reader, weighting, {"Mul": KAPPA})
        power = reader.producer(cube) if cube is not None else None
        if (
            cube is not None
            and power is not None
            and power.op_type == "Pow"
            and reader.only_consumer(cube) is weighting
            and power.inputs[0] == x
            and _scalar(reader, power.inputs[1], power) == 3
        ):
            return x, [power, weighting, total, scaling]
    return None


def _scalar(reader: OnnxReader, tensor: str, node: Any) -> float | None:
    """The value of a one-element constant tensor, else None."""
    if not tensor or not reader.is_static(tensor):
        return None
    value = reader.constant(tensor, node, "value")
    return float(value.reshape(-1)[0]) if value.size == 1 else None


def _other_constant(reader: OnnxReader, node: Any, tensor: str) -> float | None:
    """The one-element constant ``node`` combines with ``tensor`` (its other input), else None."""
    if len(node.inputs) != 2 or tensor not in node.inputs:
        return None
    return _scalar(reader, node.inputs[1] if node.inputs[0] == tensor else node.inputs[0], node)


def _times(reader: OnnxReader, node: Any, factors: dict[str, float]) -> str | None:
    """The tensor ``node`` divides or multiplies by its constant (``factors``: op type -> the constant,
    to float32's precision; a Mul's constant on either side), else None."""
    expected = factors.get(node.op_type)
    if expected is None or len(node.inputs) != 2:
        return None
    sides: list[tuple[str, str]] = [(node.inputs[0], node.inputs[1])]
    if node.op_type == "Mul":
        sides.append((node.inputs[1], node.inputs[0]))
    for data, factor in sides:
        value = _scalar(reader, factor, node)
        if value is not None and not reader.is_static(data) and abs(value - expected) <= 1e-6 * abs(expected):
            return data
    return None


@register
@dataclass(frozen=True)
class Softmax(_Simple):
    op_name: ClassVar[str] = "softmax"
    other_ops_per_element: ClassVar[int] = 3  # exp, sum, divide
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Softmax",)
    other_ops_doc: ClassVar[str] = "3·N"

    axis: Any = attr(INDEX, 0, doc="the axis that sums to 1 (0: the channels; attention: the last)")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        axis_of(self.axis, inputs[0], "softmax")
        return inputs[0]

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Shifted by the maximum so that exp never overflows."""
        np = numpy()
        x = inputs[0]
        axis = int(self.axis) + 1
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Softmax", node.name, out.inputs(node), axis=int(self.axis) + 1)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        """Before opset 13 a Softmax flattens the axes from ``axis`` on: the same only over the last."""
        data = reader.plain(node.inputs[0], node)
        rank = len(reader.shape(data, node))
        given = int(node.attrs.get("axis", -1 if reader.opset >= 13 else 1))
        if reader.opset < 13 and given % max(rank, 1) != rank - 1:
            raise reader.fail(f"Softmax (opset {reader.opset}) over axes {given} onward is not supported", node.name)
        axis = reader.image_axis(data, given, node)
        reader.add(node, cls.op_name, [data], axis=axis or None)
