"""Files in (issue 12, item 3): every bad array or ONNX file is one line on stderr, exit 2, at once.

Only regular files are read (a FIFO is never waited on); an .npy or .npz header is checked (real
floating-point and integer arrays only, the declared size against the memory limit and against what
the file or zip member holds) before any data is read; an ONNX file's encoding is walked (nodes,
fields, the size it would parse into) before it is parsed, and its initializers are checked the way
an .npy header is before numpy_helper reads them.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from costmodel import arrays, executor
from costmodel.cli import main
from costmodel.errors import UserError
from costmodel.loading import load_model

DATA = Path(__file__).resolve().parent / "data"

MODEL = "squeezenet1_1"
FAST = 1.0  # seconds: "well under a second" for a refusal, once the program is loaded


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def refused(*args: str, fragments: tuple[str, ...] = ()) -> str:
    """Run the command line; it must refuse with one ``error:`` line, exit 2, quickly; the line is returned."""
    start = time.perf_counter()
    result = cli(*args)
    elapsed = time.perf_counter() - start
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output!r} {result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert elapsed < FAST, f"{elapsed:.2f} s: {lines[0]}"
    return lines[0]


def npy_bytes(array: Any, **kwargs: Any) -> bytes:
    handle = io.BytesIO()
    np.save(handle, array, **kwargs)
    return handle.getvalue()


def npz_bytes(**arrays: Any) -> bytes:
    handle = io.BytesIO()
    np.savez(handle, **arrays)
    return handle.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f4", fortran_order: bool = False) -> bytes:
    handle = io.BytesIO()
    np.lib.format.write_array_header_1_0(handle, {"descr": descr, "fortran_order": fortran_order, "shape": shape})
    return handle.getvalue()


def write_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name is what one of the tests wants
        with zipfile.ZipFile(path, "w", method) as archive:
            for name, data in members.items() if isinstance(members, dict) else members:
                archive.writestr(name, data)
    return path


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1, 3, 32, 32), dtype=np.float32))
    return path


# -- --input: one .npy array of real numbers ------------------------------------------------------------


def _input_cases() -> list[Any]:
    zeros = (1, 3, 32, 32)
    return [
        pytest.param(lambda p: p.write_bytes(b""), ("the file is empty",), id="empty-file"),
        pytest.param(lambda p: p.write_bytes(b"not numpy\n"), ("not a NumPy .npy or .npz file",), id="not-numpy"),
        pytest.param(lambda p: np.save(p, np.zeros(zeros, "m8[s]")), ("time deltas",), id="timedelta"),
        pytest.param(lambda p: np.save(p, np.zeros(zeros, "M8[s]")), ("dates",), id="datetime"),
        pytest.param(lambda p: np.save(p, np.zeros(zeros, [("a", "f4")])), ("records",), id="structured"),
        pytest.param(lambda p: np.save(p, np.zeros(zeros, np.complex64)), ("complex numbers",), id="complex"),
        pytest.param(
            lambda p: np.save(p, np.zeros(zeros, object), allow_pickle=True), ("Python objects",), id="object"
        ),
        pytest.param(lambda p: np.save(p, np.zeros(zeros, bool)), ("booleans",), id="bool"),
        pytest.param(lambda p: np.save(p, np.zeros(zeros, "U3")), ("strings",), id="str"),
        pytest.param(lambda p: np.save(p, np.zeros(zeros, "S3")), ("byte strings",), id="bytes"),
        # a header declaring 2**40 elements: refused from the header, nothing allocated
        pytest.param(lambda p: p.write_bytes(npy_header((1 << 40,))), ("magnitude",), id="2**40-elements"),
        pytest.param(lambda p: p.write_bytes(npy_header((1, 1 << 20, 1 << 10, 1 << 10))), ("declares",), id="4-TiB"),
        pytest.param(lambda p: p.write_bytes(npy_header((-1, 3, 2, 2))), ("negative size",), id="negative-shape"),
        pytest.param(lambda p: p.write_bytes(npy_header((1, 3, 2, 2))[:20]), ("damaged .npy header",), id="cut-header"),
        pytest.param(
            lambda p: p.write_bytes(npy_bytes(np.zeros(zeros, np.float32))[:-5]), ("truncated",), id="truncated"
        ),
        pytest.param(
            lambda p: p.write_bytes(npy_bytes(np.zeros(zeros, np.float32)) + b"!!"), ("more than",), id="trailing-data"
        ),
        pytest.param(
            lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\x12\x00__import__('os')\n"), ("damaged",), id="code-in-header"
        ),
        pytest.param(
            lambda p: p.write_bytes(b"\x93NUMPY\x03\x00" + struct.pack("<I", 2) + b"{}"), ("version 3.0",), id="v3"
        ),
        pytest.param(lambda p: np.save(p, np.zeros((0, 3, 32, 32), np.float32)), ("the input is empty",), id="batch-0"),
        pytest.param(lambda p: np.save(p, np.zeros((1, 3, 0, 32), np.float32)), ("the input is empty",), id="side-0"),
        pytest.param(lambda p: np.save(p, np.zeros((3, 32), np.float32)), ("expected an (N, C, H, W)",), id="rank-2"),
        pytest.param(lambda p: p.write_bytes(npz_bytes(x=np.zeros(3))), ("is an .npz archive",), id="npz"),
    ]


@pytest.mark.parametrize(("make", "fragments"), _input_cases())
def test_a_bad_input_file_is_one_line(tmp_path: Path, make: Callable[[Path], None], fragments: tuple[str, ...]) -> None:
    path = tmp_path / "given.npy"
    make(path)
    line = refused("run", MODEL, "--input", str(path), fragments=fragments)
    assert str(path) in line


@pytest.mark.parametrize("dtype", ["<f2", "<f4", ">f4", "<f8", "u1", "i2", "<i8"])
@pytest.mark.parametrize("fortran", [False, True])
def test_real_floats_and_integers_of_any_byte_order_are_read(tmp_path: Path, dtype: str, fortran: bool) -> None:
    values = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).astype(dtype)
    np.save(tmp_path / "a.npy", np.asfortranarray(values) if fortran else values)
    got = arrays.read_npy(tmp_path / "a.npy", "the input")
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == values.shape
    np.testing.assert_array_equal(got, values.astype(np.float32))


def test_a_uint8_image_runs(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.full((3, 32, 32), 7, dtype=np.uint8))
    result = cli("run", MODEL, "--input", str(tmp_path / "x.npy"), "--top", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("output: 1×1000×1×1 (float32)")


def test_the_input_is_checked_against_the_memory_limit_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 3, 64, 64), dtype=np.float64))
    monkeypatch.setenv("COSTMODEL_LIMITS", "memory=100K")
    line = refused("run", MODEL, "--input", str(tmp_path / "x.npy"), fragments=("memory=", "COSTMODEL_LIMITS"))
    assert line.startswith(f"error: {tmp_path / 'x.npy'}: reading the input (4×3×64×64) would need about 576 KiB")


def test_a_file_name_too_long_is_one_line(tmp_path: Path, image: Path) -> None:
    long = str(tmp_path / ("a" * 300 + ".npy"))
    refused("run", MODEL, "--input", long, fragments=("File name too long",))
    refused("run", MODEL, "--input", str(image), "--weights", long[:-1] + "z", fragments=("File name too long",))


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_refused(image: Path) -> None:
    refused("run", MODEL, "--input", "/dev/null", fragments=("it is a device, not a regular file",))
    refused("run", MODEL, "--input", str(image), "--weights", "/dev/zero", fragments=("a device",))


def test_a_directory_is_refused(tmp_path: Path, image: Path) -> None:
    (tmp_path / "d.npy").mkdir()
    refused("run", MODEL, "--input", str(tmp_path / "d.npy"), fragments=("is a directory",))
    refused("run", MODEL, "--input", str(image), "--weights", str(tmp_path / "d.npy"), fragments=("directory",))
    with pytest.raises(UserError, match="it is a directory, not a regular file"):
        executor.load_weights(tmp_path / "d.npy")


# -- --weights: an .npz archive of .npy members --------------------------------------------------------


def _zip_bomb(path: Path) -> None:
    """A small archive whose one member declares 4 GiB: a 1 GiB-element float32 header, and a zip
    directory entry of 4 GiB (only what is declared matters: nothing of it may be inflated)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("conv1/weight.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(npy_header((1 << 30,)) + bytes(1 << 20))
        info.file_size = 128 + (4 << 30)  # what the central directory will declare


def _lying_sizes(path: Path) -> None:
    """A member of 64 MiB of zeros whose zip sizes say 1 KiB, as its .npy header does: read up to the
    declared size only, where the CRC check fails."""
    header = npy_header((256,))
    write_zip(path, {"conv1/weight.npy": header + bytes(64 << 20)}, zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    declared = len(header) + 1024
    struct.pack_into("<I", raw, 22, declared)  # the local header's uncompressed size
    struct.pack_into("<I", raw, raw.rindex(b"PK\x01\x02") + 24, declared)  # the central directory's
    path.write_bytes(bytes(raw))


def _flag(path: Path, bits: int) -> None:
    write_zip(path, {"conv1/weight.npy": npy_bytes(np.ones(3))})
    raw = bytearray(path.read_bytes())
    struct.pack_into("<H", raw, 6, bits)
    struct.pack_into("<H", raw, raw.rindex(b"PK\x01\x02") + 8, bits)
    path.write_bytes(bytes(raw))


def _bad_crc(path: Path) -> None:
    np.savez(path, **{"conv1/weight": np.ones((64, 64), np.float32)})
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"\x00\x00\x80\x3f") + 1000] ^= 0xFF
    path.write_bytes(bytes(raw))


