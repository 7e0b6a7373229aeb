"""A model: a spec, its expanded graph, and the points it can be evaluated at.

This is the Python API behind every command::

    from costmodel import load_model       # by name, spec file or ONNX file (costmodel.loading)
    model = load_model("mobilenet")
    point = model.point(alpha="0.75", resolution=192)
    costs = model.costs(point)            # exact integers
    symbolic.closed_form(model, "macs")   # sympy, exact at every valid point (costmodel.symbolic)
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from costmodel import conventions, intmath
from costmodel.conventions import Counting
from costmodel.costs import Costs, count
from costmodel.errors import SpecError, UsageError, did_you_mean
from costmodel.evaluation import evaluate
from costmodel.expansion import expand
from costmodel.expressions import ExpressionError, mapping_lookup
from costmodel.graph import Network, Structure
from costmodel.intmath import exact_number
from costmodel.spec import CLASSES_SYMBOL, WIDTH_SYMBOL, Roles, Spec, compile_expr, read_spec

TOO_SMALL = "too small"


@dataclass(frozen=True)
class Point:
    """Exact values for every symbol of a model, and the input side they give."""

    values: dict[str, Fraction]
    resolution: int | None  # the input side; its height where the input is not square
    width: int | None = None  # the input's width where it differs from its height

    def get(self, name: str) -> Fraction | None:
        return self.values.get(name)

    @property
    def label(self) -> str | None:
        """The input as people write it: ``224``, or ``224x160`` (height × width) where not square."""
        if self.resolution is None:
            return None
        return str(self.resolution) if self.width is None else f"{self.resolution}x{self.width}"

    @property
    def symbols_text(self) -> str:
        """Every symbol's value as a heading shows it: ``alpha=3/4, rho=6/7, num_classes=1000``."""
        return ", ".join(f"{name}={value}" for name, value in self.values.items())

    @property
    def sides(self) -> tuple[int, int] | None:
        """(height, width) of the input."""
        if self.resolution is None:
            return None
        return self.resolution, self.resolution if self.width is None else self.width


@dataclass(frozen=True)
class PointOptions:
    """A point as a user asks for it (the CLI's --alpha, --res, --rho, --classes and --set), before a
    model checks and completes it: one object, so that every command reads the options the same way."""

    alpha: str | None = None
    resolution: str | None = None
    rho: str | None = None
    classes: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # any other symbol, NAME=VALUE in the order given

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.alpha, self.resolution, self.rho, self.classes)) or bool(self.values)

    def reshape(self, model: Model) -> Model:
        """``model`` with the input's aspect these options ask for (``--res 224x160`` on a square model)."""
        if self.resolution is None:
            return model
        height, width = input_sides(self.resolution)
        return model if width is None else model.with_input(height, width)

    def resolve(self, model: Model) -> Point:
        """The full point on ``model`` (a UsageError for a value outside its domain)."""
        return model.point(self.alpha, self.resolution, self.rho, self.classes, dict(self.values))

    def fixed(self, model: Model) -> dict[str, Fraction]:
        """Only the symbols the user gave, validated through a full point the network runs at."""
        point = self.resolve(model)
        model.network(point)  # a point the network cannot run at (too small an input) is an error here too
        roles = model.roles
        names = {name for name, _ in self.values}
        for role, value in ((roles.width, self.alpha), (roles.classes, self.classes)):
            if value is not None and role is not None:
                names.add(role)
        if (self.resolution is not None or self.rho is not None) and roles.resolution is not None:
            names.add(roles.resolution)
        return {name: point.values[name] for name in names}


@lru_cache(maxsize=64)
def model_from_file(path: str, display: str, variant: str | None = None) -> Model:
    """The model of a spec file (``display`` is the name errors show), read once per variant."""
    spec = read_spec(Path(path), display, variant)
    model = Model(spec, expand(spec))
    model.path = path
    return model


