"""Every output file is written whole or not at all, with the permissions a plain open() would give."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from costmodel import executor
from costmodel.atomic_write import write_bytes, write_text
from costmodel.errors import UsageError


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_0666_less_the_umask(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "report.md"
    write_text(target, "# report\n")
    assert target.read_text() == "# report\n"
    assert mode(target) == 0o644


def test_an_existing_file_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    target.chmod(0o640)
    write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o640


def test_a_failed_check_leaves_neither_the_file_nor_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the previous model")

    def refuse(path: str) -> None:
        raise ValueError("not a model")

    with pytest.raises(ValueError):
        write_bytes(target, b"garbage", refuse)
    assert target.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_an_unwritable_place_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    target = tmp_path / "no such folder" / "out.txt"
    with pytest.raises(UsageError, match=r"cannot write .*out\.txt"):
        write_text(target, "x")


def test_saved_weights_go_through_the_same_writer(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "w.npz"
    executor.save_weights(target, {"fc": {"weight": np.ones((2, 3), dtype=np.float32)}})
    assert mode(target) == 0o644
    np.testing.assert_array_equal(executor.load_weights(target)["fc"]["weight"], np.ones((2, 3)))
