"""From runs to a verdict: statuses, expected exceptions, stdout, skips (no processes here)."""

from __future__ import annotations

from tutor.checker import CheckState, Status, check_run
from tutor.sandbox.runner import EvalError, ExceptionInfo, Frame, Outcome, RunResult
from tutor.schema import Exercise

from .test_compare import tensor


def exercise(**overrides) -> Exercise:
    data = {
        "id": "ex",
        "title": "Ex",
        "task": "Do it.",
        "starter": "y = x",
        "solution": "y = x * 2",
        "checks": [{"expr": "y"}],
    }
    data.update(overrides)
    return Exercise.model_validate(data)


def completed(values=None, exception=None, stdout="", device="cpu") -> RunResult:
    return RunResult(
        Outcome.COMPLETED, values=values or {}, exception=exception, stdout=stdout, device=device
    )


def error(kind="RuntimeError", message="boom", line=3) -> ExceptionInfo:
    return ExceptionInfo(
        kind,
        "builtins",
        (kind, "Exception", "BaseException", "object"),
        message,
        (Frame(line, "<module>", "y.backward()"),),
    )


def test_matching_values_pass():
    ref = completed({"y": tensor([2.0])})
    verdict = check_run(exercise(), completed({"y": tensor([2.0])}), ref, "cpu")
    assert verdict.status is Status.PASSED
    assert verdict.summary == "the check passed"


def test_different_values_fail_with_the_difference():
    ref = completed({"y": tensor([2.0])})
    verdict = check_run(exercise(), completed({"y": tensor([1.0])}), ref, "cpu")
    assert verdict.status is Status.FAILED
    [check] = verdict.checks
    assert check.state is CheckState.FAILED and "values differ" in check.message


def test_an_unexpected_exception_is_an_error_with_its_line():
    learner = completed(
        {"y": EvalError(error("NameError", "name 'y' is not defined"))}, exception=error(line=7)
    )
    verdict = check_run(exercise(), learner, completed({"y": tensor([2.0])}), "cpu")
    assert verdict.status is Status.ERROR
    assert verdict.summary == "RuntimeError: boom (line 7)"
    assert "after your code ran, name 'y' is not defined" in verdict.checks[0].message


def test_expected_exceptions_by_type_subclass_and_message():
    ex = exercise(checks=[{"raises": "RuntimeError", "match": "^grad can be implicitly"}])
    ref = completed()
    ok = completed(exception=error(message="grad can be implicitly created only for scalar"))
    assert check_run(ex, ok, ref, "cpu").status is Status.PASSED
    oom = ExceptionInfo(
        "OutOfMemoryError",
        "torch",
        ("OutOfMemoryError", "RuntimeError"),
        "grad can be implicitly …",
    )
    assert check_run(ex, completed(exception=oom), ref, "cpu").status is Status.PASSED
    wrong_type = completed(exception=error("ValueError", "grad can be implicitly"))
    verdict = check_run(ex, wrong_type, ref, "cpu")
    assert verdict.status is Status.FAILED
    assert "but your code raised ValueError" in verdict.checks[0].message
    wrong_message = check_run(ex, completed(exception=error(message="other")), ref, "cpu")
    assert "does not match" in wrong_message.checks[0].message
    none = check_run(ex, completed(), ref, "cpu")
    assert none.checks[0].message.startswith("your code raised no exception")


def test_an_exception_with_an_empty_message_does_not_match_a_pattern():
    ex = exercise(checks=[{"raises": "RuntimeError", "match": "grad can be implicitly"}])
    verdict = check_run(ex, completed(exception=error(message="")), completed(), "cpu")
    assert verdict.status is Status.FAILED
    assert verdict.checks[0].message == (
        "raised RuntimeError as expected, but its message '' does not match "
        "'grad can be implicitly'"
    )
    anything = exercise(checks=[{"raises": "RuntimeError"}])  # no `match`: any message will do
    assert check_run(anything, completed(exception=error(message="")), completed(), "cpu").passed


def test_stdout_text_and_regex():
    ex = exercise(checks=[{"stdout": "669706"}, {"stdout": r"tensor\(\[\d", "regex": True}])
    ok = completed(stdout="total 669706\ntensor([1, 2])\n")
    assert check_run(ex, ok, completed(), "cpu").status is Status.PASSED
    verdict = check_run(ex, completed(stdout=""), completed(), "cpu")
    assert (
        verdict.checks[0].message == "expected the output to contain '669706'; it printed nothing"
    )


def test_cuda_only_checks_are_skipped_with_a_note_on_cpu():
    ex = exercise(checks=[{"expr": "y"}, {"expr": "y.is_cuda", "requires": "cuda"}])
    ref = completed({"y": tensor([2.0])})
    verdict = check_run(ex, completed({"y": tensor([2.0])}), ref, "cpu")
    assert verdict.status is Status.PASSED
    assert verdict.checks[1].state is CheckState.SKIPPED
    assert "needs a CUDA GPU" in verdict.notes[0]


