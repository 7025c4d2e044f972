"""Turn a learner's run (and the reference run) into a verdict: one status plus one line per check.

Pure functions over `RunResult`s: no processes, no torch, no Textual. The grader runs the code;
this module decides what it means and explains it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .compare import Tolerance, compare, compare_literal, describe, short

if TYPE_CHECKING:
    from .explain import Explanation
    from .function_inputs import GeneratedInputs
    from .predict import Prediction, PredictionResult, Unreadable
from .rules import Finding, harness_reach, judge_rules, self_raised
from .sandbox.runner import EvalError, ExceptionInfo, Outcome, RunResult, TooLarge
from .schema import Check, Exercise
from .tensor_report import TensorReport, literal_report, tensor_report
from .value_text import assignments, value_text
from .values import ArrayValue, TensorValue


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
    INVALID_RESULT = "invalid_result"  # the sandbox sent a malformed result: never trusted
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
    Status.INVALID_RESULT: "Invalid result",
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
    Outcome.INVALID_RESULT: Status.INVALID_RESULT,
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
    trial: int | None = None  # the hidden trial it failed in (None: the task's own data)


@dataclass
class Verdict:
    status: Status
    summary: str
    checks: list[CheckResult] = field(default_factory=list)
    run: RunResult | None = None
    notes: list[str] = field(default_factory=list)
    explanation: Explanation | None = None  # why the learner's exception happened, and where
    # to learn the fix (from the error catalogue)
    error: ExceptionInfo | None = None  # an exception in a hidden trial, when that is the news
    prediction: PredictionResult | None = None  # a predict-first item: prediction and truth

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def exception(self) -> ExceptionInfo | None:
        if self.error is not None:
            return self.error
        return self.run.exception if self.run else None


def check_run(
    exercise: Exercise,
    learner: RunResult,
    reference: RunResult | None,
    device: str | None,
    *,
    code: str | None = None,
    inputs: GeneratedInputs | None = None,
    trials: int | None = None,
) -> Verdict:
    """Judge the learner's run of `exercise`. `reference` is the solution's run, same device,
    same trials and inputs. `code` is what the learner submitted: the source rules and the
    origin of expected exceptions are judged on it (without it, an exercise with rules fails).
    `inputs` are those the function under test was called on. `trials` is how many trials the
    runs were asked for (the grader passes `exercise.trial_count`; a missing one fails); None
    judges those the learner's run holds."""
    on_cuda = (learner.device or device) == "cuda"
    if code is not None:
        reach = harness_reach(code)
        if reach:
            return blocked(reach, learner)
    if learner.outcome is not Outcome.COMPLETED:
        return _not_completed(learner)
    trials = 1 + len(learner.trials) if trials is None else trials
    judge = _Judge(exercise, learner, reference, code, trials)
    results = [judge.check(c, on_cuda) for c in exercise.checks]
    if exercise.function is not None:
        results.append(judge.function(inputs))
    results += rule_results(exercise, code)
    expects_error = any(c.raises is not None for c in exercise.checks)
    failed = [r for r in results if r.state is CheckState.FAILED]
    ran = [r for r in results if r.state is not CheckState.SKIPPED]
    notes = [f"{r.label}: {r.message}" for r in results if r.state is CheckState.SKIPPED]
    notes += [slip.describe() for slip in learner.slips]  # silent typos, pass or fail
    unreadable = learner.exception is not None and learner.exception.is_a("SyntaxError")
    if unreadable and not expects_error and learner.exception is not None:
        return _did_not_run(exercise, learner, learner.exception)
    if learner.exception is not None and not expects_error:
        error = learner.exception
        where = f" (line {error.line})" if error.line else ""
        status, notes = _classify_error(error, learner, notes)
        return Verdict(
            status, f"{error.headline()}{where}", results, learner, notes, _explain(error)
        )
    hidden = _hidden_error(learner, trials) if not expects_error else None
    if hidden is not None:
        trial, error = hidden
        where = f" (line {error.line})" if error.line else ""
        if any(r.trial is None for r in failed):  # the task's own data comes first
            notes.append(
                f"on other data (trial {trial}) your code raised {error.headline()}{where}"
            )
        else:
            got = _side(learner, trial)
            shown = _inputs_lines(trial, got) if got is not None else []
            return Verdict(
                Status.ERROR,
                f"{error.headline()}{where}, in trial {trial} (other data, drawn for this run)",
                results,
                learner,
                [*notes, "your code runs on the task's data, but not on other data:", *shown],
                _explain(error),
                error,
            )
    if failed:
        total = len(ran)
        # An exercise that expects one error but got another: explain the one they got.
        explanation = _explain(learner.exception) if learner.exception else None
        return Verdict(
            Status.FAILED,
            f"{len(failed)} of {total} {_checks(total)} failed",
            results,
            learner,
            notes,
            explanation,
        )
    if not ran:
        return Verdict(Status.SKIPPED, "every check needs a CUDA GPU", results, learner, notes)
    summary = "the check passed" if len(ran) == 1 else f"all {len(ran)} checks passed"
    return Verdict(Status.PASSED, summary, results, learner, notes)


