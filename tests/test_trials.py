"""Trials, functions under test and the pack's lib: the sandbox side, the parent's decoding,
the checker's verdicts and the grader's seeds (most tests here run no process)."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from tutor.checker import Status, check_run
from tutor.function_inputs import generate, parameter_names
from tutor.grader import Grader
from tutor.report import verdict_json, verdict_text
from tutor.sandbox.runner import (
    EvalError,
    ExceptionInfo,
    Frame,
    Outcome,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
    Shown,
    TrialResult,
    job_for,
    read_trials,
)
from tutor.sandbox.wire import DecodeError, Fields
from tutor.schema import Exercise, FunctionSpec
from tutor.values import Blobs, SizeValue, TensorValue


def tensor(values, dtype="float32") -> TensorValue:
    array = np.asarray(values, dtype=dtype)
    return TensorValue(dtype, tuple(array.shape), "cpu", False, True, None, False, array, None)


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


def run(values, *trials, exception=None, stdout="", calls=None) -> RunResult:
    return RunResult(
        Outcome.COMPLETED,
        values=values,
        exception=exception,
        stdout=stdout,
        device="cpu",
        trials=list(trials),
        calls=calls,
    )


def trial(index, values, exception=None, stdout="", inputs=None) -> TrialResult:
    return TrialResult(index, 1000 + index, exception, values, stdout, inputs or {})


def error(kind="RuntimeError", message="boom", line=2, origin="library") -> ExceptionInfo:
    return ExceptionInfo(
        kind, "builtins", (kind, "Exception"), message, (Frame(line, "<module>", "..."),), origin
    )


# -- the default number of trials -----------------------------------------------------------


def test_three_trials_when_a_check_compares_with_the_solution_else_one():
    assert exercise().trial_count == 3
    assert exercise(checks=[{"expr": "y", "expect": [2.0]}]).trial_count == 1
    assert exercise(checks=[{"stdout": "hi"}]).trial_count == 1
    assert exercise(trials=5).trial_count == 5
    assert exercise(trials=1).reference_is_reusable
    assert not exercise().reference_is_reusable
    function = {"name": "f", "args": [{"dtype": "int64", "shape": [3]}]}
    assert exercise(function=function).trial_count == 1
    assert not exercise(function=function, trials=1).reference_is_reusable


# -- the checker on hidden trials -----------------------------------------------------------


def test_a_hard_coded_answer_fails_on_the_hidden_trial_and_shows_its_data():
    ex = exercise()
    reference = run({"y": tensor([2.0, 4.0])}, trial(1, {"y": tensor([0.5, -1.0])}))
    learner = run(
        {"y": tensor([2.0, 4.0])},
        trial(1, {"y": tensor([2.0, 4.0])}, inputs={"x": tensor([0.25, -0.5]), "n": 2}),
    )
    verdict = check_run(ex, learner, reference, "cpu", trials=2)
    assert verdict.status is Status.FAILED
    [check] = verdict.checks
    assert check.trial == 1
    assert check.message.startswith(
        "right on the task's data, but not in trial 1 (other data, drawn for this run): "
        "values differ at 2 of 2 elements"
    )
    assert check.details == (
        "the data of trial 1 (seed 1001):",
        "  x = tensor([0.25, -0.5])",
        "  n = 2",
    )
    assert check.tensor_report is not None
    assert verdict_json("a/b", verdict)["checks"][0]["trial"] == 1
    assert "x = tensor([0.25, -0.5])" in verdict_text("a/b", verdict)


def test_right_on_every_trial_passes_and_a_missing_trial_fails_closed():
    ex = exercise()
    reference = run({"y": tensor([2.0])}, trial(1, {"y": tensor([6.0])}))
    learner = run({"y": tensor([2.0])}, trial(1, {"y": tensor([6.0])}))
    assert check_run(ex, learner, reference, "cpu", trials=2).passed
    short = run({"y": tensor([2.0])})
    verdict = check_run(ex, short, reference, "cpu", trials=2)
    assert verdict.status is Status.FAILED
    assert verdict.checks[0].message == "your run reported nothing for trial 1"


def test_a_literal_binds_hidden_trials_only_where_the_reference_meets_it():
    hooks = exercise(checks=[{"expr": "len(net._forward_hooks)", "expect": 0}])
    expr = "len(net._forward_hooks)"
    reference = run({expr: 0}, trial(1, {expr: 0}))
    verdict = check_run(hooks, run({expr: 0}, trial(1, {expr: 2})), reference, "cpu", trials=2)
    assert verdict.checks[0].message.endswith("expected 0, got 2")
    # A literal computed from the task's data: other data, other value, the reference decides.
    total = exercise(checks=[{"expr": "s", "expect": 6.0}])
    reference = run({"s": 6.0}, trial(1, {"s": 1.5}))
    assert check_run(
        total, run({"s": 6.0}, trial(1, {"s": 1.5})), reference, "cpu", trials=2
    ).passed
    verdict = check_run(total, run({"s": 6.0}, trial(1, {"s": 6.0})), reference, "cpu", trials=2)
    assert "not in trial 1" in verdict.checks[0].message
    assert "expected 1.5, got 6.0" in verdict.checks[0].message


def test_stdout_and_raises_checks_hold_in_hidden_trials_where_the_reference_meets_them():
    printed = exercise(checks=[{"stdout": "loss: 0.5"}, {"expr": "y"}])
    reference = run({"y": 1}, trial(1, {"y": 2}, stdout="loss: 0.9"), stdout="loss: 0.5")
    learner = run({"y": 1}, trial(1, {"y": 2}, stdout="loss: 0.9"), stdout="loss: 0.5")
    assert check_run(printed, learner, reference, "cpu", trials=2).passed  # data-bound text
    always = exercise(checks=[{"stdout": "done"}, {"expr": "y"}])
    reference = run({"y": 1}, trial(1, {"y": 2}, stdout="done"), stdout="done")
    learner = run({"y": 1}, trial(1, {"y": 2}, stdout="nothing"), stdout="done")
    verdict = check_run(always, learner, reference, "cpu", trials=2)
    assert "not in trial 1" in verdict.checks[0].message
    raising = exercise(checks=[{"raises": "RuntimeError"}, {"expr": "y"}])
    reference = run({"y": 1}, trial(1, {"y": 2}, error()), exception=error())
    learner = run({"y": 1}, trial(1, {"y": 2}), exception=error())
    verdict = check_run(raising, learner, reference, "cpu", trials=2)
    assert verdict.checks[0].message.endswith(
        "your code raised no exception; expected RuntimeError"
    )


def test_an_exception_in_a_hidden_trial_is_an_error_that_names_the_trial_and_its_data():
    ex = exercise()
    reference = run({"y": tensor([2.0])}, trial(1, {"y": tensor([6.0])}))
    crash = error("IndexError", "index 9 is out of bounds", line=3)
    learner = run({"y": tensor([2.0])}, trial(1, {"y": tensor([6.0])}, crash, inputs={"x": 3}))
    verdict = check_run(ex, learner, reference, "cpu", trials=2)
    assert verdict.status is Status.ERROR
    assert verdict.summary == (
        "IndexError: index 9 is out of bounds (line 3), in trial 1 (other data, drawn for this run)"
    )
    assert verdict.exception is crash
    assert "  x = 3" in verdict.notes
    # Wrong on the task's own data as well: that comes first, the crash is a note.
    wrong = run({"y": tensor([5.0])}, trial(1, {"y": tensor([6.0])}, crash))
    verdict = check_run(ex, wrong, reference, "cpu", trials=2)
    assert verdict.status is Status.FAILED and verdict.checks[0].trial is None
    assert verdict.notes == [
        "on other data (trial 1) your code raised IndexError: index 9 is out of bounds (line 3)"
    ]


# -- messages -------------------------------------------------------------------------------


def test_a_checks_own_message_comes_first_and_the_difference_after():
    ex = exercise(checks=[{"expr": "y", "message": "Double every element of x."}], trials=1)
    verdict = check_run(ex, run({"y": tensor([1.0])}), run({"y": tensor([2.0])}), "cpu")
    [check] = verdict.checks
    assert check.message == "Double every element of x."
    assert check.details[0].startswith("values differ at 1 of 1 elements")


def test_expect_with_a_dtype_checks_the_dtype():
    ex = exercise(checks=[{"expr": "s", "expect": [1, 2], "dtype": "int64"}])
    assert check_run(ex, run({"s": tensor([1, 2], "int64")}), None, "cpu").passed
    verdict = check_run(ex, run({"s": tensor([1, 2], "int32")}), None, "cpu")
    assert verdict.checks[0].message == "dtype is torch.int32, expected torch.int64"
    verdict = check_run(ex, run({"s": [1, 2]}), None, "cpu")
    assert verdict.checks[0].message == "expected a int64 tensor, got a list of 2 items"


def test_cut_details_say_how_many_more():
    ex = exercise(checks=[{"expr": "d"}], trials=1)
    expected = {f"k{i}": i for i in range(12)}
    got = {f"k{i}": i + 1 for i in range(12)}
    [check] = check_run(ex, run({"d": got}), run({"d": expected}), "cpu").checks
    assert len(check.details) == 8
    assert check.details[-1] == "and 4 more differences"


# -- where an expected exception comes from --------------------------------------------------


def test_a_raises_check_refuses_an_exception_the_code_raised_itself():
    ex = exercise(checks=[{"raises": "RuntimeError", "match": "implicitly"}])
    wanted = error(message="grad can be implicitly created only for scalar outputs")
    assert check_run(ex, run({}, exception=wanted), run({}), "cpu").passed
    forged = error(message=wanted.message, origin="raise")
    verdict = check_run(ex, run({}, exception=forged), run({}), "cpu")
    assert verdict.status is Status.FAILED
    assert verdict.checks[0].message == (
        "make the operation raise it; a raise statement you wrote does not count (line 2)"
    )
    code = "import torch\nraise RuntimeError('grad can be implicitly created')\n"
    verdict = check_run(ex, run({}, exception=wanted), run({}), "cpu", code=code)
    assert verdict.checks[0].message == (
        "make the operation raise it; a raise statement you wrote does not count (line 2)"
    )
    code = "import torch\nerror = RuntimeError\ntorch.ones(2) @ torch.ones(3)\n"
    verdict = check_run(ex, run({}, exception=wanted), run({}), "cpu", code=code)
    assert verdict.checks[0].message == (
        "make the operation raise it; your code may not produce it itself (line 2: names "
        "RuntimeError)"
    )


# -- rules and the harness guard in verdicts -------------------------------------------------


def test_rules_become_checklist_lines_and_fail_closed_without_the_code():
    ex = exercise(rules={"require": ["gather"], "no_loops": True}, trials=1)
    ref = run({"y": 2})
    verdict = check_run(ex, run({"y": 2}), ref, "cpu", code="y = p.gather(1, i)")
    assert verdict.passed and [c.label for c in verdict.checks] == ["y", "uses gather", "no loops"]
    verdict = check_run(ex, run({"y": 2}), ref, "cpu", code="y = [p[k] for k in i]")
    assert verdict.status is Status.FAILED
    assert verdict.checks[1].message.startswith("your code never uses `gather`")
    assert verdict.checks[2].message == (
        "line 1: a list comprehension; this exercise wants no loops"
    )
    verdict = check_run(ex, run({"y": 2}), ref, "cpu")
    assert verdict.status is Status.FAILED and verdict.checks[-1].label == "rules"


def test_code_that_reaches_into_the_harness_is_blocked_never_judged():
    verdict = check_run(
        exercise(), run({"y": 2}), run({"y": 2}), "cpu", code="import sys\nsys.modules['x']"
    )
    assert verdict.status is Status.BLOCKED and not verdict.passed
    assert verdict.summary == "line 2: `sys.modules` reaches into the tutor itself"
    assert verdict.checks == []


# -- functions under test --------------------------------------------------------------------


CUMSUM = {"name": "cumsum", "args": [{"dtype": "int64", "shape": ["n"]}], "sizes": {"n": [1, 3]}}


def cumsum_exercise(**overrides) -> Exercise:
    return exercise(checks=[], function={**CUMSUM, "count": 4}, **overrides)


def test_the_function_check_names_the_smallest_failing_input():
    ex = cumsum_exercise()
    inputs = generate(ex.function, seed=7, names=("a",))
    outputs = [tensor(np.cumsum(args[0]), "int64") for args in inputs.args]
    wrong = [*outputs[:2], tensor([0, 0, 0], "int64"), tensor([1, 1, 1], "int64")]
    verdict = check_run(ex, run({}, calls=wrong), run({}, calls=outputs), "cpu", inputs=inputs)
    [check] = verdict.checks
    assert check.label == "cumsum() on 4 inputs"
    assert check.message.startswith(
        "cumsum(a) is wrong for input 3 of 4 (the smallest that fails): values differ"
    )
    assert check.details[0] == f"input: {inputs.describe(2)}"
    assert check.details[1] == f"expected: tensor({np.cumsum(inputs.args[2][0]).tolist()})"
    assert check.details[2] == "got: tensor([0, 0, 0])"
    assert check_run(
        ex, run({}, calls=outputs), run({}, calls=outputs), "cpu", inputs=inputs
    ).passed


def test_an_exception_on_one_input_is_that_inputs_failure():
    ex = cumsum_exercise()
    inputs = generate(ex.function, seed=7, names=("a",))
    outputs = [tensor(np.cumsum(args[0]), "int64") for args in inputs.args]
    raised = EvalError(error("IndexError", "index 5 is out of bounds", line=4))
    verdict = check_run(
        ex, run({}, calls=[raised, *outputs[1:]]), run({}, calls=outputs), "cpu", inputs=inputs
    )
    assert verdict.checks[0].message == (
        "cumsum(a) is wrong for input 1 of 4: it raised IndexError: index 5 is out of bounds "
        "(line 4)"
    )
    missing = EvalError(
        ExceptionInfo(
            "NameError", "builtins", ("NameError",), "your code defines no function cumsum()"
        )
    )
    verdict = check_run(
        ex, run({}, calls=[missing] * 4), run({}, calls=outputs), "cpu", inputs=inputs
    )
    assert verdict.checks[0].message.endswith(": your code defines no function cumsum()")
    not_called = check_run(ex, run({}), run({}, calls=outputs), "cpu", inputs=inputs)
    assert not_called.checks[0].message == "the function was not called"


def test_inputs_are_drawn_small_first_and_differ_per_seed():
    spec = FunctionSpec.model_validate(
        {
            "name": "bincount",
            "args": [{"dtype": "int64", "shape": ["i"], "low": 0, "high": "j"}, {"size": "j"}],
            "sizes": {"i": [0, 2, 6], "j": [1, 4]},
            "count": 12,
        }
    )
    inputs = generate(spec, seed=1, names=("a", "j"))
    sizes = [(len(a), j) for a, j in inputs.args]
    assert sizes == sorted(sizes, key=lambda s: (sum(s), s))
    assert {s for s in sizes} == {(0, 1), (0, 4), (2, 1), (2, 4), (6, 1), (6, 4)}
    assert all(((a >= 0) & (a < j)).all() and a.dtype == np.int64 for a, j in inputs.args)
    again = generate(spec, seed=1, names=("a", "j"))
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(inputs.args, again.args, strict=True))
    other = generate(spec, seed=2, names=("a", "j"))
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(inputs.args, other.args, strict=True))
    assert inputs.call() == "bincount(a, j)"
    assert re.fullmatch(r"a = tensor\(\[.*\]\), j = \d", inputs.describe(11))
    assert parameter_names("def bincount(a, j):\n    return a", "bincount") == ("a", "j")


# -- decoding what the child reports about trials --------------------------------------------


def test_the_parent_takes_exactly_the_trials_it_asked_for():
    request = RunRequest(code="", exprs=("y",), seed=0, trial_seeds=(11, 22))
    good = {
        "trials": [
            {
                "index": 1,
                "seed": 11,
                "exception": None,
                "values": {"y": {"value": {"kind": "int", "value": 1}}},
                "stdout": "",
                "inputs": {
                    "n": {"value": {"kind": "int", "value": 3}},
                    "big": {"tensor": {"dtype": "float32", "shape": [100], "device": "cpu"}},
                    "net": {"type": "Linear"},
                },
            },
            {"index": 2, "seed": 22, "exception": None, "values": {}, "stdout": "hi", "inputs": {}},
        ]
    }
    result = RunResult(Outcome.COMPLETED)
    read_trials(result, Fields(good, "the result"), Blobs([]), request)
    assert [(t.index, t.seed) for t in result.trials] == [(1, 11), (2, 22)]
    assert result.trials[0].values == {"y": 1} and result.trials[1].stdout == "hi"
    assert result.trials[0].inputs == {
        "n": 3,
        "big": Shown("a tensor of shape [100], float32 on cpu"),
        "net": Shown("a Linear object"),
    }
    bad = [
        {"trials": good["trials"][:1]},  # one missing
        {"trials": [good["trials"][1], good["trials"][0]]},  # out of order
        {"trials": [{**good["trials"][0], "seed": 12}, good["trials"][1]]},  # not our seed
        {
            "trials": [
                {**good["trials"][0], "values": {"z": {"value": {"kind": "none"}}}},
                good["trials"][1],
            ]
        },  # a value nobody asked for
        {**good, "calls": []},  # results of a function nobody named
        {
            "trials": [
                {**good["trials"][0], "inputs": {"not a name": {"type": "x"}}},
                good["trials"][1],
            ]
        },
    ]
    for message in bad:
        with pytest.raises(DecodeError):
            read_trials(
                RunResult(Outcome.COMPLETED), Fields(message, "the result"), Blobs([]), request
            )


def test_the_job_carries_trials_lib_and_calls():
    request = RunRequest(
        code="y = 1",
        seed=5,
        trial_seeds=(7,),
        lib="def h(): pass",
        function="f",
        call_inputs=(("QUJD", 3),),
    )
    job = job_for(request, startup=0)
    assert job["trials"] == [{"index": 0, "seed": 5}, {"index": 1, "seed": 7}]
    assert job["lib"] == "def h(): pass"
    assert job["calls"] == {"name": "f", "inputs": [["QUJD", 3]]}
    assert job_for(RunRequest(code=""), startup=0)["calls"] is None


# -- the grader: seeds per run, the reference cache ------------------------------------------


class RecordingRunner(Runner):
    """Answers every run with `answer(request)`, and remembers the requests."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[RunRequest] = []
        self.lock = threading.Lock()

    def start(self, request: RunRequest) -> RunHandle:
        with self.lock:
            self.requests.append(request)
        return _Done(self.answer(request))


