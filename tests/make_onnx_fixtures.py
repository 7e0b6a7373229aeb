"""Build the small ONNX files in tests/data/ with onnx.helper (no PyTorch needed).

They imitate what PyTorch's exporter writes for torchvision's models (node names like
``/features/features.0/features.0.0/Conv``, Constant nodes, a symbolic batch, a shape-computing
Reshape), shrunk to a few layers so that the tests can count them by hand:

- ``mobilenet_v2_mini.onnx``: Conv+BN+Clip(0, 6) stem, a depthwise-separable block, two inverted
  residuals (the second with its residual Add), a 1x1 head, GlobalAveragePool, Flatten, Dropout, Gemm.
- ``squeezenet_mini.onnx``: a strided conv with bias, MaxPool with ceil_mode (which changes the size
  here), one fire module (Concat), Dropout, a 1x1 classifier conv, GlobalAveragePool, Flatten.
- ``ops_mini.onnx``: TF-style asymmetric 'same' padding, HardSwish, a squeeze-excite gate (Clip as
  ReLU, HardSigmoid, Mul), AveragePool, Identity, a Shape/Gather/Concat/Reshape flatten, MatMul + Add
  as a fully-connected layer, Sigmoid and Softmax.
- ``unsupported_lstm.onnx``: a conv followed by an LSTM, which costmodel does not count.

Run ``python tests/make_onnx_fixtures.py`` to regenerate them; the tests check that the files in
tests/data/ are exactly what this script builds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DATA = Path(__file__).resolve().parent / "data"
OPSET = 17


def module_path(prefix: str) -> str:
    """PyTorch's node-name prefix for a module path: features.0.0 -> /features/features.0/features.0.0."""
    parts = prefix.split(".")
    return "".join("/" + ".".join(parts[: i + 1]) for i in range(len(parts)))


