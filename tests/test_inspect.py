"""Structure and autograd-graph extraction, through the real sandbox (one warm pool for all).

The child walks the learner's namespace after the checks (`inspect_run` in child.py) and the
parent decodes it (`tutor.inspect_model`); these tests run known models and graphs end to end.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator

import pytest

from tutor.checker import check_run
from tutor.inspect_model import (
    AutogradGraph,
    GraphNode,
    ModuleNode,
    Structure,
    decode_inspect,
    format_shape,
    summary_lines,
)
from tutor.report import verdict_json, verdict_text
from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import Outcome, RunRequest, RunResult
from tutor.schema import Exercise

NEURAL_NETWORK = """\
import torch
from torch import nn

class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        return self.linear_relu_stack(x)

model = NeuralNetwork()
X = torch.rand(3, 28, 28)
logits = model(X)
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[WarmRunner]:
    runner = WarmRunner(spares=1)
    yield runner
    runner.close()


def run(pool: WarmRunner, code: str, **request: object) -> RunResult:
    result = pool.run(RunRequest(code=textwrap.dedent(code), **request))  # type: ignore[arg-type]
    assert result.outcome is Outcome.COMPLETED, result.detail
    return result


def structure_of(result: RunResult) -> Structure:
    assert result.structure is not None
    assert result.structure.error is None, result.structure.error
    return result.structure


def graph_of(result: RunResult) -> AutogradGraph:
    assert result.graph is not None
    assert result.graph.error is None, result.graph.error
    return result.graph


def chain(node: GraphNode) -> list[str]:
    """Node names along the first child at every level."""
    names = [node.name]
    while node.children:
        node = node.children[0]
        names.append(node.name)
    return names


# ----------------------------------------------------------------------------------- structure


def test_the_seed_neural_network(pool: WarmRunner) -> None:
    structure = structure_of(run(pool, NEURAL_NETWORK, exprs=("logits",)))
    [model] = structure.modules
    assert (model.name, model.type) == ("model", "NeuralNetwork")
    assert [c.name for c in model.children] == ["flatten", "linear_relu_stack"]
    linears = [n for n in model.walk() if n.type == "Linear"]
    assert [n.path for n in linears] == [
        "model.linear_relu_stack.0",
        "model.linear_relu_stack.2",
        "model.linear_relu_stack.4",
    ]
    assert [n.params[0].shape for n in linears] == [(512, 784), (512, 512), (10, 512)]
    assert [n.params[1].shape for n in linears] == [(512,), (512,), (10,)]
    assert [n.own_params for n in linears] == [401_920, 262_656, 5_130]
    assert all(p.trainable and p.dtype == "float32" for n in linears for p in n.params)
    assert model.total_params == structure.total_params == 669_706
    assert structure.trainable_params == 669_706 and structure.frozen_params == 0
    assert model.devices() == ["cpu"]
    assert not model.frozen and not model.hook_count
    assert all(n.output_shape is None for n in model.walk())  # no sample input given
    text = "\n".join(summary_lines(structure))
    assert "Total params: 669,706" in text
    assert "weight [512, 784]" in text and "weight [10, 512]" in text


def test_a_sample_input_gives_every_output_shape(pool: WarmRunner) -> None:
    result = run(pool, NEURAL_NETWORK, exprs=("logits",), sample_input="X[:2]")
    structure = structure_of(result)
    assert structure.sample_input == "X[:2]" and structure.sample_errors == ()
    model = structure.modules[0]
    shapes = {n.path: n.output_shape for n in model.walk()}
    assert shapes["model"] == [2, 10]
    assert shapes["model.flatten"] == [2, 784]
    assert shapes["model.linear_relu_stack.0"] == [2, 512]
    assert shapes["model.linear_relu_stack.4"] == [2, 10]
    assert "[2, 784]" in "\n".join(summary_lines(structure))


def test_a_frozen_layer(pool: WarmRunner) -> None:
    code = """\
        import torch
        from torch import nn
        net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        net[0].requires_grad_(False)
        net[2].bias.requires_grad_(False)
    """
    structure = structure_of(run(pool, code))
    [net] = structure.modules
    first, relu, last = net.children
    assert first.frozen and not first.partly_frozen
    assert [p.trainable for p in first.params] == [False, False]
    assert last.partly_frozen and [p.trainable for p in last.params] == [True, False]
    assert not relu.frozen  # no parameters: neither frozen nor trainable
    assert structure.total_params == 15 + 8
    assert structure.trainable_params == 6
    assert structure.frozen_params == 17
    text = "\n".join(summary_lines(structure))
    assert "Non-trainable params: 17" in text and "frozen" in text