class _Done(RunHandle):
    def __init__(self, result: RunResult) -> None:
        self._result = result

    def result(self) -> RunResult:
        return self._result

    def cancel(self) -> None:
        pass


def doubled(request: RunRequest) -> RunResult:
    """Every run computes y = 2 * seed: right for any code, in every trial."""
    seeds = (request.seed, *request.trial_seeds)
    trials = [TrialResult(i, s, values={"y": 2 * s}) for i, s in enumerate(seeds) if i]
    return RunResult(Outcome.COMPLETED, values={"y": 2 * request.seed}, device="cpu", trials=trials)


def test_hidden_seeds_are_drawn_per_run_and_shared_by_both_runs():
    runner = RecordingRunner(doubled)
    grader = Grader(runner, device="cpu")
    ex = exercise(seed=3)
    assert grader.grade(ex, "y = x * 2").passed
    assert grader.grade(ex, "y = x * 2").passed
    first, second = runner.requests[:2], runner.requests[2:]
    assert {r.code for r in first} == {"y = x * 2", ex.solution}
    assert all(r.seed == 3 and len(r.trial_seeds) == 2 for r in runner.requests)
    assert first[0].trial_seeds == first[1].trial_seeds  # learner and reference: same data
    assert first[0].trial_seeds != second[0].trial_seeds  # a new draw on every run
    assert first[0].timeout == 3 * ex.timeout
    grader.close()


