"""The expanded graph of a spec and the evaluated network: the data the two passes exchange.

A spec is read once and evaluated many times:

1. :func:`costmodel.expansion.expand` turns the layer list into a :class:`Structure`: one
   :class:`Draft` per layer with a stable dotted name, blocks, repeats, branches and residuals
   expanded, every attribute compiled through the whitelist grammar, the edges in a networkx graph.
2. :func:`costmodel.evaluation.evaluate` walks a structure in topological order with the symbols
   bound to exact numbers (a concrete network) or to sympy symbols (closed forms) and infers every
   shape: a :class:`Network` of :class:`Node`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from costmodel.expressions import Expr
from costmodel.ops import Operator, Shape
from costmodel.spec import Spec

INPUT = "input"


@dataclass(eq=False)
class Scope:
    """A block instance: its name prefix, its parameter bindings and its auto-name counters."""

    prefix: str
    block: str | None
    params: dict[str, Binding] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    depth: int = 0
    conditions: tuple[Binding, ...] = ()  # every layer inside exists only where all of these hold

    def auto_name(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{self.prefix}{kind}{self.counters[kind]}"


@dataclass(frozen=True, eq=False)
class Binding:
    """A block argument: an expression, the scope its ``$params`` come from, and whose input
    ``in_channels`` means (the block's input)."""

    expr: Expr
    scope: Scope
    input_node: str


@dataclass(eq=False)
class Draft:
    """One layer before evaluation."""

    name: str
    op: type[Operator]
    attrs: dict[str, tuple[Any, int]]
    scope: Scope
    inputs: list[str]
    line: int
    group: str
    from_refs: list[str] | None = None
    from_line: int = 0
    conditions: tuple[Binding, ...] = ()  # the layer exists where all hold (inherited from blocks)
    condition: Binding | None = None  # residual add: present when this holds and channels agree
    residual: bool = False


@dataclass(eq=False, slots=True)
class Node:
    """One evaluated layer: operator instance, shapes, and whether it exists at this point.

    Not frozen: one is made per layer at every point evaluated, and a frozen dataclass's ``__init__``
    is five times slower (a quarter of evaluating a long chain of activations). Nothing changes one.
    """

    name: str
    op: Operator
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    present: Any  # True, False, or a sympy condition
    group: str
    line: int
    inputs: tuple[str, ...]


@dataclass
class Network:
    """A spec evaluated at a point (numbers) or symbolically (sympy)."""

    spec: Spec
    point: dict[str, Any]
    input_shape: Shape
    nodes: list[Node]
    # Symbolic networks name each width and spatial size that holds a rounding once (c1, h1, ...):
    # quantity symbol -> its expression in the model's symbols and earlier quantities, in order.
    definitions: dict[Any, Any] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


class Structure:
    """The expanded, checked graph of a spec; evaluate it at as many points as needed."""

    def __init__(self, spec: Spec, drafts: list[Draft], graph: nx.DiGraph) -> None:
        self.spec = spec
        self.drafts = {d.name: d for d in drafts}
        self.graph = graph
        position = {name: i for i, name in enumerate([INPUT, *self.drafts])}
        self.order = [n for n in nx.lexicographical_topological_sort(graph, key=position.__getitem__) if n != INPUT]
