"""Which torchvision classification models costmodel reads once PyTorch exports them, and whether the
counts match.

Each classification model (or with --segmentation each segmentation model, its ``out`` map;
random weights, eval mode) is exported at a square side (default 224) by both of
PyTorch's exporters, the legacy TorchScript one and dynamo; costmodel then imports each file and
counts it. The reference is a hook count of the same model: the multiply-accumulates of every
convolution and fully-connected product (output elements × input channels per group × kernel area)
and of every matmul (attention), taken from the operands of the calls as they run.

Needs torch, torchvision, onnx, onnxruntime and onnxscript beside costmodel, in a separate venv (torch
is no dependency of the project; on this machine `pip install torch==2.14.1 torchvision==0.29.1` takes
them from the disk):

    python -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 onnxscript -e '.[onnx]'
    /tmp/tv/bin/python tools/torchvision_onnx.py --out /tmp/torchvision_onnx.md [--side 224] [--only resnet18,vit_b_16]

Prints one Markdown row per model and exporter: whether the file imports, costmodel's MACs and the hook
count, and the first line of the error where it does not import.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def hook_macs(model: Any, x: Any) -> int:
    """Multiply-accumulates of one forward pass, from the calls as they run (a TorchFunctionMode sees
    every ``conv2d``, ``linear``, ``matmul``/``bmm``, ``einsum`` and ``scaled_dot_product_attention``), and of every
    ``multi_head_attention_forward``: nn.MultiheadAttention's one call, inside which a TorchFunctionMode
    sees nothing, counted from its operands: the query, key and value projections, Q·Kᵀ and the weights
    times V, and the output projection.

    Only calls whose result depends on the image count: the input requires a gradient, the parameters
    do not, and a result that requires none was computed from parameters and constants alone (Swin v2's
    position-bias MLP over fixed coordinates), which an ONNX file holds or computes once."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    total = 0
    matmuls = (torch.matmul, torch.bmm, torch.Tensor.matmul, torch.Tensor.__matmul__)

    class Count(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            nonlocal total
            kwargs = kwargs or {}
            result = func(*args, **kwargs)
            first = result[0] if isinstance(result, tuple) and result else result
            if not getattr(first, "requires_grad", False):
                return result
            if func is F.conv2d:
                weight = args[1] if len(args) > 1 else kwargs["weight"]
                total += result.numel() * weight.shape[1] * weight.shape[2] * weight.shape[3]
            elif func is F.linear:
                weight = args[1] if len(args) > 1 else kwargs["weight"]
                total += result.numel() * weight.shape[1]
            elif func in matmuls:
                total += result.numel() * args[0].shape[-1]
            elif func is torch.einsum:  # one multiply per combination of the letters' positions
                equation, *operands = args if isinstance(args[0], str) else (args[1], *args[0])
                if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
                    operands = list(operands[0])
                sizes: dict[str, int] = {}
                for letters, operand in zip(equation.replace(" ", "").split("->")[0].split(","), operands, strict=True):
                    sizes.update(zip(letters, operand.shape, strict=True))
                count = 1
                for size in sizes.values():
                    count *= size
                total += count
            elif func is F.multi_head_attention_forward:
                query, key, value = args[:3]  # (L, N, E), (S, N, E), (S, N, E)
                e = query.shape[-1]
                batch = query.shape[1] if query.dim() == 3 else 1
                projections = (query.numel() + key.numel() + value.numel()) * e + query.numel() * e
                total += projections + 2 * batch * query.shape[0] * key.shape[0] * e
            elif func is F.scaled_dot_product_attention:
                q, k = args[0], args[1]
                total += 2 * q.shape[:-1].numel() * k.shape[-2] * q.shape[-1]  # q·kᵀ, then the weights · v
            return result

    frozen = [p.requires_grad for p in model.parameters()]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        with torch.enable_grad(), Count():
            model(x.detach().requires_grad_(True))
    finally:
        for parameter, was in zip(model.parameters(), frozen, strict=True):
            parameter.requires_grad_(was)
    return total


def export(model: Any, x: Any, path: Path, dynamo: bool) -> None:
    import torch

    torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=18 if dynamo else 17)


