"""Learner code runs as a plain script would: a real `__main__` module."""

from __future__ import annotations

from tutor.sandbox.runner import Outcome, Runner, RunRequest

WHOLE_MODEL = """\
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)

model = Net()
torch.save(model, "model.pt")              # pickles Net by reference: __main__.Net
loaded = torch.load("model.pt", weights_only=False)
same = torch.equal(loaded.fc.weight, model.fc.weight)
kind = type(loaded).__name__

ran_as_script = False
if __name__ == "__main__":
    ran_as_script = True
"""


def test_a_class_the_learner_defined_saves_and_loads_as_a_whole_model(runner: Runner) -> None:
    result = runner.run(RunRequest(code=WHOLE_MODEL, exprs=("same", "kind", "ran_as_script")))
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.exception is None, result.exception
    assert result.values == {"same": True, "kind": "Net", "ran_as_script": True}
