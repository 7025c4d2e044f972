"""The silent-typo warning, end to end: the real sandbox reports the slip and the results pane
names it, whether the checks pass or not."""

from __future__ import annotations

import sys
from pathlib import Path

from tutor.loader import load_pack
from tutor.sandbox.runner import ColdRunner
from tutor.ui.app import TutorApp

from .conftest import wait_for, write_pack

LESSON = """\
id: grads
title: Gradients
intro: Switch gradients on.
exercises:
  - id: switch-on
    title: Switch on
    task: Make `w`, three ones that require grad.
    trials: 1
    starter: |
      import torch
      w = torch.ones(3)
    solution: |
      import torch
      w = torch.ones(3, requires_grad=True)
    checks:
      - expr: w.requires_grad
        expect: true
    shortcuts:
      - code: w = True
        why: not a tensor
"""

SLIP = "import torch\nw = torch.ones(3)\nw.requires_gradn = True\n"


async def test_the_results_pane_names_a_silent_typo(tmp_path: Path, data_dir: Path) -> None:
    pack = load_pack(write_pack(tmp_path / "pack", {"grads.yaml": LESSON}))
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
        app.editor.focus()
        app.editor.replace(SLIP, (0, 0), app.editor.document.end)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.active_run is None, timeout=90)
        plain = " ".join(app.results.plain.split())
        assert "Not yet" in plain, plain
        assert "you set `w.requires_gradn`; did you mean `requires_grad`?" in plain, plain
        assert "accept any attribute" in plain
