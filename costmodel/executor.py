"""The NumPy executor: run a concrete network and count what it actually did.

A network at a point (``model.network(point)``) is run node by node with each operator's kernel
(:meth:`costmodel.ops.base.Operator.kernel`) on float32 batches. Every layer leaves a :class:`Record`:
the shape it produced, the sizes of the weight arrays it used and the multiply-accumulates its products
performed. :func:`costmodel.verify.verify` compares these, layer by layer, with the counts and the closed forms.

Weights are either seeded (:func:`seeded_weights`: the same numbers for the same seed on every machine)
or loaded from an ``.npz`` file (:func:`load_weights`). Weights files hold one array per key
``"LAYER/ARRAY"``: the layer's dotted name as reports print it, a slash, and the array's name as the
operator declares it, with exactly the declared shape (float32), e.g.::

    conv1.conv/weight          (32, 3, 3, 3)      conv2d: weight (out, in / groups, kh, kw), bias (out,)
    conv1.bn/gamma             (32,)              batchnorm: gamma, beta, running_mean, running_var
    fc/weight, fc/bias         (1000, 1024), (1000,)   linear: weight (out, in features), bias (out,)

``costmodel report MODEL --format json`` lists the layers; ``save_weights`` writes such a file.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from costmodel.atomic_write import write_file
from costmodel.costs import foldable_norms
from costmodel.errors import UsageError
from costmodel.ops import BIAS, NORM_AFFINE, NORM_STATS, WEIGHT, WeightArray
from costmodel.ops import norm as norm_rule
from costmodel.ops.base import show_shape

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from costmodel.graph import Network, Node

Weights = dict[str, dict[str, "np.ndarray"]]


@dataclass(frozen=True)
class Record:
    """What one layer did: per image, for a batch of any size."""

    name: str
    op: str
    output_shape: tuple[int, ...]  # without the batch axis
    params: int  # the elements of every weight array the layer used
    macs: int  # multiply-accumulates per image, from the operand shapes of the products that ran
    params_by_kind: dict[str, int] = field(default_factory=dict)


# -- weights --------------------------------------------------------------------------------------


def weight_arrays(network: Network) -> dict[str, dict[str, WeightArray]]:
    """The arrays every layer present at this point declares (name -> kind and shape)."""
    return {
        node.name: node.op.weights(list(node.input_shapes))
        for node in network.nodes
        if node.present is True and node.op.weights(list(node.input_shapes))
    }


def _shape(array: WeightArray) -> tuple[int, ...]:
    return tuple(int(s) for s in array.shape)


def _generator(seed: int, *names: str) -> Any:
    import numpy as np

    return np.random.default_rng(zlib.crc32(":".join([str(seed), *names]).encode()))


def _uniform(rng: Any, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    import numpy as np

    values = rng.random(shape, dtype=np.float32)  # [0, 1): four times faster than normal draws
    values *= np.float32(high - low)
    values += np.float32(low)
    result: np.ndarray = values
    return result


def _seeded(kind: str, name: str, shape: tuple[int, ...], rng: Any) -> np.ndarray:
    """He-uniform weights (variance 2 / fan-in), small biases; batch norms near the identity."""
    import math

    if kind == WEIGHT:
        bound = math.sqrt(6.0 / (math.prod(shape[1:]) or 1))
        return _uniform(rng, shape, -bound, bound)
    if kind == BIAS:
        return _uniform(rng, shape, -0.01, 0.01)
    if kind == NORM_STATS and "var" in name:
        return _uniform(rng, shape, 0.5, 1.5)  # running variance: positive
    if name in ("gamma", "scale"):
        return _uniform(rng, shape, 0.8, 1.2)
    return _uniform(rng, shape, -0.1, 0.1)  # beta, running_mean and anything else: near zero


def seeded_weights(network: Network, seed: int = 0) -> Weights:
    """Deterministic float32 weights of exactly the declared shapes.

    Each array has its own generator, seeded with ``zlib.crc32(f"{seed}:{layer}:{array}")``, so an
    array's numbers depend only on the seed, its layer's name and its own name (not on the order of
    the layers, nor on the machine; NumPy's PCG64 stream is the same everywhere).
    """
    return {
        layer: {name: _seeded(a.kind, name, _shape(a), _generator(seed, layer, name)) for name, a in arrays.items()}
        for layer, arrays in weight_arrays(network).items()
    }


def seeded_input(network: Network, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A standard-normal float32 input batch, seeded like the weights (array name ``input``)."""
    import numpy as np

    shape = (batch, *(int(s) for s in network.input_shape))
    batch_of_images: np.ndarray = _generator(seed, "input").standard_normal(shape, dtype=np.float32)
    return batch_of_images


def load_weights(path: str | Path) -> Weights:
    """Weights from an ``.npz`` file keyed ``"LAYER/ARRAY"`` (see the module docstring), as float32.

    Read by :func:`costmodel.arrays.read_npz`: headers, keys and sizes are checked before any data.
    """
    from costmodel import arrays

    def check_key(key: str) -> None:
        layer, sep, name = key.rpartition("/")
        if not sep or not layer or not name:
            raise UsageError(f"{path}: key {key!r} is not LAYER/ARRAY (e.g. 'conv1.conv/weight')")

    weights: Weights = {}
    for key, array in arrays.read_npz(path, "weights", check_key).items():
        layer, _, name = key.rpartition("/")
        weights.setdefault(layer, {})[name] = array
    return weights


def save_weights(path: str | Path, weights: Weights) -> None:
    """Write weights as :func:`load_weights` reads them (whole file or nothing)."""
    import numpy as np

    arrays = {f"{layer}/{name}": array for layer, arrays in weights.items() for name, array in arrays.items()}

    def write(handle: IO[bytes]) -> None:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub types the keywords as allow_pickle

    write_file(path, write)


def check_weights(network: Network, weights: Weights) -> None:
    """Every declared array present with its exact shape, and nothing else (a UsageError otherwise)."""
    from costmodel.errors import did_you_mean

    expected = weight_arrays(network)
    for layer, arrays in expected.items():
        given = weights.get(layer, {})
        for name, array in arrays.items():
            shape = _shape(array)
            if name not in given:
                raise UsageError(f"the weights lack '{layer}/{name}' ({'×'.join(map(str, shape))})")
            if tuple(given[name].shape) != shape:
                got = show_shape(given[name].shape)
                raise UsageError(f"'{layer}/{name}' has shape {got}; layer '{layer}' needs {'×'.join(map(str, shape))}")
        extra = sorted(set(given) - set(arrays))
        if extra:
            raise UsageError(f"layer '{layer}' has no array '{extra[0]}' (its arrays: {', '.join(arrays)})")
    for layer in sorted(set(weights) - set(expected)):
        names = [node.name for node in network.nodes]
        if layer in names:
            raise UsageError(f"layer '{layer}' has no weights at this point, but the file has some for it")
        raise UsageError(f"the weights name an unknown layer '{layer}'{did_you_mean(layer, names)}")


# -- threads ---------------------------------------------------------------------------------------

THREADS_VARIABLE = "COSTMODEL_THREADS"


def blas_threads(most: int | None = None) -> int:
    """The BLAS threads a session runs with: ``$COSTMODEL_THREADS`` if set (a positive integer), else
    the CPUs this process may use that no other thread is running on right now, at least one and at
    most ``most`` (a session passes the count BLAS had, e.g. from ``OPENBLAS_NUM_THREADS``).

    Chosen again at every run, because a thread too many costs far more than one too few. On a quiet
    2-core machine two OpenBLAS threads run MobileNet v1 at 224 in 18 ms, one thread in 24 ms. But the
    executor's products are small (batch 1: K <= 1024, a few thousand rows) and many, and OpenBLAS's
    threads spin-wait for each other at every one: with one competing CPU-bound process the thread
    that lost its core stalls the other, and two threads took 120-170 ms (5-8 times as long; two
    onnxruntime threads slow 3-4 times), where one thread still takes 24 ms. So a run takes the CPUs
    that are idle as it starts: those of this process less the runnable threads of other processes
    (``/proc/loadavg`` less this process's own; elsewhere the load average). The outputs do not depend
    on the count (OpenBLAS splits a product's rows and columns among threads, not its sums: MobileNet
    v1, v2 and SqueezeNet 1.0 gave bit-identical outputs with one thread and two).
    ``benchmarks/bench_executor.py`` times both engines quiet and under load.
    """
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise UsageError(f"{THREADS_VARIABLE}={value!r}: give a positive number of threads")
        return threads
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cap = cpus if most is None else min(most, cpus)
    if cap <= 1:  # one thread whatever the load: no need to look at it
        return 1
    return max(1, min(cap, cpus - _busy_elsewhere()))


def _busy_elsewhere() -> int:
    """How many threads of other processes are runnable right now (Linux), or the 1-minute load
    average (elsewhere, rounded), or 0 where neither is known.

    A competing CPU-bound process is runnable whenever it is looked at; a process passing by (the
    caller going to sleep as this run starts) is not, 0.1 ms later: the least of three looks counts.
    """
    counts = []
    for look in range(3):
        if look:
            time.sleep(0.0001)
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            try:
                return round(os.getloadavg()[0])
            except (AttributeError, OSError):
                return 0
        if running <= 1:  # this thread alone
            return 0
        counts.append(running)
    ours = 0  # this thread, and any of ours still running (e.g. an OpenBLAS worker spinning after a product)
    try:
        with os.scandir("/proc/self/task") as tasks:
            for task in tasks:
                try:
                    stat = Path(task.path, "stat").read_text()
                except OSError:  # the thread ended meanwhile
                    continue
                ours += stat[stat.rindex(")") + 2 :].startswith("R")
    except OSError:
        ours = 1
    return max(0, min(counts) - max(ours, 1))


def _openblas_files() -> list[str]:
    """Files that may be the OpenBLAS NumPy uses: the one bundled in NumPy's wheel, and on Linux any
    OpenBLAS mapped into this process (a system NumPy's)."""
    import numpy as np

    package = Path(np.__file__).resolve().parent
    files = [
        str(path)
        for folder in (package.parent / "numpy.libs", package / ".dylibs")
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if "openblas" in path.name.lower()
    ]
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux
        maps = ""
    mapped = {fields[5] for fields in map(str.split, maps.splitlines()) if len(fields) == 6}
    return files + sorted(path for path in mapped if "openblas" in Path(path).name.lower() and path not in files)


@functools.cache
def _openblas() -> tuple[Any, Any] | None:
    """(get, set) of the thread count of NumPy's OpenBLAS, or None where it is not found (another BLAS,
    or an unusual build: then ``OPENBLAS_NUM_THREADS``, set before NumPy is imported, still applies)."""
    import ctypes

    names = [
        (f"{p}_get_num_threads{s}", f"{p}_set_num_threads{s}")
        for p in ("scipy_openblas", "openblas")
        for s in ("64_", "_64", "")
    ]
    for path in _openblas_files():
        try:
            library = ctypes.CDLL(path)  # already loaded by NumPy: the same handle
        except OSError:
            continue
        for get_name, set_name in names:
            get, set_ = getattr(library, get_name, None), getattr(library, set_name, None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


_threads_lock = threading.Lock()
_threads_users = 0  # sessions running (in any thread) under the limit
_threads_before = 0  # the count to put back when the last one ends


@contextmanager
def limited_blas_threads(threads: int | None = None) -> Iterator[int]:
    """Run the block with NumPy's OpenBLAS limited to ``threads`` (default :func:`blas_threads`), and
    put the previous count back after it. Blocks nested or run at once in several threads share the
    first one's count, which is put back when the last one ends. Yields the count in force (0 where
    NumPy's BLAS is not one this can set)."""
    global _threads_users, _threads_before
    control = _openblas()
    if control is None:
        yield 0
        return
    get, set_ = control
    with _threads_lock:
        if _threads_users == 0:  # inside another such block, keep its choice
            _threads_before = get()
            wanted = blas_threads(_threads_before) if threads is None else threads
            if _threads_before != wanted:
                set_(wanted)
        _threads_users += 1
        in_force = get()
    try:
        yield in_force
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0 and get() != _threads_before:
                set_(_threads_before)


# -- the forward pass -------------------------------------------------------------------------------


def fold_plan(network: Network) -> dict[str, str]:
    """Batch norms that fold into the layer before them: norm name -> host name (costs.foldable_norms)."""
    return {norm: host.name for norm, host in foldable_norms(network, present_only=True).items()}


@functools.lru_cache(maxsize=4096)
def _declared_kinds(op: Any, input_shapes: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    """(array name, kind) of the arrays a layer declares (cached: the pass runs many times)."""
    return tuple((name, array.kind) for name, array in op.weights(list(input_shapes)).items())


@dataclass(frozen=True)
class _Step:
    """How one layer runs in a session."""

    node: Node
    runs: bool  # False: absent here, or done by the layer before it (a folded norm, a fused activation)
    arrays: dict[str, np.ndarray]  # what its kernel computes with (a host's weights with a norm folded in)
    params_by_kind: dict[str, int]  # what its record counts
    activation: Any = None  # the activation a conv or linear layer runs on its output for the layer after it


class Session:
    """A network and its weights made ready to run many batches, as an inference engine's session is.

    Built once: every batch norm that folds into the conv or linear layer before it
    (:func:`costmodel.costs.foldable_norms`) is folded into that layer's weight and bias, and a ReLU or
    ReLU6 whose only input is such a layer (or its folded norm) runs inside that layer's kernel, block
    by block while the output is in cache. ``fuse=False`` runs every layer on its own instead. Either
    way every layer leaves its own record, and ``fold`` only changes what the records count: the arrays
    as the spec declares them (a batch norm's four), or as deployed (a folded norm's bias if its host
    had none, an unfolded norm's scale and shift).
    """

    def __init__(
        self, network: Network, weights: Weights, fold: bool = False, fuse: bool = True, in_place: bool = True
    ) -> None:
        self.network = network
        self.in_place = in_place
        self._consumers: dict[str, int] = {}
        self._last_use: dict[str, int] = {}
        for index, node in enumerate(network.nodes):
            for source in _reads(node):
                self._consumers[source] = self._consumers.get(source, 0) + 1
                self._last_use[source] = index
        plan = fold_plan(network)
        by_name = {node.name: node for node in network.nodes}
        norm_of = {host: norm for norm, host in plan.items()} if fuse else {}
        activation_of = self._fusable_activations(norm_of, by_name) if fuse else {}
        # layers that run inside the conv or linear layer before them: layer name -> that layer
        self.fused: dict[str, str] = {norm: host for host, norm in norm_of.items()}
        self.fused.update({node.name: host for host, node in activation_of.items()})
        done_by_host = set(self.fused)
        self._steps: list[_Step] = []
        for node in network.nodes:
            if node.present is False:
                self._steps.append(_Step(node, False, {}, {}))
                continue
            if node.present is not True:
                raise ValueError(f"layer '{node.name}' is symbolic; run a network evaluated at a point")
            arrays = weights.get(node.name, {})
            by_kind = _declared(node, arrays)
            if fold and node.name in plan:  # deployed: a bias on its host, if the host had none
                by_kind = {BIAS: 0 if "bias" in weights.get(plan[node.name], {}) else int(arrays["gamma"].size)}
            elif fold and node.op.folds_into_host:  # deployed: a per-channel scale and shift
                by_kind = {NORM_AFFINE: 2 * int(arrays["gamma"].size)}
            if node.name in norm_of:
                norm = by_name[norm_of[node.name]]
                weight, bias = norm_rule.fold(
                    arrays["weight"],
                    arrays.get("bias"),
                    weights.get(norm.name, {}),
                    float(getattr(norm.op, "eps", norm_rule.EPSILON)),
                )
                arrays = {"weight": weight, "bias": bias}
            activation = activation_of.get(node.name)
            runs = node.name not in done_by_host
            self._steps.append(_Step(node, runs, arrays, by_kind, activation.op if activation else None))

    def _fusable_activations(self, norm_of: dict[str, str], by_name: dict[str, Node]) -> dict[str, Node]:
        """host name -> the ReLU or ReLU6 it runs: the activation's only input is the host (or the norm
        folded into it), and nothing else reads that input."""
        folded_norms = set(norm_of.values())
        fused = {}
        for node in self.network.nodes:
            if not (node.op.fusable_activation and node.present is True and len(node.inputs) == 1):
                continue
            source = node.inputs[0]
            host_name = by_name[source].inputs[0] if source in folded_norms else source
            host = by_name.get(host_name)
            if host is not None and host.present is True and host.op.runs_activation and self._consumers[source] == 1:
                fused[host_name] = node
        return fused

    def run(self, x: np.ndarray, observe: Any = None) -> tuple[np.ndarray, list[Record]]:
        """The output batch for ``x`` (N, C, H, W) and one record per layer present at this point.

        A tensor is freed after its last reader (a layer absent at this point reads nothing but the
        input it passes on); an elementwise layer that is its input's only reader writes over it, unless
        the session was built with ``in_place=False``. ``observe(layer, tensors)``, if given, sees the
        tensors alive after each layer, before any is freed (what the peak memory counts). BLAS runs
        with :func:`blas_threads` threads meanwhile.
        """
        with limited_blas_threads():
            return self._run(x, observe)

    def _run(self, x: np.ndarray, observe: Any) -> tuple[np.ndarray, list[Record]]:
        import numpy as np

        n = x.shape[0]
        network = self.network
        if tuple(x.shape[1:]) != tuple(int(s) for s in network.input_shape):
            raise UsageError(
                f"the input has shape {'×'.join(map(str, x.shape[1:]))} per image; "
                f"{network.spec.name} needs {'×'.join(str(s) for s in network.input_shape)} here"
            )
        values: dict[str, np.ndarray] = {"input": np.asarray(x, dtype=np.float32)}
        records = []
        output = values["input"]
        for index, step in enumerate(self._steps):
            node = step.node
            inputs = [values[source] for source in _reads(node)]
            macs = 0
            if not step.runs:  # absent here (passes its input on), or already done by its host
                output = inputs[-1]
            elif self.in_place and node.op.in_place and self._sole_reader(node, index, values):
                output, macs = node.op.kernel_in_place(inputs, step.arrays, overwrite=True)
            elif step.activation is not None:
                output, macs = node.op.kernel_then(inputs, step.arrays, step.activation)
            else:
                output, macs = node.op.kernel(inputs, step.arrays)
            output = np.asarray(output, dtype=np.float32)
            if node.present is True:
                if macs % n:
                    raise RuntimeError(f"layer '{node.name}': {macs} MACs do not split evenly over {n} images")
                params = sum(step.params_by_kind.values())
                records.append(
                    Record(node.name, node.op.op_name, tuple(output.shape[1:]), params, macs // n, step.params_by_kind)
                )
            values[node.name] = output
            if observe is not None:
                observe(node.name, values)
            for source in set(_reads(node)):
                if self._last_use.get(source) == index:
                    del values[source]
        return output, records

    def _sole_reader(self, node: Node, index: int, values: dict[str, Any]) -> bool:
        """Whether ``node`` may overwrite its input: it is that tensor's only reader, the tensor is not the
        network input, and no other live tensor shares its memory (an absent layer passes arrays on, and
        a flatten is a view of its input: two flattens of one tensor are two names of the same numbers)."""
        import numpy as np

        source = node.inputs[0]
        if source == "input" or self._consumers.get(source) != 1 or self._last_use.get(source) != index:
            return False
        array = values[source]
        return sum(value is array or np.may_share_memory(value, array) for value in values.values()) == 1


def _reads(node: Node) -> tuple[str, ...]:
    """The tensors a layer reads: all its inputs, or, absent at this point, only the one it passes on."""
    return node.inputs if node.present is not False else node.inputs[-1:]


def _declared(node: Node, arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """Elements per kind of the arrays a layer declares (a UsageError names a missing one)."""
    by_kind: dict[str, int] = {}
    for name, kind in _declared_kinds(node.op, node.input_shapes):
        if name not in arrays:
            raise UsageError(f"the weights lack '{node.name}/{name}'")
        by_kind[kind] = by_kind.get(kind, 0) + int(arrays[name].size)
    return by_kind


def forward(network: Network, weights: Weights, x: np.ndarray, fold: bool = False) -> tuple[np.ndarray, list[Record]]:
    """Run ``network`` on the batch ``x`` (N, C, H, W): the output batch and one record per layer.

    Layers absent at this point pass their last input through and leave no record. ``fold`` counts
    the batch norms as deployed (see :class:`Session`, which this builds for one run).
    """
    return Session(network, weights, fold=fold).run(x)
