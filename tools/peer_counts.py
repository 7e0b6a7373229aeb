"""Measure what the PyTorch counting tools print, for ``tests/data/peer_counts.json``.

ptflops, thop, fvcore, torchinfo and torchprofile each add something different to the convolution and
fully-connected multiply-accumulates. ``costmodel.macs_conventions`` holds their rules as data; this
script measures the numbers those rules must reproduce:

- **probes**: a 3×3 convolution alone, then followed by one more layer of each kind (batch norm, each
  activation, each pool, a residual add, a squeeze-excite multiply, a concat, a linear layer with and
  without bias...). Each probe is a costmodel spec; the PyTorch module is built from its evaluated graph
  the way such code is usually written (a module per layer, ``+`` and ``*`` for the merges, ``torch.cat``,
  ``torch.flatten``; a global pool the spec marks ``pytorch: function`` or ``mean`` as
  ``F.adaptive_avg_pool2d`` or ``x.mean``).
- **models**: MobileNet v1 over its 16-point grid (built from ``specs/mobilenet_v1.yaml`` the same way:
  torchvision has none), and torchvision's SqueezeNet 1.0/1.1, MobileNet v2 and v3 (Large, Small) at
  several widths and resolutions, EfficientNet-B0, MnasNet 1.0, ShuffleNet v2 1.0 and AlexNet, as
  users run them.

Each tool runs on each network with the options a user would pass (ptflops three ways: its default
PyTorch backend, ``count_functional=False``, and its aten backend). The tools are not dependencies of
costmodel: install them beside torch in a separate venv, with costmodel editable:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch torchvision ptflops==0.7.5 \\
        thop==0.1.1.post2209072238 fvcore==0.1.5.post20221221 torchinfo==1.8.0 torchprofile==0.1.0 -e .
    /tmp/tv/bin/python tools/peer_counts.py

``--table`` (no torch needed) prints the data as a Markdown table, model × configuration × tool, each
tool's number beside costmodel's under that tool's convention.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "peer_counts.json"
TOOLS = ("ptflops", "ptflops-nofunc", "ptflops-aten", "thop", "fvcore", "torchinfo", "torchprofile")
PACKAGES = ("torch", "torchvision", "ptflops", "thop", "fvcore", "torchinfo", "torchprofile")

# One-layer probes: a 3x3 convolution of 8 -> 16 channels on 8x12 (so that in != out elements and
# height != width), then one more layer. Each is a costmodel spec body (layers).
_CONV = "{op: conv2d, name: conv, out: 16, k: 3, pad: 1, bias: false}"
PROBES: dict[str, list[str]] = {
    "conv": [_CONV],
    "conv_bias": ["{op: conv2d, name: conv, out: 16, k: 3, pad: 1, bias: true}"],
    "conv_strided_bias": ["{op: conv2d, name: conv, out: 16, k: 3, stride: 2, pad: 1, groups: 8, bias: true}"],
    "batchnorm": [_CONV, "{op: batchnorm, name: bn}"],
    "relu": [_CONV, "{op: relu, name: act}"],
    "relu6": [_CONV, "{op: relu6, name: act}"],
    "hard_swish": [_CONV, "{op: hard_swish, name: act}"],
    "hard_sigmoid": [_CONV, "{op: hard_sigmoid, name: act}"],
    "sigmoid": [_CONV, "{op: sigmoid, name: act}"],
    "silu": [_CONV, "{op: silu, name: act}"],
    "dropout": [_CONV, "{op: dropout, name: drop, p: 0.5}"],
    "max_pool": [_CONV, "{op: max_pool, name: pool, k: 3, stride: 2}"],
    "max_pool_ceil": [_CONV, "{op: max_pool, name: pool, k: 3, stride: 2, ceil_mode: true}"],
    "avg_pool": [_CONV, "{op: avg_pool, name: pool, k: 2, stride: 2}"],
    "global_avg_pool": [_CONV, "{op: global_avg_pool, name: pool}"],
    "adaptive_avg_pool": [_CONV, "{op: adaptive_avg_pool, name: pool, size: [2, 3]}"],
    "global_avg_pool_function": [_CONV, "{op: global_avg_pool, name: pool, pytorch: function}"],
    "global_avg_pool_mean": [_CONV, "{op: global_avg_pool, name: pool, pytorch: mean}"],
    "linear": [_CONV, "{op: global_avg_pool, name: pool}", "{op: linear, name: fc, out: 10, bias: false}"],
    "linear_bias": [_CONV, "{op: global_avg_pool, name: pool}", "{op: linear, name: fc, out: 10, bias: true}"],
    "residual_add": [
        "{op: conv2d, name: conv0, out: 16, k: 1, bias: false}",
        "{residual: [" + _CONV + "], name: add}",
    ],
    "squeeze_excite": [
        _CONV,
        "{parallel: [[], [{op: global_avg_pool, name: pool}, {op: conv2d, name: fc1, out: 4, k: 1, bias: true},"
        " {op: relu, name: relu}, {op: conv2d, name: fc2, out: 16, k: 1, bias: true},"
        " {op: hard_sigmoid, name: gate}]], merge: mul, name: scale}",
    ],
    "concat": [
        "{parallel: [[" + _CONV + "], [{op: conv2d, name: conv1x1, out: 8, k: 1, bias: false}]],"
        " merge: concat, name: cat}",
    ],
}


def probe_spec(name: str) -> str:
    """The YAML text of probe ``name`` (the tests read the same text)."""
    layers = "\n".join(f"  - {layer}" for layer in PROBES[name])
    return f"name: probe_{name}\ninput: {{channels: 8, size: [8, 12]}}\nlayers:\n{layers}\n"


def torch_module(network: Any) -> Any:
    """A PyTorch module computing ``network`` (a concrete costmodel Network) as such code is written."""
    import torch
    from torch import nn

    from costmodel.ops._windows import explicit_pads

    class FromGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.steps: list[tuple[str, str, tuple[str, ...]]] = []
            self.layers = nn.ModuleDict()
            for node in network.nodes:
                if node.present is not True:
                    self.steps.append((node.name, "alias", node.inputs[-1:]))
                    continue
                op, kind = node.op, node.op.op_name
                key = node.name.replace(".", "_")
                shape = node.input_shapes[0]
                if kind == "conv2d":
                    kh, kw = op.k if isinstance(op.k, (list, tuple)) else (op.k, op.k)
                    sh, sw = op.stride if isinstance(op.stride, (list, tuple)) else (op.stride, op.stride)
                    top, left, bottom, right = explicit_pads(op.pad, shape[1:], (kh, kw), (sh, sw))
                    # TF 'same' pads (0, 1) at stride 2; PyTorch code pads k // 2 on both sides, which
                    # gives the same output size (and so the same counts)
                    padding = (top, left) if (top, left) == (bottom, right) else (kh // 2, kw // 2)
                    module = nn.Conv2d(
                        shape[0], node.output_shape[0], (kh, kw), (sh, sw), padding, groups=int(op.groups), bias=op.bias
                    )
                    got = module(torch.zeros(1, *shape)).shape[1:]
                    if tuple(got) != tuple(node.output_shape):
                        raise SystemExit(f"{node.name}: PyTorch gives {tuple(got)}, the spec {node.output_shape}")
                elif kind == "batchnorm":
                    module = nn.BatchNorm2d(shape[0])
                elif kind in ("relu", "relu6", "hard_swish", "hard_sigmoid", "sigmoid", "silu"):
                    module = {
                        "silu": nn.SiLU,
                        "relu": nn.ReLU,
                        "relu6": nn.ReLU6,
                        "hard_swish": nn.Hardswish,
                        "hard_sigmoid": nn.Hardsigmoid,
                        "sigmoid": nn.Sigmoid,
                    }[kind]()
                elif kind == "dropout":
                    module = nn.Dropout(float(op.p))
                elif kind in ("max_pool", "avg_pool"):
                    cls = nn.MaxPool2d if kind == "max_pool" else nn.AvgPool2d
                    module = cls(op.k, op.stride, op.pad, ceil_mode=op.ceil_mode)
                elif kind == "global_avg_pool":
                    if op.pytorch != "module":
                        self.steps.append((node.name, f"pool_{op.pytorch}", node.inputs))
                        continue
                    module = nn.AdaptiveAvgPool2d(1)
                elif kind == "adaptive_avg_pool":
                    module = nn.AdaptiveAvgPool2d(op.size)
                elif kind == "linear":
                    cin = 1
                    for size in shape:
                        cin *= size
                    module = nn.Linear(cin, node.output_shape[0], bias=op.bias)
                elif kind in ("add", "mul", "concat"):
                    self.steps.append((node.name, kind, node.inputs))
                    continue
                else:
                    raise SystemExit(f"no PyTorch form for {kind} ({node.name})")
                self.layers[key] = module
                self.steps.append((node.name, key, node.inputs))

        def forward(self, x: Any) -> Any:
            values = {"input": x}
            for name, how, inputs in self.steps:
                args = [values[i] for i in inputs]
                if how == "alias":
                    out = args[0]
                elif how == "pool_function":
                    out = nn.functional.adaptive_avg_pool2d(args[0], 1)
                elif how == "pool_mean":
                    out = args[0].mean((2, 3), keepdim=True)
                elif how == "add":
                    out = args[0] + args[1]
                elif how == "mul":
                    out = args[0] * args[1]
                elif how == "concat":
                    out = torch.cat(args, 1)
                else:
                    module = self.layers[how]
                    if isinstance(module, nn.Linear) and args[0].dim() > 2:
                        args[0] = torch.flatten(args[0], 1)
                    out = module(args[0])
                values[name] = out
            return out

    return FromGraph().eval()


def measure(model: Any, shape: tuple[int, ...]) -> dict[str, int]:
    """Each tool's total for ``model`` on one image of ``shape`` (C, H, W), as it reports it."""
    import torch

    x = torch.randn(1, *shape)
    counts: dict[str, int] = {}
    from ptflops import get_model_complexity_info

    for tool, options in (
        ("ptflops", {}),
        ("ptflops-nofunc", {"backend_specific_config": {"count_functional": False}}),
        ("ptflops-aten", {"backend": "aten"}),
    ):
        with contextlib.redirect_stdout(io.StringIO()):
            macs, _ = get_model_complexity_info(
                model, tuple(shape), as_strings=False, print_per_layer_stat=False, **options
            )
        counts[tool] = int(macs)
    import thop

    with contextlib.redirect_stdout(io.StringIO()):
        ops, _ = thop.profile(model, inputs=(x,), verbose=False)
    counts["thop"] = int(ops)
    _strip_thop(model)
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    counts["fvcore"] = int(analysis.total())
    import torchinfo

    counts["torchinfo"] = int(torchinfo.summary(model, input_size=(1, *shape), verbose=0).total_mult_adds)
    from torchprofile import profile_macs

    counts["torchprofile"] = int(profile_macs(model, x))
    return counts


