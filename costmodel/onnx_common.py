"""What the ONNX exporter and importer share: the optional dependency and the file's conventions."""

from __future__ import annotations

from typing import Any

from costmodel.errors import UsageError

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH_DIM = "N"
EXTRA_HINT = "pip install 'costmodel[onnx]'"


def require_onnx(what: str = "costmodel export") -> Any:
    """The ``onnx`` module, or a user error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise UsageError(f"{what} needs the onnx extra: {EXTRA_HINT}") from None
    return onnx
