"""The spec language's corners: each case is a small spec and what must come of it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from costmodel import SpecError, load_model
from costmodel.references import check_references, parse_figure

HEADER = """\
name: tiny
symbols:
  alpha: {default: 1, domain: "> 0"}
  rho: {default: 1, domain: "> 0"}
input: {channels: 3, size: 32*rho}
width: {rule: floor_min8, multiplier: alpha}
"""


def write(tmp_path: Path, body: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def error_of(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_model(path).costs()
    return info.value


def test_repeat_applies_a_block_default_stride_to_the_first_repetition_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        blocks:
          down:
            params: {out: null, stride: 2}
            body: [{op: conv2d, out: $out, k: 3, pad: 1, stride: $stride}]
        layers:
          - {use: down, out: 16, repeat: 3}
        """,
    )
    shapes = [layer.output_shape for layer in load_model(path).costs().layers]
    assert shapes == [(16, 16, 16)] * 3


def test_explicit_stride_argument_also_applies_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - {op: conv2d, out: 8, k: 3, pad: 1, stride: 2, repeat: 2}
        """,
    )
    assert [layer.output_shape[1] for layer in load_model(path).costs().layers] == [16, 16]


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ('layers:\n  - {op: conv2d, out: 8, k: 3, groups: "1 < 2"}\n', 8, "is a condition, not a number"),
        (
            "blocks:\n  b:\n    params: {a: $c, c: $a}\n    body: [{op: conv2d, out: $a, k: 1}]\n"
            "layers:\n  - {use: b}\n",
            10,
            "refer to each other",
        ),
        ('layers:\n  - {op: conv2d, out: "((((9)**8)**8)**8)**8", k: 1}\n', 8, "too large"),
        ("layers:\n  - {op: conv2d, name: 9lives, out: 8, k: 1}\n", 8, "must be an identifier"),
        (
            "layers:\n  - {op: conv2d, out: 8, k: 1}\n  - {op: relu, name: x}\n  - {op: relu, name: x}\n",
            10,
            "duplicate",
        ),
    ],
)
def test_bad_specs_fail_on_their_line(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    err = error_of(write(tmp_path, body))
    assert fragment in err.message
    assert err.line == line
    assert err.file == str(tmp_path / "tiny.yaml")


def test_in_channels_in_the_input_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: t\ninput: {channels: in_channels, size: 16}\nlayers:\n  - {op: relu}\n")
    err = error_of(path)
    assert err.line == 2 and "in_channels" in err.message


@pytest.mark.parametrize("name", ["lambda", "None", "resolution", "in_channels", "floor"])
def test_symbols_cannot_take_reserved_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        f"name: t\nsymbols:\n  {name}: {{default: 1}}\ninput: {{channels: 3, size: 8}}\nlayers: [{{op: relu}}]\n"
    )
    assert error_of(path).line == 3


def test_residual_with_a_stride_asks_for_a_condition(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - {op: conv2d, out: 8, k: 1}
          - residual: [{op: conv2d, out: 8, k: 3, pad: 1, stride: 2}]
        """,
    )
    err = error_of(path)
    assert "when:" in err.message and err.layer == "residual1"


def test_residual_add_exists_exactly_when_condition_and_channels_agree(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        blocks:
          res:
            params: {out: null, stride: 1}
            body:
              - residual: [{op: conv2d, out: $out, k: 3, pad: 1, stride: $stride}]
                when: $stride == 1
                name: add
        layers:
          - {op: conv2d, out: 16, k: 1}
          - {use: res, out: 16}
          - {use: res, out: 16, stride: 2}
          - {use: res, out: 32}
        """,
    )
    layers = {layer.name: layer for layer in load_model(path).costs().layers}
    assert [layers[f"res{i}.add"].present for i in (1, 2, 3)] == [True, False, False]
    assert layers["res1.add"].other_ops == 16 * 32 * 32


REFERENCE_TAIL = """
layers:
  - {op: conv2d, name: conv, out: 16, k: 3, pad: 1, bias: false}
  - {op: global_avg_pool}
  - {op: linear, name: fc, out: fixed(10)}
reference:
"""


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("  - {macs: 1, counting: bogus}\n", "unknown counting preset"),
        ("  - {macs: 1, exclude: [head]}\n", "no layers of type 'head'"),
        ("  - {macs: 1, disagreement: x, explained_by: {exlcude: [fc]}}\n", "unknown explained_by key"),
        ("  - {macs: 1, disagreement: x}\n", "needs explained_by"),
        ("  - {macs: one}\n", "not a figure"),
        ("  - {macs: 1, colour: red}\n", "unknown reference key"),
    ],
)
def test_bad_reference_rows_name_their_line(tmp_path: Path, row: str, fragment: str) -> None:
    path = write(tmp_path, REFERENCE_TAIL + row)
    with pytest.raises(SpecError) as info:
        check_references(load_model(path))
    assert fragment in info.value.message
    assert info.value.line == 13


def test_disagreement_rows_fail_when_they_are_stale(tmp_path: Path) -> None:
    # conv: 16*3*9 = 432 weights, 432*1024 MACs = 442,368; fc: 160 + 10
    exact = 432 * 1024 + 160
    path = write(
        tmp_path,
        REFERENCE_TAIL
        + f"  - {{macs: {exact}, disagreement: stale, explained_by: {{exclude: [fc]}}}}\n"
        + f"  - {{macs: {exact - 160}, disagreement: real, explained_by: {{exclude: [fc]}}}}\n"
        + f"  - {{macs: {exact + 1}, disagreement: wrong, explained_by: {{exclude: [fc]}}}}\n",
    )
    stale, real, wrong = check_references(load_model(path))
    assert not stale.ok and "stale" not in stale.note and "remove" in stale.note
    assert real.ok and real.note.startswith("real")
    assert not wrong.ok


@pytest.mark.parametrize(
    ("text", "value", "tolerance"),
    [
        (4231976, 4231976, 0),
        ("4.2M", 4_200_000, 50_000),
        ("569M", 569_000_000, 500_000),
        ("569e6", 569_000_000, 500_000),
        ("0.819G", 819_000_000, 500_000),
        (94.86, 94.86, 0.005),
        ("1,248,424", 1248424, 0),
    ],
)
def test_printed_figures_carry_their_precision(text, value, tolerance) -> None:
    figure = parse_figure(text)
    assert float(figure.value) == pytest.approx(value)
    assert float(figure.tolerance) == pytest.approx(tolerance)


def test_check_builds_every_variant(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from costmodel.cli import main

    path = write(
        tmp_path,
        """
        layers:
          - {op: conv2d, out: 8, k: 1}
        variants:
          broken:
            defaults: {conv2d: {stride: 0}}
        """,
    )
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2, result.output
    assert "stride" in result.output and "at least 1" in result.output


def test_explained_by_needs_a_disagreement(tmp_path: Path) -> None:
    path = write(tmp_path, REFERENCE_TAIL + "  - {macs: 1, explained_by: {exclude: [fc]}}\n")
    with pytest.raises(SpecError) as info:
        check_references(load_model(path))
    assert "goes with a disagreement" in info.value.message and info.value.line == 13
