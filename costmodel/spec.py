"""Spec files: YAML data describing an architecture, validated into a :class:`Spec`.

Only the top level is interpreted here (symbols, input, width rule, defaults, blocks); the layer list
is expanded into a graph by :mod:`costmodel.graph`, which keeps the raw YAML mappings so that every
node can point at its line.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from costmodel import expressions, intmath, limits, readfile
from costmodel.errors import SpecError, did_you_mean, show_number, show_value
from costmodel.expressions import Expr, ExpressionError
from costmodel.intmath import exact_number
from costmodel.yamlfile import Located, LocatedList, load_yaml

TOP_LEVEL_KEYS = (
    "name",
    "title",
    "source",
    "description",
    "symbols",
    "input",
    "width",
    "defaults",
    "blocks",
    "layers",
    "reference",
    "accuracy",
    "variants",
    "notes",
)
RESERVED_NAMES = {
    expressions.INPUT_CHANNELS,
    expressions.WIDTH_FUNCTION,
    "in",
    "fixed",
    "resolution",
    *expressions.FUNCTIONS,
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_BOUND = re.compile(r"^(>=|<=|>|<)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)$")


@dataclass(frozen=True)
class Symbol:
    """A free metaparameter of the model: a default, and the domain where formulas are valid."""

    name: str
    default: Fraction
    integer: bool = False
    bounds: tuple[tuple[str, Fraction], ...] = ()
    description: str = ""

    def violation(self, value: Fraction) -> str | None:
        """Why ``value`` is outside the domain, or None."""
        if self.integer and value.denominator != 1:
            return f"{self.name} must be an integer, got {show_number(value)}"
        for op, bound in self.bounds:
            ok = {
                ">": value > bound,
                ">=": value >= bound,
                "<": value < bound,
                "<=": value <= bound,
            }[op]
            if not ok:
                return f"{self.name} must be {op} {show_number(bound)}, got {show_number(value)}"
        return None

    @property
    def domain(self) -> str:
        parts = [f"{op} {show_number(b)}" for op, b in self.bounds]
        text = ", ".join(parts)
        return f"integer {text}".strip() if self.integer else text

    def sympy_symbol(self) -> Any:
        import sympy

        lower = [(op, b) for op, b in self.bounds if op in (">", ">=")]
        positive = any((op == ">" and b >= 0) or (op == ">=" and b > 0) for op, b in lower)
        nonnegative = positive or any(b >= 0 for _, b in lower)
        return sympy.Symbol(
            self.name,
            integer=True if self.integer else None,
            positive=True if positive else None,
            nonnegative=True if nonnegative else None,
            real=True,
        )


@dataclass(frozen=True)
class Block:
    name: str
    params: dict[str, Expr | None]  # None = required
    param_lines: dict[str, int]
    body: LocatedList
    line: int


# The conventional names of the symbols every CNN family shares; a spec declares which it has.
WIDTH_SYMBOL = "alpha"  # the width multiplier α (unless the width rule names another multiplier)
RESOLUTION_SYMBOL = "rho"  # the resolution multiplier ρ: the input side is base · ρ
CLASSES_SYMBOL = "num_classes"  # the number of classes


@dataclass(frozen=True)
class Roles:
    """Which of a spec's symbols play the parts the CLI and the reports know (None: no such symbol)."""

    width: str | None
    resolution: str | None
    classes: str | None

    def named(self) -> tuple[str, ...]:
        """The symbols that have a role."""
        return tuple(name for name in (self.width, self.resolution, self.classes) if name is not None)


@dataclass(frozen=True)
class WidthRule:
    rule: str
    multiplier: str
    line: int


@dataclass
class Spec:
    name: str
    title: str
    source: str
    file: str
    symbols: dict[str, Symbol]
    input_channels: Expr
    input_size: Expr
    input_line: int
    width: WidthRule | None
    defaults: dict[str, Located]
    blocks: dict[str, Block]
    layers: LocatedList
    reference: list[Located] = field(default_factory=list)
    description: str = ""
    notes: list[str] = field(default_factory=list)
    accuracy: list[Located] = field(default_factory=list)
    variant: str | None = None  # the variant this spec was read as
    variants: dict[str, str] = field(default_factory=dict)  # every variant: name -> description
    input_width: Expr | None = None  # a non-square input's width (None: as wide as input_size is high)

    def error(self, message: str, line: int | None = None, layer: str | None = None) -> SpecError:
        return SpecError(message, file=self.file, line=line, layer=layer)

    @property
    def roles(self) -> Roles:
        width = self.width.multiplier if self.width is not None and self.width.rule != "none" else WIDTH_SYMBOL
        return Roles(
            width=width if width in self.symbols else None,
            resolution=RESOLUTION_SYMBOL if RESOLUTION_SYMBOL in self.symbols else None,
            classes=CLASSES_SYMBOL if CLASSES_SYMBOL in self.symbols else None,
        )


