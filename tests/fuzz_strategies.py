"""Hypothesis strategies for fuzzing costmodel: hostile specs, command lines, arrays and ONNX files.

Every strategy draws a :class:`Case`: the command line (after ``costmodel``), the files to lay out in a
fresh directory before running it, and the output file the command may leave behind when it succeeds.
A case is plain data (JSON with base64 for the file bytes), so that a failing case can be saved and
replayed by ``tests/fuzz_runner.py`` or ``benchmarks/fuzz.py --replay``.

- ``spec_cases``: a built-in spec read as plain data (``yaml.safe_load``), mutated (keys dropped,
  renamed, retyped; values out of range; blocks nested deep or using themselves; huge repeats;
  mismatched parallel branches; bad ``from:``), written back as YAML; or hostile YAML text (aliases
  billion-laughs style, recursive anchors, deep nesting, tags, bad bytes, a sparse 65 MiB file).
- ``cli_cases``: a command with hostile option values (``--alpha 1e5000``, ``--res 100000``, ...).
- ``array_cases``: ``run`` with .npy/.npz inputs and weights of odd dtypes, zero dimensions, truncated
  bytes, headers lying about their size, zip bombs (small files that declare a huge size).
- ``onnx_cases``: small ONNX files built with ``onnx.helper`` and broken (raw_data of the wrong
  length, STRING or unknown data types, dims without data, unknown ops, cycles, bad attributes).

Each generated file is small (at most a few hundred KiB); the hostility is in what the files declare.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import struct
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
ONNX_FIXTURES = sorted((ROOT / "tests" / "data").glob("*.onnx"))
BUILTINS = [
    "alexnet",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "squeezenet1_0",
    "squeezenet1_1",
    "mobilenet",
    "squeezenet",
]
SMALL_BUILTINS = ["squeezenet1_1", "mobilenet_v1", "mobilenet_v3_small", "squeezenet1_0"]

# Every command that takes a MODEL, and the ones that only work on the built-ins or none at all.
MODEL_COMMANDS = [
    "report",
    "expr",
    "verify",
    "export",
    "check",
    "table",
    "sweep",
    "compare",
    "whatif",
    "sensitivity",
    "solve",
    "run",
    "explain",
]
OTHER_COMMANDS = ["pick", "layer", "list"]
COMMANDS = [*MODEL_COMMANDS, *OTHER_COMMANDS, "api"]
# Exit 1 means "a mismatch was found" for these two; for every other command it is a wrong exit code.
MISMATCH_COMMANDS = {"check", "verify", "explain"}  # explain: no convention prints that number

# A small spec of every common layer kind: cheap to run, and small enough weights to fuzz (3,000 of them).
TINY_SPEC = """\
name: tiny
symbols:
  alpha: {default: 1.0, domain: "> 0"}
  rho: {default: 1.0, domain: "> 0"}
  num_classes: {default: 10, domain: "integer >= 1"}
input: {channels: 3, size: 32*rho}
width: {rule: make_divisible8, multiplier: alpha}
blocks:
  cbr:
    params: {out: , k: 3, stride: 1}
    body:
      - {op: conv2d, name: conv, out: $out, k: $k, stride: $stride, pad: ($k - 1) // 2, bias: false}
      - {op: batchnorm, name: bn}
      - {op: relu, name: relu}
layers:
  - {use: cbr, name: stem, out: 8, stride: 2}
  - {use: cbr, name: b1, out: 16}
  - parallel:
      - [{op: conv2d, name: e1, out: 8, k: 1}]
      - [{op: conv2d, name: e3, out: 8, k: 3, pad: 1}]
    merge: concat
    name: cat
  - {op: max_pool, name: pool, k: 2}
  - {op: global_avg_pool, name: gap}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: fixed(num_classes)}
"""

SPARSE = "sparse:"  # a file given as "sparse:N" is created as N bytes of zeros without writing them
GENERATED = "spec-layers:"  # "spec-layers:N": a spec of N relu layers, written when the case is laid out


def generated_spec(layers: int) -> str:
    """A spec of ``layers`` relu layers in one flow list (12 MB for a million): too big to keep in a case."""
    return "name: tiny\ninput: {channels: 3, size: 32}\nlayers: [" + ", ".join(["{op: relu}"] * layers) + "]\n"


@dataclass
class Case:
    """One fuzz case: ``costmodel ARGS`` run in a fresh directory holding ``files``.

    ``files`` maps a relative name to bytes, or to a special: ``"sparse:N"`` (a sparse file of N zero
    bytes), ``"spec-layers:N"`` (a spec of N relu layers), ``"fifo"``, ``"dir"``, ``"symlink:TARGET"``.
    ``output`` is the file the command writes on success (allowed to remain after exit 0, never after a
    failure); ``extra_outputs`` are glob patterns
    of other files a success may leave (the Markdown report's charts). With ``output_exists`` the output
    file is laid out beforehand with known bytes, which a failure must leave untouched.
    For ``command == "api"`` the case is not a command line: ``args`` is ``[PATH, variant-or-""]`` and
    the runner calls ``load_model`` and ``model.costs`` in the process.
    """

    kind: str
    command: str
    args: list[str]
    files: dict[str, bytes | str] = field(default_factory=dict)
    output: str | None = None
    extra_outputs: list[str] = field(default_factory=list)
    output_exists: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = {
            name: ({"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else {"special": v})
            for name, v in self.files.items()
        }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        data = dict(data)
        data["files"] = {
            name: (base64.b64decode(v["b64"]) if "b64" in v else v["special"]) for name, v in data["files"].items()
        }
        return cls(**data)

    def shell(self) -> str:
        """The command line as a user would type it (files described, not shown)."""
        import shlex

        if self.command == "api":
            return f"python -c 'from costmodel.loading import load_model; load_model({self.args[0]!r}).costs()'"
        return "costmodel " + " ".join(shlex.quote(a) for a in self.args)


# -- hostile values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A YAML scalar written exactly as ``text`` (a number too large for Python to print, a tag)."""

    text: str


HUGE_DIGITS = "1" + "0" * 5000  # 10**5000 written out (Python refuses int() of it by default: 4300 digits)
NUMBER_TEXTS = [
    "0",
    "-1",
    "-0",
    "1e5000",
    "1e99999999",
    "1e-99999999",
    "-1e5000",
    "1e400",
    "1e-400",
    "100000",
    "1000000000",
    "1e12",
    "1000000000001",
    "9" * 40,
    HUGE_DIGITS,
    "0." + "0" * 60 + "1",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "0x10",
    "0b11",
    "1_000",
    "\u0661",  # Arabic-Indic digit one
    "\u0660.\u0665",
    "\uff11\uff12\uff18",  # full-width 128
    "\u00b2",
    "1/3",
    "3/0",
    "0/0",
    "1//0",
    "",
    " ",
    "abc",
    "alpha",
    "16 > 8",
    "in_channels > 16",
    "2**100",
    "1e-7",
    "1e-101",
    "1e101",
    "+0.5",
    ".5",
    "1.",
    "0.1e1",
    "0.5\n",
    "1\x00",
    "1\x1b[31m",
    "0.75",
    "1",
    "224",
    "17",
    "3",
    "0.001",
    "1e-3",
    "-0.5",
    "1e3",
    "(1)",
    "1 2",
    "--1",
    "True",
]
number_text = st.one_of(
    st.sampled_from(NUMBER_TEXTS),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
    st.floats().map(repr),
    st.text(alphabet="0123456789.e-+_/", min_size=1, max_size=12),
)
ENCODED_RAW = "\x00RAW{}\x00"  # placeholder for a YAML scalar written as raw text (see dump_spec)

RAW_SCALARS = [
    HUGE_DIGITS,
    "-" + HUGE_DIGITS,
    "1.0e+400",
    "-1.0e+400",
    "1e400",
    ".inf",
    "-.inf",
    ".nan",
    "0x7fffffffffffffff",
    "0o17",
    "0b101",
    "1_000_000",
    "190:20:30",  # YAML 1.1 sexagesimal
    "~",
    "null",
    "yes",
    "off",
    "2001-12-14",  # a date object
    "2001-12-14 21:59:43.10 -5",  # a datetime
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!float 1e5000",
    "!!int 0x_",
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!!str",
    "!!null ''",
    "!!map {}",
    "!!seq []",
    "!!timestamp 2001-12-14",
    "!custom 3",
    "1.0e+12",
    "1.0e+13",
    "4.2e+6",
    "0.0",
    "-0.0",
    "123456789012345678901234567890.5",
]


def deep_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def deep_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


plain_value = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            1,
            2,
            3,
            8,
            1000,
            10**12,
            10**12 + 1,
            2**63,
            2**64,
            -(2**63),
            10**20,
            0.5,
            -0.5,
            1e-300,
            1e300,
            float("inf"),
            float("nan"),
            True,
            False,
            None,
            "",
            "in",
            "same",
            "valid",
            "$out",
            "$nosuch",
            "$",
            "$$out",
            "alpha",
            "num_classes",
            "rho",
            "in_channels",
            "in_channels > 16",
            "16 > 8",
            "alpha**9",
            "alpha**-9",
            "2**8",
            "2**64",
            "alpha**alpha",
            "floor(",
            "floor()",
            "floor(1, 2)",
            "__import__('os').system('true')",
            "alpha.real",
            "[1, 2][0]",
            "lambda: 1",
            "1 if alpha else 2",
            "width(16)",
            "width",
            "fixed",
            "fixed(in)",
            "fixed(fixed(8))",
            "width(width(width(16)))",
            "make_divisible(0, 0)",
            "make_divisible(16, -8)",
            "make_divisible(16*alpha, 0.5)",
            "make_divisible(1e12, 1)",
            "max(1)",
            "min(1,2,3,4,5,6,7,8,9)",
            "1/0",
            "1//0",
            "5 % 0",
            "alpha/0",
            "0**-1",
            "floor(alpha*1e12)",
            "ceil(-alpha)",
            "not alpha",
            "alpha == alpha",
            "0 < alpha < 1",
            "1e12 * 1e12",
            "999999999999 * 999999999999 * 999999999999",
            "-" * 399 + "1",
            "(" * 150 + "1" + ")" * 150,
            "not " * 90 + "1 == 1",
            "1+" * 199 + "1",
            "x" * 401,
            "a\nb",
            "\x00",
            "\x1b[31mred",
            "\u202e",
            "\u0661\u0662",
            "\uff18",
            "é",
            "'quoted'",
            '"',
            "{a: 1}",
            "[1, 2]",
            "*alias",
            "&anchor",
            "%",
            "@",
            "`",
            "conv2d",
            "max_pool",
            "concat",
            "add",
            "mul",
            "nosuch_op",
            "integer",
            "integer >= 1",
            "> 0, <= 1",
            "> 1e400",
            ">= 0x10",
            "< -1, > 1",
            "floor_min8",
            "make_divisible8",
            "nosuch_rule",
            "torchvision",
            "nosuch_preset",
        ]
    ),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(min_value=-3, max_value=300), max_size=4),
    st.dictionaries(st.sampled_from(["a", "out", "k", "op", "use", "name", "default"]), st.integers(), max_size=3),
    st.integers(min_value=20, max_value=300).map(deep_list),
    st.integers(min_value=20, max_value=300).map(deep_dict),
    st.sampled_from(range(len(RAW_SCALARS))).map(lambda i: Raw(RAW_SCALARS[i])),
)