def _hidden_error(learner: RunResult, trials: int) -> tuple[int, ExceptionInfo] | None:
    """The first hidden trial in which the learner's code raised."""
    for trial in range(1, trials):
        side = _side(learner, trial)
        if side is not None and side.exception is not None:
            return trial, side.exception
    return None


def _did_not_run(exercise: Exercise, learner: RunResult, error: ExceptionInfo) -> Verdict:
    """Python could not read the code, so none of it ran: no check can say anything about it
    (a per-check "name 'x' is not defined" would blame the wrong thing)."""
    where = f" on line {error.line}" if error.line else ""
    checks = [
        CheckResult(c.label, CheckState.SKIPPED, "not checked: your code did not run")
        for c in exercise.checks
    ]
    summary = f"Your code did not run: {error.type}{where}"
    return Verdict(Status.ERROR, summary, checks, learner, [], _explain(error))


def _checks(count: int) -> str:
    return "check" if count == 1 else "checks"


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
    if status is Status.INVALID_RESULT:
        notes.append(
            "the sandbox's report of this run was malformed, so none of it is trusted: does "
            "your code write to file descriptors it did not open, or change the sandbox itself?"
        )
    return Verdict(status, summary, run=run, notes=notes)


@dataclass(frozen=True)
class _Side:
    """What one run produced in one trial: the values, the exception, the output."""

    values: Mapping[str, Any]
    exception: ExceptionInfo | None
    stdout: str
    inputs: Mapping[str, Any]
    seed: int | None = None


def _side(run: RunResult | None, trial: int) -> _Side | None:
    """Trial 0 is the run itself; hidden trial k is `run.trials[k - 1]` (None if missing)."""
    if run is None:
        return None
    if trial == 0:
        return _Side(run.values, run.exception, run.stdout, {})
    if trial - 1 < len(run.trials) and run.trials[trial - 1].index == trial:
        t = run.trials[trial - 1]
        return _Side(t.values, t.exception, t.stdout, t.inputs, t.seed)
    return None


