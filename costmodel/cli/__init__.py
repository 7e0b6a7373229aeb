"""The ``costmodel`` command line: a thin layer over the Python API.

User mistakes (bad specs, bad options) print one line, ``error: FILE:LINE: layer 'NAME': ...``, and
exit with status 2; nothing is written. Only internal bugs may show a traceback.

The group lives here; the commands live by job (:mod:`.counting`, :mod:`.closed_forms`,
:mod:`.checking`, :mod:`.running`) and share their options through :mod:`.options`.
"""

from __future__ import annotations

import click

from costmodel.cli import budgets, checking, closed_forms, counting, exploring, running


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costmodel")
def main() -> None:
    """Exact parameter, multiply-add and memory counts of SqueezeNet and the MobileNets.

    MODEL is a built-in name (see `costmodel list`) or the path of a YAML spec.
    """


for _module in (counting, closed_forms, budgets, exploring, checking, running):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
