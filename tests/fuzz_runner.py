"""Running a fuzz case and judging what it did: tracebacks, hangs, memory, exit codes, stray files.

A case (:class:`fuzz_strategies.Case`) runs in a fresh directory that it may not litter, in one of three
ways:

- ``exec``: ``python -m costmodel ARGS``, a whole new process, as a user runs it;
- ``fork``: the same ``costmodel.cli.main`` in a child forked from a process that has already imported
  costmodel and its dependencies (what the long run uses: the same code and process isolation, without
  paying ~0.3 s of imports per case);
- ``inprocess``: click's ``CliRunner`` in this process (the test suite's quick run; no memory figure).

Both subprocess modes run the child in its own process group under an address-space limit
(``RLIMIT_AS``), read its peak resident memory from ``wait4``, kill the group after ``kill_after``
seconds, and check that nothing of the group outlives the command. :func:`judge` turns the outcome into
problems, each with a class and a signature that deduplicates them:

- ``traceback``: exit 3 (the CLI's "internal error" line), "Traceback" on stderr, an exception other
  than a ``UserError`` from the Python API, or death by a signal;
- ``hang``: more than ``hang_after`` seconds (2 s) of wall time, or killed. A ``verify`` that succeeds
  runs the network in NumPy, which no limit keeps under 2 s (15,000 layers of 512×32×32 are 10 G
  operations, 4.6 s): it is given, on top, the time its network takes to run here at that point, as
  verify runs it (:func:`executed_seconds`), and counts as a hang only past that;
- ``memory``: a peak RSS over ``memory_limit`` (1 GiB), or a ``MemoryError``;
- ``exit_code``: a status outside {0, 1, 2}; 1 from a command other than check/verify; exit 0 or 1
  with an ``error:`` line or a warning on stderr; exit 2 without exactly one ``error: ...`` line on
  stderr and nothing on stdout;
- ``stray_file``: a file left that is not the command's output after a success (any ``.tmp``, any
  output after a failure, a pre-existing output or input changed by a failure);
- ``stray_process``: a process of the command still alive after it exited.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
from fuzz_strategies import GENERATED, MISMATCH_COMMANDS, SPARSE, Case, generated_spec

HANG_AFTER = 2.0
KILL_AFTER = 10.0
MEMORY_LIMIT = 1 << 30
ADDRESS_SPACE = 6 << 30  # the child's RLIMIT_AS: far above 1 GiB of RSS, below what would hurt the machine
SENTINEL = b"pre-existing output: a failed command must leave these bytes alone\n"
# The product's default execution memory limit is 2 GiB: a valid `verify`/`run` could then legitimately
# pass 1 GiB of RSS, so the fuzzer lowers it (the README's COSTMODEL_LIMITS).
# COSTMODEL_DEBUG=1 makes a bug (exit 3) print its traceback, so that it is deduplicated by the product's
# own frame; it changes nothing else.
ENVIRONMENT = {"COSTMODEL_LIMITS": "memory=512M", "COSTMODEL_DEBUG": "1", "NO_COLOR": "1", "PYTHONHASHSEED": "0"}
CLASSES = ["traceback", "hang", "memory", "exit_code", "stray_file", "stray_process"]


@dataclass
class Outcome:
    returncode: int | None  # None: killed after kill_after seconds; negative: died of a signal
    seconds: float
    maxrss_kib: int | None
    stdout: str
    stderr: str
    killed: bool = False
    allowance: float = 0.0  # seconds of executor work a successful verify asked for (see judge)
    stray_processes: bool = False
    new_files: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)


@dataclass
class Problem:
    cls: str
    signature: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- the directory -----------------------------------------------------------------------------------


def lay_out(case: Case, directory: Path) -> None:
    """Create the case's files (and the pre-existing output) in ``directory``."""
    for name, content in case.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content.startswith(SPARSE):
            with open(path, "wb") as handle:
                handle.truncate(int(content[len(SPARSE) :]))
        elif content == "fifo":
            os.mkfifo(path)
        elif content == "dir":
            path.mkdir(exist_ok=True)
        elif content.startswith(GENERATED):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(generated_spec(int(content[len(GENERATED) :])))
        elif content.startswith("symlink:"):
            os.symlink(content[len("symlink:") :], path)
        else:
            raise ValueError(f"unknown special file {content!r}")
    if case.output_exists and case.output and _inside(directory, case.output):
        target = directory / case.output
        try:
            if target.parent.is_dir() and not target.exists():
                target.write_bytes(SENTINEL)
        except OSError:  # a name the file system refuses (too long): the command meets it as it is
            pass


