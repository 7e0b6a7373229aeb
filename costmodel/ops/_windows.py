"""Window geometry for the NumPy kernels of convolutions and pools: how many windows, how much
padding, and strided views of the windows (no copies)."""

from __future__ import annotations

from typing import Any

from costmodel import intmath, limits
from costmodel.ops.base import Array, ShapeError, ints, numpy, pair

Pads = tuple[tuple[int, int], tuple[int, int]]


def windows_out(pad: Any, size: int, kernel: int, stride: int, ceil_mode: bool = False) -> int:
    """How many windows the kernel slides over one axis: its own arithmetic, not the shape formula,
    so that comparing its output with :meth:`Operator.output_shape` checks the formula.

    'same': ceil(size / stride) (TensorFlow); 'valid': no padding; a number p: PyTorch's rule, floor or
    (``ceil_mode``) ceil of (size + 2p - kernel) / stride, plus one, less a last window that would start
    in the right padding.
    """
    if pad == "same":
        return -(-size // stride)
    before = 0 if pad == "valid" else int(pad)
    span = size + 2 * before - kernel
    if not ceil_mode:
        out = span // stride + 1
    else:  # the last window may hang past the padding, as long as it starts inside it
        out = -(-span // stride) + 1
        out = out - 1 if (out - 1) * stride >= size + before else out
    if out < 1:
        raise ShapeError(f"a {kernel}-wide window does not fit in {size} + 2·{before} padding")
    return out


def pad_amounts(pad: Any, size: int, kernel: int, stride: int, out: int) -> tuple[int, int]:
    """(before, after) padding of one axis that gives ``out`` windows.

    Explicit padding is symmetric; 'valid' is none; 'same' is TensorFlow's (:func:`intmath.same_pads`).
    With ``ceil_mode`` the windows may reach past the padding: ``after`` grows to cover them (their
    divisor excludes it).
    """
    if pad == "same":
        return intmath.same_pads(size, kernel, stride)
    before = 0 if pad == "valid" else int(pad)
    return before, max((out - 1) * stride + kernel - size - before, before)


def padded(x: Array, pads: Pads, fill: float = 0.0) -> Array:
    """x (N, C, H, W) padded by ((top, bottom), (left, right)) with ``fill``."""
    np = numpy()
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    # a window as wide as the padding it asks for (k 10^6, pad 5·10^5 over a 32-pixel side) pads to
    # terabytes; checked here, where the size is known, before anything is allocated
    limits.check_memory(n * c * (h + top + bottom) * (w + left + right) * x.dtype.itemsize, "padding a layer's input")
    out = np.full((n, c, h + top + bottom, w + left + right), fill, dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out


def offset(x: Array, i: int, j: int, sh: int, sw: int, ho: int, wo: int) -> Array:
    """x[:, :, i + sh·a, j + sw·b] for every output pixel (a, b): one strided view, no copy."""
    return x[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]


def windows(
    x: Array, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int, dilation: tuple[int, int] = (1, 1)
) -> Array:
    """(N, C, ho, wo, kh, kw): every window as a strided view (sliding_window_view, no copy); with a
    dilation, the taps of a window (k - 1)·d + 1 wide, every d-th."""
    from numpy.lib.stride_tricks import sliding_window_view

    dh, dw = dilation
    reach = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    view = sliding_window_view(x, reach, axis=(2, 3))[:, :, : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw]
    return view[:, :, :, :, ::dh, ::dw] if dilation != (1, 1) else view


def channels_last(x: Array) -> bool:
    """Whether x (N, C, H, W) is laid out as (N, H, W, C) in memory (what depthwise and pointwise leave)."""
    return bool(x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous and not x.flags.c_contiguous)


def explicit_pads(pad: Any, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> list[int]:
    """A ``pad`` attribute at concrete sizes as [top, left, bottom, right] (ONNX's ``pads``)."""
    if pad == "same":
        (top, bottom), (left, right) = (intmath.same_pads(*axis) for axis in zip(size, kernel, stride, strict=True))
        return [top, left, bottom, right]
    if pad == "valid":
        return [0, 0, 0, 0]
    ph, pw = ints(*pair(pad))
    return [ph, pw, ph, pw]