def test_only_a_single_trial_exercise_reuses_its_reference_run():
    runner = RecordingRunner(doubled)
    grader = Grader(runner, device="cpu")
    single = exercise(trials=1)
    for _ in range(3):
        grader.grade(single, "y = x + x")
    assert [r.code for r in runner.requests].count(single.solution) == 1
    runner.requests.clear()
    for _ in range(3):
        grader.grade(exercise(), "y = x + x")
    assert [r.code for r in runner.requests].count(exercise().solution) == 3
    grader.close()


def test_the_grader_refuses_harness_reaching_code_without_running_anything():
    runner = RecordingRunner(doubled)
    grader = Grader(runner, device="cpu")
    verdict = grader.grade(exercise(), "import gc\ny = gc.get_objects()")
    assert verdict.status is Status.BLOCKED and runner.requests == []
    grader.close()


def test_the_grader_sends_the_same_inputs_to_both_runs_named_after_the_solution():
    def answer(request: RunRequest) -> RunResult:
        return RunResult(
            Outcome.COMPLETED, device="cpu", calls=[tensor([1], "int64")] * len(request.call_inputs)
        )

    runner = RecordingRunner(answer)
    grader = Grader(runner, device="cpu")
    ex = cumsum_exercise(solution="def cumsum(values):\n    return values")
    verdict = grader.grade(ex, "def cumsum(a):\n    return a")
    assert verdict.passed, verdict.checks
    learner, reference = sorted(
        runner.requests, key=lambda r: r.code != "def cumsum(a):\n    return a"
    )
    assert learner.function == reference.function == "cumsum"
    assert learner.call_inputs == reference.call_inputs and len(learner.call_inputs) == 4
    grader.close()


