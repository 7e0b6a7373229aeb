"""The limits: one place (costmodel.limits), the README's table equal to it, and COSTMODEL_LIMITS."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from costmodel import limits
from costmodel.cli import main
from costmodel.errors import UsageError
from costmodel.intmath import exact_number
from costmodel.resources import spec_dir

README = Path(__file__).resolve().parents[1] / "README.md"


def _shown(value: int) -> str:
    """How the README writes a default: 10^k for a power of ten past a million, 64M / 2G for sizes."""
    for suffix, size in (("G", 1 << 30), ("M", 1 << 20)):
        if value >= size and value % size == 0:
            return f"{value // size}{suffix}"
    if value > 10**6 and str(value).rstrip("0") == "1":
        return f"10^{len(str(value)) - 1}"
    return f"{value:,}" if value >= 1000 else str(value)


def _documented() -> dict[str, str]:
    """Each limit's docstring, as written under its field in costmodel/limits.py."""
    tree = ast.parse(Path(limits.__file__).read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Limits"]
    docs = {}
    for field_node, doc in zip(cls.body, cls.body[1:], strict=False):
        if isinstance(field_node, ast.AnnAssign) and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
            docs[field_node.target.id] = " ".join(str(doc.value.value).split())  # type: ignore[union-attr]
    return docs


def test_the_readme_table_lists_every_limit_with_its_default_and_meaning() -> None:
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|$", README.read_text(), flags=re.MULTILINE)
    names = {f.name for f in fields(limits.Limits)}
    table = {name: (default.strip(), meaning.strip()) for name, default, meaning in rows if name in names}
    defaults = limits.Limits()
    docs = _documented()
    assert set(docs) == names
    assert table == {name: (_shown(getattr(defaults, name)), docs[name]) for name in names}


def test_the_environment_raises_and_lowers_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.ENVIRONMENT, "digits=5, memory=1G")
    assert limits.current().digits == 5 and limits.current().memory == 1 << 30
    with pytest.raises(limits.LimitError, match=r"past the limit digits=5 \(raise it with COSTMODEL_LIMITS=digits=N\)"):
        exact_number("123456")
    monkeypatch.setenv(limits.ENVIRONMENT, "digits=40")
    assert exact_number("0." + "1" * 35) == Fraction(int("1" * 35), 10**35)  # 35 digits, past the default
    monkeypatch.setenv(limits.ENVIRONMENT, "")
    assert limits.current() == limits.Limits()


@pytest.mark.parametrize("text", ["digits", "digits=", "bogus=3", "digits=-1", "memory=1Q", "digits=" + "9" * 40])
def test_a_malformed_setting_is_a_usage_error(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.ENVIRONMENT, text)
    with pytest.raises(UsageError, match="COSTMODEL_LIMITS: expected name=number pairs"):
        limits.current()


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("1e101", "exponent"),
        ("1e-101", "exponent"),
        ("1" * 31, "digits"),
        ("1e13", "magnitude"),
        ("-1e13", "magnitude"),
    ],
)
def test_numbers_past_a_limit_say_which(text: str, limit: str) -> None:
    with pytest.raises(limits.LimitError, match=f"past the limit {limit}="):
        exact_number(text, "alpha")


@pytest.mark.parametrize("text", ["\u0661", "1\u0660", "inf", "nan", "0x10", "1e", "--1", "1/0x", "16 > 8", "½"])
def test_only_ascii_decimals_and_ratios_are_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        exact_number(text)


@pytest.mark.parametrize(("text", "value"), [("0.75", "3/4"), ("1e-3", "1/1000"), ("3/4", "3/4"), ("1_000", "1000")])
def test_ordinary_numbers_are_exact(text: str, value: str) -> None:
    assert exact_number(text) == Fraction(value)


@pytest.mark.parametrize(
    ("setting", "args", "message"),
    [
        ("pool_side=5", ["report", "alexnet"], "output side of an adaptive pool (6): past the limit pool_side=5"),
        ("pool_side=6", ["report", "alexnet"], None),
        ("formula_nodes=3", ["expr", "mobilenet_v3_large", "--format", "json"], "past the limit formula_nodes=3"),
    ],
)
def test_the_shape_and_formula_limits_are_limits_like_the_others(
    setting: str, args: list[str], message: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The adaptive pool's output side and the size of a written-out condition are read from the same
    table as every other limit, and say how to raise them."""
    spec = tmp_path / f"{args[1]}.yaml"  # a copy: a model read before, under other limits, is kept
    spec.write_text((spec_dir() / spec.name).read_text())
    monkeypatch.setenv(limits.ENVIRONMENT, setting)
    result = CliRunner().invoke(main, [args[0], str(spec), *args[2:]])
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "COSTMODEL_LIMITS=" in lines[0], lines
