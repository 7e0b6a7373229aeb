"""The promise kept at the top of the command line: a user's mistake is one line and exit 2, whatever
part of the tool (click or costmodel) finds it; a bug is one line that says so and exit 3."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result

from costmodel import loading
from costmodel.cli import main


def cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def one_error_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "mobilenet", "--format", "bogus"], "error: Invalid value for '--format': 'bogus' is not one of"),
        (["report", "mobilenet", "--bogus"], "error: No such option '--bogus'"),
        (["report"], "error: Missing argument 'MODEL' (see 'main report --help')"),
        (["bogus"], "error: No such command 'bogus'"),
        (["report", "mobilenet", "-o", "."], "error: Invalid value for '-o' / '--output': cannot write .: it is a dir"),
        (["report", "mobilenet", "--alpha"], "error: Option '--alpha' requires an argument"),
        (["run", "mobilenet", "--input", "x.npy", "--top", "0"], "error: Invalid value for '--top'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert one_error_line(result).startswith(message)
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["mobile\nnet", "mobile\x1b[31mnet", "mobile\rnet\x00"])
def test_control_characters_in_a_name_are_shown_escaped(name: str) -> None:
    result = cli("report", name)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "\x1b" not in line and "\r" not in line and "\x00" not in line
    assert "mobile\\" in line


def boom(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("an impossible state")


def test_an_escaping_exception_is_one_line_that_says_it_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "load_model", boom)
    result = cli("report", "mobilenet")
    assert result.exit_code == 3
    line = one_error_line(result)
    assert "internal error (a bug" in line and "ValueError: an impossible state" in line
    assert "test_top_level.py:" in line and "COSTMODEL_DEBUG=1" in line


def test_the_traceback_is_there_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "load_model", boom)
    result = cli("report", "mobilenet", COSTMODEL_DEBUG="1")
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr


def test_an_eof_inside_a_command_is_a_bug_not_an_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    def eof(*args: Any, **kwargs: Any) -> Any:
        raise EOFError

    monkeypatch.setattr(loading, "load_model", eof)
    result = cli("report", "mobilenet")
    assert result.exit_code == 3 and "EOFError" in one_error_line(result) and "Aborted" not in result.output


def test_help_and_version_still_exit_0() -> None:
    assert cli("--help").exit_code == 0
    assert cli("report", "--help").exit_code == 0
    version = cli("--version")
    assert version.exit_code == 0 and "version" in version.stdout


def test_a_huge_message_is_cut_to_one_short_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel.errors import UsageError

    def huge(*args: Any, **kwargs: Any) -> Any:
        raise UsageError("x" * 5_000_000)

    monkeypatch.setattr(loading, "load_model", huge)
    line = one_error_line(cli("report", "mobilenet"))
    assert len(line) < 1100 and line.endswith("(5,000,000 characters, cut)")
