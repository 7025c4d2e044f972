"""`pttutor verify`'s scheduling: per exercise, one draw of hidden seeds and one reference run
shared by the starter, the shortcuts and the alternatives, and on which the solution itself is
judged; rows in the pack's order, whatever order their gradings finish in."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tutor.checker import Status
from tutor.grader import Grader
from tutor.loader import load_pack
from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import RunHandle, Runner, RunRequest
from tutor.verify import verify_rows

PACK = """\
id: twice
title: Twice
intro: Double a random tensor.
exercises:
  - id: double
    title: Double it
    task: Set `y` to `x * 2`.
    trials: 3
    setup: |
      import torch
      x = torch.randn(5)
    starter: |
      y = x
    solution: |
      y = x * 2
    checks:
      - expr: y
    shortcuts:
      - why: the task's own values, typed in (right for trial 0 only)
        code: |
          import torch
          torch.manual_seed(0)
          y = torch.randn(5) * 2
    alternatives:
      - why: an addition
        code: |
          y = x + x
  - id: negate
    title: Negate it
    task: Set `y` to `-x`.
    trials: 2
    setup: |
      import torch
      x = torch.randn(3)
    starter: |
      y = x
    solution: |
      y = -x
    checks:
      - expr: y
    shortcuts:
      - why: the absolute value
        code: |
          y = x.abs()
"""


class CountingRunner(Runner):
    """A real warm pool that remembers every request it was given."""

    def __init__(self) -> None:
        self.inner = WarmRunner(spares=3)
        self.requests: list[RunRequest] = []
        self._lock = threading.Lock()

    def start(self, request: RunRequest) -> RunHandle:
        with self._lock:
            self.requests.append(request)
        return self.inner.start(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def counted(write_pack) -> Iterator[tuple[CountingRunner, list]]:  # type: ignore[no-untyped-def]
    runner = CountingRunner()
    grader = Grader(runner, device="cpu")
    pack = load_pack(write_pack({"twice.yaml": PACK}))
    try:
        yield runner, list(verify_rows(grader, pack.exercises(), workers=3))
    finally:
        grader.close()


def test_each_exercise_runs_its_reference_once_for_all_its_code(counted) -> None:  # type: ignore[no-untyped-def]
    runner, rows = counted
    assert [r["exercise"] for r in rows] == ["twice/double", "twice/negate"]
    assert all(r["result"] == "ok" for r in rows), rows
    double = [r for r in runner.requests if r.setup.endswith("torch.randn(5)\n")]
    negate = [r for r in runner.requests if r.setup.endswith("torch.randn(3)\n")]
    # the reference (the solution is judged on it), the starter, one shortcut and one
    # alternative: each ran once
    shortcut = "import torch\ntorch.manual_seed(0)\ny = torch.randn(5) * 2\n"
    assert sorted(r.code for r in double) == sorted(
        ["y = x * 2\n", "y = x\n", "y = x + x\n", shortcut]
    )
    assert len(negate) == 3  # reference, starter, shortcut
    # one draw per exercise: every run of it met the same hidden seeds, fresh ones
    assert len({r.trial_seeds for r in double}) == 1 and len(double[0].trial_seeds) == 2
    assert len({r.trial_seeds for r in negate}) == 1 and len(negate[0].trial_seeds) == 1
    assert double[0].trial_seeds != negate[0].trial_seeds


def test_a_row_reports_its_shortcuts_and_alternatives(counted) -> None:  # type: ignore[no-untyped-def]
    _, rows = counted
    double = rows[0]
    assert double["solution"] == Status.PASSED.value and double["starter"] == "failed"
    assert [s["ok"] for s in double["shortcuts"]] == [True]
    assert double["shortcuts"][0]["status"] == "failed"
    assert [a["status"] for a in double["alternatives"]] == ["passed"]
    assert double["seconds"] > 0


BROKEN = """\
id: broken
title: Broken
intro: A solution that breaks its own exercise.
exercises:
  - id: rule
    title: Breaks its rule
    task: Set `y` to `x * 2` without a loop.
    setup: |
      import torch
      x = torch.arange(3.0)
    starter: |
      y = x
    solution: |
      y = torch.stack([v * 2 for v in x])
    rules:
      no_loops: true
    checks:
      - expr: y
  - id: literal
    title: Misses its literal
    task: Set `y` to 3.
    starter: |
      y = 0
    solution: |
      y = 2
    checks:
      - expr: y
        expect: 3
"""


def test_a_solution_judged_on_its_own_run_still_fails_its_rules_and_literals(write_pack) -> None:  # type: ignore[no-untyped-def]
    grader = Grader(WarmRunner(spares=2), device="cpu")
    try:
        pack = load_pack(write_pack({"broken.yaml": BROKEN}))
        rows = list(verify_rows(grader, pack.exercises(), workers=2))
    finally:
        grader.close()
    assert [r["result"] for r in rows] == ["problem", "problem"]
    assert all(r["message"].startswith("the solution does not pass") for r in rows), rows
