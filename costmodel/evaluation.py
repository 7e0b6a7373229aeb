"""Pass two: a :class:`~costmodel.graph.Structure` evaluated at a point, every shape inferred.

The symbols are bound either to exact numbers (a concrete network: counts, the executor) or to sympy
symbols (closed forms); the same walk serves both, through :mod:`costmodel.intmath`. A layer can exist
only under a condition (a residual add where the widths agree): it is present, absent, or, for
symbols, present under a sympy condition.
"""

from __future__ import annotations

import functools
from typing import Any

from costmodel import intmath
from costmodel.errors import SpecError, did_you_mean, show_number
from costmodel.expressions import (
    INPUT_CHANNELS,
    PARAM_PREFIX,
    WIDTH_LOOKUP,
    Expr,
    ExpressionError,
    Lookup,
    is_condition,
)
from costmodel.graph import INPUT, Binding, Draft, Network, Node, Scope, Structure
from costmodel.ops import AXES, CHANNELS, EXPR, FLAG, INDEX, NUMBER, PAIR, SIZES, Operator, Shape, ShapeError


def evaluate(structure: Structure, env: dict[str, Any]) -> Network:
    """Infer every shape with the symbols bound as in ``env`` (numbers or sympy symbols)."""
    return _Evaluator(structure, env).run()


