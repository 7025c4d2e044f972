"""The warm pool's own promises: fast repeat runs, transparent restart, no leaked processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

from tests.processes import gone_within
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


def test_wait_ready_returns_once_spares_wait():
    runner = WarmRunner(spares=2)
    try:
        assert not runner.ready("cpu", 2)  # nothing started yet
        assert runner.wait_ready("cpu", count=2, timeout=120)
        assert runner.ready("cpu", 2)
    finally:
        runner.close()
    assert not runner.wait_ready("cpu", count=1, timeout=5)  # closed: never


def test_spares_made_before_the_zygotes_warm_imports_are_replaced():
    # The zygote forks its first spares before importing what torch imports lazily (so that
    # start-up does not wait for it), and the pool replaces them once it has.
    runner = WarmRunner(spares=2)
    try:
        assert runner.wait_ready("cpu", count=2, timeout=120)
        # Most likely one of the first spares: the zygote imports with the collector off, and
        # a run still has it on.
        first = runner.run(RunRequest(code="import gc\non = gc.isenabled()", exprs=("on",)))
        assert first.values == {"on": True}, first.detail
        with runner._cond:
            assert runner._cond.wait_for(
                lambda: runner._warmed and len(runner._state.ready["cpu"]) == 2, timeout=120
            )
            # A learner's spare warms up while it waits, so that the Run itself is quick.
            assert [s.hello["warmed_up"] for s in runner._state.ready["cpu"]] == [True, True]
        for _ in range(2):  # both spares: neither is one of the first
            result = runner.run(
                RunRequest(code="import sys\nhad = 'torch._dynamo' in sys.modules", exprs=("had",))
            )
            assert result.outcome is Outcome.COMPLETED, result.detail
            assert result.values["had"] is True
    finally:
        runner.close()


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


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "sweep"])
def test_escaped_grandchildren_are_swept(namespaces):
    token = f"pttutor-escapee-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{token}'],\n"
        "                 start_new_session=True)\n"
        "import time; time.sleep(0.3)\n"
    )
    runner = WarmRunner(spares=1, namespaces=namespaces)
    try:
        result = runner.run(RunRequest(code=code))
        assert result.outcome is Outcome.COMPLETED, result.detail
        assert gone_within(token), "a setsid'd grandchild outlived its run"
    finally:
        runner.close()


CHAIN = """\
import os, time
def extend():
    while True:
        if os.fork():
            os._exit(0)          # the parent leaves; the child goes on in a new session
        os.setsid()
        time.sleep(0.05)
if os.fork() == 0:
    try:
        extend()
    finally:
        os._exit(0)
time.sleep(0.3)
"""


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "sweep"])
def test_a_chain_that_re_extends_itself_dies_with_the_run(namespaces):
    token = f"pttutor-chain-{uuid.uuid4().hex}"
    runner = WarmRunner(spares=1, namespaces=namespaces)
    try:
        # The token rides in the code, which the child keeps in its argv-free memory: tag the
        # chain through its process title instead (comm is inherited across fork).
        code = f"import ctypes\nctypes.CDLL(None).prctl(15, b'{token[:15]}', 0, 0, 0)\n" + CHAIN
        result = runner.run(RunRequest(code=code))
        assert result.outcome is Outcome.COMPLETED, result.detail
        assert gone_within(token[:15]), "a self-extending setsid chain survived its run"
    finally:
        runner.close()
    assert gone_within(token[:15])


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


@pytest.fixture
def two_busy_loops():
    """Load like a learner's machine compiling something: both cores busy."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for loop in loops:
        loop.kill()
        loop.wait()


@pytest.mark.slow
def test_killing_the_zygote_during_a_burst_never_fails_a_run(two_busy_loops):
    """A run whose spare dies with its zygote is run again on a fresh spare: the learner sees
    their result, never a broken pipe. PTTUTOR_STRESS_ROUNDS=20 runs the full proof."""
    rounds = int(os.environ.get("PTTUTOR_STRESS_ROUNDS", "3"))
    runner = WarmRunner(spares=2)
    try:
        runner.run(RunRequest(code="y = 0", exprs=("y",)))
        for round_ in range(rounds):
            results: dict[int, Any] = {}

            def one(n: int, results: dict[int, Any] = results) -> None:
                results[n] = runner.run(RunRequest(code=f"y = {n}", exprs=("y",), timeout=60))

            burst = [threading.Thread(target=one, args=(n,)) for n in range(4)]
            for thread in burst:
                thread.start()
            info = runner.info(timeout=120)
            assert info is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(info["pid"], signal.SIGKILL)
            for thread in burst:
                thread.join()
            for n, result in results.items():
                assert result.outcome is Outcome.COMPLETED, f"round {round_}: {result.detail}"
                assert result.values == {"y": n}
    finally:
        runner.close()


def test_a_batch_pool_forks_no_spare_before_the_warm_imports():
    runner = WarmRunner(spares=2, batch=True)
    try:
        assert runner.wait_ready("cpu", count=2, timeout=120)
        with runner._cond:
            assert runner._warmed
            assert all(s.warm for s in runner._state.ready["cpu"])
            # Its runs come back to back: a warm-up would only add to each (the spare says).
            assert [s.hello["warmed_up"] for s in runner._state.ready["cpu"]] == [False, False]
        result = runner.run(RunRequest(code="y = 3", exprs=("y",)))
        assert result.outcome is Outcome.COMPLETED, result.detail
        assert result.values == {"y": 3}
    finally:
        runner.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_the_zygote_has_no_thread_but_its_own(pool):
    """A thread does not survive fork: the zygote must have none when it forks (numpy's BLAS
    would start one per core at import unless the pool's environment says otherwise)."""
    pool.warm_up("cpu")
    info = pool.info(timeout=120)
    assert info is not None
    assert info["threads"] == 1
