"""Loading a model by what a user types: a built-in name or alias, a YAML spec file, an ONNX file.

It sits above both the spec-based model and the ONNX importer, so that neither knows of the other.
"""

from __future__ import annotations

from pathlib import Path

from costmodel.errors import UsageError, did_you_mean, show_name
from costmodel.model import Model, model_from_file
from costmodel.resources import builtin_names, builtin_spec_path

ALIASES = {"mobilenet": "mobilenet_v1", "squeezenet": "squeezenet1_0"}


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL in it
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def is_onnx(name_or_path: str | Path) -> bool:
    """Whether MODEL names an ONNX file (read by the importer, with the weights it holds)."""
    return str(name_or_path).lower().endswith(".onnx")


def load_model(name_or_path: str | Path, variant: str | None = None) -> Model:
    """A built-in model by name or alias, a spec file or an ONNX file by path; optionally a variant."""
    text = str(name_or_path)
    path = Path(text)
    if is_onnx(text):  # an ONNX CNN, read into the same graph (the onnx extra)
        if not _is_file(path):
            problem = "not a regular file" if _exists(path) else "no such ONNX file"
            raise UsageError(f"{problem}: {show_name(text)}")
        if variant is not None:
            raise UsageError(f"an ONNX model has no variants (got --variant {variant})")
        from costmodel.onnx_import import import_model

        return import_model(path, text)
    if text.endswith((".yaml", ".yml")) or _is_file(path) or "/" in text:
        if not _is_file(path):
            problem = "not a regular file" if _exists(path) else "no such spec file"
            raise UsageError(f"{problem}: {show_name(text)}")
        return model_from_file(str(path.resolve()), text, variant)
    name = ALIASES.get(text, text)
    builtin = builtin_spec_path(name)
    if builtin is None:
        names = builtin_names()
        raise UsageError(
            f"unknown model '{show_name(text)}'{did_you_mean(text, [*names, *ALIASES])}; "
            f"built-in models: {', '.join(names)} (or give a path to a .yaml spec)"
        )
    return model_from_file(str(builtin), f"specs/{builtin.name}", variant)