def _inside(directory: Path, name: str) -> bool:
    if not name or name.startswith("/") or "\x00" in name:
        return False
    try:
        return (directory / name).resolve().is_relative_to(directory.resolve())
    except (OSError, ValueError):
        return False


def snapshot(directory: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``directory`` (not following links): its type, size and a hash of small files."""
    entries: dict[str, tuple[Any, ...]] = {}
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if os.path.islink(path):
                entries[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                entries[rel] = ("dir",)
            elif not os.path.isfile(path):
                entries[rel] = ("special",)
            elif info.st_size <= 4 << 20:
                with open(path, "rb") as handle:
                    entries[rel] = ("file", info.st_size, hashlib.sha1(handle.read()).hexdigest())  # noqa: S324
            else:
                entries[rel] = ("file", info.st_size, info.st_mtime_ns)
    return entries


def compare(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> tuple[list[str], list[str]]:
    new = sorted(set(after) - set(before))
    changed = sorted(name for name in set(after) & set(before) if after[name] != before[name])
    changed += sorted(f"{name} (deleted)" for name in set(before) - set(after))
    return new, changed


# -- running ---------------------------------------------------------------------------------------------


def api_call(path: str, variant: str) -> int:
    """The Python API on a spec or ONNX file: load_model, a point, the costs under every preset.

    A ``UserError`` is the expected refusal (one line, 2); anything else propagates to the caller.
    """
    from costmodel import conventions
    from costmodel.errors import UserError
    from costmodel.loading import load_model

    try:
        model = load_model(path, variant or None)
        point = model.point()
        for counting in conventions.PRESETS:
            model.costs(point, counting=counting)
        model.min_resolution(point)
    except UserError as err:
        print(f"error: {err}".replace("\n", "\\n"), file=sys.stderr)
        return 2
    return 0


API_SCRIPT = (
    "import sys; sys.path.insert(0, {tests!r}); from fuzz_runner import api_call; "
    "sys.exit(api_call(sys.argv[1], sys.argv[2]))"
)


def preload() -> None:
    """Import what the commands import, so that a forked child starts where ``python -m costmodel`` would
    be after its imports (onnxruntime is left out: it starts threads)."""
    import click  # noqa: F401
    import numpy  # noqa: F401
    import sympy  # noqa: F401
    import yaml  # noqa: F401

    import costmodel.cli
    import costmodel.symbolic  # noqa: F401

    with contextlib.suppress(ImportError):
        import onnx  # noqa: F401


def _child_main(case: Case, directory: Path, out_path: str, err_path: str, address_space: int) -> None:
    """In the forked child: become the command, then leave with its exit status (never return)."""
    code = 70
    try:
        os.setpgid(0, 0)
        os.chdir(directory)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        os.dup2(os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        os.environ.update(ENVIRONMENT)
        try:
            if case.command == "api":
                code = api_call(case.args[0], case.args[1])
            else:
                from costmodel.cli import main

                sys.argv = ["costmodel", *case.args]
                main(args=list(case.args), prog_name="costmodel")
                code = 0
        except SystemExit as exit_:
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int, kill_after: float, start: float) -> tuple[int | None, Any, bool, float]:
    """Wait for ``pid`` (a process group leader) at most ``kill_after`` s: (status, rusage, killed, seconds)."""
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(pid)
    killed = False
    try:
        delay = 0.001
        while True:
            wpid, status, usage = os.wait4(pid, os.WNOHANG)
            if wpid:
                return status, usage, killed, time.monotonic() - start
            left = start + kill_after - time.monotonic()
            if left <= 0:
                killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _, status, usage = os.wait4(pid, 0)
                return status, usage, killed, time.monotonic() - start
            if pidfd is not None:
                select.select([pidfd], [], [], min(left, 1.0))
            else:
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.02)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _group_alive(pgid: int) -> bool:
    for _ in range(10):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def run_subprocess(
    case: Case, directory: Path, mode: str = "fork", kill_after: float = KILL_AFTER, address_space: int = ADDRESS_SPACE
) -> Outcome:
    """Run ``case`` in ``directory`` (already laid out) as a child process; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="costmodel-fuzz-io-") as io_dir:
        out_path = os.path.join(io_dir, "stdout")
        err_path = os.path.join(io_dir, "stderr")
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.monotonic()
        if mode == "fork":
            pid = os.fork()
            if pid == 0:
                _child_main(case, directory, out_path, err_path, address_space)
        else:
            if case.command == "api":
                tests = str(Path(__file__).resolve().parent)
                command = [sys.executable, "-c", API_SCRIPT.format(tests=tests), *case.args]
            else:
                command = [sys.executable, "-m", "costmodel", *case.args]

            def limit() -> None:
                resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    command,
                    cwd=directory,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env={**os.environ, **ENVIRONMENT},
                    start_new_session=True,
                    preexec_fn=limit,
                )
            pid = proc.pid
        status, usage, killed, seconds = _wait(pid, kill_after, start)
        if mode != "fork":
            proc.returncode = 0  # reaped by wait4 above; keep Popen from waiting again
        stray = _group_alive(pid)
        returncode = None if killed else os.waitstatus_to_exitcode(status)
        stdout = _clip(Path(out_path).read_bytes()).decode("utf-8", "replace")
        stderr = _clip(Path(err_path).read_bytes()).decode("utf-8", "replace")
    return Outcome(returncode, seconds, usage.ru_maxrss, stdout, stderr, killed, stray)


