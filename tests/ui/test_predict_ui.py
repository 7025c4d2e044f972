"""A predict-first item in the app: the task shows the snippet, the editor holds a prediction,
and the result puts the prediction beside the truth with the lesson's explanation."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Markdown

from tutor.loader import load_pack

from .conftest import FakeRunner, wait_for, write_pack
from .test_app import SIZE, run_and_wait, set_code

PREDICT_PACK = {
    "guess.yaml": """\
id: guess
title: Guess
intro: "# Guess"
exercises:
  - id: count
    title: How many calls?
    task: One list, a loop that appends.
    starter: |
      prediction = ...
    solution: |
      prediction = 3
    predict:
      snippet: |
        calls = []
        for i in range(3):
            calls.append(i)
      ask: len(calls)
      explain: The loop runs three times.
    hints: [Count the loop.]
    shortcuts:
      - why: off by one
        code: prediction = 2
""",
}


async def test_a_prediction_is_shown_beside_the_truth_with_the_explanation(
    make_app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    runner = FakeRunner()
    pack = load_pack(write_pack(tmp_path / "predict-pack", PREDICT_PACK))
    app = make_app(pack=pack, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        task = app.task_pane.query_one("#task-md", Markdown)
        await wait_for(pilot, lambda: "calls.append(i)" in task.source)
        assert "**Predict:** what is `len(calls)`" in task.source

        await run_and_wait(pilot, app)  # the starter: nothing predicted, nothing run
        assert runner.requests == []
        assert "no prediction yet" in app.results.plain
        assert "The loop runs three times." not in app.results.plain

        set_code(app, "prediction = 2\n")
        await run_and_wait(pilot, app)
        [request] = runner.requests
        assert request.code.startswith("calls = []")  # the snippet ran, not the editor
        plain = app.results.plain
        assert "You predicted  2" in plain and "It is          3" in plain
        assert "Why\nThe loop runs three times." in plain
        assert "Checks" not in plain  # the block replaces the checklist

        set_code(app, "prediction = 3\n")
        await run_and_wait(pilot, app)
        assert "Passed: your prediction is right" in app.results.plain
        assert app.session.is_done(app.position)  # type: ignore[arg-type]
