"""Predict-first items: reading a prediction without running it, comparing it with the truth,
the verdict, the format and lint, and `pttutor verify` / `check --json` through the sandbox."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from tutor.checker import CheckState, Status, check_prediction
from tutor.cli import main
from tutor.grader import Grader
from tutor.lint import lint_pack
from tutor.predict import (
    DtypeName,
    Prediction,
    Raises,
    Truth,
    Unreadable,
    difference_from,
    judge,
    read_prediction,
    tensor_text,
    truth_text,
)
from tutor.report import verdict_json, verdict_text
from tutor.sandbox.runner import (
    EvalError,
    ExceptionInfo,
    Outcome,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
    TooLarge,
)
from tutor.schema import Exercise, lesson_json_schema
from tutor.values import DeviceValue, DtypeValue, ObjectValue, SizeValue

from .test_compare import tensor

# ------------------------------------------------------------------------- reading


def value_of(source: str):
    reading = read_prediction(source)
    assert isinstance(reading, Prediction), reading
    return reading.value


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("prediction = 8.0", 8.0),
        ("prediction = -3", -3),
        ("prediction = (2, 3)", (2, 3)),
        ("prediction = [[1.0, 2.0], [3.0, 4.0]]", [[1.0, 2.0], [3.0, 4.0]]),
        ('prediction = "torch.float32"', "torch.float32"),
        ("prediction = True", True),
        ("prediction = None", None),
        ("prediction = {'a': 1}", {"a": 1}),
        ("# a comment\n\nprediction = 2  # why\n", 2),
        ('"a note to myself"\nprediction = 2', 2),
        ("prediction = (1,\n              2)", (1, 2)),
        ("prediction = torch.Size([2, 3])", (2, 3)),
        ("prediction = torch.tensor([1.0, 2.0])", [1.0, 2.0]),
        ("prediction = torch.float64", DtypeName("float64")),
        ("prediction = torch.long", DtypeName("int64")),
        ('prediction = raises("RuntimeError")', Raises("RuntimeError")),
        ("prediction = raises(RuntimeError)", Raises("RuntimeError")),
        ("prediction = raises(torch.cuda.OutOfMemoryError)", Raises("OutOfMemoryError")),
    ],
)
def test_literal_predictions_are_read(source, value):
    assert value_of(source) == value


def test_nan_and_inf_are_read_as_python_and_torch_spell_them():
    got = value_of('prediction = [float("nan"), -math.inf, torch.inf, float("-inf")]')
    assert math.isnan(got[0]) and got[1:] == [-math.inf, math.inf, -math.inf]


def test_the_prediction_text_is_what_the_learner_wrote():
    reading = read_prediction("prediction = (2,\n   3)")
    assert isinstance(reading, Prediction) and reading.text == "(2, 3)"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("prediction = x.grad", "`x.grad` is not a value written out"),
        ("prediction = len(calls)", "`len(calls)` is not a value written out"),
        ("prediction = [1] * 3", "`[1] * 3` is not a value written out"),
        ("prediction = f(2)", "`f(2)` is not a value written out"),
        ("prediction = 1 / 3", "is not a value written out"),
        ("prediction = torch.tensor([1.0], dtype=torch.float64)", "values only"),
        ("prediction = torch.floaty", "is not a torch dtype"),
        ('prediction = raises("not a name!")', "exception class name"),
        ("prediction = torch.Size([2, -1])", "one list of sizes"),
        ("import torch\nprediction = 2", "line 1: only `prediction = ...` is read"),
        ("x = 2\nprediction = x", "line 1: only `prediction = ...` is read"),
        ("prediction = 1\nprediction = 2", "set on lines 1 and 2"),
        ("prediction = (1, 2", "Python cannot read this"),
        ("prediction = " + "[" * 40 + "]" * 40, "nested more than"),
        ("prediction = " + "1" * 20_000, "characters long"),
    ],
)
def test_anything_but_a_literal_is_refused_with_a_reason(source, says):
    reading = read_prediction(source)
    assert isinstance(reading, Unreadable) and not reading.placeholder
    assert says in reading.message


@pytest.mark.parametrize("source", ["prediction = ...", "prediction = [1.0, ...]", "", "# hm\n"])
def test_the_placeholder_means_no_prediction_yet(source):
    reading = read_prediction(source)
    assert isinstance(reading, Unreadable) and reading.placeholder


def test_a_prediction_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    source = f"prediction = open({str(marker)!r}, 'w').write('x')"
    assert isinstance(read_prediction(source), Unreadable)
    assert not marker.exists()


# ------------------------------------------------------------------------- judging


def error(kind="RuntimeError", bases=("Exception",), message="boom") -> ExceptionInfo:
    return ExceptionInfo(kind, "builtins", (kind, *bases, "BaseException", "object"), message)


def holds(predicted, truth: Truth) -> bool:
    return difference_from(predicted, truth) is None


def test_values_match_a_tensor_within_the_decimals_torch_prints():
    eight = Truth(tensor(8.0))
    assert holds(8.0, eight) and holds(8, eight)
    assert not holds(4.0, eight)
    third = Truth(tensor([1 / 3, 2 / 3]))
    assert holds([0.3333, 0.6667], third)
    assert not holds([0.33, 0.67], third)


def test_a_tensor_prediction_needs_the_right_shape():
    assert difference_from(2.0, Truth(tensor([2.0, 2.0]))) == (
        "its shape is [2]; your prediction has shape []"
    )
    assert difference_from([[1, 2], [3]], Truth(tensor([1.0, 2.0]))) is not None
    assert "predict its values" in difference_from("tensor", Truth(tensor([1.0])))


def test_nan_and_bool_tensors():
    assert holds([math.nan, 1.0], Truth(tensor([math.nan, 1.0])))
    assert holds([True, False], Truth(tensor([True, False], dtype="bool")))
    assert not holds([False, False], Truth(tensor([True, False], dtype="bool")))


def test_shapes_dtypes_devices_and_names():
    size = Truth(SizeValue((2, 3)))
    assert holds((2, 3), size) and holds([2, 3], size)
    assert not holds((3, 2), size) and not holds(6, size)
    dtype = Truth(DtypeValue("torch.float32"))
    for right in ("torch.float32", "float32", "torch.float", DtypeName("float32")):
        assert holds(right, dtype), right
    assert not holds("torch.float64", dtype) and not holds(DtypeName("int64"), dtype)
    assert holds("cpu", Truth(DeviceValue("cpu", None)))
    grad_fn = Truth(ObjectValue("object", "MulBackward0", "<MulBackward0 object at 0x1>"))
    assert holds("MulBackward0", grad_fn) and not holds("AddBackward0", grad_fn)


def test_python_values_bools_are_not_numbers():
    assert holds(True, Truth(True)) and not holds(1, Truth(True))
    assert holds(2, Truth(2)) and not holds(3, Truth(2))
    assert holds(0.1, Truth(0.10000000149)) and not holds(0.2, Truth(0.1))
    assert holds(None, Truth(None)) and not holds(0, Truth(None))
    assert holds((3, 1), Truth((3, 1))) and not holds((1, 3), Truth((3, 1)))
    assert not holds(float("9" * 300 + ".0"), Truth(1.0))
    assert not holds(int("9" * 400), Truth(1.5))  # too big for a float: just wrong


def test_raises_matches_by_class_including_subclasses():
    oom = Truth(raised=error("OutOfMemoryError", ("RuntimeError", "Exception")))
    assert holds(Raises("RuntimeError"), oom) and holds(Raises("OutOfMemoryError"), oom)
    assert difference_from(Raises("TypeError"), oom) == (
        "OutOfMemoryError is not a TypeError (nor a subclass of one)"
    )
    assert difference_from(8.0, oom) == ""  # the side-by-side says it all
    assert difference_from(Raises("RuntimeError"), Truth(tensor(8.0))) == (
        "it runs without an error"
    )


def test_the_truth_as_torch_prints_it():
    assert tensor_text(tensor(8.0)) == "tensor(8.)"
    assert tensor_text(tensor([0.5, 1.0], requires_grad=True)) == (
        "tensor([0.5000, 1.0000], requires_grad=True)"
    )
    assert tensor_text(tensor([[1, 2]], dtype="int32")) == "tensor([[1, 2]], dtype=torch.int32)"
    assert truth_text(Truth(SizeValue((4, 4)))) == "torch.Size([4, 4])"
    assert (
        truth_text(Truth(raised=error(message="bad view\nmore"))) == "raises RuntimeError: bad view"
    )


def test_judge_puts_prediction_and_truth_side_by_side():
    reading = read_prediction("prediction = 4.0")
    assert isinstance(reading, Prediction)
    result = judge(reading, Truth(tensor(8.0)), ask="x.grad", explain="They add up.")
    assert not result.matched
    assert result.side_by_side() == "you predicted 4.0 · it is tensor(8.)"
    raised = judge(reading, Truth(raised=error()), ask="x.grad", explain=None)
    assert raised.side_by_side() == "you predicted 4.0 · it raises RuntimeError: boom"


# ------------------------------------------------------------------------- verdicts

PREDICT = {
    "id": "twice",
    "title": "Twice",
    "task": "Two backward calls.",
    "starter": "prediction = ...",
    "solution": "prediction = 8.0",
    "predict": {
        "snippet": "import torch\nx = torch.tensor(2.0, requires_grad=True)\n",
        "ask": "x.grad",
        "explain": "Gradients accumulate.",
    },
}


def predict_exercise(**overrides) -> Exercise:
    return Exercise.model_validate({**PREDICT, **overrides})


def completed(values=None, exception=None) -> RunResult:
    return RunResult(Outcome.COMPLETED, values=values or {}, exception=exception, device="cpu")


def read(source: str) -> Prediction:
    reading = read_prediction(source)
    assert isinstance(reading, Prediction)
    return reading


def test_a_right_prediction_passes_with_the_explanation():
    verdict = check_prediction(
        predict_exercise(), read("prediction = 8.0"), completed({"x.grad": tensor(8.0)})
    )
    assert verdict.status is Status.PASSED
    assert verdict.prediction is not None and verdict.prediction.explain == "Gradients accumulate."
    [check] = verdict.checks
    assert check.state is CheckState.PASSED
    assert check.message == "you predicted 8.0 · it is tensor(8.)"


def test_a_wrong_prediction_fails_and_still_explains():
    verdict = check_prediction(
        predict_exercise(), read("prediction = 4.0"), completed({"x.grad": tensor(8.0)})
    )
    assert verdict.status is Status.FAILED
    assert verdict.checks[0].message == "you predicted 4.0 · it is tensor(8.)"
    assert "why: Gradients accumulate." in verdict_text("l/twice", verdict)
    data = verdict_json("l/twice", verdict)["prediction"]
    assert data == {
        "ask": "x.grad",
        "predicted": "4.0",
        "truth": "tensor(8.)",
        "matched": False,
        "raised": False,
        "detail": None,
        "explain": "Gradients accumulate.",
    }


def test_the_snippets_exception_is_the_truth_not_an_error_in_the_editor():
    boom = error(message="Only Tensors of floating point and complex dtype can require gradients")
    run = completed({"x.grad": EvalError(error("NameError"))}, exception=boom)
    verdict = check_prediction(predict_exercise(), read('prediction = raises("RuntimeError")'), run)
    assert verdict.status is Status.PASSED
    assert verdict.exception is None  # no traceback pointing into the editor
    assert verdict.prediction is not None and verdict.prediction.raised


def test_an_exception_from_the_question_is_the_truth_too():
    run = completed({"x.grad": EvalError(error("AttributeError"))})
    verdict = check_prediction(predict_exercise(), read("prediction = None"), run)
    assert verdict.status is Status.FAILED
    assert verdict.checks[0].message == "you predicted None · it raises AttributeError: boom"


@pytest.mark.parametrize(
    "run",
    [
        RunResult(Outcome.TIMEOUT, detail="ran for 10 s"),
        completed({"x.grad": TooLarge("too big")}),
        completed({}),
    ],
)
def test_a_snippet_that_gives_no_truth_is_the_lessons_fault(run):
    verdict = check_prediction(predict_exercise(), read("prediction = 8.0"), run)
    assert verdict.status is Status.INTERNAL_ERROR
    assert verdict.prediction is None  # nothing to show beside the prediction


class RecordingRunner(Runner):
    """Answers every run with one result, and remembers what it was asked to run."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.requests: list[RunRequest] = []

    def start(self, request: RunRequest) -> RunHandle:
        self.requests.append(request)
        result = self.result

        class Done(RunHandle):
            phase = "done"

            def result(self) -> RunResult:
                return result

            def cancel(self) -> None:
                pass

        return Done()