def _strip_thop(model: Any) -> None:
    """thop leaves total_ops/total_params buffers on every module: remove them before the next tool."""
    for module in model.modules():
        for name in ("total_ops", "total_params"):
            module._buffers.pop(name, None)


def model_configs() -> list[tuple[str, dict[str, float], Any]]:
    """(built-in name, point, PyTorch model factory) of every measured model."""
    import torchvision.models as tv

    configs: list[tuple[str, dict[str, float], Any]] = []
    for alpha in (1.0, 0.75, 0.5, 0.25):
        for side in (224, 192, 160, 128):
            configs.append(("mobilenet_v1", {"alpha": alpha, "resolution": side}, None))
    configs.append(("squeezenet1_0", {"resolution": 224}, tv.squeezenet1_0))
    configs.append(("squeezenet1_1", {"resolution": 224}, tv.squeezenet1_1))
    configs.append(("squeezenet1_1", {"resolution": 160}, tv.squeezenet1_1))
    for name, factory in (
        ("mobilenet_v2", tv.mobilenet_v2),
        ("mobilenet_v3_large", tv.mobilenet_v3_large),
        ("mobilenet_v3_small", tv.mobilenet_v3_small),
    ):
        for alpha, side in ((1.0, 224), (0.75, 224), (0.5, 160), (1.0, 192)):
            configs.append((name, {"alpha": alpha, "resolution": side}, factory))
    # The MobileNet descendants and the SqueezeNet paper's baseline, at their defaults.
    for name, factory in (
        ("efficientnet", tv.efficientnet_b0),
        ("mnasnet", tv.mnasnet1_0),
        ("shufflenet_v2", tv.shufflenet_v2_x1_0),
        ("alexnet", tv.alexnet),
    ):
        configs.append((name, {"resolution": 224}, factory))
    return configs


