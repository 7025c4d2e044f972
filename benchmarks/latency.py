"""Run-to-verdict latency, cold (a fresh interpreter per run) against warm (the zygote pool).

Prints p50/p95 per path and their ratio for a few shipped exercises; `--json` for machines.
Each sample is one `Grader.grade` of the exercise's reference solution with the reference run
already cached, which is what pressing ctrl+r costs a learner. Speed is measured here, never in
timed unit tests.

    python benchmarks/latency.py [--runs 30] [--cold-runs 5] [--device cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tutor.grader import Grader
from tutor.loader import load_pack
from tutor.paths import shipped_lessons_dir
from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import ColdRunner, Runner

DEFAULT_EXERCISES = ("tensors", "autograd", "hooks", "nn-module")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(runner: Runner, device: str, exercises, runs: int) -> dict[str, object]:
    grader = Grader(runner, device=device)
    per_exercise = {}
    everything: list[float] = []
    for lesson, exercise in exercises:
        grader.grade(exercise, exercise.solution)  # caches the reference, warms the pool
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            verdict = grader.grade(exercise, exercise.solution)
            samples.append(time.perf_counter() - started)
            if not verdict.passed:
                raise SystemExit(f"{lesson.id}/{exercise.id}: {verdict.summary}")
        everything += samples
        per_exercise[f"{lesson.id}/{exercise.id}"] = {
            "p50_ms": round(1000 * statistics.median(samples), 1),
            "p95_ms": round(1000 * percentile(samples, 95), 1),
        }
    grader.close()
    return {
        "p50_ms": round(1000 * statistics.median(everything), 1),
        "p95_ms": round(1000 * percentile(everything, 95), 1),
        "runs": len(everything),
        "exercises": per_exercise,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="warm samples per exercise")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold samples per exercise")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--spares", type=int, default=2, help="ready spares in the warm pool")
    parser.add_argument("--lessons", type=Path, default=shipped_lessons_dir())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    pack = load_pack(args.lessons)
    exercises = [
        (lesson, lesson.exercises[0]) for lesson in pack.lessons if lesson.id in DEFAULT_EXERCISES
    ]
    if not exercises:
        raise SystemExit("none of the benchmark's lessons could be loaded")
    warm = measure(WarmRunner(spares=args.spares), args.device, exercises, args.runs)
    cold = measure(ColdRunner(), args.device, exercises, args.cold_runs)
    ratio = round(cold["p50_ms"] / warm["p50_ms"], 1)  # type: ignore[operator]
    report = {
        "device": args.device,
        "python": sys.version.split()[0],
        "warm": warm,
        "cold": cold,
        "cold_over_warm_p50": ratio,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Run-to-verdict on {args.device}, {len(exercises)} exercises")
    for name in ("warm", "cold"):
        row = report[name]
        print(
            f"  {name:<5} p50 {row['p50_ms']:>8.1f} ms   p95 {row['p95_ms']:>8.1f} ms   "  # type: ignore[index]
            f"({row['runs']} runs)"
        )  # type: ignore[index]
        for exercise, figures in row["exercises"].items():  # type: ignore[index]
            p50, p95 = figures["p50_ms"], figures["p95_ms"]
            print(f"        {exercise:<36} p50 {p50:>8.1f}  p95 {p95:>8.1f}")
    print(f"  cold / warm (p50): {ratio}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