# -- the real sandbox -------------------------------------------------------------------------


def test_hidden_trials_rerun_lib_setup_and_code_with_their_own_seeds(runner):
    request = RunRequest(
        code="seen = 'trial' in globals()\ny = x * 2\nprint('sum', float(y.sum()))\n"
        "torch.set_grad_enabled(False)\nhelper = lambda v: 'forged'\n",
        setup="import torch\nn = 2 if trial == 0 else 3\nx = torch.randn(n)\n"
        "big = torch.zeros(100)\ngrad_on = torch.is_grad_enabled()\nfrom_lib = helper(1)\n",
        lib="def helper(v):\n    return v + 1\n",
        exprs=("seen", "y.shape", "grad_on", "helper(1)", "from_lib"),
        seed=1,
        trial_seeds=(11, 22),
    )
    result = runner.run(request)
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.stdout.count("sum") == 1  # the hidden trials' output is kept apart
    assert result.values["y.shape"] == SizeValue((2,))
    assert [(t.index, t.seed) for t in result.trials] == [(1, 11), (2, 22)]
    for hidden in result.trials:
        assert hidden.exception is None
        assert hidden.stdout.startswith("sum ")
        assert hidden.values["y.shape"] == SizeValue((3,))
        assert hidden.values["seen"] is False  # `trial` is gone before the code runs
        assert hidden.values["grad_on"] is True  # what trial 0's code switched off is reset
        assert hidden.values["helper(1)"] == 2  # the check calls the lib's helper, not theirs
        assert hidden.values["from_lib"] == 2
        assert isinstance(hidden.inputs["x"], TensorValue) and hidden.inputs["x"].shape == (3,)
        assert hidden.inputs["big"] == Shown("a tensor of shape [100], float32 on cpu")
        assert hidden.inputs["n"] == 3
    first, second = (t.inputs["x"].array for t in result.trials)
    assert not np.array_equal(first, second)
    assert result.values["helper(1)"] == 2


