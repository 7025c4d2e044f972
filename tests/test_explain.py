"""The error explainer: a valid catalogue whose every entry is checked against the real message.

Each entry's `reproduce` snippet runs in the real sandbox (one warm pool for the module) and the
exception it raises must be explained by THAT entry, not by an earlier, broader one; an entry's
`known` messages (errors no test machine raises on demand) must find it too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tutor.explain import (
    CATALOGUE_PATH,
    Catalogue,
    CatalogueError,
    Entry,
    Explanation,
    explain_error,
    load_catalogue,
    parse_catalogue,
)
from tutor.loader import UnknownId, load_pack
from tutor.paths import shipped_lessons_dir
from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import ExceptionInfo, Outcome, RunRequest

CATALOGUE = load_catalogue()
BASES = {
    "RuntimeError": ("RuntimeError", "Exception", "BaseException", "object"),
    "NotImplementedError": (
        "NotImplementedError",
        "RuntimeError",
        "Exception",
        "BaseException",
        "object",
    ),
    "TypeError": ("TypeError", "Exception", "BaseException", "object"),
    "ValueError": ("ValueError", "Exception", "BaseException", "object"),
    "AssertionError": ("AssertionError", "Exception", "BaseException", "object"),
    "AttributeError": ("AttributeError", "Exception", "BaseException", "object"),
    "UnpicklingError": ("UnpicklingError", "PickleError", "Exception", "BaseException", "object"),
}


def error(type_name: str, message: str) -> ExceptionInfo:
    return ExceptionInfo(type=type_name, module="builtins", bases=BASES[type_name], message=message)


@functools.cache
def _torch() -> Any:
    return pytest.importorskip("torch")


def _cuda_available() -> bool:
    return bool(_torch().cuda.is_available())


def _cuda_built() -> bool:
    return _torch().version.cuda is not None


@pytest.fixture(scope="module")
def sandbox() -> Iterator[WarmRunner]:
    runner = WarmRunner()
    yield runner
    runner.close()


# -- (a) and (d): the catalogue itself ----------------------------------------------------------


def test_the_shipped_catalogue_loads_once():
    assert CATALOGUE_PATH.parent.name == "tutor"  # inside the package: it ships in the wheel
    assert len(CATALOGUE.entries) >= 40
    assert load_catalogue() is CATALOGUE


def test_ids_are_unique_and_patterns_compile():
    ids = [e.id for e in CATALOGUE.entries]
    assert len(ids) == len(set(ids))
    for entry in CATALOGUE.entries:
        assert entry.pattern.pattern == entry.match


def test_every_lesson_reference_exists_in_the_shipped_pack():
    pack = load_pack(shipped_lessons_dir())
    unknown = []
    for entry in CATALOGUE.entries:
        if entry.lesson is None:  # the curriculum does not teach this fix
            continue
        try:
            lesson, _exercise = pack.resolve(entry.lesson)
        except UnknownId as exc:
            unknown.append(f"{entry.id}: {exc}")
            continue
        assert lesson.id == entry.lesson.partition("/")[0]
    assert not unknown, unknown


def test_explanations_are_short_paragraphs():
    for entry in CATALOGUE.entries:
        assert 60 <= len(entry.explain) <= 600, entry.id
        assert "\n" not in entry.explain, entry.id


def test_invalid_catalogues_are_rejected_with_the_reason():
    good = {
        "id": "x",
        "type": "RuntimeError",
        "match": "boom",
        "explain": "It went boom.",
        "lesson": "tensors",
        "reproduce": "raise RuntimeError('boom')",
    }

    def as_yaml(*entries: dict[str, str]) -> str:
        import yaml

        return yaml.safe_dump({"entries": list(entries)})

    assert isinstance(parse_catalogue(as_yaml(good)), Catalogue)
    with pytest.raises(CatalogueError, match="duplicate entry id 'x'"):
        parse_catalogue(as_yaml(good, good))
    with pytest.raises(CatalogueError, match="not a valid regular expression"):
        parse_catalogue(as_yaml({**good, "match": "mat1 (and"}))
    with pytest.raises(CatalogueError, match="lesson"):
        parse_catalogue(as_yaml({**good, "lesson": "Not A Lesson"}))
    with pytest.raises(CatalogueError, match="needs"):
        parse_catalogue(as_yaml({**good, "needs": "tpu"}))
    with pytest.raises(CatalogueError, match="not valid YAML"):
        parse_catalogue("entries: [")
    # `lesson` may be null, but never left out: a missing pointer must be a decision
    no_lesson = {k: v for k, v in good.items() if k != "lesson"}
    assert parse_catalogue(as_yaml({**no_lesson, "lesson": None})).entries[0].lesson is None
    with pytest.raises(CatalogueError, match="lesson"):
        parse_catalogue(as_yaml(no_lesson))
    # every entry is tested against real text: a snippet, known messages, or both
    no_snippet = {k: v for k, v in good.items() if k != "reproduce"}
    with pytest.raises(CatalogueError, match="`reproduce` snippet or at least one `known`"):
        parse_catalogue(as_yaml(no_snippet))
    assert parse_catalogue(as_yaml({**no_snippet, "known": ["it went boom"]}))
    with pytest.raises(CatalogueError, match="known message does not match"):
        parse_catalogue(as_yaml({**no_snippet, "known": ["it went bang"]}))
    with pytest.raises(CatalogueError, match="`needs` says where"):
        parse_catalogue(as_yaml({**no_snippet, "known": ["boom"], "needs": "cuda"}))


# -- (b): every entry against the message torch really produces ---------------------------------


def _params() -> list[Any]:
    marks = {"cuda": [pytest.mark.cuda]}
    return [
        pytest.param(entry, marks=marks.get(entry.needs or "", []), id=entry.id)
        for entry in CATALOGUE.entries
        if entry.reproduce is not None
    ]


@pytest.mark.parametrize("entry", _params())
def test_each_entry_explains_the_error_its_snippet_raises(sandbox: WarmRunner, entry: Entry):
    assert entry.reproduce is not None
    device = "cpu"
    if entry.needs == "cuda":
        if not _cuda_available():
            pytest.skip("needs a CUDA GPU")
        device = "cuda"
    elif entry.needs == "no-cuda" and _cuda_available():
        pytest.skip("this error exists only on a machine without a usable GPU")
    elif entry.needs == "cpu-build" and _cuda_built():
        pytest.skip("this error exists only with a PyTorch built without CUDA")

    result = sandbox.run(RunRequest(code=entry.reproduce, device=device, timeout=30))
    if result.outcome is Outcome.DEVICE_UNAVAILABLE:
        pytest.skip(result.detail)
    assert result.outcome is Outcome.COMPLETED, result.detail
    raised = result.exception
    assert raised is not None, f"{entry.id}: the snippet raised nothing"

    explained = explain_error(raised)
    assert explained is not None, f"{entry.id}: nothing explains {raised.headline()!r}"
    assert explained.id == entry.id, (
        f"{raised.headline()!r} was explained by the earlier entry {explained.id!r}, "
        f"not {entry.id!r}: move {entry.id!r} up or make {explained.id!r} narrower"
    )
    assert explained.lesson == entry.lesson
    assert raised.frames, "the sandbox reports the learner's own lines"


# Variants the snippets above cannot produce on this machine (another device, another version):
# the documented texts, from the curriculum and the lessons, must still find their entry.
DOCUMENTED = [
    (
        "RuntimeError",
        "Expected all tensors to be on the same device, but found at least two devices, "
        "cuda:0 and cpu!",
        "device-mismatch",
    ),
    (
        "RuntimeError",
        "Expected all tensors to be on the same device, but got mat1 is on cpu, different from "
        "other tensors on cuda:0 (when checking argument in method wrapper_CUDA_addmm)",
        "device-mismatch",
    ),
    (
        "TypeError",
        "can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
        "to host memory first.",
        "numpy-from-gpu",
    ),
    ("AssertionError", "Torch not compiled with CUDA enabled", "cuda-not-compiled"),
    (
        "RuntimeError",
        "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is "
        "False. If you are running on a CPU-only machine, please use torch.load with "
        "map_location=torch.device('cpu') to map your storages to the CPU.",
        "cuda-checkpoint-without-gpu",
    ),
    (
        "RuntimeError",
        "expected mat1 and mat2 to have the same dtype, but got: double != float",
        "linear-dtype",
    ),
    (
        "RuntimeError",
        "mat1 and mat2 must have the same dtype, but got Float and Double",
        "linear-dtype",
    ),
    (
        "TypeError",
        "cannot assign 'torch.cuda.FloatTensor' as parameter 'weight' "
        "(torch.nn.Parameter or None expected)",
        "assign-tensor-as-parameter",
    ),
    (
        "NotImplementedError",
        "\"normal_kernel_cuda\" not implemented for 'Long'",
        "randn-integer-dtype",
    ),
    (
        "RuntimeError",
        "Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the "
        "same or input should be a MKLDNN tensor and weight is a dense tensor",
        "input-weight-type",
    ),
    (
        "RuntimeError",
        "a view of a leaf Variable that requires grad is being used in an in-place operation.",
        "leaf-inplace",
    ),
    (
        "RuntimeError",
        "Error(s) in loading state_dict for FineTuned:\n\tMissing key(s) in state_dict: "
        '"classifier.weight", "classifier.bias". \n\tUnexpected key(s) in state_dict: '
        '"head.weight", "head.bias". ',
        "state-dict-keys",
    ),
    (
        "AttributeError",
        "cannot assign parameters before Module.__init__() call",
        "module-init-not-called",
    ),
    (
        "RuntimeError",
        "The size of tensor a (4) must match the size of tensor b (5) at non-singleton dimension 0",
        "broadcast-size-mismatch",
    ),
]


@pytest.mark.parametrize(("type_name", "message", "entry_id"), DOCUMENTED)
def test_documented_variants_find_their_entry(type_name: str, message: str, entry_id: str):
    explained = explain_error(error(type_name, message))
    assert explained is not None and explained.id == entry_id


def _known() -> list[Any]:
    return [
        pytest.param(entry, text, id=f"{entry.id}-{n}")
        for entry in CATALOGUE.entries
        for n, text in enumerate(entry.known)
    ]


@pytest.mark.parametrize(("entry", "message"), _known())
def test_each_known_message_finds_its_own_entry(entry: Entry, message: str):
    # Raised as the entry's own type: a subclass (torch.AcceleratorError) would match it too.
    raised = ExceptionInfo(
        type=entry.type, module="", bases=(entry.type, "Exception", "object"), message=message
    )
    explained = explain_error(raised)
    assert explained is not None and explained.id == entry.id, (
        f"{message[:60]!r} was explained by {explained and explained.id!r}, not {entry.id!r}"
    )


# -- precise entries: one message, several causes, told apart by what the message carries ------

WEIGHTS_ONLY_TEXT = (
    "Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` "
    "argument in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` "
    "set to `False` will likely succeed, but it can result in arbitrary code execution. Do it only "
    "if you got the file from a trusted source.\nPlease file an issue with the following so that "
    "we can make `weights_only=True` compatible with your use case: WeightsUnpickler error: "
    "\n\nUnsupported operand {operand}\n\nCheck the documentation of torch.load to learn more"
)


@pytest.mark.parametrize(
    ("operand", "entry_id"),
    [
        ("118", "not-a-checkpoint-text"),
        ("60", "not-a-checkpoint-text"),
        ("149", "not-a-torch-file"),
    ],
)
def test_an_unsupported_operand_means_the_file_is_not_a_checkpoint(operand: str, entry_id: str):
    message = WEIGHTS_ONLY_TEXT.format(operand=operand)
    explained = explain_error(error("UnpicklingError", message))
    assert explained is not None and explained.id == entry_id
    assert "weights_only=False" not in explained.text.replace(
        "Do not pass `weights_only=False`", ""
    )
    if entry_id == "not-a-checkpoint-text":
        assert "git-lfs" in explained.text and "HTML" in explained.text


def test_the_unsafe_option_only_comes_with_its_reason():
    # weights_only=False unpickles, and so runs, whatever the file names: every entry that
    # mentions it says when it is acceptable and why, or says not to use it.
    for entry in CATALOGUE.entries:
        text = entry.explain
        if "weights_only=False" not in text and "weights_only` off" not in text:
            continue
        if "Do not pass `weights_only=False`" in text or "is not the fix" in text:
            continue  # refused outright
        assert "only for files you trust" in text, entry.id
        assert re.search(r"unpickling (runs|can run)", text), f"{entry.id}: say why"


def test_an_entry_without_a_lesson_has_no_pointer():
    entry = CATALOGUE.entry("dataloader-worker-died")
    assert entry is not None and entry.lesson is None
    explained = explain_error(
        error("RuntimeError", "DataLoader worker (pid(s) 4242) exited unexpectedly")
    )
    assert explained is not None and explained.pointer() is None
    assert explained.to_json()["lesson"] is None


# -- (c): no match, and matching rules ----------------------------------------------------------


def test_a_message_nobody_catalogued_gets_no_explanation():
    assert explain_error(error("RuntimeError", "the flux capacitor is out of flux")) is None
    assert explain_error(error("ValueError", "")) is None


def test_the_type_must_match_too():
    text = "mat1 and mat2 shapes cannot be multiplied (28x28 and 784x512)"
    assert explain_error(error("RuntimeError", text)) is not None
    assert explain_error(error("ValueError", text)) is None  # right words, wrong exception


def test_subclasses_match_an_entry_for_their_base_class():
    # NotImplementedError is a RuntimeError: the generic dtype entry is written for RuntimeError.
    explained = explain_error(
        error("NotImplementedError", "\"softmax_lastdim_kernel_impl\" not implemented for 'Long'")
    )
    assert explained is not None and explained.id == "kernel-not-implemented-for-dtype"


def test_the_explanation_points_at_its_lesson():
    explained = explain_error(
        error("RuntimeError", "Trying to backward through the graph a second time")
    )
    entry = CATALOGUE.entry("backward-twice")
    assert entry is not None
    assert explained == Explanation(
        id="backward-twice", text=entry.explain, lesson="backward-vector/retain-graph"
    )
    assert explained.pointer() == (
        "see lesson `backward-vector/retain-graph` (pttutor --lesson backward-vector/retain-graph)"
    )
    assert explained.to_json()["lesson"] == "backward-vector/retain-graph"
