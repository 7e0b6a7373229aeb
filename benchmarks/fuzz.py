"""The long fuzz run: ≥ 10,000 hostile cases across the commands, counting every broken promise.

    python benchmarks/fuzz.py                      # 10,000 cases, seed 0, 2 workers
    python benchmarks/fuzz.py --cases 500 --seed 3 # a shorter run
    python benchmarks/fuzz.py --replay /tmp/costmodel-fuzz-failures-0.json   # rerun the failures saved

Cases come from the hypothesis strategies in ``tests/fuzz_strategies.py`` (mutated specs, hostile
YAML, command lines, arrays, ONNX files), deduplicated; each runs through ``tests/fuzz_runner.py`` in a
fresh directory, as a child process with a 1 GiB RSS threshold, a 2 s hang threshold (killed at 10 s)
and ``COSTMODEL_LIMITS=memory=512M`` (the product's default execution limit, 2 GiB, would let a valid
``verify`` or ``run`` pass 1 GiB). ``--mode fork`` (the default) forks each child from a worker that has
already imported costmodel, so the per-case times leave out ~0.3 s of imports; ``--mode exec`` runs
``python -m costmodel`` itself.

It prints progress, then per command the cases and the counts of tracebacks, hangs, memory, wrong
exit codes, stray files and stray processes, then each distinct failure (deduplicated by class and
signature: the exception type and where it was raised, or what went wrong) with its shortest reproducer,
and saves every failing case as JSON under /tmp. Exit status: 0 when every count is zero, else 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from fuzz_runner import CLASSES, ENVIRONMENT, HANG_AFTER, KILL_AFTER, describe, execute, preload  # noqa: E402
from fuzz_strategies import Case  # noqa: E402


def generate(count: int, seed: int, kinds: list[str]) -> list[Case]:
    """``count`` distinct cases from the strategies, in a seeded shuffled order."""
    import fuzz_strategies as fs
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    pick = {"spec": fs.spec_cases, "cli": fs.cli_cases, "array": fs.array_cases, "onnx": fs.onnx_cases}
    weights = {"spec": 4, "cli": 4, "array": 1, "onnx": 2}
    strategy = st.one_of(*[pick[k]() for k in kinds for _ in range(weights[k])])
    seen: set[str] = set()
    cases: list[Case] = []
    started = time.monotonic()
    for chunk in range(10_000):
        if len(cases) >= count:
            break
        batch: list[Case] = []

        @settings(
            max_examples=min(500, 2 * (count - len(cases)) + 10),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def collect(case: Case) -> None:
            batch.append(case)  # noqa: B023 - run at once, within this iteration

        try:
            hypothesis_seed(seed * 1_000_003 + chunk)(collect)()
        except Exception as err:  # a strategy that broke on some draw: keep what the chunk gave
            print(f"  (generation chunk {chunk} stopped: {type(err).__name__}: {str(err)[:200]})", flush=True)
        for case in batch:
            key = hashlib.sha1(json.dumps(case.to_json(), sort_keys=True).encode()).hexdigest()  # noqa: S324
            if key not in seen:
                seen.add(key)
                cases.append(case)
        print(
            f"  generated {min(len(cases), count):,}/{count:,} distinct cases ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    cases = cases[:count]
    random.Random(seed).shuffle(cases)  # noqa: S311 - an order, not a secret
    return cases


def worker(cases_path: str, results_path: str, index: int, workers: int, mode: str, kill_after: float) -> None:
    """Run every ``workers``-th case from ``index`` on, one JSON line of result per case."""
    if mode == "fork":
        preload()
    with open(cases_path, encoding="utf-8") as cases, open(results_path, "w", encoding="utf-8") as results:
        for number, line in enumerate(cases):
            if number % workers != index:
                continue
            case = Case.from_json(json.loads(line))
            record: dict[str, Any] = {"number": number, "kind": case.kind, "command": case.command}
            try:
                outcome, problems = execute(case, mode, kill_after)
                record |= {
                    "returncode": outcome.returncode,
                    "seconds": round(outcome.seconds, 3),
                    "maxrss_kib": outcome.maxrss_kib,
                    "allowance": round(outcome.allowance, 3),
                    "problems": [p.to_json() for p in problems],
                }
                if problems:
                    record |= {
                        "stderr": outcome.stderr[:1000]
                        + (
                            "\n[...]\n" + outcome.stderr[-1000:]
                            if len(outcome.stderr) > 2000
                            else outcome.stderr[1000:2000]
                        ),
                        "stdout": outcome.stdout[:300],
                        "new_files": outcome.new_files[:20],
                        "changed_files": outcome.changed_files[:20],
                        "describe": describe(case, outcome, problems),
                    }
            except Exception as err:
                record |= {"problems": [{"cls": "harness", "signature": type(err).__name__, "detail": str(err)[:300]}]}
            results.write(json.dumps(record) + "\n")
            results.flush()


def run_workers(cases: list[Case], directory: Path, workers: int, mode: str, kill_after: float) -> list[dict[str, Any]]:
    cases_path = directory / "cases.jsonl"
    with open(cases_path, "w", encoding="utf-8") as handle:
        for case in cases:
            handle.write(json.dumps(case.to_json()) + "\n")
    paths = [directory / f"results-{i}.jsonl" for i in range(workers)]
    for path in paths:
        path.unlink(missing_ok=True)  # an earlier run's results must not count
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                str(cases_path),
                str(path),
                str(i),
                str(workers),
                mode,
                str(kill_after),
            ],
            stdin=subprocess.DEVNULL,
        )
        for i, path in enumerate(paths)
    ]
    started = time.monotonic()
    last = 0.0
    while True:
        done = all(p.poll() is not None for p in procs)
        now = time.monotonic()
        if done or now - last >= 30:
            last = now
            records = _read(paths)
            counts = Counter(p["cls"] for r in records for p in r["problems"])
            rate = len(records) / max(now - started, 1e-9)
            left = (len(cases) - len(records)) / rate if rate else 0
            shown = ", ".join(f"{c} {counts.get(c, 0)}" for c in CLASSES)
            print(
                f"  [{time.strftime('%H:%M:%S')}] {len(records):,}/{len(cases):,} cases, {rate:.1f}/s, "
                f"~{left / 60:.0f} min left; {shown}",
                flush=True,
            )
        if done:
            break
        time.sleep(1)
    for p in procs:
        if p.returncode:
            print(f"worker exited with {p.returncode}", file=sys.stderr)
    return sorted(_read(paths), key=lambda r: r["number"])


def _read(paths: list[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.endswith("\n"):
                        records.append(json.loads(line))
    return records


def summarise(cases: list[Case], records: list[dict[str, Any]], out: Path, examples: int) -> int:
    classes = [*CLASSES, "harness"]
    by_command: dict[str, Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        for table, key in ((by_command, record["command"]), (by_kind, record["kind"])):
            table[key]["cases"] += 1
            for cls in {p["cls"] for p in record["problems"]}:
                table[key][cls] += 1
    print()
    for title, table in (("command", by_command), ("kind", by_kind)):
        header = f"{title:<12}{'cases':>7}" + "".join(f"{c:>15}" for c in classes)
        print(header)
        print("-" * len(header))
        total: Counter[str] = Counter()
        for key in sorted(table):
            total.update(table[key])
            print(f"{key:<12}{table[key]['cases']:>7,}" + "".join(f"{table[key][c]:>15,}" for c in classes))
        print(f"{'total':<12}{total['cases']:>7,}" + "".join(f"{total[c]:>15,}" for c in classes))
        print()
    seconds = sorted(r.get("seconds", 0) for r in records)
    if seconds:
        print(
            f"per case: median {seconds[len(seconds) // 2]:.2f} s, slowest {seconds[-1]:.2f} s; "
            f"peak RSS: largest {max((r.get('maxrss_kib') or 0) for r in records) >> 10} MiB"
        )
    worked = [r for r in records if r.get("allowance") and r.get("seconds", 0) > HANG_AFTER and not r["problems"]]
    if worked:
        slowest = max(worked, key=lambda r: r["seconds"])
        print(
            f"verify runs over {HANG_AFTER:g} s within {HANG_AFTER:g} s plus the time their network takes to run "
            f"(not hangs): {len(worked)}; slowest {slowest['seconds']:.2f} s, its network run in "
            f"{slowest['allowance']:.2f} s (case {slowest['number']})"
        )
    # distinct failures: class + signature, with the shortest reproducer
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        for problem in record["problems"]:
            groups[(problem["cls"], problem["signature"])].append(record)
    if groups:
        print(f"\n{len(groups)} distinct failures (class: signature — cases, commands):")
    for (cls, signature), members in sorted(groups.items(), key=lambda kv: (classes.index(kv[0][0]), -len(kv[1]))):
        commands = Counter(m["command"] for m in members)
        print(
            f"\n[{cls}] {signature} — {len(members)} case(s): "
            + ", ".join(f"{c} {n}" for c, n in commands.most_common())
        )
        shortest = sorted(members, key=lambda m: len(m.get("describe", "")))[:examples]
        for member in shortest:
            text = member.get("describe", "")
            print("  " + text.replace("\n", "\n  "))
    failing = [r for r in records if r["problems"]]
    saved = [{"case": cases[r["number"]].to_json(), "result": r} for r in failing]
    out.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    print(f"\n{len(failing):,} failing case(s) of {len(records):,} saved to {out}")
    return 1 if failing else 0


def replay(path: Path, mode: str, kill_after: float, extract: Path | None) -> int:
    """Rerun saved failing cases; with ``extract``, lay out the shortest case of each distinct failure in
    ``extract/NN/`` with its command in ``command.sh``, to reproduce by hand."""
    if mode == "fork":
        preload()
    saved = json.loads(path.read_text(encoding="utf-8"))
    failures = 0
    shortest: dict[tuple[str, str], Case] = {}
    for entry in saved:
        case = Case.from_json(entry["case"])
        outcome, problems = execute(case, mode, kill_after)
        failures += bool(problems)
        print(describe(case, outcome, problems) + "\n")
        for problem in problems:
            key = (problem.cls, problem.signature)
            size = len(case.shell()) + sum(len(v) for v in case.files.values())
            if key not in shortest or size < len(shortest[key].shell()) + sum(
                len(v) for v in shortest[key].files.values()
            ):
                shortest[key] = case
    print(f"{failures} of {len(saved)} still fail")
    if extract is not None:
        from fuzz_runner import lay_out

        for number, ((cls, signature), case) in enumerate(sorted(shortest.items())):
            directory = extract / f"{number:02d}"
            directory.mkdir(parents=True, exist_ok=True)
            lay_out(case, directory)
            (directory / "command.sh").write_text(
                f"# [{cls}] {signature}\n# {case.note}\nCOSTMODEL_LIMITS=memory=512M {case.shell()}\n", encoding="utf-8"
            )
        print(f"{len(shortest)} distinct failures laid out under {extract}/NN/ (command.sh in each)")
    return 1 if failures else 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, cases_path, results_path, index, workers, mode, kill_after = sys.argv
        worker(cases_path, results_path, int(index), int(workers), mode, float(kill_after))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="number of distinct cases (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, choices=[1, 2], help="parallel workers (at most 2)")
    parser.add_argument("--mode", choices=["fork", "exec"], default="fork")
    parser.add_argument("--kinds", default="spec,cli,array,onnx", help="comma-separated: spec, cli, array, onnx")
    parser.add_argument("--kill-after", type=float, default=KILL_AFTER, help="seconds before a case is killed")
    parser.add_argument("--examples", type=int, default=1, help="reproducers shown per distinct failure")
    parser.add_argument("--out", type=Path, help="failing cases (default /tmp/costmodel-fuzz-failures-SEED.json)")
    parser.add_argument("--replay", type=Path, help="rerun the cases of a saved failures file and stop")
    parser.add_argument("--extract", type=Path, help="with --replay: lay out one case per distinct failure here")
    args = parser.parse_args()
    if args.replay:
        return replay(args.replay, args.mode, args.kill_after, args.extract)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    out = args.out or Path(f"/tmp/costmodel-fuzz-failures-{args.seed}.json")  # noqa: S108
    directory = Path(f"/tmp/costmodel-fuzz-{args.seed}")  # noqa: S108
    directory.mkdir(exist_ok=True)
    print(
        f"fuzz: {args.cases:,} cases, seed {args.seed}, {args.workers} worker(s), mode {args.mode}, "
        f"hang > {HANG_AFTER} s (killed at {args.kill_after} s), memory > 1 GiB RSS, "
        f"env {' '.join(f'{k}={v}' for k, v in ENVIRONMENT.items())}",
        flush=True,
    )
    started = time.monotonic()
    cases = generate(args.cases, args.seed, kinds)
    print(
        f"running {len(cases):,} cases: "
        + ", ".join(f"{k} {n}" for k, n in Counter(c.command for c in cases).most_common()),
        flush=True,
    )
    records = run_workers(cases, directory, args.workers, args.mode, args.kill_after)
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    return summarise(cases, records, out, args.examples)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
