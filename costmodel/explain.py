"""Which convention produced a number someone saw: ``costmodel explain MODEL 589.0M``.

A printed count carries its precision (``589.0M`` is 588.95 M to 589.05 M); every operation-count
convention (the paper's and each PyTorch tool's), read as MACs or as FLOPs (2 × MACs), with the batch
norms as they are or folded, and every parameter preset is tried at the point, and those whose exact
count prints as the number are the explanation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from costmodel import conventions
from costmodel.conventions import Counting
from costmodel.errors import UsageError
from costmodel.macs_conventions import CONVENTIONS
from costmodel.model import Model, Point
from costmodel.render import si

PREFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "T": 10**12}
OPS_WORDS = {"mac", "macs", "mult-adds", "multadds", "madds", "madd", "adds", "mults", "mult-add", "ops"}
FLOPS_WORDS = {"flop", "flops"}
PARAMS_WORDS = {"param", "params", "parameters", "parameter", "weights"}
_NUMBER = re.compile(
    r"^\s*(?P<digits>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE](?P<exp>[+-]?\d{1,3}))?"
    r"\s*(?P<prefix>[kKMGBT]?)\s*(?P<word>[A-Za-z-]*)\s*$"
)
MAX_TEXT = 64


@dataclass(frozen=True)
class Seen:
    """A number as printed: the interval of exact values that print as it, and what it counts."""

    text: str
    low: Fraction
    high: Fraction
    value: Fraction
    kinds: tuple[str, ...]  # of "macs", "flops", "params": the readings worth trying
    digits: int  # significant digits printed


def parse_seen(text: str) -> Seen:
    """``589.0M``, ``0.59 G``, ``1.18 GFLOPs``, ``4.23M params``, ``568,740,352``, ``5.69e8 MACs``."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"'{text[:20]}...' is not a count (at most {MAX_TEXT} characters)")
    match = _NUMBER.match(text)
    if match is None:
        raise UsageError(f"'{text}' is not a count such as 589.0M, 0.59 G, 1.18 GFLOPs or 4.23M params")
    digits = match["digits"].replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    prefix, word = _unit(match["prefix"], match["word"])
    scale = Fraction(PREFIXES[prefix]) * Fraction(10) ** int(match["exp"] or 0)
    value = Fraction(digits) * scale
    half = Fraction(1, 2) * Fraction(1, 10**decimals) * scale
    if word in OPS_WORDS or word in FLOPS_WORDS:
        kinds: tuple[str, ...] = ("macs", "flops")  # tools' "FLOPs" are often MACs (fvcore's): both readings
    elif word in PARAMS_WORDS:
        kinds = ("params",)
    elif word == "":
        kinds = ("macs", "flops", "params")
    else:
        raise UsageError(f"'{text}': unknown unit '{match['word']}' (MACs, FLOPs or params)")
    significant = len(digits.replace(".", "").lstrip("0")) or 1
    return Seen(text.strip(), value - half, value + half, value, kinds, significant)


def _unit(prefix: str, word: str) -> tuple[str, str]:
    """(prefix, unit word): "M", "MACs" read as M + "macs"; "", "MACs" as "macs"; "gflops" as G + "flops"."""
    known = OPS_WORDS | FLOPS_WORDS | PARAMS_WORDS | {""}
    for p, w in ((prefix, word.lower()), ("", (prefix + word).lower())):
        if w in known:
            return p, w
        if not p and w[:1] in ("k", "m", "g", "t") and w[1:] in OPS_WORDS | FLOPS_WORDS:
            return w[0].upper(), w[1:]
    return prefix, word.lower()


@dataclass(frozen=True)
class Reading:
    """One way of counting at the point: its exact value and how it differs from the paper's."""

    kind: str  # macs, flops or params
    convention: str  # a MACs convention, or a parameter preset for params
    folded: bool
    value: int
    paper: int  # the same reading under the paper's convention (or the paper's parameter preset)
    lines: tuple[tuple[int, str], ...]  # (amount, why) that make up value - paper

    @property
    def label(self) -> str:
        if self.kind == "params":
            return f"params counted as '{self.convention}'"
        words = f"'{self.convention}' convention, read as {'FLOPs = 2 × MACs' if self.kind == 'flops' else 'MACs'}"
        return words + (", batch norms folded (--counting folded)" if self.folded else "")