def _clip(data: bytes, head: int = 8_000, tail: int = 12_000) -> bytes:
    """The start and the end of a long output (a deep traceback names its exception on its last line)."""
    return data if len(data) <= head + tail else data[:head] + b"\n[...]\n" + data[-tail:]


class _Timeout(BaseException):
    """Raised by the alarm in an in-process run: a BaseException, so that the CLI cannot take it for a bug."""


def run_inprocess(case: Case, directory: Path, kill_after: float = KILL_AFTER) -> Outcome:
    """Run ``case`` with click's CliRunner (or the API) in this process, with ``directory`` as the cwd."""
    from click.testing import CliRunner

    from costmodel.cli import main

    def alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    previous_dir = os.getcwd()
    previous_env = {k: os.environ.get(k) for k in ENVIRONMENT}
    previous_handler = signal.signal(signal.SIGALRM, alarm)
    os.chdir(directory)
    os.environ.update(ENVIRONMENT)
    start = time.monotonic()
    stdout = stderr = ""
    returncode: int | None
    killed = False
    try:
        signal.setitimer(signal.ITIMER_REAL, kill_after)
        if case.command == "api":
            err = _StringIO()
            try:
                with contextlib.redirect_stderr(err):
                    returncode = api_call(case.args[0], case.args[1])
            except _Timeout:
                raise
            except BaseException:
                err.write(traceback.format_exc())
                returncode = 1
            stderr = err.getvalue()
        else:
            result = CliRunner().invoke(main, list(case.args), prog_name="costmodel")
            returncode = result.exit_code
            stdout, stderr = result.stdout, result.stderr
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                stderr += "".join(traceback.format_exception(result.exception))
    except _Timeout:
        killed = True
        returncode = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        os.chdir(previous_dir)
        for key, value in previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Outcome(returncode, time.monotonic() - start, None, stdout, stderr, killed)


class _StringIO:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


def execute(case: Case, mode: str = "fork", kill_after: float = KILL_AFTER) -> tuple[Outcome, list[Problem]]:
    """Lay out, run and judge ``case`` in a fresh temporary directory (removed afterwards)."""
    directory = Path(tempfile.mkdtemp(prefix="costmodel-fuzz-"))
    try:
        lay_out(case, directory)
        before = snapshot(directory)
        if mode == "inprocess":
            outcome = run_inprocess(case, directory, kill_after)
        else:
            outcome = run_subprocess(case, directory, mode, kill_after)
        after = snapshot(directory)
        outcome.new_files, outcome.changed_files = compare(before, after)
        if outcome.seconds > HANG_AFTER and not outcome.killed and outcome.returncode == 0:
            outcome.allowance = executed_seconds(case, directory)
        return outcome, judge(case, outcome)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- the work a verify asked for --------------------------------------------------------------------------

POINT_OPTIONS = {"--alpha": "alpha", "--res": "resolution", "--rho": "rho", "--classes": "classes"}