def test_hooks_are_counted_and_ours_are_removed(pool: WarmRunner) -> None:
    code = """\
        import torch
        from torch import nn
        seen = []
        net = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
        net[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
        net[0].register_forward_pre_hook(lambda m, i: print("pre-hook ran"))
        net[1].register_full_backward_hook(lambda m, gi, go: None)
        net[0].weight.register_hook(lambda g: g)
        out = net(torch.ones(1, 2)).sum()
    """
    result = run(
        pool,
        code,
        exprs=("len(seen)", "len(net[0]._forward_hooks)"),
        sample_input="torch.ones(5, 2)",
    )
    [net] = structure_of(result).modules
    linear, tanh = net.children
    assert dict(linear.hooks) == {"forward_pre": 1, "forward": 1, "tensor": 1}
    assert dict(tanh.hooks) == {"backward": 1}
    assert linear.output_shape == [5, 2]
    # The checks saw the namespace before the sample forward pass ran the learner's hooks,
    # whose prints did not reach the learner's output, and our hooks are gone again.
    assert result.values["len(seen)"] == 1
    assert result.values["len(net[0]._forward_hooks)"] == 1
    assert result.stdout == "pre-hook ran\n"
    assert "1 forward hook" in "\n".join(summary_lines(structure_of(result)))


def test_children_of_listed_modules_and_aliases_are_not_repeated(pool: WarmRunner) -> None:
    code = """\
        import torch
        from torch import nn
        encoder = nn.Linear(4, 4)
        model = nn.Sequential(encoder, nn.ReLU())
        same = model
        loss_fn = nn.MSELoss()
        shared = nn.Linear(2, 2)
        twice = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared))
    """
    structure = structure_of(run(pool, code))
    assert [(m.name, m.type) for m in structure.modules] == [
        ("model", "Sequential"),
        ("loss_fn", "MSELoss"),
        ("twice", "Sequential"),
    ]
    twice = structure.modules[2]
    assert twice.children[1].children[0].same_as == "twice.0.0"  # one module, two places
    assert twice.total_params == 6  # counted once
    assert structure.total_params == 20 + 6


def test_exercise_names_what_to_show(pool: WarmRunner) -> None:
    code = """\
        import torch
        from torch import nn
        model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        other = nn.Linear(1, 1)
        x = torch.ones(1)
    """
    structure = structure_of(run(pool, code, inspect=("model[0]", "x", "missing")))
    assert [(m.name, m.type) for m in structure.modules] == [("model[0]", "Linear")]
    assert structure.total_params == 20
    assert structure.problems[0] == "x is a Tensor, not an nn.Module"
    assert structure.problems[1].startswith("missing: NameError")


def test_a_failing_sample_input_only_drops_the_shapes(pool: WarmRunner) -> None:
    result = run(pool, NEURAL_NETWORK, exprs=("logits",), sample_input="torch.ones(2, 5)")
    structure = structure_of(result)
    assert structure.modules[0].total_params == 669_706
    assert all(n.output_shape is None for n in structure.modules[0].walk() if n.type == "Linear")
    [problem] = structure.sample_errors
    assert problem.startswith("model(torch.ones(2, 5)): RuntimeError")


def test_a_hostile_module_never_fails_the_run(pool: WarmRunner) -> None:
    code = """\
        import torch
        from torch import nn
        class Weird(nn.Module):
            def named_children(self):
                raise RuntimeError("no children for you")
        weird = Weird()
        y = torch.ones(2)
    """
    result = run(pool, code, exprs=("y",))
    assert result.values["y"].shape == (2,)
    assert result.structure is not None
    assert result.structure.error == "RuntimeError: no children for you"
    assert "could not be read" in summary_lines(result.structure)[0]


def test_a_hanging_forward_is_stopped_and_the_run_completes(pool: WarmRunner) -> None:
    code = """\
        import torch
        from torch import nn
        class Forever(nn.Module):
            def forward(self, x):
                while True:
                    pass
        model = Forever()
        y = torch.ones(1)
    """
    result = run(pool, code, exprs=("y",), sample_input="y", timeout=5)
    assert result.values["y"].shape == (1,)
    assert result.structure is not None and result.structure.error is not None
    stopped = re.fullmatch(
        r"_InspectTimeout: inspection stopped after (\d+\.\d+) s", result.structure.error
    )
    assert stopped, result.structure.error
    assert 0 < float(stopped[1]) <= 1.0  # its own budget: at most 1 s of the run's 5