def input_side(text: Any) -> int:
    """An input side as a user gives it (--res, a range's value): a positive whole number of pixels."""
    if isinstance(text, str) and _SIDES.fullmatch(text.strip()):
        raise UsageError(
            f"resolution {text.strip()!r}: give a square side here (HxW values go in a list: --res 224x160,448x320)"
        )
    try:
        side = exact_number(text, "resolution")
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"resolution must be a whole number or HxW, got {text!r}") from None
    if side.denominator != 1 or side < 1:
        raise UsageError(f"resolution must be a positive whole number, got {text}")
    return int(side)


_SIDES = re.compile(r"\s*([^x×X]+?)\s*[x×X]\s*([^x×X]+?)\s*")


def with_aspect_of(model: Model, resolutions: Sequence[str | None]) -> tuple[Model, list[str | None]]:
    """``model`` with the one aspect the resolutions given ask for, and those resolutions as heights:
    a sweep or a solve over ``224x160,448x320`` runs on the 224×160 model at heights 224 and 448."""
    first = next((t for t in resolutions if t is not None and _SIDES.fullmatch(t)), None)
    if first is None:  # all square: nothing to read twice (a sweep may list 10^5 sides)
        return model, list(resolutions)
    height, width = input_sides(first)
    shaped = model if width is None else model.with_input(height, width)
    heights: list[str | None] = []
    for text in resolutions:
        if text is None:
            heights.append(None)
            continue
        height, width = input_sides(text)
        if width is not None and shaped.point(resolution=str(height)).sides != (height, width):
            raise UsageError(f"resolution {text.strip()}: give every resolution of one sweep with one aspect")
        heights.append(str(height))
    return shaped, heights


