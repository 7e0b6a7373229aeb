"""Operators on tensors of any rank: what a vision transformer does to its tokens.

A transformer's image becomes a (tokens, features) matrix: its patches (a strided convolution, then a
``reshape`` and a ``transpose``), a learned ``class_token`` in front, a learned ``position_embedding``
added, then attention (a ``matmul`` of two activations, a softmax over the last axis, another
``matmul``) and per-token ``linear`` layers, and at the end the class token alone (``select``). Shapes
here are one image's, as everywhere in costmodel; the batch axis is never named.

Files write attention with the batch axis moved about (PyTorch's ``nn.MultiheadAttention`` works on
[tokens, batch, features] and merges the batch with the heads). The importer follows where the batch
axis is (:meth:`costmodel.ops.base.OnnxReader.batch_axis`); these readers turn the file's axes into
one image's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.intmath import Value
from costmodel.ops.base import (
    AXES,
    EXPR,
    INDEX,
    NORM_STATS,
    NUMBER,
    SIZES,
    WEIGHT,
    Array,
    Layer,
    OnnxReader,
    OnnxWriter,
    Operator,
    ParameterFree,
    Shape,
    ShapeError,
    WeightArray,
    attr,
    axis_of,
    known,
    numpy,
    positive,
    product,
    register,
    show_shape,
)


@register
@dataclass(frozen=True)
class Reshape(ParameterFree):
    """The same values in another shape (row-major order, as numpy and ONNX reshape)."""

    op_name: ClassVar[str] = "reshape"
    # Squeeze and Unsqueeze of an activation; a Reshape or Flatten that is not a flatten before a linear
    # layer is read here too (by ``flatten``, which owns those types)
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Squeeze", "Unsqueeze")
    shape_doc: ClassVar[str] = "`shape`"

    shape: tuple[Value, ...] = attr(SIZES, doc="the output's sizes, one per axis")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        for size in self.shape:
            positive(size, "reshape size")
        before, after = product(inputs[0]), product(self.shape)
        if known(before, after) and before != after:
            raise ShapeError(
                f"cannot reshape {show_shape(inputs[0])} ({before} values) to {show_shape(self.shape)} ({after})"
            )
        return tuple(self.shape)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """A copy: a view would share memory with the input, which an in-place kernel could then write over."""
        x = inputs[0]
        return x.reshape(x.shape[0], *(int(s) for s in self.shape)).copy(), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        shape = out.integers(node.name, "shape", [0, *(int(s) for s in self.shape)])  # 0: the batch, copied
        out.emit("Reshape", node.name, [*out.inputs(node), shape])

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        """A Reshape, Flatten, Squeeze or Unsqueeze of an activation. The output's batch axis is the size-1
        axis with as many values before it as before the input's (else the first size-1 axis, else none:
        the batch merged into another axis, as nn.MultiheadAttention's batch with its heads)."""
        source = reader.plain(node.inputs[0], node)
        before = reader.per_image(source, node)
        full = reader.shape(node.outputs[0], node)
        batch = reader.batch_axis(source)
        ahead = product(reader.shape(source, node)[:batch]) if batch is not None else None
        ones = [i for i, size in enumerate(full) if size == 1]
        choice = next((i for i in ones if product(full[:i]) == ahead), ones[0] if ones else None)
        after = tuple(size for i, size in enumerate(full) if i != choice)
        if not after:  # one value per image
            after, choice = tuple(full), None
        if product(after) != product(before):
            raise reader.fail(
                f"{node.op_type} of {show_shape(before)} values per image to {list(full)} is not supported", node.name
            )
        if after == before:
            reader.alias(node.outputs[0], source, node)
        else:
            reader.add(node, cls.op_name, [source], shape=list(after))
        reader.place_batch(node.outputs[0], choice)


