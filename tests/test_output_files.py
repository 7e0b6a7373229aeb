"""Every command that writes a file: a failed or short write is one line and exit 2 with the previous
file (or none) left in place and no temporary behind; symlinks are followed; directories, devices,
FIFOs and read-only files are refused; a new file gets its mode from the umask."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel import atomic_write
from costmodel.cli import main
from costmodel.errors import UsageError

FSIZE_LIMIT = 200  # bytes: below every output written here (checked by test_outputs_exceed_the_limit)

# command name -> (arguments before the target, file name); the input array is made by `inputs`
WRITERS = {
    "report-json": (["report", "mobilenet_v1"], "out.json"),
    "report-html": (["report", "squeezenet1_1", "--format", "html", "--no-charts"], "out.html"),
    "report-md": (["report", "squeezenet1_1", "--format", "md"], "out.md"),  # with its charts as .svg files
    "table": (["table", "mobilenet_v1", "--alpha", "0.25,0.5,0.75,1", "--res", "128,160,192,224"], "out.csv"),
    "sweep": (["sweep", "mobilenet_v1", "--alpha", "0.25,0.5,0.75,1", "--res", "128,160,192,224"], "out.csv"),
    "whatif": (["whatif", "mobilenet_v1", "--full-conv"], "out.yaml"),
    "run": (["run", "squeezenet1_1", "--res", "32", "--input", "{input}"], "out.npy"),
    "export": (["export", "squeezenet1_1", "--res", "32"], "out.onnx"),
}


def arguments(name: str, folder: Path, target: Path) -> list[str]:
    """The command line of writer ``name`` with ``-o target``."""
    args, _ = WRITERS[name]
    x = folder / "x.npy"
    if not x.exists():
        np.save(x, np.zeros((1, 3, 32, 32), dtype=np.float32))
    return [a.replace("{input}", str(x)) for a in args] + ["-o", str(target)]


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


def limited(args: list[str], cwd: Path, limit: int = FSIZE_LIMIT) -> subprocess.CompletedProcess[str]:
    """The command in its own process, unable to write files larger than ``limit`` bytes (a full disk)."""

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "costmodel", *args],
        cwd=cwd,
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=120,
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("name", WRITERS)
def test_outputs_exceed_the_limit(name: str, tmp_path: Path) -> None:
    """The precondition of the full-disk test: each output is larger than the limit it runs under."""
    target = tmp_path / WRITERS[name][1]
    code, output = invoke(arguments(name, tmp_path, target))
    assert code == 0, output
    assert target.stat().st_size > FSIZE_LIMIT


@pytest.mark.parametrize("name", WRITERS)
def test_a_full_disk_is_one_line_exit_2_and_the_previous_file_stays(name: str, tmp_path: Path) -> None:
    target = tmp_path / WRITERS[name][1]
    target.write_bytes(b"previous")
    done = limited(arguments(name, tmp_path, target), tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: cannot write"), done.stderr
    assert target.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["run", "export", "report-json"])
def test_a_full_disk_leaves_no_file_where_there_was_none(name: str, tmp_path: Path) -> None:
    target = tmp_path / WRITERS[name][1]
    done = limited(arguments(name, tmp_path, target), tmp_path)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("name", WRITERS)
def test_a_symlink_is_followed(name: str, tmp_path: Path) -> None:
    real = tmp_path / "real" / WRITERS[name][1]
    real.parent.mkdir()
    real.write_bytes(b"previous")
    link = tmp_path / WRITERS[name][1]
    link.symlink_to(real)
    code, output = invoke(arguments(name, tmp_path, link))
    assert code == 0, output
    assert link.is_symlink() and real.stat().st_size > len(b"previous")


@pytest.mark.parametrize("name", WRITERS)
@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "read-only"])
def test_a_target_that_is_not_a_writable_regular_file_is_refused(name: str, kind: str, tmp_path: Path) -> None:
    target = tmp_path / WRITERS[name][1]
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target = Path(os.devnull)
    else:
        target.write_bytes(b"keep me")
        target.chmod(0o444)
    code, output = invoke(arguments(name, tmp_path, target))
    assert code == 2, output
    assert len(output.strip().splitlines()) == 1
    if kind == "device":
        assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    elif kind == "read-only":
        assert target.read_bytes() == b"keep me" and "read-only" in output
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", WRITERS)
def test_a_new_file_gets_its_mode_from_the_umask(name: str, tmp_path: Path) -> None:
    target = tmp_path / WRITERS[name][1]
    old = os.umask(0o027)
    try:
        code, output = invoke(arguments(name, tmp_path, target))
    finally:
        os.umask(old)
    assert code == 0, output
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_short_write_is_caught_even_when_no_write_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem that drops bytes without an error (the size on disk disagrees with what was written)."""
    target = tmp_path / "out.txt"
    target.write_text("previous")
    real_size = os.path.getsize
    monkeypatch.setattr(atomic_write.os.path, "getsize", lambda p: real_size(p) - 1)
    with pytest.raises(UsageError, match=r"cannot write .*out\.txt: only 9 of 10 bytes reached the disk"):
        atomic_write.write_text(target, "0123456789")
    assert target.read_text() == "previous" and leftovers(tmp_path) == []
