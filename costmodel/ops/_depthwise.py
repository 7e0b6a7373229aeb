"""The fast depthwise convolution kernel: every channel at once, band by band in cache.

Kept apart from the operator (:class:`costmodel.ops.conv.Conv2d`) because it is written for speed,
not for reading: the formulas and the plain kernels are in the operator modules; this is the one
place that trades clarity for speed (see ``benchmarks/bench_executor.py``).
"""

from __future__ import annotations

from typing import Any

from costmodel.ops._windows import Pads, channels_last
from costmodel.ops.base import Array, Epilogue, numpy

DEPTHWISE_BAND = 1 << 17  # output values per band of rows (512 KiB of float32: the band stays in cache)
# From this many channels on, a depthwise band is one einsum over all window offsets: a fused
# multiply-add along the channels, no temporaries, the input read in place. Below it, the rows of
# channels are too short for that to pay, and each offset is a vector multiply and add over whole
# rows instead (MobileNet v1 side by side: 64 beat 32 and 128 by 4-10 %).
DEPTHWISE_EINSUM_CHANNELS = 64


def _phase_span(phase: int, stride: int, before: int, size: int, padded: int) -> tuple[int, int, int, int]:
    """One axis of a stride phase of a padded input: (its length, the first and past-the-last of its
    positions that hold input rather than padding, the input index of the first one)."""
    length = -(-(padded - phase) // stride)
    first = min(length, max(0, -(-(before - phase) // stride)))
    last = min(length, max(0, -(-(before + size - phase) // stride)))
    return length, first, last, phase + stride * first - before


def _phases(x: Array, pads: Pads, sh: int, sw: int) -> dict[tuple[int, int], Array]:
    """x (N, C, H, W) zero-padded, channels last, and split by stride phase: phase (p, q) holds the
    padded rows p, p + sh, ... and columns q, q + sw, ..., so that every window offset of a strided
    conv is a dense slice of one phase. Together the phases are one copy of the input."""
    np = numpy()
    (top, bottom), (left, right) = pads
    last = x.transpose(0, 2, 3, 1)  # (N, H, W, C), a view
    n, h, w, c = last.shape
    phases = {}
    for p in range(sh):
        rows, r0, r1, src_row = _phase_span(p, sh, top, h, h + top + bottom)
        for q in range(sw):
            cols, c0, c1, src_col = _phase_span(q, sw, left, w, w + left + right)
            phase = np.empty((n, rows, cols, c), dtype=x.dtype)
            for border in (phase[:, :r0], phase[:, r1:], phase[:, r0:r1, :c0], phase[:, r0:r1, c1:]):
                border.fill(0)  # the padding only: the rest is overwritten next
            if r1 > r0 and c1 > c0:
                phase[:, r0:r1, c0:c1, :] = last[:, src_row::sh, src_col::sw, :][:, : r1 - r0, : c1 - c0, :]
            phases[(p, q)] = phase
    return phases


def depthwise(
    x: Array,
    w: Array,
    pads: Pads,
    strides: tuple[int, int],
    out_size: tuple[int, int],
    epilogue: Epilogue,
) -> tuple[Array, int]:
    """One filter per channel: input x (N, C, H, W) padded by ``pads``, weights (C, 1, kh, kw).

    Channels last, in bands of output rows that stay in cache; ``epilogue`` runs on each band while
    it is there. Each band is computed over every channel at once, one of two ways (the same
    products, counted the same):

    - many channels: one ``einsum`` of the band's windows (strided views of the input, and of padded
      copies of its edges) with the (kh, kw, C) taps, which multiplies and accumulates along the
      channels in one pass;
    - few channels: per window offset, a vector multiply and add over a dense (rows, wo, C) slice of
      a stride phase of the input, the taps tiled along the row so that both operands run contiguously.

    The output is channels-last in memory (a transposed view), which the pointwise conv after it
    takes as one matrix.
    """
    np = numpy()
    n, c = x.shape[:2]
    ho, wo = out_size
    y = np.empty((n, ho, wo, c), dtype=np.result_type(x, w))
    rows = max(1, DEPTHWISE_BAND // (n * wo * c))
    band_of = _depthwise_einsum if c >= DEPTHWISE_EINSUM_CHANNELS else _depthwise_offsets
    run_band = band_of(x, w, pads, strides, out_size, min(rows, ho))
    epilogue = epilogue.along_rows(wo)
    macs = 0
    for top in range(0, ho, rows):
        out = y[:, top : top + min(rows, ho - top)]
        macs += run_band(top, out)
        epilogue(out, channel_axis=3)
    return y.transpose(0, 3, 1, 2), macs


def _depthwise_einsum(
    x: Array, w: Array, pads: Any, strides: tuple[int, int], out_size: tuple[int, int], rows: int
) -> Any:
    """A band computer: out[n, a, b, c] = Σ_ij windows[n, a, b, c, i, j] · taps[i, j, c] (see _depthwise).

    A channels-last input is read in place for the windows that lie wholly inside it; only the thin
    frame of windows that reach into the padding reads from padded copies of the input's edges.
    """
    np = numpy()
    c, _, kh, kw = w.shape
    (sh, sw), (ho, wo) = strides, out_size
    (top, _), (left, _) = pads
    h, wd = x.shape[2:]
    taps = np.ascontiguousarray(w.reshape(c, kh, kw).transpose(1, 2, 0))  # (kh, kw, C)
    if channels_last(x):  # interior windows straight from the input
        a0, a1 = _inside(top, h, kh, sh, ho)
        b0, b1 = _inside(left, wd, kw, sw, wo)
    else:  # one padded channels-last copy serves every window
        a0 = a1 = b0 = b1 = 0
    # each region: (output rows, output cols, windows, the padded-input row and col where they start)
    regions = []
    if a1 > a0 and b1 > b0:
        inner = _window_view(x.transpose(0, 2, 3, 1), kh, kw)
        regions.append(((a0, a1), (b0, b1), inner, top, left))
    # the frame: rows above and below the interior, then its left and right (no interior: all rows)
    frame = [((0, a0), (0, wo)), ((a1, ho), (0, wo)), ((a0, a1), (0, b0)), ((a0, a1), (b1, wo))]
    for (r0, r1), (q0, q1) in frame:
        if r1 > r0 and q1 > q0:
            rows_in = (r0 * sh, (r1 - 1) * sh + kh)  # the padded rows and cols these windows cover
            cols_in = (q0 * sw, (q1 - 1) * sw + kw)
            edge = _padded_part(x, pads, rows_in, cols_in)
            regions.append(
                (
                    (r0, r1),
                    (q0, q1),
                    _window_view(edge, kh, kw),
                    rows_in[0],
                    cols_in[0],
                )
            )

    def run_band(band_top: int, out: Array) -> int:
        band_end = band_top + out.shape[1]
        macs = 0
        for (r0, r1), (q0, q1), windows, row0, col0 in regions:
            lo, hi = max(r0, band_top), min(r1, band_end)
            if hi <= lo:
                continue
            first_row, first_col = lo * sh - row0, q0 * sw - col0
            view = windows[
                :,
                first_row : first_row + (hi - lo - 1) * sh + 1 : sh,
                first_col : first_col + (q1 - q0 - 1) * sw + 1 : sw,
            ]
            part = out[:, lo - band_top : hi - band_top, q0:q1]
            np.einsum("nrbcij,ijc->nrbc", view, taps, out=part, optimize=False)
            macs += part.size * kh * kw  # one multiply-add per output value and window offset
        return macs

    return run_band


def _window_view(a: Array, kh: int, kw: int) -> Array:
    """(N, H - kh + 1, W - kw + 1, C, kh, kw): every window of a C-contiguous (N, H, W, C) array, no copy.

    The same view as sliding_window_view, whose checks cost more than the einsum of a small band;
    the ndarray constructor still refuses a view that would leave the buffer.
    """
    n, h, w, c = a.shape
    sn, sr, sc, sk = a.strides
    shape = (n, h - kh + 1, w - kw + 1, c, kh, kw)
    return numpy().ndarray(shape, a.dtype, buffer=a, strides=(sn, sr, sc, sk, sr, sc))


def _inside(before: int, size: int, kernel: int, stride: int, out: int) -> tuple[int, int]:
    """The outputs [first, last) of one axis whose windows lie wholly inside the unpadded input."""
    first = min(out, -(-before // stride))
    last = max(first, min(out, (size - kernel + before) // stride + 1))
    return first, last


def _padded_part(x: Array, pads: Any, rows: tuple[int, int], cols: tuple[int, int]) -> Array:
    """Rows [r0, r1) and columns [c0, c1) of x (N, C, H, W) zero-padded by ``pads``, channels last."""
    np = numpy()
    (top, _), (left, _) = pads
    n, c, h, w = x.shape
    part = np.zeros((n, rows[1] - rows[0], cols[1] - cols[0], c), dtype=x.dtype)
    src_rows = (max(rows[0] - top, 0), min(rows[1] - top, h))
    src_cols = (max(cols[0] - left, 0), min(cols[1] - left, w))
    if src_rows[1] > src_rows[0] and src_cols[1] > src_cols[0]:
        dst_r, dst_c = src_rows[0] + top - rows[0], src_cols[0] + left - cols[0]
        part[:, dst_r : dst_r + src_rows[1] - src_rows[0], dst_c : dst_c + src_cols[1] - src_cols[0]] = x[
            :, :, src_rows[0] : src_rows[1], src_cols[0] : src_cols[1]
        ].transpose(0, 2, 3, 1)
    return part


def _depthwise_offsets(
    x: Array, w: Array, pads: Any, strides: tuple[int, int], out_size: tuple[int, int], rows: int
) -> Any:
    """A band computer: a multiply and an add per window offset (see _depthwise)."""
    np = numpy()
    n, c = x.shape[:2]
    _, _, kh, kw = w.shape
    (sh, sw), (_, wo) = strides, out_size
    phases = _phases(x, pads, sh, sw)
    taps = np.repeat(w.reshape(c, kh * kw).T[:, None, :], wo, axis=1)  # (kh·kw, wo, C)
    scratch = np.empty((n, rows, wo, c), dtype=np.result_type(x, w))

    def run_band(top: int, out: Array) -> int:
        band = out.shape[1]
        tmp = scratch[:, :band]
        macs = 0
        for i in range(kh):
            for j in range(kw):
                phase = phases[(i % sh, j % sw)]
                tap = phase[:, top + i // sh : top + i // sh + band, j // sw : j // sw + wo, :]
                np.multiply(tap, taps[i * kw + j], out=tmp if i or j else out)
                if i or j:
                    out += tmp
                macs += out.size  # one multiply-add per output value and window offset
        return macs

    return run_band
