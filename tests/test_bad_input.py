"""Bad input, every kind of it: one line on stderr, ``error: FILE:LINE: layer 'NAME': ...``, exit 2.

No traceback, nothing on stdout, no output file. Spec files are written into a temporary directory
that is also the working directory, so the file part of each message is the bare file name.
"""

from __future__ import annotations

import itertools
import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from costmodel.cli import main
from costmodel.errors import SpecError
from costmodel.loading import load_model

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
OUTPUT = "out.report"  # an extension that names no format: any --format goes with it


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_user_error(
    result: Result,
    *,
    file: str | None = None,
    line: int | None = None,
    layer: str | None = None,
    contains: tuple[str, ...] = (),
) -> str:
    """Exit 2 with exactly one ``error:`` line; ``file``/``line``/``layer`` give its exact prefix."""
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output!r} {result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    stderr = result.stderr
    assert "Traceback" not in stderr and "Traceback" not in result.output
    assert result.stdout == "", result.stdout
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    message = lines[0]
    assert message.startswith("error: "), message
    if file is not None:
        prefix = f"error: {file}:{line}: " if line is not None else f"error: {file}: "
        assert message.startswith(prefix), f"{message!r} does not start with {prefix!r}"
        rest = message[len(prefix) :]
        if layer is not None:
            assert rest.startswith(f"layer '{layer}': "), message
        else:
            assert not rest.startswith("layer '"), message
    elif layer is not None:
        assert f": layer '{layer}': " in message, message
    for fragment in contains:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def assert_no_output_file(directory: Path) -> None:
    leftovers = sorted(p.name for p in directory.iterdir() if p.name == OUTPUT or p.name.startswith(f".{OUTPUT}"))
    assert leftovers == [], leftovers


def line_of(path: Path, fragment: str) -> int:
    """1-based line of the only line of ``path`` holding ``fragment``."""
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1) if fragment in text]
    assert len(hits) == 1, (fragment, hits)
    return hits[0]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- broken spec files ---------------------------------------------------------------------------
# (id, spec text, line, layer, fragments). Line numbers count from the first line of the text.

CBR_BLOCK = """\
name: tiny
input: {channels: 3, size: 32}
blocks:
  cbr:
    params: {out: null, k: 3, stride: 1}
    body:
      - {op: conv2d, name: conv, out: $out, k: $k, stride: $stride, pad: 1}
      - {op: relu, name: relu}
layers:
  - {op: relu, name: r}
"""  # 10 lines; a case appends its layers from line 11

SPEC_ERRORS = [
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers: x: y
          - {op: relu, name: r}
        """,
        3,
        None,
        ("malformed YAML", "mapping values are not allowed"),
        id="malformed-yaml",
    ),
    pytest.param(
        "name: tiny\ninput: {channels: 3, size: 32}\nlayers:\n\t- {op: relu, name: r}\n",
        4,
        None,
        ("malformed YAML",),
        id="malformed-yaml-tab",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
        name: again
        """,
        5,
        None,
        ("duplicate key 'name'",),
        id="duplicate-key",
    ),
    pytest.param("- name: tiny\n- layers: []\n", 1, None, ("must be a YAML mapping",), id="document-is-a-list"),
    pytest.param("just some words\n", 1, None, ("must be a YAML mapping",), id="document-is-a-scalar"),
    pytest.param("", 1, None, ("must be a YAML mapping",), id="empty-file"),
    pytest.param("# only a comment\n", 1, None, ("must be a YAML mapping",), id="only-a-comment"),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layer:
          - {op: relu, name: r}
        """,
        3,
        None,
        ("unknown top-level key 'layer'", "(did you mean 'layers'?)"),
        id="unknown-top-level-key",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - name: c1
            op: conv2
            out: 8
            k: 3
        """,
        6,
        "c1",
        ("unknown op 'conv2'", "(did you mean 'conv2d'?)"),
        id="unknown-op",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - op: conv2d
            name: c1
            out: 8
            k: 3
            stide: 2
        """,
        9,
        "c1",
        ("unknown attribute 'stide' of conv2d", "(did you mean 'stride'?)"),
        id="unknown-attribute",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - op: conv2d
            name: c1
            out: 8
            k:
        """,
        7,
        "c1",
        ("conv2d needs a value for k",),
        id="required-attribute-left-empty",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: conv2d, name: c1, out: 8, k: 3, stride: }
        """,
        4,
        "c1",
        ("stride is empty: give a value, or leave it out for 1",),
        id="optional-attribute-left-empty",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        blocks:
          cbr:
            params: [out]
            body:
              - {op: conv2d, name: conv, out: $out, k: 3, pad: 1}
              - {op: batchnorm, name: bn, momentum: 0.1}
        layers:
          - {op: relu, name: r}
          - {use: cbr, name: b1, out: 8}
        """,
        8,
        "b1.bn",
        ("unknown attribute 'momentum' of batchnorm",),
        id="unknown-attribute-in-block-body",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        defaults:
          conv2d: {bias: false}
          batchnrm: {}
        layers:
          - {op: relu, name: r}
        """,
        5,
        None,
        ("defaults for unknown op 'batchnrm'", "(did you mean 'batchnorm'?)"),
        id="unknown-op-in-defaults",
    ),
    pytest.param(
        CBR_BLOCK
        + """\
  - name: b1
    use: cbrr
    out: 8