class _Judge:
    """Judges one exercise's checks on every trial of the learner's and the reference's runs."""

    def __init__(
        self,
        exercise: Exercise,
        learner: RunResult,
        reference: RunResult | None,
        code: str | None,
        trials: int,
    ) -> None:
        self.exercise = exercise
        self.learner = learner
        self.reference = reference
        self.code = code
        self.trials = trials

    def check(self, check: Check, on_cuda: bool) -> CheckResult:
        if check.requires == "cuda" and not on_cuda:
            return CheckResult(check.label, CheckState.SKIPPED, "needs a CUDA GPU (skipped here)")
        got, want = _side(self.learner, 0), _side(self.reference, 0)
        assert got is not None
        problems = self._visible(check, got, want)
        if problems:
            return _failed(check, problems, _tensor_report(check, got, want))
        for trial in range(1, self.trials):
            got, want = _side(self.learner, trial), _side(self.reference, trial)
            if got is None:
                return _failed(check, [f"your run reported nothing for trial {trial}"], None)
            if want is None:
                return _failed(check, [f"cannot check trial {trial}: {_LESSON_BUG}"], None)
            problems = self._hidden(check, got, want)
            if problems:
                return _failed(
                    check,
                    [
                        f"right on the task's data, but not in trial {trial} (other data, drawn "
                        f"for this run): {problems[0]}",
                        *problems[1:],
                        *_inputs_lines(trial, got),
                    ],
                    _tensor_report(check, got, want, hidden=True),
                    trial,
                )
        return CheckResult(check.label, CheckState.PASSED)

    def _visible(self, check: Check, got: _Side, want: _Side | None) -> list[str]:
        """Trial 0, the setup the task describes: judged exactly as the check says."""
        if check.raises is not None:
            return self._raises(check, got)
        if check.stdout is not None:
            return _check_stdout(check, got.stdout)
        if check.has_expect:
            return _check_literal(check, got)
        return _check_expr(check, got, want)

    def _hidden(self, check: Check, got: _Side, want: _Side) -> list[str]:
        """A hidden trial: the same check, where the reference shows what it means for this
        data. A literal (`expect`, `stdout`, `match`) the reference does not meet on other data
        described the task's data only: there the learner's value must equal the reference's."""
        if check.raises is not None:
            return self._raises(check, got) if not _check_raises(check, want.exception) else []
        if check.stdout is not None:
            return [] if _check_stdout(check, want.stdout) else _check_stdout(check, got.stdout)
        if check.has_expect and not _check_literal(check, want):
            return _check_literal(check, got)
        return _check_expr(check, got, want)

    def _raises(self, check: Check, got: _Side) -> list[str]:
        assert check.raises is not None
        problems = _check_raises(check, got.exception)
        if problems:
            return problems
        assert got.exception is not None
        own = self_raised(self.code, check.raises) if self.code is not None else []
        if own and own[0].what != "a `raise` statement":
            first = own[0]
            return [
                f"make the operation raise it; your code may not produce it itself (line "
                f"{first.line}: {first.what})",
                *(str(f) for f in own[1:4]),
            ]
        line = own[0].line if own else got.exception.line
        if own or got.exception.origin == "raise":
            where = f" (line {line})" if line else ""
            return [
                f"make the operation raise it; a raise statement you wrote does not count{where}"
            ]
        return []

    def function(self, inputs: GeneratedInputs | None) -> CheckResult:
        """The function under test on every generated input, compared with the solution's."""
        spec = self.exercise.function
        assert spec is not None
        label = f"{spec.name}() on {spec.count} inputs"
        got, want = self.learner.calls, self.reference.calls if self.reference else None
        if inputs is None or got is None or len(got) != len(inputs.args):
            return CheckResult(label, CheckState.FAILED, "the function was not called")
        if want is None or len(want) != len(got):
            return CheckResult(label, CheckState.FAILED, f"cannot check: {_LESSON_BUG}")
        for i, (mine, theirs) in enumerate(zip(got, want, strict=True)):
            problems = _call_problems(spec.name, mine, theirs)
            if problems:
                which = f"input {i + 1} of {len(got)}" + (" (the smallest that fails)" if i else "")
                shown = [f"input: {inputs.describe(i)}"]
                if not isinstance(mine, EvalError | TooLarge) and not isinstance(
                    theirs, EvalError | TooLarge
                ):
                    shown += [f"expected: {value_text(theirs)}", f"got: {value_text(mine)}"]
                return CheckResult(
                    label,
                    CheckState.FAILED,
                    f"{inputs.call()} is wrong for {which}: {problems[0]}",
                    (*shown, *problems[1:]),
                )
        return CheckResult(label, CheckState.PASSED)