def test_module_caps(pool: WarmRunner) -> None:
    code = """\
        import torch
        from torch import nn
        big = nn.Sequential(*[nn.Linear(1, 1) for _ in range(400)])
        deep = nn.Linear(1, 1)
        for _ in range(30):
            deep = nn.Sequential(deep)
    """
    structure = structure_of(run(pool, code))
    big, deep = structure.modules
    assert structure.truncated
    assert big.total_params == 800  # the totals count every module, listed or not
    assert len(big.children) + big.children_more == 400 and big.children_more > 0
    assert sum(len(m.walk()) for m in structure.modules) <= 250 + 1  # a root is always listed
    depth, node = 0, deep
    while node.children:
        node, depth = node.children[0], depth + 1
    assert depth <= 12 and node.children_more == 1
    assert deep.total_params == 2


# ------------------------------------------------------------------------------------- graph


def test_the_blitz_graph_down_to_the_leaf_x(pool: WarmRunner) -> None:
    code = """\
        import torch
        x = torch.ones(2, 2, requires_grad=True)
        out = (3 * (x + 2) ** 2).mean()
        out.backward()
    """
    graph = graph_of(run(pool, code, exprs=("x",)))
    assert (graph.target, graph.shape, graph.grad_fn) == ("out", (), "MeanBackward0")
    assert graph.root is not None
    assert chain(graph.root) == [
        "MeanBackward0",
        "MulBackward0",
        "PowBackward0",
        "AddBackward0",
        "AccumulateGrad",
    ]
    assert graph.root.var == "out"
    [leaf] = graph.leaves()
    assert (leaf.name, leaf.shape, leaf.requires_grad, leaf.has_grad) == ("x", (2, 2), True, True)
    assert not graph.truncated and graph.nodes == 5
    assert graph.cut == ()


def test_a_node_used_twice_is_a_repeat(pool: WarmRunner) -> None:
    code = """\
        import torch
        x = torch.ones(2, 2, requires_grad=True)
        y = x + 2
        z = y * y * 3
        out = z.mean()
    """
    graph = graph_of(run(pool, code))
    assert graph.root is not None
    mul = graph.root.children[0].children[0]  # y * y, under z = (y * y) * 3
    assert graph.root.children[0].var == "z"
    assert [(c.name, c.var, c.repeat) for c in mul.children] == [
        ("AddBackward0", "y", False),
        ("AddBackward0", "y", True),
    ]
    assert mul.children[0].id == mul.children[1].id
    assert [leaf.name for leaf in graph.leaves()] == ["x"]


def test_a_detached_branch_is_marked_as_cut(pool: WarmRunner) -> None:
    code = """\
        import torch
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        y = w ** 2
        d = y.detach()
        with torch.no_grad():
            e = w * 3
        loss = (y * d).sum() + e.sum()
        loss.backward()
    """
    graph = graph_of(run(pool, code))
    assert graph.target == "loss" and graph.root is not None
    assert [leaf.name for leaf in graph.leaves()] == ["w"]
    cut = {c.name: c for c in graph.cut}
    assert cut["d"].detached_from == "y"
    assert cut["e"].detached_from is None and cut["e"].shape == (2,)
    assert "y" not in cut and "w" not in cut


def test_model_parameters_are_named_leaves(pool: WarmRunner) -> None:
    code = NEURAL_NETWORK + "loss = logits.pow(2).mean()\n"
    graph = graph_of(run(pool, code))
    names = {leaf.name for leaf in graph.leaves()}
    assert "model.linear_relu_stack.0.weight" in names
    assert "model.linear_relu_stack.4.bias" in names
    assert all(leaf.is_parameter for leaf in graph.leaves())


def test_choosing_the_tensor(pool: WarmRunner) -> None:
    code = textwrap.dedent(
        """\
        import torch
        a = torch.ones(3, requires_grad=True)
        h = a * 2
        total = h.sum()
        later = (h ** 2).mean()
        """
    )
    assert graph_of(run(pool, code)).target == "later"  # the last scalar with a grad_fn
    assert graph_of(run(pool, code, graph="h")).target == "h"
    assert graph_of(run(pool, code + "h2 = h * 1\n")).target == "later"
    assert graph_of(run(pool, code + "out = a.sum()\n")).target == "out"
    broken = run(pool, code, graph="len(h)")
    assert broken.graph is not None and broken.graph.error == "len(h) is a int, not a tensor"
    nothing = run(pool, "import torch\nt = torch.ones(2)\n")
    assert nothing.graph is None


