"""F9 / F10 and the failure panel: the structure view, the autograd view, and tensor checks.

Most tests use a fake runner whose results carry a fixed structure and graph (decoded from the
JSON the sandbox child sends); the last two run the shipped lessons through the real warm pool.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from rich.text import Text

from tutor.checker import check_run
from tutor.inspect_model import decode_inspect
from tutor.loader import load_pack
from tutor.paths import shipped_lessons_dir
from tutor.sandbox.runner import RunHandle, RunRequest, RunResult
from tutor.schema import Exercise
from tutor.ui.app import TutorApp
from tutor.ui.graph_view import GraphScreen
from tutor.ui.results import render_verdict
from tutor.ui.structure_view import StructureScreen
from tutor.values import TensorValue

from .conftest import FakeHandle, FakeRunner, no_cuda_probe, wait_for

SIZE = (120, 40)


def _linear(path: str, out_f: int, in_f: int, *, frozen: bool = False) -> dict[str, Any]:
    params = [
        {"name": "weight", "shape": [out_f, in_f], "count": out_f * in_f, "trainable": not frozen},
        {"name": "bias", "shape": [out_f], "count": out_f, "trainable": not frozen},
    ]
    for p in params:
        p["dtype"] = "float32"
    total = out_f * in_f + out_f
    return {
        "name": path.rsplit(".", 1)[1],
        "path": path,
        "type": "Linear",
        "params": params,
        "own_params": total,
        "total_params": total,
        "trainable_params": 0 if frozen else total,
        "device": "cpu",
        "hooks": {},
        "output_shape": [3, out_f],
        "children": [],
    }


def _plain(path: str, kind: str, shape: list[int]) -> dict[str, Any]:
    return {"name": path.rsplit(".", 1)[1], "path": path, "type": kind, "output_shape": shape}


STACK = [
    _linear("model.stack.0", 512, 784),
    _plain("model.stack.1", "ReLU", [3, 512]),
    _linear("model.stack.2", 512, 512, frozen=True),
    _plain("model.stack.3", "ReLU", [3, 512]),
    _linear("model.stack.4", 10, 512),
]
STACK[0]["hooks"] = {"forward": 1}
INSPECT = {
    "structure": {
        "modules": [
            {
                "name": "model",
                "path": "model",
                "type": "NeuralNetwork",
                "total_params": 669_706,
                "trainable_params": 407_050,
                "output_shape": [3, 10],
                "children": [
                    _plain("model.flatten", "Flatten", [3, 784]),
                    {
                        "name": "stack",
                        "path": "model.stack",
                        "type": "Sequential",
                        "total_params": 669_706,
                        "trainable_params": 407_050,
                        "output_shape": [3, 10],
                        "children": STACK,
                    },
                ],
            }
        ],
        "total_params": 669_706,
        "trainable_params": 407_050,
        "sample_input": "X",
    },
    "graph": {
        "target": "out",
        "shape": [],
        "requires_grad": True,
        "grad_fn": "MeanBackward0",
        "nodes": 5,
        "root": {
            "id": 0,
            "name": "MeanBackward0",
            "var": "out",
            "children": [
                {
                    "id": 1,
                    "name": "MulBackward0",
                    "var": "z",
                    "children": [
                        {
                            "id": 2,
                            "name": "MulBackward0",
                            "children": [
                                {
                                    "id": 3,
                                    "name": "AddBackward0",
                                    "var": "y",
                                    "children": [
                                        {
                                            "id": 4,
                                            "name": "AccumulateGrad",
                                            "leaf": {
                                                "name": "x",
                                                "shape": [2, 2],
                                                "dtype": "float32",
                                                "device": "cpu",
                                                "requires_grad": True,
                                                "has_grad": True,
                                            },
                                        }
                                    ],
                                },
                                {"id": 3, "name": "AddBackward0", "var": "y", "repeat": True},
                            ],
                        }
                    ],
                }
            ],
        },
        "cut": [{"name": "d", "shape": [2, 2], "detached_from": "y"}],
    },
}


class ViewHandle(FakeHandle):
    def result(self) -> RunResult:
        result = super().result()
        result.structure, result.graph = decode_inspect(self.runner.inspect)  # type: ignore[attr-defined]
        if self.runner.tensors:  # type: ignore[attr-defined]
            result.values = {k: _as_tensor(v) for k, v in result.values.items()}
        return result


class ViewRunner(FakeRunner):
    """A fake runner whose results carry `inspect` and, when `tensors`, tensor values."""

    def __init__(self, inspect: Any = INSPECT, tensors: bool = False) -> None:
        super().__init__()
        self.inspect = inspect
        self.tensors = tensors

    def start(self, request: RunRequest) -> RunHandle:
        self.requests.append(request)
        return ViewHandle(self, request)


def _as_tensor(value: Any) -> Any:
    if isinstance(value, (int, float, list)) and not isinstance(value, bool):
        array = np.asarray(value, dtype=np.float32)
        return TensorValue("float32", array.shape, "cpu", False, True, None, False, array, None)
    return value


async def run_code(pilot: Any, app: TutorApp, code: str) -> None:
    await wait_for(pilot, lambda: app.position is not None)
    app.editor.focus()
    app.editor.replace(code, (0, 0), app.editor.document.end)
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: app.active_run is None)


async def test_f9_opens_the_structure_view_and_escape_closes_it(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(runner=ViewRunner())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f9")  # before any run: says so, opens nothing
        await pilot.pause()
        assert not isinstance(app.screen, StructureScreen)
        assert any("Run your code first" in s for s in app.said)
        await run_code(pilot, app, "x = 3\n")
        assert "f9: your model's structure" in app.results.plain
        assert "f10: the autograd graph of out" in app.results.plain
        assert app.focused is app.editor
        await pilot.press("f9")  # from the editor
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, StructureScreen)
        plain = screen.plain
        assert "Total params: 669,706" in plain and "frozen: 262,656" in plain
        assert "model NeuralNetwork  → [3, 10]  669,706 params  262,656 frozen  on cpu" in plain
        assert "0 Linear  → [3, 512]  401,920 params  ⚓ 1 forward hook" in plain
        assert "weight [512, 784]  401,408  trainable" in plain
        assert "2 Linear  → [3, 512]  262,656 params  frozen" in plain
        assert "weight [512, 512]  262,144  frozen" in plain
        assert "weight [10, 512]" in plain
        assert "output shapes for the sample input X" in plain
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, StructureScreen)
        assert app.focused is app.editor
        await pilot.press("f9")
        await pilot.pause()
        await pilot.press("f9")  # the same key closes it too
        await pilot.pause()
        assert not isinstance(app.screen, StructureScreen)


async def test_f10_opens_the_graph_view_and_f9_switches(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(runner=ViewRunner())
    async with app.run_test(size=SIZE) as pilot:
        await run_code(pilot, app, "x = 3\n")
        await pilot.press("f10")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GraphScreen)
        lines = screen.plain.splitlines()
        assert lines[0] == "Graph of out: scalar, grad_fn=MeanBackward0, requires_grad=True"
        assert "out = MeanBackward0" in lines
        assert "  z = MulBackward0" in lines
        assert "      y = AddBackward0" in lines
        leaf = "        AccumulateGrad → x [2, 2]  requires_grad=True  .grad filled"
        assert leaf in lines
        assert "      y = AddBackward0  ↑ the same node as above (used again)" in lines
        assert "  d [2, 2]  detached from y (shares its memory, no history)" in lines
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, StructureScreen)
        await pilot.press("f10")
        await pilot.pause()
        assert isinstance(app.screen, GraphScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app._main_screen


async def test_views_of_a_run_without_models_or_graph(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(runner=ViewRunner(inspect={"structure": {"modules": []}, "graph": None}))
    async with app.run_test(size=SIZE) as pilot:
        await run_code(pilot, app, "x = 3\n")
        assert "f9:" not in app.results.plain and "f10:" not in app.results.plain
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, StructureScreen)
        assert "left no nn.Module behind" in app.screen.plain
        await pilot.press("escape", "f10")
        await pilot.pause()
        assert isinstance(app.screen, GraphScreen)
        assert "no tensor with autograd history" in app.screen.plain


async def test_views_after_a_run_that_did_not_finish(make_app) -> None:  # type: ignore[no-untyped-def]
    runner = ViewRunner(inspect=None)
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.position is not None)
        app.editor.load_text("SLOW = 1\n")
        await pilot.press("ctrl+r")
        await wait_for(pilot, runner.slow_started.is_set)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.active_run is None)
        await pilot.press("f10")
        await pilot.pause()
        assert app.screen is app._main_screen
        assert any("did not finish (cancelled)" in s for s in app.said)


async def test_f1_help_lists_the_view_keys(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        text = app.screen.plain  # type: ignore[attr-defined]
        assert "Show the structure of the models your last run built" in text
        assert "Show the autograd graph of your last run's loss" in text


async def test_a_failed_tensor_check_shows_the_failure_panel(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(runner=ViewRunner(tensors=True))
    async with app.run_test(size=SIZE) as pilot:
        await run_code(pilot, app, "x = [[3, 3], [3, 5]]\n")
        plain = app.results.plain
        assert " ✗ x: shape is [2, 2], expected []" in plain
        assert "     ✗ shape          [2, 2], expected []" in plain
        assert "     ✓ dtype          float32" in plain
        assert "     - values         not compared: the shapes differ" in plain
        await run_code(pilot, app, "x = 3.5\n")
        plain = app.results.plain
        assert "     ✗ values         1 of 1 elements differ (100%)" in plain
        assert "yours" in plain and "expected" in plain
        assert "     yours  │  expected\n     3.5    │    3\n" in plain


def test_side_by_side_values_highlight_the_differences() -> None:
    exercise = Exercise.model_validate(
        {
            "id": "e",
            "title": "E",
            "task": "t",
            "starter": "s",
            "solution": "s",
            "checks": [{"expr": "y"}],
        }
    )

    def run(values: Any, requires_grad: bool = False) -> RunResult:
        array = np.asarray(values, dtype=np.float32)
        tensor = TensorValue(
            "float32", array.shape, "cpu", requires_grad, True, None, False, array, None
        )
        return RunResult(outcome=_completed(), values={"y": tensor}, device="cpu")

    verdict = check_run(exercise, run([[1, 2], [3, 4]]), run([[1, 2], [3, 5]], True), "cpu")
    text = render_verdict(verdict)
    plain = text.plain
    assert "✗ requires_grad  False, expected True" in plain
    assert "✗ values         1 of 4 elements differ (25%)" in plain
    assert "✓ grad           None on both sides" in plain
    assert "yours" in plain
    assert "     yours    │  expected\n" in plain
    assert "     [0] 1 2  │  [0] 1 2\n" in plain
    assert "     [1] 3 4  │  [1] 3 5\n" in plain
    assert "max abs difference 1 at [1, 1] (expected 5, got 4)" in plain
    marked = [text.plain[s.start : s.end] for s in text.spans if "reverse" in str(s.style)]
    assert marked == ["4", "5"]  # the differing element, on both sides

    big = check_run(exercise, run(np.ones((10, 10))), run(np.zeros((10, 10))), "cpu")
    plain = render_verdict(big).plain
    assert "✗ values         100 of 100 elements differ (100%)" in plain
    assert "max abs difference 1 at [0, 0] (expected 0, got 1)" in plain
    assert "max rel difference inf (expected 0 there) at [0, 0]" in plain
    assert "yours" not in plain


def _completed():  # type: ignore[no-untyped-def]
    from tutor.sandbox.runner import Outcome

    return Outcome.COMPLETED


def test_labels_are_inert_text() -> None:
    from tutor.inspect_model import ModuleNode
    from tutor.ui.structure_view import module_label

    label = module_label(ModuleNode("m", "m", "Evil\x1b[31m[bold]"))
    assert isinstance(label, Text) and "\\x1b[31m[bold]" in label.plain


# ------------------------------------------------------------------------------ snapshots


def test_structure_view_snapshot(snap_compare, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(runner=ViewRunner())

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.devices.info is not None)
        await run_code(pilot, app, "x = 3\n")
        app.clear_notifications()
        await pilot.press("f9")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_graph_view_snapshot(snap_compare, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(runner=ViewRunner())

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.devices.info is not None)
        await run_code(pilot, app, "x = 3\n")
        app.clear_notifications()
        await pilot.press("f10")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# ----------------------------------------------------------- the shipped lessons, real pool


async def _solve_and_open(data_dir: Any, lesson: str, exercise: str, key: str) -> str:
    from tutor.sandbox.pool import WarmRunner

    pack = load_pack(shipped_lessons_dir())
    app = TutorApp(
        pack,
        python=sys.executable,
        device="cpu",
        start_at=(lesson, exercise),
        runner=WarmRunner(sys.executable, spares=1),
        data_dir=data_dir,
        probe=no_cuda_probe,
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.position is not None and app.position.key == f"{lesson}/{exercise}"
        app.editor.focus()
        app.editor.replace(app.position.exercise.solution, (0, 0), app.editor.document.end)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.active_run is None, timeout=60)
        assert "Passed" in app.results.plain, app.results.plain
        await pilot.press(key)
        await pilot.pause()
        return app.screen.plain  # type: ignore[attr-defined,no-any-return]


async def test_nn_module_solution_shows_three_linear_layers(data_dir) -> None:  # type: ignore[no-untyped-def]
    plain = await _solve_and_open(data_dir, "nn-module", "define-network", "f9")
    assert "Total params: 669,706" in plain
    assert "model NeuralNetwork  → [3, 10]  669,706 params  on cpu" in plain
    linears = [line.strip() for line in plain.splitlines() if " Linear " in line]
    assert [line.split("  ")[0] for line in linears] == ["0 Linear", "2 Linear", "4 Linear"]
    for shape in ("[512, 784]", "[512, 512]", "[10, 512]"):
        assert f"weight {shape}" in plain


async def test_autograd_blitz_solution_shows_the_graph_down_to_x(data_dir) -> None:  # type: ignore[no-untyped-def]
    plain = await _solve_and_open(data_dir, "autograd", "blitz", "f10")
    lines = plain.splitlines()
    assert lines[0] == "Graph of out: scalar, grad_fn=MeanBackward0, requires_grad=True"
    assert "out = MeanBackward0" in lines
    assert "  z = MulBackward0" in lines
    assert "    MulBackward0" in lines
    assert "      y = AddBackward0" in lines
    assert "        AccumulateGrad → x [2, 2]  requires_grad=True  .grad filled" in lines
