"""Hostile snippets through the real sandbox: each ends in one clear status, nothing outside the
run's directory changes, and the very next run still works (a learner's typo must never freeze
the app, harm the machine or lose their work)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import tagged
from tutor.checker import Status, Verdict
from tutor.grader import Grader
from tutor.sandbox.pool import WarmRunner
from tutor.schema import Exercise

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    """A grader without the source guard: these snippets probe the sandbox beneath it, which
    must hold for code the guard does not recognise (a dynamic route, a new trick)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tutor.checker.harness_reach", lambda code: [])
        patch.setattr("tutor.grader.harness_reach", lambda code: [])
        made = Grader(WarmRunner(spares=1), device="cpu")
        yield made
        made.close()


def exercise(timeout: float = 3.0) -> Exercise:
    return Exercise.model_validate(
        {
            "id": "hostile",
            "title": "Anything",
            "task": "Anything.",
            "starter": "y = 0",
            "solution": "y = 1",
            "checks": [{"expr": "y"}],
            "timeout": timeout,
        }
    )


def grade(grader: Grader, code: str, timeout: float = 3.0) -> Verdict:
    verdict = grader.grade(exercise(timeout), code)
    follow_up = grader.grade(exercise(), "y = 1")
    assert follow_up.status is Status.PASSED, f"the run after it broke: {follow_up.summary}"
    return verdict


@pytest.mark.parametrize(
    "code, status",
    [
        ("while True: pass", Status.TIMEOUT),
        ("import time\ntime.sleep(600)", Status.TIMEOUT),
        ("while True:\n    print('spam' * 100)", Status.OUTPUT_LIMIT),
        ("import os\nwhile True:\n    os.write(1, os.urandom(65536))", Status.OUTPUT_LIMIT),
        ("import os\nos._exit(0)", Status.CRASHED),
        ("import ctypes\nctypes.string_at(0)", Status.CRASHED),
        ("import os\nos.abort()", Status.CRASHED),
        ("import torch\nx = torch.empty(50 * 2**30, dtype=torch.uint8)", Status.MEMORY_LIMIT),
        ("b = bytearray(2**20)\nwhile True:\n    b = b + b", Status.MEMORY_LIMIT),
        ("import torch\ny = torch.zeros(200_000_000, dtype=torch.uint8)", Status.RESULT_TOO_LARGE),
        ("import sys\nsys.exit(3)", Status.ERROR),
        ("y = input()", Status.ERROR),
        (
            "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)",
            Status.TIMEOUT,
        ),
    ],
    ids=[
        "busy-loop",
        "sleep",
        "print-flood",
        "binary-flood",
        "os-exit",
        "segfault",
        "abort",
        "torch-empty-50GB",
        "growing-bytearrays",
        "huge-result",
        "sys-exit",
        "input",
        "ignores-sigterm",
    ],
)
def test_each_hostile_snippet_ends_in_one_clear_status(grader, code, status):
    # Touching gigabytes of memory takes a while on a small machine: give those runs time.
    verdict = grade(grader, code, timeout=60 if status is Status.MEMORY_LIMIT else 3)
    assert verdict.status is status, (verdict.status, verdict.summary)
    assert verdict.summary