def test_a_loss_without_history_says_why(pool: WarmRunner) -> None:
    code = """\
        import torch
        x = torch.ones(2, 2)
        out = (3 * (x + 2) ** 2).mean()
    """
    graph = graph_of(run(pool, code))
    assert graph.target == "out" and graph.root is None and graph.grad_fn is None
    assert graph.note is not None and "autograd recorded nothing" in graph.note


def test_graph_caps(pool: WarmRunner) -> None:
    wide = """\
        import torch
        ws = [torch.ones(1, requires_grad=True) for _ in range(300)]
        loss = torch.stack(ws).sum()
    """
    graph = graph_of(run(pool, wide))
    assert graph.truncated and graph.nodes == 200
    assert graph.root is not None
    stack = graph.root.children[0]
    assert stack.name == "StackBackward0"
    assert len(stack.children) == 198 and stack.more == 102
    deep = """\
        import torch
        w = torch.ones(1, requires_grad=True)
        loss = w * 1
        for i in range(100):
            loss = loss + 1
    """
    graph = graph_of(run(pool, deep))
    assert graph.truncated and graph.root is not None
    assert len(chain(graph.root)) == 64


# ------------------------------------------------------------------------ headless, decoding


def test_check_json_and_text_carry_the_structure_and_graph(pool: WarmRunner) -> None:
    exercise = Exercise.model_validate(
        {
            "id": "net",
            "title": "Net",
            "task": "Build it.",
            "starter": "pass",
            "solution": NEURAL_NETWORK,
            "checks": [{"expr": "logits"}],
            "sample_input": "X",
        }
    )
    from tutor.grader import request_for

    learner = pool.run(request_for(exercise, NEURAL_NETWORK + "loss = logits.sum()\n", "cpu"))
    verdict = check_run(exercise, learner, learner, "cpu")
    data = json.loads(json.dumps(verdict_json("t/net", verdict)))
    structure, graph = data["structure"], data["graph"]
    assert structure["total_params"] == 669_706
    assert structure["modules"][0]["children"][1]["children"][0]["params"][0]["shape"] == [
        512,
        784,
    ]
    assert structure["modules"][0]["output_shape"] == [3, 10]
    assert structure["modules"][0]["hooks"] == {}
    assert graph["target"] == "loss" and graph["root"]["name"] == "SumBackward0"
    text = verdict_text("t/net", verdict)
    assert "model structure:" in text and "Total params: 669,706" in text
    assert "0 (Linear)" in text and "[3, 512]" in text


def test_decoding_is_tolerant() -> None:
    assert decode_inspect(None) == (None, None)
    structure, graph = decode_inspect({"structure": {"modules": [{"nope": 1}]}, "graph": None})
    assert structure is not None and structure.error and "malformed" in structure.error
    assert graph is None
    structure, graph = decode_inspect({"error": "_InspectTimeout: stopped"})
    assert structure is not None and structure.error == "_InspectTimeout: stopped"
    assert graph is not None and graph.error == "_InspectTimeout: stopped"
    assert format_shape([[2, 3], "NoneType"]) == "([2, 3], NoneType)"
    assert format_shape({"out": [1]}) == "{out: [1]}"
    assert ModuleNode("a", "a", "A").devices() == []


@pytest.mark.cuda
def test_a_model_on_cuda() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    runner = WarmRunner(spares=1)
    try:
        code = NEURAL_NETWORK.replace(
            "model = NeuralNetwork()", "model = NeuralNetwork().to(device)"
        )
        code = code.replace("torch.rand(3, 28, 28)", "torch.rand(3, 28, 28, device=device)")
        code += "loss = logits.sum()\n"
        result = runner.run(RunRequest(code=code, device="cuda", sample_input="X"))
        assert result.outcome is Outcome.COMPLETED, result.detail
        structure = structure_of(result)
        assert structure.modules[0].devices() == ["cuda:0"]
        assert structure.modules[0].output_shape == [3, 10]
        graph = graph_of(result)
        assert {leaf.device for leaf in graph.leaves()} == {"cuda:0"}
    finally:
        runner.close()
