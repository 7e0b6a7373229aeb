"""Published ImageNet accuracy: every row of shared/reference/accuracy.json is in its spec, and reports
show the rows for exactly the configuration asked for (and none for a head other than 1000 classes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REFERENCE_DIR

from costmodel import load_model
from costmodel.cli import main
from costmodel.report import report_context
from costmodel.resources import builtin_names

ACCURACY = REFERENCE_DIR / "accuracy.json"
BUILTIN = set(builtin_names())
NUMBERS = ("resolution", "top1", "top5", "latency_ms")


def _rows() -> list[dict[str, Any]]:
    return [row for row in json.loads(ACCURACY.read_text()) if row["model"] in BUILTIN]


ROWS = _rows()


def test_the_published_accuracy_ships_with_the_tests() -> None:
    assert len(ROWS) >= 20, f"{ACCURACY} holds {len(ROWS)} rows of built-in models"


def _id(row: dict[str, Any]) -> str:
    variant = f"-{row['variant']}" if "variant" in row else ""
    return f"{row['model']}{variant}-{row['alpha']}-{row['resolution']}-{row['top1']}-{row['source'][:30]}"


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type: 51 is not 51.0, and null is only null."""
    return type(a) is type(b) and a == b


def _matches(spec_row: Any, row: dict[str, Any], has_alpha: bool) -> bool:
    if spec_row.get("source") != row["source"]:
        return False
    if "variant" in row and spec_row.get("variant") != row["variant"]:  # rows that name one
        return False
    if has_alpha and not _same(spec_row.get("alpha"), row["alpha"]):
        return False
    return all(_same(spec_row.get(key), row[key]) for key in NUMBERS)


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_published_row_is_in_spec(row: dict[str, Any]) -> None:
    model = load_model(row["model"])
    has_alpha = "alpha" in model.spec.symbols
    if not has_alpha:
        assert row["alpha"] == 1.0, "a model without a width multiplier has only alpha 1 rows"
    found = [r for r in model.spec.accuracy if _matches(r, row, has_alpha)]
    assert len(found) == 1, f"{row} is in {model.spec.file} {len(found)} times"


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_spec_has_only_published_rows(name: str) -> None:
    expected = [row for row in ROWS if row["model"] == name]
    spec_rows = load_model(name).spec.accuracy
    assert len(spec_rows) == len(expected)
    for spec_row in spec_rows:
        assert set(spec_row) <= {"alpha", "variant", "source", *NUMBERS}


def _top1(name: str, variant: str | None = None, **point: Any) -> list[float]:
    model = load_model(name, variant=variant)
    return [row["top1"] for row in report_context(model, model.point(**point))["accuracy"]]


def test_report_shows_paper_and_keras_rows() -> None:
    top1 = _top1("mobilenet_v1", alpha="0.75", resolution=224)
    assert 68.4 in top1  # Howard et al. 2017 (and TF-slim)
    assert 68.412 in top1  # keras-applications


@pytest.mark.parametrize(
    "point",
    [{"alpha": "0.6"}, {"alpha": "0.75", "resolution": 200}, {"alpha": "0.75", "classes": 10}],
    ids=["unpublished-alpha", "unpublished-resolution", "10-classes"],
)
def test_report_has_no_row_elsewhere(point: dict[str, Any]) -> None:
    assert _top1("mobilenet_v1", **point) == []


def test_v3_alpha_075_rows_belong_to_keras_layout() -> None:
    # torchvision's alpha = 0.75 MobileNetV3 is a different (smaller) network from the paper's
    assert _top1("mobilenet_v3_large", alpha="0.75") == []
    assert _top1("mobilenet_v3_large", variant="keras", alpha="0.75") == [73.3, 73.3, 73.3]
    assert 75.274 in _top1("mobilenet_v3_large", variant="keras")  # alpha 1: the layouts agree


def test_cli_json_report_has_accuracy() -> None:
    args = ["report", "mobilenet_v2", "--alpha", "0.35", "--res", "96", "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    accuracy = json.loads(result.output)["accuracy"]
    assert [row["top1"] for row in accuracy] == [45.5]
    assert accuracy[0]["top5"] == 70.4 and accuracy[0]["latency_ms"] == 4.5