# -- specs -----------------------------------------------------------------------------------------------


@cache
def spec_data(path: str) -> Any:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def dump_spec(data: Any) -> bytes:
    """YAML text of ``data``, with each :class:`Raw` written as its raw text."""
    raws: list[str] = []

    def encode(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"RAWSCALAR{len(raws) - 1}X"
        if isinstance(value, dict):
            return {(encode(k) if isinstance(k, Raw) else k): encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's: ten times faster
    try:
        text = yaml.dump(encode(data), Dumper=dumper, sort_keys=False, allow_unicode=True, width=4096)
    except (ValueError, RecursionError, yaml.YAMLError):  # an int of more than 4300 digits, or deep data
        text = json.dumps(encode(data), ensure_ascii=False, default=str)
    for i, raw in enumerate(raws):
        text = text.replace(f"RAWSCALAR{i}X", raw)
    return text.encode("utf-8", errors="surrogatepass")


def _paths(data: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``data`` (dict keys and list indices), the root excluded."""
    found: list[tuple[Any, ...]] = []
    if depth > 12:
        return found
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key), depth + 1))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.append((*prefix, index))
            found.extend(_paths(value, (*prefix, index), depth + 1))
    return found


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


KEY_RENAMES = ["", "Name", "layer", "blocks_", "in", "$out", "op ", "\u0430lpha", "x" * 100, "__class__", "1", "null"]


def _rename(key: Any, choice: int) -> Any:
    if isinstance(key, str) and key:
        variants = [key.upper(), key[:-1], key + "s", key + "_", " " + key, key.replace("_", "-")]
        options = variants + KEY_RENAMES
    else:
        options = [*KEY_RENAMES, 0, 1.5, True]
    return options[choice % len(options)]


MUTATIONS = [
    "drop",
    "rename",
    "retype",
    "retype",
    "retype",
    "duplicate",
    "swap",
    "nest_blocks",
    "recursive_block",
    "mutual_recursion",
    "huge_repeat",
    "parallel_mismatch",
    "residual_mismatch",
    "bad_from",
    "bad_symbol",
    "huge_input",
    "many_layers",
    "bad_variant",
    "bad_reference",
]


def _layers(data: dict[str, Any]) -> list[Any]:
    layers = data.get("layers")
    if not isinstance(layers, list):
        layers = []
        data["layers"] = layers
    return layers


@st.composite
def mutated_spec(draw: st.DrawFn) -> tuple[bytes, str]:
    """A built-in spec with 1 to 3 mutations, as YAML bytes, and a note of what was done."""
    path = draw(st.sampled_from(["tiny", *SPECS]))
    data = copy.deepcopy(yaml.safe_load(TINY_SPEC) if path == "tiny" else spec_data(str(path)))
    notes = [getattr(path, "name", path)]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(MUTATIONS))
        if not isinstance(data, dict):
            break
        try:
            notes.append(_mutate(draw, data, kind))
        except Exception:  # a mutation that does not fit what earlier ones left: skip it
            notes.append(f"{kind} (skipped)")
    return dump_spec(data), "; ".join(notes)


def _mutate(draw: st.DrawFn, data: dict[str, Any], kind: str) -> str:
    paths = _paths(data)
    if kind in ("drop", "rename", "retype", "duplicate", "swap") and paths:
        target = draw(st.sampled_from(paths))
        parent = _get(data, target[:-1])
        key = target[-1]
        if kind == "drop":
            del parent[key]
            return f"drop {target}"
        if kind == "rename" and isinstance(parent, dict):
            new = _rename(key, draw(st.integers(min_value=0, max_value=50)))
            items = list(parent.items())
            parent.clear()
            for k, v in items:
                parent[new if k == key else k] = v
            return f"rename {target} -> {new!r}"
        if kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
            return f"duplicate {target}"
        if kind == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(min_value=0, max_value=len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
            return f"swap {target} with {other}"
        value = draw(plain_value)
        parent[key] = value
        return f"retype {target} = {value if isinstance(value, Raw) else repr(value)[:60]}"
    layers = _layers(data)
    blocks = data.get("blocks")
    if not isinstance(blocks, dict):
        blocks = {}
        data["blocks"] = blocks
    if kind == "nest_blocks":
        depth = draw(st.sampled_from([2, 15, 16, 17, 40, 200]))
        blocks["nest0"] = {"body": [{"op": "relu"}]}
        for i in range(1, depth + 1):
            blocks[f"nest{i}"] = {"body": [{"use": f"nest{i - 1}"}]}
        layers.insert(draw(st.integers(0, len(layers))), {"use": f"nest{depth}"})
        return f"nest blocks {depth} deep"
    if kind == "recursive_block":
        blocks["selfish"] = {"params": {"n": 1}, "body": [{"op": "relu"}, {"use": "selfish", "n": "$n + 1"}]}
        layers.insert(draw(st.integers(0, len(layers))), {"use": "selfish"})
        return "a block that uses itself"
    if kind == "mutual_recursion":
        blocks["ping"] = {"body": [{"use": "pong"}]}
        blocks["pong"] = {"body": [{"parallel": [[{"use": "ping"}], []], "merge": "add"}]}
        layers.insert(draw(st.integers(0, len(layers))), {"use": "ping"})
        return "two blocks using each other"
    if kind == "huge_repeat":
        count = draw(st.sampled_from([10**9, 1000, 1001, 0, -1, "10**9", Raw(HUGE_DIGITS), "alpha", 2.5, "1e3"]))
        inner = draw(st.sampled_from([1, 1000, 30]))
        blocks["rep"] = {"body": [{"op": "relu", "repeat": inner}]}
        entry = draw(st.sampled_from([{"use": "rep", "repeat": count}, {"op": "relu", "repeat": count}]))
        layers.insert(draw(st.integers(0, len(layers))), entry)
        return f"repeat {count} (inner {inner})"
    if kind == "parallel_mismatch":
        merge = draw(st.sampled_from(["concat", "add", "mul", "bogus", None, 3]))
        branches = draw(
            st.sampled_from(
                [
                    [[{"op": "conv2d", "out": 8, "k": 3, "stride": 2}], []],
                    [[{"op": "conv2d", "out": 8, "k": 1}], [{"op": "conv2d", "out": 16, "k": 1}]],
                    [[], [], []],
                    [[]],
                    [],
                    [[{"op": "flatten"}], []],
                    [[{"op": "global_avg_pool"}], [{"op": "max_pool", "k": 2}]],
                    [[] for _ in range(65)],
                    "notalist",
                    [{"op": "relu"}, {"op": "relu"}],
                    [[{"op": "linear", "out": 10}], [{"op": "linear", "out": 10}]],
                ]
            )
        )
        entry: dict[str, Any] = {"parallel": branches}
        if merge is not None:
            entry["merge"] = merge
        layers.insert(draw(st.integers(0, len(layers))), entry)
        return f"parallel {merge} of {str(branches)[:80]}"
    if kind == "residual_mismatch":
        body = draw(
            st.sampled_from(
                [
                    [{"op": "conv2d", "out": "in", "k": 3, "stride": 2, "pad": 1}],
                    [{"op": "flatten"}],
                    [],
                    [{"op": "linear", "out": 7}],
                    [{"residual": [{"residual": [{"op": "relu"}]}]}],
                ]
            )
        )
        entry = {"residual": body}
        if draw(st.booleans()):
            entry["when"] = draw(
                st.sampled_from(["1", 1, "true", "in_channels == in_channels", "$s == 1", "alpha > 0"])
            )
        layers.insert(draw(st.integers(0, len(layers))), entry)
        return f"residual {str(entry)[:80]}"
    if kind == "bad_from":
        names = [e.get("name") for e in layers if isinstance(e, dict) and e.get("name")]
        source = draw(st.sampled_from([*names[-3:], "input", "nosuch", "self_ref", "", "a.b.c", ["input"] * 70]))
        entry = {"op": draw(st.sampled_from(["add", "concat", "relu", "mul"])), "name": "self_ref", "from": source}
        layers.insert(draw(st.integers(0, len(layers))), entry)
        return f"from {str(source)[:40]}"
    if kind == "bad_symbol":
        symbols = data.get("symbols")
        if not isinstance(symbols, dict):
            symbols = {}
            data["symbols"] = symbols
        name = draw(st.sampled_from(["alpha", "rho", "num_classes", "lambda", "in", "width", "new_sym", "_x", "é"]))
        symbols[name] = {
            "default": draw(plain_value),
            "domain": draw(st.sampled_from(["> 0", "integer", "integer >= 1", "> 1e400", "< 0", "bogus", 5])),
        }
        return f"symbol {name} = {str(symbols[name])[:80]}"
    if kind == "huge_input":
        data["input"] = {
            "channels": draw(st.sampled_from([3, 0, -3, 10**12, "10**12", "alpha", "in_channels", 3.5, Raw("1e400")])),
            "size": draw(
                st.sampled_from(["224*rho", "100000*rho", 10**12, 10**6, 1, 0, "rho", "224*alpha", Raw(HUGE_DIGITS)])
            ),
        }
        return f"input {data['input']}"
    if kind == "many_layers":
        count = draw(st.sampled_from([5000, 20001]))
        layers.extend({"op": "relu"} for _ in range(count))
        return f"{count} more relu layers"
    if kind == "bad_variant":
        variants = data.get("variants")
        if not isinstance(variants, dict):
            variants = {}
            data["variants"] = variants
        variants["fuzz"] = draw(
            st.sampled_from(
                [
                    {"layers": []},
                    {"name": "other"},
                    {"variants": {"x": {}}},
                    {"blocks": {"nosuch": {"params": {"x": 1}}}},
                    {"input": {"size": "1e400"}},
                    "notamapping",
                    {"width": {"rule": "bogus"}},
                    {"symbols": {"alpha": {"default": -1}}},
                ]
            )
        )
        return f"variant fuzz = {str(variants['fuzz'])[:80]}"
    # bad_reference
    refs = data.get("reference")
    if not isinstance(refs, list):
        refs = []
        data["reference"] = refs
    refs.append(
        draw(
            st.sampled_from(
                [
                    {"macs": "1e400M"},
                    {"params": Raw(HUGE_DIGITS)},
                    {"macs": "4.2X"},
                    {"point": {"alpha": 1e400}},
                    {"point": {"resolution": 10**9}},
                    {"variant": "nosuch", "macs": 1},
                    {"counting": "bogus", "params": 1},
                    {"params_by_layer": {"nosuch": 1}},
                    {"share": {"conv3x3": {"macs": "x%"}}},
                    {"disagreement": "d", "explained_by": {"architecture": {"macs": "1e5000"}}},
                    {"min_resolution": -5},
                    {"exclude": ["fc", 3, None]},
                ]
            )
        )
    )
    return f"reference {str(refs[-1])[:80]}"


def billion_laughs(levels: int, width: int) -> str:
    lines = ["lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        items = ", ".join(f"*l{i - 1}" for _ in range(width))
        lines.append(f"lol{i}: &l{i} [{items}]")
    return "\n".join(lines)


SPEC_HEAD = "name: tiny\ninput: {channels: 3, size: 32}\n"


@cache
def raw_spec_texts() -> st.SearchStrategy[tuple[bytes | str, str]]:
    texts: list[tuple[bytes | str, str]] = [
        (SPEC_HEAD + "layers:\n  - {op: relu}\n" + billion_laughs(9, 10) + "\n", "billion laughs (1e9 nodes)"),
        (SPEC_HEAD + billion_laughs(9, 10).replace("lol8:", "layers:") + "\n", "billion laughs as layers"),
        (
            SPEC_HEAD + "description: " + "&d [" + ", ".join(["*d"] * 3) + "]\nlayers: [{op: relu}]\n",
            "alias to undefined",
        ),
        (SPEC_HEAD + "layers: &l [{op: relu}, *l]\n", "recursive alias in layers"),
        (SPEC_HEAD + "blocks: &b {x: {body: *b}}\nlayers: [{use: x}]\n", "recursive alias in blocks"),
        (SPEC_HEAD + "layers: &l\n  - {op: relu, name: r}\n  - {parallel: [*l, *l], merge: add}\n", "alias parallel"),
        (SPEC_HEAD + "layers: " + "[" * 10000 + "]" * 10000 + "\n", "10,000 nested lists"),
        (SPEC_HEAD + "layers: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "3,000 nested mappings"),
        (SPEC_HEAD + "layers:\n" + "".join("  " * i + "- \n" for i in range(1, 300)) + "\n", "block nesting"),
        (SPEC_HEAD + "layers: [{op: relu}]\n" + "x: &a 1\n" * 2, "duplicate anchors and keys"),
        (SPEC_HEAD + "layers: [{op: relu}]\n<<: {name: other}\n", "merge key"),
        (SPEC_HEAD + "layers: [{op: relu}]\n---\nname: second\n", "two documents"),
        (SPEC_HEAD + "layers: !!python/object/apply:os.system ['true']\n", "python tag"),
        (SPEC_HEAD + "layers: [{op: relu, name: !!binary aGVsbG8=}]\n", "binary name"),
        (SPEC_HEAD + "layers: [{op: !!set {relu}}]\n", "set op"),
        (SPEC_HEAD + "layers: [{op: conv2d, out: 8, k: 3, stride: 2001-12-14}]\n", "date stride"),
        (b"\xef\xbb\xbf" + SPEC_HEAD.encode() + b"layers: [{op: relu}]\n", "BOM"),
        ("\ufeff".encode("utf-16") + (SPEC_HEAD + "layers: [{op: relu}]\n").encode("utf-16-le"), "UTF-16"),
        (SPEC_HEAD.encode() + b"layers: [{op: relu, name: \xff\xfe}]\n", "invalid UTF-8"),
        (SPEC_HEAD.encode() + b"layers: [{op: relu}]\x00\n", "NUL byte"),
        (SPEC_HEAD + "layers: [{op: relu, name: \x1b[31mred}]\n", "escape sequence"),
        (SPEC_HEAD + "layers:\n\t- {op: relu}\n", "tab"),
        (SPEC_HEAD + "layers: [{op: relu}]\ndescription: " + "x" * 200_000 + "\n", "200 KB line"),
        (SPEC_HEAD + "layers: [" + ", ".join(["{op: relu}"] * 20_001) + "]\n", "20,001 layers"),
        (SPEC_HEAD + "layers:\n" + "  - {op: relu}\n" * 100_000, "100,000 layers (1.5 MB)"),
        (SPEC_HEAD + "layers: [" + ", ".join(["{op: relu}"] * 300_000) + "]\n", "300,000 layers (3.6 MB)"),
        (
            SPEC_HEAD + "layers: [{op: conv2d, out: " + HUGE_DIGITS + ", k: 3}]\n",
            "10**5000 channels",
        ),
        (SPEC_HEAD + "layers: [{op: conv2d, out: 8, k: 1e400}]\n", "k 1e400"),
        (SPEC_HEAD + "layers: [{op: conv2d, out: 8, k: 1.0e+400}]\n", "k 1.0e+400 (float inf)"),
        (SPEC_HEAD + "layers: [{op: conv2d, out: 8, k: .nan}]\n", "k nan"),
        (SPEC_HEAD + "layers: [{op: conv2d, out: '\u0661\u0666', k: 3}]\n", "unicode digits"),
        (SPEC_HEAD + "layers: [{op: adaptive_avg_pool, size: 100000}]\n", "adaptive pool 100000"),
        (SPEC_HEAD + "layers: [{op: adaptive_avg_pool, size: [0, 3]}]\n", "adaptive pool 0"),
        (SPEC_HEAD + "layers: [{op: max_pool, k: 1000000, ceil_mode: true, pad: 500000}]\n", "huge pool"),
        (SPEC_HEAD + "layers: [{op: conv2d, out: 8, k: 3, pad: -5}]\n", "negative pad"),
        (SPEC_HEAD + "layers: [{op: conv2d, out: 8, k: [3, 3, 3]}]\n", "3-D kernel"),
        (SPEC_HEAD + "layers: [{op: conv2d, out: 8, k: 3, groups: 0}]\n", "groups 0"),
        (SPEC_HEAD + "layers: [{op: linear, out: 1000000000000}]\n", "linear 1e12"),
        (
            "name: tiny\ninput: {channels: 1000000000000, size: 1000000000000}\nlayers: [{op: relu}]\n",
            "1e12 x 1e12 x 1e12 input",
        ),
        (SPEC_HEAD + "layers: [{op: dropout, p: 1e400}]\n", "dropout inf"),
        (SPEC_HEAD + "layers: [{op: relu, when: alpha > 0}]\n", "when on an undeclared symbol"),
        ("", "empty"),
        ("\x00" * 100, "NULs"),
        ("[]", "a list"),
        ("name: [", "unclosed"),
        (SPEC_HEAD + "layers: [{op: relu}]\nnotes: " + "&a " + "[*a]" + "\n", "self alias"),
        (SPARSE + str(65 << 20), "65 MiB sparse spec"),
        (GENERATED + "1000000", "1,000,000 layers (12 MB, under the 64 MiB file limit)"),
        (SPARSE + str(1 << 20), "1 MiB of NUL bytes"),
    ]
    return st.sampled_from(texts)


# -- command lines ---------------------------------------------------------------------------------

OUTPUT_NAMES = [
    "out.json",
    "out.md",
    "out.html",
    "out.csv",
    "out.txt",
    "out.tex",
    "out.report",
    "out.onnx",
    "out.npy",
    "out.yaml",
    "",
    ".",
    "..",
    "nodir/out.json",
    "existing_dir",
    "/dev/null",
    "/dev/full",
    "/proc/version",
    "out\n.json",
    "x" * 300 + ".json",
    "-",
]
COUNTINGS = ["torchvision", "keras", "paper", "weights", "folded"]
MACS_CONVENTIONS = ["paper", "ptflops", "ptflops-nofunc", "ptflops-aten", "thop", "fvcore", "torchinfo", "torchprofile"]
SEEN_NUMBERS = [
    "589.0M",
    "0.59 G",
    "1.18 GFLOPs",
    "4.23M params",
    "568,740,352",
    "5.69e8 MACs",
    "700M",
    "0",
    "1e999",
    "1e9999",
    "-5M",
    "1.2.3",
    "abc",
    "",
    "9" * 70,
    "1,2,3",
    "0.0000001 GMac",
    "3 parsecs",
]


def _maybe(draw: st.DrawFn, probability: float = 0.3) -> bool:
    """True with about ``probability``; hypothesis's simplest choice (0) is False, so shrinking drops options."""
    return draw(st.integers(min_value=0, max_value=999)) >= round((1 - probability) * 1000)


def _value(draw: st.DrawFn, good: list[str], hostile: float = 0.5) -> str:
    if _maybe(draw, hostile):
        return draw(number_text)
    return draw(st.sampled_from(good))


def point_args(draw: st.DrawFn, hostile: float) -> list[str]:
    args: list[str] = []
    if _maybe(draw, 0.5):
        args += ["--alpha", _value(draw, ["0.25", "0.5", "0.75", "1", "1.4", "0.35"], hostile)]
    which = draw(st.sampled_from(["res", "rho", "both", "none", "none"]))
    if which in ("res", "both"):
        sides = ["32", "64", "96", "128", "160", "227", "17", "224x160", "64x200", "1x300", "300x1", "96×96", "7x0"]
        args += ["--res", _value(draw, sides, hostile)]
    if which in ("rho", "both"):
        args += ["--rho", _value(draw, ["0.5", "0.714", "1", "0.25"], hostile)]
    if _maybe(draw, 0.25):
        args += ["--classes", _value(draw, ["10", "1", "1000"], hostile)]
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["sr", "pct3x3", "base_e", "alpha", "rho", "num_classes", "nosuch", "", "a\nb"]))
        sep = draw(st.sampled_from(["=", "=", ":", ""]))
        args += ["--set", f"{name}{sep}{_value(draw, ['0.25', '1', '64'], hostile)}"]
    return args


def output_arg(draw: st.DrawFn, names: list[str], hostile: float) -> str:
    if _maybe(draw, hostile * 0.5):
        return draw(st.sampled_from(OUTPUT_NAMES))
    return draw(st.sampled_from(names))


def _common(draw: st.DrawFn, hostile: float, formats: list[str]) -> list[str]:
    args: list[str] = []
    if _maybe(draw, 0.3):
        args += ["--counting", draw(st.sampled_from([*COUNTINGS, "bogus"])) if _maybe(draw, hostile) else "paper"]
    if _maybe(draw, 0.2):
        choices = [*MACS_CONVENTIONS, "all", "bogus"] if _maybe(draw, hostile) else MACS_CONVENTIONS
        args += ["--conventions", draw(st.sampled_from(choices))]
    if _maybe(draw, 0.4):
        args += [
            "--format",
            draw(st.sampled_from([*formats, "bogus", ""]))
            if _maybe(draw, hostile * 0.3)
            else draw(st.sampled_from(formats)),
        ]
    return args


RANGES_ALPHA = ["0.25:1:0.25", "0.5,1", "0.1:1.4:0.01", "1", "0.35,0.5,0.75,1.0"]
RANGES_RES = ["96:224:32", "128,224", "96:320:8", "160", "224", "224x160,448x320", "224x160,160x224", "96:128:32,64x48"]
HOSTILE_RANGES = [
    "0:1:0",
    "1:0:0.1",
    "0.1:1e9:1e-9",
    "1:1e12:1",
    "1e5000:1:1",
    "a:b:c",
    "::",
    ":",
    "1:2:3:4",
    "0.5,",
    ",",
    "nan:1:1",
    "1:inf:1",
    "-1:1:0.5",
    "0.001:1000:0.001",
    "1," * 2000 + "1",
    "96:100000:1",
    "100000",
    "0",
    "",
]


def _range(draw: st.DrawFn, good: list[str], hostile: float) -> str:
    if _maybe(draw, hostile * 0.6):
        return draw(st.sampled_from(HOSTILE_RANGES)) if _maybe(draw, 0.7) else draw(number_text)
    return draw(st.sampled_from(good))


BUDGETS = [
    "150M",
    "300M",
    "2M",
    "5MB",
    "4MiB",
    "0",
    "-1",
    "1e400",
    "1e99999999M",
    "150Q",
    "inf",
    "nan",
    "M",
    "",
    "1e12G",
    "1" * 40,
    "0.5",
    "2MB",
    "1KiB",
]


def command_args(draw: st.DrawFn, command: str, model: str, hostile: float) -> tuple[list[str], str | None, list[str]]:
    """``args`` of ``command`` on ``model``, the output file it may write, and other files it may add."""
    out: str | None = None
    extra: list[str] = []
    args: list[str]
    if command == "report":
        args = ["report", model, *point_args(draw, hostile), *_common(draw, hostile, ["table", "md", "html", "json"])]
        if _maybe(draw, 0.2):
            args += ["--depth", _value(draw, ["1", "2", "3"], hostile)]
        if _maybe(draw, 0.2):
            args += ["--layers", draw(st.sampled_from(["all", "blocks", "bogus"]))]
        if _maybe(draw, 0.15):
            args += ["--activation-dtype", draw(st.sampled_from(["float16", "int8", "float64"]))]
        if _maybe(draw, 0.5):
            args.append("--no-charts")
        if _maybe(draw, 0.3):
            out = output_arg(draw, ["out.json", "out.md", "out.html", "out.txt", "out.report"], hostile)
            args += ["-o", out]
            extra = [Path(out).stem + "_*.svg"]
    elif command == "expr":
        args = ["expr", model, *point_args(draw, hostile * 0.5)]
        if _maybe(draw, 0.3):
            args += ["--metric", draw(st.sampled_from(["params", "macs", "flops", "other_ops", "bogus"]))]
        for flag in ("--per-layer", "--per-type", "--smooth"):
            if _maybe(draw, 0.2):
                args.append(flag)
        if _maybe(draw, 0.2):
            name = draw(st.sampled_from(["rho", "alpha", "num_classes", "nosuch", ""]))
            args += ["--scale", f"{name}={_value(draw, ['1/2', '2', '0.5'], hostile)}"]
        args += _common(draw, hostile, ["text", "latex", "json"])
    elif command == "verify":
        args = ["verify", model, *point_args(draw, hostile)]
        if _maybe(draw, 0.2):
            args += ["--seed", _value(draw, ["0", "1", "12345"], hostile)]
        if _maybe(draw, 0.2):
            args += ["--counting", draw(st.sampled_from(COUNTINGS))]
    elif command == "export":
        out = output_arg(draw, ["out.onnx", "model.onnx"], hostile)
        args = ["export", model, *point_args(draw, hostile), "-o", out]
        if _maybe(draw, 0.3):
            args.append("--fold-bn")
        if _maybe(draw, 0.2):
            args += ["--seed", _value(draw, ["0", "7"], hostile)]
    elif command == "check":
        args = ["check", model]
        if _maybe(draw, 0.3):
            args.append("-q")
    elif command == "table":
        args = ["table", model]
        if _maybe(draw, 0.7):
            args += ["--alpha", _range(draw, RANGES_ALPHA, hostile)]
        if _maybe(draw, 0.7):
            args += ["--res", _range(draw, RANGES_RES, hostile)]
        if _maybe(draw, 0.3):
            args += ["--metrics", draw(st.sampled_from(["top1,macs,params", "macs", "bogus", "", "peak,latency,top5"]))]
        if _maybe(draw, 0.2):
            args += ["--units", draw(st.sampled_from(["", "K", "M", "G", "T"]))]
        if _maybe(draw, 0.2):
            args += ["--decimals", _value(draw, ["0", "2", "6"], hostile)]
        if _maybe(draw, 0.2):
            args += ["--source", draw(st.sampled_from(["Howard", "", "\x00", "(", "*"]))]
        if _maybe(draw, 0.3):
            args.append("--pivot")
        args += _common(draw, hostile, ["table", "md", "html", "csv", "latex", "json"])
        if _maybe(draw, 0.2):
            out = output_arg(draw, ["out.md", "out.csv", "out.html", "out.tex", "out.json"], hostile)
            args += ["-o", out]
    elif command == "sweep":
        args = [
            "sweep",
            model,
            "--alpha",
            _range(draw, RANGES_ALPHA, hostile),
            "--res",
            _range(draw, RANGES_RES, hostile),
        ]
        if _maybe(draw, 0.3):
            args += ["--metrics", draw(st.sampled_from(["macs,params", "peak_memory,size", "bogus", "", "macs,macs"]))]
        if _maybe(draw, 0.2):
            args += ["--dtype", draw(st.sampled_from(["float16", "int8", "int4"]))]
        if _maybe(draw, 0.3):
            args += ["--set", f"sr={_value(draw, ['0.25'], hostile)}"]
        args += _common(draw, hostile, ["csv", "json"])
        if _maybe(draw, 0.3):
            out = output_arg(draw, ["out.csv", "out.json"], hostile)
            args += ["-o", out]
    elif command == "compare":
        args = ["compare"]
        for m in [model, *draw(st.lists(st.sampled_from(SMALL_BUILTINS), min_size=0, max_size=2))]:
            if _maybe(draw, 0.4):
                key = draw(st.sampled_from(["alpha", "res", "rho", "classes", "variant", "sr", "nosuch", "", "@"]))
                m = f"{m}@{key}={_value(draw, ['0.5', '160', 'keras'], hostile)}"
            elif _maybe(draw, hostile * 0.3):
                m = m + draw(st.sampled_from(["@", "@@", "@alpha", "@alpha=0.5=1", "@,", "@alpha=0.5,"]))
            args.append(m)
        args += _common(draw, hostile, ["table", "json"])
    elif command == "whatif":
        args = ["whatif", model]
        trick = draw(st.sampled_from(["--separable", "--full-conv", "--fire", "--gap-head", "none", "two"]))
        if trick == "--fire":
            args += [
                "--fire",
                draw(st.sampled_from(["0.125,0.5", "0,0", "1e400,1", "a", "0.5", "1,1", "-1,2", ",", ""])),
            ]
        elif trick == "two":
            args += ["--separable", "--full-conv"]
        elif trick != "none":
            args.append(trick)
        if _maybe(draw, 0.3):
            args += ["--layers", draw(st.sampled_from(["conv*", "*", "[", "**/*", "\n", "", "nosuch", "[!a-z]*"]))]
        args += point_args(draw, hostile * 0.5)
        if _maybe(draw, 0.4):
            out = output_arg(draw, ["out.yaml", "rewritten.yaml"], hostile)
            args += ["-o", out]
    elif command == "sensitivity":
        args = ["sensitivity", model, *point_args(draw, hostile * 0.5)]
        if _maybe(draw, 0.4):
            args += ["--epsilon", _value(draw, ["0.1", "0.01", "0.5"], hostile)]
        args += _common(draw, hostile, ["table", "json"])
    elif command == "explain":
        number = draw(st.sampled_from(SEEN_NUMBERS)) if _maybe(draw, 0.7) else draw(st.text(max_size=20))
        args = ["explain", model, *number.split(" "), *point_args(draw, hostile)]
        if _maybe(draw, 0.3):
            args += ["--format", draw(st.sampled_from(["text", "json", "bogus"]))]
    elif command == "solve":
        args = ["solve", model]
        for option in ("--max-macs", "--max-params", "--max-size", "--max-peak-memory"):
            if _maybe(draw, 0.4):
                args += [option, draw(st.sampled_from(BUDGETS))]
        if len(args) == 2:
            args += ["--max-macs", "150M"]
        fix = draw(st.sampled_from(["alpha", "res", "none"]))
        if fix == "alpha":
            args += ["--alpha", _value(draw, ["0.5", "1"], hostile)]
        elif fix == "res":
            args += ["--res", _value(draw, ["160", "224"], hostile)]
        if _maybe(draw, 0.3):
            args += ["--step", _value(draw, ["0.001", "0.01", "0.25"], hostile)]
        if _maybe(draw, 0.2):
            args += ["--alpha-max", _value(draw, ["2", "1"], hostile)]
        if _maybe(draw, 0.2):
            args += ["--res-step", _value(draw, ["1", "8"], hostile)]
        if fix == "none" and _maybe(draw, 0.4):
            args += ["--res-range", _range(draw, RANGES_RES, hostile)]
        if _maybe(draw, 0.2):
            args += ["--dtype", draw(st.sampled_from(["int8", "float16", "bogus"]))]
        args += _common(draw, hostile, ["table", "json"])
    elif command == "run":
        args = ["run", model, "--input", "x.npy", *point_args(draw, hostile * 0.3)]
        if _maybe(draw, 0.3):
            args += ["--top", _value(draw, ["1", "5", "1000"], hostile)]
        if _maybe(draw, 0.2):
            args += ["--seed", _value(draw, ["0", "3"], hostile)]
        if _maybe(draw, 0.3):
            out = output_arg(draw, ["out.npy", "y.npy"], hostile)
            args += ["-o", out]
    else:
        raise ValueError(command)
    if out is not None and (out.startswith("/") or out in ("", ".", "..", "-", "existing_dir")):
        out = None  # nothing may be created for these
    return args, out, extra


def other_command_args(draw: st.DrawFn, command: str, hostile: float) -> list[str]:
    if command == "pick":
        args = ["pick"]
        for option in ("--max-macs", "--max-params", "--max-size", "--max-peak-memory"):
            if _maybe(draw, 0.4):
                args += [option, draw(st.sampled_from(BUDGETS))]
        if _maybe(draw, 0.3):
            args += ["--models", draw(st.sampled_from(["mobilenet_v1,squeezenet1_0", "nosuch", "", ",", "mobilenet"]))]
        if _maybe(draw, 0.2):
            args.append("--all")
        if _maybe(draw, 0.2):
            args += ["--dtype", draw(st.sampled_from(["int8", "float16"]))]
        return args + _common(draw, hostile, ["table", "json"])
    if command == "layer":
        sub = draw(st.sampled_from(["conv", "fire", "inverted_residual", "bogus"]))
        options = {
            "conv": ["--k", "--cin", "--cout", "--hw", "--stride"],
            "fire": ["--cin", "--s1x1", "--e1x1", "--e3x3", "--hw"],
            "inverted_residual": ["--cin", "--t", "--cout", "--stride", "--hw"],
            "bogus": ["--k"],
        }[sub]
        args = ["layer", sub]
        for option in options:
            if _maybe(draw, 0.93):
                good = ["3", "16", "32", "56", "1", "2"]
                args += [
                    option,
                    _value(draw, good, hostile)
                    if _maybe(draw, 0.5)
                    else draw(
                        st.sampled_from(
                            [
                                "0",
                                "-1",
                                "1000000",
                                "1000000000000",
                                "1000000000001",
                                "9" * 30,
                                "2",
                                "99999999999999999999",
                            ]
                        )
                    ),
                ]
        if sub == "conv" and _maybe(draw, 0.3):
            args.append("--bias")
        if _maybe(draw, 0.3):
            args += ["--format", draw(st.sampled_from(["table", "json", "bogus"]))]
        return args
    # list
    args = ["list"]
    if _maybe(draw, 0.5):
        args.append("--details")
    return args + _common(draw, hostile, ["table", "json"])


def small_npy(shape: tuple[int, ...] = (1, 3, 32, 32), dtype: str = "<f4") -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.save(buffer, rng.standard_normal(shape).astype(dtype))
    return buffer.getvalue()


@st.composite
def cli_cases(draw: st.DrawFn) -> Case:
    """A command on a built-in model (or none) with hostile options, names and output files."""
    command = draw(st.sampled_from([*MODEL_COMMANDS, *OTHER_COMMANDS]))
    hostile = draw(st.sampled_from([0.0, 0.3, 0.6, 1.0]))
    files: dict[str, bytes | str] = {"existing_dir": "dir"}
    out: str | None = None
    extra: list[str] = []
    if command in MODEL_COMMANDS and _maybe(draw, 0.15) and command != "check":
        files["tiny.yaml"] = TINY_SPEC.encode()
        args, out, extra = command_args(draw, command, "tiny.yaml", hostile)
        if command == "run":
            files["x.npy"] = small_npy((1, 3, 32, 32))
    elif command in MODEL_COMMANDS:
        if command == "check" or _maybe(draw, 0.85):
            model = draw(st.sampled_from(BUILTINS if command not in ("verify", "run", "export") else SMALL_BUILTINS))
            if command == "check" and _maybe(draw, 0.3):
                model = draw(st.sampled_from(BUILTINS))
        else:
            model = draw(
                st.sampled_from(
                    [
                        "nosuch",
                        "mobilenet\n",
                        "MOBILENET",
                        "",
                        " ",
                        "../../etc/passwd",
                        "/dev/zero",
                        "existing_dir",
                        "x.yaml",
                        "/dev/null.yaml",
                        "nosuch.onnx",
                        "existing_dir/x.onnx",
                        "-",
                        "\x1b[31m",
                        "é" * 300,
                        "specs/../mobilenet.yaml",
                        "@",
                        "mobilenet@alpha=0.5",
                    ]
                )
            )
        args, out, extra = command_args(draw, command, model, hostile)
        if command == "run":
            files["x.npy"] = small_npy((1, 3, draw(st.sampled_from([32, 64, 17])), draw(st.sampled_from([32, 64]))))
        if command == "check" and _maybe(draw, 0.3):
            args = ["check"] + (["-q"] if _maybe(draw, 0.5) else [])
    else:
        args = other_command_args(draw, command, hostile)
    if _maybe(draw, 0.05 * hostile):
        args.insert(draw(st.integers(1, len(args))), draw(st.sampled_from(["--bogus", "--alpha", "-x", "extra", "--"])))
    return Case("cli", command, args, files, out, extra, output_exists=out is not None and _maybe(draw, 0.2))


@st.composite
def spec_cases(draw: st.DrawFn) -> Case:
    """A mutated built-in spec, or hostile YAML text, given to one command (or to the Python API)."""
    if _maybe(draw, 0.8):
        text, note = draw(mutated_spec())
        content: bytes | str = text
    else:
        raw, note = draw(raw_spec_texts())
        special = isinstance(raw, str) and raw.startswith((SPARSE, GENERATED))
        content = raw.encode("utf-8") if isinstance(raw, str) and not special else raw
    name = draw(st.sampled_from(["spec.yaml", "spec.yaml", "spec.yml", "spec"]))
    model = name if name != "spec" else "./spec"
    command = draw(st.sampled_from([*MODEL_COMMANDS, "api", "api", "api"]))
    files: dict[str, bytes | str] = {name: content}
    if command == "api":
        variant = draw(st.sampled_from(["", "", "", "keras", "fuzz"]))
        return Case("spec", "api", [model, variant], files, note=note)
    args, out, extra = command_args(draw, command, model, draw(st.sampled_from([0.0, 0.0, 0.2])))
    if command == "run":
        files["x.npy"] = small_npy((1, 3, 32, 32))
    if command in ("verify", "run", "export") and "--res" not in args and "--rho" not in args and command != "run":
        args += ["--res", draw(st.sampled_from(["32", "64", "96"]))]  # keep valid runs cheap
    if _maybe(draw, 0.15):
        args += ["--variant", draw(st.sampled_from(["keras", "fuzz", "nosuch", ""]))] if command != "check" else []
    return Case(
        "spec", command, args, files, out, extra, output_exists=out is not None and _maybe(draw, 0.2), note=note
    )


# -- arrays ----------------------------------------------------------------------------------------------


def npy_header(descr: str, shape: str, fortran: str = "False", version: tuple[int, int] = (1, 0)) -> bytes:
    header = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    body = header.encode("latin1")
    size_format = "<H" if version[0] == 1 else "<I"
    prefix = 10 if version[0] == 1 else 12
    pad = (64 - (prefix + len(body) + 1) % 64) % 64
    body = body + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_format, len(body)) + body


