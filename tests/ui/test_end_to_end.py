"""One real run: the app with the real ColdRunner (torch in a sandbox child) passes a solution."""

from __future__ import annotations

import sys
from pathlib import Path

from tutor.loader import load_pack
from tutor.sandbox.runner import ColdRunner
from tutor.ui.app import TutorApp

from .conftest import wait_for, write_pack

LESSON = """\
id: tensors
title: Tensors
intro: Tensors hold numbers.
exercises:
  - id: ones
    title: Ones
    task: Make `t`, a tensor of three ones, and `g`, its gradient after `t.sum().backward()`.
    starter: |
      import torch
      t = torch.zeros(3)
    solution: |
      import torch
      t = torch.ones(3, requires_grad=True)
      t.sum().backward()
      g = t.grad
    checks:
      - expr: t
      - expr: g
        expect: [1.0, 1.0, 1.0]
"""


async def test_reference_solution_passes_with_the_real_runner(
    tmp_path: Path, data_dir: Path
) -> None:
    pack = load_pack(write_pack(tmp_path / "pack", {"tensors.yaml": LESSON}))
    assert not pack.problems
    app = TutorApp(
        pack,
        python=sys.executable,
        device="cpu",
        runner=ColdRunner(sys.executable),
        data_dir=data_dir,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.position is not None
        app.editor.focus()
        app.editor.replace(app.position.exercise.solution, (0, 0), app.editor.document.end)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.active_run is None, timeout=90)
        plain = app.results.plain
        assert "Passed" in plain, plain
        assert "ran on cpu" in plain
        assert "last run: passed" in app.status_bar.run_state


async def test_the_default_warm_runner_reports_the_interpreter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without an injected probe, the app asks the warm pool what the interpreter has, and the
    header says "ready" only once a run would start at once (two spares wait: the learner's
    code and the reference)."""
    from tutor.sandbox.pool import WarmRunner

    pack = load_pack(write_pack(tmp_path / "pack"))
    runner = WarmRunner(sys.executable)
    app = TutorApp(pack, python=sys.executable, runner=runner, data_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.status_bar.run_state == "starting PyTorch…"
        for _ in range(600):
            await pilot.pause(0.1)
            if app.devices.info is not None:
                break
        info = app.devices.info
        assert info is not None and info.usable, info
        assert app.status_bar.run_state == "ready"
        assert runner.ready("cpu", 2)  # when it said so
        assert not [s for s in app.said if "Cannot run code" in s]
