"""The running commands: ``run`` (inference in NumPy) and ``export`` (the same network as ONNX)."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import IO

import click

from costmodel import arrays, atomic_write, limits
from costmodel.cli.options import OUTPUT_FILE, model_argument, point_options, user_errors, variant_option
from costmodel.costs import execution_bytes
from costmodel.errors import UsageError
from costmodel.model import PointOptions
from costmodel.ops.base import show_shape


@click.command("run")
@user_errors
@model_argument
@point_options
@variant_option
@click.option(
    "--weights",
    "weights_path",
    type=click.Path(dir_okay=False),
    help="An .npz file keyed LAYER/ARRAY (e.g. conv1.conv/weight); default: an ONNX file's own weights, "
    "else the seeded weights.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="An .npy array: (N, C, H, W) or one (C, H, W) image; its height and width set --res unless given.",
)
@click.option("-o", "--output", type=OUTPUT_FILE, help="Write the output array to this .npy file.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Classes shown per image.")
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Run on seeded weights (default seed 0 where a spec has no weights of its own; an ONNX file's "
    "weights are used unless a seed is given).",
)
def run_command(
    model_name: str,
    point: PointOptions,
    variant: str | None,
    weights_path: str | None,
    input_path: str,
    output: str | None,
    top: int,
    seed: int | None,
) -> None:
    """Inference with NumPy alone: run MODEL on an image batch.

    Without --output, prints the output's shape and the top classes (index and value) of each image.
    An ONNX file runs on the weights it holds; a spec on seeded weights, or on --weights. Which ones
    ran is said on stderr.
    """
    import numpy as np

    from costmodel import executor
    from costmodel.loading import is_onnx, load_model

    model = load_model(model_name, variant)
    x = arrays.read_npy(input_path, "the input", functools.partial(_check_images, input_path))
    if x.ndim == 3:
        x = x[None]
    if point.resolution is None and point.rho is None and model.base_resolution is not None:
        point = replace(point, resolution=f"{x.shape[2]}x{x.shape[3]}")
    model = point.reshape(model)
    network = model.network(point.resolve(model))
    limits.check_memory(execution_bytes(network, batch=len(x)), f"running {model.name} on {len(x)} images here")
    if weights_path is not None:
        if seed is not None:
            raise UsageError("give --weights or --seed, not both")
        weights, which = executor.load_weights(weights_path), f"weights: {weights_path}"
    elif seed is None and is_onnx(model_name):
        from costmodel.onnx_import import import_weights

        weights, which = import_weights(model_name), f"weights: the file's initializers ({model_name})"
    else:
        weights, which = executor.seeded_weights(network, seed or 0), f"weights: seeded (seed {seed or 0})"
    executor.check_weights(network, weights)
    y, _ = executor.forward(network, weights, x)
    if output is not None:

        def save(handle: IO[bytes]) -> None:
            np.save(handle, y)

        atomic_write.write_file(output, save)
        click.echo(which, err=True)  # once all went well: an error stays the only line
        return
    click.echo(which, err=True)
    click.echo(f"output: {'×'.join(map(str, y.shape))} ({y.dtype})")
    flat = y.reshape(y.shape[0], -1)
    for i, row in enumerate(flat):
        best = np.argsort(-row, kind="stable")[:top]
        click.echo(f"image {i}: " + ", ".join(f"{int(j)} ({float(row[j]):.6g})" for j in best))


def _check_images(path: str, shape: tuple[int, ...]) -> None:
    """An input's shape, from its header before any data is read: images, none of them empty."""
    shown = show_shape(shape) or "a scalar"
    if len(shape) not in (3, 4):
        raise UsageError(f"{path}: expected an (N, C, H, W) or (C, H, W) array of numbers, got shape {shown}")
    if 0 in shape:
        raise UsageError(f"{path}: the input is empty (shape {shown}); give at least one image of at least one pixel")


@click.command()
@user_errors
@model_argument
@point_options
@variant_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weights (as `costmodel run`).")
@click.option("--fold-bn", is_flag=True, help="Fold batch norms into the conv/linear before them (as deployed).")
@click.option("-o", "--output", required=True, type=OUTPUT_FILE, help="The .onnx file to write.")
def export(model_name: str, point: PointOptions, variant: str | None, seed: int, fold_bn: bool, output: str) -> None:
    """Write MODEL at one point as ONNX (opset 17) with the executor's seeded weights.

    Node names are the layer names, weights are initializers named LAYER/ARRAY, the input is `input`
    (float32, N×C×H×W, any batch size). Needs the onnx extra: pip install 'costmodel[onnx]'.
    """
    from costmodel.onnx_common import require_onnx
    from costmodel.onnx_export import export_model

    require_onnx("costmodel export")
    from costmodel.loading import load_model

    model = point.reshape(load_model(model_name, variant))
    export_model(model, point.resolve(model), output, seed=seed, fold_bn=fold_bn)  # written whole, via atomic_write
    click.echo(f"wrote {output}", err=True)


COMMANDS: tuple[click.Command, ...] = (run_command, export)