@dataclass
class Explanation:
    seen: Seen
    matches: list[Reading] = field(default_factory=list)
    nearest: list[Reading] = field(default_factory=list)


def readings(model: Model, point: Point, kinds: tuple[str, ...]) -> list[Reading]:
    """Every reading of ``kinds`` at ``point``."""
    found: list[Reading] = []
    costs_of = _counter(model, point)
    if "macs" in kinds or "flops" in kinds:
        unfolded: dict[str, int] = {}
        for preset in ("torchvision", "folded"):
            base = conventions.get_counting(preset)
            paper = costs_of(base)
            for name in CONVENTIONS:
                costs = costs_of(base.with_macs(name))
                lines = tuple(
                    (int(row["added"]), f"{op}: {row['why']}")
                    for op, row in costs.added_by_rule().items()
                    if row["added"]
                )
                if base.fold_norms and int(costs.macs) == unfolded[name]:
                    continue  # folding changes nothing this convention counts (no norms, or the paper's)
                unfolded[name] = int(costs.macs)
                for kind in ("macs", "flops"):
                    if kind in kinds:
                        factor = 2 if kind == "flops" else 1
                        found.append(
                            Reading(
                                kind,
                                name,
                                base.fold_norms,
                                factor * int(costs.macs),
                                factor * int(paper.macs),
                                tuple((factor * amount, why) for amount, why in lines),
                            )
                        )
    if "params" in kinds:
        paper = costs_of("paper")
        for counted in conventions.PRESETS.values():
            costs = costs_of(counted)
            found.append(
                Reading(
                    "params",
                    counted.name,
                    counted.fold_norms,
                    int(costs.params),
                    int(paper.params),
                    _params_lines(costs, paper),
                )
            )
    return found


_KIND_WORDS = {
    "weights": "weights",
    "biases": "biases",
    "norm_affine": "batch-norm gamma and beta",
    "norm_stats": "batch-norm running mean and variance",
}


def _params_lines(costs: Any, paper: Any) -> tuple[tuple[int, str], ...]:
    """A parameter preset's difference from the paper's, by kind of weight array (the lines add up to it)."""
    from costmodel.costs import BREAKDOWN_NAMES

    lines = []
    counted: Counting = costs.counting
    for kind, name in BREAKDOWN_NAMES.items():
        mine = int(costs.params_by_kind[kind]) if kind in counted.kinds else 0
        theirs = int(paper.params_by_kind[kind]) if kind in paper.counting.kinds else 0
        if mine != theirs:
            lines.append((mine - theirs, _KIND_WORDS[name]))
    rest = int(costs.params) - int(paper.params) - sum(amount for amount, _ in lines)
    if rest:  # folded: a norm that cannot fold keeps its gamma and beta
        lines.append((rest, "gamma and beta of batch norms that cannot fold"))
    return tuple(lines)


ALL_KINDS = ("macs", "flops", "params")


def explain(model: Model, point: Point, text: str, known: Sequence[Reading] | None = None) -> Explanation:
    """The readings at ``point`` that print as ``text``, or (none matching) the nearest few. ``known``
    are ``readings(model, point, ALL_KINDS)`` already made, for several numbers at one point."""
    seen = parse_seen(text)
    every = readings(model, point, seen.kinds) if known is None else [r for r in known if r.kind in seen.kinds]
    unique: dict[tuple[str, int], Reading] = {}
    explanation = Explanation(seen)
    for reading in every:
        if seen.low <= reading.value <= seen.high:
            explanation.matches.append(reading)
        unique.setdefault((reading.kind, reading.value), reading)
    if not explanation.matches:
        ranked = sorted(unique.values(), key=lambda r: abs(Fraction(r.value) - seen.value))
        explanation.nearest = ranked[:3]
    return explanation