def table() -> str:
    """Markdown: each measured model and configuration, each tool's number / costmodel's."""
    from costmodel import conventions
    from costmodel.loading import load_model
    from costmodel.model import PointOptions

    data = json.loads(OUT.read_text())
    counting = conventions.get_counting("torchvision")
    lines = [
        "| model | configuration | costmodel, paper | " + " | ".join(TOOLS) + " |",
        "|---|---|---:|" + "---:|" * len(TOOLS),
    ]
    exact = total = 0
    for row in data["models"]:
        model = load_model(row["model"])
        alpha = row["point"].get("alpha")
        point = PointOptions(
            alpha=None if alpha is None else str(alpha), resolution=str(row["point"]["resolution"])
        ).resolve(model)
        cells = []
        for tool in TOOLS:
            theirs = row["counts"][tool]
            ours = int(model.costs(point, counting.with_macs(tool)).macs)
            total += 1
            exact += ours == theirs
            cells.append(f"{theirs:,}" if ours == theirs else f"{theirs:,} / **{ours:,}**")
        where = ", ".join(f"{k}={v}" for k, v in row["point"].items())
        paper = int(model.costs(point, counting).macs)
        lines.append(f"| {row['model']} | {where} | {paper:,} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{exact} of {total} numbers equal costmodel's under that tool's convention (a cell shows one")
    lines.append("number where both agree, the tool's / **costmodel's** where they differ).")
    return "\n".join(lines) + "\n"