def model_names(only: list[str] | None, segmentation: bool) -> list[str]:
    import torchvision

    module = torchvision.models.segmentation if segmentation else torchvision.models
    names = torchvision.models.list_models(module=module)
    return [n for n in names if only is None or n in only]


def build(name: str, segmentation: bool) -> Any:
    """The model in eval mode, random weights; a segmentation model gives its ``out`` map alone."""
    import torch
    import torchvision

    if not segmentation:
        return torchvision.models.get_model(name, weights=None).eval()
    inner = torchvision.models.get_model(name, weights=None, weights_backbone=None, aux_loss=False)

    class Out(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x)["out"]

    return Out().eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--only", help="comma-separated model names (default: every classification model)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--segmentation", action="store_true", help="torchvision's segmentation models instead")
    parser.add_argument("--verify", action="store_true", help="also run costmodel's verify on each file read")
    args = parser.parse_args()

    import torch
    import torchvision

    torch.manual_seed(0)
    rows = [
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, side {args.side}",
        "",
        "| model | exporter | imports | costmodel MACs | hook MACs | match | not read: |",
        "|---|---|---|---:|---:|---|---|",
    ]
    print("\n".join(rows), flush=True)
    directory = Path(tempfile.mkdtemp(prefix="torchvision-onnx-"))
    try:
        rows += table(args, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if args.out:
        args.out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return 0


def verified(path: str) -> str:
    """costmodel's verify on the file: the executor against the counts, layer by layer."""
    from costmodel.errors import UserError
    from costmodel.loading import load_model
    from costmodel.verify import verify

    try:
        model = load_model(path)
        result = verify(model, model.default_point())
    except (UserError, MemoryError) as err:
        return f"fails: {str(err)[:80]}"
    return "passes" if result.ok else f"disagrees on {len(result.disagreements)} layers"


def table(args: Any, directory: Path) -> list[str]:
    """One row per model and exporter, each file (and the weights dynamo writes beside it) deleted once
    read: a whole run writes some 30 GB."""
    import torch

    from costmodel.errors import UserError
    from costmodel.loading import load_model

    rows = []
    for name in model_names(args.only.split(",") if args.only else None, args.segmentation):
        model = build(name, args.segmentation)
        x = torch.randn(1, 3, args.side, args.side)
        try:
            reference = hook_macs(model, x)
        except Exception as err:  # a model that does not run at this side
            rows.append(
                f"| {name} | – | – | – | – | – | does not run at {args.side}: {str(err).splitlines()[0][:80]} |"
            )
            print(rows[-1], flush=True)
            continue
        for exporter, dynamo in (("legacy", False), ("dynamo", True)):
            path = directory / f"{name}-{exporter}.onnx"
            started = time.perf_counter()
            try:
                export(model, x, path, dynamo)
            except Exception as err:
                line = (
                    f"| {name} | {exporter} | export fails | – | {reference:,} | – | {str(err).splitlines()[0][:80]} |"
                )
            else:
                try:
                    macs = int(load_model(str(path)).costs().macs)
                except UserError as err:
                    line = f"| {name} | {exporter} | no | – | {reference:,} | – | {str(err)[:120]} |"
                else:
                    match = "yes" if macs == reference else f"{macs - reference:+,}"
                    if args.verify:
                        match += f", verify {verified(str(path))}"
                    line = f"| {name} | {exporter} | yes | {macs:,} | {reference:,} | {match} | |"
            for written in directory.iterdir():
                written.unlink(missing_ok=True)
            rows.append(line)
            print(line, f"<!-- {time.perf_counter() - started:.0f} s -->", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