def read_spec(path: Path, display: str | None = None, variant: str | None = None) -> Spec:
    """Load a spec file; ``display`` is the file name that errors show."""
    shown = display or str(path)
    data = readfile.read_bytes(path, "file_bytes", shown)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("cannot read spec: not UTF-8 text", file=shown) from None
    return parse_spec(text, shown, variant)


def _count_layers(root: Any) -> None:
    """Refuse a spec whose top-level layer list alone passes the layer limit, before it is built
    (constructing 20,000 mappings with their line numbers takes a second)."""
    if not isinstance(root, yaml.MappingNode):
        return
    for key, value in root.value:
        if key.value == "layers" and isinstance(value, yaml.SequenceNode):
            most = limits.current().layers
            if len(value.value) > most:
                raise limits.exceeded("layers", "the spec lists too many layers", f"{len(value.value):,}").located(
                    line=value.start_mark.line + 1
                )


def parse_spec(text: str, file: str, variant: str | None = None) -> Spec:
    data = load_yaml(text, file, _count_layers)
    if not isinstance(data, Located):
        raise SpecError("a spec must be a YAML mapping (name:, input:, layers: ...)", file=file, line=1)
    variants = _variants(data.get("variants"), file, data.line_of("variants"))
    if variant is not None:
        if variant not in variants:
            known = ", ".join(variants) or "none"
            raise SpecError(
                f"unknown variant '{variant}'{did_you_mean(variant, variants)} (variants: {known})", file=file
            )
        data = deep_merge(data, variants[variant][1])
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise SpecError(
                f"unknown top-level key '{key}'{did_you_mean(key, TOP_LEVEL_KEYS)}",
                file=file,
                line=data.line_of(key),
            )
    for key in ("name", "input", "layers"):
        if key not in data:
            raise SpecError(f"missing required key '{key}'", file=file, line=data.line)

    name = _text(data, "name", file)
    if not _NAME.match(name):
        raise SpecError(f"model name {name!r} must be a plain identifier", file=file, line=data.line_of("name"))
    symbols = _symbols(data.get("symbols") or Located(), file, data.line_of("symbols"))
    channels, size, input_width, input_line = _input(data["input"], file, data.line_of("input"))
    width = _width(data.get("width"), file, data.line_of("width"), symbols)
    defaults = _defaults(data.get("defaults") or Located(), file)
    blocks = _blocks(data.get("blocks") or Located(), file)
    layers = data["layers"]
    if not isinstance(layers, LocatedList) or not layers:
        raise SpecError("'layers' must be a non-empty list", file=file, line=data.line_of("layers"))
    reference = _reference_rows(data, file, variants)
    notes = data.get("notes") or []
    if isinstance(notes, str):
        notes = [notes]
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise SpecError("'notes' must be a string or a list of strings", file=file, line=data.line_of("notes"))
    return Spec(
        name=name,
        title=_optional_text(data, "title", file) or name,
        source=_optional_text(data, "source", file),
        description=_optional_text(data, "description", file),
        file=file,
        symbols=symbols,
        input_channels=channels,
        input_size=size,
        input_width=input_width,
        input_line=input_line,
        width=width,
        defaults=defaults,
        blocks=blocks,
        layers=layers,
        reference=list(reference),
        notes=[str(n) for n in notes],
        accuracy=_accuracy_rows(data, file),
        variant=variant,
        variants={name: description for name, (description, _) in variants.items()},
    )