_LESSON_BUG = f"the reference solution did not report it; this is a bug in the lesson, {REPORT_BUG}"


def _call_problems(name: str, mine: Any, theirs: Any) -> list[str]:
    if isinstance(theirs, EvalError | TooLarge):
        why = theirs.message if isinstance(theirs, TooLarge) else theirs.error.headline()
        return [
            f"cannot check: the solution's {name}() failed here ({short(why, 160)}); "
            f"this is a bug in the lesson, {REPORT_BUG}"
        ]
    if isinstance(mine, TooLarge):
        return [mine.message]
    if isinstance(mine, EvalError):
        error = mine.error
        if error.type == "NameError" and not error.frames:
            return [error.message]
        where = f" (line {error.line})" if error.line else ""
        return [f"it raised {short(error.headline(), 160)}{where}"]
    return compare(theirs, mine, Tolerance())


def _inputs_lines(trial: int, got: _Side) -> list[str]:
    if not got.inputs:
        return []
    seed = f" (seed {got.seed})" if got.seed is not None else ""
    shown = assignments(dict(got.inputs))
    return [f"the data of trial {trial}{seed}:", *(f"  {line}" for line in shown)]


def _failed(
    check: Check,
    problems: list[str],
    report: TensorReport | None,
    trial: int | None = None,
) -> CheckResult:
    """A failed check: the author's own message first, when there is one."""
    if check.message:
        message, details = check.message, tuple(problems)
    else:
        message, details = problems[0], tuple(problems[1:])
    return CheckResult(
        check.label, CheckState.FAILED, message, details, check.explain, report, trial
    )


def _tensor_report(
    check: Check, got: _Side, want: _Side | None, hidden: bool = False
) -> TensorReport | None:
    """The failure panel's data when a tensor was compared (with the reference or a literal;
    in a hidden trial, with the literal only where the reference meets it)."""
    if check.expr is None:
        return None
    value = got.values.get(check.expr)
    if not isinstance(value, TensorValue):
        return None
    tol = _tolerance(check)
    literal = check.has_expect and not (hidden and want is not None and _check_literal(check, want))
    if literal:
        return literal_report(check.expect, value, tol)
    expected = want.values.get(check.expr) if want is not None else None
    return tensor_report(expected, value, tol) if isinstance(expected, TensorValue) else None


def _tolerance(check: Check) -> Tolerance:
    return Tolerance(rtol=check.rtol, atol=check.atol, exact=check.exact)


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


def _check_literal(check: Check, got: _Side) -> list[str]:
    """An `expect` check: the value against the YAML literal (and its `dtype`, if stated)."""
    assert check.expr is not None
    value = got.values.get(check.expr, _MISSING)
    problem = _unusable(value, "your code")
    if problem:
        return [problem]
    problems: list[str] = []
    if check.dtype is not None:
        wanted = check.dtype.removeprefix("torch.")
        if not isinstance(value, TensorValue | ArrayValue):
            return [f"expected a {wanted} tensor, got {describe(value)}"]
        if value.dtype != wanted:
            problems.append(f"dtype is torch.{value.dtype}, expected torch.{wanted}")
    return problems + compare_literal(check.expect, value, _tolerance(check))


def _check_expr(check: Check, got: _Side, want: _Side | None) -> list[str]:
    """An `expr` check against the reference solution's value in the same trial."""
    assert check.expr is not None
    value = got.values.get(check.expr, _MISSING)
    problem = _unusable(value, "your code")
    if problem:
        return [problem]
    expected = want.values.get(check.expr, _MISSING) if want is not None else _MISSING
    problem = _unusable(expected, "the reference solution")
    if problem:
        return [f"cannot check: {problem}; this is a bug in the lesson, {REPORT_BUG}"]
    return compare(expected, value, _tolerance(check))


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


