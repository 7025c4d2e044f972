"""Run in a clean sandbox interpreter by warm_imports.py: what a zygote has, then what runs add.

    python -I _import_probe.py CHILD_DIR MODE [ARG]

MODE `jobs JOBS.json [--no-warm] [--warm-up]`: import torch as the zygote does (with or
without WARM_IMPORTS), then fork once per job, as the zygote forks a spare, and run it with
the child's own `run_job`. Each fork prints one JSON line: the modules the run added to
`sys.modules` and how long it took. `--warm-up` runs the spare's warm-up before the snapshot.

MODE `startup [--no-warm]`: import torch as the zygote does and print one JSON line with the
seconds (wall and CPU) it took, the RSS afterwards, the module count and the thread count.

Standard library, torch and numpy only, like the child itself: nothing of pttutor is imported
here, so nothing the tutor imports hides a lazy import.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def startup(warm: bool) -> None:
    import _ptt_boot

    started, cpu = time.perf_counter(), time.process_time()
    _ptt_boot.import_torch(warm=warm)
    seconds = time.perf_counter() - started
    report = {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "rss_mb": _rss_mb(),
        "modules": len(sys.modules),
        "threads": _threads(),
    }
    print(json.dumps(report), flush=True)


def run_jobs(path: str, warm: bool, warm_up: bool) -> None:
    import _ptt_boot
    from _ptt_job import run_job
    from _ptt_wire import FrameWriter

    with open(path, encoding="utf-8") as f:
        jobs = json.load(f)
    torch, np = _ptt_boot.import_torch(warm=warm)
    torch.set_num_threads(1)  # as the zygote: spares set their own
    report_fd = os.dup(1)
    for item in jobs:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _one(item, write, torch, np, warm_up, run_job, FrameWriter)
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as f:
            line = f.read()
        os.waitpid(pid, 0)
        if not line:
            line = json.dumps({"ref": item["ref"], "error": "the run died"}).encode() + b"\n"
        os.write(report_fd, line)


def _one(item, write, torch, np, warm_up, run_job, frame_writer) -> None:
    workdir = tempfile.mkdtemp(prefix="ptt-probe-")
    os.chdir(workdir)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the run's prints
    os.dup2(devnull, 2)
    job = item["job"]
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    if warm_up:
        import _ptt_boot

        _ptt_boot.warm_up(torch, np, torch.device("cpu"))
    before = set(sys.modules)
    started = time.perf_counter()
    error = None
    try:
        run_job(job, frame_writer(devnull), torch, np)
    except BaseException as exc:  # a bug in the probe or the harness: report, do not hide
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    added = sorted(set(sys.modules) - before)
    line = {"ref": item["ref"], "seconds": seconds, "modules": added, "error": error}
    os.write(write, (json.dumps(line) + "\n").encode())


def main(argv: list[str]) -> None:
    sys.path.insert(0, argv[1])
    mode, rest = argv[2], argv[3:]
    warm = "--no-warm" not in rest
    if mode == "startup":
        startup(warm)
    elif mode == "jobs":
        run_jobs(rest[0], warm, "--warm-up" in rest)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
