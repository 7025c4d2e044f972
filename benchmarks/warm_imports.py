"""What the zygote's pre-imports (WARM_IMPORTS) buy and cost.

    python benchmarks/warm_imports.py profile [--no-warm] [--warm-up] [--json] [--lessons DIR]
    python benchmarks/warm_imports.py cost [--runs 5] [--json]

`profile` runs every shipped exercise's solution (setup, trials, checks, function calls, as the
grader sends it) once in a fork of an interpreter that did what the zygote does, and lists the
modules each run still imports lazily, and how long that first run took. A module that many
exercises import, or that is slow, belongs in WARM_IMPORTS. `--no-warm` profiles against a
zygote without WARM_IMPORTS; `--warm-up` runs the spare's warm-up first, as a real spare does.

`cost` starts the zygote's import alternately with and without WARM_IMPORTS and reports the
seconds and the resident memory each takes (p50 and max over `--runs`).

Figures, never a timed test: tests/test_warm_imports.py counts modules with `profile --json`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tutor.grader import draw_seed, inputs_for, request_for  # noqa: E402
from tutor.loader import load_pack  # noqa: E402
from tutor.paths import shipped_lessons_dir  # noqa: E402
from tutor.sandbox.runner import CHILD_SCRIPT, job_for  # noqa: E402

PROBE = Path(__file__).with_name("_import_probe.py")


def _probe(python: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [python, "-I", str(PROBE), str(CHILD_SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"the probe failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def solution_jobs(lessons: Path, every_code: bool = False) -> list[dict[str, Any]]:
    """Every CPU exercise's reference run, as the grader would send it (hidden trials too);
    with `every_code`, its starter, shortcuts and alternatives too (learners' kinds of code)."""
    pack = load_pack(lessons)
    jobs = []
    for lesson, exercise in pack.exercises():
        if exercise.requires == "cuda":
            continue
        ref = f"{lesson.id}/{exercise.id}"
        codes = [(ref, exercise.solution)]
        if every_code:
            codes.append((f"{ref} (starter)", exercise.starter))
            codes += [(f"{ref} (shortcut {i})", v.code) for i, v in enumerate(exercise.shortcuts)]
            codes += [
                (f"{ref} (alternative {i})", v.code) for i, v in enumerate(exercise.alternatives)
            ]
        for name, code in codes:
            seeds = tuple(draw_seed() for _ in range(exercise.trial_count - 1))
            inputs = inputs_for(exercise, draw_seed())
            request = request_for(exercise, code, "cpu", seeds, inputs)
            jobs.append({"ref": name, "job": job_for(request, startup=0)})
    return jobs


def profile(
    lessons: Path, warm: bool, warm_up: bool, python: str, every_code: bool = False
) -> dict[str, Any]:
    jobs = solution_jobs(lessons, every_code)
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as f:
        json.dump(jobs, f)
        f.flush()
        flags = [*([] if warm else ["--no-warm"]), *(["--warm-up"] if warm_up else [])]
        rows = _probe(python, "jobs", f.name, *flags)
    packages: collections.Counter[str] = collections.Counter()
    for row in rows:
        packages.update({".".join(m.split(".")[:2]) for m in row.get("modules", [])})
    return {
        "warm_imports": warm,
        "warm_up": warm_up,
        "exercises": rows,
        "packages": dict(packages.most_common()),  # package -> how many exercises import it
    }


def cost(runs: int, python: str) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
    for _ in range(runs):  # alternate, so a change in the machine's load hits both alike
        samples["with"] += _probe(python, "startup")
        samples["without"] += _probe(python, "startup", "--no-warm")
    report: dict[str, Any] = {"runs": runs, "load_average": list(os.getloadavg())}
    for name, rows in samples.items():
        seconds = [r["seconds"] for r in rows]
        rss = [r["rss_mb"] for r in rows]
        report[name] = {
            "import_p50_s": round(statistics.median(seconds), 3),
            "import_max_s": round(max(seconds), 3),
            "import_cpu_p50_s": round(statistics.median(r["cpu_seconds"] for r in rows), 3),
            "rss_p50_mb": round(statistics.median(rss), 1),
            "modules": rows[0]["modules"],
            "threads": max(r["threads"] for r in rows),
        }
    return report


def _print_profile(report: dict[str, Any]) -> None:
    rows = sorted(report["exercises"], key=lambda r: -len(r.get("modules", [])))
    print(
        f"Lazy imports of {len(rows)} shipped runs after the zygote's imports "
        f"(WARM_IMPORTS {'on' if report['warm_imports'] else 'off'}"
        f"{', after the warm-up' if report['warm_up'] else ''})"
    )
    for row in rows:
        if row.get("error"):
            print(f"  {row['ref']:<40} ERROR {row['error']}")
            continue
        modules = row["modules"]
        shown = ", ".join(modules[:6]) + (", ..." if len(modules) > 6 else "")
        took = 1000 * row["seconds"]
        print(f"  {row['ref']:<40} {len(modules):>4} new  {took:>7.0f} ms  {shown}")
    print("Packages, by how many exercises import them lazily:")
    for package, count in report["packages"].items():
        print(f"  {count:>4}  {package}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile", help="modules each shipped solution imports lazily")
    p.add_argument("--lessons", type=Path, default=shipped_lessons_dir())
    p.add_argument("--no-warm", action="store_true", help="a zygote without WARM_IMPORTS")
    p.add_argument("--warm-up", action="store_true", help="run the spare's warm-up first")
    p.add_argument(
        "--all-code", action="store_true", help="starters, shortcuts and alternatives too"
    )
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("cost", help="zygote import time and RSS with and without WARM_IMPORTS")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "profile":
        report = profile(args.lessons, not args.no_warm, args.warm_up, args.python, args.all_code)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_profile(report)
        return 0
    report = cost(args.runs, args.python)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    load = report["load_average"][0]
    print(f"Zygote start-up, {args.runs} runs each (alternating; load average {load:.1f})")
    for name in ("without", "with"):
        row = report[name]
        print(
            f"  {name:<7} WARM_IMPORTS: import p50 {row['import_p50_s']:.2f} s "
            f"(max {row['import_max_s']:.2f}, CPU p50 {row['import_cpu_p50_s']:.2f} s), "
            f"RSS p50 {row['rss_p50_mb']:.0f} MB, "
            f"{row['modules']} modules, {row['threads']} threads"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
