"""Silent slips: an attribute torch never reads, set by mistake, is named after the run."""

from __future__ import annotations

import pytest

from tutor.checker import Status
from tutor.grader import Grader
from tutor.sandbox.runner import DecodeError, Outcome, Runner, RunRequest, Slip, _slip
from tutor.schema import Exercise

SLIPS = """\
import torch
from torch import nn

w = torch.ones(2)
w.requires_gradn = True
model = nn.Linear(2, 1)
model.trainning = False
model.hidden = 16            # a module's own attribute: fine
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
optimizer.lr = 0.01
"""


def test_the_child_reports_each_slip_by_name(runner: Runner) -> None:
    result = runner.run(RunRequest(code=SLIPS))
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert [(s.owner, s.attr, s.suggest) for s in result.slips] == [
        ("w", "requires_gradn", "requires_grad"),
        ("model", "trainning", "training"),
        ("optimizer", "lr", "param_groups[0]['lr']"),
    ]


def test_correct_code_has_no_slips(runner: Runner) -> None:
    code = (
        "import torch\nw = torch.ones(2, requires_grad=True)\nw.requires_grad_(False)\n"
        "m = torch.nn.LSTM(3, 4)\nm.train(False)\n"
    )
    assert runner.run(RunRequest(code=code)).slips == ()


def test_a_slip_is_a_note_on_the_verdict_even_when_it_passes(runner: Runner) -> None:
    exercise = Exercise.model_validate(
        {
            "id": "slip",
            "title": "t",
            "task": "t",
            "starter": "y = 0",
            "solution": "y = 1",
            "checks": [{"expr": "y", "expect": 1}],
        }
    )
    grader = Grader(runner, device="cpu")
    verdict = grader.grade(
        exercise, "import torch\nw = torch.ones(1)\nw.requires_gradn = True\ny = 1"
    )
    assert verdict.status is Status.PASSED
    assert any("`w.requires_gradn`" in n and "`requires_grad`" in n for n in verdict.notes)


@pytest.mark.parametrize(
    "data",
    [
        {"owner": "w", "kind": "tensor", "attr": "x\x1b[2J", "suggest": "y"},
        {"owner": "w", "kind": "dict", "attr": "x", "suggest": "y"},
        {"owner": "w", "kind": "tensor", "attr": "x", "suggest": "rm -rf /"},
        {"owner": 3, "kind": "tensor", "attr": "x", "suggest": "y"},
    ],
)
def test_a_malformed_slip_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(DecodeError):
        _slip(data)


def test_the_note_reads_well() -> None:
    slip = Slip("w", "tensor", "requires_gradn", "requires_grad")
    assert slip.describe() == (
        "you set `w.requires_gradn`; did you mean `requires_grad`? Tensors accept any "
        "attribute, so setting it did nothing (w is a tensor)"
    )
