"""Write the small ONNX files in tests/data/ that only PyTorch's exporters can write as they do.

Each is a tiny model whose lowering the importer must read as PyTorch writes it (random weights,
seeded); the tests count them by hand and run them against onnxruntime:

- ``adaptive_pool_5to6_dynamo.onnx``: Conv, AdaptiveAvgPool2d((6, 6)) on a 5×5 map, Flatten, Linear, by
  the dynamo exporter (opset 18). The output side does not divide the input side, so the pool is
  lowered to a GatherND of the windows, masks, sums and a division: AlexNet's head at 193.
- ``adaptive_pool_6x9to7_dynamo.onnx``: the same on a 6×9 input to 7×7 (one side grows, the other
  shrinks): VGG's head at 193, and a non-square input.
- ``vit_tiny_legacy.onnx`` and ``vit_tiny_dynamo.onnx``: torchvision's VisionTransformer at 32×32 with
  16×16 patches (4 patches and the class token), 2 encoder layers of 2 heads, 8 features, an MLP of 16,
  10 classes, every weight random (torchvision initialises the head to zeros), by both exporters: the
  class token, position embedding, nn.MultiheadAttention (the batch moved to axis 1 and merged with the
  heads), LayerNorm and GELU over the last axis, and the class token selected at the end. Node metadata
  is left out: it is most of a dynamo file's size.
- ``swin_tiny_legacy.onnx`` and ``swin_tiny_dynamo.onnx``: torchvision's SwinTransformer at 32×32, 4×4
  patches, 8 features, 2 stages of 2 blocks with 2 heads, windows of 4×4 (shifted by 2 in the second block
  of the first stage), 10 classes, random weights: window partitions (6-axis reshapes), the cyclic shift
  (slices and concats), the relative position bias and attention mask (constants added), patch merging
  (slices with a step of 2).
- ``swin2_tiny_legacy.onnx`` and ``swin2_tiny_dynamo.onnx``: the same as Swin v2 (SwinTransformerBlockV2,
  PatchMergingV2): cosine attention (F.normalize: ReduceL2, Clip, Expand, Div), a logit scale per head,
  and the position bias from a small MLP on constant coordinates (folded: no image in it).
- ``maxvit_tiny_legacy.onnx`` and ``maxvit_tiny_dynamo.onnx``: torchvision's MaxVit at 32×32, stem of 8,
  partitions of 2, 2 blocks of 8 and 16 channels, heads of 4 features: MBConv with squeeze-excite and
  batch norms of ε = 1e-3, block and grid attention through Einsum (Q·Kᵀ and weights·V), Q, K and V
  split along the features, and a Tanh in the classifier.

The hook count (tools/torchvision_onnx.py) and num_params of each model the tests compare with go to
``pytorch_counts.json`` beside them, with those of torchvision's vit_b_16 at 224 and 384 (for
examples/vision_transformer.yaml).

Needs torch beside costmodel, in a separate venv (see tools/torchvision_onnx.py):

    /tmp/tv/bin/python tools/pytorch_fixtures.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> int:
    import torch

    torch.manual_seed(0)
    for name, side, size in (
        ("adaptive_pool_5to6_dynamo.onnx", (5, 5), (6, 6)),
        ("adaptive_pool_6x9to7_dynamo.onnx", (6, 9), (7, 7)),
    ):
        model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1),
            torch.nn.AdaptiveAvgPool2d(size),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * size[0] * size[1], 10),
        ).eval()
        x = torch.randn(1, 3, *side)
        torch.onnx.export(model, (x,), str(DATA / name), dynamo=True, opset_version=18, external_data=False)
        print(f"wrote {DATA / name}")
    transformers(torch)
    reference_counts(torch)
    return 0


def reference_counts(torch: Any) -> None:
    """The hook count and num_params of full-size models a spec in examples/ writes out (no file)."""
    import torchvision
    from torchvision_onnx import hook_macs

    counts = json.loads(COUNTS.read_text()) if COUNTS.exists() else {}
    for name, side in (("vit_b_16", 224), ("vit_b_16", 384)):
        model = torchvision.models.get_model(name, weights=None, image_size=side).eval()
        counts[f"{name}@{side}"] = {
            "hook_macs": hook_macs(model, torch.randn(1, 3, side, side)),
            "num_params": sum(p.numel() for p in model.parameters()),
            "by": f"torch {torch.__version__}, {name}(image_size={side}), tools/torchvision_onnx.py's hook_macs",
        }
    COUNTS.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
    print(f"wrote {COUNTS}")


def transformers(torch: Any) -> None:
    from torchvision.models.swin_transformer import SwinTransformer
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(
        image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16, num_classes=10
    )
    write_both(torch, vit, "vit_tiny")
    torch.manual_seed(0)
    swin = SwinTransformer(
        patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4], num_classes=10
    )
    write_both(torch, swin, "swin_tiny")
    from torchvision.models.swin_transformer import PatchMergingV2, SwinTransformerBlockV2

    torch.manual_seed(0)
    swin2 = SwinTransformer(
        patch_size=[4, 4],
        embed_dim=8,
        depths=[2, 2],
        num_heads=[2, 2],
        window_size=[4, 4],
        num_classes=10,
        block=SwinTransformerBlockV2,
        downsample_layer=PatchMergingV2,
    )
    write_both(torch, swin2, "swin2_tiny")
    from torchvision.models.maxvit import MaxVit

    torch.manual_seed(0)
    maxvit = MaxVit(
        input_size=(32, 32),
        stem_channels=8,
        partition_size=2,
        block_channels=[8, 16],
        block_layers=[1, 1],
        head_dim=4,
        stochastic_depth_prob=0.0,
        num_classes=10,
    )
    write_both(torch, maxvit, "maxvit_tiny")


COUNTS = DATA / "pytorch_counts.json"


def write_both(torch: Any, model: Any, name: str) -> None:
    """The model with random weights (torchvision initialises some to zeros), by both exporters, at
    32×32, without node metadata; its hook count and num_params recorded in ``pytorch_counts.json``."""
    import onnx
    from torchvision_onnx import hook_macs

    model = model.eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.5)
    x = torch.randn(1, 3, 32, 32)
    for exporter, dynamo, opset in (("legacy", False, 17), ("dynamo", True, 18)):
        path = DATA / f"{name}_{exporter}.onnx"
        kwargs = {"external_data": False} if dynamo else {}
        torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=opset, **kwargs)
        proto = onnx.load(str(path))
        for node in proto.graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
        onnx.save(proto, str(path))
        print(f"wrote {path}")
    counts = json.loads(COUNTS.read_text()) if COUNTS.exists() else {}
    counts[name] = {
        "hook_macs": hook_macs(model, x),
        "num_params": sum(p.numel() for p in model.parameters()),
        "by": f"torch {torch.__version__}, tools/torchvision_onnx.py's hook_macs",
    }
    COUNTS.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
