"""Pass one: from a spec's layer list to a :class:`~costmodel.graph.Structure`.

Blocks, repeats, parallel branches and residuals expand into one draft per layer with a stable dotted
name; every attribute is compiled through the whitelist grammar; the structure is checked (unknown ops
and keys, missing block parameters, arity, cycles). Nothing here depends on a point.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import networkx as nx

from costmodel import intmath, limits
from costmodel.errors import SpecError, did_you_mean, show_name, show_number
from costmodel.expressions import PARAM_PREFIX, Expr, ExpressionError, constant
from costmodel.graph import INPUT, Binding, Draft, Scope, Structure
from costmodel.ops import AXES, EXPR, FLAG, PAD, PAIR, REGISTRY, SIZES
from costmodel.ops.base import MAX_AXES
from costmodel.spec import Spec, compile_expr
from costmodel.yamlfile import Located, LocatedList

ENTRY_KEYS = ("op", "use", "parallel", "residual")
COMMON_KEYS = ("name", "repeat", "from", "when")
STRIDE_NAMES = ("stride", "s")
MERGES = ("concat", "add", "mul")
MAX_BLOCK_DEPTH = 16
MAX_REPEAT = 1000


def expand(spec: Spec) -> Structure:
    _refuse_too_many_layers(spec)
    drafts: list[Draft] = []
    expander = _Expander(spec, drafts)
    top = Scope(prefix="", block=None)
    expander.sequence(spec.layers, top, INPUT, group=None)
    names = {d.name for d in drafts}
    graph = nx.DiGraph()
    graph.add_node(INPUT)
    for d in drafts:
        graph.add_node(d.name)
    for d in drafts:
        if d.from_refs is not None:
            d.inputs = [_resolve_ref(spec, d, ref, names) for ref in d.from_refs]
        _check_arity(spec, d)
        for source in d.inputs:
            graph.add_edge(source, d.name)
    if not nx.is_directed_acyclic_graph(graph):  # a sort, three times faster than looking for a cycle
        cycle = nx.find_cycle(graph)
        first = cycle[0][1]
        path = " -> ".join([cycle[0][0], *(edge[1] for edge in cycle)])
        raise spec.error(f"layers form a cycle: {path}", line=expander.by_name[first].line, layer=first)
    return Structure(spec, drafts, graph)


def _resolve_ref(spec: Spec, draft: Draft, ref: str, names: set[str]) -> str:
    for candidate in (draft.scope.prefix + ref, ref):
        if candidate in names or candidate == INPUT:
            if candidate == draft.name:
                raise spec.error("a layer cannot take its own output as input", line=draft.from_line, layer=draft.name)
            return candidate
    raise spec.error(
        f"'from' names unknown layer '{ref}'{did_you_mean(ref, names)}", line=draft.from_line, layer=draft.name
    )


def _check_arity(spec: Spec, d: Draft) -> None:
    n = len(d.inputs)
    if not d.op.min_inputs <= n <= d.op.max_inputs:
        low, high = d.op.min_inputs, d.op.max_inputs
        want = f"{low} input{'s' * (low != 1)}" if low == high else f"{low} to {high} inputs"
        raise spec.error(f"{d.op.op_name} takes {want}, got {n}", line=d.line, layer=d.name)


class _Expander:
    def __init__(self, spec: Spec, drafts: list[Draft]) -> None:
        self.spec = spec
        self.drafts = drafts
        self.by_name: dict[str, Draft] = {}

    def fail(self, message: str, line: int, layer: str | None = None) -> SpecError:
        return self.spec.error(message, line=line, layer=layer)

    def add(self, draft: Draft) -> str:
        if draft.name in self.by_name or draft.name == INPUT:
            raise self.fail(f"duplicate layer name '{draft.name}'", draft.line, draft.name)
        if len(self.drafts) >= limits.current().layers:
            raise _too_many(self.spec, f"more than {len(self.drafts):,}", draft.line, draft.name)
        self.by_name[draft.name] = draft
        self.drafts.append(draft)
        return draft.name

    def sequence(self, entries: Any, scope: Scope, current: str, group: str | None, line: int = 0) -> str:
        """Expand a list of layers (or one layer); ``line`` is where the list stands in its parent."""
        if isinstance(entries, Located):
            entries = LocatedList([entries])
            entries.line = entries[0].line
        if not isinstance(entries, LocatedList) or not entries:
            raise self.fail(f"expected a non-empty list of layers, got {entries!r}", getattr(entries, "line", line))
        for index, entry in enumerate(entries):
            current = self.entry(entry, scope, current, group, entries.line_of_item(index))
        return current

    def entry(self, entry: Any, scope: Scope, current: str, group: str | None, line: int = 0) -> str:
        if not isinstance(entry, Located):
            raise self.fail(f"a layer must be a mapping like {{op: conv2d, ...}}, got {entry!r}", line)
        kinds = [k for k in ENTRY_KEYS if k in entry]
        if len(kinds) != 1:
            unknown = [k for k in entry if k not in COMMON_KEYS]
            hint = did_you_mean(unknown[0], ENTRY_KEYS) if unknown and not kinds else ""
            raise self.fail(f"a layer needs exactly one of op:, use:, parallel:, residual:{hint}", entry.line)
        kind = kinds[0]
        explicit = entry.get("name")
        if explicit is not None and (not isinstance(explicit, str) or not explicit.isidentifier()):
            raise self.fail(f"layer name {explicit!r} must be an identifier", entry.line_of("name"))
        repeat, counted_by = self.repeat(entry, scope)
        label = self.kind_label(entry, kind)
        for r in range(repeat):
            if explicit is not None:
                name = scope.prefix + (explicit if repeat == 1 else f"{explicit}.{r + 1}")
            else:
                name = scope.auto_name(label)
            this_group = group or name
            from_refs = self.from_refs(entry) if r == 0 else None
            first_rep = r == 0
            conditions = scope.conditions
            if counted_by is not None and (
                r > 0 or counted_by[1]
            ):  # repetition r + 1 exists where the count reaches it
                present = compile_expr(
                    f"{r + 1} <= ({counted_by[0]})",
                    self.spec.file,
                    entry.line_of("repeat"),
                    name,
                    what="repeat",
                    kind="condition",
                )
                conditions = (*conditions, Binding(present, scope, current))
            if "when" in entry and kind in ("op", "use", "parallel"):  # a residual's when is its add's
                when = compile_expr(
                    entry["when"], self.spec.file, entry.line_of("when"), name, what="when", kind="condition"
                )
                conditions = (*conditions, Binding(when, scope, current))
            # a parallel or residual's layers take the conditions through their scope, as a block's do
            guarded = scope if conditions == scope.conditions else dataclasses.replace(scope, conditions=conditions)
            if kind == "op":
                current = self.op_entry(entry, scope, current, name, this_group, from_refs, first_rep, conditions)
            elif kind == "use":
                current = self.use_entry(entry, scope, current, name, this_group, from_refs, first_rep, conditions)
            elif kind == "parallel":
                current = self.parallel_entry(entry, guarded, current, name, this_group, explicit is not None)
            else:
                current = self.residual_entry(entry, guarded, current, name, this_group, explicit is not None)
        return current

    def kind_label(self, entry: Located, kind: str) -> str:
        if kind == "op":
            return str(entry["op"])
        if kind == "use":
            return str(entry["use"])
        if kind == "parallel":
            return str(entry.get("merge", "parallel"))
        return "residual"

    def repeat(self, entry: Located, scope: Scope) -> tuple[int, tuple[str, bool] | None]:
        """How many times the entry expands, and for a count that depends on symbols (EfficientNet's
        ``ceil(n * depth)``), the count's text and whether the first repetition may be absent too.

        Such a count expands to its largest value over the symbols' domain (found at its corners: a
        repeat count grows or shrinks with each symbol), each repetition existing where the count
        reaches it; the closed forms keep the count exact."""
        if "repeat" not in entry:
            return 1, None
        line = entry.line_of("repeat")
        expr = compile_expr(entry["repeat"], self.spec.file, line, what="repeat")
        symbols: set[str] = set()
        try:
            value = _structural_value(expr, scope, self.spec, {}, symbols)
        except ExpressionError as err:
            raise self.fail(f"repeat: {err}", line) from None
        if not symbols:
            count = _repeat_count(value)
            if count is None:
                raise self.fail(f"repeat must be a whole number from 1 to {MAX_REPEAT}, got {value}", line)
            return count, None
        counts = []
        for corner in _corners(self.spec, sorted(symbols), self.fail, line):
            try:
                counts.append(_structural_value(expr, scope, self.spec, corner, set()))
            except ExpressionError as err:
                raise self.fail(f"repeat: {err}", line) from None
        most, least = max(counts), min(counts)
        if not all(intmath.is_number(c) and c == int(c) for c in counts) or most < 1 or most > MAX_REPEAT:
            raise self.fail(
                f"repeat must be a whole number from 1 to {MAX_REPEAT} over the domain of "
                f"{', '.join(sorted(symbols))}, got {show_number(least)} to {show_number(most)}",
                line,
            )
        return int(most), (str(entry["repeat"]), least < 1)

    def from_refs(self, entry: Located) -> list[str] | None:
        if "from" not in entry:
            return None
        refs = entry["from"]
        refs = [refs] if isinstance(refs, str) else refs
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise self.fail("'from' must be a layer name or a list of layer names", entry.line_of("from"))
        return list(refs)

    def op_entry(
        self,
        entry: Located,
        scope: Scope,
        current: str,
        name: str,
        group: str,
        from_refs: list[str] | None,
        first_rep: bool,
        conditions: tuple[Binding, ...] = (),
    ) -> str:
        op_name = entry["op"]
        op = REGISTRY.get(op_name) if isinstance(op_name, str) else None
        if op is None:
            raise self.fail(f"unknown op '{op_name}'{did_you_mean(str(op_name), REGISTRY)}", entry.line_of("op"), name)
        schema = op.schema()
        merged: dict[str, tuple[Any, int]] = {}
        spec_defaults = self.spec.defaults.get(op_name)
        if spec_defaults is not None:
            merged.update({k: (v, spec_defaults.line_of(k)) for k, v in spec_defaults.items()})
        for key, value in entry.items():
            if key in ("op", *COMMON_KEYS):
                continue
            if key not in schema:
                raise self.fail(
                    f"unknown attribute '{key}' of {op_name}{did_you_mean(key, schema)}",
                    entry.line_of(key),
                    name,
                )
            merged[key] = (value, entry.line_of(key))
        if not first_rep:
            for key in STRIDE_NAMES:
                if key in merged and key in schema:
                    merged[key] = (1, merged[key][1])
        missing = op.required() - merged.keys()
        if missing:
            raise self.fail(f"{op_name} needs {', '.join(sorted(missing))}", entry.line, name)
        defaults = op.defaults()
        for key, (value, line) in merged.items():
            if value is None and defaults[key] is not None:  # `k:` with nothing after it
                if key in op.required():
                    raise self.fail(f"{op_name} needs a value for {key}", line, name)
                shown = str(defaults[key]).lower() if isinstance(defaults[key], bool) else defaults[key]
                raise self.fail(f"{key} is empty: give a value, or leave it out for {shown}", line, name)
        attrs = {
            key: (self.compile_attr(schema[key], value, line, name, key), line) for key, (value, line) in merged.items()
        }
        for key in op.constants() & attrs.keys():
            value, line = attrs[key]
            parts = value if isinstance(value, tuple) else (value,)
            if any(isinstance(part, Expr) and not part.is_constant for part in parts):
                raise self.fail(f"{key} must be a constant number, not an expression in symbols", line, name)
        draft = Draft(
            name, op, attrs, scope, [current], entry.line, group, from_refs, entry.line_of("from"), conditions
        )
        return self.add(draft)

    def compile_attr(self, kind: Any, value: Any, line: int, layer: str, key: str) -> Any:
        if isinstance(kind, tuple):  # one of these words
            if not isinstance(value, str) or value not in kind:
                raise self.fail(f"{key} must be one of {', '.join(kind)}, got {str(value)[:40]!r}", line, layer)
            return value
        if kind == FLAG:
            if not isinstance(value, bool):
                raise self.fail(f"{key} must be true or false, got {value!r}", line, layer)
            return value
        if kind == PAD and value in ("same", "valid"):
            return value
        if kind in (PAIR, PAD) and isinstance(value, list):
            if len(value) != 2:
                raise self.fail(f"{key} must be one value or [height, width]", line, layer)
            return tuple(self.compile_attr(EXPR, v, line, layer, key) for v in value)
        if kind in (SIZES, AXES):
            if not isinstance(value, list) or not value:
                raise self.fail(f"{key} must be a list of numbers, e.g. [196, 768]", line, layer)
            if len(value) > MAX_AXES:
                raise self.fail(f"{key} lists {len(value)} values; at most {MAX_AXES} axes are supported", line, layer)
            return tuple(self.compile_attr(EXPR, v, line, layer, key) for v in value)
        if value is None and kind == PAIR:
            return None
        return compile_expr(value, self.spec.file, line, layer, what=key)

    def use_entry(
        self,
        entry: Located,
        scope: Scope,
        current: str,
        name: str,
        group: str,
        from_refs: list[str] | None,
        first_rep: bool,
        conditions: tuple[Binding, ...] = (),
    ) -> str:
        block_name = entry["use"]
        block = self.spec.blocks.get(block_name) if isinstance(block_name, str) else None
        if block is None:
            raise self.fail(
                f"unknown block '{block_name}'{did_you_mean(str(block_name), self.spec.blocks)}",
                entry.line_of("use"),
                name,
            )
        if scope.depth >= MAX_BLOCK_DEPTH:
            raise self.fail(
                f"blocks nested deeper than {MAX_BLOCK_DEPTH} (does '{block_name}' use itself?)",
                entry.line,
                name,
            )
        start = current
        if from_refs is not None:
            # The block's first layer takes the named input; model that with an identity-free path:
            # the block is expanded from a placeholder resolved after the whole spec is read.
            raise self.fail("'from' is not supported on a block use; put it on an op", entry.line_of("from"), name)
        inner = Scope(prefix=name + ".", block=block.name, depth=scope.depth + 1, conditions=conditions)
        for key, value in entry.items():
            if key in ("use", *COMMON_KEYS):
                continue
            if key not in block.params:
                raise self.fail(
                    f"block '{block.name}' has no parameter '{key}'{did_you_mean(key, block.params)}",
                    entry.line_of(key),
                    name,
                )
            expr = compile_expr(value, self.spec.file, entry.line_of(key), name, what=key, kind="any")
            inner.params[key] = Binding(expr, scope, start)
        if not first_rep:
            for key in STRIDE_NAMES:
                if key in block.params:
                    inner.params[key] = Binding(constant(1), scope, start)
        for param, default in block.params.items():
            if param in inner.params:
                continue
            if default is None:
                raise self.fail(f"block '{block.name}' needs parameter '{param}'", entry.line, name)
            inner.params[param] = Binding(default, inner, start)
        return self.sequence(block.body, inner, start, group)

    def parallel_entry(self, entry: Located, scope: Scope, current: str, name: str, group: str, named: bool) -> str:
        branches = entry["parallel"]
        allowed = ("parallel", "merge", "name", "when")
        for key in entry:
            if key not in allowed:
                raise self.fail(
                    f"unknown key '{key}' in parallel{did_you_mean(key, allowed)}", entry.line_of(key), name
                )
        merge = entry.get("merge")
        if merge not in MERGES:
            raise self.fail(f"parallel needs merge: {' or '.join(MERGES)}", entry.line, name)
        if not isinstance(branches, LocatedList) or len(branches) < 2:
            raise self.fail("parallel needs a list of at least two branches", entry.line_of("parallel"), name)
        # an empty branch is the identity: the parallel's input itself (the data side of a gate)
        ends = [
            current if branch == [] else self.sequence(branch, scope, current, group, branches.line_of_item(i))
            for i, branch in enumerate(branches)
        ]
        draft = Draft(name, REGISTRY[merge], {}, scope, ends, entry.line, group, conditions=scope.conditions)
        return self.add(draft)

    def residual_entry(self, entry: Located, scope: Scope, current: str, name: str, group: str, named: bool) -> str:
        allowed = ("residual", "when", "name")
        for key in entry:
            if key not in allowed:
                raise self.fail(
                    f"unknown key '{key}' in residual{did_you_mean(key, allowed)}", entry.line_of(key), name
                )
        end = self.sequence(entry["residual"], scope, current, group, entry.line_of("residual"))
        condition = None
        if "when" in entry:
            expr = compile_expr(
                entry["when"], self.spec.file, entry.line_of("when"), name, what="when", kind="condition"
            )
            condition = Binding(expr, scope, current)
        draft = Draft(
            name,
            REGISTRY["add"],
            {},
            scope,
            [current, end],
            entry.line,
            group,
            conditions=scope.conditions,
            condition=condition,
            residual=True,
        )
        return self.add(draft)


def _structural_value(expr: Expr, scope: Scope, spec: Spec, values: dict[str, Any], used: set[str]) -> Any:
    """A repeat count: block parameters, and the spec's symbols at ``values`` (each name used is added
    to ``used``; a symbol without a value counts as its default)."""

    def lookup(name: str) -> Any:
        if name.startswith(PARAM_PREFIX):
            param = name[len(PARAM_PREFIX) :]
            binding = scope.params.get(param)
            if binding is None:
                raise ExpressionError(f"unknown parameter ${param}")
            return _structural_value(binding.expr, binding.scope, spec, values, used)
        if name in spec.symbols:
            used.add(name)
            return values.get(name, spec.symbols[name].default)
        raise ExpressionError(f"structure cannot depend on '{name}' (use a number, a block parameter or a symbol)")

    return expr.evaluate(lookup)


def _corners(spec: Spec, names: list[str], fail: Any, line: int) -> list[dict[str, Any]]:
    """Every corner of the named symbols' domains (a strict bound approached from inside, by 10^-9)."""
    if len(names) > 4:
        raise fail(f"a repeat count depends on {len(names)} symbols; at most 4", line)
    sides = []
    for name in names:
        symbol = spec.symbols[name]
        low = [b + (_INSIDE if op == ">" else 0) for op, b in symbol.bounds if op in (">", ">=")]
        high = [b - (_INSIDE if op == "<" else 0) for op, b in symbol.bounds if op in ("<", "<=")]
        if not low or not high:
            raise fail(
                f"a repeat count that depends on {name} needs {name}'s domain bounded on both sides "
                f'(e.g. domain: "> 0, <= 4"), got {show_name(symbol.domain or "none")!r}',
                line,
            )
        sides.append((max(low), min(high)))
    corners: list[dict[str, Any]] = [{}]
    for name, (lowest, highest) in zip(names, sides, strict=True):
        corners = [{**corner, name: value} for corner in corners for value in (lowest, highest)]
    return corners


