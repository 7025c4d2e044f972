"""Runs and probes off the UI thread: the messages they post back, and the run in flight.

The worker threads never touch widgets; they post a message and the app's handlers (on the UI
thread) update the screen. Any failure inside becomes an internal-error verdict, never a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from textual.message import Message

from ..checker import REPORT_BUG, Status, Verdict
from ..grader import Grading
from ..sandbox.probe import InterpreterInfo
from .session import Position


@dataclass
class ActiveRun:
    """The one run in flight; `run_id` tells its result from a superseded run's."""

    run_id: int
    position: Position
    grading: Grading
    started: float = field(default_factory=time.monotonic)
    cancelling: bool = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class RunFinished(Message):
    """A grading ended (passed, failed, cancelled or broken)."""

    def __init__(self, run_id: int, position: Position, verdict: Verdict) -> None:
        super().__init__()
        self.run_id = run_id
        self.position = position
        self.verdict = verdict


class ProbeFinished(Message):
    """The sandbox interpreter was asked what it has (torch, CUDA)."""

    def __init__(self, info: InterpreterInfo) -> None:
        super().__init__()
        self.info = info


def grade_safely(grading: Grading) -> Verdict:
    """Block until the verdict is in; a bug in grading becomes a verdict the learner can read."""
    try:
        return grading.verdict()
    except Exception as exc:  # the UI must survive anything the grader throws
        return Verdict(
            Status.INTERNAL_ERROR,
            f"the check itself failed: {type(exc).__name__}: {exc}",
            notes=[f"this is a bug in pttutor, not in your code; {REPORT_BUG}"],
        )