def main() -> int:
    if sys.argv[1:] == ["--table"]:
        print(table(), end="")
        return 0
    warnings.filterwarnings("ignore")
    import torch

    from costmodel.loading import load_model
    from costmodel.model import PointOptions

    torch.manual_seed(0)
    result: dict[str, Any] = {
        "by": "tools/peer_counts.py",
        "versions": {name: metadata.version(name) for name in PACKAGES},
        "probes": {},
        "models": [],
    }
    tmp = ROOT / "build" / "probes"
    tmp.mkdir(parents=True, exist_ok=True)
    for name in PROBES:
        path = tmp / f"{name}.yaml"
        path.write_text(probe_spec(name))
        model = load_model(str(path))
        network = model.network(model.default_point())
        result["probes"][name] = {"spec": probe_spec(name), "counts": measure(torch_module(network), (8, 8, 12))}
        print(name, result["probes"][name]["counts"], flush=True)
    for name, point, factory in model_configs():
        model = load_model(name)
        alpha = point.get("alpha")
        options = PointOptions(alpha=None if alpha is None else str(alpha), resolution=str(point["resolution"]))
        at = options.resolve(model)
        network = model.network(at)
        if factory is None:
            torch_model = torch_module(network)
            source = "built from specs/mobilenet_v1.yaml by tools/peer_counts.py (modules, padding k//2)"
        else:
            kwargs = {"width_mult": point["alpha"]} if "alpha" in point else {}
            torch_model = factory(**kwargs).eval()
            source = f"torchvision.models.{factory.__name__}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        side = int(point["resolution"])
        row = {
            "model": name,
            "point": point,
            "pytorch": source,
            "num_params": sum(p.numel() for p in torch_model.parameters()),
            "counts": measure(torch_model, (3, side, side)),
        }
        result["models"].append(row)
        print(name, point, row["num_params"], row["counts"], flush=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