@register
@dataclass(frozen=True)
class Transpose(ParameterFree):
    """The axes in another order: output axis i is input axis ``perm[i]``."""

    op_name: ClassVar[str] = "transpose"
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by channel_shuffle, which owns Transpose
    shape_doc: ClassVar[str] = "the input's sizes in the order `perm`"

    perm: tuple[Value, ...] = attr(AXES, doc="a permutation of 0 … rank − 1")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if sorted(int(p) for p in self.perm if known(p)) != list(range(len(shape))):
            raise ShapeError(f"transpose perm {list(self.perm)} is not a permutation of the {len(shape)} input axes")
        return tuple(shape[int(p)] for p in self.perm)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Always a copy, as a reshape's: the identity permutation would otherwise give back the input."""
        return inputs[0].transpose(0, *(int(p) + 1 for p in self.perm)).copy(order="C"), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Transpose", node.name, out.inputs(node), perm=[0, *(int(p) + 1 for p in self.perm)])

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        source = reader.plain(node.inputs[0], node)
        rank = len(reader.shape(source, node))
        perm = [int(p) for p in node.attrs.get("perm", range(rank - 1, -1, -1))]
        if sorted(perm) != list(range(rank)):
            raise reader.fail(f"Transpose perm {perm} is not a permutation of {rank} axes", node.name)
        batch = reader.batch_axis(source)
        image = perm if batch is None else [p - (p > batch) for p in perm if p != batch]
        if image == sorted(image):
            reader.alias(node.outputs[0], source, node)
        else:
            reader.add(node, cls.op_name, [source], perm=image)
        reader.place_batch(node.outputs[0], None if batch is None else perm.index(batch))


@register
@dataclass(frozen=True)
class MatMul(ParameterFree):
    """The product of two activations, (…, M, K) × (…, K, N) → (…, M, N), the leading axes broadcast as
    numpy's matmul: attention's queries × keys and weights × values."""

    op_name: ClassVar[str] = "matmul"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2
    # an Einsum that is a batched matrix product (MaxViT's attention); MatMul is linear's, which hands a
    # product of two activations over
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Einsum",)
    shape_doc: ClassVar[str] = "(…, M, N)"
    macs_doc: ClassVar[str] = "N·K"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        a, b = inputs
        if len(a) < 2 or len(b) < 2:
            raise ShapeError(f"matmul takes inputs of at least 2 axes, got {show_shape(a)} and {show_shape(b)}")
        if known(a[-1], b[-2]) and a[-1] != b[-2]:
            raise ShapeError(f"matmul of {show_shape(a)} and {show_shape(b)}: {a[-1]} ≠ {b[-2]}")
        lead_a, lead_b = a[:-2], b[:-2]
        width = max(len(lead_a), len(lead_b))
        lead_a = (1,) * (width - len(lead_a)) + tuple(lead_a)
        lead_b = (1,) * (width - len(lead_b)) + tuple(lead_b)
        lead = []
        for x, y in zip(lead_a, lead_b, strict=True):
            if known(x, y) and x != y and 1 not in (x, y):
                raise ShapeError(f"matmul cannot broadcast {show_shape(a)} with {show_shape(b)}")
            lead.append(y if known(x) and x == 1 else x)
        return (*lead, a[-2], b[-1])

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * inputs[0][-1]

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        a, b = inputs
        y = numpy().matmul(a, b)
        return y, int(y.size) * int(a.shape[-1])

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("MatMul", node.name, out.inputs(node))

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if node.op_type == "Einsum":
            cls._from_einsum(node, reader)
            return
        a, b = (reader.plain(t, node) for t in node.inputs[:2])
        batches = {reader.batch_axis(a), reader.batch_axis(b)}
        ranks = {len(reader.shape(a, node)), len(reader.shape(b, node))}
        batch = batches.pop()
        if batches or len(ranks) != 1 or (batch is not None and batch >= ranks.pop() - 2):
            raise reader.fail("MatMul of two activations needs the batch on the same leading axis of both", node.name)
        reader.add(node, cls.op_name, [a, b])

    @classmethod
    def _from_einsum(cls, node: Any, reader: OnnxReader) -> None:
        """An Einsum of two activations whose equation is a batched matrix product, ``…ik, …kj -> …ij``,
        either operand's last two letters swapped (``B G H I D, B G H J D -> B G H I J``: Q·Kᵀ): a
        transpose of that operand (``NODE/transpose_a``, ``NODE/transpose_b``) and a matmul."""
        equation = str(node.attrs.get("equation", "")).replace(" ", "")
        terms, arrow, result = equation.partition("->")
        operands = terms.split(",")
        if not arrow or len(operands) != 2 or len(node.inputs) != 2 or len(reader.activation_inputs(node)) != 2:
            raise reader.fail(f"Einsum '{equation}' is supported only as a product of two activations", node.name)
        a, b = operands
        lead = result[:-2]
        i, j = (result[-2], result[-1]) if len(result) >= 2 else ("", "")
        shared = set(a) & set(b) - set(result)
        k = shared.pop() if len(shared) == 1 else ""
        if not (
            k
            and a[:-2] == b[:-2] == lead
            and sorted(a[-2:]) == sorted(i + k)
            and sorted(b[-2:]) == sorted(k + j)
            and len(set(result)) == len(result)
        ):
            raise reader.fail(f"Einsum '{equation}' is not a batched matrix product", node.name)
        inputs = []
        for tensor, letters, wanted, tag in ((node.inputs[0], a, i + k, "a"), (node.inputs[1], b, k + j, "b")):
            source = reader.plain(tensor, node)
            if letters[-2:] != wanted:
                rank = len(reader.per_image(source, node))
                swapped = f"{tensor}#transposed"
                perm = [*range(rank - 2), rank - 1, rank - 2]
                reader.add(node, Transpose.op_name, [source], swapped, f"{node.name}/transpose_{tag}", perm=perm)
                source = swapped
            inputs.append(source)
        batches = {reader.batch_axis(t) for t in inputs}
        if len(batches) != 1 or ((batch := batches.pop()) is not None and batch >= len(a) - 2):
            raise reader.fail("Einsum of two activations needs the batch on the same leading axis of both", node.name)
        reader.add(node, cls.op_name, inputs)