def test_the_function_under_test_is_called_on_every_input_in_the_sandbox(runner):
    spec = FunctionSpec.model_validate(
        {
            "name": "f",
            "args": [{"dtype": "int64", "shape": ["n"]}, {"size": "n"}],
            "sizes": {"n": [0, 2, 4]},
            "count": 3,
        }
    )
    inputs = generate(spec, seed=3, names=("a", "n"))
    code = "def f(a, n):\n    if n == 2:\n        raise ValueError('two')\n    return a * 2 + n\n"
    request = RunRequest(code=code, function="f", call_inputs=inputs.encoded())
    result = runner.run(request)
    assert result.outcome is Outcome.COMPLETED, result.detail
    zero, two, four = result.calls
    assert isinstance(zero, TensorValue) and zero.shape == (0,) and zero.dtype == "int64"
    assert isinstance(two, EvalError) and two.error.headline() == "ValueError: two"
    assert two.error.origin == "raise" and two.error.line == 3
    assert np.array_equal(four.array, inputs.args[2][0] * 2 + 4)
    missing = runner.run(RunRequest(code="g = 1", function="f", call_inputs=inputs.encoded()))
    assert [c.error.message for c in missing.calls] == ["your code defines no function f()"] * 3


def test_the_child_tells_a_raise_statement_from_a_library_error(runner):
    own = runner.run(RunRequest(code="raise RuntimeError('shapes cannot be multiplied')"))
    assert own.exception is not None and own.exception.origin == "raise"
    library = runner.run(RunRequest(code="import torch\ntorch.ones(2, 3) @ torch.ones(2, 3)\n"))
    assert library.exception is not None and library.exception.origin == "library"
    assert "cannot be multiplied" in library.exception.message


