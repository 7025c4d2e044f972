"""The sandbox child: runs exercise snippets and reports what the checks need to see.

STANDALONE: this directory runs inside the sandbox interpreter (`python -I tutor/sandbox/child`),
which may be another Python (a conda env with CUDA) that does not have pttutor installed. Its
modules import only the standard library, torch and numpy, never the `tutor` package. They are
named `_ptt_*` so that none shadows a module the learner's code imports.

Modes: `JOB FD` runs one job in a fresh interpreter (cold), `--zygote ...` is the warm pool's
zygote, `--spare ...` a single-use spare started as a fresh interpreter (where fork is unsafe).
"""

from __future__ import annotations

import json
import os
import sys
import time

from _ptt_boot import import_torch
from _ptt_confine import apply_limits, confine
from _ptt_job import _run_and_report
from _ptt_wire import FrameWriter
from _ptt_zygote import spare_main, zygote_main


def cold_main(job_path: str, fd: int) -> None:
    """One run in a fresh interpreter: read the job file, import torch, run, exit."""
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    os.unlink(job_path)  # the run's directory holds only what the learner's code writes
    out = FrameWriter(fd)
    apply_limits(job.get("limits", {}))
    started = time.perf_counter()
    torch, np = import_torch(warm=False)
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    out.send_json({"event": "ready", "import_seconds": time.perf_counter() - started})
    wanted = job.get("device", "cpu")
    cuda = wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
    job["sandbox"] = confine([os.getcwd()], cuda=cuda)
    _run_and_report(job, out, torch, np)


def main(argv: list[str]) -> None:
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "--zygote":  # --zygote CONTROL_FD [--no-namespaces]
        zygote_main(int(argv[2]), isolate="--no-namespaces" not in argv)
    elif mode == "--spare":  # --spare FD DEVICE WORKDIR [--warm-up]
        # A single-use spare started as a fresh interpreter: where fork is unsafe (macOS).
        torch, np = import_torch()
        spare_main(int(argv[2]), argv[3], argv[4], torch, np, False, [], "--warm-up" in argv)
    else:
        cold_main(argv[1], int(argv[2]))


if __name__ == "__main__":
    main(sys.argv)
