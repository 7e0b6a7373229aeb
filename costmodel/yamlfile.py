"""YAML loading that remembers where everything came from.

Only ``yaml.SafeLoader`` (or its C twin) is used, so a spec cannot construct Python objects; mappings
come back as :class:`Located` dicts that know the line of the mapping and of each key, which is how every
error can name its line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from costmodel import limits
from costmodel.errors import SpecError

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Located(dict[str, Any]):
    """A YAML mapping with the 1-based line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    """A YAML sequence with the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]

    def line_of_item(self, index: int) -> int:
        lines = getattr(self, "item_lines", [])
        return lines[index] if index < len(lines) else self.line


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    result = Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise SpecError(f"keys must be names, got {key!r}", line=key_node.start_mark.line + 1)
        if key in result:
            raise SpecError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _bounded_number(construct: Any) -> Any:
    """A YAML int or float constructor that first checks the digits against the limit (Python's
    own int() refuses past 4,300 digits with a ValueError, and is slow well before)."""

    def bounded(loader: _Loader, node: yaml.ScalarNode) -> Any:
        text = str(node.value).replace("_", "").lstrip("+-")
        if len(text) > limits.current().digits + 16:
            raise limits.exceeded("digits", f"the number {text[:12]}… ({len(text):,} characters)").located(
                line=node.start_mark.line + 1
            )
        try:
            return construct(loader, node)
        except ValueError:  # YAML 1.1 reads '0x_' as an int that Python cannot convert
            raise SpecError(f"not a number: {text[:40]!r}", line=node.start_mark.line + 1) from None

    return bounded


_Loader.add_constructor("tag:yaml.org,2002:int", _bounded_number(yaml.constructor.SafeConstructor.construct_yaml_int))
_Loader.add_constructor(
    "tag:yaml.org,2002:float", _bounded_number(yaml.constructor.SafeConstructor.construct_yaml_float)
)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_yaml(text: str, file: str, check: Callable[[yaml.Node], None] | None = None) -> Any:
    """Parse YAML text; malformed YAML becomes a SpecError naming the file and line.

    The document is composed first and its size counted with every alias standing for all the nodes
    it repeats, so that a "billion laughs" file is refused before anything is built from it.
    """
    try:
        aliases = _count_events(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if aliases:  # without aliases the events counted are the nodes, and their depth is checked
                _check_size(node)
            if check is not None:  # the caller's own look at the composed document, before it is built
                check(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except SpecError as err:
        raise err.located(file=file) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = err.problem or "malformed YAML"
        raise SpecError(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1 if isinstance(err.position, int) else None
        raise SpecError(f"malformed YAML: {err.reason}", file=file, line=line) from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {str(err).splitlines()[0][:200]}", file=file) from None


_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)


MAX_DEPTH = 100  # nesting levels of a YAML document (a spec needs a handful; Python's stack allows ~1,000)


def _count_events(text: str) -> bool:
    """Refuse a document of more nodes than the yaml_nodes limit, or nested deeper than
    :data:`MAX_DEPTH`, while it is parsed, before anything is composed: parsing stops at the limit (a
    tenth of a second), where composing a 12 MB list of a million layers would take half a minute
    and gigabytes. Returns whether the document has aliases (whose expanded size is counted next)."""
    most = limits.current().yaml_nodes
    loader = _Loader(text)
    try:
        count = depth = 0
        aliases = False
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, _NODE_EVENTS):
                count += 1
                if count > most:
                    raise limits.exceeded("yaml_nodes", "the YAML has too many nodes").located(
                        line=event.start_mark.line + 1
                    )
                if isinstance(event, yaml.AliasEvent):
                    aliases = True
                elif isinstance(event, _OPENING_EVENTS):
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise SpecError(
                            f"malformed YAML: nested more than {MAX_DEPTH} levels deep",
                            line=event.start_mark.line + 1,
                        )
            elif isinstance(event, _CLOSING_EVENTS):
                depth -= 1
        return aliases
    finally:
        loader.dispose()


_OPENING_EVENTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSING_EVENTS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_size(root: yaml.Node) -> None:
    """Refuse a document whose nodes, aliases expanded, pass the yaml_nodes limit (or that refers to
    itself): counted over the composed graph, each distinct node once, without expanding anything."""
    most = limits.current().yaml_nodes
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        if len(open_nodes) > MAX_DEPTH:  # the nodes being counted are one path from the root
            raise SpecError(f"malformed YAML: nested more than {MAX_DEPTH} levels deep", line=node.start_mark.line + 1)
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > most:
                raise limits.exceeded(
                    "yaml_nodes", "the YAML has too many nodes once its aliases are expanded"
                ).located(line=node.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise SpecError(
                "malformed YAML: a recursive alias (it refers to the node that contains it)",
                line=node.start_mark.line + 1,
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