def test_the_grader_runs_the_snippet_never_the_editor_and_only_once():
    runner = RecordingRunner(completed({"x.grad": tensor(8.0)}))
    grader = Grader(runner, device="cpu")
    try:
        exercise = predict_exercise()
        assert grader.grade(exercise, "prediction = 4.0").status is Status.FAILED
        assert grader.grade(exercise, "prediction = 8.0").status is Status.PASSED
    finally:
        grader.close()
    [request] = runner.requests  # the snippet is fixed: its run is reused
    assert request.code == exercise.predict.snippet and request.exprs == ("x.grad",)
    assert request.trial_seeds == ()


def test_an_unreadable_prediction_runs_nothing_and_reveals_nothing():
    runner = RecordingRunner(completed({"x.grad": tensor(8.0)}))
    grader = Grader(runner, device="cpu")
    try:
        starter = grader.grade(predict_exercise(), "prediction = ...")
        code = grader.grade(predict_exercise(), "prediction = x.grad")
    finally:
        grader.close()
    assert runner.requests == []
    assert starter.status is Status.FAILED and starter.summary == "no prediction yet"
    assert code.status is Status.FAILED and code.summary == "your prediction cannot be read"
    assert starter.prediction is None and "tensor(8" not in verdict_text("l/x", code)