def _optional_text(data: Located, key: str, file: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise SpecError(f"'{key}' must be a string, got {show_value(value)}", file=file, line=data.line_of(key))
    return str(value).strip()


FIGURES = ("params", "macs", "flops", "min_resolution", "params_by_layer", "share")
REFERENCE_KEYS = (*FIGURES, "source", "point", "variant", "counting", "exclude", "note", "disagreement", "explained_by")
EXPLAINED_KEYS = ("exclude", "counting", "metric", "rounding", "architecture")
_TEXT_KEYS = ("source", "note", "disagreement", "counting", "variant", "metric", "rounding")


def _reference_rows(data: Located, file: str, variants: Mapping[str, Any]) -> list[Located]:
    """The reference rows, their keys and the kinds of their values checked (what the values mean is
    checked by :mod:`costmodel.references`), so that every command refuses a malformed row alike."""
    rows = _rows(data, "reference", file)
    for row in rows:
        _check_row(row, REFERENCE_KEYS, "reference", file)
        if "variant" in row and row["variant"] not in variants:
            known = ", ".join(variants) or "none"
            raise SpecError(
                f"reference variant {show_value(row['variant'])} is not one of the spec's variants ({known})",
                file=file,
                line=row.line_of("variant"),
            )
        explained = row.get("explained_by")
        if explained is not None:
            if not isinstance(explained, Located):
                raise SpecError("explained_by must be a mapping", file=file, line=row.line_of("explained_by"))
            _check_row(explained, EXPLAINED_KEYS, "explained_by", file)
    return rows


def _check_row(row: Located, keys: Sequence[str], what: str, file: str) -> None:
    for key, value in row.items():
        line = row.line_of(key)
        if key not in keys:
            raise SpecError(f"unknown {what} key '{key}'{did_you_mean(key, keys)}", file=file, line=line)
        problem = None
        if key in _TEXT_KEYS and not isinstance(value, str):
            problem = "a string"
        elif key == "exclude" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problem = "a list of layer names"
        elif key in ("point", "params_by_layer", "share", "architecture") and not isinstance(value, Located):
            problem = "a mapping"
        elif key in ("params", "macs", "flops", "min_resolution") and (
            isinstance(value, bool) or not isinstance(value, (int, float, str))
        ):
            problem = "a number or a printed figure such as '4.2M'"
        if problem:
            raise SpecError(f"{what} {key} must be {problem}, got {show_value(value)}", file=file, line=line)


ACCURACY_KEYS = ("alpha", "resolution", "top1", "top5", "latency_ms", "source", "variant")


def _accuracy_rows(data: Located, file: str) -> list[Located]:
    rows = _rows(data, "accuracy", file)
    for row in rows:
        for key, value in row.items():
            if key not in ACCURACY_KEYS:
                raise SpecError(
                    f"unknown accuracy key '{key}'{did_you_mean(key, ACCURACY_KEYS)}", file=file, line=row.line_of(key)
                )
            numeric = key in ("alpha", "resolution", "top1", "top5", "latency_ms")
            if numeric and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise SpecError(
                    f"accuracy {key} must be a number, got {show_value(value)}", file=file, line=row.line_of(key)
                )
            if key in ("source", "variant") and not isinstance(value, str):
                raise SpecError(
                    f"accuracy {key} must be a string, got {show_value(value)}", file=file, line=row.line_of(key)
                )
    return rows


def _rows(data: Located, key: str, file: str) -> list[Located]:
    rows = data.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, Located) for r in rows):
        raise SpecError(f"'{key}' must be a list of mappings", file=file, line=data.line_of(key))
    return list(rows)


def _variants(raw: Any, file: str, line: int) -> dict[str, tuple[str, Located]]:
    """Named variants: each a description and a mapping merged over the spec (mappings merge, the rest
    replaces), so that a reference implementation's different rounding is a few lines, not a copy."""
    if raw is None:
        return {}
    if not isinstance(raw, Located):
        raise SpecError("'variants' must map variant names to overrides", file=file, line=line)
    result = {}
    for name, overrides in raw.items():
        if not _NAME.match(name) or not isinstance(overrides, Located):
            raise SpecError(f"variant '{name}' must be a name mapped to overrides", file=file, line=raw.line_of(name))
        overrides = Located(overrides)
        overrides.line = raw[name].line
        overrides.key_lines = dict(raw[name].key_lines)
        description = str(overrides.pop("description", ""))
        for key in overrides:
            if key not in TOP_LEVEL_KEYS or key in ("variants", "name", "reference", "accuracy"):
                raise SpecError(f"variant '{name}' cannot override '{key}'", file=file, line=overrides.line_of(key))
        result[name] = (description, overrides)
    return result


def deep_merge(base: Located, overrides: Located) -> Located:
    """``base`` with ``overrides`` merged in: nested mappings merge key by key, other values replace."""
    merged = Located(base)
    merged.line = base.line
    merged.key_lines = dict(base.key_lines)
    for key, value in overrides.items():
        if isinstance(value, Located) and isinstance(merged.get(key), Located):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
        merged.key_lines[key] = overrides.line_of(key)
    return merged


def _text(data: Located, key: str, file: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"'{key}' must be a non-empty string", file=file, line=data.line_of(key))
    return value.strip()


