"""Run-to-verdict latency of every shipped exercise, warm, at a learner's pace; cold for contrast.

One sample is one `Grader.grade` of an exercise's reference solution: what pressing ctrl+r
costs a learner, reference run and hidden trials included (an exercise with hidden trials runs
its reference every time). At a learner's pace (the default) each sample waits until the pool
has all its spares ready again, as it would after the seconds a learner spends reading; the
time that took is reported as the refill. `--pace back-to-back` does not wait.

Reports the overall p50/p95, the worst exercise's p50 and p95, the slowest ten, figures by
trial count, and what each Run costs beyond the exercise's own work in the child (setup, code,
checks and hidden trials, as the child times them): `--json` carries every exercise's figures.
The cold path (a fresh interpreter per run) is measured on a few exercises, for contrast.
Speed is measured here, never in timed unit tests.

    python benchmarks/latency.py [--runs 5] [--cold-runs 3] [--device cpu]
        [--pace learner|back-to-back] [--only LESSON[/EXERCISE] ...] [--no-warm-imports] [--json]

`--no-warm-imports` runs the pool from a zygote without WARM_IMPORTS (its spares import what
they need during their warm-up, or during the run), to measure what the pre-imports buy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tutor.grader import Grader
from tutor.loader import LessonPack, UnknownId, load_pack
from tutor.paths import shipped_lessons_dir
from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import ColdRunner
from tutor.schema import Exercise, Lesson

COLD_LESSONS = ("tensors", "autograd", "hooks", "nn-module")  # cold: their first exercises
READY_TIMEOUT = 120.0
SLOWEST = 10

Pair = tuple[Lesson, Exercise]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


def wait_until_ready(runner: WarmRunner, device: str, spares: int) -> float:
    """Wait until `spares` warm spares wait for `device` (a learner's pace); seconds waited.

    A check with hidden trials takes two at once (reference and learner side by side)."""
    started = time.perf_counter()
    deadline = started + READY_TIMEOUT
    while time.perf_counter() < deadline:
        if runner.ready(device, spares):
            break
        time.sleep(0.002)
    return time.perf_counter() - started


def _figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": _ms(statistics.median(samples)),
        "p95_ms": _ms(percentile(samples, 95)),
        "max_ms": _ms(max(samples)),
    }


def measure_warm(
    runner: WarmRunner, device: str, pairs: list[Pair], runs: int, pace: str, progress: bool
) -> dict[str, Any]:
    grader = Grader(runner, device=device)
    runner.warm_up(device)
    pool_start = wait_until_ready(runner, device, runner.spares)  # not a refill: the start-up
    per_exercise: dict[str, dict[str, Any]] = {}
    everything: list[float] = []
    refills: list[float] = []
    failures: dict[str, str] = {}
    try:
        for lesson, exercise in pairs:
            ref = f"{lesson.id}/{exercise.id}"
            samples: list[float] = []
            code: list[float] = []
            own: list[float] = []  # the child's own time for the job (both runs do the same)
            overhead: list[float] = []  # the rest: the tutor's share of the sample
            for _ in range(runs):
                if pace == "learner":
                    refills.append(wait_until_ready(runner, device, runner.spares))
                started = time.perf_counter()
                verdict = grader.grade(exercise, exercise.solution)
                samples.append(time.perf_counter() - started)
                if not verdict.passed:
                    failures[ref] = verdict.summary
                if verdict.run is not None and verdict.run.code_seconds is not None:
                    code.append(verdict.run.code_seconds)
                if verdict.run is not None and verdict.run.job_seconds is not None:
                    own.append(verdict.run.job_seconds)
                    overhead.append(samples[-1] - verdict.run.job_seconds)
            everything += samples
            per_exercise[ref] = {
                **_figures(samples),
                "code_p50_ms": _ms(statistics.median(code)) if code else None,
                "own_p50_ms": _ms(statistics.median(own)) if own else None,
                "overhead_p50_ms": _ms(statistics.median(overhead)) if overhead else None,
                "trials": exercise.trial_count,
                "runs": len(samples),
            }
            if progress:
                row = per_exercise[ref]
                print(
                    f"  {ref:<40} p50 {row['p50_ms']:>7.1f}  p95 {row['p95_ms']:>7.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        grader.close()
    return {
        "pool_start_s": round(pool_start, 2),
        **_summary(per_exercise, everything, refills, failures),
    }


def _summary(
    per_exercise: dict[str, dict[str, Any]],
    everything: list[float],
    refills: list[float],
    failures: dict[str, str],
) -> dict[str, Any]:
    by_p50 = sorted(per_exercise, key=lambda ref: -per_exercise[ref]["p50_ms"])
    by_p95 = sorted(per_exercise, key=lambda ref: -per_exercise[ref]["p95_ms"])
    by_trials: dict[str, dict[str, Any]] = {}
    for count in sorted({row["trials"] for row in per_exercise.values()}):
        rows = [row for row in per_exercise.values() if row["trials"] == count]
        by_trials[str(count)] = {
            "exercises": len(rows),
            "p50_of_p50_ms": round(statistics.median(r["p50_ms"] for r in rows), 1),
            "max_p50_ms": max(r["p50_ms"] for r in rows),
        }
    return {
        **_figures(everything),
        "runs": len(everything),
        "exercises_measured": len(per_exercise),
        "worst_p50": {"exercise": by_p50[0], **per_exercise[by_p50[0]]},
        "worst_p95": {"exercise": by_p95[0], **per_exercise[by_p95[0]]},
        "slowest": [{"exercise": ref, **per_exercise[ref]} for ref in by_p50[:SLOWEST]],
        "over_150ms_p50": [ref for ref in by_p50 if per_exercise[ref]["p50_ms"] > 150],
        "overhead": _overhead(per_exercise),
        "by_trials": by_trials,
        "refill": _figures(refills) if refills else None,
        "failures": failures,
        "exercises": per_exercise,
    }


def _overhead(per_exercise: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """What a Run costs beyond the exercise's own work in the child (setup, code, checks, hidden
    trials): spare hand-off, transfer, decoding, comparison. The target is 30 ms."""
    rows = {
        r: v["overhead_p50_ms"] for r, v in per_exercise.items() if v["overhead_p50_ms"] is not None
    }
    if not rows:
        return None
    worst = max(rows, key=lambda ref: rows[ref])
    return {
        "p50_of_p50_ms": round(statistics.median(rows.values()), 1),
        "worst": {"exercise": worst, "p50_ms": rows[worst]},
        "over_30ms_p50": sorted((r for r in rows if rows[r] > 30), key=lambda r: -rows[r]),
    }


def measure_cold(device: str, pairs: list[Pair], runs: int) -> dict[str, Any]:
    grader = Grader(ColdRunner(), device=device)
    samples: list[float] = []
    try:
        for _, exercise in pairs:
            for _ in range(runs):
                started = time.perf_counter()
                grader.grade(exercise, exercise.solution)
                samples.append(time.perf_counter() - started)
    finally:
        grader.close()
    return {**_figures(samples), "runs": len(samples), "exercises": len(pairs)}


def select(pack: LessonPack, only: list[str], device: str) -> list[Pair]:
    pairs: list[Pair] = []
    if not only:
        pairs = pack.exercises()
    for ref in only:
        try:
            lesson, exercise = pack.resolve(ref)
        except UnknownId as exc:
            raise SystemExit(str(exc)) from None
        pairs += [(lesson, e) for e in ([exercise] if exercise else lesson.exercises)]
    return [(lesson, e) for lesson, e in pairs if e.requires != "cuda" or device == "cuda"]


def without_warm_imports(directory: str) -> str:
    """An interpreter command that runs the child with WARM_IMPORTS emptied, for contrast."""
    shim = Path(directory, "shim.py")
    shim.write_text(
        "import runpy, sys\n"
        "args = [a for a in sys.argv[1:] if a not in ('-I', '-u')]\n"
        "sys.path.insert(0, args[0])\n"
        "import _ptt_boot\n"
        "_ptt_boot.WARM_IMPORTS = ()\n"
        "sys.argv = args\n"
        "runpy.run_path(args[0], run_name='__main__')\n",
        encoding="utf-8",
    )
    python = Path(directory, "python")
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -u "{shim}" "$@"\n')
    python.chmod(0o755)
    return str(python)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm samples per exercise")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold samples (0: none)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--spares", type=int, default=2, help="ready spares in the warm pool")
    parser.add_argument("--pace", choices=("learner", "back-to-back"), default="learner")
    parser.add_argument("--lessons", type=Path, default=shipped_lessons_dir())
    parser.add_argument("--only", nargs="*", default=[], metavar="LESSON[/EXERCISE]")
    parser.add_argument("--no-warm-imports", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no per-exercise progress")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    pack = load_pack(args.lessons)
    pairs = select(pack, args.only, args.device)
    if not pairs:
        raise SystemExit("no exercise to measure")
    with tempfile.TemporaryDirectory() as shim_dir:
        python = without_warm_imports(shim_dir) if args.no_warm_imports else None
        runner = WarmRunner(python, spares=args.spares)
        warm = measure_warm(
            runner, args.device, pairs, args.runs, args.pace, progress=not args.quiet
        )
    report: dict[str, Any] = {
        "device": args.device,
        "python": sys.version.split()[0],
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "pace": args.pace,
        "spares": args.spares,
        "warm_imports": not args.no_warm_imports,
        "warm": warm,
    }
    if args.cold_runs > 0:
        cold_pairs = [(lesson, lesson.exercises[0]) for lesson in pack.lessons]
        cold_pairs = [p for p in cold_pairs if p[0].id in COLD_LESSONS]
        report["cold"] = measure_cold(args.device, cold_pairs, args.cold_runs)
        report["cold_over_warm_p50"] = round(report["cold"]["p50_ms"] / warm["p50_ms"], 1)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if warm["failures"] else 0


def print_report(report: dict[str, Any]) -> None:
    warm = report["warm"]
    print(
        f"Run-to-verdict on {report['device']}, {warm['exercises_measured']} exercises, "
        f"{report['pace']} pace, WARM_IMPORTS {'on' if report['warm_imports'] else 'off'} "
        f"(load average {report['load_average'][0]} on {report['cores']} cores)"
    )
    print(
        f"  warm  p50 {warm['p50_ms']:>8.1f} ms   p95 {warm['p95_ms']:>8.1f} ms   "
        f"({warm['runs']} runs)"
    )
    for key, label in (("worst_p50", "worst p50"), ("worst_p95", "worst p95")):
        row = warm[key]
        print(
            f"  {label}: {row['exercise']}  p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms"
        )
    print(f"  pool start-up (zygote and {report['spares']} spares ready): {warm['pool_start_s']} s")
    if warm["refill"]:
        refill = warm["refill"]
        print(f"  refill (spares ready again): p50 {refill['p50_ms']}, p95 {refill['p95_ms']} ms")
    for count, row in warm["by_trials"].items():
        print(
            f"  {row['exercises']} exercises with {count} trial(s): median p50 "
            f"{row['p50_of_p50_ms']} ms, max p50 {row['max_p50_ms']} ms"
        )
    print(f"  slowest {len(warm['slowest'])} (p50 / p95 / code p50 / own work p50, ms):")
    for row in warm["slowest"]:
        code = "-" if row["code_p50_ms"] is None else f"{row['code_p50_ms']:.1f}"
        own = "-" if row["own_p50_ms"] is None else f"{row['own_p50_ms']:.1f}"
        print(
            f"    {row['exercise']:<40} {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {code:>7}"
            f" {own:>7}  ({row['trials']} trials)"
        )
    if warm["over_150ms_p50"]:
        print(f"  over 150 ms p50: {', '.join(warm['over_150ms_p50'])}")
    if warm["overhead"]:
        over = warm["overhead"]
        print(
            f"  beyond the exercise's own work in the child: median p50 {over['p50_of_p50_ms']}"
            f" ms, worst {over['worst']['exercise']} {over['worst']['p50_ms']} ms;"
            f" over 30 ms: {', '.join(over['over_30ms_p50']) or 'none'}"
        )
    for ref, why in warm["failures"].items():
        print(f"  FAILED {ref}: {why}")
    if "cold" in report:
        cold = report["cold"]
        print(
            f"  cold  p50 {cold['p50_ms']:>8.1f} ms   p95 {cold['p95_ms']:>8.1f} ms   "
            f"({cold['runs']} runs of {cold['exercises']} exercises)"
        )
        print(f"  cold / warm (p50): {report['cold_over_warm_p50']}x")


if __name__ == "__main__":
    sys.exit(main())
