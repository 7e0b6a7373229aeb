"""A short, derandomised fuzz run: hostile specs, command lines, arrays and ONNX files keep the promise.

The promise: bad input gives one ``error:`` line on stderr and exit 2, quickly, never a traceback (exit
3 is a bug), never a stray or partial file; valid input exits 0 (or 1 for check/verify mismatches).
The strategies are in ``fuzz_strategies.py``, the judging in ``fuzz_runner.py``; the long run of
10,000 cases is ``python benchmarks/fuzz.py``. Here each test draws a fixed handful of cases
(``derandomize=True``: the same cases every run), runs them in this process through click's
``CliRunner`` (the Python API for the ``api`` cases), and fails with every broken case listed. A few
cases run as real subprocesses, where memory and time are measured as a user would see them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fuzz_runner import Outcome, describe, execute, executed_seconds, judge
from fuzz_strategies import (
    HUGE_DIGITS,
    SPEC_HEAD,
    TINY_SPEC,
    Case,
    array_cases,
    billion_laughs,
    cli_cases,
    deflate_bomb,
    npy_header,
    onnx_cases,
    small_npy,
    spec_cases,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st


def fuzz(strategy: st.SearchStrategy[Case], examples: int) -> list[str]:
    """Run ``examples`` derandomised draws in process (each distinct case once); the reproducers of the
    cases that break the promise."""
    failures: list[str] = []
    seen: set[str] = set()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is collected, none minimised
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: Case) -> None:
        key = json.dumps(case.to_json(), sort_keys=True)
        if key in seen:
            return
        seen.add(key)
        outcome, problems = execute(case, mode="inprocess")
        if problems:
            failures.append(describe(case, outcome, problems))

    run()
    return failures


def check(failures: list[str]) -> None:
    assert not failures, f"{len(failures)} fuzz case(s) broke the promise:\n\n" + "\n\n".join(failures)


def test_mutated_specs_and_hostile_yaml() -> None:
    check(fuzz(spec_cases(), 80))


def test_hostile_command_lines() -> None:
    check(fuzz(cli_cases(), 80))


def test_hostile_arrays() -> None:
    check(fuzz(array_cases(), 50))


def test_broken_onnx_files() -> None:
    check(fuzz(onnx_cases(), 50))


# A handful as real processes: time and peak memory as a user sees them.
SUBPROCESS_CASES = [
    pytest.param(
        Case(
            "spec",
            "report",
            ["report", "spec.yaml"],
            {"spec.yaml": (SPEC_HEAD + "layers: [{op: relu}]\n" + billion_laughs(9, 10) + "\n").encode()},
        ),
        id="billion-laughs",
    ),
    pytest.param(
        Case(
            "spec",
            "expr",
            ["expr", "spec.yaml"],
            {"spec.yaml": (SPEC_HEAD + "layers: [{op: conv2d, out: " + HUGE_DIGITS + ", k: 3}]\n").encode()},
        ),
        id="10**5000-channels",
    ),
    pytest.param(
        Case(
            "spec",
            "report",
            ["report", "spec.yaml"],
            {
                "spec.yaml": (
                    SPEC_HEAD + "blocks: {b: {body: [{op: relu, repeat: 1000}]}}\n"
                    "layers: [{use: b, repeat: 1000000000}]\n"
                ).encode()
            },
        ),
        id="repeat-1e9",
    ),
    pytest.param(Case("cli", "report", ["report", "mobilenet", "--alpha", "1e99999999"]), id="alpha-1e99999999"),
    pytest.param(Case("cli", "verify", ["verify", "mobilenet", "--res", "100000"]), id="verify-res-100000"),
    pytest.param(
        Case(
            "array",
            "run",
            ["run", "tiny.yaml", "--input", "x.npy"],
            {"tiny.yaml": TINY_SPEC.encode(), "x.npy": npy_header("'<f4'", "(100000, 3, 224, 224)") + bytes(64)},
        ),
        id="npy-header-claims-60GB",
    ),
    pytest.param(
        Case(
            "array",
            "run",
            ["run", "tiny.yaml", "--input", "x.npy", "--weights", "w.npz", "-o", "y.npy"],
            {"tiny.yaml": TINY_SPEC.encode(), "x.npy": small_npy(), "w.npz": deflate_bomb()},
            output="y.npy",
        ),
        id="npz-deflate-bomb",
    ),
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_subprocess(case: Case) -> None:
    outcome, problems = execute(case, mode="exec")
    assert not problems, describe(case, outcome, problems)


# The judge itself: each class of broken promise is recognised (so that zero failures means something).
def _outcome(returncode: int | None, stderr: str = "", **kwargs: object) -> Outcome:
    return Outcome(returncode, kwargs.pop("seconds", 0.1), kwargs.pop("maxrss_kib", 100_000), "", stderr, **kwargs)


JUDGED = [
    pytest.param(_outcome(2, "error: spec.yaml:3: bad\n"), set(), id="one-error-line"),
    pytest.param(
        _outcome(3, "costmodel: internal error (a bug, not your input): KeyError: 'x' at spec.py:1; ..."),
        {"traceback"},
        id="exit-3",
    ),
    pytest.param(
        _outcome(1, 'Traceback (most recent call last):\n  File "x.py", line 1, in f\nKeyError: 1\n'),
        {"traceback"},
        id="traceback",
    ),
    pytest.param(_outcome(-11), {"traceback"}, id="signal"),
    pytest.param(_outcome(None, killed=True, seconds=10.0), {"hang"}, id="killed"),
    pytest.param(_outcome(0, seconds=2.5), {"hang"}, id="slow"),
    pytest.param(_outcome(0, maxrss_kib=2 << 20), {"memory"}, id="memory"),
    pytest.param(_outcome(2, "error: a\nerror: b\n"), {"exit_code"}, id="two-lines"),
    pytest.param(_outcome(0, "error: something\n"), {"exit_code"}, id="error-with-exit-0"),
    pytest.param(_outcome(4), {"exit_code"}, id="exit-4"),
    pytest.param(_outcome(0, new_files=["out.json"]), set(), id="the-output"),
    pytest.param(_outcome(2, "error: x\n", new_files=["out.json"]), {"stray_file"}, id="output-after-failure"),
    pytest.param(_outcome(0, new_files=[".out.json.x1.tmp"]), {"stray_file"}, id="tmp-file"),
    pytest.param(_outcome(0, new_files=["other.txt"]), {"stray_file"}, id="other-file"),
    pytest.param(_outcome(0, stray_processes=True), {"stray_process"}, id="stray-process"),
]


@pytest.mark.parametrize(("outcome", "classes"), JUDGED)
def test_judge_recognises_each_class(outcome: Outcome, classes: set[str]) -> None:
    case = Case("cli", "report", ["report", "mobilenet", "-o", "out.json"], output="out.json")
    assert {problem.cls for problem in judge(case, outcome)} == classes


def test_a_slow_verify_is_a_hang_only_past_the_executor_time_of_its_work(tmp_path: Path) -> None:
    """A verify that ran for longer than 2 s is given the time its network takes to run at that point,
    measured here; a report gets nothing, nor does a point the network cannot run at."""
    verify = Case("cli", "verify", ["verify", "--res", "160", "mobilenet_v1", "--seed", "3", "--counting", "keras"])
    report = Case("cli", "report", ["report", "mobilenet_v1", "--res", "160"])
    invalid = Case("cli", "verify", ["verify", "mobilenet_v1", "--alpha", "-1"])
    allowance = executed_seconds(verify, tmp_path)
    assert 0 < allowance < 10 and list(tmp_path.iterdir()) == []
    assert executed_seconds(report, tmp_path) == 0.0 and executed_seconds(invalid, tmp_path) == 0.0
    assert {p.cls for p in judge(verify, _outcome(0, seconds=2.0 + allowance / 2, allowance=allowance))} == set()
    assert {p.cls for p in judge(verify, _outcome(0, seconds=2.1 + allowance))} == {"hang"}
    assert {p.cls for p in judge(verify, _outcome(0, seconds=2.1 + allowance, allowance=allowance))} == {"hang"}


# What the long run found (benchmarks/fuzz.py, seed 0), kept as cases: each must give one line and exit 2.
def _onnx_bytes(pads: list[int], op_type: str = "Relu", name: str = "relu") -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], name="conv", kernel_shape=[3, 3], pads=pads),
        helper.make_node(op_type, ["c"], ["output"], name=name),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
        initializer=[weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _npy_unclosed_shape() -> bytes:
    return npy_header("'<f4'", "(1, 3, 32, 32") + bytes(64)


FOUND = [
    pytest.param(["solve", "mobilenet_v2", "--max-macs", "150M", "--step", "１２８"], {}, id="step-fullwidth-digits"),
    pytest.param(["solve", "mobilenet_v2", "--max-macs", "150M", "--res", "3/0"], {}, id="res-3/0"),
    pytest.param(
        ["solve", "squeezenet1_0", "--max-macs", "150M", "--res", "67113", "--res-step", "67113"],
        {},
        id="res-step-past",
    ),
    pytest.param(["run", "tiny.yaml", "--input", "x.npy"], {"x.npy": _npy_unclosed_shape()}, id="npy-header-unclosed"),
    pytest.param(["report", "m.onnx"], {"m.onnx": _onnx_bytes([1, 1])}, id="onnx-conv-pads-of-2"),
    pytest.param(
        ["report", "m.onnx"],
        {"m.onnx": _onnx_bytes([1, 1, 1, 1], op_type="Rxlu").replace(b"Rxlu", b"R\xfflu")},
        id="onnx-op-type-not-utf8",
    ),
    pytest.param(
        ["report", "m.onnx"],
        {"m.onnx": _onnx_bytes([1, 1, 1, 1], name="rxlu").replace(b"rxlu", b"r\xfflu")},
        id="onnx-node-name-not-utf8",
    ),
]


@pytest.mark.parametrize(("args", "files"), FOUND)
def test_found_by_the_long_run(args: list[str], files: dict[str, bytes]) -> None:
    case = Case("found", args[0], args, {"tiny.yaml": TINY_SPEC.encode(), **files})
    outcome, problems = execute(case, mode="inprocess")
    assert not problems, describe(case, outcome, problems)
    assert outcome.returncode == 2, describe(case, outcome, problems)