def executed_seconds(case: Case, directory: Path) -> float:
    """Seconds that running the network of a successful ``verify`` case takes here, as verify runs it
    (every layer on its own, seeded weights and input), timed in this process under whatever load the
    case ran under (0 for other cases, and where the point does not resolve). What a verify does
    besides running its network must fit in the plain 2 s."""
    args = list(case.args)
    if not args or args[0] != "verify" or "--all" in args:
        return 0.0
    options: dict[str, Any] = {}
    sets: list[str] = []
    model_name, variant, rest = None, None, args[1:]
    while rest:
        word = rest.pop(0)
        if word in POINT_OPTIONS and rest:
            options[POINT_OPTIONS[word]] = rest.pop(0)
        elif word == "--set" and rest:
            sets.append(rest.pop(0))
        elif word == "--variant" and rest:
            variant = rest.pop(0)
        elif word in ("--seed", "--counting") and rest:
            rest.pop(0)
        elif not word.startswith("-") and model_name is None:
            model_name = word
    from costmodel.cli.options import parse_sets
    from costmodel.errors import UserError
    from costmodel.executor import Session, seeded_input, seeded_weights
    from costmodel.loading import load_model
    from costmodel.model import PointOptions

    previous = Path.cwd()
    try:
        os.chdir(directory)
        model = load_model(model_name or "", variant)
        network = model.network(PointOptions(**options, values=parse_sets(sets)).resolve(model))
        weights, x = seeded_weights(network, 0), seeded_input(network, 1, 0)
        start = time.perf_counter()
        Session(network, weights, fuse=False).run(x)
        return time.perf_counter() - start
    except (UserError, click.ClickException, ValueError):
        return 0.0
    finally:
        os.chdir(previous)


# -- judging ---------------------------------------------------------------------------------------------

_BUG_LINE = re.compile(
    r"internal error \(a bug[^)]*\): (?P<type>[A-Za-z_][\w.]*)(?P<rest>.*?)(?: at (?P<where>[\w.]+:\d+))?;"
)
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Iteration))(?::|$)", re.M)


def crash_site(stderr: str) -> str:
    """``ExceptionType at file:line`` of a bug line or a traceback, for deduplication."""
    frames = [m for m in _FRAME.finditer(stderr) if "/fuzz_" not in m["file"]]
    match = _BUG_LINE.search(stderr)
    if match and not frames:
        return f"{match['type']} at {match['where'] or '?'}"
    where = "?"
    if frames:
        last = frames[-1]
        ours = [m for m in frames if "/costmodel/" in m["file"]]
        site = ours[-1] if ours else last
        where = f"{Path(site['file']).name}:{site['line']}"
        if site is not last:
            where += f" (-> {Path(last['file']).name}:{last['line']})"
    types = _EXCEPTION.findall(stderr)
    kind = match["type"] if match else (types[-1] if types else "exception")
    return f"{kind} at {where}"