def _truncated(path: Path) -> None:
    np.savez(path, **{"conv1/weight": np.ones((64, 64), np.float32)})
    path.write_bytes(path.read_bytes()[:-100])


def _weights_cases() -> list[Any]:
    one = npy_bytes(np.ones(3, np.float32))
    return [
        pytest.param(
            lambda p: write_zip(p, {"conv1/weight.npy": npy_bytes(np.array([{}], object), allow_pickle=True)}),
            ("member 'conv1/weight.npy': it holds Python objects",),
            id="pickled-member",
        ),
        pytest.param(
            lambda p: write_zip(p, {"conv1/weight.npy": b"\x80\x04K\x01."}), ("not a NumPy .npy array",), id="pickle"
        ),
        pytest.param(lambda p: write_zip(p, {"conv1/weight.txt": b"hi"}), ("is not an .npy array",), id="non-npy"),
        pytest.param(lambda p: write_zip(p, {"conv1/": b""}), ("is not an .npy array",), id="directory-member"),
        pytest.param(
            lambda p: write_zip(p, {"conv1/weight.npy": npy_bytes(np.array(["ab"]))}), ("holds strings",), id="str"
        ),
        pytest.param(
            lambda p: write_zip(p, {"conv1/weight.npy": npy_bytes(np.zeros(3, "m8[s]"))}), ("time deltas",), id="td"
        ),
        pytest.param(lambda p: write_zip(p, {"conv1/weight.npy": b""}), ("it is empty",), id="empty-member"),
        pytest.param(  # zipfile cannot write a member without a name: a fuzz case's file, shipped
            lambda p: shutil.copyfile(DATA / "npz_nameless_member.npz", p),
            ("member '' is not an .npy array",),
            id="nameless-member",
        ),
        pytest.param(_truncated, ("damaged archive",), id="truncated"),
        pytest.param(_bad_crc, ("Bad CRC-32",), id="bad-crc"),
        pytest.param(_zip_bomb, ("would need about 4 GiB", "memory="), id="zip-bomb-4GiB"),
        pytest.param(_lying_sizes, ("Bad CRC-32",), id="lying-sizes"),
        pytest.param(lambda p: _flag(p, 1), ("is encrypted",), id="encrypted"),
        pytest.param(
            lambda p: write_zip(p, [("conv1/weight.npy", one), ("conv1/weight.npy", one)]),  # type: ignore[arg-type]
            ("appears twice",),
            id="duplicate",
        ),
        pytest.param(lambda p: write_zip(p, {"conv1/weight.npy": one}, zipfile.ZIP_BZIP2), ("method 12",), id="bzip2"),
        pytest.param(
            lambda p: write_zip(p, {"conv1/weight.npy": npy_header((9,)) + bytes(12)}), ("declares 9",), id="short"
        ),
        pytest.param(lambda p: np.savez(p, weight=np.ones(3)), ("is not LAYER/ARRAY",), id="key"),
        pytest.param(lambda p: p.write_bytes(npy_bytes(np.ones(3))), ("it holds one array (an .npy file)",), id="npy"),
        pytest.param(lambda p: p.write_bytes(b""), ("the file is empty",), id="empty-file"),
        pytest.param(lambda p: p.write_bytes(b"PK\x03\x04junk"), ("damaged archive",), id="junk-zip"),
    ]


