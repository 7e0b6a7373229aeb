"""The exceptions for mistakes in user input, and the small text helpers their messages use.

The CLI prints a :class:`UserError` as one line and exits with status 2: a :class:`SpecError` points at
a file, line and layer; a :class:`UsageError` is a bad option or argument with nothing to point at.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

# Control characters and line breaks a name from a spec or file may hold, escaped wherever an error
# names it: C0 and C1 controls (NEL, U+0085, breaks a line; CSI, U+009B, starts a terminal escape), the
# Unicode line and paragraph separators.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]} | {
    ord("\n"): "\\n",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def one_line(message: str) -> str:
    """``message`` with control characters escaped (a name with a newline or an escape sequence in it
    cannot break the line or colour the terminal)."""
    return message.translate(_CONTROL)


class UserError(Exception):
    """A mistake in what the user gave (a spec, a file, an option): one line, never a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(UserError):
    """A user error located in a spec: file, line and layer travel with the message.

    Rendered as ``FILE:LINE: layer 'NAME': message``; parts that are unknown are left out.
    """

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, layer: str | None = None
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.layer = layer

    def located(self, *, file: str | None = None, line: int | None = None, layer: str | None = None) -> SpecError:
        """A copy with missing location parts filled in (inner knowledge wins)."""
        return SpecError(
            self.message,
            file=self.file or file,
            line=self.line or line,
            layer=self.layer or layer,
        )

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        layer = f"layer '{self.layer}': " if self.layer else ""
        return one_line(f"{where}{layer}{self.message}")


class UsageError(UserError):
    """A bad option value (alpha <= 0, an unknown symbol...): no file or line to point at."""

    def __str__(self) -> str:
        return one_line(self.message)


class NotANumber(UsageError, ValueError):
    """Text that is not a number: a ValueError for the callers that word their own message, and a
    user error (one line) wherever none does."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def show_number(value: Any) -> str:
    """An exact value for a message: '3' for a whole number, '0.75' otherwise."""
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else format(float(value), "g")
    return str(value)


def show_value(value: Any) -> str:
    """A value from a spec for a message, short whatever it is: a list or mapping by its kind (it may
    be huge, or aliased many times over), a scalar by its repr cut to 40 characters."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}…{text[-6:]}"


def show_name(name: str, most: int = 80) -> str:
    """A name the user typed, cut for a message (a 300-character file name stays one short line)."""
    return name if len(name) <= most else f"{name[: most - 12]}…{name[-10:]}"
