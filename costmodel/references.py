"""Published figures kept in a spec's ``reference:`` rows, and checking them against the counts.

A figure written as an integer is exact. A figure written as printed (``"569M"``, ``"4.2M"``,
``"0.819G"``, ``94.86``) matches when the count rounds to it: the tolerance is half a unit of its last
printed digit, so the row carries its own precision. A row whose figure the architecture does not
reproduce says so (``disagreement:``) and names the convention that does (``explained_by:``); each
figure must then match plainly or under the explanation, and a row whose figures all match plainly
fails as a stale disagreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from costmodel import limits
from costmodel.costs import Costs
from costmodel.errors import SpecError, UsageError, did_you_mean
from costmodel.model import Model, Point
from costmodel.spec import FIGURES
from costmodel.yamlfile import Located

UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}
_PRINTED = re.compile(r"^([0-9]+(?:\.([0-9]+))?)(?:[eE]([+-]?[0-9]+))?\s*([KMG]?)$")


@dataclass(frozen=True)
class Figure:
    """A published number: its exact value, or a printed value with its rounding tolerance."""

    text: str
    value: Fraction
    tolerance: Fraction  # 0 = exact

    def matches(self, actual: Any, truncated: bool = False) -> bool:
        """Whether ``actual`` prints as this figure (rounded, or cut off when ``truncated``)."""
        if truncated and self.tolerance:
            return self.value <= Fraction(actual) < self.value + 2 * self.tolerance
        return abs(Fraction(actual) - self.value) <= self.tolerance


def parse_figure(raw: Any) -> Figure:
    if isinstance(raw, bool):
        raise ValueError(f"not a figure: {raw!r}")
    if isinstance(raw, int):
        return Figure(str(raw), Fraction(raw), Fraction(0))
    text = repr(raw) if isinstance(raw, float) else str(raw).strip().replace(",", "")
    match = _PRINTED.match(text)
    if not match:
        raise ValueError(f"not a figure: {raw!r} (write 4231976, '4.2M', '569e6', '0.819G' or 94.86)")
    digits, decimals, exponent, unit = match.group(1), match.group(2) or "", match.group(3), match.group(4)
    bound = limits.current()
    if len(digits.replace(".", "").lstrip("0")) > bound.digits:
        raise limits.exceeded("digits", f"the figure {text[:20]}…")
    if exponent is not None and abs(int(exponent)) > bound.exponent:
        raise limits.exceeded("exponent", f"the figure {text[:30]}")
    scale = Fraction(UNITS[unit]) * Fraction(10) ** int(exponent or 0)
    value = Fraction(digits) * scale
    tolerance = Fraction(scale, 2 * 10 ** len(decimals))
    if not unit and not decimals and exponent is None and isinstance(raw, str):
        tolerance = Fraction(0)
    return Figure(str(raw), value, tolerance)


@dataclass(frozen=True)
class Check:
    """One figure of one reference row, compared."""

    line: int
    source: str
    figure: str
    expected: str
    actual: Any
    ok: bool
    note: str = ""


def _point(model: Model, row: Located, file: str) -> Point:
    raw = row.get("point") or {}
    if not isinstance(raw, dict):
        raise SpecError("reference point must be a mapping", file=file, line=row.line_of("point"))
    values = dict(raw)
    resolution = values.pop("resolution", None)
    try:
        return model.point(resolution=resolution, values=values)
    except UsageError as err:
        raise SpecError(f"reference point: {err.message}", file=file, line=row.line_of("point")) from None


def _filtered(costs: Costs, exclude: list[str], metric: str) -> Any:
    labels = {layer.label for layer in costs.layers}
    for label in exclude:
        if label not in labels:
            raise ValueError(f"exclude: no layers of type '{label}'{did_you_mean(label, labels)}")
    return sum((getattr(layer, metric) for layer in costs.layers if layer.label not in exclude), 0)


def _compare(
    model: Model,
    row: Located,
    point: Point,
    counting: str,
    exclude: list[str],
    macs_factor: int = 1,
    truncated: bool = False,
) -> list[tuple[str, str, Any, bool]]:
    """(figure, expected text, actual, ok) for every figure in the row.

    ``macs_factor`` 2 reads a MAC figure as FLOPs; ``truncated`` lets printed figures be cut off
    rather than rounded."""
    file = model.spec.file
    try:
        costs = model.costs(point, counting)
    except UsageError as err:
        raise SpecError(f"reference counting: {err.message}", file=file, line=row.line_of("counting")) from None
    results = []
    for key in FIGURES:
        if key not in row:
            continue
        raw = row[key]
        line = row.line_of(key)
        try:
            if key in ("params", "macs", "flops"):
                metric = "macs" if key == "flops" else key
                factor = 2 if key == "flops" else macs_factor if key == "macs" else 1
                actual = _filtered(costs, exclude, metric) * factor
                figure = parse_figure(raw)
                results.append((key, figure.text, actual, figure.matches(actual, truncated)))
            elif key == "min_resolution":
                actual = model.min_resolution(point)
                results.append((key, str(raw), actual, actual == raw))
            elif key == "params_by_layer":
                for layer, value in raw.items():
                    actual = costs.prefix_sum(layer, "params")
                    figure = parse_figure(value)
                    results.append((f"params[{layer}]", figure.text, actual, figure.matches(actual)))
            elif key == "share":
                by_type = costs.by_op_type()
                totals = {m: sum((r[m] for r in by_type.values()), 0) for m in ("params", "macs")}
                for label, shares in raw.items():
                    if label not in by_type:
                        raise ValueError(f"no layers of type '{label}'{did_you_mean(label, by_type)}")
                    for metric, value in shares.items():
                        if metric not in totals:
                            raise ValueError(f"share of '{metric}': only params and macs")
                        actual = Fraction(by_type[label][metric] * 100, totals[metric])
                        figure = parse_figure(value)
                        results.append(
                            (f"{metric} share[{label}] %", figure.text, float(actual), figure.matches(actual))
                        )
        except (ValueError, TypeError, AttributeError) as err:
            raise SpecError(f"reference {key}: {err}", file=file, line=line) from None
    return results


def check_references(model: Model) -> list[Check]:
    """Compare every reference row of a model's spec with its counts."""
    base = model.with_variant(None)
    spec = base.spec
    checks: list[Check] = []
    for row in spec.reference:  # keys and kinds were checked as the spec was read
        source = str(row.get("source", ""))
        try:
            model = base.with_variant(row.get("variant"))
        except SpecError as err:
            raise err.located(file=spec.file, line=row.line_of("variant")) from None
        counting = str(row.get("counting", "torchvision"))
        exclude = list(row.get("exclude") or [])
        point = _point(model, row, spec.file)
        results = _compare(model, row, point, counting, exclude)
        if "explained_by" in row and "disagreement" not in row:
            raise SpecError(
                "explained_by goes with a disagreement: say what disagrees",
                file=spec.file,
                line=row.line_of("explained_by"),
            )
        if "disagreement" in row:
            checks.extend(_disagreement_checks(model, row, point, counting, exclude, results, source))
            continue
        for figure, expected, actual, ok in results:
            checks.append(Check(row.line, source, figure, expected, actual, ok, str(row.get("note", ""))))
    return checks


