"""A vision transformer, end to end: torchvision's VisionTransformer exported by both PyTorch exporters
(tests/data/vit_tiny_*.onnx, written by tools/pytorch_fixtures.py) is read, counted, run and written
back; the same network written as a spec with the token operators counts the same.

The tiny ViT: a 32×32 image in 16×16 patches (T = 4 + 1 class token), D = 8 features, 2 heads, an MLP
of 16, 2 encoder layers, 10 classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.loading import load_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_builders import run_matches_onnxruntime  # noqa: E402

DATA = Path(__file__).parent / "data"
FILES = [str(DATA / "vit_tiny_legacy.onnx"), str(DATA / "vit_tiny_dynamo.onnx")]

SIDE, PATCH, D, HEADS, MLP, LAYERS, CLASSES = 32, 16, 8, 2, 16, 2, 10
PATCHES = (SIDE // PATCH) ** 2
T = PATCHES + 1


def hand_count_macs() -> int:
    """Each product as nn.Linear, nn.Conv2d and scaled_dot_product_attention compute it."""
    patches = PATCHES * D * 3 * PATCH * PATCH
    attention = T * D * 3 * D + T * T * D + T * T * D + T * D * D  # in_proj, Q·Kᵀ, weights·V, out_proj
    mlp = T * D * MLP + T * MLP * D
    return patches + LAYERS * (attention + mlp) + D * CLASSES


def hand_count_params() -> int:
    """torchvision's num_params of the model (every bias kept, as the legacy exporter keeps them)."""
    patches = D * 3 * PATCH * PATCH + D
    tokens = D + T * D  # the class token and the position embedding
    layer = 2 * D + (3 * D * D + 3 * D) + (D * D + D) + 2 * D + (D * MLP + MLP) + (MLP * D + D)
    return patches + tokens + LAYERS * layer + 2 * D + D * CLASSES + CLASSES


