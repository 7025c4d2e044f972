"""The shipped pack covers the curriculum: every seed-checklist topic is used by some exercise's
solution and observed by one of its checks, and every error worth a hint is taught somewhere.

The map below is the contract between the checklist in tests/data/curriculum-checklist.md and
`lessons/`. It reads YAML only (no sandbox runs), so it is cheap enough to run on every change: an
edited solution that stops using an API, or a dropped check, fails here with the checklist topic
it orphaned.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tutor.loader import LessonPack, UnknownId, load_pack
from tutor.paths import shipped_lessons_dir
from tutor.schema import Lesson

CHECKLIST_FILE = Path(__file__).resolve().parent / "data" / "curriculum-checklist.md"

OUTLINE = [
    "tensors",
    "tensor-ops",
    "inplace-ops",
    "numpy-bridge",
    "devices",
    "autograd",
    "backward-vector",
    "no-grad",
    "inplace-autograd",
    "nn-module",
    "predict",
    "train-step",
    "optimize-tensors",
    "manual-weights",
    "save-load",
    "hooks",
    "categorical",
    "inspect-model",
    "broadcasting-dtypes",
    # Beyond the outline: the two capstones and the learner's own slips.
    "capstone-train",
    "fix-my-notes",
    "capstone-policy",
]


@dataclass(frozen=True)
class Topic:
    """One idea from the seed checklist and the exercises that teach it.

    `uses` is a regex the exercise's solution must match (the learner has to write the API);
    `observed_by` maps `lesson/exercise` to the text of one of its checks (an `expr`, a `stdout`
    or a `raises` pattern) that sees the API's effect.
    """

    name: str
    uses: str
    observed_by: dict[str, str]


CHECKLIST = [
    # creation
    Topic("`torch.tensor([1,2,3])`", r"torch\.tensor\(\[", {"tensors/from-data": "a"}),
    Topic("`torch.zeros`", r"torch\.zeros\(", {"tensors/factories": "z"}),
    Topic(
        "`torch.empty` (check shape/dtype only)",
        r"torch\.empty\(",
        {"tensors/factories": "e.dtype"},
    ),
    Topic("`torch.rand`", r"torch\.rand\(", {"tensors/factories": "r"}),
    # from an existing tensor
    Topic(
        "`t.new_ones(5, 3, dtype=torch.double)`",
        r"\.new_ones\(5, 3, dtype=torch\.double\)",
        {"tensors/like-another": "ones"},
    ),
    Topic(
        "`torch.randn_like(t, dtype=torch.float)`",
        r"torch\.randn_like\(\w+, dtype=torch\.float\)",
        {"tensors/like-another": "noise", "tensors/randn-like-int": "noise"},
    ),
    # size, view, indexing, item
    Topic("`t.size()` -> torch.Size", r"\.size\(\)", {"tensor-ops/size-and-view": "shape"}),
    Topic("`t.view()`", r"\.view\(", {"tensor-ops/size-and-view": "m"}),
    Topic("`t.t()`", r"\.t\(\)", {"tensor-ops/transpose-view": "xt"}),
    Topic("indexing like numpy", r"\w\[[^\]]*:[^\]]*\]", {"tensor-ops/indexing": "block"}),
    Topic("`t.item()`", r"\.item\(\)", {"tensor-ops/item-tolist": "first"}),
    Topic("`t.tolist()`", r"\.tolist\(\)", {"tensor-ops/item-tolist": "as_list"}),
    # the trailing underscore rule
    Topic("in place: `t.t_()`", r"\.t_\(\)", {"inplace-ops/transpose-inplace": 'given["same"]'}),
    Topic("in place: `add_`", r"\.add_\(", {"inplace-ops/add-inplace": 'given["alias"]'}),
    # numpy bridge
    Topic(
        "`t.numpy()` shares memory",
        r"\.numpy\(\)",
        {"numpy-bridge/shared-both-ways": 'np.shares_memory(given["a"], b)'},
    ),
    Topic(
        "`torch.from_numpy(a)` shares memory",
        r"torch\.from_numpy\(",
        {"numpy-bridge/shared-both-ways": 'given["a"]'},
    ),
    # devices
    Topic(
        "`torch.cuda.is_available()`",
        r"torch\.cuda\.is_available\(\)",
        {"devices/pick-device": "has_cuda"},
    ),
    Topic(
        "`torch.device('cuda')`",
        r"torch\.device\(['\"]cuda['\"]\)",
        {"devices/pick-device": "gpu.type"},
    ),
    Topic(
        "`torch.zeros((1,3), device=device)`",
        r"torch\.zeros\(\(1, ?3\), device=device\)",
        {"devices/pick-device": "z.device.type == device.type", "tensors/factories": "z"},
    ),
    Topic(
        "`t.to(device)`",
        r"\.to\(device\)",
        {"nn-module/float64-input": "batch", "optimize-tensors/non-leaf-fix": "w.detach()"},
    ),
    Topic(
        "`t.to(device, torch.double)`",
        r"\.to\(device, torch\.double\)",
        {"devices/to-returns": "t64", "devices/module-to": "x"},
    ),
    Topic(
        "`t.to('cuda')` (a `requires: cuda` exercise: skipped on CPU-only machines)",
        r"\.to\(['\"]cuda['\"]\)",
        {"devices/cuda-moves": "b_gpu"},
    ),
    Topic(
        "the same for CPU: `t.to('cpu')`",
        r"\.to\(['\"]cpu['\"]\)",
        {"devices/to-returns": "back.device.type", "devices/cuda-moves": "c_cpu.device.type"},
    ),
    Topic(
        "the same for CPU: `torch.device('cpu')`",
        r"torch\.device\(.*['\"]cpu['\"]",
        {"devices/pick-device": "best.type"},
    ),
    # autograd
    Topic("`requires_grad=True` at creation", r"requires_grad=True", {"autograd/blitz": "x"}),
    Topic(
        "setting `t.requires_grad = True`", r"\w\.requires_grad = True", {"autograd/switch-on": "w"}
    ),
    Topic(
        "freezing `for p in net.parameters(): p.requires_grad = False`",
        r"for p in \w+\.parameters\(\):\s+p\.requires_grad = False",
        {"no-grad/freeze": "[p.requires_grad for p in net.parameters()]"},
    ),
    Topic(
        "`with torch.no_grad():`",
        r"with torch\.no_grad\(\):",
        {
            "no-grad/no-grad-eval": "eval_pred.grad_fn is None",
            "inplace-autograd/manual-sgd": 'given["w"].detach()',
        },
    ),
    Topic("`backward()`", r"\.backward\(\)", {"autograd/blitz": "x.grad"}),
    Topic("reading `.grad` (an attribute)", r"\.grad\b(?!\s*\()", {"autograd/read-grad": "g"}),
    Topic(
        "zeroing grads: `t.grad.zero_()`",
        r"\.grad\.zero_\(\)",
        {"backward-vector/accumulate": "grads", "inplace-autograd/manual-sgd": "losses"},
    ),
    Topic(
        "zeroing grads: `optimizer.zero_grad()`",
        r"optimizer\.zero_grad\(\)",
        {"train-step/zero-grad": "losses"},
    ),
    Topic(
        "changing values of the graph before backward -> the version-counter error",
        r"\.add_\(",
        {
            "inplace-autograd/version-counter": "one of the variables needed for gradient "
            "computation has been modified by an inplace operation"
        },
    ),
    Topic(
        "`t.detach()` (no grad, shares storage)",
        r"\.detach\(\)",
        {"no-grad/detach": "d.data_ptr() == y.data_ptr()"},
    ),
    Topic(
        "`backward(gradient)` for non-scalar outputs",
        r"\.backward\([a-z_]+\)",
        {"backward-vector/gradient-arg": "x"},
    ),
    # the classic NeuralNetwork
    Topic(
        "the classic `NeuralNetwork(nn.Module)`",
        r"class NeuralNetwork\(nn\.Module\)",
        {"nn-module/define-network": "type(model).__name__"},
    ),
    Topic("`nn.Flatten()`", r"nn\.Flatten\(\)", {"nn-module/define-network": "logits"}),
    Topic(
        "`nn.Sequential(nn.Linear(28*28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), "
        "nn.Linear(512, 10))`",
        r"nn\.Sequential\(\s*nn\.Linear\(28 ?\* ?28, 512\)",
        {"nn-module/define-network": "[type(m).__name__ for m in model.linear_relu_stack]"},
    ),
    Topic("`forward`", r"def forward\(self", {"nn-module/define-network": "logits"}),
    Topic(
        "`net.to(device)`",
        r"(NeuralNetwork\(\)|net)\.to\(device",
        {
            "nn-module/define-network": "{p.device.type for p in model.parameters()} == "
            "{device.type}",
            "devices/module-to": 'moved is given["net"]',
        },
    ),
    Topic("`net.parameters()`", r"\.parameters\(\)", {"nn-module/parameters": "n_params"}),
    Topic("`layer.weight`", r"\.weight\b", {"nn-module/parameters": "W"}),
    # met in practice
    Topic(
        "`torch.optim.SGD`",
        r"torch\.optim\.SGD\(",
        {"train-step/sgd-step": "type(optimizer).__name__"},
    ),
    Topic(
        "`torch.argmax`",
        r"argmax\(",
        {"categorical/epsilon-greedy": "choose_action(q, 0.0)", "predict/argmax": "pred"},
    ),
    Topic("`t.max()`", r"\.max\(", {"predict/argmax": "top", "predict/max-dim": "values"}),
    Topic(
        "`loss.backward()`",
        r"loss\.backward\(\)",
        # the step can only move the weight with the gradients backward() left in .grad
        {"train-step/sgd-step": "model.linear_relu_stack[4].weight.detach()"},
    ),
    Topic(
        "`optimizer.step()`",
        r"optimizer\.step\(\)",
        {"train-step/sgd-step": "bool(loss_after < loss.item())"},
    ),
    Topic("`t.gather()`", r"\.gather\(", {"predict/gather": "chosen"}),
    Topic("`module.state_dict()`", r"\.state_dict\(\)", {"save-load/snapshot": "best"}),
    Topic(
        "`module.load_state_dict()`",
        r"\.load_state_dict\(",
        {
            "save-load/strict-false": "result.missing_keys",
            "save-load/snapshot": "model.state_dict()",
        },
    ),
    Topic("`module.parameters()`", r"\.parameters\(\)", {"no-grad/freeze": "trainable"}),
    Topic(
        "`optimizer.param_groups`",
        r"optimizer\.param_groups",
        {"train-step/change-lr": '[g["lr"] for g in optimizer.param_groups]'},
    ),
    Topic(
        "`torch.save(model.state_dict(), 'model_weights.pth')`",
        r"torch\.save\(model\.state_dict\(\), ['\"]model_weights\.pth['\"]\)",
        {"save-load/save-and-load": 'os.path.exists("model_weights.pth")'},
    ),
    Topic(
        "`model.load_state_dict(torch.load('model_weights.pth'))`",
        r"\.load_state_dict\(torch\.load\(['\"]model_weights\.pth['\"]\)\)",
        {"save-load/save-and-load": "model2.state_dict()"},
    ),
    Topic(
        "`np.random.uniform()`",
        r"np\.random\.uniform\(",
        {"categorical/epsilon-greedy": "actions.count(1) / len(actions)"},
    ),
    Topic(
        "`np.random.choice()`",
        r"np\.random\.choice\(",
        {"categorical/epsilon-greedy": "sorted(set(actions))"},
    ),
    # pitfalls and the policy-gradient project
    Topic(
        "gradient ascent adds the gradient, descent subtracts it (the sign of the loss)",
        r"\(-\w+\)\.backward\(\)|=\s*-\(",
        {
            "train-step/gradient-ascent": "round(x.item(), 4)",
            "categorical/bandit": "int(torch.argmax(final_probs))",
        },
    ),
    Topic(
        "`torch.distributions.Categorical(probs)`",
        r"Categorical\(probs\)",
        {"categorical/sample": "dist.probs"},
    ),
    Topic(
        "`.sample()`",
        r"\.sample\(",
        {"categorical/sample": "(freq - probs / probs.sum()).abs().max().item() < 0.08"},
    ),
    Topic(
        "`log_prob` for REINFORCE",
        r"\.log_prob\(",
        {"categorical/reinforce-loss": "log_probs", "categorical/sample": "lp"},
    ),
    Topic(
        "`torch.optim` optimises any leaf tensor with `requires_grad=True`",
        r"torch\.optim\.\w+\(\[",
        {
            "optimize-tensors/fit-line": "w.detach()",
            "optimize-tensors/not-iterable": "p.detach()",
        },
    ),
    Topic(
        "module hooks: a forward hook observes a model without editing `forward()`",
        r"\.register_forward_hook\(",
        {"hooks/forward-hook": "acts"},
    ),
    Topic(
        "module hooks: a forward-pre hook changes the input without editing `forward()`",
        r"\.register_forward_pre_hook\(",
        {"hooks/pre-hook": "y"},
    ),
    Topic("module hooks: a tensor hook", r"\.register_hook\(", {"hooks/tensor-hook": "w.grad"}),
    Topic(
        "module hooks: a backward hook",
        r"\.register_full_backward_hook\(",
        {"hooks/backward-hook": "grad_out"},
    ),
    Topic(
        "manual weight assignment: `nn.Parameter(new_weight)`",
        r"\.weight = nn\.Parameter\(",
        {
            "manual-weights/wrap-parameter": 'given["layer"].weight',
            "manual-weights/stale-optimizer": (
                'any(p is model.weight for g in opt.param_groups for p in g["params"])'
            ),
        },
    ),
    # network-structure visualisation
    Topic(
        "network-structure visualisation: `print(model)`",
        r"print\(model\)",
        {"inspect-model/print-and-walk": "(linear_relu_stack): Sequential("},
    ),
    Topic(
        "network-structure visualisation: a module tree",
        r"\.named_modules\(\)",
        {"inspect-model/print-and-walk": "names", "inspect-model/summary": "summary(model, X)"},
    ),
    Topic(
        "network-structure visualisation: shapes",
        r"\.shape\b",
        {"inspect-model/trace-shapes": "shapes", "inspect-model/summary": "summary(tiny, x_tiny)"},
    ),
    Topic(
        "network-structure visualisation: parameter counts",
        r"\.numel\(\)",
        {"inspect-model/layer-counts": "counts", "inspect-model/summary": "summary(model, X)"},
    ),
]

# "Errors worth a targeted hint": stable prefixes of torch's messages.
CPU_ERRORS = [
    "one of the variables needed for gradient computation has been modified by an inplace",
    "a leaf Variable that requires grad is being used in an in-place operation.",
    "grad can be implicitly created only for scalar outputs",
    "Trying to backward through the graph a second time",
    "element 0 of tensors does not require grad and does not have a grad_fn",
    "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.",
    "view size is not compatible with input tensor's size and stride",
    "mat1 and mat2 shapes cannot be multiplied (",
    "mat1 and mat2 must have the same dtype, but got",
    "'NoneType' object has no attribute 'zero_'",
    "cannot assign 'torch.FloatTensor' as parameter 'weight' (torch.nn.Parameter or None expected)",
    "Error(s) in loading state_dict for",
    "Missing key(s)",
    "Unexpected key(s)",
    "size mismatch for",
    "a Tensor with 2 elements cannot be converted to Scalar",
    "Only Tensors of floating point and complex dtype can require gradients",
    "cannot assign module before Module.__init__() call",
    "Weights only load failed",
    "can't optimize a non-leaf Tensor",
]
# Only a CUDA machine (or a CPU-only torch asked for CUDA) shows these: a mention is enough.
CUDA_ERRORS = [
    "Expected all tensors to be on the same device, but found at least two devices",
    "can't convert cuda:0 device type tensor to numpy",
    "Attempting to deserialize object on a CUDA device",
    "Torch not compiled with CUDA enabled",
]


@pytest.fixture(scope="module")
def pack() -> LessonPack:
    return load_pack(shipped_lessons_dir())


def coverage_problems(pack: LessonPack, topics: list[Topic] = CHECKLIST) -> list[str]:
    """One line per broken promise, each starting with the checklist topic it leaves uncovered."""
    problems = []
    for topic in topics:
        if not topic.observed_by:
            problems.append(f"{topic.name}: no exercise covers it")
        for ref, observed in topic.observed_by.items():
            problem = _exercise_problem(pack, ref, topic.uses, observed)
            if problem:
                problems.append(f"{topic.name}: {ref} {problem}")
    return problems


def _exercise_problem(pack: LessonPack, ref: str, uses: str, observed: str) -> str | None:
    try:
        _, exercise = pack.resolve(ref)
    except UnknownId:
        return "does not exist"
    if exercise is None:
        return "is a lesson, not an exercise"
    if not re.search(uses, exercise.solution):
        return f"solution no longer matches {uses!r}"
    check_texts = {text for c in exercise.checks for text in (c.expr, c.stdout, c.match) if text}
    if observed not in check_texts:
        return f"has no check {observed!r}"
    return None


def assert_covered(pack: LessonPack) -> None:
    problems = coverage_problems(pack)
    assert not problems, "checklist topics without a checked exercise:\n" + "\n".join(problems)


def test_the_pack_has_every_outlined_lesson(pack):
    assert pack.problems == []
    assert len(pack.lessons) >= 18
    assert len(pack.exercises()) >= 60
    missing = [lesson_id for lesson_id in OUTLINE if pack.lesson(lesson_id) is None]
    assert not missing, f"outlined lessons missing from the pack: {missing}"


def test_every_checklist_topic_is_used_and_checked(pack):
    assert_covered(pack)


def test_the_map_names_every_api_on_the_checklist():
    """Guards the map itself: a new line on the checklist needs a `Topic` before this passes."""
    text = CHECKLIST_FILE.read_text(encoding="utf-8")
    section = text.split("## Seed topic checklist", 1)[1].split("\n## ", 1)[0]
    spans = re.findall(r"`([^`]+)`", " ".join(section.split()))
    names = " ".join(topic.name for topic in CHECKLIST)
    missing = [span for span in spans if f"`{span}`" not in names]
    assert spans and not missing, f"checklist APIs that no Topic names: {missing}"


def _edit_exercise(root: Path, ref: str, edit: Callable[[dict], dict | None]) -> None:
    """Replace exercise `ref` in the pack at `root` by `edit(exercise)`; None removes it."""
    lesson_id, exercise_id = ref.split("/")
    path = root / f"{lesson_id}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edited = [edit(e) if e["id"] == exercise_id else e for e in data["exercises"]]
    data["exercises"] = [e for e in edited if e is not None]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _removed(exercise: dict) -> None:
    return None


def _choice_swapped_for_randint(exercise: dict) -> dict:
    return {**exercise, "solution": exercise["solution"].replace("np.random.choice", "randint")}


def _choice_check_dropped(exercise: dict) -> dict:
    checks = [c for c in exercise["checks"] if c.get("expr") != "sorted(set(actions))"]
    return {**exercise, "checks": checks}


@pytest.mark.parametrize(
    "edit, why",
    [
        (_removed, "does not exist"),
        (_choice_swapped_for_randint, "solution no longer matches"),
        (_choice_check_dropped, "has no check 'sorted(set(actions))'"),
    ],
)
def test_lost_coverage_fails_naming_the_topic(tmp_path, edit, why):
    """The coverage test must bite: break one exercise in a copy of the pack and it names the
    checklist topic that exercise alone covered."""
    root = tmp_path / "pack"
    shutil.copytree(shipped_lessons_dir(), root)
    _edit_exercise(root, "categorical/epsilon-greedy", edit)
    broken = load_pack(root)
    assert broken.problems == []
    expected = f"`np.random.choice()`: categorical/epsilon-greedy {why}"
    with pytest.raises(AssertionError, match=re.escape(expected)):
        assert_covered(broken)


def test_a_topic_without_exercises_is_reported(pack):
    orphan = Topic("`torch.fft`", r"torch\.fft", {})
    assert coverage_problems(pack, [orphan]) == ["`torch.fft`: no exercise covers it"]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _taught_text(lesson: Lesson) -> str:
    """What a learner reads: the intro, tasks, hints, check explanations and `raises` patterns
    (an error that only a starter produces is still named in its task or hints)."""
    parts = [lesson.intro]
    for exercise in lesson.exercises:
        parts += [exercise.task, *exercise.hints]
        parts += [text for c in exercise.checks for text in (c.match, c.explain) if text]
    return _flat("\n".join(parts))


def test_every_cpu_error_worth_a_hint_is_taught(pack):
    taught = [_taught_text(lesson) for lesson in pack.lessons]
    missing = [error for error in CPU_ERRORS if not any(error in text for text in taught)]
    assert not missing, f"errors no lesson teaches: {missing}"


def test_every_cuda_only_error_is_mentioned(pack):
    """These cannot be raised on a CPU-only machine, so the pack only has to name them."""
    text = _flat("\n".join(path.read_text(encoding="utf-8") for path in pack.sources.values()))
    missing = [error for error in CUDA_ERRORS if error not in text]
    assert not missing, f"CUDA-only errors the pack never mentions: {missing}"
