"""Every published figure for a built-in model, read from shared/reference/published.json.

Each figure is compared with the count the spec gives, under the convention its source used. A
figure the architecture does not reproduce must be documented as a disagreement in the spec, and the
documented explanation must hold.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from conftest import REFERENCE_DIR

from costmodel import load_model
from costmodel.references import check_references, parse_figure
from costmodel.resources import builtin_names

PUBLISHED = REFERENCE_DIR / "published.json"
BUILTIN = set(builtin_names())
# shared/reference's names for operator types -> this tool's labels
TYPE_NAMES = {"conv1x1": "conv1x1", "conv_dw3x3": "conv_dw3x3", "conv3x3_full": "conv3x3", "fc": "fc"}


def _rows() -> list[dict]:
    return [row for row in json.loads(PUBLISHED.read_text()) if row["model"] in BUILTIN]


ROWS = _rows()


def test_the_published_figures_ship_with_the_tests() -> None:
    assert len(ROWS) >= 20, f"{PUBLISHED} holds {len(ROWS)} rows of built-in models"


def _id(row: dict) -> str:
    variant = f"-{row['variant']}" if "variant" in row else ""
    return f"{row['model']}{variant}-{row['alpha']}-{row['resolution']}-{row['source'][:40]}"


def _costs(row: dict, counting: str):
    model = load_model(row["model"], row.get("variant"))
    values = {"alpha": str(row["alpha"])} if "alpha" in model.spec.symbols else {}
    point = model.point(resolution=row["resolution"], values=values)
    return model, point, model.costs(point, counting)


def _documented_disagreement(model, point, figure: str, text: str) -> bool:
    """The spec has a reference row at this point with this figure, a disagreement and a passing check."""
    for row in model.spec.reference:
        row_point = dict(row.get("point") or {})
        same_point = (
            Fraction(str(row_point.get("alpha", 1))) == point.values.get("alpha", 1)
            and row_point.get("resolution", 224) == point.resolution
        )
        if same_point and "disagreement" in row and str(row.get(figure)) == text:
            return True
    return False


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_published_figure(row: dict) -> None:
    checked = 0
    if "macs_millions" in row:
        model, point, costs = _costs(row, "paper")
        for key, metric in (("macs_millions", "macs"), ("params_millions", "params")):
            if key not in row:
                continue
            text = f"{row[key]}M"
            figure = parse_figure(text)
            actual = getattr(costs, metric)
            assert figure.matches(actual) or _documented_disagreement(model, point, metric, text), (
                f"{metric} {actual:,} does not round to {text} and the spec documents no disagreement"
            )
            checked += 1
    exact = {
        "macs": ("torchvision", lambda c: c.macs),
        "macs_without_fc": ("torchvision", lambda c: sum(layer.macs for layer in c.layers if layer.label != "fc")),
        "params_weights_only": ("weights", lambda c: c.params),
        "params_weights_and_biases": ("paper", lambda c: c.params),
        "params_trainable": ("torchvision", lambda c: c.params),
        "params_total": ("keras", lambda c: c.params),
        "params_non_trainable": ("keras", lambda c: c.params_by_kind["norm_stats"]),
        "params": ("torchvision", lambda c: c.params),
    }
    for key, (counting, get) in exact.items():
        if key in row:
            _, _, costs = _costs(row, counting)
            assert get(costs) == row[key], key
            checked += 1
    if "gmacs_3dp" in row:
        _, _, costs = _costs(row, "torchvision")
        assert round(costs.macs / 1e9, 3) == row["gmacs_3dp"]
        checked += 1
    if "min_input" in row:
        model, point, _ = _costs(row, "torchvision")
        assert model.min_resolution(point) == row["min_input"]
        checked += 1
    if "params_by_layer" in row:
        _, _, costs = _costs(row, "paper")
        for layer, value in row["params_by_layer"].items():
            assert costs.prefix_sum(layer, "params") == value, layer
        checked += 1
    if "share_by_type" in row:
        _, _, costs = _costs(row, "weights")
        by_type = costs.by_op_type()
        for name, shares in row["share_by_type"].items():
            label = TYPE_NAMES[name]
            for metric in ("macs", "params"):
                share = 100 * by_type[label][metric] / getattr(costs, metric)
                assert round(share, 2) == shares[f"{metric}_pct"], (name, metric, share)
        checked += 1
    assert checked, f"no figure of this row was checked: {sorted(row)}"


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_spec_reference_rows_pass(name: str) -> None:
    checks = check_references(load_model(name))
    failures = [c for c in checks if not c.ok]
    assert not failures, failures


def test_every_published_point_has_a_spec_row() -> None:
    """The specs carry the published figures themselves, not only this test."""
    missing = []
    for row in ROWS:
        model = load_model(row["model"])
        points = set()
        for ref in model.spec.reference:
            p = dict(ref.get("point") or {})
            points.add((ref.get("variant"), Fraction(str(p.get("alpha", 1))), p.get("resolution", 224)))
        if (row.get("variant"), Fraction(str(row["alpha"])), row["resolution"]) not in points:
            missing.append(_id(row))
    assert not missing, missing


def test_disagreement_rows_really_disagree() -> None:
    """A disagreement row whose plain figure started to match would hide a changed spec."""
    model = load_model("mobilenet_v1")
    noted = [c for c in check_references(model) if c.note]
    assert {c.expected for c in noted} == {"290M", "76M"}
    assert all(c.ok for c in noted)