def check_prediction(exercise: Exercise, prediction: Prediction, snippet: RunResult) -> Verdict:
    """Judge a predict-first item: the learner's prediction against the snippet's run (the
    snippet is the lesson's code, so a run that did not finish is never the learner's fault)."""
    from .predict import Truth, judge

    spec = exercise.predict
    assert spec is not None
    if snippet.outcome is not Outcome.COMPLETED:
        if snippet.outcome in (Outcome.CANCELLED, Outcome.DEVICE_UNAVAILABLE):
            return _not_completed(snippet)
        return Verdict(
            Status.INTERNAL_ERROR,
            "the task's snippet did not finish, so there is nothing to compare your prediction "
            "with",
            notes=[f"snippet run: {snippet.outcome.value}: {snippet.detail}", _LESSON_BUG_NOTE],
        )
    value = snippet.values.get(spec.ask, _MISSING)
    if snippet.exception is not None:
        truth = Truth(raised=snippet.exception)
    elif isinstance(value, EvalError):
        truth = Truth(raised=value.error)
    elif isinstance(value, TooLarge) or value is _MISSING:
        why = value.message if isinstance(value, TooLarge) else "the snippet reported no value"
        return Verdict(
            Status.INTERNAL_ERROR,
            f"cannot compare your prediction of {spec.ask}: {why}",
            notes=[_LESSON_BUG_NOTE],
        )
    else:
        truth = Truth(value=value)
    result = judge(prediction, truth, ask=spec.ask, explain=spec.explain)
    check = CheckResult(
        f"your prediction of {spec.ask}",
        CheckState.PASSED if result.matched else CheckState.FAILED,
        result.side_by_side(),
        (result.detail,) if result.detail else (),
    )
    # The snippet's output and views stay (F9, F10 show what it built); its exception is the
    # truth, not an error in the editor's text, whose line numbers it would not match.
    shown = replace(snippet, exception=None, slips=())
    if result.matched:
        return Verdict(Status.PASSED, "your prediction is right", [check], shown, prediction=result)
    return Verdict(
        Status.FAILED, "your prediction is not what happens", [check], shown, prediction=result
    )


def unreadable_prediction(exercise: Exercise, problem: Unreadable) -> Verdict:
    """The editor holds no prediction that can be read: nothing runs, and the truth stays
    hidden until there is one."""
    ask = exercise.predict.ask if exercise.predict is not None else "it"
    summary = "no prediction yet" if problem.placeholder else "your prediction cannot be read"
    check = CheckResult(f"your prediction of {ask}", CheckState.FAILED, problem.message)
    return Verdict(Status.FAILED, summary, [check])


_LESSON_BUG_NOTE = f"this is a bug in the lesson, not in your prediction; {REPORT_BUG}"


def rule_results(exercise: Exercise, code: str | None) -> list[CheckResult]:
    """The exercise's source rules as checklist lines (judged here, never in the sandbox)."""
    if exercise.rules is None or not exercise.rules.active:
        return []
    if code is None:  # fail closed: rules that were not judged were not kept
        return [CheckResult("rules", CheckState.FAILED, "the code was not given to the checker")]
    return [
        CheckResult(
            o.label, CheckState.PASSED if o.passed else CheckState.FAILED, o.message, o.details
        )
        for o in judge_rules(code, exercise.rules)
    ]


def blocked(findings: list[Finding], run: RunResult | None = None) -> Verdict:
    """Code that reaches into the tutor's own machinery is refused, never judged."""
    first = findings[0]
    return Verdict(
        Status.BLOCKED,
        f"line {first.line}: {first.what} reaches into the tutor itself",
        run=run,
        notes=[
            "your code was not run: it uses "
            + ", ".join(f"{f.what} (line {f.line})" for f in findings[:5])
            + ", which no exercise needs and which could tamper with how your work is checked; "
            "remove it",
        ],
    )
