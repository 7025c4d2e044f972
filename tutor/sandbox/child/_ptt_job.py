"""One job: run the exercise setup and the learner's code, evaluate the checks, send the result."""

from __future__ import annotations

import builtins
import contextlib
import os
import random
import sys
import time
import traceback
import types
from typing import Any

from _ptt_confine import sandbox_level
from _ptt_inspect import INSPECT_SECONDS, _short_error, inspect_run
from _ptt_wire import MAX_TEXT, Encoder, FrameWriter, ResultTooLarge

USER_FILENAME = "<your code>"
SETUP_FILENAME = "<setup>"
CHECK_FILENAME = "<check>"


def exception_info(exc: BaseException, code: str) -> dict[str, Any]:
    """The learner's exception as data, with line numbers that match their editor."""
    lines = code.splitlines()
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == USER_FILENAME and frame.lineno is not None:
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            frames.append({"line": frame.lineno, "function": frame.name, "text": text})
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILENAME and exc.lineno:
        frames.append(
            {
                "line": exc.lineno,
                "function": "<module>",
                "text": (exc.text or "").strip(),
                "column": exc.offset,
            }
        )
    kind = type(exc)
    try:
        message = str(exc)
    except Exception:
        message = "<message could not be read>"
    if isinstance(exc, SyntaxError):
        message = exc.msg
    return {
        "type": kind.__name__,
        "module": kind.__module__,
        "mro": [c.__name__ for c in kind.__mro__],
        "message": message[:MAX_TEXT],
        "frames": frames,
    }


def seed_everything(torch: Any, np: Any, seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too


def resolve_device(torch: Any, wanted: str) -> tuple[Any, str | None]:
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        reason = (
            "this PyTorch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA device is visible to this interpreter"
        )
        return (
            None,
            f"CUDA was asked for, but {reason} ({sys.executable}, torch {torch.__version__})",
        )
    return torch.device(wanted), None


def _fresh_main(device: Any) -> dict[str, Any]:
    """A new module registered as `__main__`, as `python script.py` gives: classes and functions
    the learner defines pickle by reference (torch.save of a whole model), and
    `if __name__ == "__main__":` runs. The harness's own modules stay out of its reach by name."""
    module = types.ModuleType("__main__")
    module.__dict__.update(__builtins__=builtins, device=device)
    sys.modules["__main__"] = module
    return module.__dict__


def run_job(job: dict[str, Any], out: FrameWriter, torch: Any, np: Any) -> None:
    """Run setup and the learner's code, evaluate the check expressions, send the result."""
    result: dict[str, Any] = {"event": "result", "torch": torch.__version__}
    if "sandbox" in job:
        result["sandbox"] = {**job["sandbox"], "level": sandbox_level(job["sandbox"])}
    device, problem = resolve_device(torch, job.get("device", "cpu"))
    if problem is not None:
        result["device_error"] = problem
        out.send_json(result)
        return
    result["device"] = device.type
    if device.type == "cuda":
        result["device_name"] = torch.cuda.get_device_name(device)
        # An oversize request becomes OutOfMemoryError (a "memory limit" verdict) instead of
        # taking the whole GPU from the learner's other work.
        fraction = float(job.get("limits", {}).get("gpu_memory_fraction", 0.5))
        torch.cuda.set_per_process_memory_fraction(fraction, device)
    namespace = _fresh_main(device)
    seed = int(job.get("seed", 0))
    clock = time.perf_counter
    timings = result["timings"] = {"received": job.get("received", clock())}
    timings["start"] = clock()

    seed_everything(torch, np, seed)
    try:
        exec(compile(job.get("setup", ""), SETUP_FILENAME, "exec"), namespace)
    except BaseException as exc:
        result["setup_error"] = exception_info(exc, "")
        result["setup_error"]["traceback"] = "".join(traceback.format_exception(exc))[-MAX_TEXT:]
        out.send_json(result)
        return

    timings["setup_done"] = clock()
    code = job["code"]
    seed_everything(torch, np, seed)  # so a learner's extra torch.rand() cannot shift setup data
    started = time.perf_counter()
    try:
        exec(compile(code, USER_FILENAME, "exec"), namespace)
        if device.type == "cuda":
            torch.cuda.synchronize()  # surface asynchronous CUDA errors as the learner's
    except BaseException as exc:
        result["exception"] = exception_info(exc, code)
    result["code_seconds"] = time.perf_counter() - started
    timings["code_done"] = clock()
    _flush_std_streams()

    encoder = Encoder(torch, np, int(job.get("result_budget", 64 * 2**20)))
    values: dict[str, Any] = {}
    with open(os.devnull, "w") as devnull:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull  # checks must not add to the learner's output
        try:
            for expr in job.get("exprs", []):
                try:
                    value = eval(compile(expr, CHECK_FILENAME, "eval"), dict(namespace))
                    values[expr] = {"value": encoder.encode(value)}
                except ResultTooLarge as exc:
                    values[expr] = {"too_large": str(exc)}
                except BaseException as exc:
                    values[expr] = {"error": exception_info(exc, "")}
            timings["checks_done"] = clock()
            spec = job.get("inspect")
            if spec is not None:
                left = float(spec.get("timeout", 10.0)) - (clock() - timings["start"])
                try:
                    result["inspect"] = inspect_run(
                        spec, namespace, torch, min(INSPECT_SECONDS, left / 2)
                    )
                except BaseException as exc:  # e.g. the time limit, between two sections
                    result["inspect"] = {"error": _short_error(exc)}
                timings["inspect_done"] = clock()
        finally:
            sys.stdout, sys.stderr = saved
    result["values"] = values
    result["blobs"] = [len(b) for b in encoder.blobs]
    base = timings["received"]
    result["timings"] = {k: round((v - base) * 1000, 3) for k, v in timings.items()}  # ms
    _detach_std_streams()  # the parent sees end-of-output now, not when we exit
    out.send_json(result)
    for blob in encoder.blobs:
        out.send_bytes(blob)


def _detach_std_streams() -> None:
    _flush_std_streams()
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _run_and_report(job: dict[str, Any], out: FrameWriter, torch: Any, np: Any) -> None:
    try:
        run_job(job, out, torch, np)
    except BaseException as exc:  # a bug of ours, not the learner's: report it as such
        out.send_json(
            {
                "event": "result",
                "internal_error": "".join(traceback.format_exception(exc))[-MAX_TEXT:],
            }
        )
    _flush_std_streams()
    # Skip atexit handlers and non-daemon threads the learner may have left hanging.
    os._exit(0)


def _import_torch() -> tuple[Any, Any]:
    # NVML-based availability checks never initialise CUDA, so a forking zygote stays safe.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import numpy as np
    import numpy.random  # lazily imported by numpy 2: 10 ms on a run's first np.random call
    import torch

    return torch, np


def warm_up(torch: Any, np: Any, device: Any) -> None:
    """A tiny forward and backward, so the job itself pays no first-use costs."""
    seed_everything(torch, np, 0)  # numpy.random and torch's generators initialise lazily
    w = torch.ones(4, 4, device=device, requires_grad=True)
    (w @ w).sum().backward()
    torch.nn.functional.relu(torch.nn.Linear(4, 2).to(device)(w)).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