_INSIDE = Fraction(1, 10**9)


def _repeat_count(value: Any) -> int | None:
    """A repeat's value as a count, or None when it is not a whole number from 1 to MAX_REPEAT."""
    if intmath.is_number(value) and value == int(value) and 1 <= value <= MAX_REPEAT:
        return int(value)
    return None


def _too_many(spec: Spec, count: str, line: int, layer: str | None = None) -> SpecError:
    error = limits.exceeded("layers", "the spec expands to too many layers", f"{count} once blocks and repeats expand")
    return error.located(file=spec.file, line=line, layer=layer)


def _refuse_too_many_layers(spec: Spec) -> None:
    """Refuse a spec whose layers, blocks and repeats expanded, pass the layer limit, before expanding
    any: a count over the entries, each block counted once, that costs as little as the spec is long
    (``repeat: 1000`` of a block of ``repeat: 1000`` is counted, not unrolled). A repeat that depends
    on a block parameter counts once here, one on symbols as at their defaults; the expansion counts
    them exactly as it goes."""
    most = limits.current().layers
    counter = _LayerCount(spec)
    total = 0
    for index, entry in enumerate(spec.layers):
        total += counter.entry(entry)
        if total > most:
            line = spec.layers.line_of_item(index)
            name = entry.get("name") if isinstance(entry, Located) else None
            raise _too_many(spec, f"at least {total:,}", line, name if isinstance(name, str) else None)