VIT_SPEC = f"""
name: vit_tiny
input: {{channels: 3, size: {SIDE}}}
blocks:
  attention:
    params: {{d: , heads: , t: }}
    body:
      - {{op: linear, name: qkv, out: 3 * $d, flatten: false}}
      - {{op: reshape, name: split, shape: [$t, 3, $heads, $d // $heads]}}
      - {{op: transpose, name: per_head, perm: [1, 2, 0, 3]}}
      - {{op: select, name: q, axis: 0, index: 0}}
      - {{op: scale_by, name: q_scaled, factor: 0.5}}
      - {{op: select, name: k, axis: 0, index: 1, from: per_head}}
      - {{op: transpose, name: k_t, perm: [0, 2, 1]}}
      - {{op: matmul, name: scores, from: [q_scaled, k_t]}}
      - {{op: softmax, name: weights, axis: 2}}
      - {{op: select, name: v, axis: 0, index: 2, from: per_head}}
      - {{op: matmul, name: mix, from: [weights, v]}}
      - {{op: transpose, name: heads_last, perm: [1, 0, 2]}}
      - {{op: reshape, name: merge, shape: [$t, $d]}}
      - {{op: linear, name: out, out: $d, flatten: false}}
  encoder:
    params: {{d: , heads: , t: , mlp: }}
    body:
      - residual:
          - {{op: layernorm, name: ln1, axis: 1, eps: 1e-6}}
          - {{use: attention, name: attn, d: $d, heads: $heads, t: $t}}
        name: add1
      - residual:
          - {{op: layernorm, name: ln2, axis: 1, eps: 1e-6}}
          - {{op: linear, name: fc1, out: $mlp, flatten: false}}
          - {{op: gelu, name: gelu}}
          - {{op: linear, name: fc2, out: $d, flatten: false}}
        name: add2
layers:
  - {{op: conv2d, name: patches, out: {D}, k: {PATCH}, stride: {PATCH}}}
  - {{op: reshape, name: rows, shape: [{D}, {PATCHES}]}}
  - {{op: transpose, name: tokens, perm: [1, 0]}}
  - {{op: class_token, name: cls}}
  - {{op: position_embedding, name: pos}}
  - {{use: encoder, name: layer, d: {D}, heads: {HEADS}, t: {T}, mlp: {MLP}, repeat: {LAYERS}}}
  - {{op: layernorm, name: ln, axis: 1, eps: 1e-6}}
  - {{op: select, name: class_token_out, axis: 0}}
  - {{op: linear, name: head, out: {CLASSES}}}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("path", FILES, ids=["legacy", "dynamo"])
def test_a_vit_file_is_read_as_tokens_and_counted_exactly(path: str) -> None:
    costs = load_model(path).costs()
    assert costs.macs == hand_count_macs()
    ops = [layer.op for layer in costs.layers]
    assert ops.count("matmul") == 2 * LAYERS  # Q·Kᵀ and weights·V of every layer
    assert ops.count("softmax") == LAYERS
    assert ops.count("class_token") == ops.count("position_embedding") == 1
    assert costs.layers[-1].op == "linear" and costs.layers[-2].op == "select"
    assert costs.params == hand_count_params()  # every weight random: no zero bias for an exporter to drop


def test_both_exporters_give_the_same_network() -> None:
    legacy, dynamo = (load_model(path).costs() for path in FILES)
    assert legacy.macs == dynamo.macs
    assert legacy.params == dynamo.params


def test_the_vit_as_a_spec_counts_what_the_file_holds(tmp_path: Path) -> None:
    spec = tmp_path / "vit_tiny.yaml"
    spec.write_text(VIT_SPEC)
    costs = load_model(str(spec)).costs()
    legacy = load_model(FILES[0]).costs()
    assert (costs.macs, costs.params) == (hand_count_macs(), hand_count_params())
    assert (costs.macs, costs.params) == (legacy.macs, legacy.params)
    code, output = invoke("verify", str(spec))  # the executor does what the formulas count
    assert code == 0, output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("shape: [8, 4]", "shape: 32"), "layer 'rows': shape must be a list of numbers"),
        (("shape: [8, 4]", "shape: [8, 5]"), "layer 'rows': cannot reshape 8×2×2 (32 values) to 8×5 (40)"),
        (("perm: [1, 0]", "perm: [0, 0]"), "layer 'tokens': transpose perm [0, 0] is not a permutation"),
        (("class_token_out, axis: 0", "class_token_out, axis: 2"), "select axis 2 is not an axis"),
        (("perm: [0, 2, 1]", "perm: [0, 1, 2]"), "layer 'layer.1.attn.scores': matmul of 2×5×4 and 2×5×4"),
        (("perm: [1, 0]", "perm: [1, 0, 2]"), "layer 'tokens': transpose perm [1, 0, 2] is not a permutation"),
    ],
)
def test_bad_token_specs_are_one_line_errors(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    spec = tmp_path / "bad.yaml"
    old, new = change
    assert old in VIT_SPEC
    spec.write_text(VIT_SPEC.replace(old, new, 1))
    code, output = invoke("report", str(spec))
    assert code == 2, output
    assert message in output
    assert output.count("\n") == 1


# -- Swin: windows, a cyclic shift, a relative position bias and a mask, patch merging ---------------

SWIN_FILES = [str(DATA / "swin_tiny_legacy.onnx"), str(DATA / "swin_tiny_dynamo.onnx")]


def swin_hand_count() -> tuple[int, int, int]:
    """(MACs, params as torchvision counts them less the bias tables, stored constants) of the tiny Swin:
    32×32 in 4×4 patches of 8 features, stage 1 on 8×8 positions in windows of 4×4 (4 windows, the second
    block shifted), patch merging to 4×4 of 16 features, stage 2 in one window (no shift), 2 heads, an MLP
    of 4 times the features, 10 classes."""
    macs, params, stored = 3 * 16 * 8 * 64, (3 * 16 * 8 + 8) + 2 * 8, 0
    for positions, c, windows, blocks in ((64, 8, 4, 2), (16, 16, 1, 2)):
        if c == 16:  # patch merging: 4 neighbours concatenated, normalised, reduced by a Linear without bias
            macs += positions * 4 * c // 2 * c
            params += 2 * 4 * c // 2 + 4 * c // 2 * c
        window = positions // windows
        attention = 2 * windows * window * window * c  # Q·Kᵀ and weights·V over all heads
        per_block = positions * c * 3 * c + attention + positions * c * c + 2 * positions * c * 4 * c
        macs += blocks * per_block
        params += blocks * (2 * c + (3 * c * c + 3 * c) + (c * c + c) + 2 * c + (4 * c * c + 4 * c) + (4 * c * c + c))
        stored += blocks * 2 * window * window  # each block's bias, gathered per head: (heads, N, N)
        if windows > 1:
            stored += windows * window * window  # the shifted block's mask
    macs += 16 * 10
    params += 2 * 16 + 16 * 10 + 10
    return macs, params, stored


@pytest.mark.parametrize("path", SWIN_FILES, ids=["legacy", "dynamo"])
def test_a_swin_file_is_counted_exactly(path: str) -> None:
    """torchvision's num_params (9,882) is larger by the bias tables ((2·4 − 1)² per head per block: 392),
    which the file holds only gathered: stored constants, counted with norm_stats."""
    costs = load_model(path).costs()
    macs, params, stored = swin_hand_count()
    assert (costs.macs, costs.params, costs.params_by_kind["norm_stats"]) == (macs, params, stored)


# -- Swin v2: cosine attention (F.normalize), a logit scale per head, the position bias from an MLP ----

SWIN2_FILES = [str(DATA / "swin2_tiny_legacy.onnx"), str(DATA / "swin2_tiny_dynamo.onnx")]


@pytest.mark.parametrize("path", SWIN2_FILES, ids=["legacy", "dynamo"])
def test_a_swin_v2_file_is_counted_exactly(path: str) -> None:
    """The products that depend on the image are Swin v1's: normalising Q and K costs no MACs, and the
    position-bias MLP runs on constant coordinates, so the file holds (or computes from constants) its
    output, which costmodel folds."""
    costs = load_model(path).costs()
    assert costs.macs == swin_hand_count()[0]
    ops = [layer.op for layer in costs.layers]
    assert ops.count("l2_normalize") == 2 * 4  # Q and K of each of the 4 blocks
    assert ops.count("mul_constant") + ops.count("scale") == 4  # the logit scale of each block


def test_swin_v2_legacy_params_are_v1s_with_the_merging_norm_after_the_reduction() -> None:
    """PatchMergingV2 normalises the 2C reduced features, not the 4C concatenated ones; the bias tables
    (v1) and the position-bias MLP and logit scales (v2) are not parameters of either file."""
    v1 = swin_hand_count()[1]
    assert load_model(SWIN2_FILES[0]).costs().params == v1 - 2 * 32 + 2 * 16


# -- against PyTorch: the hook count and num_params recorded with each fixture -----------------------

COUNTS = json.loads((DATA / "pytorch_counts.json").read_text())
SWIN2_NOT_IN_FILE = 4 * (2 * 512 + 512 + 512 * 2) + 4 * 2  # the bias MLPs and the logit scales (2 heads, 4 blocks)
MAXVIT_TABLES = 2 * 9 * 2 + 2 * 9 * 4  # (2·2 − 1)² per head, block and grid attention, 2 heads then 4
MAXVIT_FOLDED = 8 + 2 * 32 + 2 * 64  # the batch norms folded into the stem's and each MBConv's convolutions


@pytest.mark.parametrize(
    ("name", "exporter", "not_in_file"),
    [
        ("vit_tiny", "legacy", 0),
        ("vit_tiny", "dynamo", 0),
        ("swin_tiny", "legacy", 4 * 2 * 49),  # the bias tables, held gathered (norm_stats)
        ("swin_tiny", "dynamo", 4 * 2 * 49),
        ("swin2_tiny", "legacy", SWIN2_NOT_IN_FILE),
        # dynamo stores the second stage's two exponentiated logit scales as initializers: read as learned
        ("swin2_tiny", "dynamo", SWIN2_NOT_IN_FILE - 2 * 2),
        ("maxvit_tiny", "legacy", MAXVIT_TABLES + MAXVIT_FOLDED),
        ("maxvit_tiny", "dynamo", MAXVIT_TABLES + MAXVIT_FOLDED),
    ],
)
def test_the_files_count_what_pytorch_counts(name: str, exporter: str, not_in_file: int) -> None:
    """MACs equal the hook count of the PyTorch model (of the products that depend on the image: Swin
    v2's position-bias MLP over fixed coordinates is computed from constants); params equal num_params,
    but for what the file holds computed rather than as parameters, and the batch norms the exporter
    folded."""
    costs = load_model(str(DATA / f"{name}_{exporter}.onnx")).costs()
    assert costs.macs == COUNTS[name]["hook_macs"]
    assert costs.params == COUNTS[name]["num_params"] - not_in_file


ALL_FILES = [f"{name}_{exporter}" for name in COUNTS if "@" not in name for exporter in ("legacy", "dynamo")]


@pytest.mark.parametrize("name", ALL_FILES)
def test_each_file_runs_as_onnxruntime_and_verifies(name: str, tmp_path: Path) -> None:
    """On the file's own weights, as onnxruntime runs it (MaxViT's batch norms have ε = 1e-3, read from
    the file: 1e-5 would differ by some 1e-5)."""
    path = str(DATA / f"{name}.onnx")
    x = np.random.default_rng(9).standard_normal((1, 3, SIDE, SIDE)).astype(np.float32)
    run_matches_onnxruntime(path, x, tmp_path, rtol=1e-5, atol=1e-6)
    code, output = invoke("verify", path)
    assert code == 0, output


@pytest.mark.parametrize("name", ALL_FILES)
def test_each_file_written_out_reads_back_the_same(name: str, tmp_path: Path) -> None:
    """``export`` then import: the same layers, params and MACs, and onnxruntime on the written file
    computes what costmodel's executor computes, for a batch of 2 (each image on its own)."""
    path, out = str(DATA / f"{name}.onnx"), tmp_path / "again.onnx"
    code, output = invoke("export", path, "-o", str(out))
    assert code == 0, output
    before, after = (load_model(p).costs() for p in (path, str(out)))
    assert [(layer.op, layer.params, layer.macs) for layer in after.layers] == [
        (layer.op, layer.params, layer.macs) for layer in before.layers
    ]
    x = np.random.default_rng(4).standard_normal((2, 3, SIDE, SIDE)).astype(np.float32)
    run_matches_onnxruntime(str(out), x, tmp_path, rtol=1e-4, atol=1e-5)


def test_a_batch_norm_after_a_linear_per_token_does_not_fold_into_it(tmp_path: Path) -> None:
    """Its channels (axis 0) are the tokens, not the linear layer's outputs: folding it would scale the
    wrong axis (a broadcast error in the folded run before)."""
    spec = tmp_path / "tokbn.yaml"
    spec.write_text(
        "name: tokbn\ninput: {channels: 4, size: 4}\nlayers:\n"
        "  - {op: reshape, name: rows, shape: [4, 16]}\n"
        "  - {op: transpose, name: tokens, perm: [1, 0]}\n"
        "  - {op: linear, name: fc, out: 6, flatten: false}\n"
        "  - {op: batchnorm, name: bn}\n"
    )
    code, output = invoke("verify", str(spec), "--counting", "folded")
    assert code == 0, output
    costs = load_model(str(spec)).costs(counting="folded")
    assert costs.params == (6 * 4 + 6) + 2 * 16  # the linear layer as it is (4 features a token), the norm per token
