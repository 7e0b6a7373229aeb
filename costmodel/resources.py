"""Where the built-in specs and the report templates live.

They are top-level folders of the repository; a wheel carries them inside the package
(``costmodel/specs``, ``costmodel/templates``), a source checkout has them beside the package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"costmodel's {name}/ folder is missing from this installation")


@cache
def spec_dir() -> Path:
    return _data_dir("specs")


@cache
def template_dir() -> Path:
    return _data_dir("templates")


def builtin_names() -> list[str]:
    return sorted(p.stem for p in spec_dir().glob("*.yaml"))


def builtin_spec_path(name: str) -> Path | None:
    return spec_dir() / f"{name}.yaml" if name in builtin_names() else None