class _LayerCount:
    """Layers per entry and per block of a spec, without expanding (malformed entries count nothing:
    the expansion reports them)."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.blocks: dict[str, int] = {}

    def sequence(self, entries: Any) -> int:
        if isinstance(entries, Located):
            return self.entry(entries)
        return sum(self.entry(e) for e in entries) if isinstance(entries, list) else 0

    def entry(self, entry: Any) -> int:
        if not isinstance(entry, Located):
            return 0
        if "op" in entry:
            layers = 1
        elif "use" in entry:
            layers = self.block(entry["use"])
        elif "parallel" in entry:
            branches = entry["parallel"]
            layers = 1 + (sum(self.sequence(b) for b in branches) if isinstance(branches, list) else 0)
        elif "residual" in entry:
            layers = 1 + self.sequence(entry["residual"])
        else:
            return 0
        return layers * self.repeat(entry)

    def block(self, name: Any) -> int:
        block = self.spec.blocks.get(name) if isinstance(name, str) else None
        if block is None:
            return 0
        if name not in self.blocks:
            self.blocks[name] = 0  # a block that uses itself: the expansion says so
            self.blocks[name] = self.sequence(block.body)
        return self.blocks[name]

    def repeat(self, entry: Located) -> int:
        if "repeat" not in entry:
            return 1
        try:
            expr = compile_expr(entry["repeat"], self.spec.file, entry.line_of("repeat"), what="repeat")
            value = _structural_value(expr, Scope(prefix="", block=None), self.spec, {}, set())
        except (SpecError, ExpressionError):
            return 1  # a block parameter (or a mistake the expansion reports)
        return _repeat_count(value) or 1