class Builder:
    """A graph under construction: nodes, initializers, and seeded weights."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, name: str, shape: tuple[int, ...]) -> str:
        return self.const(name, (self.rng.standard_normal(shape) * 0.2).astype(np.float32))

    def node(self, op: str, name: str, inputs: list[str], **attrs) -> str:
        output = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def constant(self, name: str, value: np.ndarray) -> str:
        """A Constant node, as PyTorch's exporter writes for scalars."""
        output = f"{name}_output_0"
        self.nodes.append(helper.make_node("Constant", [], [output], name=name, value=numpy_helper.from_array(value)))
        return output

    def conv(self, prefix: str, x: str, cin: int, cout: int, k: int, stride=1, pad=0, groups=1, bias=False) -> str:
        pads = pad if isinstance(pad, list) else [pad] * 4
        inputs = [x, self.weight(f"{prefix}.weight", (cout, cin // groups, k, k))]
        if bias:
            inputs.append(self.weight(f"{prefix}.bias", (cout,)))
        return self.node(
            "Conv",
            f"{module_path(prefix)}/Conv",
            inputs,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=pads,
            group=groups,
            dilations=[1, 1],
        )

    def bn(self, prefix: str, x: str, c: int) -> str:
        gamma = self.const(f"{prefix}.bn.weight", (1 + 0.1 * self.rng.standard_normal(c)).astype(np.float32))
        beta = self.weight(f"{prefix}.bn.bias", (c,))
        mean = self.weight(f"{prefix}.bn.running_mean", (c,))
        var = self.const(f"{prefix}.bn.running_var", self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        return self.node("BatchNormalization", f"{module_path(prefix)}/BatchNormalization", [x, gamma, beta, mean, var])

    def relu6(self, prefix: str, x: str) -> str:
        path = module_path(prefix)
        low = self.constant(f"{path}/Constant", np.array(0, dtype=np.float32))
        high = self.constant(f"{path}/Constant_1", np.array(6, dtype=np.float32))
        return self.node("Clip", f"{path}/Clip", [x, low, high])

    def model(self, input_name: str, input_shape: list, output: str, output_shape: list) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_shape)],
            initializer=self.inits,
        )
        proto = helper.make_model(
            graph, producer_name="make_onnx_fixtures", opset_imports=[helper.make_opsetid("", OPSET)]
        )
        proto.ir_version = 8
        onnx.checker.check_model(proto, full_check=True)
        return proto


def mobilenet_v2_mini() -> onnx.ModelProto:
    b = Builder("mobilenet_v2_mini", seed=1)
    x = "input.1"
    # features.0: 3x3/2 conv, BN, ReLU6: 3 -> 16 channels, 32 -> 16 pixels
    y = b.relu6("features.0.2", b.bn("features.0.1", b.conv("features.0.0", x, 3, 16, 3, 2, 1), 16))
    # features.1 (t = 1): depthwise 3x3, BN, ReLU6; pointwise 16 -> 8, BN
    y = b.relu6(
        "features.1.conv.0.2", b.bn("features.1.conv.0.1", b.conv("features.1.conv.0.0", y, 16, 16, 3, 1, 1, 16), 16)
    )
    y = b.bn("features.1.conv.2", b.conv("features.1.conv.1", y, 16, 8, 1), 8)
    # features.2 (t = 6, stride 2): 8 -> 48 -> depthwise/2 -> 12, no residual
    y = b.relu6("features.2.conv.0.2", b.bn("features.2.conv.0.1", b.conv("features.2.conv.0.0", y, 8, 48, 1), 48))
    y = b.relu6(
        "features.2.conv.1.2", b.bn("features.2.conv.1.1", b.conv("features.2.conv.1.0", y, 48, 48, 3, 2, 1, 48), 48)
    )
    block_in = b.bn("features.2.conv.3", b.conv("features.2.conv.2", y, 48, 12, 1), 12)
    # features.3 (t = 6, stride 1): 12 -> 72 -> depthwise -> 12, plus the residual
    y = b.relu6(
        "features.3.conv.0.2", b.bn("features.3.conv.0.1", b.conv("features.3.conv.0.0", block_in, 12, 72, 1), 72)
    )
    y = b.relu6(
        "features.3.conv.1.2", b.bn("features.3.conv.1.1", b.conv("features.3.conv.1.0", y, 72, 72, 3, 1, 1, 72), 72)
    )
    y = b.bn("features.3.conv.3", b.conv("features.3.conv.2", y, 72, 12, 1), 12)
    y = b.node("Add", "/features/features.3/Add", [block_in, y])
    # features.4: the last 1x1 conv, 12 -> 32
    y = b.relu6("features.4.2", b.bn("features.4.1", b.conv("features.4.0", y, 12, 32, 1), 32))
    y = b.node("GlobalAveragePool", "/GlobalAveragePool", [y])
    y = b.node("Flatten", "/Flatten", [y], axis=1)
    y = b.node(
        "Dropout",
        "/classifier/classifier.0/Dropout",
        [y, b.constant("/classifier/Constant", np.array(0.2, dtype=np.float32))],
    )
    fc = [y, b.weight("classifier.1.weight", (10, 32)), b.weight("classifier.1.bias", (10,))]
    b.nodes.append(helper.make_node("Gemm", fc, ["output"], name="/classifier/classifier.1/Gemm", transB=1))
    return b.model("input.1", ["batch_size", 3, 32, 32], "output", ["batch_size", 10])


def squeezenet_mini() -> onnx.ModelProto:
    b = Builder("squeezenet_mini", seed=2)
    x = "input.1"
    y = b.node("Relu", "/features/features.1/Relu", [b.conv("features.0", x, 3, 16, 3, 2, 0, bias=True)])  # 33 -> 16
    y = b.node(
        "MaxPool",
        "/features/features.2/MaxPool",
        [y],
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[0, 0, 0, 0],
        ceil_mode=1,
    )  # 16 -> 8
    # fire module: squeeze 16 -> 4, expand 4 -> 8 (1x1) and 4 -> 8 (3x3), concatenated
    s = b.node(
        "Relu", "/features/features.3/squeeze_activation/Relu", [b.conv("features.3.squeeze", y, 16, 4, 1, bias=True)]
    )
    e1 = b.node(
        "Relu",
        "/features/features.3/expand1x1_activation/Relu",
        [b.conv("features.3.expand1x1", s, 4, 8, 1, bias=True)],
    )
    e3 = b.node(
        "Relu",
        "/features/features.3/expand3x3_activation/Relu",
        [b.conv("features.3.expand3x3", s, 4, 8, 3, 1, 1, bias=True)],
    )
    y = b.node("Concat", "/features/features.3/Concat", [e1, e3], axis=1)
    y = b.node(
        "MaxPool",
        "/features/features.4/MaxPool",
        [y],
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[0, 0, 0, 0],
        ceil_mode=1,
    )  # 8 -> 4
    y = b.node(
        "Dropout",
        "/classifier/classifier.0/Dropout",
        [y, b.constant("/classifier/Constant", np.array(0.5, dtype=np.float32))],
    )
    y = b.node("Relu", "/classifier/classifier.2/Relu", [b.conv("classifier.1", y, 16, 10, 1, bias=True)])
    y = b.node("GlobalAveragePool", "/classifier/classifier.3/GlobalAveragePool", [y])
    b.nodes.append(helper.make_node("Flatten", [y], ["output"], name="/Flatten", axis=1))
    return b.model("input.1", ["batch_size", 3, 33, 33], "output", ["batch_size", 10])


def ops_mini() -> onnx.ModelProto:
    b = Builder("ops_mini", seed=3)
    x = "x"
    # 3x3/2 conv with TensorFlow's 'SAME' padding written out: nothing before, one pixel after
    y = b.node(
        "HardSwish", "/stem/HardSwish", [b.bn("stem", b.conv("stem", x, 3, 8, 3, 2, [0, 0, 1, 1]), 8)]
    )  # 16 -> 8
    # squeeze-excite: pool, 1x1 8 -> 4 (+bias), Clip as ReLU (no max), 1x1 4 -> 8 (+bias), hard sigmoid, scale
    g = b.node("GlobalAveragePool", "/se/GlobalAveragePool", [y])
    g = b.conv("se.fc1", g, 8, 4, 1, bias=True)
    g = b.node("Clip", "/se/Clip", [g, b.constant("/se/Constant", np.array(0, dtype=np.float32))])
    g = b.conv("se.fc2", g, 4, 8, 1, bias=True)
    g = b.node("HardSigmoid", "/se/HardSigmoid", [g], alpha=1.0 / 6.0, beta=0.5)
    y = b.node("Mul", "/se/Mul", [g, y])  # the gate first: the importer puts the data first
    y = b.node("AveragePool", "/pool/AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])  # 8 -> 4
    y = b.node("Identity", "/pool/Identity", [y])
    # x.reshape(x.shape[0], -1) as PyTorch writes it: Shape, Gather, Unsqueeze, Concat, Reshape
    shape = b.node("Shape", "/head/Shape", [y])
    batch = b.node("Gather", "/head/Gather", [shape, b.constant("/head/Constant", np.array(0, dtype=np.int64))], axis=0)
    batch = b.node(
        "Unsqueeze", "/head/Unsqueeze", [batch, b.constant("/head/Constant_1", np.array([0], dtype=np.int64))]
    )
    target = b.node(
        "Concat", "/head/Concat", [batch, b.constant("/head/Constant_2", np.array([-1], dtype=np.int64))], axis=0
    )
    y = b.node("Reshape", "/head/Reshape", [y, target])
    # a fully-connected layer as MatMul + Add (PyTorch's older exports of nn.Linear)
    y = b.node("MatMul", "/head/fc/MatMul", [y, b.weight("head.fc.weight_t", (128, 10))])
    y = b.node("Add", "/head/fc/Add", [b.weight("head.fc.bias", (10,)), y])
    y = b.node("Sigmoid", "/head/Sigmoid", [y])
    b.nodes.append(helper.make_node("Softmax", [y], ["probabilities"], name="/head/Softmax", axis=1))
    return b.model("x", ["N", 3, 16, 16], "probabilities", ["N", 10])


def unsupported_lstm() -> onnx.ModelProto:
    b = Builder("unsupported_lstm", seed=4)
    y = b.conv("conv", "image", 3, 4, 1)  # 1x4x8x8
    y = b.node("Reshape", "/reshape/Reshape", [y, b.const("sequence_shape", np.array([4, 1, 64], dtype=np.int64))])
    w, r = b.weight("lstm.W", (1, 32, 64)), b.weight("lstm.R", (1, 32, 8))
    b.nodes.append(helper.make_node("LSTM", [y, w, r], ["hidden"], name="lstm1", hidden_size=8))
    return b.model("image", [1, 3, 8, 8], "hidden", [4, 1, 1, 8])


FIXTURES = {
    "mobilenet_v2_mini.onnx": mobilenet_v2_mini,
    "squeezenet_mini.onnx": squeezenet_mini,
    "ops_mini.onnx": ops_mini,
    "unsupported_lstm.onnx": unsupported_lstm,
}


def build() -> dict[str, bytes]:
    """Every fixture file's bytes (deterministic: seeded weights, no timestamps)."""
    return {name: make().SerializeToString(deterministic=True) for name, make in FIXTURES.items()}


def main() -> None:
    DATA.mkdir(exist_ok=True)
    for name, data in build().items():
        (DATA / name).write_bytes(data)
        print(f"wrote tests/data/{name} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