def compile_expr(
    value: Any, file: str, line: int, layer: str | None = None, what: str = "", kind: str = "number"
) -> Expr:
    """Parse a spec value with the whitelist grammar; errors point at the line.

    ``kind`` is what the value must be: "number", "condition" or "any" (a block parameter's default);
    a comparison where a number belongs (``out: 16 > 8``) is refused here, before any evaluation, so
    that every command refuses it alike.
    """
    prefix = f"{what}: " if what else ""
    try:
        expr = expressions.parse(value)
    except ExpressionError as err:
        raise SpecError(f"{prefix}{err}", file=file, line=line, layer=layer) from None
    if kind == "number" and expr.condition is True:
        raise SpecError(f"{prefix}{expr.text} is a condition, not a number", file=file, line=line, layer=layer)
    if kind == "condition" and expr.condition is False:
        raise SpecError(f"{prefix}{expr.text} is not a condition such as '$s == 1'", file=file, line=line, layer=layer)
    return expr


def _symbols(raw: Any, file: str, line: int) -> dict[str, Symbol]:
    if not isinstance(raw, Located):
        raise SpecError("'symbols' must be a mapping of name: {default, domain}", file=file, line=line)
    symbols: dict[str, Symbol] = {}
    for name, decl in raw.items():
        where = raw.line_of(name)
        if not _NAME.match(name) or name in RESERVED_NAMES or keyword.iskeyword(name):
            raise SpecError(f"symbol name {name!r} is not allowed", file=file, line=where)
        if not isinstance(decl, Located) or "default" not in decl:
            raise SpecError(f"symbol '{name}' needs a default: {{default: ..., domain: ...}}", file=file, line=where)
        for key in decl:
            if key not in ("default", "domain", "description"):
                raise SpecError(
                    f"unknown key '{key}' in symbol '{name}'{did_you_mean(key, ['default', 'domain', 'description'])}",
                    file=file,
                    line=decl.line_of(key),
                )
        try:
            default = exact_number(decl["default"], f"the default of {name}")
        except SpecError as err:
            raise err.located(file=file, line=decl.line_of("default")) from None
        except (ValueError, ZeroDivisionError):
            raise SpecError(
                f"symbol '{name}': default must be a number", file=file, line=decl.line_of("default")
            ) from None
        integer, bounds = _domain(str(decl.get("domain", "")), name, file, decl.line_of("domain"))
        symbol = Symbol(name, default, integer, bounds, str(decl.get("description", "")))
        problem = symbol.violation(default)
        if problem:
            raise SpecError(f"default outside its domain: {problem}", file=file, line=decl.line_of("default"))
        symbols[name] = symbol
    return symbols


def _domain(text: str, name: str, file: str, line: int) -> tuple[bool, tuple[tuple[str, Fraction], ...]]:
    text = text.strip()
    integer = False
    if text.startswith("integer"):
        integer = True
        text = text[len("integer") :].strip()
    bounds = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _BOUND.match(part)
        if not match:
            raise SpecError(
                f"symbol '{name}': domain part {part!r} is not of the form '> 0', '<= 1', 'integer >= 1'",
                file=file,
                line=line,
            )
        try:
            bounds.append((match.group(1), exact_number(match.group(2), f"the bound of {name}")))
        except SpecError as err:
            raise err.located(file=file, line=line) from None
        except (ValueError, ZeroDivisionError):
            raise SpecError(f"symbol '{name}': {part!r} does not bound it by a number", file=file, line=line) from None
    return integer, tuple(bounds)


def _input(raw: Any, file: str, line: int) -> tuple[Expr, Expr, Expr | None, int]:
    """Channels, height and width (None for a square input, ``size: S``; ``size: [H, W]`` otherwise)."""
    if not isinstance(raw, Located) or "channels" not in raw or "size" not in raw:
        raise SpecError("'input' must be {channels: C, size: S} or {channels: C, size: [H, W]}", file=file, line=line)
    for key in raw:
        if key not in ("channels", "size"):
            raise SpecError(
                f"unknown key '{key}' in input{did_you_mean(key, ['channels', 'size'])}",
                file=file,
                line=raw.line_of(key),
            )
    channels = compile_expr(raw["channels"], file, raw.line_of("channels"), what="input channels")
    size, where = raw["size"], raw.line_of("size")
    if isinstance(size, list):
        if len(size) != 2:
            raise SpecError(f"input size takes S or [H, W], got a list of {len(size)}", file=file, line=where)
        height = compile_expr(size[0], file, where, what="input height")
        width = compile_expr(size[1], file, where, what="input width")
        return channels, height, None if width.text == height.text else width, raw.line
    return channels, compile_expr(size, file, where, what="input size"), None, raw.line