def _disagreement_checks(
    model: Model, row: Located, point: Point, counting: str, exclude: list[str], results: list, source: str
) -> list[Check]:
    """A figure that does not match plainly must match under the explanation; a row where every
    figure matches plainly is a stale disagreement and fails, so a changed spec cannot hide."""
    explained = row.get("explained_by")
    if not isinstance(explained, Located) or not explained:
        raise SpecError(
            "a disagreement row needs explained_by: {exclude: [...]} or {counting: ...}",
            file=model.spec.file,
            line=row.line_of("disagreement"),
        )
    if explained.get("metric", "macs") not in ("macs", "flops") or explained.get("rounding", "down") != "down":
        raise SpecError(
            "explained_by takes metric: flops (a MAC figure that is really FLOPs) and rounding: down",
            file=model.spec.file,
            line=explained.line,
        )
    alternative = _compare(
        model,
        row,
        point,
        str(explained.get("counting", counting)),
        list(explained.get("exclude") or exclude),
        macs_factor=2 if explained.get("metric") == "flops" else 1,
        truncated="rounding" in explained,
    )
    architecture = explained.get("architecture") or {}
    if architecture:
        # No convention reproduces the figure: the row states what the architecture really costs,
        # exactly, and that statement is what is checked.
        alternative = [
            (figure, expected, actual, figure in architecture and architecture[figure] == actual)
            for figure, expected, actual, _ in results
        ]
    stale = all(ok for _, _, _, ok in results)
    checks = []
    for (figure, expected, actual, ok), (_, _, explained_actual, explained_ok) in zip(
        results, alternative, strict=True
    ):
        if stale:
            checks.append(
                Check(
                    row.line,
                    source,
                    figure,
                    expected,
                    actual,
                    False,
                    "recorded as a disagreement, but every figure now matches: remove the disagreement",
                )
            )
        elif ok:
            checks.append(Check(row.line, source, figure, expected, actual, True))
        else:
            shown = f"{explained_actual:,}" if isinstance(explained_actual, int) else f"{explained_actual:.4g}"
            note = f"{row['disagreement']} (explained: {shown})"
            checks.append(Check(row.line, source, figure, expected, actual, explained_ok, note))
    return checks
