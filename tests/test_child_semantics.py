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


LOADER = """\
import torch
from torch.utils.data import DataLoader, TensorDataset

if __name__ == "__main__":
    data = TensorDataset(torch.arange(64.0).reshape(32, 2), torch.arange(32))
    total = 0.0
    for xb, yb in DataLoader(data, batch_size=8, num_workers=2):
        total += float(xb.sum())
"""


def test_dataloader_workers_run_or_fail_with_a_sandbox_message() -> None:
    """Inside namespaces the run has its own /dev/shm, so workers run; without them shared
    memory is denied and the learner gets a permission error, never an unexplained crash."""
    from tutor.sandbox.pool import WarmRunner

    for namespaces in (True, False):
        pool = WarmRunner(spares=1, namespaces=namespaces)
        try:
            result = pool.run(RunRequest(code=LOADER, exprs=("total",), timeout=60))
        finally:
            pool.close()
        assert result.outcome is Outcome.COMPLETED, result.detail
        if result.sandbox and result.sandbox.get("namespaces"):
            assert result.exception is None, result.exception
            assert result.values["total"] == 2016.0
        else:
            assert result.exception is not None and result.exception.is_a("PermissionError")


SHAPE_SLIP = """\
import torch
from torch import nn

h = torch.ones(64, 100)
W = torch.ones(784, 10)
layer = nn.Linear(784, 10)
calls = []

def forward(x):
    calls.append(1)
    return x

out = forward(h) @ W + layer.bias
"""


def test_a_shape_error_names_the_shape_of_each_tensor_on_the_line(runner: Runner) -> None:
    result = runner.run(RunRequest(code=SHAPE_SLIP, exprs=("calls",)))
    assert result.outcome is Outcome.COMPLETED, result.detail
    error = result.exception
    assert error is not None and "cannot be multiplied" in error.message
    described = [o.describe() for o in error.operands]
    assert described == [
        "`h` is float32[64, 100]",
        "`W` is float32[784, 10]",
        "`layer.bias` is float32[10]",
    ]
    assert result.values["calls"] == [1], "the failing line ran twice"


def test_other_errors_carry_no_operands(runner: Runner) -> None:
    result = runner.run(RunRequest(code="import torch\nx = torch.ones(2)\nx.nope()"))
    assert result.exception is not None and result.exception.operands == ()


def test_check_json_and_text_show_the_operands() -> None:
    from tutor.checker import Status, Verdict
    from tutor.report import verdict_json, verdict_text
    from tutor.sandbox.runner import ExceptionInfo, Operand, RunResult

    error = ExceptionInfo(
        "RuntimeError",
        "builtins",
        ("RuntimeError",),
        "mat1 and mat2 ...",
        operands=(Operand("h", "float32", (64, 100), "cpu"),),
    )
    verdict = Verdict(Status.ERROR, "boom", run=RunResult(Outcome.COMPLETED, exception=error))
    assert "on that line: `h` is float32[64, 100]" in verdict_text("l/e", verdict)
    operands = verdict_json("l/e", verdict)["error"]["operands"]
    assert operands == [{"expr": "h", "dtype": "float32", "shape": [64, 100], "device": "cpu"}]
    from tutor.ui.results import render_verdict  # the results pane (a pure renderer)

    assert "On that line: `h` is float32[64, 100]" in render_verdict(verdict).plain


def test_checks_see_what_setup_gave_under_given_whatever_the_code_rebinds(runner: Runner) -> None:
    request = RunRequest(
        setup="import torch\nx = torch.zeros(2)\nalias = x\n",
        code="x.add_(1)\nalias = torch.ones(2) * 5\ngiven = {'alias': alias}\n",
        exprs=("given['alias'].tolist()", "given['x'] is x", "sorted(given)"),
    )
    result = runner.run(request)
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.values == {
        "given['alias'].tolist()": [1.0, 1.0],  # the object setup named alias, changed in place
        "given['x'] is x": True,
        "sorted(given)": ["alias", "torch", "x"],
    }


def test_the_code_starts_from_its_own_seed_not_setups(runner: Runner) -> None:
    """A model built in the code must not start with the weights of one setup built: then
    code that should load them would pass without loading."""
    request = RunRequest(
        setup="import torch\nfrom torch import nn\ngiven_net = nn.Linear(3, 2)\n",
        code="from torch import nn\nnet = nn.Linear(3, 2)\n",
        exprs=("torch.equal(net.weight, given_net.weight)",),
    )
    result = runner.run(request)
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.values == {"torch.equal(net.weight, given_net.weight)": False}
