"""Copy torchvision's published figures for the built-in models into tests/data, from its own source.

torchvision's weight enums carry each model's ``num_params``, ``_ops`` (GMACs at 224, rounded to 3
decimals) and ImageNet ``acc@1``/``acc@5``. This script reads them from a torchvision wheel or source
folder without importing torch (the model files are parsed, not run) and rewrites the rows of
``tests/data/published.json`` and ``tests/data/accuracy.json`` whose source names that torchvision
version; every other row is left as it is.

    python tools/torchvision_metadata.py /path/to/torchvision-0.29.1-...whl
    python tools/torchvision_metadata.py /path/to/site-packages/torchvision --check   # exit 1 if stale
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

NOTE = "params = weights + biases + BN gamma/beta; gmacs = conv + FC MACs / 1e9, rounded to 3 decimals"
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"

# built-in model, its variant, alpha and input side -> torchvision's model file and weights enum
MODELS: list[tuple[str, str | None, float, int, str, str]] = [
    ("mnasnet", None, 0.5, 224, "mnasnet.py", "MNASNet0_5_Weights"),
    ("mnasnet", None, 0.75, 224, "mnasnet.py", "MNASNet0_75_Weights"),
    ("mnasnet", None, 1.0, 224, "mnasnet.py", "MNASNet1_0_Weights"),
    ("mnasnet", None, 1.3, 224, "mnasnet.py", "MNASNet1_3_Weights"),
    ("efficientnet", None, 1.0, 224, "efficientnet.py", "EfficientNet_B0_Weights"),
    ("efficientnet", "b1", 1.0, 240, "efficientnet.py", "EfficientNet_B1_Weights"),
    ("efficientnet", "b2", 1.1, 288, "efficientnet.py", "EfficientNet_B2_Weights"),
    ("efficientnet", "b3", 1.2, 300, "efficientnet.py", "EfficientNet_B3_Weights"),
    ("shufflenet_v2", None, 1.0, 224, "shufflenetv2.py", "ShuffleNet_V2_X1_0_Weights"),
    ("shufflenet_v2", "x0_5", 1.0, 224, "shufflenetv2.py", "ShuffleNet_V2_X0_5_Weights"),
    ("shufflenet_v2", "x1_5", 1.0, 224, "shufflenetv2.py", "ShuffleNet_V2_X1_5_Weights"),
    ("shufflenet_v2", "x2_0", 1.0, 224, "shufflenetv2.py", "ShuffleNet_V2_X2_0_Weights"),
]


def read_sources(path: Path) -> tuple[str, dict[str, str]]:
    """torchvision's version and its model files' text, from a wheel or a package folder."""
    files: dict[str, str] = {}
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            for name in wheel.namelist():
                if re.fullmatch(r"torchvision/models/[a-z0-9_]+\.py", name) or name == "torchvision/version.py":
                    files[name.removeprefix("torchvision/")] = wheel.read(name).decode()
    else:
        for file in [*path.glob("models/*.py"), path / "version.py"]:
            if file.is_file():
                files[str(file.relative_to(path))] = file.read_text()
    match = re.search(r"^__version__ = '([^']+)'", files.get("version.py", ""), re.MULTILINE)
    if match is None:
        raise SystemExit(f"{path}: no torchvision/version.py with a __version__")
    return match.group(1).split("+")[0], files


def weights_meta(source: str, enum: str) -> dict[str, Any]:
    """The literal entries of ``enum.IMAGENET1K_V1``'s ``meta`` (``**_COMMON_META`` left out)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == enum:
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "IMAGENET1K_V1" for t in statement.targets)
                    and isinstance(statement.value, ast.Call)
                ):
                    for keyword in statement.value.keywords:
                        if keyword.arg == "meta" and isinstance(keyword.value, ast.Dict):
                            return {
                                ast.literal_eval(k): ast.literal_eval(v)
                                for k, v in zip(keyword.value.keys, keyword.value.values, strict=True)
                                if k is not None and _is_literal(v)
                            }
    raise SystemExit(f"no {enum}.IMAGENET1K_V1 meta found")


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def rows(version: str, files: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(published rows, accuracy rows) for every built-in model torchvision has weights of."""
    published, accuracy = [], []
    for model, variant, alpha, side, file, enum in MODELS:
        meta = weights_meta(files[f"models/{file}"], enum)
        where = {"model": model, **({"variant": variant} if variant else {}), "alpha": alpha, "resolution": side}
        published.append(
            {
                **where,
                "source": f"torchvision {version} weights metadata ({enum}.IMAGENET1K_V1)",
                "params": meta["num_params"],
                "gmacs_3dp": meta["_ops"],
                "note": NOTE,
            }
        )
        metrics = meta["_metrics"]["ImageNet-1K"]
        accuracy.append(
            {
                **where,
                "top1": metrics["acc@1"],
                "top5": metrics["acc@5"],
                "latency_ms": None,
                "source": f"torchvision {version} weights metadata ({enum}.IMAGENET1K_V1)",
            }
        )
    return published, accuracy


def merged(path: Path, new: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The file's rows with those of this torchvision version replaced by ``new``."""
    prefix = f"torchvision {version} weights metadata"
    kept = [row for row in json.loads(path.read_text()) if not str(row.get("source", "")).startswith(prefix)]
    return kept + new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("torchvision", type=Path, help="a torchvision wheel, or its installed package folder")
    parser.add_argument("--check", action="store_true", help="only say whether tests/data is up to date")
    args = parser.parse_args()
    version, files = read_sources(args.torchvision)
    published, accuracy = rows(version, files)
    stale = []
    for name, new in (("published.json", published), ("accuracy.json", accuracy)):
        path = DATA / name
        text = json.dumps(merged(path, new, version), indent=1, ensure_ascii=False) + "\n"
        if path.read_text() != text:
            stale.append(name)
            if not args.check:
                path.write_text(text)
    verb = "stale" if args.check else "rewritten"
    print(f"torchvision {version}: {len(published)} models; {verb}: {', '.join(stale) or 'none'}")
    sys.exit(1 if args.check and stale else 0)


if __name__ == "__main__":
    main()
