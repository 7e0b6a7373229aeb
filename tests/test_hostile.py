"""The hostile-input reproducers: each is one line on stderr, exit 2, little work, nothing written.

Every case runs in an empty folder with ``-o`` naming a file where the command writes one; after it,
the folder holds only what the case put there. The work is bounded by CPU time (not wall time, which
a shared machine makes noisy): refusing must come before the work it guards.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.resources import spec_dir

CPU_SECONDS = 1.0


def spec_with(name: str, old: str, new: str) -> str:
    text = (spec_dir() / f"{name}.yaml").read_text()
    assert old in text, f"{old!r} not in {name}"
    return text.replace(old, new, 1)


def laughs(levels: int, field: str = "title") -> str:
    """A billion-laughs spec: ``levels`` levels of ten aliases each, reached through ``field``."""
    lines = ['description: &a0 "lol"']
    lines += [f"source: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" if i == 1 else "" for i in range(1, 2)]
    anchors = "\n".join(f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1))
    body = spec_with("mobilenet_v1", "title: MobileNet v1", f"title: *a{levels}")
    return f"notes:\n  - &a0 lol\n{anchors}\n{body}"


V1 = "mobilenet_v1"
SPECS = {
    "huge-int.yaml": lambda: spec_with(V1, "out: 1024, stride: 2", "out: 1" + "0" * 5000 + ", stride: 2"),
    "laughs9.yaml": lambda: laughs(9),
    "laughs6.yaml": lambda: laughs(6),
    "width-list.yaml": lambda: spec_with(V1, "multiplier: alpha}", "multiplier: []}"),
    "out-condition.yaml": lambda: spec_with(V1, "out: 1024, stride: 2", 'out: "16 > 8", stride: 2'),
    "explained-exclude.yaml": lambda: spec_with(V1, "explained_by: {exclude: [fc]}", "explained_by: {exclude: 5}"),
    "explained-architecture.yaml": lambda: spec_with(
        "mobilenet_v2",
        "explained_by: {architecture: {macs: 582195824, params: 6060840}}",
        "explained_by: {architecture: 10000000000000}",
    ),
    "variant-list.yaml": lambda: spec_with("mobilenet_v3_large", "variant: keras}", "variant: []}"),
    "adaptive-symbol.yaml": lambda: spec_with("alexnet", "size: 6}", "size: num_classes}"),
    "adaptive-huge.yaml": lambda: spec_with("alexnet", "size: 6}", "size: 999999999999}"),
    "deep.yaml": lambda: spec_with(V1, "title: MobileNet v1", "title: " + "[" * 150 + "]" * 150),
    "deep-alias.yaml": lambda: spec_with(
        V1, "title: MobileNet v1", "title: &t [1]\nsource: " + "[" * 150 + "*t" + "]" * 150
    ),
    "line-breaks.yaml": lambda: spec_with(V1, "multiplier: alpha}", 'multiplier: "a\\Nb\\Lc\\x9b[31m"}'),
    "huge-pool.yaml": lambda: (
        "name: tiny\ninput: {channels: 3, size: 32}\n"
        "layers: [{op: max_pool, k: 1000000, ceil_mode: true, pad: 500000}]\n"
    ),
    "flat-20001.yaml": lambda: "name: big\ninput: {channels: 3, size: 32}\nlayers:\n" + "  - {op: relu}\n" * 20_001,
    "relu-10000.yaml": lambda: (
        "name: big\nsymbols:\n  alpha: {default: 1, domain: '> 0'}\n  rho: {default: 1, domain: '> 0'}\n"
        "input: {channels: 3, size: 224*rho}\nwidth: {rule: floor, multiplier: alpha}\nlayers:\n"
        "  - {op: conv2d, out: 16, k: 3}\n" + "  - {op: relu}\n" * 10_000
    ),
    "repeat-1e6.yaml": lambda: (
        "name: big\ninput: {channels: 3, size: 32}\n"
        "blocks:\n  many: {body: [{op: relu, repeat: 1000}]}\nlayers:\n  - {use: many, repeat: 1000}\n"
    ),
    "default-huge.yaml": lambda: spec_with(V1, "alpha: {default: 1.0,", "alpha: {default: 1000000000000,"),
    "default-1e99999999.yaml": lambda: spec_with(V1, "alpha: {default: 1.0,", 'alpha: {default: "1e99999999",'),
    "domain-1e99999999.yaml": lambda: spec_with(V1, 'domain: "> 0"', 'domain: "> 1e99999999"'),
    "figure-1e99999999.yaml": lambda: (
        spec_with(V1, "explained_by: {exclude: [fc]}", "explained_by: {exclude: [fc]}")
        .replace("macs: 569M", "macs: 1e99999999", 1)
        .replace("macs: 569e6", "macs: 1e99999999", 1)
    ),
}

# (id, command line, a fragment of the one error line); "{out}" is the file -o names
CASES = [
    ("alpha-5000-digits", ["report", V1, "--alpha", "1e5000", "-o", "{out}"], "past the limit exponent="),
    ("classes-5000-digits", ["report", V1, "--classes", "1" + "0" * 5000], "past the limit digits="),
    ("set-5000-digits", ["report", V1, "--set", "alpha=1e5000"], "past the limit exponent="),
    ("expr-5000-digits", ["expr", V1, "--alpha", "1e5000"], "past the limit exponent="),
    ("spec-5000-digit-int", ["report", "huge-int.yaml", "-o", "{out}"], "huge-int.yaml:39: the number"),
    ("res-1e400", ["report", V1, "--res", "1e400"], "past the limit exponent="),
    ("rho-1e400", ["report", V1, "--rho", "1e400"], "past the limit exponent="),
    ("table-alpha-1e400", ["table", V1, "--alpha", "1e400", "-o", "{out}"], "past the limit exponent="),
    ("alpha-1e99999999", ["report", V1, "--alpha", "1e99999999"], "past the limit exponent="),
    ("res-1e99999999", ["report", V1, "--res", "1e99999999"], "past the limit exponent="),
    ("default-1e99999999", ["report", "default-1e99999999.yaml"], "default-1e99999999.yaml:10: "),
    ("domain-1e99999999", ["report", "domain-1e99999999.yaml"], "domain-1e99999999.yaml:10: "),
    ("figure-1e99999999", ["check", "figure-1e99999999.yaml"], "past the limit exponent="),
    ("arabic-indic-digit", ["report", V1, "--alpha", "\u0661"], "alpha must be a number"),
    ("verify-res-100000", ["verify", V1, "--res", "100000"], "past the limit memory="),
    ("verify-alpha-1e400", ["verify", V1, "--alpha", "1e400"], "past the limit exponent="),
    ("export-alpha-1e5000", ["export", V1, "--alpha", "1e5000", "-o", "{out}"], "past the limit exponent="),
    ("verify-default-1e12", ["verify", "default-huge.yaml"], "past the limit memory="),
    ("export-default-1e12", ["export", "default-huge.yaml", "-o", "{out}"], "past the limit memory="),
    ("adaptive-size-1e12", ["report", "adaptive-huge.yaml"], "(999999999999): past the limit pool_side=1,024"),
    ("adaptive-size-1e12-expr", ["expr", "adaptive-huge.yaml"], "(999999999999): past the limit pool_side=1,024"),
    ("adaptive-size-symbol", ["report", "adaptive-symbol.yaml"], "size must be a constant number"),
    ("adaptive-size-symbol-expr", ["expr", "adaptive-symbol.yaml"], "size must be a constant number"),
    ("layers-20001-flat", ["report", "flat-20001.yaml"], "flat-20001.yaml:4: the spec lists too many layers"),
    ("layers-1e6-repeated", ["expr", "repeat-1e6.yaml"], "past the limit layers="),
    ("laughs-9", ["report", "laughs9.yaml", "-o", "{out}"], "past the limit yaml_nodes="),
    (
        "sweep-1e10-points",
        ["sweep", V1, "--alpha", "0.0001:10:0.0001", "--res", "1:100000:1", "-o", "{out}"],
        "memory=",
    ),
    ("table-99905-rows", ["table", "squeezenet1_1", "--res", "96:100000:1", "-o", "{out}"], "limit table_rows="),
    (
        "solve-peak-memory-over-10000-layers",
        ["solve", "relu-10000.yaml", "--max-peak-memory", "4M"],
        "the peak memory at 58,000 points of 10,001 layers each",
    ),
    (
        "sweep-peak-memory-over-10000-layers",
        ["sweep", "relu-10000.yaml", "--alpha", "0.01:1:0.01", "--res", "96:320:8", "--metrics", "peak_memory"],
        "past the limit grid_layers=25,000,000",
    ),
    (
        "table-655-efficientnets",
        ["table", "efficientnet", "--alpha", "0.1:1.4:0.01", "--res", "96:224:32", "-o", "{out}"],
        "(546,270): past the limit table_layers=40,000",
    ),
    ("solve-fractional-side", ["solve", V1, "--max-macs", "100M", "--res-range", "96:100:1.5"], "number, got 97.5"),
    ("sweep-fractional-side", ["sweep", V1, "--res", "96.5", "-o", "{out}"], "whole number, got 96.5"),
    ("sensitivity-bad-epsilon", ["sensitivity", "squeezenet", "--epsilon", "424212.+_41_"], "epsilon must be a"),
    ("export-to-dash", ["export", V1, "-o", "-"], "'-' (stdout) is not a file this command can write"),
    ("whatif-to-dash", ["whatif", "alexnet", "--gap-head", "-o", "-"], "'-' (stdout) is not a file"),
    ("line-breaks-in-a-name", ["report", "line-breaks.yaml"], "width multiplier 'a\\x85b\\u2028c\\x9b[31m'"),
    ("verify-huge-pool", ["verify", "huge-pool.yaml"], "padding a layer's input would need about 10.9 TiB"),
    ("deep", ["report", "deep.yaml", "-o", "{out}"], "nested more than 100 levels deep"),
    ("deep-alias", ["report", "deep-alias.yaml", "-o", "{out}"], "nested more than 100 levels deep"),
    ("laughs-6", ["report", "laughs6.yaml", "--format", "html", "-o", "{out}"], "past the limit yaml_nodes="),
    ("width-multiplier-list", ["report", "width-list.yaml"], "width multiplier must be a symbol's name"),
    ("out-condition-report", ["report", "out-condition.yaml"], "is a condition, not a number"),
    ("out-condition-expr", ["expr", "out-condition.yaml"], "is a condition, not a number"),
    ("out-condition-verify", ["verify", "out-condition.yaml"], "is a condition, not a number"),
    ("explained-exclude-5", ["check", "explained-exclude.yaml"], "explained_by exclude must be a list"),
    ("explained-exclude-5-report", ["report", "explained-exclude.yaml"], "explained_by exclude must be a list"),
    ("explained-architecture-int", ["check", "explained-architecture.yaml"], "architecture must be a mapping"),
    ("variant-list", ["check", "variant-list.yaml"], "accuracy variant must be a string"),
    ("name-300-characters", ["report", "a" * 300 + ".yaml"], "no such spec file"),
    ("name-300-characters-bare", ["report", "a" * 300], "unknown model"),
    ("format-bogus", ["report", V1, "--format", "bogus"], "Invalid value for '--format'"),
    ("unknown-option", ["report", V1, "--bogus"], "No such option"),
    ("missing-model", ["report"], "Missing argument 'MODEL'"),
    ("output-directory", ["report", V1, "-o", "."], "it is a directory"),
    ("name-with-newline", ["report", "mobile\nnet"], "mobile\\nnet"),
]


@pytest.mark.parametrize(("args", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_exit_2_with_little_work_and_nothing_written(
    args: list[str], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for arg in args:
        if arg in SPECS:
            Path(arg).write_text(SPECS[arg]())
    before = set(os.listdir(tmp_path))
    gc.collect()  # the garbage earlier tests left is not this refusal's work
    start = time.thread_time()  # this thread's: an earlier test's onnxruntime pool may still spin
    result = CliRunner().invoke(main, [a.replace("{out}", "out.file") for a in args])
    spent = time.thread_time() - start
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[:500]
    assert fragment in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0]
    assert result.stdout == ""
    assert set(os.listdir(tmp_path)) == before
    assert spent < CPU_SECONDS, f"{spent:.2f} s of CPU to refuse"


def test_an_error_naming_a_hostile_name_is_one_line_through_the_api_too(tmp_path: Path) -> None:
    """NEL, the Unicode line separator and a C1 escape in a name stay escaped in ``str(error)``."""
    from costmodel.errors import UserError
    from costmodel.loading import load_model

    path = tmp_path / "line-breaks.yaml"
    path.write_text(SPECS["line-breaks.yaml"]())
    with pytest.raises(UserError) as err:
        load_model(str(path))
    assert len(str(err.value).splitlines()) == 1
    assert "'a\\x85b\\u2028c\\x9b[31m'" in str(err.value)


def test_a_minimum_resolution_no_input_reaches_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    """A reference row's min_resolution where no input up to 65536 is enough prints as 'none'."""
    spec = tmp_path / "tall.yaml"
    spec.write_text(
        spec_with("mobilenet_v3_large", "input: {channels: 3, size: 224*rho}", "input: {channels: 3, size: 1000000}")
    )
    result = CliRunner().invoke(main, ["check", str(spec)])
    assert result.exit_code == 1, result.output
    assert "min_resolution = none (published 1;" in result.output