@pytest.mark.parametrize(("make", "fragments"), _weights_cases())
def test_a_bad_weights_file_is_one_line(
    tmp_path: Path, image: Path, make: Callable[[Path], None], fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "w.npz"
    make(path)
    line = refused("run", MODEL, "--input", str(image), "--weights", str(path), fragments=fragments)
    assert str(path) in line


def test_an_archive_is_checked_against_archive_members(
    tmp_path: Path, image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.savez(tmp_path / "w.npz", **{f"conv{i}/weight": np.ones(2) for i in range(4)})
    monkeypatch.setenv("COSTMODEL_LIMITS", "archive_members=3")
    refused("run", MODEL, "--input", str(image), "--weights", str(tmp_path / "w.npz"), fragments=("archive_members=3",))


def test_a_real_zip_bomb_is_refused_before_it_is_inflated(
    tmp_path: Path, image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 32 MiB of zeros in 32 KiB; the memory limit is lowered so that it stands for a 4 GiB one
    write_zip(tmp_path / "w.npz", {"conv1/weight.npy": npy_header((8 << 20,)) + bytes(32 << 20)}, zipfile.ZIP_DEFLATED)
    assert (tmp_path / "w.npz").stat().st_size < 100_000
    monkeypatch.setenv("COSTMODEL_LIMITS", "memory=16M")
    refused("run", MODEL, "--input", str(image), "--weights", str(tmp_path / "w.npz"), fragments=("32 MiB", "16 MiB"))


def test_all_members_together_are_checked_against_the_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.savez(tmp_path / "w.npz", **{f"conv{i}/weight": np.ones(40_000, np.int8) for i in range(4)})
    monkeypatch.setenv("COSTMODEL_LIMITS", "memory=500K")  # each fits; as float32, all four do not
    with pytest.raises(UserError, match=r"reading weights \(4 arrays\) would need about 664 KiB"):
        executor.load_weights(tmp_path / "w.npz")


def test_weights_of_any_real_dtype_and_order_load_as_float32(tmp_path: Path) -> None:
    given = {
        "a/w": np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4)),
        "a/b": np.arange(3, dtype=np.int64),
        "b.c/gamma": np.ones(2, dtype=np.float16),
    }
    np.savez_compressed(tmp_path / "w.npz", **given)  # type: ignore[arg-type]
    weights = executor.load_weights(tmp_path / "w.npz")
    assert sorted(weights) == ["a", "b.c"] and sorted(weights["a"]) == ["b", "w"]
    for key, value in given.items():
        layer, _, name = key.rpartition("/")
        got = weights[layer][name]
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, value.astype(np.float32))