# -- the pack's lib ---------------------------------------------------------------------------

LESSON = """\
id: mini
title: Mini
intro: "# Mini"
exercises:
  - id: one
    title: One
    task: Set `y` to `helper(1)`.
    starter: |
      y = 0
    solution: |
      y = helper(1)
    checks:
      - expr: helper(y)
    hints: [Call it.]
"""


def test_pack_yaml_is_loaded_for_every_exercise_and_is_not_a_lesson(write_pack):
    from tutor.lint import lint_pack
    from tutor.loader import load_pack

    root = write_pack(
        {"mini.yaml": LESSON, "pack.yaml": "lib: |\n  def helper(v):\n    return v\n"}
    )
    pack = load_pack(root)
    assert pack.problems == [] and [lesson.id for lesson in pack.lessons] == ["mini"]
    [(_, exercise)] = pack.exercises()
    assert exercise.pack_lib == "def helper(v):\n  return v\n"
    assert lint_pack(root) == []  # `helper` in a check is defined, by the lib


def test_a_broken_pack_yaml_is_reported_at_its_line(write_pack):
    from tutor.loader import load_pack

    root = write_pack({"mini.yaml": LESSON, "pack.yaml": "lib: |\n  def helper(v)\n    return v\n"})
    [problem] = load_pack(root).problems
    assert str(problem) == (
        f"{root / 'pack.yaml'}:2: lib: Python syntax error on line 1 of this code: expected ':'"
    )
    root = write_pack({"mini.yaml": LESSON, "pack.yaml": "lib: ''\nlibs: x\n"})
    [problem] = load_pack(root).problems
    assert problem.line == 2 and "unknown field" in problem.message
