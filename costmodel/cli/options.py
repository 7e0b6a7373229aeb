"""What every command shares: the point, counting and variant options, the text output, the error exit.

Options are turned into the objects the API takes as click reads them, so that a command body sees a
:class:`~costmodel.model.PointOptions`, a :class:`~costmodel.conventions.Counting` and a
:class:`Destination` instead of loose strings, and every command reads them the same way.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from costmodel import atomic_write, conventions
from costmodel.conventions import Counting
from costmodel.errors import UsageError, UserError, one_line
from costmodel.macs_conventions import CONVENTIONS
from costmodel.model import PointOptions


def complete_models(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of a MODEL: the built-in names and aliases, else spec and ONNX files."""
    from click.shell_completion import CompletionItem

    from costmodel.loading import ALIASES
    from costmodel.resources import builtin_names

    names = [n for n in [*builtin_names(), *ALIASES] if n.startswith(incomplete)]
    if names and "/" not in incomplete:
        return [CompletionItem(n) for n in names]
    return [CompletionItem(incomplete, type="file")]


def model_argument(command: Callable[..., Any]) -> Callable[..., Any]:
    """The MODEL argument: a built-in name, a spec file or an ONNX file (with shell completion)."""
    decorated: Callable[..., Any] = click.argument("model_name", metavar="MODEL", shell_complete=complete_models)(
        command
    )
    return decorated


def say(text: str, colour: str | None = None, bold: bool = False) -> None:
    """A line on stdout, in colour on a terminal that shows it (never when piped, never with NO_COLOR)."""
    plain = bool(os.environ.get("NO_COLOR")) or (colour is None and not bold)
    click.echo(text if plain else click.style(text, fg=colour, bold=bold), color=False if plain else None)


EXIT_USAGE = 2
EXIT_MISMATCH = 1

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


EXIT_BUG = 3

MAX_MESSAGE = 1000  # characters: a value quoted in a message cannot make a megabyte of line


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2: how the command line reports every user mistake."""
    line = one_line(message)
    if len(line) > MAX_MESSAGE:
        line = f"{line[: MAX_MESSAGE - 40]}… ({len(line):,} characters, cut)"
    click.echo(f"error: {line}", err=True)
    sys.exit(EXIT_USAGE)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into one line on stderr and exit status 2.

    Put it right under ``@click.command`` (outermost), so that it also covers the option plumbing the
    other decorators run before the command body: the ``--set`` parsing and the format check.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as err:
            fail(str(err))
        except RecursionError:
            fail("the spec nests too deeply to evaluate")

    return wrapper


class OutputFile(click.ParamType):
    """An ``-o`` target, checked as the option is read: a directory, device, FIFO or read-only file
    is refused before any counting starts (:func:`costmodel.atomic_write.destination`).

    ``-o -`` means stdout where the command's output is text it would print anyway (``stdout_ok``);
    where it is a binary file or a second output beside the printed one, ``-`` is refused rather than
    written as a file named ``-``."""

    name = "file"

    def __init__(self, stdout_ok: bool = False) -> None:
        self.stdout_ok = stdout_ok

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if str(value) == STDOUT:
            if not self.stdout_ok:
                self.fail("'-' (stdout) is not a file this command can write: give a file name", param, ctx)
            return STDOUT
        try:
            atomic_write.destination(value)
        except UserError as err:
            self.fail(str(err), param, ctx)
        return str(value)


STDOUT = "-"
OUTPUT_FILE = OutputFile()
TEXT_OUTPUT_FILE = OutputFile(stdout_ok=True)


def parse_sets(pairs: Sequence[str], option: str = "--set") -> tuple[tuple[str, str], ...]:
    """``--set NAME=VALUE`` pairs, stripped, in the order given (a later one for a name wins)."""
    values = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"{option} takes name=value, got {pair!r}")
        values.append((name.strip(), value.strip()))
    return tuple(values)


_POINT_OPTIONS: tuple[Decorator, ...] = (
    click.option("--alpha", help="Width multiplier α (e.g. 0.75)."),
    click.option(
        "--res",
        "resolution",
        help="Input side in pixels (e.g. 192), or height x width (224x160); sets ρ = res / the spec's base side "
        "(224 for the built-ins).",
    ),
    click.option("--rho", help="Resolution multiplier ρ; the input side is rounded to whole pixels."),
    click.option("--classes", help="Number of classes (num_classes)."),
    click.option(
        "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Any other spec symbol, e.g. --set sr=0.25."
    ),
)


def point_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--alpha, --res/--rho, --classes and --set, given to the command as one ``point: PointOptions``."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        alpha: str | None,
        resolution: str | None,
        rho: str | None,
        classes: str | None,
        sets: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        point = PointOptions(alpha, resolution, rho, classes, parse_sets(sets))
        return command(*args, point=point, **kwargs)

    decorated: Callable[..., Any] = wrapper
    for option in reversed(_POINT_OPTIONS):
        decorated = option(decorated)
    return decorated


class CountingType(click.Choice):
    """A preset name, looked up once as click reads it: commands receive the :class:`Counting`."""

    def __init__(self) -> None:
        super().__init__(list(conventions.PRESETS))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Counting:
        if isinstance(value, Counting):
            return value
        return conventions.get_counting(super().convert(value, param, ctx))


_COUNTING = click.option(
    "--counting",
    type=CountingType(),
    default=conventions.DEFAULT,
    show_default=True,
    help="Which weight arrays count as parameters.",
)


def counting_options(all_conventions: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--counting and --conventions, given to the command as one ``counting: Counting``. With
    ``all_conventions``, --conventions all passes the command ``all_conventions=True`` (and the paper's)."""
    names = list(CONVENTIONS) + (["all"] if all_conventions else [])

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, counting: Counting, macs_convention: str, **kwargs: Any) -> Any:
            if all_conventions:
                kwargs["all_conventions"] = macs_convention == "all"
            convention = "paper" if macs_convention == "all" else macs_convention
            return command(*args, counting=counting.with_macs(convention), **kwargs)

        option = click.option(
            "--conventions",
            "--convention",
            "macs_convention",
            type=click.Choice(names),
            default="paper",
            show_default=True,
            help="What the MACs count: the paper's multiply-accumulates, or what a PyTorch counting tool adds "
            "to them (`costmodel conventions` lists the rules)"
            + ("; all: every convention's total side by side." if all_conventions else "."),
        )
        return _COUNTING(option(wrapper))

    return decorate


