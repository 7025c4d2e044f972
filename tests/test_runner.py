"""End to end: real snippets through the real sandbox child (each test starts an interpreter)."""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.processes import gone_within
from tutor.sandbox.runner import (
    OUTPUT_KEEP,
    ColdRunner,
    EvalError,
    Outcome,
    RunHandle,
    RunRequest,
    RunResult,
)
from tutor.values import DeviceValue, DtypeValue, ObjectValue, SizeValue, TensorValue

CODE = """\
import torch
x = torch.ones(2, 2, requires_grad=True)
out = (3 * (x + 2) ** 2).mean()
out.backward()
print("hello from the snippet")
"""


def test_values_come_back_as_data(runner):
    exprs = (
        "x",
        "out",
        "x.shape",
        "x.dtype",
        "device",
        "{'w': x.detach()}",
        "[1, 2.5, 'a', None]",
        "torch.nn.Linear(2, 3)",
        "torch.tensor(1.5, dtype=torch.bfloat16)",
        "x.numpy(force=True)",
        "undefined_name",
    )
    result = runner.run(RunRequest(code=CODE, exprs=exprs))
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.exception is None
    assert result.stdout == "hello from the snippet\n"
    assert result.device == "cpu" and result.torch_version
    x = result.values["x"]
    assert isinstance(x, TensorValue)
    assert (x.shape, x.dtype, x.requires_grad, x.is_leaf) == ((2, 2), "float32", True, True)
    assert x.grad is not None and np.allclose(x.grad.array, 4.5)
    out = result.values["out"]
    assert out.shape == () and out.array.shape == () and out.grad_fn == "MeanBackward0"
    assert result.values["x.shape"] == SizeValue((2, 2))
    assert result.values["x.dtype"] == DtypeValue("torch.float32")
    assert result.values["device"] == DeviceValue("cpu", None)
    assert isinstance(result.values["{'w': x.detach()}"]["w"], TensorValue)
    assert result.values["[1, 2.5, 'a', None]"] == [1, 2.5, "a", None]
    linear = result.values["torch.nn.Linear(2, 3)"]
    assert isinstance(linear, ObjectValue) and linear.type == "Linear"
    half = result.values["torch.tensor(1.5, dtype=torch.bfloat16)"]
    assert half.dtype == "bfloat16" and half.array.dtype == np.float32 and half.array == 1.5
    assert result.values["x.numpy(force=True)"].shape == (2, 2)
    missing = result.values["undefined_name"]
    assert isinstance(missing, EvalError) and missing.error.type == "NameError"


def test_exceptions_carry_the_learners_line_numbers(runner):
    code = "import torch\n\nx = torch.ones(2, 3)\ny = x.t().view(6)\n"
    result = runner.run(RunRequest(code=code))
    error = result.exception
    assert error is not None and error.type == "RuntimeError"
    assert error.message.startswith("view size is not compatible")
    assert error.line == 4 and error.frames[-1].text == "y = x.t().view(6)"


def test_syntax_errors_point_at_the_line(runner):
    result = runner.run(RunRequest(code="a = 1\nb = (\n"))
    assert result.exception is not None and result.exception.type == "SyntaxError"
    assert result.exception.line == 2


def test_frames_inside_learner_functions_are_kept(runner):
    code = "def f(t):\n    return t.item()\n\nimport torch\nf(torch.ones(2))\n"
    error = runner.run(RunRequest(code=code)).exception
    assert error is not None
    assert [f.line for f in error.frames] == [5, 2]
    assert error.message == "a Tensor with 2 elements cannot be converted to Scalar"


def test_seeds_are_reset_before_the_learners_code(runner):
    setup = "import torch\ndata = torch.rand(3)\n"
    plain = runner.run(RunRequest(code="y = torch.rand(2)", setup=setup, exprs=("data", "y")))
    noisy = runner.run(RunRequest(code="print(torch.rand(5))\nz = 1", setup=setup, exprs=("data",)))
    assert np.array_equal(plain.values["data"].array, noisy.values["data"].array)
    again = runner.run(RunRequest(code="y = torch.rand(2)", setup=setup, exprs=("y",)))
    assert np.array_equal(plain.values["y"].array, again.values["y"].array)


def test_a_setup_failure_is_the_lessons_fault(runner):
    result = runner.run(RunRequest(code="y = 1", setup="raise ValueError('bad setup')"))
    assert result.outcome is Outcome.SETUP_ERROR
    assert "bug in the lesson" in result.detail