def test_segfaults_name_the_signal(grader):
    verdict = grade(grader, "import ctypes\nctypes.string_at(0)")
    assert "SIGSEGV" in verdict.summary


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory of the learner's outside every run's reach (not under /tmp, which a run may
    see privately): stands in for their home, which no test touches."""
    made = Path(tempfile.mkdtemp(prefix="pttutor-outside-", dir="/var/tmp"))
    (made / ".bashrc").write_text("# the learner's own\n")
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_writing_outside_the_run_directory_is_blocked(grader, outside):
    target = outside / ".bashrc"
    verdict = grade(grader, f"open({str(target)!r}, 'a').write('rm -rf ~\\n')")
    assert verdict.status is Status.BLOCKED
    assert "PermissionError" in verdict.summary
    assert target.read_text() == "# the learner's own\n"


def test_a_directory_outside_cannot_be_listed_or_read(grader, outside):
    verdict = grade(grader, f"import os\ny = os.listdir({str(outside)!r})")
    assert verdict.status is Status.BLOCKED
    verdict = grade(grader, f"y = open({str(outside / '.bashrc')!r}).read()")
    assert verdict.status is Status.BLOCKED


def test_network_connections_are_blocked(grader):
    code = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)"
    assert grade(grader, code).status is Status.BLOCKED


def test_the_parent_and_the_zygote_cannot_be_signalled(grader):
    """Landlock's signal scoping says no (BLOCKED); inside a PID namespace they are not even
    visible (ProcessLookupError, or pid 0: the run's own group). Either way both live on."""
    assert grade(grader, "y = 1").status is Status.PASSED  # the pool is up
    zygote = grader.runner.info(timeout=60)["pid"]  # type: ignore[attr-defined]
    for target in (os.getpid(), zygote):
        code = f"import os, signal\nos.kill({target}, signal.SIGTERM)"
        assert grade(grader, code).status in (Status.BLOCKED, Status.ERROR)
    code = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
    assert grade(grader, code).status is not Status.PASSED
    os.kill(zygote, 0)  # both still alive
    assert grader.runner.info()["pid"] == zygote  # type: ignore[attr-defined]


def test_big_files_hit_the_file_size_limit(grader):
    verdict = grade(grader, "open('big.bin', 'wb').write(b'0' * 64 * 2**20)")
    assert verdict.status is Status.ERROR and "File too large" in verdict.summary


def test_terminal_escapes_come_back_as_data_and_are_made_inert(grader):
    from tutor.textsafe import inert

    code = "print('\\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mred\\x1b[0m')\ny = 1"
    verdict = grade(grader, code)
    assert verdict.status is Status.PASSED
    assert verdict.run is not None and "\x1b" in verdict.run.stdout
    shown = inert(verdict.run.stdout)
    assert "\x1b" not in shown and "\x07" not in shown and "\\x1b[2J" in shown


def test_nan_inf_and_bfloat16_with_grad_results(grader):
    code = (
        "import torch\n"
        "y = torch.tensor([float('nan'), float('inf'), 1.0])\n"
        "w = torch.ones(2, dtype=torch.bfloat16, requires_grad=True)\n"
        "(w * 3).sum().backward()\n"
    )
    exercise_ = Exercise.model_validate(
        {
            "id": "nan",
            "title": "t",
            "task": "t",
            "starter": "y = 0",
            "solution": code,
            "checks": [{"expr": "y"}, {"expr": "w"}],
        }
    )
    assert grader.grade(exercise_, code).status is Status.PASSED


def test_a_huge_repr_is_truncated(grader):
    code = "class Big:\n    def __repr__(self):\n        return 'x' * 10_000_000\ny = Big()"
    verdict = grade(grader, code)
    assert verdict.status is Status.FAILED
    assert len(verdict.checks[0].message) < 1000


def test_hanging_atexit_and_non_daemon_threads_do_not_hang_the_run(grader):
    code = (
        "import atexit, threading, time\n"
        "atexit.register(lambda: time.sleep(600))\n"
        "threading.Thread(target=time.sleep, args=(600,)).start()\n"
        "y = 1\n"
    )
    assert grade(grader, code).status is Status.PASSED  # a hang would end as TIMEOUT


def test_forked_children_and_escapees_are_swept(grader):
    tag = f"ptt{uuid.uuid4().hex[:12]}"  # a process name, inherited across fork
    code = (
        "import ctypes, os, subprocess, sys\n"
        f"ctypes.CDLL(None).prctl(15, b'{tag}', 0, 0, 0)\n"
        "for _ in range(12):  # the code runs once per trial: well under the process cap\n"
        "    if os.fork() == 0:\n"
        "        import time; time.sleep(60); os._exit(0)\n"
        "esc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', "
        f"'{tag}'], start_new_session=True)\n"
        "y = 1\n"
    )
    verdict = grade(grader, code, timeout=10)
    assert verdict.status is Status.PASSED, verdict.summary
    deadline = time.monotonic() + 10
    alive = tagged(tag)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = tagged(tag)
    assert not alive, f"{len(alive)} processes outlived the run"


def test_the_openmp_pool_survives_a_run(grader):
    code = (
        "import torch\ntorch.set_num_threads(2)\n"
        "a = torch.rand(2000, 2000)\ny = float((a @ a).sum() > 0)"
    )
    assert grade(grader, code).status is Status.FAILED  # y is 1.0, a float: not the int 1
    verdict = grader.grade(exercise(), "import torch\na = torch.rand(2000, 2000)\nb = a @ a\ny = 1")
    assert verdict.status is Status.PASSED  # a hung OpenMP pool would end as TIMEOUT


@pytest.mark.cuda
def test_cuda_hostile_cases():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    grader = Grader(WarmRunner(), device="cuda")
    try:
        mismatch = grader.grade(
            exercise(), "import torch\ny = torch.ones(2, device='cuda') + torch.ones(2)"
        )
        assert mismatch.status is Status.ERROR and "same device" in mismatch.summary
        oom = grader.grade(exercise(), "import torch\nx = torch.empty(2**40, device='cuda')")
        assert oom.status is Status.MEMORY_LIMIT
        assert_ = grader.grade(
            exercise(),
            "import torch\nt = torch.ones(2, device='cuda')\n"
            "y = t[torch.tensor([5], device='cuda')]",
        )
        assert assert_.status in (Status.ERROR, Status.CRASHED)
        assert grader.grade(exercise(), "y = 1").status is Status.PASSED
    finally:
        grader.close()