def _width(raw: Any, file: str, line: int, symbols: dict[str, Symbol]) -> WidthRule | None:
    if raw is None:
        return None
    raw_rule: Any
    multiplier: Any
    if isinstance(raw, str):
        raw_rule, multiplier, where = raw, WIDTH_SYMBOL, line
    elif isinstance(raw, Located):
        raw_rule, multiplier, where = raw.get("rule"), raw.get("multiplier", WIDTH_SYMBOL), raw.line
        for key in raw:
            if key not in ("rule", "multiplier"):
                raise SpecError(
                    f"unknown key '{key}' in width{did_you_mean(key, ['rule', 'multiplier'])}",
                    file=file,
                    line=raw.line_of(key),
                )
    else:
        raise SpecError("'width' must be a rule name or {rule: ..., multiplier: ...}", file=file, line=line)
    if not isinstance(multiplier, str):
        raise SpecError(
            f"width multiplier must be a symbol's name, got {show_value(multiplier)}", file=file, line=where
        )
    if not isinstance(raw_rule, str) or raw_rule not in intmath.WIDTH_RULES:
        raise SpecError(
            f"unknown width rule {raw_rule!r}{did_you_mean(str(raw_rule), intmath.WIDTH_RULES)}"
            f" (rules: {', '.join(intmath.WIDTH_RULES)})",
            file=file,
            line=where,
        )
    if raw_rule != "none" and multiplier not in symbols:
        raise SpecError(f"width multiplier '{multiplier}' is not a declared symbol", file=file, line=where)
    return WidthRule(raw_rule, multiplier, where)


def _defaults(raw: Any, file: str) -> dict[str, Located]:
    from costmodel.ops import REGISTRY

    if not isinstance(raw, Located):
        raise SpecError("'defaults' must map operator names to attributes", file=file)
    result = {}
    for op, attrs in raw.items():
        if op not in REGISTRY:
            raise SpecError(
                f"defaults for unknown op '{op}'{did_you_mean(op, REGISTRY)}", file=file, line=raw.line_of(op)
            )
        if not isinstance(attrs, Located):
            raise SpecError(f"defaults for '{op}' must be a mapping", file=file, line=raw.line_of(op))
        schema = REGISTRY[op].schema()
        for key in attrs:
            if key not in schema:
                raise SpecError(
                    f"unknown attribute '{key}' of {op}{did_you_mean(key, schema)}",
                    file=file,
                    line=attrs.line_of(key),
                )
        result[op] = attrs
    return result


def _blocks(raw: Any, file: str) -> dict[str, Block]:
    from costmodel.ops import REGISTRY

    if not isinstance(raw, Located):
        raise SpecError("'blocks' must map block names to {params, body}", file=file)
    blocks = {}
    for name, decl in raw.items():
        where = raw.line_of(name)
        if not _NAME.match(name):
            raise SpecError(f"block name {name!r} must be a plain identifier", file=file, line=where)
        if name in REGISTRY:
            raise SpecError(f"block '{name}' has the name of an operator", file=file, line=where)
        if not isinstance(decl, Located) or not isinstance(decl.get("body"), LocatedList) or not decl["body"]:
            raise SpecError(f"block '{name}' needs a non-empty 'body' list", file=file, line=where)
        for key in decl:
            if key not in ("params", "body", "description"):
                raise SpecError(
                    f"unknown key '{key}' in block '{name}'{did_you_mean(key, ['params', 'body'])}",
                    file=file,
                    line=decl.line_of(key),
                )
        params_raw = decl.get("params") or []
        params: dict[str, Expr | None] = {}
        param_lines: dict[str, int] = {}
        if isinstance(params_raw, list):
            for p in params_raw:
                if not isinstance(p, str) or not _NAME.match(p):
                    raise SpecError(
                        f"block '{name}': parameter names must be identifiers",
                        file=file,
                        line=decl.line_of("params"),
                    )
                params[p] = None
                param_lines[p] = decl.line_of("params")
        elif isinstance(params_raw, Located):
            for p, default in params_raw.items():
                if not _NAME.match(p):
                    raise SpecError(
                        f"block '{name}': parameter {p!r} must be an identifier",
                        file=file,
                        line=params_raw.line_of(p),
                    )
                params[p] = (
                    None
                    if default is None
                    else compile_expr(default, file, params_raw.line_of(p), what=f"default of ${p}", kind="any")
                )
                param_lines[p] = params_raw.line_of(p)
        else:
            raise SpecError(
                f"block '{name}': 'params' must be a list or a mapping",
                file=file,
                line=decl.line_of("params"),
            )
        for p in params:
            if p in ("name", "repeat", "from", "use", "op"):
                raise SpecError(f"block '{name}': parameter name '{p}' is reserved", file=file, line=param_lines[p])
        blocks[name] = Block(name, params, param_lines, decl["body"], where)
    return blocks
