"""Turn a learner's run (and the reference run) into a verdict: one status plus one line per check.

Pure functions over `RunResult`s: no processes, no torch, no Textual. The grader runs the code;
this module decides what it means and explains it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .compare import Tolerance, compare, compare_literal, short

if TYPE_CHECKING:
    from .explain import Explanation
from .sandbox.runner import EvalError, ExceptionInfo, Outcome, RunResult, TooLarge
from .schema import Check, Exercise
from .tensor_report import TensorReport, literal_report, tensor_report
from .values import TensorValue


class Status(enum.Enum):
    """Exactly one per run; the UI and `check --json` show it."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the learner's code raised an exception nobody expected
    TIMEOUT = "timeout"
    CPU_LIMIT = "cpu_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    RESULT_TOO_LARGE = "result_too_large"
    CRASHED = "crashed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # e.g. a CUDA-only exercise on a CPU-only machine
    DEVICE_UNAVAILABLE = "device_unavailable"
    INTERNAL_ERROR = "internal_error"

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    Status.PASSED: "Passed",
    Status.FAILED: "Not yet: some checks failed",
    Status.ERROR: "Error in your code",
    Status.TIMEOUT: "Timed out",
    Status.CPU_LIMIT: "CPU time limit reached",
    Status.MEMORY_LIMIT: "Memory limit reached",
    Status.OUTPUT_LIMIT: "Output limit reached",
    Status.RESULT_TOO_LARGE: "Result too large to check",
    Status.CRASHED: "Crashed",
    Status.BLOCKED: "Blocked by the sandbox",
    Status.CANCELLED: "Cancelled",
    Status.SKIPPED: "Skipped",
    Status.DEVICE_UNAVAILABLE: "Device not available",
    Status.INTERNAL_ERROR: "Internal error",
}

_OUTCOME_STATUS = {
    Outcome.TIMEOUT: Status.TIMEOUT,
    Outcome.CPU_LIMIT: Status.CPU_LIMIT,
    Outcome.OUTPUT_LIMIT: Status.OUTPUT_LIMIT,
    Outcome.RESULT_TOO_LARGE: Status.RESULT_TOO_LARGE,
    Outcome.CRASHED: Status.CRASHED,
    Outcome.CANCELLED: Status.CANCELLED,
    Outcome.DEVICE_UNAVAILABLE: Status.DEVICE_UNAVAILABLE,
    Outcome.SETUP_ERROR: Status.INTERNAL_ERROR,
    Outcome.INTERNAL_ERROR: Status.INTERNAL_ERROR,
}

_MISSING: Any = object()  # an expression the child sent no value for (None is a real value)
REPORT_BUG = "please report it with `pttutor check --json` output at the project's issue tracker"