def npy_array(dtype_kind: str, shape: tuple[int, ...]) -> bytes:
    import numpy as np

    size = int(np.prod(shape)) if shape else 1
    buffer = io.BytesIO()
    if dtype_kind == "object":
        array = np.empty(shape, dtype=object)
        np.save(buffer, array, allow_pickle=True)
        return buffer.getvalue()
    if dtype_kind == "structured":
        array = np.zeros(shape, dtype=[("a", "<f4"), ("b", "<i4")])
    elif dtype_kind == "subarray":
        array = np.zeros(shape, dtype=("<f4", (2,)))
    elif dtype_kind == "datetime":
        array = np.zeros(shape, dtype="datetime64[s]")
    elif dtype_kind == "timedelta":
        array = np.zeros(shape, dtype="timedelta64[ns]")
    elif dtype_kind == "str":
        array = np.full(shape, "abc", dtype="<U3")
    elif dtype_kind == "bytes":
        array = np.full(shape, b"ab", dtype="S2")
    elif dtype_kind == "void":
        array = np.zeros(shape, dtype="V8")
    else:
        array = (np.arange(size) % 7).reshape(shape).astype(dtype_kind)
    np.save(buffer, array)
    return buffer.getvalue()


ARRAY_DTYPES = [
    "<f4",
    ">f4",
    "<f8",
    "<f2",
    "<c8",
    "<c16",
    "<i1",
    "<u8",
    "|b1",
    "<i8",
    "longdouble",
    "object",
    "structured",
    "subarray",
    "datetime",
    "timedelta",
    "str",
    "bytes",
    "void",
]
ARRAY_SHAPES = [
    (1, 3, 32, 32),
    (3, 32, 32),
    (0, 3, 32, 32),
    (1, 0, 32, 32),
    (1, 3, 0, 0),
    (1, 3, 32, 31),
    (1, 1, 1, 1),
    (1, 3, 1, 1),
    (2, 3, 17, 17),
    (),
    (5,),
    (1, 3, 32, 32, 1),
    (1, 4, 32, 32),
    (1, 3, 33, 33),
]
LYING_SHAPES = [
    "(100000, 3, 224, 224)",
    "(10**12,)",
    "(1000000000000, 3, 32, 32)",
    "(-1, 3, 32, 32)",
    "(1, 3, 32, -32)",
    "(18446744073709551616,)",
    "(2**62, 2**62)",
    "[1, 3, 32, 32]",
    "'abc'",
    "(1.5, 3)",
    "(1, 3, 32, 32",
    "None",
    "(" + "1, " * 40 + ")",
    "(1, 3, 46341, 46341)",
    "(4096, 3, 224, 224)",
]
LYING_DESCRS = [
    "'<f4'",
    "'<x9'",
    "'<f4'",
    "'|O'",
    "[('a', '<f4')]",
    "'<U1000000000'",
    "'V1000000000'",
    "[('a', [('b', [('c', '<f4')])])]",
    "42",
    "'<f4' + '<f4'",
    "__import__('os')",
    "('<f4', (10**6,))",
]


