"""When the learner may see an exercise's reference solution, and how their code differs from it.

Seeing the answer too early takes the exercise away, so the rule is: after a pass, freely (to
compare); before one, only after `FAILED_RUNS_TO_UNLOCK` failed runs and a confirmation. Once
seen, it stays open. A failed run is one that says something about the answer: checks that
failed, or an error in the learner's code. A timeout, a memory or output limit, a crash, the
sandbox saying no or a cancel only say the experiment went too far, so an infinite loop run
twice does not open the answer. Kept here, without any widget, so the rules are testable
functions.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum

from .checker import Status
from .progress import ExerciseState

FAILED_RUNS_TO_UNLOCK = 2

# The outcomes that count towards FAILED_RUNS_TO_UNLOCK (a pass counts as done instead).
ATTEMPTS = frozenset({Status.FAILED, Status.ERROR})


def counts_as_attempt(status: Status) -> bool:
    """True when a run with this outcome judged the learner's answer (passed or not)."""
    return status is Status.PASSED or status in ATTEMPTS


class Access(Enum):
    OPEN = "open"  # passed, or already seen: show it
    CONFIRM = "confirm"  # enough failed runs: ask first
    LOCKED = "locked"  # not yet: say what unlocks it


@dataclass(frozen=True)
class SolutionAccess:
    access: Access
    failed_runs: int = 0

    @property
    def runs_to_go(self) -> int:
        return max(0, FAILED_RUNS_TO_UNLOCK - self.failed_runs)

    def locked_message(self, hint_key: str) -> str:
        return (
            f"The solution opens once your code passes, or after {FAILED_RUNS_TO_UNLOCK} failed "
            f"runs ({self.runs_to_go} more to go). A hint ({hint_key}) may be all you need. "
            "(A timeout, or a memory or output limit, does not count as a failed run.)"
        )


def solution_access(state: ExerciseState | None) -> SolutionAccess:
    if state is None:
        return SolutionAccess(Access.LOCKED)
    if state.done or state.solution_seen:
        return SolutionAccess(Access.OPEN, state.failed_runs)
    if state.failed_runs >= FAILED_RUNS_TO_UNLOCK:
        return SolutionAccess(Access.CONFIRM, state.failed_runs)
    return SolutionAccess(Access.LOCKED, state.failed_runs)


def _lines(code: str) -> list[str]:
    """Lines without trailing blanks or blank lines at the end: those are not differences."""
    lines = [line.rstrip() for line in code.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def solution_diff(code: str, solution: str, *, context: int = 3) -> list[str]:
    """A unified diff from the learner's code to the solution; [] when they are the same."""
    return list(
        difflib.unified_diff(
            _lines(code), _lines(solution), "your code", "solution", n=context, lineterm=""
        )
    )
