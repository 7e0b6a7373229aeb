"""Dilated (atrous) convolutions: conv2d's ``dilation``, as DeepLab v3 and LR-ASPP on MobileNet v3 use it.

Claims:
- a window spans (k - 1)·d + 1 input pixels per axis, so the output side is that of a kernel that wide
  (explicit padding, 'same' and 'valid'), while the weights and the MACs stay those of k·k taps;
- the kernel (im2col over windows whose taps are d apart, depthwise and grouped too) equals a direct
  sum over the taps, and an exported file runs in onnxruntime as in the executor;
- ONNX Conv with dilations imports with them (verify passes on it); a dilated pool is still refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.loading import load_model
from costmodel.ops import REGISTRY

RNG = np.random.default_rng(23)


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    ("attrs", "shape", "output", "macs"),
    [
        ({"out": 4, "k": 3, "dilation": 2}, (3, 10, 10), (4, 6, 6), 4 * 27 * 36),
        ({"out": 4, "k": 3, "dilation": 2, "pad": 2}, (3, 10, 10), (4, 10, 10), 4 * 27 * 100),
        ({"out": 4, "k": 3, "dilation": [3, 1], "pad": "same", "stride": 2}, (3, 9, 8), (4, 5, 4), 4 * 27 * 20),
        ({"out": 6, "k": 3, "dilation": 4, "groups": 6, "pad": 4}, (6, 7, 5), (6, 7, 5), 6 * 9 * 35),
    ],
)
def test_the_window_spans_the_dilated_kernel_and_the_counts_do_not_grow(
    attrs: dict, shape: tuple[int, ...], output: tuple[int, ...], macs: int
) -> None:
    op = REGISTRY["conv2d"](**{k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()})
    assert op.output_shape([shape]) == output
    assert op.macs([shape], output) == macs
    plain = REGISTRY["conv2d"](
        **{k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items() if k != "dilation"}
    )
    assert {k: a.shape for k, a in op.weights([shape]).items()} == {
        k: a.shape for k, a in plain.weights([shape]).items()
    }


@pytest.mark.parametrize(
    ("groups", "dilation", "stride"), [(1, (2, 2), (1, 1)), (4, (2, 3), (2, 1)), (2, (3, 3), (1, 2))]
)
def test_the_kernel_is_the_sum_over_taps_d_apart(
    groups: int, dilation: tuple[int, int], stride: tuple[int, int]
) -> None:
    c, o, k, pad = 4, 4, 3, 2
    op = REGISTRY["conv2d"](out=o, k=k, groups=groups, dilation=dilation, stride=stride, pad=pad, bias=False)
    x, w = floats(2, c, 11, 9), floats(o, c // groups, k, k)
    y, counted = op.kernel([x], {"weight": w})
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    _, _, ho, wo = y.shape
    expected = np.zeros(y.shape)
    (dh, dw), (sh, sw) = dilation, stride
    for oc in range(o):
        g = oc // (o // groups)
        for ic in range(c // groups):
            for i in range(k):
                for j in range(k):
                    rows = xp[:, g * (c // groups) + ic, i * dh : i * dh + sh * (ho - 1) + 1 : sh]
                    expected[:, oc] += w[oc, ic, i, j] * rows[:, :, j * dw : j * dw + sw * (wo - 1) + 1 : sw]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert counted == op.macs([(c, 11, 9)], (o, ho, wo)) * 2  # two images


SPEC = """\
name: atrous
symbols:
  rho: {default: 1.0, domain: "> 0"}
input: {channels: 3, size: [33*rho, 20*rho]}
layers:
  - {op: conv2d, name: c1, out: 8, k: 3, stride: 2, pad: 1}
  - {op: conv2d, name: dw, out: in, groups: in, k: 3, dilation: 2, pad: 2}
  - {op: conv2d, name: aspp, out: 6, k: 3, dilation: [3, 2], pad: same}
  - {op: conv2d, name: g, out: 6, k: [3, 5], groups: 2, dilation: 2, stride: 2}
"""


def test_a_spec_verifies_and_round_trips_through_onnx(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx_builders import exported, run_matches_onnxruntime

    spec, out = exported(tmp_path, SPEC, "atrous")
    result = CliRunner().invoke(main, ["verify", spec, "--res", "66x40"])
    assert result.exit_code == 0, result.output
    original, back = load_model(spec), load_model(out)

    def layers(model):  # 'same' at stride 1 comes back as the symmetric padding it is
        return [
            (n.name, n.op.op_name, n.op.dilation, n.output_shape) for n in model.network(model.default_point()).nodes
        ]

    assert layers(back) == layers(original)
    assert (back.costs().macs, back.costs().params) == (original.costs().macs, original.costs().params)
    run_matches_onnxruntime(out, floats(2, 3, 33, 20), tmp_path, rtol=1e-4, atol=1e-4)
    result = CliRunner().invoke(main, ["verify", out])
    assert result.exit_code == 0, result.output