def test_an_exercise_whose_checks_all_need_cuda_is_skipped_on_cpu_not_passed():
    ex = exercise(
        checks=[{"expr": "y.is_cuda", "requires": "cuda"}, {"expr": "y", "requires": "cuda"}]
    )
    ref = completed({"y": tensor([2.0]), "y.is_cuda": True})
    verdict = check_run(ex, completed({"y": tensor([2.0]), "y.is_cuda": False}), ref, "cpu")
    assert verdict.status is Status.SKIPPED and not verdict.passed
    assert verdict.summary == "every check needs a CUDA GPU"
    assert [c.state for c in verdict.checks] == [CheckState.SKIPPED, CheckState.SKIPPED]
    assert len(verdict.notes) == 2
    on_cuda = completed({"y": tensor([2.0], device="cuda"), "y.is_cuda": True}, device="cuda")
    cuda_ref = completed({"y": tensor([2.0], device="cuda"), "y.is_cuda": True}, device="cuda")
    assert check_run(ex, on_cuda, cuda_ref, "cuda").status is Status.PASSED


def test_a_checks_tolerances_reach_the_comparison_unswapped():
    ref = completed({"y": tensor([100.0, 0.0])})
    learner = completed({"y": tensor([105.0, 0.05])})
    relative = exercise(checks=[{"expr": "y", "rtol": 0.1, "atol": 0.0}])
    [check] = check_run(relative, learner, ref, "cpu").checks
    assert check.state is CheckState.FAILED
    assert "values differ at 1 of 2 elements" in check.message and "at [1]" in check.message
    absolute = exercise(checks=[{"expr": "y", "rtol": 0.0, "atol": 0.1}])
    [check] = check_run(absolute, learner, ref, "cpu").checks
    assert check.state is CheckState.FAILED
    assert "values differ at 1 of 2 elements" in check.message and "at [0]" in check.message
    assert check.tensor_report is not None and check.tensor_report.differs == ((True, False),)
    literal = exercise(checks=[{"expr": "y", "expect": [100.0, 0.0], "rtol": 0.0, "atol": 0.1}])
    [check] = check_run(literal, learner, None, "cpu").checks
    assert check.tensor_report is not None and check.tensor_report.differs == ((True, False),)


def test_literal_expectations_do_not_need_the_reference():
    ex = exercise(checks=[{"expr": "y.shape", "expect": [2]}])
    from tutor.values import SizeValue

    assert check_run(ex, completed({"y.shape": SizeValue((2,))}), None, "cpu").passed


def test_a_reference_that_cannot_evaluate_is_a_lesson_bug():
    ref = completed({"y": EvalError(error("NameError", "name 'y' is not defined"))})
    verdict = check_run(exercise(), completed({"y": tensor([2.0])}), ref, "cpu")
    assert verdict.status is Status.FAILED
    assert "bug in the lesson" in verdict.checks[0].message


def test_runs_that_did_not_complete_map_to_one_status_each():
    cases = {
        Outcome.TIMEOUT: Status.TIMEOUT,
        Outcome.CPU_LIMIT: Status.CPU_LIMIT,
        Outcome.OUTPUT_LIMIT: Status.OUTPUT_LIMIT,
        Outcome.CRASHED: Status.CRASHED,
        Outcome.CANCELLED: Status.CANCELLED,
        Outcome.RESULT_TOO_LARGE: Status.RESULT_TOO_LARGE,
        Outcome.DEVICE_UNAVAILABLE: Status.DEVICE_UNAVAILABLE,
        Outcome.SETUP_ERROR: Status.INTERNAL_ERROR,
        Outcome.INTERNAL_ERROR: Status.INTERNAL_ERROR,
    }
    for outcome, status in cases.items():
        verdict = check_run(exercise(), RunResult(outcome, detail="why"), None, "cpu")
        assert verdict.status is status
        assert verdict.summary == "why"


def test_an_error_comes_with_the_catalogues_explanation():
    learner = completed(
        exception=error("RuntimeError", "grad can be implicitly created only for scalar outputs")
    )
    verdict = check_run(exercise(), learner, completed({"y": tensor([2.0])}), "cpu")
    assert verdict.status is Status.ERROR
    assert verdict.explanation is not None
    assert verdict.explanation.lesson.startswith("backward-vector")
    from tutor.report import verdict_json, verdict_text

    text = verdict_text("mini/ex", verdict)
    assert "why: " in text and "pttutor --lesson backward-vector" in text
    assert verdict_json("mini/ex", verdict)["explanation"]["id"] == verdict.explanation.id


def test_a_failed_tensor_check_carries_its_tensor_report():
    ref = completed({"y": tensor([2.0, 4.0])})
    [failed] = check_run(exercise(), completed({"y": tensor([2.0, 5.0])}), ref, "cpu").checks
    report = failed.tensor_report
    assert report is not None and [i.name for i in report.failed] == ["values"]
    assert report.differs == ((False, True),)
    [passed] = check_run(exercise(), completed({"y": tensor([2.0, 4.0])}), ref, "cpu").checks
    assert passed.tensor_report is None
    literal = exercise(checks=[{"expr": "y", "expect": [1.0, 1.0]}])
    [check] = check_run(literal, completed({"y": tensor([1.0, 2.0])}), ref, "cpu").checks
    assert check.tensor_report is not None and check.tensor_report.differs == ((False, True),)
    plain = exercise(checks=[{"expr": "y"}])
    [check] = check_run(plain, completed({"y": 3}), completed({"y": 4}), "cpu").checks
    assert check.tensor_report is None  # not a tensor: the message says it all