def _counter(model: Model, point: Point) -> Any:
    """Counts at ``point`` under any counting, on one network whose layers are each worked out once
    (a model remembers only a few counts: eight conventions and two presets would count afresh)."""
    from costmodel.costs import count

    network = model.network(point)
    seen: dict[Any, tuple[Any, ...]] = {}

    def costs_of(counting: Counting | str) -> Any:
        return count(network, conventions.get_counting(counting), seen)

    return costs_of


def side_by_side(model: Model, point: Point, counting: Counting) -> list[dict[str, Any]]:
    """Every MACs convention's total at ``point`` (parameters as ``counting``): the whole spread."""
    costs_of = _counter(model, point)
    paper = int(costs_of(counting.with_macs("paper")).macs)
    rows = []
    for name, convention in CONVENTIONS.items():
        macs = int(costs_of(counting.with_macs(name)).macs)
        rows.append(
            {
                "convention": name,
                "tool": convention.tool,
                "macs": macs,
                "flops": 2 * macs,
                "added": macs - paper,
                "added_percent": round((macs - paper) / paper * 100, 2) if paper else None,
            }
        )
    return rows


def side_by_side_grid(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The rows as table cells."""
    body = [
        [
            r["convention"],
            f"{r['macs']:,}",
            si(r["macs"]),
            si(r["flops"]),
            f"{r['added']:+,}",
            "" if r["added_percent"] is None else f"{r['added_percent']:+.2f} %",
            r["tool"],
        ]
        for r in rows
    ]
    return ["convention", "MACs", "≈", "FLOPs (2×) ≈", "vs paper", "vs paper %", "measured on"], body


def render_text(model: Model, point: Point, explanation: Explanation, where: str) -> str:
    """What ``costmodel explain`` prints."""
    seen = explanation.seen
    out = [
        f"{seen.text} on {model.name} at {where}: an exact count from {_plain(seen.low)} to {_plain(seen.high)}"
        f" prints as it ({seen.digits} significant digit{'s' if seen.digits != 1 else ''})."
    ]
    if not explanation.matches:
        out.append("no match: no convention, reading or counting preset gives a number that prints as it.")
        out.append("nearest:")
        for reading in explanation.nearest:
            off = (Fraction(reading.value) - seen.value) / seen.value * 100 if seen.value else Fraction(0)
            out.append(f"  {reading.value:,} ({float(off):+.2f} %): {reading.label}")
        return "\n".join(out) + "\n"
    out.append(f"{len(explanation.matches)} match{'es' if len(explanation.matches) != 1 else ''}:")
    for reading in explanation.matches:
        out.append(f"  {reading.value:,}: {reading.label}")
        if reading.kind != "params":
            tool = CONVENTIONS[reading.convention].tool
            out.append(f"    ({tool})")
        base = (
            "paper's MACs"
            if reading.kind == "macs"
            else "paper's FLOPs"
            if reading.kind == "flops"
            else "paper's params"
        )
        out.append(f"    = {reading.paper:,} ({base})")
        for amount, why in reading.lines:
            out.append(f"    {'+' if amount >= 0 else '-'} {abs(amount):,} ({si(abs(amount))}): {why}")
    return "\n".join(out) + "\n"


def to_record(explanation: Explanation) -> dict[str, Any]:
    """The JSON form."""

    def reading(r: Reading) -> dict[str, Any]:
        return {
            "kind": r.kind,
            "convention": r.convention,
            "folded": r.folded,
            "value": r.value,
            "paper": r.paper,
            "differences": [{"amount": amount, "why": why} for amount, why in r.lines],
        }

    seen = explanation.seen
    return {
        "seen": seen.text,
        "low": float(seen.low),
        "high": float(seen.high),
        "matches": [reading(r) for r in explanation.matches],
        "nearest": [reading(r) for r in explanation.nearest],
    }


def _plain(value: Fraction) -> str:
    return f"{int(value):,}" if value.denominator == 1 else f"{float(value):,.1f}"
