"""The ``costmodel`` command line: a thin layer over the Python API.

User mistakes (bad specs, bad options, click's usage errors) print one line, ``error: FILE:LINE:
layer 'NAME': ...``, and exit with status 2; nothing is written. A bug prints one line that says so and
exits with status 3 (``COSTMODEL_DEBUG=1`` shows its traceback).

The group lives here; the commands live by job (:mod:`.counting`, :mod:`.closed_forms`,
:mod:`.checking`, :mod:`.running`) and share their options through :mod:`.options`.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from costmodel.cli import budgets, checking, closed_forms, counting, explaining, exploring, running
from costmodel.cli.options import EXIT_BUG, fail
from costmodel.errors import UserError, one_line

GC_THRESHOLD = 100_000  # allocations between collections of the youngest generation (Python's: 700)


class _Main(click.Group):
    """The group, with the promise of one line kept at the top: click's own usage errors become one
    line with exit 2, and an exception that escapes a command (a bug) one line with exit 3."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, UserError):
            raise
        except Exception as err:
            if isinstance(err, OSError) and err.errno == errno.EPIPE:  # stdout closed early (| head): click's
                raise  # own quiet exit
            raise _Bug(err) from err

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # A command makes many objects that live to its end (a network and its counts per point): at
        # Python's default thresholds the collector rescans them over and over, a third of a
        # 15,000-layer `check`. Collections still run, a hundred times less often.
        gc.set_threshold(GC_THRESHOLD, 50, 100)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:
            err.show()
            sys.exit(err.exit_code)
        except click.UsageError as err:
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
            fail(err.format_message().rstrip(".") + hint)
        except click.ClickException as err:
            fail(err.format_message())
        except UserError as err:  # one raised while click reads the options
            fail(str(err))
        except click.Abort:
            click.echo("error: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except _Bug as bug:
            _report_bug(bug.error)
        sys.exit(result if isinstance(result, int) else 0)


class _Bug(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _report_bug(error: BaseException) -> NoReturn:
    """One line that says a bug is a bug (exit 3, distinct from a user's mistake), with where it
    happened; ``COSTMODEL_DEBUG=1`` shows the whole traceback."""
    if os.environ.get("COSTMODEL_DEBUG"):
        traceback.print_exception(error)
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = one_line(f"{type(error).__name__}: {error}")[:300]
    click.echo(
        f"costmodel: internal error (a bug, not your input): {text}{where}; please report it with the command "
        "that caused it (COSTMODEL_DEBUG=1 shows the traceback)",
        err=True,
    )
    sys.exit(EXIT_BUG)


EXIT_INTERRUPTED = 130


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costmodel")
def main() -> None:
    """Exact parameter, multiply-add and memory counts of SqueezeNet and the MobileNets.

    MODEL is a built-in name (see `costmodel list`) or the path of a YAML spec.
    """


for _module in (counting, closed_forms, budgets, exploring, checking, running, explaining):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