@register
@dataclass(frozen=True)
class Select(ParameterFree):
    """One position along an axis, the axis dropped: the class token out of a transformer's tokens."""

    op_name: ClassVar[str] = "select"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Gather",)  # of an activation, at one constant index
    shape_doc: ClassVar[str] = "the input's sizes without `axis`"

    axis: Value = attr(INDEX, doc="the axis (0 for the first)")
    index: Value = attr(INDEX, 0, doc="the position taken along it")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        axis = axis_of(self.axis, shape, "select")
        if len(shape) < 2:
            raise ShapeError(f"select would leave nothing of its input {show_shape(shape)}")
        if known(self.index, shape[axis]) and self.index >= shape[axis]:
            raise ShapeError(f"select index {self.index} is past the {shape[axis]} positions of axis {axis}")
        return tuple(s for i, s in enumerate(shape) if i != axis)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return numpy().take(inputs[0], int(self.index), axis=int(self.axis) + 1), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        index = out.integers(node.name, "index", numpy().array(int(self.index), dtype="int64"))
        out.emit("Gather", node.name, [*out.inputs(node), index], axis=int(self.axis) + 1)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        source = reader.plain(node.inputs[0], node)
        if len(node.inputs) < 2 or not reader.is_static(node.inputs[1]):
            raise reader.fail("Gather at indices computed from the image is not supported", node.name)
        indices = reader.constant(node.inputs[1], node, "indices")
        if indices.ndim != 0:
            raise reader.fail(f"Gather of an activation at {indices.size} indices: only one is supported", node.name)
        full = reader.shape(source, node)
        given = int(node.attrs.get("axis", 0))
        axis = reader.image_axis(source, given, node)
        size = full[given % len(full)]
        index = int(indices)
        if not -size <= index < size:
            raise reader.fail(f"Gather index {index} is outside the {size} positions of axis {given}", node.name)
        reader.add(node, cls.op_name, [source], axis=axis, index=index % size)
        batch = reader.batch_axis(source)
        reader.place_batch(node.outputs[0], None if batch is None else batch - (batch > given % len(full)))