# -- FIFOs: never waited on (run in a subprocess, so that a regression cannot hang the suite) ------------


def _run_process(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "costmodel", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", MODEL, "--input", "fifo.npy"], "it is a FIFO, not a regular file"),
        (["run", MODEL, "--input", "x.npy", "--weights", "fifo.npy"], "it is a FIFO, not a regular file"),
        (["report", "fifo.yaml"], "not a regular file"),
        (["report", "fifo.onnx"], "fifo.onnx"),
    ],
    ids=["input", "weights", "spec", "onnx"],
)
def test_a_fifo_is_never_waited_on(tmp_path: Path, args: list[str], fragment: str) -> None:
    for name in ("fifo.npy", "fifo.yaml", "fifo.onnx"):
        os.mkfifo(tmp_path / name)
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 32, 32), dtype=np.float32))
    done = _run_process(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: ")
    assert fragment in done.stderr


# -- ONNX files: the encoding walked before it is parsed, tensors checked before numpy reads them ---------


def onnx_file(
    path: Path, initializer: Any = None, nodes: list[Any] | None = None, shape: tuple[int, ...] = (1, 3, 8, 8)
) -> Path:
    """A one-conv model (weight 'w', 4×3×3×3) with ``initializer`` in place of its weight, or ``nodes``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    if initializer is None and nodes is None:
        initializer = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        nodes or [helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[initializer] if initializer is not None else [],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _tensor(**fields: Any) -> Any:
    onnx = pytest.importorskip("onnx")
    tensor = onnx.TensorProto(name="w", data_type=1, dims=fields.pop("dims", [4, 3, 3, 3]))
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(tensor, name).extend(value)
        else:
            setattr(tensor, name, value)
    return tensor


def _external(location: str = "weights.bin", **entries: str) -> Any:
    """The weight 'w' kept in another file, as PyTorch's dynamo exporter writes it (``model.onnx.data``)."""
    tensor = _tensor(data_location=1)
    for key, value in {"location": location, **entries}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def test_a_boolean_weight_is_one_line_naming_the_layer(tmp_path: Path) -> None:
    path = onnx_file(tmp_path / "m.onnx", _tensor(data_type=9, raw_data=bytes(108)))
    refused("report", str(path), fragments=(f"error: {path}: layer 'c': Conv's weight 'w' holds booleans",))


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: _tensor(raw_data=b"abc"), "declares 108 FLOAT values (4×3×3×3) but holds 3 bytes of data (432"),
        (lambda: _tensor(data_type=8, string_data=[b"a"] * 108), "has data type STRING; costmodel reads real"),
        (lambda: _tensor(data_type=999, raw_data=bytes(432)), "has data type 999"),
        (lambda: _tensor(data_type=14, raw_data=bytes(864)), "has data type COMPLEX64"),
        (lambda: _tensor(), "declares 108 FLOAT values (4×3×3×3) but holds none"),
        (lambda: _tensor(dims=[1 << 20, 1 << 20]), "declares 1,099,511,627,776 FLOAT values"),
        (lambda: _tensor(dims=[4, 3, 3, -3], raw_data=b""), "has a negative dimension in [4, 3, 3, -3]"),
        (lambda: _tensor(float_data=[0.0] * 100), "declares 108 FLOAT values (4×3×3×3) but holds 100"),
        (lambda: _tensor(raw_data=bytes(432), float_data=[0.0] * 108), "holds its values twice"),
        (_external, "(external data weights.bin): cannot read: No such file or directory"),
    ],
    ids=[
        "raw-3-bytes",
        "string",
        "type-999",
        "complex",
        "no-data",
        "2**40",
        "negative",
        "short",
        "twice",
        "ext",
    ],
)
def test_a_bad_initializer_is_one_line(tmp_path: Path, make: Callable[[], Any], fragment: str) -> None:
    path = onnx_file(tmp_path / "m.onnx", make())
    refused("report", str(path), fragments=(f"error: {path}: initializer 'w' {fragment}",))