class CheckState(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    label: str
    state: CheckState
    message: str = ""  # one line: what differed
    details: tuple[str, ...] = ()  # further differences
    explain: str | None = None  # the lesson author's pointer, shown on failure
    tensor_report: TensorReport | None = None  # a failed tensor check, property by property


@dataclass
class Verdict:
    status: Status
    summary: str
    checks: list[CheckResult] = field(default_factory=list)
    run: RunResult | None = None
    notes: list[str] = field(default_factory=list)
    explanation: Explanation | None = None  # why the learner's exception happened, and where
    # to learn the fix (from the error catalogue)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def exception(self) -> ExceptionInfo | None:
        return self.run.exception if self.run else None


def check_run(
    exercise: Exercise, learner: RunResult, reference: RunResult | None, device: str | None
) -> Verdict:
    """Judge the learner's run of `exercise`. `reference` is the solution's run, same device."""
    on_cuda = (learner.device or device) == "cuda"
    if learner.outcome is not Outcome.COMPLETED:
        return _not_completed(learner)
    results = [_check(c, learner, reference, on_cuda) for c in exercise.checks]
    expects_error = any(c.raises is not None for c in exercise.checks)
    failed = [r for r in results if r.state is CheckState.FAILED]
    ran = [r for r in results if r.state is not CheckState.SKIPPED]
    notes = [f"{r.label}: {r.message}" for r in results if r.state is CheckState.SKIPPED]
    if learner.exception is not None and not expects_error:
        error = learner.exception
        where = f" (line {error.line})" if error.line else ""
        status, notes = _classify_error(error, learner, notes)
        return Verdict(
            status, f"{error.headline()}{where}", results, learner, notes, _explain(error)
        )
    if failed:
        total = len(ran)
        # An exercise that expects one error but got another: explain the one they got.
        explanation = _explain(learner.exception) if learner.exception else None
        return Verdict(
            Status.FAILED,
            f"{len(failed)} of {total} checks failed",
            results,
            learner,
            notes,
            explanation,
        )
    if not ran:
        return Verdict(Status.SKIPPED, "every check needs a CUDA GPU", results, learner, notes)
    return Verdict(Status.PASSED, f"all {len(ran)} checks passed", results, learner, notes)


_OUT_OF_MEMORY = re.compile(r"can't allocate memory|not enough memory|out of memory", re.I)


def _classify_error(
    error: ExceptionInfo, run: RunResult, notes: list[str]
) -> tuple[Status, list[str]]:
    """An exception is the learner's error, unless it is a limit or the sandbox saying no."""
    if (
        error.is_a("MemoryError")
        or error.is_a("OutOfMemoryError")
        or (error.is_a("RuntimeError") and _OUT_OF_MEMORY.search(error.message))
    ):
        return Status.MEMORY_LIMIT, [
            *notes,
            "a run may use about 3 GiB of memory: is a tensor far bigger than the task needs?",
        ]
    confined = bool(run.sandbox and run.sandbox.get("filesystem"))
    if confined and error.is_a("PermissionError"):
        return Status.BLOCKED, [
            *notes,
            "snippets run in a sandbox: they may write only in their own temporary working "
            "directory, read only the Python installation, and cannot use the network or "
            "signal other processes",
        ]
    return Status.ERROR, notes


def _explain(error: ExceptionInfo) -> Explanation | None:
    # Imported on first use: the catalogue costs start-up time the first frame should not pay.
    from .explain import CatalogueError, explain_error

    try:
        return explain_error(error)
    except CatalogueError:  # a broken catalogue must never hide the learner's verdict
        return None


def skipped_for_device(exercise: Exercise) -> Verdict:
    return Verdict(
        Status.SKIPPED,
        f"this exercise needs a CUDA GPU; on this machine, read its task and solution: "
        f"{exercise.title}",
        notes=["switch to a CUDA device (F4) on a machine with a GPU to run it"],
    )


def _not_completed(run: RunResult) -> Verdict:
    status = _OUTCOME_STATUS.get(run.outcome, Status.INTERNAL_ERROR)
    summary = run.detail.splitlines()[0] if run.detail else status.title
    notes = []
    if status is Status.INTERNAL_ERROR:
        notes.append(f"this is a bug in pttutor or the lesson, not in your code; {REPORT_BUG}")
        if "\n" in run.detail:
            notes.append(run.detail)
    if status is Status.TIMEOUT:
        notes.append("look for a loop that never ends, or work far bigger than the task needs")
    if status is Status.OUTPUT_LIMIT:
        notes.append("a print inside a long loop? only the start of the output is shown")
    return Verdict(status, summary, run=run, notes=notes)


def _check(
    check: Check, learner: RunResult, reference: RunResult | None, on_cuda: bool
) -> CheckResult:
    if check.requires == "cuda" and not on_cuda:
        return CheckResult(check.label, CheckState.SKIPPED, "needs a CUDA GPU (skipped here)")
    if check.raises is not None:
        problems = _check_raises(check, learner.exception)
    elif check.stdout is not None:
        problems = _check_stdout(check, learner.stdout)
    else:
        problems = _check_expr(check, learner, reference)
    if not problems:
        return CheckResult(check.label, CheckState.PASSED)
    return CheckResult(
        check.label,
        CheckState.FAILED,
        problems[0],
        tuple(problems[1:]),
        check.explain,
        _tensor_report(check, learner, reference),
    )


def _tensor_report(
    check: Check, learner: RunResult, reference: RunResult | None
) -> TensorReport | None:
    """The failure panel's data when a tensor was compared (with the reference or a literal)."""
    if check.expr is None:
        return None
    got = learner.values.get(check.expr)
    if not isinstance(got, TensorValue):
        return None
    tol = Tolerance(rtol=check.rtol, atol=check.atol, exact=check.exact)
    if check.has_expect:
        return literal_report(check.expect, got, tol)
    expected = reference.values.get(check.expr) if reference is not None else None
    return tensor_report(expected, got, tol) if isinstance(expected, TensorValue) else None


def _check_raises(check: Check, error: ExceptionInfo | None) -> list[str]:
    assert check.raises is not None
    wanted = check.raises + (f" matching {check.match!r}" if check.match else "")
    if error is None:
        return [f"your code raised no exception; expected {wanted}"]
    if not error.is_a(check.raises):
        return [f"expected {wanted}, but your code raised {short(error.headline(), 160)}"]
    if check.match and not re.search(check.match, error.message):
        return [
            f"raised {error.type} as expected, but its message {short(error.message, 160)!r} "
            f"does not match {check.match!r}"
        ]
    return []


def _check_stdout(check: Check, stdout: str) -> list[str]:
    assert check.stdout is not None
    found = re.search(check.stdout, stdout) if check.regex else check.stdout in stdout
    if found:
        return []
    printed = "nothing" if not stdout.strip() else repr(short(stdout.strip(), 120))
    what = f"a match for {check.stdout!r}" if check.regex else repr(check.stdout)
    return [f"expected the output to contain {what}; it printed {printed}"]


def _check_expr(check: Check, learner: RunResult, reference: RunResult | None) -> list[str]:
    assert check.expr is not None
    got = learner.values.get(check.expr, _MISSING)
    problem = _unusable(got, "your code")
    if problem:
        return [problem]
    tol = Tolerance(rtol=check.rtol, atol=check.atol, exact=check.exact)
    if check.has_expect:
        return compare_literal(check.expect, got, tol)
    expected = reference.values.get(check.expr, _MISSING) if reference else _MISSING
    problem = _unusable(expected, "the reference solution")
    if problem:
        return [f"cannot check: {problem}; this is a bug in the lesson, {REPORT_BUG}"]
    return compare(expected, got, tol)


def _unusable(value: Any, whose: str) -> str | None:
    if isinstance(value, EvalError):
        error = value.error
        if error.type == "NameError":
            return f"after {whose} ran, {error.message}"
        return f"could not evaluate it after {whose} ran: {short(error.headline(), 160)}"
    if isinstance(value, TooLarge):
        return value.message
    if value is _MISSING:
        return f"{whose} produced no value for it"
    return None