def zip_bytes(members: list[tuple[str, bytes, int]], lie_size: int | None = None) -> bytes:
    """A zip of (name, data, compression) members; with ``lie_size`` each member's header claims that size."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, compression in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            archive.writestr(info, data)
    raw = buffer.getvalue()
    if lie_size is not None:
        raw = _lie_zip_sizes(raw, lie_size)
    return raw


def _lie_zip_sizes(raw: bytes, size: int) -> bytes:
    """Rewrite the uncompressed sizes of every local and central header (a declared bomb)."""
    data = bytearray(raw)
    size &= 0xFFFFFFFF
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local, central headers
        i = data.find(signature)
        while i >= 0:
            struct.pack_into("<I", data, i + offset, size)
            i = data.find(signature, i + 4)
    return bytes(data)


@cache
def deflate_bomb() -> bytes:
    """A .npz whose one member is a valid .npy of 256 MiB of float32 zeros, deflated to about 256 KiB."""
    header = npy_header("'<f4'", "(1, 4, 4096, 4096)")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunks = [compressor.compress(header)]
    block = bytes(1 << 20)
    for _ in range(256):
        chunks.append(compressor.compress(block))
    chunks.append(compressor.flush())
    compressed = b"".join(chunks)
    total = len(header) + (256 << 20)
    crc = zlib.crc32(header)
    for _ in range(256):
        crc = zlib.crc32(block, crc)
    name = b"x.npy"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(compressed), total, len(name), 0) + name
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(compressed),
            total,
            len(name),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + name
    )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(compressed), 0)
    return local + compressed + central + end


@cache
def weights_for(model: str, resolution: int) -> dict[str, Any]:
    """The seeded weights of ``model`` (a file name: the tiny spec, or a test fixture), keyed LAYER/ARRAY."""
    import tempfile

    from costmodel import executor
    from costmodel.loading import load_model

    if model == "tiny.yaml":
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "tiny.yaml"
            path.write_text(TINY_SPEC)
            m = load_model(str(path))
    else:
        m = load_model(str(ROOT / "tests" / "data" / model))
    network = m.network(m.point(resolution=resolution) if m.base_resolution else m.point())
    weights = executor.seeded_weights(network)
    return {f"{layer}/{name}": array for layer, arrays in weights.items() for name, array in arrays.items()}


def npz_of(arrays: dict[str, Any], compressed: bool = False) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


@st.composite
def array_file(draw: st.DrawFn) -> tuple[bytes | str, str]:
    """Bytes of a hostile .npy or .npz file, and a note."""
    choice = draw(
        st.sampled_from(["dtype", "dtype", "lying", "lying", "truncated", "garbage", "npz", "npz", "bomb", "special"])
    )
    if choice == "dtype":
        dtype = draw(st.sampled_from(ARRAY_DTYPES))
        shape = draw(st.sampled_from(ARRAY_SHAPES))
        return npy_array(dtype, shape), f"dtype {dtype} shape {shape}"
    if choice == "lying":
        descr = draw(st.sampled_from(LYING_DESCRS))
        shape = draw(st.sampled_from(LYING_SHAPES))
        fortran = draw(st.sampled_from(["False", "False", "True", "1", "'yes'"]))
        version = draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (9, 9)]))
        data = bytes(draw(st.integers(0, 4096)))
        return npy_header(descr, shape, fortran, version) + data, f"header {descr} {shape} {fortran} v{version}"
    if choice == "truncated":
        whole = small_npy(draw(st.sampled_from([(1, 3, 32, 32), (3, 17, 17)])))
        cut = draw(st.integers(0, len(whole) - 1))
        return whole[:cut], f"truncated at {cut} of {len(whole)}"
    if choice == "garbage":
        options: list[tuple[bytes, str]] = [
            (b"", "empty"),
            (b"\x93NUMPY", "magic only"),
            (b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 65535, "65535-byte header of braces"),
            (b"\x93NUMPY\x02\x00\xff\xff\xff\x7f", "v2 header length 2**31"),
            (b"\x80\x04\x95", "pickle"),
            (b"PK\x03\x04" + bytes(30), "broken zip"),
            (b"PK\x05\x06" + bytes(18), "empty zip"),
            (SPEC_HEAD.encode(), "a YAML spec"),
            (draw(st.binary(max_size=200)), "random bytes"),
        ]
        data, note = draw(st.sampled_from(options))
        return data, note
    if choice == "npz":
        kind = draw(st.sampled_from(["members", "compression", "names", "many"]))
        if kind == "members":
            member = draw(
                st.sampled_from([small_npy((3, 3)), npy_array("object", (2,)), b"not npy", b"", small_npy((0,))])
            )
            return zip_bytes([("x.npy", member, zipfile.ZIP_STORED)]), "npz member"
        if kind == "compression":
            method = draw(st.sampled_from([zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 99, 12]))
            try:
                data = zip_bytes([("x.npy", small_npy((2, 2)), method)])
            except (NotImplementedError, RuntimeError):
                data = _set_method(zip_bytes([("x.npy", small_npy((2, 2)), zipfile.ZIP_STORED)]), method)
            return data, f"npz compression {method}"
        if kind == "names":
            name = draw(st.sampled_from(["../evil.npy", "/abs.npy", "a/b/c.npy", "x.npy\x00", "é.npy", "", "dir/"]))
            return zip_bytes([(name, small_npy((2,)), zipfile.ZIP_STORED)]), f"npz member name {name!r}"
        count = draw(st.sampled_from([10_001, 3000]))
        member = small_npy((1,))
        return zip_bytes([(f"m{i}.npy", member, zipfile.ZIP_STORED) for i in range(count)]), f"npz with {count} members"
    if choice == "bomb":
        kind = draw(st.sampled_from(["deflate", "lie", "lie_header"]))
        if kind == "deflate":
            return deflate_bomb(), "npz deflate bomb: 256 MiB of zeros in ~256 KiB"
        if kind == "lie":
            return zip_bytes([("x.npy", small_npy((2, 2)), zipfile.ZIP_DEFLATED)], lie_size=0xFFFFFFFF), "zip sizes lie"
        return (
            zip_bytes([("x.npy", npy_header("'<f4'", "(1000000, 3, 224, 224)") + bytes(64), zipfile.ZIP_DEFLATED)]),
            "npz member header claims 600 GB",
        )
    special = draw(
        st.sampled_from(
            ["fifo", "dir", "symlink:/dev/zero", "symlink:/dev/urandom", "symlink:nowhere", SPARSE + str(3 << 30)]
        )
    )
    return special, f"special file {special}"


def _set_method(raw: bytes, method: int) -> bytes:
    data = bytearray(raw)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = data.find(signature)
        while i >= 0:
            struct.pack_into("<H", data, i + offset, method)
            i = data.find(signature, i + 4)
    return bytes(data)


@st.composite
def weights_file(draw: st.DrawFn, model: str, resolution: int) -> tuple[bytes | str, str]:
    """An .npz of weights for ``model``: mutated from the right ones, or any hostile array file."""
    import numpy as np

    if _maybe(draw, 0.4):
        return draw(array_file())
    weights = dict(weights_for(model, resolution))
    keys = sorted(weights)
    key = draw(st.sampled_from(keys))
    change = draw(st.sampled_from(["drop", "shape", "dtype", "extra", "badkey", "nan", "none", "huge_dim", "scalar"]))
    if change == "drop":
        del weights[key]
    elif change == "shape":
        weights[key] = weights[key].reshape(-1)[: max(1, weights[key].size - 1)]
    elif change == "dtype":
        weights[key] = weights[key].astype(draw(st.sampled_from(["complex64", "int8", "bool", "U3", "float16"])))
    elif change == "extra":
        weights[key.rsplit("/", 1)[0] + "/bogus"] = np.zeros(3, np.float32)
    elif change == "badkey":
        weights[draw(st.sampled_from(["noslash", "/weight", "layer/", "a//b", "nosuch/weight"]))] = np.zeros(1)
    elif change == "nan":
        weights[key] = np.full_like(weights[key], np.nan)
    elif change == "huge_dim":
        weights[key] = np.zeros((0, 10**6), np.float32)
    elif change == "scalar":
        weights[key] = np.float32(1.0)
    compressed = _maybe(draw, 0.3)
    return npz_of(weights, compressed), f"weights {change} {key}"


@st.composite
def array_cases(draw: st.DrawFn) -> Case:
    """``run`` with a hostile --input or --weights file (or an .npz/.npy in the wrong place)."""
    model, resolution = draw(st.sampled_from([("tiny.yaml", 32), ("squeezenet_mini.onnx", 33)]))
    target = draw(st.sampled_from(["input", "input", "weights"]))
    files: dict[str, bytes | str] = {}
    if model == "tiny.yaml":
        files[model] = TINY_SPEC.encode()
    else:
        files[model] = (ROOT / "tests" / "data" / model).read_bytes()
    if target == "input":
        data, note = draw(array_file())
        name = draw(st.sampled_from(["x.npy", "x.npy", "x.npz", "x"]))
        files[name] = data
        args = ["run", model, "--input", name]
        if _maybe(draw, 0.3):
            args += ["--res", str(resolution)]
    else:
        data, note = draw(weights_file(model, resolution))
        name = draw(st.sampled_from(["w.npz", "w.npz", "w.npy"]))
        files[name] = data
        files["x.npy"] = small_npy((1, 3, resolution, resolution))
        args = ["run", model, "--input", "x.npy", "--weights", name]
    out = None
    if _maybe(draw, 0.3):
        out = "y.npy"
        args += ["-o", out]
    return Case("array", "run", args, files, out, output_exists=out is not None and _maybe(draw, 0.3), note=note)


# -- ONNX ------------------------------------------------------------------------------------------------


def _tiny_onnx_model(draw: st.DrawFn) -> Any:
    """A valid tiny CNN: Conv, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    side = draw(st.sampled_from([8, 16]))
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv.weight"),
        numpy_helper.from_array(rng.standard_normal((4,)).astype(np.float32), "conv.bias"),
        numpy_helper.from_array(rng.standard_normal((5, 4)).astype(np.float32), "fc.weight"),
        numpy_helper.from_array(rng.standard_normal((5,)).astype(np.float32), "fc.bias"),
    ]
    nodes = [
        helper.make_node(
            "Conv",
            ["input", "conv.weight", "conv.bias"],
            ["c"],
            name="conv",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[1, 1],
        ),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 5])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


