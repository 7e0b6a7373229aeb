"""YAML loading that remembers where everything came from.

Only ``yaml.SafeLoader`` (or its C twin) is used, so a spec cannot construct Python objects; mappings
come back as :class:`Located` dicts that know the line of the mapping and of each key, which is how every
error can name its line.
"""

from __future__ import annotations

from typing import Any

import yaml

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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_yaml(text: str, file: str) -> Any:
    """Parse YAML text; malformed YAML becomes a SpecError naming the file and line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except SpecError as err:
        raise err.located(file=file) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = err.problem or "malformed YAML"
        raise SpecError(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        character = err.character if isinstance(err.character, str) else chr(err.character)
        message = f"malformed YAML: character #x{ord(character):04x} is not allowed"
        raise SpecError(message, file=file, line=line) from None
    except yaml.YAMLError as err:
        first_line = str(err).splitlines()[0] if str(err) else "malformed YAML"
        raise SpecError(f"malformed YAML: {first_line}", file=file) from None
