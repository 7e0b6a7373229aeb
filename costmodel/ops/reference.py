"""The operator reference of specs/README.md, generated from the registry so that it cannot drift.

``python -m costmodel.ops.reference`` prints it; ``pytest --update-goldens`` writes it into
specs/README.md between its markers, and the tests fail when the file and the registry disagree.
"""

from __future__ import annotations

from dataclasses import MISSING, fields

from costmodel.ops import REGISTRY
from costmodel.ops.base import Operator

FAMILY_ORDER = (
    "conv",
    "linear",
    "norm",
    "activation",
    "misc",
    "pool",
    "padding",
    "resize",
    "merge",
    "channels",
    "tokens",
)  # as a reader meets them
BEGIN = "<!-- operators: generated from the registry by costmodel.ops.reference -->"
END = "<!-- /operators -->"


def _attributes(cls: type[Operator]) -> str:
    parts = []
    for f in fields(cls):
        note, shown = f.metadata.get("note", ""), f.metadata.get("shown", "")
        if f.default is MISSING:
            parts.append(f"`{f.name}` (required{', ' + note if note else ''})")
            continue
        value = shown or (str(f.default).lower() if isinstance(f.default, bool) else str(f.default))
        parts.append(f"`{f.name}` = {value}" + (f" ({note})" if note else ""))
    return ", ".join(parts) or "—"


def _inputs(cls: type[Operator]) -> str:
    return str(cls.min_inputs) if cls.min_inputs == cls.max_inputs else f"{cls.min_inputs}–{cls.max_inputs}"


def tables() -> str:
    """The two Markdown tables: what each operator takes and gives, and what it counts."""
    ops = sorted(REGISTRY.values(), key=lambda c: FAMILY_ORDER.index(c.__module__.rpartition(".")[2]))
    lines = ["| op | attributes | inputs | output |", "| --- | --- | --- | --- |"]
    lines += [f"| `{c.op_name}` | {_attributes(c)} | {_inputs(c)} | {c.shape_doc} |" for c in ops]
    lines += [
        "",
        "What each operator counts (C = input channels, K = kh·kw, N = output elements, n = number of inputs):",
        "",
        "| op | parameters (kind) | MACs | other ops |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| `{c.op_name}` | {c.params_doc} | {c.macs_doc} | {c.other_ops_doc} |" for c in ops]
    return "\n".join(lines) + "\n"


def with_tables(document: str) -> str:
    """``document`` with the text between the markers replaced by :func:`tables`."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document has no {BEGIN} ... {END} section")
    return f"{head}{BEGIN}\n\n{tables()}\n{END}{tail}"


if __name__ == "__main__":  # pragma: no cover
    print(tables(), end="")