def test_external_data_beside_the_model_is_read(tmp_path: Path) -> None:
    """Bytes 16 to 448 of weights.bin are the weight: its count, and the values `run` uses."""
    values = np.arange(108, dtype=np.float32).reshape(4, 3, 3, 3) / 100
    (tmp_path / "weights.bin").write_bytes(bytes(16) + values.tobytes() + bytes(8))
    path = onnx_file(tmp_path / "m.onnx", _external(offset="16", length="432"))
    from costmodel.onnx_import import import_weights

    assert load_model(str(path)).costs().params == 108
    np.testing.assert_array_equal(import_weights(str(path))["c"]["weight"], values)


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ({"location": "/dev/zero"}, "only from a file in the model's own directory"),
        ({"location": "../outside.bin"}, "only from a file in the model's own directory"),
        ({"location": "link.bin"}, "leads out of the model's directory"),
        ({"location": "sub"}, "cannot read"),
        ({"location": ""}, "keeps its data in another file but names none"),
        ({"location": "weights.bin", "offset": "400", "length": "432"}, "takes bytes 400 to 832 of 'weights.bin'"),
        ({"location": "weights.bin", "offset": "-1"}, "takes bytes -1"),
        ({"location": "weights.bin", "length": "x"}, "offset or length that is not a number"),
        ({"location": "weights.bin", "length": "100"}, "but holds 100 bytes of data"),
    ],
    ids=["absolute", "dotdot", "symlink-out", "directory", "none", "past-the-end", "negative", "nan", "short"],
)
def test_external_data_anywhere_else_is_refused(tmp_path: Path, entries: dict[str, str], fragment: str) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.bin").write_bytes(bytes(432))
    (model_dir / "sub").mkdir()
    (tmp_path / "outside.bin").write_bytes(bytes(432))
    (model_dir / "link.bin").symlink_to(tmp_path / "outside.bin")
    location = entries.pop("location")
    path = onnx_file(model_dir / "m.onnx", _external(location, **entries))
    refused("report", str(path), fragments=(fragment,))


def test_a_bad_constant_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import helper

    value = _tensor(data_type=7, dims=[3], raw_data=b"abc")
    nodes = [
        helper.make_node("Constant", [], ["s"], name="k", value=value),
        helper.make_node("Reshape", ["x", "s"], ["y"], name="r"),
    ]
    path = onnx_file(tmp_path / "m.onnx", nodes=nodes)
    refused("report", str(path), fragments=("the value of Constant 'k' declares 3 INT64 values",))