# ------------------------------------------------------------------------- the format


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"checks": [{"expr": "x"}]}, "remove `checks`"),
        ({"rules": {"require": ["backward"]}}, "remove `rules`"),
        ({"trials": 3}, "`trials` must be 1"),
        ({"predict": {**PREDICT["predict"], "ask": "x ="}}, "not a Python expression"),
        ({"predict": {**PREDICT["predict"], "snippet": "x = ("}}, "syntax error"),
        ({"predict": {"snippet": "x = 1", "ask": "x"}}, "explain"),
    ],
)
def test_the_format_refuses_what_a_predict_item_cannot_use(overrides, says):
    with pytest.raises(ValidationError, match=says):
        predict_exercise(**overrides)


def test_the_task_shows_the_snippet_and_the_question():
    exercise = predict_exercise()
    text = exercise.task_text
    assert text.startswith("Two backward calls.\n\n**Predict:** what is `x.grad` after this")
    assert text.endswith(
        "\n\n```python\nimport torch\nx = torch.tensor(2.0, requires_grad=True)\n```"
    )
    assert exercise.trial_count == 1 and exercise.reference_is_reusable
    plain = Exercise.model_validate({**PREDICT, "predict": None, "checks": [{"expr": "x"}]})
    assert plain.task_text == plain.task