@register
@dataclass(frozen=True)
class ClassToken(Operator):
    """Learned tokens put in front of a (tokens, features) input (ViT's class token)."""

    op_name: ClassVar[str] = "class_token"
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by concat: a Concat of a constant and the tokens
    shape_doc: ClassVar[str] = "(T + count) × D"
    params_doc: ClassVar[str] = "count·D (weight)"

    count: Value = attr(EXPR, 1, doc="the tokens added")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if len(shape) != 2:
            raise ShapeError(f"class_token needs a (tokens, features) input, got {show_shape(shape)}")
        positive(self.count, "class_token count")
        return (self.count + shape[0], shape[1])

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        return {"token": WeightArray(WEIGHT, (self.count, inputs[0][1]))}

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        x = inputs[0]
        token = np.broadcast_to(weights["token"], (x.shape[0], *weights["token"].shape))
        return np.concatenate([token.astype(x.dtype), x], axis=1), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """Concat of the token, expanded to the batch ([N, count, D] from the input's Shape), and the input."""
        x = out.inputs(node)[0]
        count, d = int(self.count), int(node.input_shapes[0][1])
        token = out.weights(node)[0]
        shaped = out.emit(
            "Reshape", f"{node.name}/token_batch_of_1", [token, out.integers(node.name, "token_shape", [1, count, d])]
        )
        batch = out.emit("Shape", f"{node.name}/batch", [x], start=0, end=1)
        sizes = out.emit("Concat", f"{node.name}/sizes", [batch, out.integers(node.name, "rest", [count, d])], axis=0)
        tokens = out.emit("Expand", f"{node.name}/expand", [shaped, sizes])
        out.emit("Concat", node.name, [tokens, x], axis=1)

    @classmethod
    def read(cls, node: Any, reader: OnnxReader, axis: int) -> None:
        """A Concat, along the tokens, of constants and then the one activation."""
        data = reader.activation_inputs(node)
        source = reader.plain(data[0], node)
        shape = reader.per_image(source, node)
        if len(data) != 1 or node.inputs[-1] != data[0] or len(shape) != 2 or axis != 0:
            raise reader.fail(
                "Concat with a constant operand is supported only as learned tokens in front of (tokens, features)",
                node.name,
            )
        constants = node.inputs[:-1]
        sizes = [reader.static_shape(t) or () for t in constants]
        if len(constants) != 1 or product(sizes[0]) % shape[1] or not sizes[0] or sizes[0][-1] != shape[1]:
            raise reader.fail(f"Concat of a constant of shape {list(sizes[0])} to tokens {list(shape)}", node.name)
        count = product(sizes[0]) // shape[1]
        reader.stored(node, "token", constants[0], f"as {count},{shape[1]}")
        reader.add(node, cls.op_name, [source], count=count)


def _with_constant(node: Any, reader: OnnxReader) -> tuple[str, str, Shape, Shape, Shape]:
    """(the constant, the activation as the file holds it, its shape for one image and with the batch,
    the constant's shape) of a two-input node of one activation and one constant."""
    data = reader.activation_inputs(node)[0]
    constant = node.inputs[1] if node.inputs[0] == data else node.inputs[0]
    source = reader.plain(data, node)
    given = tuple(reader.static_shape(constant) or ())
    return constant, source, reader.per_image(source, node), reader.shape(source, node), given


@register
@dataclass(frozen=True)
class PositionEmbedding(Operator):
    """A learned tensor of the input's shape added to it (ViT's position embedding)."""

    op_name: ClassVar[str] = "position_embedding"
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by add: an Add of a constant of the input's shape
    params_doc: ClassVar[str] = "N (weight)"
    other_ops_doc: ClassVar[str] = "N"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        return {"embedding": WeightArray(WEIGHT, tuple(inputs[0]))}

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return inputs[0] + weights["embedding"], 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Add", node.name, [*out.inputs(node), *out.weights(node)])

    @classmethod
    def read(cls, node: Any, reader: OnnxReader) -> None:
        """An Add of a constant: a position embedding where it is one of the file's initializers of the
        (tokens, features) input's shape; else a stored tensor broadcast (:class:`AddConstant`)."""
        constant, source, shape, full, given = _with_constant(node, reader)
        if reader.is_learned(constant) and len(shape) == 2 and given in (tuple(shape), tuple(full)):
            reader.stored(node, "embedding", constant, "as " + ",".join(str(s) for s in shape))
            reader.add(node, cls.op_name, [source])
            return
        AddConstant.read(node, reader)