def test_timeout_kills_the_whole_session(runner):
    token = f"pttutor-grandchild-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', "
        f"'{token}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "while True: pass\n"
    )
    result = runner.run(RunRequest(code=code, timeout=1))
    assert result.outcome is Outcome.TIMEOUT
    assert result.detail == "your code ran longer than 1 s"
    # Pids inside a run's PID namespace are not host pids: find it by its command line.
    assert gone_within(token, timeout=30), "a grandchild in the run's session survived"


def test_an_output_flood_is_stopped_and_capped(runner):
    result = runner.run(RunRequest(code="while True:\n    print('x' * 1000)\n", timeout=20))
    assert result.outcome is Outcome.OUTPUT_LIMIT
    assert len(result.stdout) == OUTPUT_KEEP and result.output_truncated


def test_exit_before_results_is_a_crash_and_output_is_kept(runner):
    result = runner.run(RunRequest(code="import os\nprint('partial')\nos._exit(0)\n"))
    assert result.outcome is Outcome.CRASHED
    assert "before reporting results" in result.detail
    assert result.stdout == "partial\n"


def test_a_fatal_signal_is_named(runner):
    result = runner.run(RunRequest(code="import os\nos.abort()\n"))
    assert result.outcome is Outcome.CRASHED
    assert "SIGABRT" in result.detail


def test_stdin_is_empty_and_sys_exit_is_reported(runner):
    result = runner.run(
        RunRequest(
            code="import sys\ntry:\n    input()\nexcept EOFError:\n    print('eof')\nsys.exit(3)\n"
        )
    )
    assert result.stdout == "eof\n"
    assert result.exception is not None and result.exception.type == "SystemExit"


def test_the_run_happens_in_a_fresh_private_directory(runner):
    marker = f"w-{uuid.uuid4().hex}.pth"
    code = (
        f"import os, torch\ntorch.save({{'a': 1}}, '{marker}')\ncwd = os.getcwd()\n"
        "home = os.path.expanduser('~')\nfiles = sorted(os.listdir('.'))\n"
    )
    result = runner.run(RunRequest(code=code, exprs=("cwd", "home", "files")))
    cwd = result.values["cwd"]
    assert cwd != os.getcwd() and result.values["home"] == cwd
    assert result.values["files"] == [marker], "the directory was not fresh"
    # Either a directory made for the run (removed afterwards) or the run's own private /tmp.
    assert not os.path.exists(os.path.join(cwd, marker)), "the run's files outlive it"


def test_large_results_are_refused_before_serialising(runner):
    result = runner.run(
        RunRequest(code="import torch\nbig = torch.zeros(20_000_000)", exprs=("big",))
    )
    assert result.outcome is Outcome.RESULT_TOO_LARGE
    assert "MiB" in result.detail


def output_so_far(handle: RunHandle) -> str:
    reader = getattr(handle, "stdout", None)  # the runners' collector reads it as it comes
    return reader.text() if reader is not None else ""


def test_cancel_stops_a_running_snippet(runner):
    code = "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n"
    handle = runner.start(RunRequest(code=code, timeout=60))
    results: list[RunResult] = []
    collector = threading.Thread(target=lambda: results.append(handle.result()))
    collector.start()
    deadline = time.monotonic() + 120
    while "sleeping" not in output_so_far(handle) and time.monotonic() < deadline:
        time.sleep(0.01)  # polls for the snippet's first line: the handle has no callback
    handle.cancel()
    collector.join(timeout=120)
    [result] = results
    assert result.outcome is Outcome.CANCELLED
    assert result.detail == "the run was cancelled"
    assert result.stdout == "sleeping\n"  # cancelled while the learner's code ran


def test_cuda_on_a_cpu_only_machine_is_a_clear_message(runner):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.run(RunRequest(code="y = 1", device="cuda"))
    assert result.outcome is Outcome.DEVICE_UNAVAILABLE
    assert "CUDA was asked for" in result.detail


def test_a_missing_interpreter_is_an_internal_error():
    result = ColdRunner("/nonexistent/python").run(RunRequest(code="y = 1"))
    assert result.outcome is Outcome.INTERNAL_ERROR
    assert "/nonexistent/python" in result.detail


def python_without_site_packages(tmp_path: Path) -> Path:
    """This very interpreter with `-S`: the standard library only, so no torch, whatever is
    installed on this machine."""
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -S "$@"\n', encoding="utf-8")
    fake.chmod(0o755)
    return fake


def test_an_interpreter_without_torch_is_explained(tmp_path):
    python = python_without_site_packages(tmp_path)
    result = ColdRunner(str(python), startup_timeout=60).run(RunRequest(code="y = 1"))
    assert result.outcome is Outcome.INTERNAL_ERROR
    assert result.detail.startswith("the sandbox interpreter could not start PyTorch: ")
    assert "ModuleNotFoundError: No module named" in result.detail  # numpy's or torch's