""",
        12,
        "b1",
        ("unknown block 'cbrr'", "(did you mean 'cbr'?)"),
        id="unknown-block",
    ),
    pytest.param(
        CBR_BLOCK + "  - {use: cbr, name: b1, k: 1}\n",
        11,
        "b1",
        ("block 'cbr' needs parameter 'out'",),
        id="missing-block-parameter",
    ),
    pytest.param(
        CBR_BLOCK
        + """\
  - use: cbr
    name: b1
    out: 8
    strid: 2
""",
        14,
        "b1",
        ("block 'cbr' has no parameter 'strid'", "(did you mean 'stride'?)"),
        id="unknown-block-argument",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - {op: relu, name: a, from: rr}
        """,
        5,
        "a",
        ("'from' names unknown layer 'rr'", "(did you mean 'r'?)"),
        id="from-unknown-layer",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - {op: relu, name: a, from: a}
        """,
        5,
        "a",
        ("cannot take its own output",),
        id="from-itself",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - {op: relu, name: r}
        """,
        5,
        "r",
        ("duplicate layer name 'r'",),
        id="duplicate-layer-name",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - parallel:
              - [{op: conv2d, name: p1, out: 8, k: 3, pad: 1}]
              - [{op: conv2d, name: p2, out: 8, k: 3, pad: 1, stride: 2}]
            merge: concat
            name: cat
        """,
        5,
        "cat",
        ("concat inputs have mismatched shapes", "8×32×32", "8×16×16"),
        id="concat-mismatch",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - parallel:
              - [{op: conv2d, name: p1, out: 8, k: 3, pad: 1}]
              - [{op: conv2d, name: p2, out: 16, k: 3, pad: 1}]
            merge: add
            name: sum
        """,
        5,
        "sum",
        ("add inputs have mismatched shapes", "8×32×32", "16×32×32"),
        id="add-mismatch",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - parallel:
              - [{op: relu, name: p1}]
              - [{op: relu, name: p2}]
            merge: sum
            name: s
        """,
        5,
        "s",
        ("merge: concat or add or mul",),
        id="parallel-unknown-merge",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - op: conv2d
            name: c1
            out: 8
            k: 3
            groups: 2
        """,
        5,
        "c1",
        ("groups 2 does not divide the 3 input channels",),
        id="groups-do-not-divide",
    ),
    pytest.param(
        """\
        name: tiny
        symbols:
          alpha: {default: 1.0, domain: "> 0"}
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - op: conv2d
            name: c1
            out: 8*beta
            k: 3
        """,
        9,
        "c1",
        ("unknown name 'beta'",),
        id="unknown-symbol",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - op: conv2d
            name: c1
            out: 8.5
            k: 3
        """,
        7,
        "c1",
        ("out = 8.5 is 8.5 here, not a whole number",),
        id="fractional-width",
    ),
    pytest.param(
        """\
        name: tiny
        symbols:
          alpha: {default: 1.0, domain: "> 0"}
          beta: {domain: "> 0"}
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
        """,
        4,
        None,
        ("symbol 'beta' needs a default",),
        id="symbol-missing-default",
    ),
    pytest.param(
        """\
        name: tiny
        symbols:
          alpha: {default: 1.0, domain: "> 0"}
          beta:
            domain: "> 0"
            default: 0
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
        """,
        6,
        None,
        ("default outside its domain", "beta must be > 0, got 0"),
        id="symbol-default-outside-domain",
    ),
    pytest.param(
        """\
        name: tiny
        symbols:
          alpha: {default: 1.0, domain: "positive"}
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
        """,
        3,
        None,
        ("domain part 'positive'",),
        id="symbol-bad-domain",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - {op: relu, name: x, repeat: 0}
        """,
        5,
        None,
        ("repeat must be a whole number from 1 to 1000",),
        id="repeat-zero",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - op: max_pool
            name: p
            k: 64
        """,
        5,
        "p",
        ("input height 32 is too small for the 64-wide max_pool window",),
        id="fixed-input-too-small",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        notes: &loop [*loop]
        layers:
          - {op: relu, name: r}
        """,
        3,
        None,
        ("malformed YAML", "recursive"),
        id="recursive-alias",
    ),
    pytest.param(
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers: []
        """,
        3,
        None,
        ("'layers' must be a non-empty list",),
        id="no-layers",
    ),
]


def _write_spec(directory: Path, text: str, name: str = "bad.yaml") -> Path:
    spec = directory / name
    spec.write_text(textwrap.dedent(text), encoding="utf-8")
    return spec


def _invoke(command: str, spec: str) -> Result:
    if command == "report":
        return run("report", spec, "-o", OUTPUT)
    return run(command, spec)


@pytest.mark.parametrize("command", ["report", "expr", "check"])
@pytest.mark.parametrize(("text", "line", "layer", "fragments"), SPEC_ERRORS)
def test_spec_error(
    workdir: Path, command: str, text: str, line: int, layer: str | None, fragments: tuple[str, ...]
) -> None:
    _write_spec(workdir, text)
    result = _invoke(command, "bad.yaml")
    assert_user_error(result, file="bad.yaml", line=line, layer=layer, contains=fragments)
    assert_no_output_file(workdir)


def test_spec_error_names_the_path_as_given(workdir: Path) -> None:
    (workdir / "sub").mkdir()
    _write_spec(workdir / "sub", "name: tiny\ninput: {channels: 3, size: 32}\nlayer: []\n", "broken.yaml")
    result = run("report", "sub/broken.yaml", "-o", OUTPUT)
    assert_user_error(result, file="sub/broken.yaml", line=3, contains=("unknown top-level key 'layer'",))
    assert_no_output_file(workdir)


def test_spec_not_utf8(workdir: Path) -> None:
    (workdir / "bad.yaml").write_bytes(b"name: tiny\xff\ninput: {channels: 3, size: 32}\n")
    assert_user_error(run("report", "bad.yaml", "-o", OUTPUT), file="bad.yaml", contains=("not UTF-8",))
    assert_no_output_file(workdir)


def test_cycle(workdir: Path) -> None:
    _write_spec(
        workdir,
        """\
        name: tiny
        input: {channels: 3, size: 32}
        layers:
          - {op: relu, name: r}
          - {op: relu, name: a, from: b}
          - {op: relu, name: b, from: a}
        """,
    )
    result = run("report", "bad.yaml", "-o", OUTPUT)
    message = assert_user_error(result, contains=("cycle",))
    # Either layer of the cycle may be named, but the line must be that layer's line.
    match = re.match(r"error: bad\.yaml:(\d+): layer '(\w+)': layers form a cycle: ", message)
    assert match, message
    assert {"a": 5, "b": 6}[match.group(2)] == int(match.group(1)), message
    assert "a -> b" in message or "b -> a" in message
    assert_no_output_file(workdir)


# -- expressions outside the grammar: rejected, and never run -----------------------------------

CONV_WITH_OUT = """\
name: tiny
symbols:
  alpha: {{default: 1.0, domain: "> 0"}}
input: {{channels: 3, size: 32}}
layers:
  - {{op: relu, name: r}}
  - op: conv2d
    name: c1
    out: {expr}
    k: 3
"""  # the expression is on line 9, layer c1

PWNED = "pwned.txt"


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        (f"__import__('os').system('echo hacked > {PWNED}')", "only calls of the functions"),
        (f"__import__('os').system('touch {PWNED}')", "only calls of the functions"),
        ("__import__('os')", "unknown function '__import__'"),
        (f"open('{PWNED}', 'w')", "unknown function 'open'"),
        ("x.__class__", "attribute access is not allowed"),
        ("(8).__class__.__bases__", "attribute access is not allowed"),
        ("__builtins__", "names may not start with '_'"),
        ("2**1000", "powers must have a constant integer exponent"),
        ("alpha**alpha", "powers must have a constant integer exponent"),
        ("10**100000000", "powers must have a constant integer exponent"),
        ("lambda: 1", "lambda is not allowed"),
        ("[8][0]", "indexing is not allowed"),
        ("8 if alpha else 16", "conditional expression is not allowed"),
        ("f'{8}'", "f-string is not allowed"),
        ("'eight'", "is not a number"),
        ("99999999999999999", "too large"),
        ("(x := 8)", "is not allowed"),
        ("floor(x=8)", "positional arguments only"),
        ("max(8)", "max() takes 2 to 8 arguments"),
        ("8 / 0", "division by zero"),
    ],
)
def test_expression_outside_the_grammar(workdir: Path, expr: str, fragment: str) -> None:
    _write_spec(workdir, CONV_WITH_OUT.format(expr=json.dumps(expr)))
    result = run("report", "bad.yaml", "-o", OUTPUT)
    assert_user_error(result, file="bad.yaml", line=9, layer="c1", contains=("out: ", fragment))
    assert_no_output_file(workdir)
    assert not (workdir / PWNED).exists(), "the spec's code ran"


INJECTION = f"__import__('os').system('touch {PWNED}')"


@pytest.mark.parametrize(
    ("text", "line", "layer"),
    [
        pytest.param(
            f"""\
            name: tiny
            input: {{channels: 3, size: "{INJECTION}"}}
            layers:
              - {{op: relu, name: r}}
            """,
            2,
            None,
            id="input-size",
        ),
        pytest.param(
            f"""\
            name: tiny
            symbols:
              alpha: {{default: "{INJECTION}"}}
            input: {{channels: 3, size: 32}}
            layers:
              - {{op: relu, name: r}}
            """,
            3,
            None,
            id="symbol-default",
        ),
        pytest.param(
            f"""\
            name: tiny
            input: {{channels: 3, size: 32}}
            layers:
              - {{op: relu, name: r}}
              - op: relu
                name: x
                repeat: "{INJECTION}"
            """,
            7,
            None,
            id="repeat",
        ),
        pytest.param(
            f"""\
            name: tiny
            input: {{channels: 3, size: 32}}
            blocks:
              cbr:
                params:
                  out: "{INJECTION}"
                body:
                  - {{op: conv2d, name: conv, out: $out, k: 1}}
            layers:
              - {{op: relu, name: r}}
              - {{use: cbr, name: b1}}
            """,
            6,
            None,
            id="block-parameter-default",
        ),
        pytest.param(
            f"""\
            name: tiny
            input: {{channels: 3, size: 32}}
            blocks:
              cbr:
                params: [out]
                body:
                  - {{op: conv2d, name: conv, out: $out, k: 1}}
            layers:
              - {{op: relu, name: r}}
              - use: cbr
                name: b1
                out: "{INJECTION}"
            """,
            12,
            "b1",
            id="block-argument",
        ),
        pytest.param(
            f"""\
            name: tiny
            input: {{channels: 3, size: 32}}
            layers:
              - {{op: relu, name: r}}
              - residual:
                  - {{op: relu, name: inner}}
                when: "{INJECTION}"
                name: res
            """,
            7,
            "res",
            id="residual-when",
        ),
        pytest.param(
            f"""\
            name: tiny
            input: {{channels: 3, size: 32}}
            defaults:
              conv2d: {{k: "{INJECTION}"}}
            layers:
              - {{op: relu, name: r}}
              - {{op: conv2d, name: c1, out: 8}}
            """,
            4,
            "c1",
            id="operator-defaults",
        ),
        pytest.param(
            f"""\
            name: tiny
            input: {{channels: 3, size: 32}}
            layers:
              - {{op: relu, name: r}}
              - op: conv2d
                name: c1
                out: !!python/object/apply:os.system ["touch {PWNED}"]
                k: 3
            """,
            7,
            None,
            id="yaml-python-tag",
        ),
    ],
)
def test_injection_anywhere_is_rejected_and_never_runs(workdir: Path, text: str, line: int, layer: str | None) -> None:
    _write_spec(workdir, text)
    for command in ("report", "expr", "check"):
        result = _invoke(command, "bad.yaml")
        assert_user_error(result, file="bad.yaml", line=line, layer=layer)
    assert_no_output_file(workdir)
    assert not (workdir / PWNED).exists(), "the spec's code ran"


def test_injection_through_the_command_line_never_runs(workdir: Path) -> None:
    for option in (["--set", f"sr={INJECTION}"], ["--classes", INJECTION], ["--res", INJECTION]):
        result = run("report", "squeezenet", *option, "-o", OUTPUT)
        assert_user_error(result, contains=("must be a",))
    assert_no_output_file(workdir)
    assert not (workdir / PWNED).exists(), "the command line's code ran"


# -- bad options ---------------------------------------------------------------------------------

SQUEEZENET = SPECS / "squeezenet1_0.yaml"
ALEXNET = SPECS / "alexnet.yaml"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["mobilenet", "--alpha", "0"], ("alpha must be > 0, got 0",)),
        (["mobilenet", "--alpha", "-1"], ("alpha must be > 0, got -1",)),
        (["mobilenet", "--alpha", "abc"], ("alpha must be a number",)),
        (["squeezenet", "--set", "sr=2"], ("sr must be <= 1, got 2",)),
        (["squeezenet", "--set", "sr=0"], ("sr must be > 0, got 0",)),
        (["squeezenet", "--set", "pct3x3=1"], ("pct3x3 must be < 1",)),
        (["squeezenet", "--set", "freq=1.5"], ("freq must be an integer",)),
        (["squeezenet", "--classes", "0"], ("num_classes must be >= 1, got 0",)),
        (["squeezenet", "--classes", "2.5"], ("num_classes must be an integer, got 2.5",)),
        (["squeezenet", "--classes", "ten"], ("num_classes must be a number",)),
        (["squeezenet", "--set", "sr"], ("--set takes name=value", "'sr'")),
        (["squeezenet", "--set", "=0.25"], ("--set takes name=value",)),
        (["squeezenet", "--set", "sr="], ("--set takes name=value",)),
        (["squeezenet", "--set", "srr=0.25"], ("no symbol 'srr'", "(did you mean 'sr'?)")),
        (["squeezenet", "--set", "foo=1"], ("squeezenet1_0 has no symbol 'foo'",)),
        (["squeezenet", "--alpha", "0.5"], ("squeezenet1_0 has no symbol 'alpha'",)),
        (["mobilnet"], ("unknown model 'mobilnet'", "(did you mean 'mobilenet'?)")),
        (["squeezenet1_2"], ("unknown model 'squeezenet1_2'", "did you mean")),
        (["mobilenet", "--res", "abc"], ("resolution must be a whole number", "'abc'")),
        (["mobilenet", "--res", "191.5"], ("resolution must be a positive whole number",)),
        (["mobilenet", "--res", "0"], ("resolution must be a positive whole number",)),
        (["mobilenet", "--rho", "0"], ("rho must be > 0",)),
        (["mobilenet", "--rho", "0.001"], ("smaller than one pixel",)),
        (["mobilenet", "--res", "192", "--rho", "1"], ("either a resolution or rho",)),
        (["does_not_exist.yaml"], ("no such spec file: does_not_exist.yaml",)),
        (["no/such/dir/spec.yaml"], ("no such spec file",)),
    ],
)
def test_bad_option(workdir: Path, args: list[str], fragments: tuple[str, ...]) -> None:
    result = run("report", *args, "-o", OUTPUT)
    message = assert_user_error(result, contains=fragments)
    assert not re.match(r"error: \S+:\d+: ", message), "an option error has no file and line"
    assert_no_output_file(workdir)


@pytest.mark.parametrize(
    "args",
    [
        ["mobilenet", "--alpha", "0"],
        ["squeezenet", "--set", "sr=2"],
        ["squeezenet", "--classes", "0"],
        ["squeezenet", "--set", "nope=1"],
        ["mobilnet"],
    ],
)
def test_bad_option_in_expr(args: list[str]) -> None:
    assert_user_error(run("expr", *args), contains=())


def test_unknown_model_in_check() -> None:
    assert_user_error(run("check", "mobilnet"), contains=("unknown model 'mobilnet'",))


def test_unwritable_output(workdir: Path) -> None:
    result = run("report", "mobilenet", "-o", "missing_dir/out.json")
    assert_user_error(result, contains=("cannot write missing_dir/out.json",))
    assert not (workdir / "missing_dir").exists()


@pytest.mark.parametrize(
    ("model", "resolution", "spec", "layer", "minimum"),
    [
        ("squeezenet", 20, SQUEEZENET, "pool8", 21),
        ("squeezenet1_0", 1, SQUEEZENET, "conv1", 21),
        ("alexnet", 62, ALEXNET, "pool5", 63),
    ],
)
def test_resolution_below_minimum(
    workdir: Path, model: str, resolution: int, spec: Path, layer: str, minimum: int
) -> None:
    result = run("report", model, "--res", str(resolution), "-o", OUTPUT)
    assert_user_error(
        result,
        file=f"specs/{spec.name}",
        line=line_of(spec, f"name: {layer},"),
        layer=layer,
        contains=(f"resolution {resolution} is below the minimum {minimum}",),
    )
    assert_no_output_file(workdir)
    # The minimum itself works.
    assert run("report", model, "--res", str(minimum)).exit_code == 0


def test_rho_below_minimum_names_the_resolution() -> None:
    # rho = 0.09 gives round(0.09 * 224) = 20 pixels.
    result = run("report", "squeezenet", "--rho", "0.09")
    assert_user_error(
        result,
        file="specs/squeezenet1_0.yaml",
        line=line_of(SQUEEZENET, "name: pool8,"),
        layer="pool8",
        contains=("resolution 20 is below the minimum 21",),
    )


# -- corners that once failed ---------------------------------------------------------------------


@pytest.mark.parametrize(("model", "resolution", "layer"), [("squeezenet", 20, "pool8"), ("alexnet", 62, "pool5")])
def test_expr_resolution_below_minimum(model: str, resolution: int, layer: str) -> None:
    assert_user_error(run("expr", model, "--res", str(resolution)), layer=layer, contains=("below the minimum",))


def test_nested_powers_are_bounded(workdir: Path) -> None:
    _write_spec(workdir, CONV_WITH_OUT.format(expr=json.dumps("(((((2**8)**8)**8)**8)**8)**8")))
    assert_user_error(
        run("report", "bad.yaml", "-o", OUTPUT), file="bad.yaml", line=9, layer="c1", contains=("too large",)
    )
    assert_no_output_file(workdir)


HUGE = "*".join(["999999999999"] * 30)  # 10**360, though no single literal is over the 1e12 limit


@pytest.mark.parametrize("fmt", ["table", "md", "html"])
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["mobilenet", "--alpha", "1e150"], id="alpha-1e150"),
        pytest.param(["mobilenet", "--rho", "1e300"], id="rho-1e300"),
        pytest.param(["bad.yaml"], id="spec-width-1e360"),
    ],
)
def test_huge_counts_never_crash_the_renderer(workdir: Path, args: list[str], fmt: str) -> None:
    _write_spec(workdir, CONV_WITH_OUT.format(expr=json.dumps(HUGE)))
    result = run("report", *args, "--format", fmt, "-o", OUTPUT)
    # Exact integers can be printed (exit 0) or refused as a user error (exit 2); never a crash.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert_user_error(result)
        assert_no_output_file(workdir)


def test_huge_counts_in_json_are_exact(workdir: Path) -> None:
    _write_spec(workdir, CONV_WITH_OUT.format(expr=json.dumps(HUGE)))
    result = run("report", "bad.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    width = 999999999999**30
    assert data["layers"][-1]["output_shape"][0] == width
    assert data["params"] == width * (3 * 3 * 3 + 1)


def test_control_character_is_one_line_with_a_line_number(workdir: Path) -> None:
    spec = workdir / "bad.yaml"
    spec.write_text("name: tiny\ninput: {channels: 3, size: 32}\nlayers:\n  - {op: relu, name: r\x1f}\n")
    assert_user_error(run("report", "bad.yaml", "-o", OUTPUT), file="bad.yaml", line=4, contains=("malformed YAML",))
    assert_no_output_file(workdir)


def test_no_valid_resolution_message(workdir: Path) -> None:
    _write_spec(
        workdir,
        """\
        name: tiny
        symbols:
          rho: {default: 1.0, domain: "> 0"}
        input: {channels: 3, size: 32*rho}
        layers:
          - {op: max_pool, name: p, k: 100000}
        """,
    )
    message = assert_user_error(run("report", "bad.yaml"), file="bad.yaml", line=6, layer="p")
    assert "None" not in message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(
            """\
            name: tiny
            input: {channels: 3, size: 32}
            layers:
              - {op: relu, name: r}
              - relu
            """,
            5,
            id="scalar-layer",
        ),
        pytest.param(
            """\
            name: tiny
            input: {channels: 3, size: 32}
            layers:
              - {op: relu, name: r}
              - parallel:
                  - relu
                  - [{op: relu, name: x}]
                merge: add
            """,
            6,
            id="scalar-branch",
        ),
    ],
)
def test_scalar_layer_has_a_line(workdir: Path, text: str, line: int) -> None:
    _write_spec(workdir, text)
    assert_user_error(run("report", "bad.yaml"), file="bad.yaml", line=line)


@pytest.mark.parametrize(
    ("text", "line", "layer"),
    [
        pytest.param(
            """\
            name: tiny
            input: {channels: 3, size: 32}
            layers:
              - {op: relu, name: r}
              - op: conv2d
                name: c1
                out: 0
                k: 3
            """,
            7,
            "c1",
            id="out-zero",
        ),
        pytest.param(
            """\
            name: tiny
            input: {channels: 3, size: 32}
            layers:
              - {op: relu, name: r}
              - op: relu
                name: a
                from: rr
            """,
            7,
            "a",
            id="from-unknown",
        ),
    ],
)
def test_attribute_error_points_at_the_attribute(workdir: Path, text: str, line: int, layer: str) -> None:
    _write_spec(workdir, text)
    assert_user_error(run("report", "bad.yaml"), file="bad.yaml", line=line, layer=layer)


# -- fuzzing: mutated built-in specs either load or fail with a SpecError ------------------------

SEEDS = [(SPECS / name).read_text(encoding="utf-8") for name in ("mobilenet_v1.yaml", "squeezenet1_0.yaml")]
TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d+)?|[^\sA-Za-z0-9]")
JUNK = [
    "",
    "0",
    "-1",
    "1e9",
    "99999999999",
    "0.0001",
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "'",
    '"',
    "#",
    "&a",
    "*a",
    "!!python/object/apply:os.system ['true']",
    "\t",
    "null",
    "true",
    "in",
    "$out",
    "$nope",
    "alpha",
    "fixed(3)",
    "floor(",
    "1/0",
    "**",
    "concat",
    "add",
    "from: conv1",
    "repeat: 3",
    "__import__('os')",
]
_counter = itertools.count()


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "move", "replace", "replace", "truncate"]))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "move":
            lines.insert(draw(st.integers(0, len(lines))), lines.pop(i))
        elif kind == "replace":
            tokens = list(TOKEN.finditer(lines[i]))
            if tokens:
                token = draw(st.sampled_from(tokens))
                new = draw(
                    st.one_of(
                        st.sampled_from(JUNK),
                        st.integers(-3, 5000).map(str),
                        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6),
                    )
                )
                lines[i] = lines[i][: token.start()] + new + lines[i][token.end() :]
        else:
            text = text[: draw(st.integers(0, len(text)))]
            continue
        text = "\n".join(lines)
    return text


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_specs())
def test_fuzz_load_model(fuzz_dir: Path, text: str) -> None:
    note(text)
    spec = fuzz_dir / f"mutant_{next(_counter)}.yaml"  # load_model caches by path: a fresh name each time
    spec.write_text(text, encoding="utf-8")
    try:
        model = load_model(spec)
        costs = model.costs()
    except SpecError as err:
        assert str(err).strip(), "an empty error message"
        assert "\n" not in str(err), str(err)
        assert err.file == str(spec), (err.file, str(err))
    else:
        assert costs.params >= 0 and costs.macs >= 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_specs(), fmt=st.sampled_from(["table", "json"]), command=st.sampled_from(["report", "check"]))
def test_fuzz_cli(fuzz_dir: Path, text: str, fmt: str, command: str) -> None:
    note(text)
    spec = fuzz_dir / f"cli_mutant_{next(_counter)}.yaml"
    spec.write_text(text, encoding="utf-8")
    args = ["report", str(spec), "--format", fmt] if command == "report" else ["check", str(spec)]
    result = run(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    if command == "check":
        assert result.exit_code in (0, 1, 2), result.output
    else:
        assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("error: "), result.stderr
