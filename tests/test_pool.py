"""The warm pool's own promises: fast repeat runs, transparent restart, no leaked processes."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import Outcome, RunRequest


@pytest.fixture
def pool():
    runner = WarmRunner()
    yield runner
    runner.close()


def test_zygote_reports_what_it_has(pool):
    pool.warm_up("cpu")
    info = pool.info(timeout=120)
    assert info is not None and info["torch"] and info["cuda"] in (True, False)


def test_a_killed_zygote_is_restarted_transparently(pool):
    first = pool.run(RunRequest(code="y = 1", exprs=("y",)))
    assert first.values == {"y": 1}
    info = pool.info()
    os.kill(info["pid"], signal.SIGKILL)
    again = pool.run(RunRequest(code="y = 2", exprs=("y",)))
    assert again.outcome is Outcome.COMPLETED, again.detail
    assert again.values == {"y": 2}
    # A spare forked before the kill may still serve that run; the next ones need a new zygote.
    for n in range(3, 6):
        result = pool.run(RunRequest(code=f"y = {n}", exprs=("y",)))
        assert result.outcome is Outcome.COMPLETED and result.values == {"y": n}
    assert pool.info()["pid"] != info["pid"]
    os.kill(pool.info()["pid"], 0)


def test_the_learner_killing_the_zygote_does_not_break_the_next_run(pool):
    pool.run(RunRequest(code="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"))
    result = pool.run(RunRequest(code="y = 3", exprs=("y",)))
    assert result.outcome is Outcome.COMPLETED and result.values == {"y": 3}


def test_escaped_grandchildren_are_swept(pool):
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
        "                         start_new_session=True)\n"
        "print(child.pid)\n"
    )
    result = pool.run(RunRequest(code=code))
    assert result.outcome is Outcome.COMPLETED, result.detail
    escapee = int(result.stdout.split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(escapee, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail("a setsid'd grandchild outlived its run")


def test_spawned_spares_work_where_fork_is_not_used():
    runner = WarmRunner(fork=False)
    try:
        result = runner.run(RunRequest(code="import torch\ny = torch.ones(2) * 3", exprs=("y",)))
        assert result.outcome is Outcome.COMPLETED, result.detail
        assert result.values["y"].array.tolist() == [3.0, 3.0]
    finally:
        runner.close()


def test_close_leaves_no_processes(tmp_path):
    runner = WarmRunner(spares=2)
    runner.run(RunRequest(code="y = 1"))
    zygote = runner.info()["pid"]
    runner.close()
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(zygote, 0)


def test_the_zygote_outlives_the_thread_that_started_it(pool):
    """The app starts the pool from short-lived threads: the zygote must not die with them."""
    import threading

    starter = threading.Thread(target=pool.warm_up, args=("auto",))
    starter.start()
    starter.join()
    assert pool.interpreter_info().usable
    zygote = pool.info()["pid"]
    time.sleep(2)
    os.kill(zygote, 0)  # still alive
    result = pool.run(RunRequest(code="y = 1", exprs=("y",), device="auto"))
    assert result.values == {"y": 1}
    assert result.device in ("cpu", "cuda")
    assert pool.info()["pid"] == zygote, "the run needed a new zygote"