counting_option = counting_options()
# Where only the parameters' convention means something (verify checks what the executor multiplies).
params_counting_option = _COUNTING

variant_option = click.option(
    "--variant", help="A named variant of the spec (e.g. keras: the Keras implementation's rounding)."
)

# The extensions an -o file may name its format by (a command only knows those of its own formats).
EXTENSION_FORMATS: Mapping[str, str] = {
    ".txt": "table",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".csv": "csv",
    ".tex": "latex",
}


@dataclass(frozen=True)
class Destination:
    """Where a command's text goes (stdout, or one file written whole) and in which format."""

    fmt: str
    path: str | None = None

    def write(self, text: str) -> None:
        """Print, or write the whole file at once (never a partial file, normal permissions)."""
        if self.path is None:
            click.echo(text, nl=False)
        else:
            atomic_write.write_text(self.path, text)


def output_format(fmt: str | None, path: str | None, formats: Sequence[str], default: str) -> str:
    """The format asked for, else the one the file's extension names, else ``default``.

    A ``--format`` that contradicts a known extension is an error: the file would lie about its content.
    """
    implied = EXTENSION_FORMATS.get(Path(path).suffix.lower()) if path is not None else None
    if implied not in formats:
        implied = None
    if fmt is not None and implied is not None and fmt != implied:
        raise UsageError(f"--format {fmt} contradicts -o {path}, whose extension means --format {implied}")
    return fmt or implied or default


def output_options(formats: Sequence[str], default: str) -> Decorator:
    """--format and -o, given to the command as one ``output: Destination``.

    Without --format, an -o file's known extension picks the format (``-o report.html`` writes HTML).
    """
    # No click default, so that an explicit --format can be told from none; the help still shows the default
    # as show_default would.
    format_option = click.option("--format", "fmt", type=click.Choice(list(formats)), help=f"[default: {default}]")
    file_option = click.option(
        "-o",
        "--output",
        type=TEXT_OUTPUT_FILE,
        help="Write to this file instead of stdout ('-': stdout); without --format its extension (.md, .html, "
        "...) picks one.",
    )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, fmt: str | None, output: str | None, **kwargs: Any) -> Any:
            output = None if output == STDOUT else output
            destination = Destination(output_format(fmt, output, formats, default), output)
            return command(*args, output=destination, **kwargs)

        return format_option(file_option(wrapper))

    return decorate