@dataclass(frozen=True)
class _StoredConstant(Operator):
    """A stored tensor combined with the input, broadcast as numpy broadcasts (aligned at the last axis).
    Files hold such tensors already computed from the model's parameters (Swin's relative position bias
    gathered from its table, Swin v2's logit scale clamped and exponentiated) or from nothing learned
    (Swin's attention mask): stored, not trained, they count with the running statistics (``norm_stats``),
    as the keras preset does."""

    other_ops_per_element: ClassVar[int] = 1
    params_doc: ClassVar[str] = "the constant's values (norm_stats)"
    other_ops_doc: ClassVar[str] = "N"
    onnx_type: ClassVar[str] = ""

    shape: tuple[Value, ...] = attr(SIZES, doc="the constant's sizes, each 1 or the input's")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if len(self.shape) > len(shape):
            raise ShapeError(f"{self.op_name} of {show_shape(self.shape)} to a smaller input {show_shape(shape)}")
        for mine, theirs in zip(reversed(self.shape), reversed(shape), strict=False):
            positive(mine, f"{self.op_name} size")
            if known(mine, theirs) and mine not in (1, theirs):
                raise ShapeError(f"{self.op_name} cannot broadcast {show_shape(self.shape)} onto {show_shape(shape)}")
        return shape

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        return {"value": WeightArray(NORM_STATS, tuple(self.shape))}

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output)

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit(self.onnx_type, node.name, [*out.inputs(node), *out.weights(node, fixed=True)])

    @classmethod
    def read(cls, node: Any, reader: OnnxReader) -> None:
        """An Add or Mul of an activation and a constant that broadcasts onto it."""
        constant, source, shape, full, given = _with_constant(node, reader)
        aligned = (1,) * (len(full) - len(given)) + given
        batch = reader.batch_axis(source)
        if len(given) > len(full) or (batch is not None and aligned[batch] != 1):
            raise reader.fail(
                f"{node.op_type} of a constant of shape {list(given)} and a tensor of {list(full)} is not supported",
                node.name,
            )
        mine = tuple(size for axis, size in enumerate(aligned) if axis != batch)
        if any(size not in (1, theirs) for size, theirs in zip(mine, shape, strict=True)):
            raise reader.fail(f"{node.op_type} of a constant of shape {list(given)} would grow {list(full)}", node.name)
        reader.stored(node, "value", constant, "as " + ",".join(str(s) for s in mine))
        reader.add(node, cls.op_name, [source], shape=list(mine))


@register
@dataclass(frozen=True)
class AddConstant(_StoredConstant):
    """A stored tensor added (Swin's attention mask and relative position bias)."""

    op_name: ClassVar[str] = "add_constant"
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by add: an Add of a constant that is no bias
    onnx_type: ClassVar[str] = "Add"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return inputs[0] + weights["value"], 0


@register
@dataclass(frozen=True)
class MulConstant(_StoredConstant):
    """A stored tensor multiplied in (Swin v2's logit scale per head)."""

    op_name: ClassVar[str] = "mul_constant"
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by mul: a Mul by a constant, neither one value nor
    # one per channel
    onnx_type: ClassVar[str] = "Mul"

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return inputs[0] * weights["value"], 0


