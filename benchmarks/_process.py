"""Whole-process timing shared by the benchmark scripts: users start a fresh ``costmodel`` each time,
so imports and start-up count."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def costmodel_command() -> list[str]:
    """The console script next to the running interpreter, else ``python -m costmodel``."""
    script = Path(sys.executable).parent / "costmodel"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "costmodel"]


def whole_process(cmd: list[str]) -> float:
    """Wall seconds of ``cmd`` run from the checkout; a failing command ends the benchmark with its stderr."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return elapsed
