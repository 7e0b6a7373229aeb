"""Results that a notebook shows as a table and pandas reads as rows.

Every what-if answer (a solution, a frontier, a ranking, a sweep, a comparison) has ``to_records()``:
plain dicts, one per row, for ``pandas.DataFrame(result.to_records())``; in Jupyter it shows itself
as a Markdown table (the first rows of a long one).
"""

from __future__ import annotations

from typing import Any

DISPLAY_ROWS = 40


class Tabular:
    """A mixin: ``to_records()`` is the subclass's; the display comes from it."""

    def to_records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _repr_markdown_(self) -> str:
        from tabulate import tabulate

        rows = self.to_records()
        shown = rows[:DISPLAY_ROWS]
        text = str(tabulate([{k: _cell(v) for k, v in r.items()} for r in shown], headers="keys", tablefmt="pipe"))
        if len(rows) > len(shown):
            text += f"\n\n({len(rows) - len(shown):,} more rows: to_records() has them all)"
        return f"**{type(self).__name__}**\n\n{text}"


def _cell(value: Any) -> Any:
    if hasattr(value, "denominator") and getattr(value, "denominator", 1) != 1:
        return float(value)
    return value