def test_nodes_with_attributes_count_once_against_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each node once, however many attributes it holds (a legacy Swin export: 13,017 nodes, each of
    them counted once per attribute before)."""
    pytest.importorskip("onnx")
    from onnx import helper

    n = 6
    nodes = [
        helper.make_node("Softmax", [f"t{i}" if i else "x"], [f"t{i + 1}" if i < n - 1 else "y"], axis=1)
        for i in range(n)
    ]
    path = onnx_file(tmp_path / "m.onnx", nodes=nodes)
    monkeypatch.setenv("COSTMODEL_LIMITS", f"layers={n}")
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("COSTMODEL_LIMITS", f"layers={n - 1}")
    refused("report", str(path), fragments=(f"the nodes of the ONNX graph (more than {n - 1})",))


def test_more_nodes_than_the_layer_limit_are_refused_before_parsing(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import helper

    n = 20_001
    nodes = [helper.make_node("Relu", [f"t{i}" if i else "x"], [f"t{i + 1}" if i < n - 1 else "y"]) for i in range(n)]
    path = onnx_file(tmp_path / "m.onnx", nodes=nodes)
    refused("report", str(path), fragments=("the nodes of the ONNX graph (more than 20,000)", "layers=20,000"))


def test_a_file_of_many_tiny_fields_is_refused_before_parsing(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    model = onnx.ModelProto()
    for _ in range(400_000):  # 2 MB that would parse into some 40 MB
        model.graph.value_info.add().name = "a"
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    refused("report", str(path), fragments=("fields of the ONNX file (more than 320,000", "layers="))


def test_what_a_file_would_parse_into_is_checked_against_the_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = onnx_file(tmp_path / "m.onnx", _tensor(raw_data=bytes(432)))
    monkeypatch.setenv("COSTMODEL_LIMITS", "memory=1K")
    refused("report", str(path), fragments=(f"error: {path}: parsing the ONNX file would need about",))


def test_an_onnx_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = onnx_file(tmp_path / "m.onnx")
    monkeypatch.setenv("COSTMODEL_LIMITS", "onnx_bytes=100")
    refused("report", str(path), fragments=("the file is too large", "onnx_bytes=100"))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"\xff\xff\xff\xff garbage", "not a protobuf ModelProto (damaged at byte"),
        (b"\x3a\xff\xff\xff\x7f", "not a protobuf ModelProto (damaged at byte 5)"),  # a graph past the end
    ],
    ids=["empty", "garbage", "overlong"],
)
def test_a_file_that_is_not_onnx_is_one_line(tmp_path: Path, content: bytes, fragment: str) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    refused("report", str(path), fragments=(f"error: {path}: cannot read ONNX model: {fragment}",))


def test_a_good_onnx_file_still_reads(tmp_path: Path) -> None:
    path = onnx_file(tmp_path / "m.onnx")
    result = cli("report", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"params": 108' in result.output


@pytest.mark.parametrize(
    ("attribute", "fragment"),
    [
        (("kernel_shape", 3), "attribute 'kernel_shape' of MaxPool must be INTS, got INT"),
        (("ceil_mode", 1.5), "attribute 'ceil_mode' of MaxPool must be INT, got FLOAT"),
        (("auto_pad", [1, 2]), "attribute 'auto_pad' of MaxPool must be STRING, got INTS"),
    ],
    ids=["int-for-ints", "float-for-int", "ints-for-string"],
)
def test_an_attribute_of_the_wrong_type_is_one_line(tmp_path: Path, attribute: tuple[str, Any], fragment: str) -> None:
    pytest.importorskip("onnx")
    from onnx import helper

    attrs = {"kernel_shape": [2, 2], attribute[0]: attribute[1]}
    path = onnx_file(tmp_path / "m.onnx", nodes=[helper.make_node("MaxPool", ["x"], ["y"], name="pool", **attrs)])
    refused("report", str(path), fragments=(f"error: {path}: layer 'pool': {fragment}",))


def test_an_attribute_without_a_type_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import helper

    node = helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2])
    node.attribute.add().name = "strides"  # type UNDEFINED, no value
    path = onnx_file(tmp_path / "m.onnx", nodes=[node])
    refused("report", str(path), fragments=("attribute 'strides' of MaxPool must be INTS, got UNDEFINED",))