ONNX_MUTATIONS = [
    "raw_short",
    "raw_long",
    "string_dtype",
    "dtype_999",
    "dims_no_data",
    "huge_dims",
    "negative_dims",
    "external",
    "unknown_op",
    "custom_domain",
    "cycle",
    "missing_input",
    "duplicate_names",
    "input_dims",
    "conv_attrs",
    "pool_attrs",
    "opset",
    "no_nodes",
    "many_nodes",
    "constant_node",
    "float_data_mismatch",
    "int64_weights",
    "flip_bytes",
    "truncate",
    "nested_subgraphs",
]


@st.composite
def onnx_file(draw: st.DrawFn) -> tuple[bytes, str]:
    """Bytes of a broken ONNX model: the tiny CNN or a test fixture with one or two mutations."""
    import onnx
    from onnx import TensorProto, helper

    if ONNX_FIXTURES and _maybe(draw, 0.35):
        fixture = draw(st.sampled_from(ONNX_FIXTURES))
        model = onnx.load_from_string(fixture.read_bytes())
        notes = [fixture.name]
    else:
        model = _tiny_onnx_model(draw)
        notes = ["tiny"]
    graph = model.graph
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(ONNX_MUTATIONS))
        notes.append(kind)
        try:
            inits = list(graph.initializer)
            init = graph.initializer[draw(st.integers(0, len(inits) - 1))] if inits else None
            node = graph.node[draw(st.integers(0, len(graph.node) - 1))] if len(graph.node) else None
            if kind in ("flip_bytes", "truncate"):
                data = bytearray(model.SerializeToString())
                if kind == "truncate":
                    return bytes(data[: draw(st.integers(0, len(data) - 1))]), " ".join(notes)
                for _ in range(draw(st.integers(1, 8))):
                    i = draw(st.integers(0, len(data) - 1))
                    data[i] = draw(st.integers(0, 255))
                return bytes(data), " ".join(notes)
            if init is not None and kind == "raw_short":
                _to_raw(init)
                init.raw_data = init.raw_data[: draw(st.integers(0, max(0, len(init.raw_data) - 1)))]
            elif init is not None and kind == "raw_long":
                _to_raw(init)
                init.raw_data = init.raw_data + bytes(draw(st.sampled_from([1, 3, 4, 1000])))
            elif init is not None and kind == "string_dtype":
                init.ClearField("raw_data")
                init.ClearField("float_data")
                init.data_type = TensorProto.STRING
                init.string_data.extend([b"abc"] * draw(st.sampled_from([0, 1, 5])))
            elif init is not None and kind == "dtype_999":
                init.data_type = draw(
                    st.sampled_from([999, 0, -1, TensorProto.COMPLEX64, TensorProto.BFLOAT16, 23, 2**31 - 1])
                )
            elif init is not None and kind == "dims_no_data":
                init.ClearField("raw_data")
                init.ClearField("float_data")
            elif init is not None and kind == "huge_dims":
                del init.dims[:]
                init.dims.extend(draw(st.sampled_from([[10**12, 3, 3, 3], [2**62], [2**31, 2**31], [10**6, 10**6]])))
                init.ClearField("raw_data")
                init.ClearField("float_data")
            elif init is not None and kind == "negative_dims":
                del init.dims[:]
                init.dims.extend(draw(st.sampled_from([[-1, 3, 3, 3], [0, 3, 3, 3], [4, 3, 0, 3], []])))
            elif init is not None and kind == "external":
                init.ClearField("raw_data")
                init.ClearField("float_data")
                init.data_location = TensorProto.EXTERNAL
                location = draw(
                    st.sampled_from(["missing.bin", "/dev/zero", "../../etc/passwd", "weights.bin", "", "/"])
                )
                del init.external_data[:]
                for k, v in [
                    ("location", location),
                    ("offset", draw(st.sampled_from(["0", "-1", "99999999999"]))),
                    ("length", draw(st.sampled_from(["432", str(10**12), "-5", "x"]))),
                ]:
                    entry = init.external_data.add()
                    entry.key, entry.value = k, v
            elif node is not None and kind == "unknown_op":
                node.op_type = draw(st.sampled_from(["FooBar", "LSTM", "", "Conv ", "conv", "If", "Loop", "Resize"]))
            elif node is not None and kind == "custom_domain":
                node.domain = draw(st.sampled_from(["com.microsoft", "ai.onnx.ml", "evil", "\x00"]))
            elif kind == "cycle" and len(graph.node) >= 2:
                first, last = graph.node[0], graph.node[len(graph.node) - 1]
                first.input[0] = last.output[0] if draw(st.booleans()) else first.output[0]
            elif node is not None and kind == "missing_input":
                if len(node.input):
                    node.input[0] = draw(st.sampled_from(["", "nosuch", "input", node.output[0]]))
            elif node is not None and kind == "duplicate_names":
                other = graph.node[0]
                node.name = other.name
                if draw(st.booleans()) and len(node.output):
                    node.output[0] = other.output[0]
            elif kind == "input_dims" and len(graph.input):
                value = graph.input[0]
                dims = value.type.tensor_type.shape.dim
                choice = draw(
                    st.sampled_from(
                        [
                            [1, 3, 0, 0],
                            [1, 3, 2**40, 2**40],
                            [1, 3],
                            [1, 3, 8, 9],
                            ["N", 3, "H", "W"],
                            [1, 10**12, 8, 8],
                            [-1, 3, 8, 8],
                            [1, 3, 100000, 100000],
                        ]
                    )
                )
                del dims[:]
                for d in choice:
                    dim = dims.add()
                    if isinstance(d, str):
                        dim.dim_param = d
                    else:
                        dim.dim_value = d
            elif kind == "conv_attrs":
                convs = [n for n in graph.node if n.op_type == "Conv"]
                if convs:
                    conv = convs[0]
                    name = draw(st.sampled_from(["kernel_shape", "strides", "pads", "group", "dilations", "auto_pad"]))
                    value = draw(
                        st.sampled_from(
                            [
                                [0, 0],
                                [-1, -1],
                                [3, 3, 3],
                                [100, 100],
                                [2**40, 2**40],
                                0,
                                7,
                                2**40,
                                "SAME_UPPER",
                                "FOO",
                                [1.5, 2.5],
                                [],
                            ]
                        )
                    )
                    keep = [a for a in conv.attribute if a.name != name]
                    del conv.attribute[:]
                    conv.attribute.extend(keep)
                    try:
                        conv.attribute.append(helper.make_attribute(name, value))
                    except (ValueError, TypeError):
                        conv.attribute.append(helper.make_attribute(name, [1]))
            elif kind == "pool_attrs":
                pools = [n for n in graph.node if "Pool" in n.op_type and "Global" not in n.op_type]
                if pools:
                    pool = pools[0]
                    name = draw(
                        st.sampled_from(["kernel_shape", "strides", "pads", "ceil_mode", "auto_pad", "dilations"])
                    )
                    value = draw(
                        st.sampled_from([[0, 0], [1000, 1000], [-2, -2], 1, 5, "SAME_LOWER", "BOGUS", [2, 2, 2]])
                    )
                    keep = [a for a in pool.attribute if a.name != name]
                    del pool.attribute[:]
                    pool.attribute.extend(keep)
                    with contextlib.suppress(ValueError, TypeError):
                        pool.attribute.append(helper.make_attribute(name, value))
            elif kind == "opset":
                del model.opset_import[:]
                version = draw(st.sampled_from([None, 1, 6, 9999, -1]))
                if version is not None:
                    model.opset_import.append(helper.make_opsetid("", version))
                if draw(st.booleans()):
                    model.ir_version = draw(st.sampled_from([0, 1, 99, 3]))
            elif kind == "no_nodes":
                del graph.node[:]
            elif kind == "many_nodes":
                count = draw(st.sampled_from([1000, 20_001]))
                last = graph.node[len(graph.node) - 1].output[0] if len(graph.node) else "input"
                graph.node.extend(
                    helper.make_node("Relu", [f"t{i}" if i else last], [f"t{i + 1}"], name=f"r{i}")
                    for i in range(count)
                )
            elif kind == "constant_node":
                import numpy as np
                from onnx import numpy_helper

                value = draw(st.sampled_from(["string", "sparse", "huge", "empty"]))
                if value == "string":
                    attr = helper.make_attribute("value", helper.make_tensor("v", TensorProto.STRING, [1], [b"x"]))
                elif value == "sparse":
                    attr = helper.make_attribute(
                        "sparse_value",
                        helper.make_sparse_tensor(
                            helper.make_tensor("vals", TensorProto.FLOAT, [1], [1.0]),
                            helper.make_tensor("idx", TensorProto.INT64, [1], [0]),
                            [10**12],
                        ),
                    )
                elif value == "huge":
                    tensor = TensorProto(name="v", data_type=TensorProto.FLOAT)
                    tensor.dims.extend([10**6, 10**6])  # declared, never held
                    attr = helper.make_attribute("value", tensor)
                else:
                    attr = helper.make_attribute("value", numpy_helper.from_array(np.zeros((0,), np.int64)))
                const = helper.make_node("Constant", [], ["k"], name="k")
                const.attribute.append(attr)
                graph.node.insert(0, const)
                if len(graph.node) > 2 and len(graph.node[2].input) > 1:
                    graph.node[2].input[1] = "k"
            elif init is not None and kind == "float_data_mismatch":
                _to_float_data(init)
                del init.float_data[draw(st.integers(0, max(0, len(init.float_data) - 1))) :]
            elif init is not None and kind == "int64_weights":
                init.ClearField("raw_data")
                init.ClearField("float_data")
                init.data_type = TensorProto.INT64
                count = 1
                for d in init.dims:
                    count *= d
                init.int64_data.extend([2**62] * min(count, 10_000))
            elif kind == "nested_subgraphs":
                depth = draw(st.sampled_from([10, 120]))
                depth = draw(st.sampled_from([10, 120, 2000]))
                # Written by hand: protobuf's own builder refuses to nest this deep. Appending a second
                # ``graph`` field to the model merges it into the first: one more node, an If nested ``depth`` deep.
                return model.SerializeToString() + _field(7, _field(1, nested_if(depth))), " ".join(notes)
        except Exception:  # a mutation that does not apply to this model (an index, a type): skip it
            notes.append("(skipped)")
    return model.SerializeToString(), " ".join(notes)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_if(depth: int) -> bytes:
    """A NodeProto ``If`` whose then_branch holds an If ... ``depth`` levels deep (serialised)."""
    node = _field(4, b"If") + _field(3, b"deep0")
    for i in range(depth):
        attribute = _field(1, b"then_branch") + _varint(20 << 3) + _varint(5) + _field(6, _field(1, node))
        node = _field(3, f"deep{i + 1}".encode()) + _field(4, b"If") + _field(5, attribute)
    return node