def headline(stderr: str) -> str:
    """The line that says what went wrong: the bug line, a traceback's last line, or the first line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "internal error" in line:
            return line
    if "Traceback (most recent call last)" in stderr and lines:
        return lines[-1]
    return lines[0] if lines else ""


def _first_line(text: str) -> str:
    return headline(text)[:200]


def _message_shape(line: str) -> str:
    """A message with its numbers and quoted names blanked out, to group similar ones."""
    line = re.sub(r"'[^']*'", "'…'", line)
    line = re.sub(r"\d+", "N", line)
    return line[:90]


def judge(
    case: Case, outcome: Outcome, hang_after: float = HANG_AFTER, memory_limit: int = MEMORY_LIMIT
) -> list[Problem]:
    """The problems of one run (empty: the promise kept)."""
    problems: list[Problem] = []
    command = case.command
    rc = outcome.returncode
    stderr = outcome.stderr
    lines = stderr.splitlines()
    memory_error = "MemoryError" in stderr or "Unable to allocate" in stderr
    if outcome.killed or outcome.seconds > hang_after + outcome.allowance:
        what = "killed" if outcome.killed else f"slow, exit {rc}"
        problems.append(
            Problem("hang", f"{command}: {what}, {case.kind} input {_size_class(case)}", f"{outcome.seconds:.1f} s")
        )
    rss = (outcome.maxrss_kib or 0) * 1024
    if rss > memory_limit or memory_error:
        why = f"peak RSS {rss / 2**20:.0f} MiB" if rss > memory_limit else crash_site(stderr)
        problems.append(Problem("memory", f"{command}: {'RSS' if rss > memory_limit else why} ({_kind_of(case)})", why))
    if rc is not None and (rc == 3 or "Traceback (most recent call last)" in stderr or rc < 0):
        site = f"killed by signal {-rc}" if rc < 0 else crash_site(stderr)
        if not (memory_error and "MemoryError" in site):
            problems.append(Problem("traceback", site, _first_line(stderr)))
    elif rc is not None and rc not in (0, 1, 2):
        problems.append(Problem("exit_code", f"{command}: exit {rc}", _first_line(stderr)))
    elif rc == 1 and (command not in MISMATCH_COMMANDS):
        problems.append(Problem("exit_code", f"{command}: exit 1", _first_line(stderr)))
    elif rc in (0, 1):
        bad = [line for line in lines if line.startswith("error:") or "Warning" in line or "warning:" in line.lower()]
        if bad:
            problems.append(Problem("exit_code", f"{command}: exit {rc} with {_message_shape(bad[0])}", bad[0][:200]))
    elif rc == 2:
        if len(lines) != 1 or not lines[0].startswith("error: "):
            shape = f"{len(lines)} stderr lines" if len(lines) != 1 else f"line not 'error: ': {lines[0][:40]!r}"
            problems.append(Problem("exit_code", f"{command}: exit 2 with {shape}", stderr[:200]))
        if outcome.stdout:
            problems.append(Problem("exit_code", f"{command}: exit 2 with stdout", outcome.stdout[:200]))
    problems += _stray(case, outcome)
    if outcome.stray_processes:
        problems.append(Problem("stray_process", f"{command}: a process outlived the command", ""))
    return problems


def _size_class(case: Case) -> str:
    """How big the case's largest file is, in a few classes (what a slow case's time mostly depends on)."""
    sizes = [len(v) if isinstance(v, bytes) else 0 for v in case.files.values()]
    sizes += [int(v[len(SPARSE) :]) for v in case.files.values() if isinstance(v, str) and v.startswith(SPARSE)]
    sizes += [
        12 * int(v[len(GENERATED) :]) for v in case.files.values() if isinstance(v, str) and v.startswith(GENERATED)
    ]
    largest = max(sizes, default=0)
    for limit, label in ((10_000, "< 10 KB"), (100_000, "10-100 KB"), (1_000_000, "100 KB-1 MB")):
        if largest < limit:
            return label
    return "> 1 MB"


def _kind_of(case: Case) -> str:
    if case.note:
        return case.note.split(";")[-1].strip()[:60]
    return " ".join(a for a in case.args[:2] if not a.startswith("-"))


def _stray(case: Case, outcome: Outcome) -> list[Problem]:
    problems: list[Problem] = []
    success = outcome.returncode == 0
    output = os.path.normpath(case.output) if case.output else None
    allowed = set()
    if success and output:
        allowed.add(output)
        # the output's directory may be new only if the command created it (it must not)
    for name in outcome.new_files:
        base = os.path.basename(name)
        if base.endswith(".tmp") or ".tmp" in base:
            problems.append(Problem("stray_file", f"{case.command}: temporary file left", name))
        elif name in allowed or (success and any(fnmatch.fnmatch(name, pattern) for pattern in case.extra_outputs)):
            continue
        elif name == output:
            problems.append(Problem("stray_file", f"{case.command}: output written by a failed command", name))
        else:
            problems.append(Problem("stray_file", f"{case.command}: unexpected file {_generic(name)}", name))
    for name in outcome.changed_files:
        plain = name.removesuffix(" (deleted)")
        if success and plain == output:
            continue
        what = "pre-existing output" if plain == output else "input"
        problems.append(Problem("stray_file", f"{case.command}: {what} changed by exit {outcome.returncode}", name))
    return problems


def _generic(name: str) -> str:
    return re.sub(r"[0-9a-z_]{6,}", "*", name)


def describe(case: Case, outcome: Outcome, problems: list[Problem]) -> str:
    """A reproducer: the command line, the files and what happened."""
    files = ", ".join(
        f"{name} ({len(v)} bytes)" if isinstance(v, bytes) else f"{name} ({v})" for name, v in case.files.items()
    )
    lines = [
        f"$ {case.shell()}",
        f"  files: {files or 'none'}; note: {case.note or '-'}",
        f"  exit {outcome.returncode} in {outcome.seconds:.2f} s, peak "
        + (f"{outcome.maxrss_kib >> 10} MiB" if outcome.maxrss_kib is not None else "not measured"),
        f"  stderr: {headline(outcome.stderr)[:200]!r}",
    ]
    lines += [f"  {p.cls}: {p.signature} ({p.detail[:120]})" for p in problems]
    return "\n".join(lines)
