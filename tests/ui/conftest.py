"""Fixtures for the UI tests: a tiny lesson pack, a fake runner and a fake interpreter probe.

The fake runner executes the (pure Python) snippets in-process, so results are real verdicts from
the real checker, deterministic and instant; code containing `SLOW` blocks until cancelled.
"""

from __future__ import annotations

import asyncio
import io
import threading
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tutor.loader import LessonPack, load_pack
from tutor.sandbox.probe import InterpreterInfo
from tutor.sandbox.runner import (
    EvalError,
    ExceptionInfo,
    Frame,
    Outcome,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
)
from tutor.ui.app import TutorApp

LEARNER = "<learner>"

PACK = {
    "ORDER": "basics\nerrors\n",
    "basics.yaml": """\
id: basics
title: Basics
intro: |
  # Basics
  Python names hold values. This intro has a [link](https://example.com).
exercises:
  - id: three
    title: Make three
    task: Set `x` to `3`.
    starter: |
      x = 0
    solution: |
      x = 3
    checks:
      - expr: x
        explain: Three is 1 + 2.
    hints:
      - The answer is a small number.
      - "It is `3`."
  - id: add
    title: Add two
    task: Set `y` to `x + 2`.
    setup: |
      x = 40
    starter: |
      y = 0
    solution: |
      y = x + 2
    checks:
      - expr: y
  - id: greet
    title: Say hello
    task: Print `hello`.
    starter: |
      pass
    solution: |
      print("hello")
    checks:
      - stdout: hello
""",
    "errors.yaml": """\
id: errors
title: Errors
intro: |
  # Errors
  Some code raises.
exercises:
  - id: raise
    title: Raise one
    task: Make `int` raise a `ValueError`.
    starter: |
      pass
    solution: |
      int("bad")
    checks:
      - raises: ValueError
""",
}


def write_pack(root: Path, files: dict[str, str] = PACK) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _exception(exc: BaseException, code: str) -> ExceptionInfo:
    lines = code.splitlines()
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == LEARNER and frame.lineno:
            text = lines[frame.lineno - 1].strip() if frame.lineno <= len(lines) else ""
            frames.append(Frame(frame.lineno, frame.name, text))
    if isinstance(exc, SyntaxError) and exc.lineno:
        frames.append(Frame(exc.lineno, "<module>", (exc.text or "").strip(), exc.offset))
    kind = type(exc)
    return ExceptionInfo(
        type=kind.__name__,
        module=kind.__module__,
        bases=tuple(c.__name__ for c in kind.__mro__),
        message=exc.msg if isinstance(exc, SyntaxError) else str(exc),
        frames=tuple(frames),
    )


def _run_once(request: RunRequest) -> tuple[str, ExceptionInfo | None, dict[str, Any]]:
    """Setup, the code and the check expressions in a fresh namespace: (stdout, error, values)."""
    out = io.StringIO()
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "print": partial(print, file=out),
        "device": request.device,
    }
    exec(compile(request.setup, "<setup>", "exec"), namespace)
    exception = None
    try:
        exec(compile(request.code, LEARNER, "exec"), namespace)
    except Exception as exc:
        exception = _exception(exc, request.code)
    values: dict[str, Any] = {}
    for expr in request.exprs:
        try:
            values[expr] = eval(expr, namespace)
        except Exception as exc:
            values[expr] = EvalError(_exception(exc, expr))
    return out.getvalue(), exception, values


def execute(request: RunRequest) -> RunResult:
    """Run `request` like the sandbox child would, in-process, without torch: the task's own
    run, then each hidden trial the request asks for (the same code, run again)."""
    stdout, exception, values = _run_once(request)
    result = RunResult(
        Outcome.COMPLETED,
        stdout=stdout,
        exception=exception,
        values=values,
        device="cpu" if request.device == "auto" else request.device,
        torch_version="fake",
        wall_seconds=0.5,
    )
    seeds = getattr(request, "trial_seeds", ())
    if seeds:
        from tutor.sandbox.runner import TrialResult

        for index, seed in enumerate(seeds, start=1):
            out, error, got = _run_once(request)
            result.trials.append(TrialResult(index, seed, error, got, out))
    return result


class FakeHandle(RunHandle):
    def __init__(self, runner: FakeRunner, request: RunRequest) -> None:
        self.runner = runner
        self.request = request
        self.cancelled = threading.Event()

    def result(self) -> RunResult:
        self.phase = "running"  # a fake has PyTorch ready at once
        if "SLOW" in self.request.code:
            self.runner.slow_started.set()
            self.cancelled.wait(30)
        if self.cancelled.is_set():
            return RunResult(Outcome.CANCELLED, detail="the run was cancelled")
        return execute(self.request)

    def cancel(self) -> None:
        self.cancelled.set()


class FakeRunner(Runner):
    """Records every request; `closed` tells whether the app shut it down."""

    def __init__(self) -> None:
        self.requests: list[RunRequest] = []
        self.slow_started = threading.Event()
        self.closed = False

    def start(self, request: RunRequest) -> RunHandle:
        self.requests.append(request)
        return FakeHandle(self, request)

    def close(self) -> None:
        self.closed = True


def no_cuda_probe(python: str) -> InterpreterInfo:
    return InterpreterInfo(python, python_version="3.11", torch_version="2.13.0+cpu")


def cuda_probe(python: str) -> InterpreterInfo:
    return InterpreterInfo(
        python,
        python_version="3.11",
        torch_version="2.13.0+cu130",
        cuda_build="13.0",
        cuda_available=True,
        device_name="Fake GPU",
    )


@pytest.fixture
def pack(tmp_path: Path) -> LessonPack:
    return load_pack(write_pack(tmp_path / "pack"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def make_app(pack: LessonPack, data_dir: Path) -> Callable[..., TutorApp]:
    def make(**kwargs: Any) -> TutorApp:
        kwargs.setdefault("runner", FakeRunner())
        kwargs.setdefault("data_dir", data_dir)
        kwargs.setdefault("probe", no_cuda_probe)
        return TutorApp(kwargs.pop("pack", pack), python="python-for-tests", **kwargs)

    return make


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds (workers and threads post back)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
    await pilot.pause()