def _to_raw(init: Any) -> None:
    from onnx import numpy_helper

    count = 1
    for d in init.dims:
        count *= max(d, 0)
    if not init.raw_data and count <= 1 << 20:
        try:
            array = numpy_helper.to_array(init)
        except Exception:
            return
        init.ClearField("float_data")
        init.raw_data = array.tobytes()


def _to_float_data(init: Any) -> None:
    import numpy as np

    if init.raw_data:
        values = np.frombuffer(init.raw_data[: len(init.raw_data) // 4 * 4], dtype="<f4")
        init.ClearField("raw_data")
        init.float_data.extend(values.tolist())


ONNX_COMMANDS = [
    "report",
    "expr",
    "verify",
    "export",
    "check",
    "table",
    "compare",
    "whatif",
    "sensitivity",
    "solve",
    "run",
    "sweep",
    "api",
]


@st.composite
def onnx_cases(draw: st.DrawFn) -> Case:
    """A command (or the Python API) on a broken ONNX file."""
    data, note = draw(onnx_file())
    name = draw(st.sampled_from(["model.onnx", "model.onnx", "MODEL.ONNX"]))
    files: dict[str, bytes | str] = {name: data}
    if "external" in note:
        files["weights.bin"] = bytes(512)
    command = draw(st.sampled_from(ONNX_COMMANDS))
    if command == "api":
        return Case("onnx", "api", [name, ""], files, note=note)
    args, out, extra = command_args(draw, command, name, draw(st.sampled_from([0.0, 0.0, 0.2])))
    if command == "run":
        side = draw(st.sampled_from([8, 16, 33]))
        files["x.npy"] = small_npy((1, 3, side, side))
    return Case(
        "onnx", command, args, files, out, extra, output_exists=out is not None and _maybe(draw, 0.2), note=note
    )


def all_cases() -> st.SearchStrategy[Case]:
    """Every kind of case, in the proportions of the long run: specs and command lines most."""
    return st.one_of(spec_cases(), spec_cases(), cli_cases(), cli_cases(), array_cases(), onnx_cases())
