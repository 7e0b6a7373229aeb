"""solve and pick against counting the networks: the answer fits, the next step breaks the binding
bound, nothing larger on the grid fits; the pick is the most accurate configuration that fits."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from click.testing import CliRunner

from costmodel import load_model
from costmodel.budget import Bound, parse_quantity, solve
from costmodel.cli import main
from costmodel.costs import BYTES_PER_VALUE, activation_memory
from costmodel.errors import UsageError
from costmodel.model import Model, Point
from costmodel.pick import pick
from costmodel.resources import builtin_names

WIDTH_MODELS = [n for n in builtin_names() if load_model(n).roles.width is not None]
FIXED_WIDTH_MODELS = [n for n in builtin_names() if load_model(n).roles.width is None]


def counted(model: Model, point: Point, metric: str, dtype: str = "int8") -> int:
    """The metric by counting the network at the point (not through the compiled forms)."""
    costs = model.costs(point)
    if metric == "size":
        return int(costs.params) * BYTES_PER_VALUE[dtype]
    if metric == "peak_memory":
        return activation_memory(costs)["peak_bytes"]
    return int(getattr(costs, metric))


@pytest.mark.parametrize("metric", ["macs", "params", "size", "peak_memory"])
@pytest.mark.parametrize("name", WIDTH_MODELS)
def test_solve_for_alpha_meets_every_bound_and_stops_at_the_edge(name: str, metric: str) -> None:
    model = load_model(name)
    limit = counted(model, model.point(alpha="0.6", resolution=193), metric)
    bounds = [Bound(metric, limit, str(limit))]
    answer = solve(model, bounds, resolution=193, dtype="int8", step="0.001", alpha_max="2")
    assert counted(model, answer.point, metric) <= limit
    assert answer.value >= Fraction(6, 10)
    above = model.point(alpha=str(answer.next_value), resolution=193)
    assert counted(model, above, metric) > limit and answer.binding == [metric]
    for k in range(int(answer.value * 1000) + 50, 2001, 100):  # nothing larger on the grid fits
        assert counted(model, model.point(alpha=f"{k}/1000", resolution=193), metric) > limit, k


@pytest.mark.parametrize("metric", ["macs", "peak_memory"])
@pytest.mark.parametrize("name", [*FIXED_WIDTH_MODELS, "mobilenet_v2"])
def test_solve_for_the_resolution_meets_every_bound_and_stops_at_the_edge(name: str, metric: str) -> None:
    model = load_model(name)
    alpha = "0.75" if model.roles.width else None
    limit = counted(model, model.point(alpha=alpha, resolution=181), metric)
    answer = solve(model, [Bound(metric, limit, str(limit))], alpha=alpha, resolution_max=600)
    assert answer.value >= 181 and counted(model, answer.point, metric) <= limit
    assert counted(model, model.point(alpha=alpha, resolution=answer.value + 1), metric) > limit
    assert answer.binding == [metric]
    for side in range(answer.value + 7, 601, 37):
        assert counted(model, model.point(alpha=alpha, resolution=side), metric) > limit, side


def test_two_bounds_report_the_one_that_binds_and_the_slack_of_the_other() -> None:
    model = load_model("mobilenet")
    answer = solve(model, [Bound("macs", 150_000_000, "150M"), Bound("params", 3_000_000, "3M")], resolution=160)
    assert answer.value == Fraction(712, 1000) and answer.binding == ["macs"]
    assert answer.costs["macs"] == model.costs(answer.point).macs <= 150_000_000
    assert 0 < answer.slack(answer.bounds[1]) < 1


@pytest.mark.parametrize(
    ("text", "in_bytes", "value"),
    [("150M", False, 150_000_000), ("1.5M", False, 1_500_000), ("2K", False, 2000), ("5MB", True, 5_000_000)],
)
def test_quantities_read_their_units(text: str, in_bytes: bool, value: int) -> None:
    assert parse_quantity(text, "--max", in_bytes) == value


def test_bytes_units() -> None:
    assert parse_quantity("2MiB", "--max-size", True) == 2 * 2**20
    assert parse_quantity("1GiB", "--max-size", True) == 2**30
    with pytest.raises(UsageError, match="unknown unit"):
        parse_quantity("5MiB", "--max-macs", False)
    with pytest.raises(UsageError):
        parse_quantity("lots", "--max-macs")


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_solve_on_the_command_line() -> None:
    data = json.loads(run("solve", "mobilenet", "--max-macs", "150M", "--res", "160", "--format", "json").stdout)
    assert data["value"] == "0.712" and data["binding"] == ["macs"] and data["resolution"] == 160
    text = run("solve", "mobilenet", "--max-macs", "150M", "--res", "160").stdout
    assert "0.712" in text and "binds: macs" in text


def test_the_frontier_trades_width_for_resolution() -> None:
    data = json.loads(
        run("solve", "mobilenet", "--max-macs", "150M", "--res-range", "128:224:32", "--format", "json").stdout
    )
    rows = data["frontier"]
    assert [r["resolution"] for r in rows] == [128, 160, 192, 224]
    alphas = [Fraction(r["alpha"]) for r in rows]
    assert alphas == sorted(alphas, reverse=True)
    assert all(r["macs"] <= 150_000_000 for r in rows)


def test_nothing_fits_is_a_user_error() -> None:
    result = CliRunner().invoke(main, ["solve", "mobilenet", "--max-macs", "10", "--res", "160"])
    assert result.exit_code == 2 and result.output.startswith("error: nothing fits")


# -- pick ----------------------------------------------------------------------------------------------


def test_pick_is_the_most_accurate_published_configuration_that_fits() -> None:
    bounds = [Bound("macs", 300_000_000, "300M"), Bound("params", 3_000_000, "3M")]
    ranking = pick(bounds)
    best = ranking.best
    assert best is not None
    model = load_model(best.model, best.variant)
    point = model.point(alpha=None if best.alpha is None else str(best.alpha), resolution=best.resolution)
    costs = model.costs(point)
    assert costs.macs <= 300_000_000 and costs.params <= 3_000_000
    assert best.costs["macs"] == costs.macs and best.costs["params"] == costs.params
    assert best.top1 == max(c.top1 for c in ranking.candidates)
    # every published configuration that fits is in the ranking
    every = pick([Bound("macs", 10**15, "")]).candidates
    fitting = [c for c in every if c.costs["macs"] <= 300_000_000 and c.costs["params"] <= 3_000_000]
    assert {(c.label, c.top1) for c in fitting} == {(c.label, c.top1) for c in ranking.candidates}


def test_dominated_configurations_really_are_dominated() -> None:
    ranking = pick([Bound("macs", 300_000_000, "300M"), Bound("params", 3_000_000, "3M")])
    by_label = {}
    for c in ranking.candidates:
        by_label.setdefault(c.label, []).append(c)
    dominated = [c for c in ranking.candidates if c.dominated_by]
    assert dominated
    for c in dominated:
        others = by_label[c.dominated_by[0]]
        assert any(
            o.top1 >= c.top1 and o.costs["macs"] <= c.costs["macs"] and o.costs["params"] <= c.costs["params"]
            for o in others
        )


def test_pick_on_the_command_line() -> None:
    data = json.loads(run("pick", "--max-macs", "300M", "--max-params", "3M", "--format", "json").stdout)
    assert data["best"]["top1"] == max(c["top1"] for c in data["configurations"])
    assert all(c["macs"] <= 300_000_000 and c["params"] <= 3_000_000 for c in data["configurations"])


def test_answers_are_records_and_tables_in_a_notebook() -> None:
    from costmodel.budget import bounds_from, frontier
    from costmodel.side_by_side import compare
    from costmodel.sweep import sweep

    model = load_model("mobilenet")
    bounds = bounds_from({"macs": "150M"})
    for result in (
        solve(model, bounds, resolution=160),
        frontier(model, bounds, [128, 160]),
        pick(bounds),
        sweep(model, ["0.5", "1"], ["160"], ["macs"]),
        compare(["alexnet", "squeezenet1_0"]),
    ):
        records = result.to_records()
        assert records and all(isinstance(r, dict) for r in records)
        assert result._repr_markdown_().count("\n") >= 3


@pytest.mark.parametrize(
    ("step", "top"),
    [
        (Fraction(1, 1000), Fraction(2)),
        (Fraction(3, 7), Fraction(432)),
        (Fraction(1, 10**30), Fraction(1, 10**26)),  # beyond int64: Python integers
    ],
)
def test_the_alpha_steps_are_the_multiples_of_the_step(step: Fraction, top: Fraction) -> None:
    from costmodel.budget import _Steps
    from costmodel.grid import exact_values

    steps = _Steps(step, top)
    assert len(steps) == int(top / step)
    assert steps[0] == step and steps[-1] == step * len(steps) and steps[1:3] == [2 * step, 3 * step]
    numerators, denominators = steps.exact()
    made = [Fraction(int(n), int(d)) for n, d in zip(numerators, denominators, strict=True)]
    assert made == [Fraction(int(n), int(d)) for n, d in zip(*exact_values(list(steps)), strict=True)]
    with pytest.raises(IndexError):
        steps[len(steps)]
