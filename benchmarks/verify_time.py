"""`pttutor verify` of the whole curriculum against a cold `import torch` on the same machine.

The target is a verify of every shipped exercise in at most ten cold PyTorch imports. This
prints both, their ratio, the machine's busy CPU seconds during the verify (from /proc/stat, all
processes: the sandbox's runs are not the command's children, so `time` misses most of them),
the load average before it, and the slowest exercises.

    python benchmarks/verify_time.py [--imports 5] [--verifies 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def busy_cpu_seconds() -> float | None:
    """Seconds of CPU the whole machine has spent busy since boot (None off Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cold_import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - started


def one_verify() -> dict[str, Any]:
    before = busy_cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tutor", "verify", "--device", "cpu", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = busy_cpu_seconds()
    report = json.loads(done.stdout)
    rows = sorted(report["results"], key=lambda r: -r.get("seconds", 0))
    return {
        "seconds": round(wall, 2),
        "busy_cpu_seconds": None if before is None or after is None else round(after - before, 1),
        "exit_status": done.returncode,
        "summary": report["summary"],
        "slowest": [{"exercise": r["exercise"], "seconds": r["seconds"]} for r in rows[:10]],
        "problems": [
            {"exercise": r["exercise"], "message": r["message"]}
            for r in report["results"]
            if r["result"] == "problem"
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=5)
    parser.add_argument("--verifies", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    cold_import_seconds()  # the page cache, once
    imports = [cold_import_seconds() for _ in range(args.imports)]
    verifies = [one_verify() for _ in range(args.verifies)]
    best = min(verifies, key=lambda v: v["seconds"])
    cold = statistics.median(imports)
    report = {
        "load_average_before": load,
        "cores": os.cpu_count(),
        "cold_import_seconds_median": round(cold, 3),
        "verify": best,
        "verify_seconds_all": [v["seconds"] for v in verifies],
        "ratio": round(best["seconds"] / cold, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    summary = best["summary"]
    print(f"load average before: {load}, {os.cpu_count()} cores")
    print(f"cold `import torch`: median {cold:.2f} s of {len(imports)}")
    print(
        f"verify: {best['seconds']:.1f} s (best of {len(verifies)}), "
        f"{summary['exercises']} exercises, {summary['ok']} ok, {summary['problems']} problems, "
        f"busy CPU {best['busy_cpu_seconds']} s"
    )
    print(f"ratio: {report['ratio']}x a cold import (target: at most 10x)")
    for verify in verifies:
        for problem in verify["problems"]:
            print(f"problem: {problem['exercise']}: {problem['message']}")
    print("slowest:")
    for row in best["slowest"]:
        print(f"  {row['seconds']:6.2f} s  {row['exercise']}")


if __name__ == "__main__":
    main()
