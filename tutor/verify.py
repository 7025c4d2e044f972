"""`pttutor verify`: prove that a pack's exercises are sound.

For every exercise: the reference solution passes, the starter fails, every *shortcut* (an answer
that skips the mechanism the exercise teaches) fails and every *alternative* (another honest
answer) passes. Each piece of code is one grading; all of an exercise's gradings share one draw
of hidden seeds and one reference run (`SharedReference`), since the code is the author's and
nothing is hidden from anyone by it. The solution is judged on that reference run itself (its
rules, literals, raises and output): a second run of the same request would be forked from the
same zygote with the same seeds, so it would only repeat it. Gradings from every exercise run
side by side over one warm pool, so a long exercise never holds up the ones after it, and rows
come out in the pack's order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .checker import CheckState, Status, Verdict
from .grader import Grader, SharedReference
from .schema import Exercise, Lesson


@dataclass(frozen=True)
class _Timed:
    verdict: Verdict
    started: float
    ended: float


def _grade(grader: Grader, exercise: Exercise, code: str | None, shared: SharedReference) -> _Timed:
    """One grading; `code` None: the solution, judged on the reference run itself."""
    started = time.monotonic()
    if code is None:
        verdict = grader.grade_solution(exercise, shared)
    else:
        verdict = grader.grade(exercise, code, shared)
    return _Timed(verdict, started, time.monotonic())


class _PlannedRow:
    """One exercise's gradings, submitted at once; `row()` waits for them and judges."""

    def __init__(
        self, pool: ThreadPoolExecutor, grader: Grader, lesson: Lesson, exercise: Exercise
    ) -> None:
        self.ref = f"{lesson.id}/{exercise.id}"
        self.exercise = exercise
        shared = SharedReference(exercise)

        def submit(code: str | None) -> Future[_Timed]:
            return pool.submit(_grade, grader, exercise, code, shared)

        self.solution = submit(None)
        self.starter = submit(exercise.starter)
        self.shortcuts = [submit(v.code) for v in exercise.shortcuts]
        self.alternatives = [submit(v.code) for v in exercise.alternatives]

    def row(self) -> dict[str, Any]:
        solution, starter = self.solution.result(), self.starter.result()
        variants = [f.result() for f in (*self.shortcuts, *self.alternatives)]
        timed = [solution, starter, *variants]
        seconds = max(t.ended for t in timed) - min(t.started for t in timed)
        row = verify_row(self.ref, solution.verdict, starter.verdict, seconds)
        if solution.verdict.status is Status.PASSED:  # otherwise the variants prove nothing
            n = len(self.shortcuts)
            judge_variants(
                row,
                [
                    _variant(v.why, t.verdict, must_pass=False)
                    for v, t in zip(self.exercise.shortcuts, variants[:n], strict=True)
                ],
                [
                    _variant(v.why, t.verdict, must_pass=True)
                    for v, t in zip(self.exercise.alternatives, variants[n:], strict=True)
                ],
            )
        else:
            judge_variants(row, [], [])
        return row


def verify_rows(
    grader: Grader, selected: Sequence[tuple[Lesson, Exercise]], workers: int
) -> Iterator[dict[str, Any]]:
    """A verify row per exercise, in order, with up to `workers` gradings running at once."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pttutor-verify")
    try:
        planned = [_PlannedRow(pool, grader, lesson, exercise) for lesson, exercise in selected]
        for plan in planned:
            yield plan.row()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _variant(why: str, verdict: Verdict, *, must_pass: bool) -> dict[str, Any]:
    passed = verdict.status is Status.PASSED
    checked = verdict.status not in (Status.INTERNAL_ERROR, Status.CANCELLED)
    return {
        "why": why,
        "status": verdict.status.value,
        "ok": checked and passed == must_pass,
        "summary": verdict.summary,
        "failed": [c.label for c in verdict.checks if c.state is CheckState.FAILED],
    }


def judge_variants(
    row: dict[str, Any], shortcuts: list[dict[str, Any]], alternatives: list[dict[str, Any]]
) -> None:
    """Add the shortcuts' and alternatives' results to a verify row; any that went the wrong
    way makes the row a problem."""
    row["shortcuts"], row["alternatives"] = shortcuts, alternatives
    if row["result"] != "ok":
        return
    wrong = [
        f"shortcut {i} ({s['why']}) passes; it must fail"
        if s["status"] == Status.PASSED.value
        else f"shortcut {i} ({s['why']}) could not be checked: {s['summary']}"
        for i, s in enumerate(shortcuts, 1)
        if not s["ok"]
    ]
    wrong += [
        f"alternative {i} ({a['why']}) does not pass: {a['summary']}"
        + (f" ({', '.join(a['failed'])})" if a["failed"] else "")
        for i, a in enumerate(alternatives, 1)
        if not a["ok"]
    ]
    if wrong:
        row.update(result="problem", message="; ".join(wrong))
    elif shortcuts or alternatives:
        counts = f"shortcuts fail ({len(shortcuts)}), alternatives pass ({len(alternatives)})"
        row["message"] += f", {counts}"


def verify_row(ref: str, solution: Verdict, starter: Verdict, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "exercise": ref,
        "solution": solution.status.value,
        "starter": starter.status.value,
        "seconds": round(seconds, 2),
    }
    if solution.status is Status.SKIPPED:
        row.update(result="skipped", message=solution.summary)
    elif solution.status is not Status.PASSED:
        detail = "; ".join(f"{c.label}: {c.message}" for c in solution.checks if c.message)
        row.update(
            result="problem",
            message=f"the solution does not pass: {solution.summary}"
            + (f" ({detail})" if detail else ""),
        )
    elif starter.status is Status.PASSED:
        row.update(result="problem", message="the starter code already passes")
    elif starter.status in (Status.INTERNAL_ERROR, Status.CANCELLED):
        row.update(result="problem", message=f"the starter could not be checked: {starter.summary}")
    else:
        row.update(result="ok", message=f"solution passes, starter fails ({starter.status.value})")
    return row