class _Evaluator:
    def __init__(self, structure: Structure, env: dict[str, Any]) -> None:
        self.structure = structure
        self.spec = structure.spec
        self.env = env
        self.shapes: dict[str, Shape] = {}
        self.symbolic = any(not intmath.is_number(v) for v in env.values())
        self.cache: dict[int, Any] = {}
        self.in_progress: set[int] = set()
        self.quantities: dict[Any, Any] = {}  # expression -> the symbol that names it (symbolic networks)
        self.definitions: dict[Any, Any] = {}
        self.counters: dict[str, int] = {}

    def fail(self, message: str, draft: Draft | None = None, line: int | None = None) -> SpecError:
        return self.spec.error(
            message, line=line or (draft.line if draft else None), layer=draft.name if draft else None
        )

    def run(self) -> Network:
        spec = self.spec
        base = self.lookup(None, INPUT)
        try:
            channels = spec.input_channels.evaluate(base)
            height = spec.input_size.evaluate(base)
            width = height if spec.input_width is None else spec.input_width.evaluate(base)
        except ExpressionError as err:
            raise self.fail(f"input: {err}", line=spec.input_line) from None
        what_side = "input size" if spec.input_width is None else "input height"
        for what, value in (("input channels", channels), (what_side, height), ("input width", width)):
            if intmath.is_number(value) and (value != int(value) or value < 1):
                raise self.fail(
                    f"{what} must be a positive whole number, got {show_number(value)}", line=spec.input_line
                )
        channels, height, width = intmath.to_int(channels), intmath.to_int(height), intmath.to_int(width)
        self.shapes[INPUT] = (channels, height, width)
        nodes = [self.node(self.structure.drafts[name]) for name in self.structure.order]
        return Network(spec, dict(self.env), self.shapes[INPUT], nodes, self.definitions)

    def lookup(self, scope: Scope | None, input_node: str) -> Lookup:
        def lookup(name: str) -> Any:
            if name == INPUT_CHANNELS:
                if input_node not in self.shapes:
                    raise ExpressionError("in_channels has no meaning here (there is no input yet)")
                return self.shapes[input_node][0]
            if name.startswith(PARAM_PREFIX):
                param = name[len(PARAM_PREFIX) :]
                binding = scope.params.get(param) if scope else None
                if binding is None:
                    where = f"block '{scope.block}'" if scope and scope.block else "the top level"
                    raise ExpressionError(f"unknown parameter ${param} in {where}")
                return self.bound(binding)
            if name in self.env:
                return self.env[name]
            if name == WIDTH_LOOKUP:
                return self.width
            known = ", ".join(sorted(self.env)) or "none"
            raise ExpressionError(f"unknown name '{name}' (declared symbols: {known}){did_you_mean(name, self.env)}")

        return lookup

    def bound(self, binding: Binding) -> Any:
        key = id(binding)
        if key not in self.cache:
            if key in self.in_progress:
                raise ExpressionError(f"block parameters refer to each other in a circle ({binding.expr.text})")
            self.in_progress.add(key)
            try:
                self.cache[key] = binding.expr.evaluate(self.lookup(binding.scope, binding.input_node))
            finally:
                self.in_progress.discard(key)
        return self.cache[key]

    def width(self, channels: Any) -> Any:
        """The spec's width rule applied to a channel count (``width(c)`` in expressions)."""
        rule = self.spec.width
        return channels if rule is None else intmath.scale_width(rule.rule, channels, self.env.get(rule.multiplier, 1))

    def scales(self, expr: Expr, scope: Scope) -> bool:
        """Whether a width goes through the width rule: not when fixed() or derived from the input."""
        if expr.fixed or INPUT_CHANNELS in expr.names or WIDTH_LOOKUP in expr.names:
            return False
        if expr.param is not None and expr.param in scope.params:
            binding = scope.params[expr.param]
            return self.scales(binding.expr, binding.scope)
        return True

    def attribute(self, draft: Draft, key: str, kind: str | tuple[str, ...], value: Any, line: int) -> Any:
        if kind in (FLAG,) or isinstance(kind, tuple) or value in ("same", "valid") or value is None:
            return value
        if isinstance(value, tuple):
            return tuple(self.attribute(draft, key, kind, v, line) for v in value)
        lookup = self.lookup(draft.scope, draft.inputs[0])
        try:
            result = value.evaluate(lookup)
        except ExpressionError as err:
            raise self.fail(f"{key}: {err}", draft, line) from None
        if is_condition(result):
            raise self.fail(f"{key} = {value.text} is a condition, not a number", draft, line)
        if (
            kind == CHANNELS
            and self.spec.width is not None
            and self.spec.width.rule != "none"
            and self.scales(value, draft.scope)
        ):
            result = intmath.scale_width(self.spec.width.rule, result, self.env[self.spec.width.multiplier])
        if kind == NUMBER:
            return result
        if intmath.is_number(result) and result != int(result):
            raise self.fail(f"{key} = {value.text} is {show_number(result)} here, not a whole number", draft, line)
        if kind in (CHANNELS, PAIR, EXPR, SIZES) and intmath.is_number(result) and result < 1:
            raise self.fail(f"{key} = {value.text} is {show_number(result)} here; it must be at least 1", draft, line)
        if kind in (INDEX, AXES) and intmath.is_number(result) and result < 0:  # a position: 0 is the first
            raise self.fail(f"{key} = {value.text} is {show_number(result)} here; it must be at least 0", draft, line)
        return intmath.to_int(result)

    def node(self, draft: Draft) -> Node:
        input_shapes = tuple(self.shapes[i] for i in draft.inputs)
        schema = draft.op.schema()
        values = {key: self.attribute(draft, key, schema[key], raw, line) for key, (raw, line) in draft.attrs.items()}
        op = _operator(draft.op, values)
        present = self.presence(draft, input_shapes)
        if present is False:
            output = input_shapes[-1]  # an absent layer passes its (last) input through
        else:
            try:
                output = op.output_shape(list(input_shapes))
            except ShapeError as err:
                hint = ""
                if draft.residual:
                    hint = (
                        "; a residual adds its input back whenever the channel counts agree: "
                        "give it a condition such as `when: $stride == 1`"
                    )
                elif draft.op.op_name == "mul" and len(input_shapes) == 2 and input_shapes[0][0] != input_shapes[1][0]:
                    hint = (
                        "; inside a branch, `in` and `in_channels` are the input of the layer that names them "
                        "(the squeeze conv's, in a squeeze-excite gate), not the branch's: give the gate's "
                        "width as a block parameter (c: in_channels), as the built-in squeeze_excite blocks do"
                    )
                raise self.fail(f"{err}{hint}", draft) from None
            except ExpressionError as err:
                raise self.fail(str(err), draft) from None
            if present is not True:
                # a residual add, where it exists, has its inputs' (equal) shape: nothing to blend
                output = input_shapes[-1] if draft.residual else self.blend(draft, present, output, input_shapes[-1])
        output = self.named(output)
        self.shapes[draft.name] = output
        return Node(draft.name, op, input_shapes, output, present, draft.group, draft.line, tuple(draft.inputs))

    def named(self, shape: Shape) -> Shape:
        """A symbolic shape with each size that holds a rounding function named once (``c`` for channels
        and features, ``h`` for a spatial side): the closed forms count in these names, which keeps them
        as small as the network and lets a person read them."""
        if not self.symbolic:
            return shape
        return tuple(self.quantity(size, "h" if axis and len(shape) == 3 else "c") for axis, size in enumerate(shape))

    def quantity(self, value: Any, kind: str) -> Any:
        import sympy

        if intmath.is_number(value):
            return value
        expr = sympy.sympify(value)
        if expr.is_Atom or isinstance(expr, (sympy.Mul, sympy.Pow)) or not expr.has(*intmath.rounding_functions()):
            return value  # a symbol, or a product of sizes (a flattened width) written out
        symbol = self.quantities.get(expr)
        if symbol is None:
            while True:
                self.counters[kind] = self.counters.get(kind, 0) + 1
                name = f"{kind}{self.counters[kind]}"
                if name not in self.spec.symbols:
                    break
            symbol = sympy.Symbol(
                name, integer=True if expr.is_integer else None, positive=True if expr.is_positive else None
            )
            self.quantities[expr] = symbol
            self.definitions[symbol] = expr
        return symbol

    def blend(self, draft: Draft, present: Any, output: Shape, passed: Shape) -> Shape:
        """The shape of a layer that exists only under a symbolic condition."""
        if len(output) != len(passed):
            raise self.fail("a layer that exists only under a condition must keep its input's rank", draft)
        return tuple(
            intmath.where(present, self.decided(o, present, True), self.decided(i, present, False))
            for o, i in zip(output, passed, strict=True)
        )

    def decided(self, size: Any, present: Any, taken: bool) -> Any:
        """A named size that is itself a choice on ``present`` (the gate of a squeeze-excite that exists
        where its block does), where ``present`` is known to be ``taken``: the branch it takes, so the
        choice of a choice is one choice and not a chain of names."""
        needed = _conjuncts(present)
        for _ in range(len(self.definitions) + 1):  # a chain through the layers of an absent block
            definition = self.definitions.get(size)
            if definition is None or not getattr(definition, "is_Piecewise", False) or len(definition.args) != 2:
                return size
            cond = _conjuncts(definition.args[0].cond)
            if cond == needed:
                size = definition.args[0].expr if taken else definition.args[1].expr
            elif not taken and needed <= cond:
                # chosen under a condition that needs ``present`` and more (the expansion conv of a
                # repeated block that may be absent): where ``present`` fails, so does that condition
                size = definition.args[1].expr
            else:
                return size
        return size

    def condition(self, binding: Binding, draft: Draft) -> Any:
        try:
            value = self.bound(binding)
        except ExpressionError as err:
            raise self.fail(f"when: {err}", draft) from None
        if not is_condition(value):
            raise self.fail(f"when: {binding.expr.text} is not a condition such as '$s == 1'", draft)
        return value

    def presence(self, draft: Draft, shapes: tuple[Shape, ...]) -> Any:
        """Whether the layer exists here: True, False, or a sympy condition (closed forms)."""
        if not draft.conditions and not draft.residual:
            return True
        parts = [self.condition(binding, draft) for binding in draft.conditions]
        if draft.residual:
            if draft.condition is not None:
                parts.append(self.condition(draft.condition, draft))
            parts.append(intmath.equal(shapes[0][0], shapes[1][0]))
        return intmath.all_of(parts)


@functools.lru_cache(maxsize=4096)  # a block's condition is asked of every size it passes on
def _conjuncts(condition: Any) -> frozenset[Any]:
    """The parts of a sympy ``And`` (a condition that is no conjunction is its own one part), each in
    sympy's canonical form: ``Piecewise`` writes ``2 <= n`` as ``n >= 2``."""
    import sympy

    parts = condition.args if isinstance(condition, sympy.And) else (condition,)
    return frozenset(getattr(part, "canonical", part) for part in parts)


_OPERATORS: dict[Any, Operator] = {}


def _operator(cls: type[Operator], values: dict[str, Any]) -> Operator:
    """The operator with these attribute values, made once: a table of 131 widths or a 15,000-layer
    check evaluates the same layers again and again, and most of them (activations, pools, norms)
    are the same at every point. Keyed by each value's type too, so 1 and True stay apart."""
    try:
        key = (cls, *((name, type(value), value) for name, value in values.items())) if values else cls
        found = _OPERATORS.get(key)
    except TypeError:  # an unhashable value: made afresh
        return cls(**values)
    if found is None:
        if len(_OPERATORS) >= 65_536:
            _OPERATORS.clear()
        found = _OPERATORS[key] = cls(**values)
    return found
