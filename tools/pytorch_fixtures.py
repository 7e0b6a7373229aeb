"""Write the small ONNX files in tests/data/ that only PyTorch's exporters can write as they do.

Each is a tiny model whose lowering the importer must read as PyTorch writes it (random weights,
seeded); the tests count them by hand and run them against onnxruntime:

- ``adaptive_pool_5to6_dynamo.onnx``: Conv, AdaptiveAvgPool2d((6, 6)) on a 5×5 map, Flatten, Linear, by
  the dynamo exporter (opset 18). The output side does not divide the input side, so the pool is
  lowered to a GatherND of the windows, masks, sums and a division: AlexNet's head at 193.
- ``adaptive_pool_6x9to7_dynamo.onnx``: the same on a 6×9 input to 7×7 (one side grows, the other
  shrinks): VGG's head at 193, and a non-square input.

Needs torch beside costmodel, in a separate venv (see tools/torchvision_onnx.py):

    /tmp/tv/bin/python tools/pytorch_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
