"""The one exception type for mistakes in user input, printed as a single line by the CLI."""

from __future__ import annotations


class SpecError(Exception):
    """A user error located in a spec: file, line and layer travel with the message.

    Rendered as ``FILE:LINE: layer 'NAME': message``; parts that are unknown are left out.
    """

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, layer: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
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
        return f"{where}{layer}{self.message}"


class UsageError(SpecError):
    """A bad option value (alpha <= 0, an unknown symbol...): no file or line to point at."""