def test_the_json_schema_describes_predict():
    defs = lesson_json_schema()["$defs"]
    assert set(defs["Predict"]["required"]) == {"snippet", "ask", "explain"}
    assert "predict" in defs["Exercise"]["properties"]


# ------------------------------------------------------------------------- lint

LESSON = """\
id: demo
title: Demo
intro: "# Demo"
exercises:
  - id: twice
    title: Twice
    task: Two backward calls.
    starter: |
      prediction = ...
    solution: |
      SOLUTION
    predict:
      snippet: |
        import torch
        x = torch.tensor(2.0, requires_grad=True)
        (x ** 2).backward()
        (x ** 2).backward()
      ask: ASK
      explain: Gradients add up.
    hints: [They add up.]
    shortcuts:
      - why: overwritten
        code: |
          SHORTCUT
"""


def lesson(solution="prediction = 8.0", ask="x.grad", shortcut="prediction = 4.0") -> str:
    return LESSON.replace("SOLUTION", solution).replace("ASK", ask).replace("SHORTCUT", shortcut)


def lint(tmp_path: Path, text: str) -> list[str]:
    root = tmp_path / "pack"
    root.mkdir(exist_ok=True)
    (root / "demo.yaml").write_text(text, encoding="utf-8")
    return [str(p).split(": ", 1)[1] for p in lint_pack(root)]


def test_a_good_predict_item_lints_clean(tmp_path):
    assert lint(tmp_path, lesson()) == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (lesson(solution="prediction = x.grad"), "the solution is not a prediction"),
        (lesson(ask="y.grad"), "'y' is not defined by the setup or the snippet"),
        (lesson(shortcut="prediction = x.grad * 2"), "this shortcut is not a prediction"),
    ],
)
def test_lint_finds_predict_mistakes(tmp_path, text, says):
    problems = lint(tmp_path, text)
    assert len(problems) == 1 and says in problems[0], problems


def test_a_predict_item_without_a_wrong_prediction_to_try_is_a_warning(tmp_path):
    text = lesson().split("    shortcuts:")[0]
    assert lint(tmp_path, text) == [
        "warning: exercises.0: no shortcuts: add a plausible wrong prediction (a wrong mental "
        "model) under `shortcuts:`, which verify proves fails"
    ]


# ------------------------------------------------------------------------- end to end


VIEW_ITEM = """\
  - id: view
    title: View of a transpose
    task: A transpose, then a view.
    starter: |
      prediction = ...
    solution: |
      prediction = raises("RuntimeError")
    predict:
      snippet: |
        import torch
        y = torch.zeros(2, 3).t()
      ask: y.view(6)
      explain: Not contiguous.
    hints: [Strides.]
    shortcuts:
      - why: the view works
        code: |
          prediction = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
"""


def test_verify_and_check_json_through_the_sandbox(tmp_path, capsys):
    root = tmp_path / "pack"
    root.mkdir()
    text = lesson() + VIEW_ITEM
    (root / "demo.yaml").write_text(text, encoding="utf-8")
    assert main(["verify", "--json", "--lessons", str(root), "--device", "cpu"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["result"] for r in rows] == ["ok", "ok"]
    assert all(s["ok"] for r in rows for s in r["shortcuts"])
    answer = tmp_path / "answer.py"
    answer.write_text("prediction = 4.0\n", encoding="utf-8")
    code = main(["check", "--lessons", str(root), "demo/twice", "--file", str(answer), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["status"] == "failed"
    assert report["prediction"]["predicted"] == "4.0"
    assert report["prediction"]["truth"] == "tensor(8.)"
    assert report["checks"][0]["message"] == "you predicted 4.0 · it is tensor(8.)"