@register
@dataclass(frozen=True)
class L2Normalize(ParameterFree):
    """Each vector along ``axis`` divided by its length, at least ``eps`` (PyTorch's F.normalize: Swin v2's
    cosine attention)."""

    op_name: ClassVar[str] = "l2_normalize"
    other_ops_per_element: ClassVar[int] = 3  # square, sum, divide (a root and a max per vector besides)
    # as PyTorch writes F.normalize: ReduceL2 over the axis, Clip to eps, Expand to the input, Div
    onnx_types: ClassVar[tuple[str, ...] | None] = ("ReduceL2",)
    other_ops_doc: ClassVar[str] = "3·N"

    axis: Value = attr(INDEX, doc="the axis of the vectors (the last, for attention's features)")
    eps: Any = attr(NUMBER, 1e-12, doc="the least length divided by")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        axis_of(self.axis, inputs[0], "l2_normalize")
        return inputs[0]

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        x = inputs[0]
        x64 = x.astype(np.float64)
        length = np.sqrt((x64 * x64).sum(axis=int(self.axis) + 1, keepdims=True))
        return (x64 / np.maximum(length, float(self.eps))).astype(x.dtype), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        np = numpy()
        x = out.inputs(node)[0]
        axes = [int(self.axis) + 1]  # an attribute up to opset 17, which files are written at
        length = out.emit("ReduceL2", node.name, [x], output=f"{node.name}/length", axes=axes, keepdims=1)
        eps = out.constant(node.name, "eps", np.array(float(self.eps), dtype=np.float32))
        least = out.emit("Clip", f"{node.name}/clip", [length, eps])
        shape = out.emit("Shape", f"{node.name}/shape", [x])
        spread = out.emit("Expand", f"{node.name}/expand", [least, shape])
        out.emit("Div", f"{node.name}/div", [x, spread], output=node.name)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        found = reader.claimed(node)
        if found is None:
            raise reader.fail("ReduceL2 is supported only inside F.normalize: Clip, Expand, Div", node.name)
        x, _, last = found
        source = reader.plain(x, node)
        rank = len(reader.shape(source, node))
        axes = node.attrs.get("axes")
        if axes is None and len(node.inputs) > 1 and node.inputs[1]:
            axes = [int(a) for a in reader.constant(node.inputs[1], node, "axes").reshape(-1)]
        if axes is None or len(axes) != 1 or int(axes[0]) % rank != rank - 1 or not node.attrs.get("keepdims", 1):
            raise reader.fail(f"ReduceL2 over axes {axes}: only F.normalize over the last axis", node.name)
        clip = found[1][0]
        eps = float(reader.constant(clip.inputs[1], clip, "min").reshape(-1)[0])
        axis = reader.image_axis(source, rank - 1, node)
        reader.add(node, cls.op_name, [source], last.outputs[0], axis=axis, eps=eps)

    @classmethod
    def claims(cls, node: Any, reader: OnnxReader) -> tuple[str, list[Any], Any] | None:
        """(x, [Clip, Expand, Div], the Div) of F.normalize(x) as PyTorch writes it, each node the only
        reader of the one before it: Div(x, Expand(Clip(ReduceL2(x), eps), Shape(x))); else None."""
        if node.op_type != "ReduceL2" or not node.inputs:
            return None
        x = node.inputs[0]
        clip = reader.only_consumer(node.outputs[0])
        if clip is None or clip.op_type != "Clip" or len(clip.inputs) < 2 or not reader.is_static(clip.inputs[1]):
            return None
        if len(clip.inputs) > 2 and clip.inputs[2]:
            return None  # a maximum too: not a normalisation
        expand = reader.only_consumer(clip.outputs[0])
        if expand is None or expand.op_type != "Expand" or expand.inputs[0] != clip.outputs[0]:
            return None
        div = reader.only_consumer(expand.outputs[0])
        if div is None or div.op_type != "Div" or div.inputs != [x, expand.outputs[0]]:
            return None
        if reader.shape_of(div.outputs[0]) != reader.shape_of(x):
            return None
        return x, [clip, expand, div], div


@register
@dataclass(frozen=True)
class ScaleBy(ParameterFree):
    """Every value times a fixed number (attention's 1/√d): not a weight, so no parameter."""

    op_name: ClassVar[str] = "scale_by"
    other_ops_per_element: ClassVar[int] = 1
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by mul: a Mul by a one-value constant
    other_ops_doc: ClassVar[str] = "N"

    factor: Any = attr(NUMBER, doc="the number", note="any number")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        x = inputs[0]
        return x * x.dtype.type(float(self.factor)), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        factor = out.constant(node.name, "factor", numpy().array(float(self.factor), dtype="float32"))
        out.emit("Mul", node.name, [*out.inputs(node), factor])

    @classmethod
    def read(cls, node: Any, reader: OnnxReader, factor: float) -> None:
        reader.add(node, cls.op_name, reader.activation_inputs(node), factor=factor)