def input_sides(value: Any) -> tuple[int, int | None]:
    """A resolution as a user gives it: ``192`` (one side: no width, the model's aspect), ``224x160``
    (height × width) or a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise UsageError(f"a resolution is a side or (height, width), got {value!r}")
        height, width = (input_side(str(v)) for v in value)
    else:
        match = _SIDES.fullmatch(str(value))
        if match is None:
            return input_side(value), None
        height, width = (input_side(v) for v in match.groups())
    return height, width


def show_side(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.4g}"


def _sides(height: Fraction | None, width: Fraction | None) -> str:
    shown = show_side(height) if height is not None else "?"
    return shown if width is None or width == height else f"{shown}x{show_side(width)}"


REMEMBERED = 4  # points whose networks and counts a model keeps


def _point_key(point: Point) -> tuple[tuple[str, Fraction], ...]:
    return tuple(sorted(point.values.items()))


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """Keep ``value`` among the last :data:`REMEMBERED` (a few networks, bounded memory at any size)."""
    if len(cache) >= REMEMBERED:
        del cache[next(iter(cache))]
    cache[key] = value
    return value


class Model:
    def __init__(self, spec: Spec, structure: Structure) -> None:
        self.spec = spec
        self.structure = structure
        self.path: str | None = None  # the spec file, when read from one
        # What a reader of the counts should know of where the model came from (an ONNX file's folded
        # batch norms, its fixed batch): shown by every report.
        self.notes: list[str] = []
        self._min_resolutions: dict[tuple[tuple[str, Any], ...], int | None] = {}
        self._last_min_resolution: int | None = None  # a first guess for the next point
        # The last few points' networks and counts: a table row, a reference check and a report's
        # views ask for the same point several times, and a network of 15,000 layers takes 0.2 s.
        self._networks: dict[tuple[tuple[str, Fraction], ...], Network] = {}
        self._costs: dict[tuple[Any, ...], Costs] = {}
        # A spec is only accepted if it builds at its default point.
        self.network(self.default_point())

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def roles(self) -> Roles:
        """Which symbols are the width multiplier, the resolution multiplier and the classes."""
        return self.spec.roles

    def with_variant(self, variant: str | None) -> Model:
        """The same spec read as another of its variants (None: the spec as written)."""
        if variant == self.spec.variant:
            return self
        if self.path is None:
            raise UsageError(f"{self.name} was not read from a file; it has no variants to switch to")
        return model_from_file(self.path, self.spec.file, variant)

    # -- points ---------------------------------------------------------------------------------

    @cached_property
    def base_resolution(self) -> Fraction | None:
        """The input side at rho = 1 (224 for the ImageNet models), if the input scales with rho."""
        rho = self.roles.resolution
        if rho is None or rho not in self.spec.input_size.names:
            return None
        env: dict[str, Any] = {name: s.default for name, s in self.spec.symbols.items()}
        env[rho] = Fraction(1)
        try:
            return Fraction(self.spec.input_size.evaluate(mapping_lookup(env)))
        except ExpressionError as err:
            raise SpecError(f"input size: {err}", file=self.spec.file, line=self.spec.input_line) from None

    @cached_property
    def base_width(self) -> Fraction | None:
        """The input's width at rho = 1 where the input scales with rho (base_resolution, its height, set)."""
        if self.base_resolution is None:
            return None
        if self.spec.input_width is None:
            return self.base_resolution
        env: dict[str, Any] = {name: s.default for name, s in self.spec.symbols.items()}
        env[self._rho()] = Fraction(1)
        try:
            return Fraction(self.spec.input_width.evaluate(mapping_lookup(env)))
        except ExpressionError as err:
            raise SpecError(f"input width: {err}", file=self.spec.file, line=self.spec.input_line) from None

    def _input_width(self, values: dict[str, Fraction]) -> Fraction | None:
        """The input's width at a point, where the spec gives it apart from the height."""
        if self.spec.input_width is None:
            return None
        try:
            return Fraction(self.spec.input_width.evaluate(mapping_lookup(values)))
        except ExpressionError as err:
            raise SpecError(f"input width: {err}", file=self.spec.file, line=self.spec.input_line) from None

    def with_input(self, height: int, width: int) -> Model:
        """This model with an input of another aspect: ``height`` × ``width`` at the point it is asked at.

        The width follows the height as rho moves, rounded to the nearest pixel (at least one), so that every
        closed form stays a function of one rho and every height has a whole width.
        """
        base, base_width = self.base_resolution, self.base_width
        if base is None or base_width is None:
            raise UsageError(f"{self.name}'s input size does not scale with rho; it cannot take a resolution")
        if width * base == height * base_width:
            return self
        ratio = Fraction(width, height)
        text = f"max(1, floor(({self.spec.input_size.text}) * {ratio.numerator} / {ratio.denominator} + 1/2))"
        symbols = dict(self.spec.symbols)  # its default point is the one asked for (a model must build there)
        symbols[self._rho()] = dataclasses.replace(symbols[self._rho()], default=Fraction(height) / base)
        spec = dataclasses.replace(
            self.spec,
            symbols=symbols,
            input_width=compile_expr(text, self.spec.file, self.spec.input_line, what="input width"),
        )
        structure = copy.copy(self.structure)
        structure.spec = spec
        model = Model(spec, structure)
        model.path, model.notes = self.path, list(self.notes)
        return model

    def _rho(self) -> str:
        """The resolution multiplier's symbol, where the input scales with one (base_resolution set)."""
        if self.roles.resolution is None:
            raise UsageError(f"{self.name}'s input size does not scale with rho; it cannot take a resolution")
        return self.roles.resolution

    def default_point(self) -> Point:
        return self.point()

    def point(
        self,
        alpha: Any = None,
        resolution: Any = None,
        rho: Any = None,
        classes: Any = None,
        values: dict[str, Any] | None = None,
    ) -> Point:
        """Validate user-given values and complete them with the spec's defaults."""
        symbols = self.spec.symbols
        given: dict[str, Any] = dict(values or {})
        roles = self.roles
        for name, value in ((roles.width or WIDTH_SYMBOL, alpha), (roles.classes or CLASSES_SYMBOL, classes)):
            if value is not None:
                given[name] = value  # a model without the symbol says so below
        exact: dict[str, Fraction] = {}
        for name, value in given.items():
            if name not in symbols:
                known = ", ".join(symbols) or "none"
                raise UsageError(
                    f"{self.name} has no symbol '{name}'{did_you_mean(name, symbols)} (its symbols: {known})"
                )
            try:
                exact[name] = exact_number(value, name)
            except (ValueError, ZeroDivisionError):
                raise UsageError(f"{name} must be a number, got {value!r}") from None
        if resolution is not None and rho is not None:
            raise UsageError("give either a resolution or rho, not both")
        asked_width = None
        if resolution is not None or rho is not None:
            base = self.base_resolution
            if base is None:
                raise UsageError(f"{self.name}'s input size does not scale with rho; it cannot take a resolution")
            if resolution is not None:
                height, asked_width = input_sides(resolution)
                side = Fraction(height)
            else:
                try:
                    scale = exact_number(rho, "rho")
                except (ValueError, ZeroDivisionError):
                    raise UsageError(f"rho must be a number, got {rho!r}") from None
                if scale <= 0:
                    raise UsageError(f"rho must be > 0, got {rho}")
                side = Fraction(intmath.floor_value(scale * base + Fraction(1, 2)))
                if side < 1:
                    raise UsageError(f"rho = {rho} gives an input smaller than one pixel")
            exact[self._rho()] = side / base
        full = {name: s.default for name, s in symbols.items()}
        full.update(exact)
        for name, value in full.items():
            problem = symbols[name].violation(value)
            if problem:
                raise UsageError(problem)
        res = None
        if self.base_resolution is not None:
            scale = full[self._rho()]
            side = scale * self.base_resolution
            if side.denominator != 1:
                raise UsageError(f"rho = {float(scale):g} gives a fractional input side {float(side):g}; use --res")
            res = int(side)
        else:  # a fixed input (an ONNX file, a spec without rho): its side is still the point's resolution
            try:
                side = Fraction(self.spec.input_size.evaluate(mapping_lookup(full)))
            except ExpressionError as err:
                raise SpecError(f"input size: {err}", file=self.spec.file, line=self.spec.input_line) from None
            res = int(side) if side.denominator == 1 else None
        width = self._input_width(full)
        if asked_width is not None and width is None:
            width = side  # a square model asked for another aspect
        if width is not None and res is not None:
            if asked_width is not None and width != asked_width:
                raise UsageError(
                    f"{self.name}'s input is {_sides(self.base_resolution, self.base_width)} at rho = 1: "
                    f"{res} high is {show_side(width)} wide, not {asked_width} (Model.with_input({res}, "
                    f"{asked_width}) gives it that aspect)"
                )
            if width.denominator != 1 or width < 1:
                nearest = max(1, round(width))
                raise UsageError(
                    f"a {res}-pixel-high input of {self.name} ({_sides(self.base_resolution, self.base_width)} at "
                    f"rho = 1) would be {show_side(width)} wide: give both sides, e.g. --res {res}x{nearest}"
                )
        return Point(full, res, None if width is None or width == side else int(width))

    # -- evaluation -------------------------------------------------------------------------------

    def network(self, point: Point) -> Network:
        key = _point_key(point)
        network = self._networks.get(key)
        if network is None:
            network = _remember(self._networks, key, self._evaluate(point))
        return network

    def _evaluate(self, point: Point) -> Network:
        try:
            return evaluate(self.structure, dict(point.values))
        except SpecError as err:
            if TOO_SMALL in err.message and self.base_resolution is not None:
                minimum = self.min_resolution(point)
                if minimum:
                    below = f"below the minimum {self._label_at(point, minimum)}"
                else:
                    below = "too small, and no input up to 65536 is enough"
                raise SpecError(
                    f"{err.message}: resolution {point.label} is {below}",
                    file=err.file,
                    line=err.line,
                    layer=err.layer,
                ) from None
            raise

    def _label_at(self, point: Point, height: int) -> str:
        """``height``, or height x width where the input is not square, at ``point``'s other values."""
        base = self.base_resolution
        if self.spec.input_width is None or base is None:
            return str(height)
        width = self._input_width({**point.values, self._rho(): Fraction(height) / base})
        return f"{height}x{show_side(width)}" if width is not None else str(height)

    def costs(self, point: Point | None = None, counting: Counting | str = conventions.DEFAULT) -> Costs:
        point = point or self.default_point()
        preset = conventions.get_counting(counting)
        key = (_point_key(point), preset)
        costs = self._costs.get(key)
        if costs is None:
            costs = _remember(self._costs, key, count(self.network(point), preset))
        return costs

    def min_resolution(self, point: Point | None = None) -> int | None:
        """The smallest input side at which every layer still has at least one output pixel."""
        base = self.base_resolution
        if base is None:
            return None
        values = dict((point or self.default_point()).values)
        rho = self._rho()
        key = tuple(sorted((name, value) for name, value in values.items() if name != rho))
        if key not in self._min_resolutions:  # a bisection of whole evaluations, asked for by several views
            if len(self._min_resolutions) >= 256:
                self._min_resolutions.clear()
            self._min_resolutions[key] = self._bisect_min_resolution(values, rho, base)
        return self._min_resolutions[key]

    def _bisect_min_resolution(self, values: dict[str, Any], rho: str, base: Fraction) -> int | None:
        step = self._height_step

        def valid(steps: int) -> bool:
            values[rho] = Fraction(steps * step) / base
            try:
                evaluate(self.structure, dict(values))
            except SpecError as err:
                if TOO_SMALL in err.message:
                    return False
                raise
            return True

        # Most points share their minimum (1 for the MobileNets, whatever the width): try it first,
        # then the last answer, before bisecting (a table of 131 widths spent 13 s bisecting).
        if valid(1):
            return step
        hint = (self._last_min_resolution or 0) // step
        if hint > 1 and valid(hint) and not valid(hint - 1):
            return hint * step
        high = max(1, int(base) // step)
        while not valid(high):
            high *= 2
            if high * step > 1 << 16:
                return None
        low = 0  # invalid (no pixels) by definition
        while high - low > 1:
            mid = (low + high) // 2
            if valid(mid):
                high = mid
            else:
                low = mid
        self._last_min_resolution = high * step
        return high * step

    @cached_property
    def _height_step(self) -> int:
        """The heights a non-square input scaling with rho has whole widths at: multiples of this."""
        base, width = self.base_resolution, self.base_width
        if base is None or width is None or base == width or base.denominator != 1 or width.denominator != 1:
            return 1
        values: dict[str, Any] = {name: s.default for name, s in self.spec.symbols.items()}
        widths = []
        for height in (1, 2, 3):  # a width rounded to whole pixels (Model.with_input) needs no step
            values[self._rho()] = Fraction(height) / base
            widths.append(self._input_width(values))
        if all(w is not None and w.denominator == 1 for w in widths):
            return 1
        return int(base) // math.gcd(int(base), int(width))

    # -- closed forms ---------------------------------------------------------------------------

    @cached_property
    def sympy_symbols(self) -> dict[str, Any]:
        return {name: s.sympy_symbol() for name, s in self.spec.symbols.items()}

    @cached_property
    def symbolic_network(self) -> Network:
        return evaluate(self.structure, dict(self.sympy_symbols))

    def symbolic_costs(self, counting: Counting | str = conventions.DEFAULT) -> Costs:
        """Closed-form costs, built once per counting convention (a build takes a fraction of a second)."""
        preset = conventions.get_counting(counting)
        cache: dict[Counting, Costs] = self.__dict__.setdefault("_symbolic_costs", {})
        if preset not in cache:
            seen = self.__dict__.setdefault("_symbolic_layers", {})  # one layer's counts, any preset
            cache[preset] = count(self.symbolic_network, preset, seen)
        return cache[preset]

    def substitution(self, point: Point) -> dict[Any, Any]:
        """sympy values of every symbol at ``point``, and of every named quantity of the closed forms."""
        import sympy

        values = {self.sympy_symbols[n]: sympy.Rational(v.numerator, v.denominator) for n, v in point.values.items()}
        for quantity, definition in self.symbolic_network.definitions.items():
            values[quantity] = definition.xreplace(values)
        return values
