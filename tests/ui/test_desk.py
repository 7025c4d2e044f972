"""The learner's desk: the lesson beside (or instead of) the editor, the task always on screen,
scroll positions kept, results that show first what matters, the Output tab, toasts that never
cover the verdict, an honest header, the explainer's lesson link as a key, and resuming where
the learner was (exercise, code, cursor, scroll, device)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region
from textual.widgets import Markdown
from textual.widgets._toast import Toast
from textual.widgets.text_area import Selection

from tutor.checker import Status, Verdict, check_run
from tutor.loader import load_pack
from tutor.progress import Progress
from tutor.report import verdict_json, verdict_text
from tutor.sandbox.runner import OUTPUT_KEEP, ExceptionInfo, Frame, Outcome, RunResult
from tutor.schema import Exercise
from tutor.solution import Access, counts_as_attempt
from tutor.ui.app import TutorApp
from tutor.ui.results import OUTPUT_TAB, RESULT_TAB, render_output, render_verdict
from tutor.ui.session import Session

from .conftest import FakeRunner, cuda_probe, no_cuda_probe, wait_for, write_pack
from .test_app import run_and_wait, saved, set_code

LONG_INTRO = "\n\n".join(
    f"Paragraph {n} of the intro. " + "Words to read. " * 12 for n in range(60)
)

DESK = {
    "ORDER": "printing\nautograd\n",
    "printing.yaml": f"""\
id: printing
title: Printing things and reading what your code prints
intro: |
{chr(10).join("  " + line for line in LONG_INTRO.splitlines())}
exercises:
  - id: show
    title: Show a dtype
    task: |
      Set `a` to `3`. The starter prints something; run it first and look at what it prints.

{chr(10).join(f"      More about the task, line {n}." + chr(10) for n in range(20))}
    starter: |
      a = 0
      print("the value is", a)
    solution: |
      a = 3
      print("the value is", a)
    checks:
      - expr: a
        explain: Three.
    hints:
      - Three.
  - id: quiet
    title: Quiet one
    task: Set `b` to `2`.
    starter: |
      b = 0
    solution: |
      b = 2
    checks:
      - expr: b
""",
    "autograd.yaml": """\
id: autograd
title: Switching autograd on
intro: |
  # Autograd
  Gradients need requires_grad.
exercises:
  - id: switch-on
    title: Switch it on
    task: Make `w` require grad.
    starter: |
      w = 0
    solution: |
      w = 1
    checks:
      - expr: w
""",
}

NO_GRAD_FN = (
    'raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")\n'
)


@pytest.fixture
def desk_app(tmp_path: Path, data_dir: Path):  # type: ignore[no-untyped-def]
    pack = load_pack(write_pack(tmp_path / "desk", DESK))
    assert not pack.problems, pack.problems

    def make(**kwargs: Any) -> TutorApp:
        kwargs.setdefault("runner", FakeRunner())
        kwargs.setdefault("data_dir", data_dir)
        kwargs.setdefault("probe", no_cuda_probe)
        return TutorApp(pack, python="python-for-tests", **kwargs)

    return make


def visible(widget: Any) -> bool:
    return widget.display and widget.region.width > 0 and widget.region.height > 0


def on_screen(app: TutorApp, widget: Any) -> bool:
    """At least one row of `widget` is drawn inside its scrolling parent's visible area."""
    parent = widget.parent
    return visible(widget) and bool(widget.region.intersection(parent.region))


# ---------------------------------------------------------- reading while coding


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_task_is_on_screen_however_long_the_intro(desk_app, size) -> None:  # type: ignore[no-untyped-def]
    app = desk_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        pane = app.task_pane
        assert pane.intro_open  # a new lesson: its intro is unfolded...
        task = pane.query_one("#task-md", Markdown)
        assert on_screen(app, task)  # ...and the task is on screen too, right above the editor
        assert task.region.y < app.editor.region.y
        assert pane.task_scroll.region.bottom <= app.editor.region.y


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_ctrl_t_shows_the_lesson_alone_and_back(desk_app, size) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "quiet"))  # the intro is folded here
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert not app.task_pane.intro_open
        height = app.task_pane.region.height
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.reading
        assert app.task_pane.intro_open
        assert not visible(app.editor)  # under 140 columns: the lesson alone, all the height
        assert app.task_pane.region.height > 2 * height
        assert app.focused is app.task_pane.intro_scroll  # the keys scroll it
        await pilot.press("pagedown")
        await pilot.pause()
        assert app.task_pane.intro_scroll.scroll_y > 0
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not app.reading
        assert visible(app.editor) and app.focused is app.editor
        assert not app.task_pane.intro_open  # folded, as it was before


async def test_ctrl_t_puts_the_lesson_beside_the_editor_when_wide(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "quiet"))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.pause()
        task, editor = app.task_pane.region, app.editor.region
        assert visible(app.editor) and visible(app.results)
        assert task.right <= editor.x  # side by side
        assert task.height >= 40  # the whole height
        assert app.focused is app.editor  # typing goes on
        await pilot.press("a")
        assert app.editor.text.startswith("a")


async def test_the_intro_folds_once_read(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.task_pane
        assert pane.intro_open and not pane.intro_read
        await run_and_wait(pilot, app)
        assert pane.intro_open  # not read yet: a run does not take it away
        await pilot.press("ctrl+t")
        await pilot.pause()
        pane.intro_scroll.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert pane.intro_read
        await pilot.press("ctrl+t")  # back to the code: it was read, so it folds
        await pilot.pause()
        assert not pane.intro_open
        pane.set_intro_open(True)
        await pilot.pause()
        await pilot.pause()
        assert pane.intro_scroll.scroll_y > 0  # unfolded at the place it was left
        await run_and_wait(pilot, app)
        assert not pane.intro_open  # read, then a run: folds


async def test_scroll_positions_are_kept(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        intro = app.task_pane.intro_scroll
        intro.scroll_to(y=12, animate=False, immediate=True)
        await pilot.pause()
        assert intro.scroll_y == 12
        await pilot.press("escape", "tab", "tab", "tab")  # tabbing around the panes
        await pilot.pause()
        assert intro.scroll_y == 12
        task = app.task_pane.task_scroll
        task.scroll_to(y=7, animate=False, immediate=True)
        await pilot.pause()
        await pilot.press("ctrl+n")  # another exercise of the same lesson
        await pilot.pause()
        assert task.scroll_y == 0  # its own task, from the top
        app.task_pane.set_intro_open(True)
        await pilot.pause()
        await pilot.pause()
        assert intro.scroll_y == 12
        await pilot.press("ctrl+b")
        await pilot.pause()
        await pilot.pause()
        assert intro.scroll_y == 12
        assert task.scroll_y == 7  # and the task where it was left


# ------------------------------------------------------------------- results


async def test_results_show_the_verdict_the_first_failure_then_the_output(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await run_and_wait(pilot, app)  # the starter: prints, fails
        lines = app.results.plain.splitlines()
        assert lines[0] == "✗ Not yet: 1 of 1 check failed"
        assert lines[1] == "✗ a: expected 3, got 0"
        output = lines.index("Output (1 line):")
        assert output == 2
        assert lines[output + 1] == "  the value is 0"
        assert output < lines.index("Checks")
        # At 80x24, the printed line is on screen without scrolling.
        verdict = app.results.query_one("#verdict-scroll")
        assert output + 1 < verdict.region.height
        assert verdict.scroll_y == 0


async def test_output_is_one_key_away(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "quiet"))  # a task that is not about printing
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        set_code(app, "for i in range(300):\n    print('line', i)\nb = 1\n")
        await run_and_wait(pilot, app)
        pane = app.results
        assert "line 0" not in pane.plain  # not in the way of the verdict...
        assert "Your code printed 300 lines: ctrl+o shows them." in pane.plain  # ...but named
        assert "Output (300 lines)" in str(pane.border_title)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert pane.tab == OUTPUT_TAB
        assert visible(pane.query_one("#output-scroll"))
        assert not visible(pane.query_one("#verdict-scroll"))
        assert app.focused is app.editor  # still typing
        assert "  line 0\n" in pane.output_plain and "  line 199\n" in pane.output_plain
        assert pane.output_plain.endswith("… 100 more lines")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert pane.tab == RESULT_TAB and visible(pane.query_one("#verdict-scroll"))
        await pilot.press("ctrl+o", "ctrl+n")  # another exercise starts on its result
        await pilot.pause()
        assert pane.tab == RESULT_TAB


def test_output_counts_are_exact_or_say_more_than() -> None:
    exact = RunResult(Outcome.COMPLETED, stdout="".join(f"{i}\n" for i in range(500)))
    assert render_output(exact).plain.endswith("… 300 more lines")
    assert "Output (500 lines)" in render_output(exact).plain
    # 200,000 lines printed; the sandbox kept the first OUTPUT_KEEP bytes and flagged the cut.
    flood = "".join(f"{i}\n" for i in range(200_000)).encode()[:OUTPUT_KEEP].decode()
    kept = flood.count("\n") + 1
    cut = RunResult(Outcome.COMPLETED, stdout=flood, output_truncated=True)
    plain = render_output(cut).plain
    assert f"Output (more than {kept:,} lines)" in plain
    assert f"… and more than {kept - 200:,} further lines" in plain
    assert f"… {kept - 200} more lines" not in plain  # never a count that claims to be all
    pointer = render_verdict(Verdict(Status.PASSED, "ok", run=cut)).plain
    assert f"Your code printed more than {kept:,} lines" in pointer
    # The stream that filled its share is the one cut, even with fewer lines than the other.
    wide = ("x" * 99 + "\n") * 2000
    both = RunResult(
        Outcome.COMPLETED,
        stdout=wide[:OUTPUT_KEEP],
        stderr="w\n" * 3000,
        output_truncated=True,
    )
    plain = render_output(both).plain
    assert f"Output (more than {-(-OUTPUT_KEEP // 100):,} lines)" in plain
    assert "Errors and warnings (stderr) (3,000 lines)" in plain


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 45)])
async def test_toasts_never_cover_the_verdict(desk_app, size) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "quiet"))
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause()
        set_code(app, "b = 2\n")
        await run_and_wait(pilot, app)
        assert not [s for s in app.said if "passed" in s]  # the verdict is not repeated
        for n in range(3):
            app.say(f"Something to say, number {n}, long enough to wrap a line or two.")
        await wait_for(pilot, lambda: len(app.screen.query(Toast)) == 3)
        toasts = list(app.screen.query(Toast))
        pane = app.results.region
        verdict = Region(pane.x, pane.y, pane.width, 3)  # the title row and the verdict
        for toast in toasts:
            assert not toast.region.overlaps(verdict), (toast.region, verdict)
            assert not toast.region.overlaps(app.editor.region)


# -------------------------------------------------------------------- header


async def test_the_header_follows_the_exercise_on_screen(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "show"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        set_code(app, 'a = 3\nprint("the value is", a)\n')
        await run_and_wait(pilot, app)
        assert app.status_bar.run_state.startswith("last run: passed")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.status_bar.run_state == "ready"  # not the previous exercise's result
        set_code(app, "b = 5\n")
        await run_and_wait(pilot, app)
        assert app.status_bar.run_state.startswith("last run: failed")
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert app.status_bar.run_state.startswith("last run: passed")


async def test_the_header_says_starting_until_the_sandbox_takes_runs(desk_app) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def slow_probe(python: str):  # type: ignore[no-untyped-def]
        release.wait(10)
        return no_cuda_probe(python)

    app = desk_app(probe=slow_probe)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.status_bar.run_state == "starting PyTorch…"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.status_bar.run_state == "starting PyTorch…"
        release.set()
        await wait_for(pilot, lambda: app.status_bar.run_state == "ready")


async def test_the_header_says_when_code_cannot_run(desk_app) -> None:  # type: ignore[no-untyped-def]
    from tutor.sandbox.probe import InterpreterInfo

    app = desk_app(probe=lambda python: InterpreterInfo(python, error="no torch here"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.status_bar.run_state == "cannot run code")


async def test_long_crumbs_end_with_an_ellipsis(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app()
    async with app.run_test(size=(90, 24)) as pilot:
        await pilot.pause()
        crumbs = app.status_bar.query_one("#crumbs")
        row = "".join(segment.text for segment in crumbs.render_line(0))
        assert row.rstrip().endswith("…"), row
        assert "› 1/2 Sh" in row  # the exercise's number comes before the words cut
        assert app.status_bar.crumbs == (
            "Printing things and reading what your code prints › 1/2 Show a dtype"
        )


async def test_long_titles_in_the_lesson_list_end_with_an_ellipsis(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.lessons
        lines = [
            "".join(segment.text for segment in tree.render_line(y))
            for y in range(tree.scrollable_content_region.height)
        ]
        lesson = next(line for line in lines if "Printing" in line)
        assert lesson.rstrip().endswith("… 0/2"), lesson  # the count stays in sight
        exercise = next(line for line in lines if "Show a dtype" in line)
        assert "…" not in exercise  # short ones are whole


# ------------------------------------------------------------ honest wording


def syntax_error_run() -> RunResult:
    error = ExceptionInfo(
        "SyntaxError",
        "builtins",
        ("SyntaxError", "Exception"),
        "'(' was never closed",
        (Frame(2, "<module>", "x = (", 5),),
    )
    return RunResult(Outcome.COMPLETED, exception=error, values={}, device="cpu")


def test_a_syntax_error_says_the_code_did_not_run() -> None:
    exercise = Exercise.model_validate(
        {
            "id": "e",
            "title": "E",
            "task": "t",
            "starter": "x = 0\n",
            "solution": "x = 1\ny = 2\n",
            "checks": [{"expr": "x"}, {"expr": "y"}],
        }
    )
    verdict = check_run(exercise, syntax_error_run(), None, "cpu")
    assert verdict.status is Status.ERROR
    assert verdict.summary == "Your code did not run: SyntaxError on line 2"
    assert all("did not run" in c.message for c in verdict.checks)
    for text in (render_verdict(verdict).plain, verdict_text("l/e", verdict)):
        assert "not defined" not in text
        assert "Your code did not run: SyntaxError on line 2" in text
    assert verdict_json("l/e", verdict)["summary"] == "Your code did not run: SyntaxError on line 2"
    plain = render_verdict(verdict).plain
    assert plain.startswith("✗ Your code did not run: SyntaxError on line 2\n")
    assert "Checks: 2 checks, not checked: your code did not run" in plain


async def test_a_syntax_error_in_the_app(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "quiet"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        set_code(app, "b = 2\nif b\n")
        await run_and_wait(pilot, app)
        plain = app.results.plain
        assert plain.startswith("✗ Your code did not run: SyntaxError on line 2")
        assert "not defined" not in plain


def test_only_failures_and_errors_unlock_the_solution(pack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    session = Session(pack, Progress(tmp_path / "progress.json"))
    position = session.positions[0]
    for status in Status:
        counted = counts_as_attempt(status)
        assert counted is (status in (Status.FAILED, Status.ERROR, Status.PASSED)), status
    for status in (
        Status.TIMEOUT,
        Status.TIMEOUT,
        Status.MEMORY_LIMIT,
        Status.CPU_LIMIT,
        Status.OUTPUT_LIMIT,
        Status.BLOCKED,
        Status.CRASHED,
        Status.RESULT_TOO_LARGE,
        Status.CANCELLED,
    ):
        session.record(position, Verdict(status, "x"))
    access = session.solution_access(position)
    assert access.access is Access.LOCKED and access.failed_runs == 0
    assert "does not count as a failed run" in access.locked_message("f2")
    session.record(position, Verdict(Status.ERROR, "NameError"))
    session.record(position, Verdict(Status.FAILED, "1 of 1 checks failed"))
    assert session.solution_access(position).access is Access.CONFIRM


# -------------------------------------------------------- the explainer's link


async def test_the_explainer_link_is_a_key_there_and_back(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "quiet"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        set_code(app, NO_GRAD_FN)
        await run_and_wait(pilot, app)
        plain = app.results.plain
        assert (
            "Learn the fix: press ctrl+g to open autograd/switch-on (Switching autograd on)"
            in plain
        )
        assert "pttutor --lesson" not in plain
        assert "ctrl+g opens autograd/switch-on" in str(app.results.border_subtitle)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.position.key == "autograd/switch-on")  # type: ignore[union-attr]
        assert app.focused is app.editor
        assert "ctrl+g takes you back to Quiet one." in app.results.plain
        assert "ctrl+g goes back" in str(app.results.border_subtitle)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.position.key == "printing/quiet")  # type: ignore[union-attr]
        assert app.editor.text == NO_GRAD_FN  # the code and the verdict are still there
        assert "Learn the fix: press ctrl+g" in app.results.plain


async def test_nothing_to_follow_says_so(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(start_at=("printing", "quiet"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+g")
        assert app.position is not None and app.position.key == "printing/quiet"
        assert any(s.startswith("Nothing to open") for s in app.said)


# ------------------------------------------------------------------- resume


async def test_restart_reopens_the_exercise_cursor_and_scroll(desk_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    code = "".join(f"v{i} = {i}\n" for i in range(80)) + "a = 3\n"
    app = desk_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        app.task_pane.intro_scroll.scroll_to(y=9, animate=False, immediate=True)
        set_code(app, code)
        app.editor.selection = Selection.cursor((60, 3))
        app.editor.scroll_to(y=50, animate=False, immediate=True)
        await pilot.pause()
        editor_y = app.editor.scroll_y
        assert editor_y > 0
        await pilot.press("ctrl+q")
    resume = saved(data_dir)["resume"]
    assert resume == {
        "exercise": "printing/show",
        "cursor": [60, 3],
        "editor_scroll": round(editor_y),
        "lesson_scroll": 9,
    }
    again = desk_app()
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert again.position is not None and again.position.key == "printing/show"
        assert again.editor.text == code
        assert again.editor.cursor_location == (60, 3)
        assert again.editor.scroll_y == editor_y
        assert again.focused is again.editor
        assert not again.task_pane.intro_open  # the lesson is begun now: the task comes first
        await pilot.press("ctrl+t")  # reading it again: where the learner was
        await wait_for(pilot, lambda: again.task_pane.intro_scroll.scroll_y == 9)


async def test_cursor_positions_are_kept_per_exercise_in_a_session(desk_app) -> None:  # type: ignore[no-untyped-def]
    app = desk_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.editor.selection = Selection.cursor((1, 4))
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.editor.cursor_location == (0, 0)
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert app.editor.cursor_location == (1, 4)


async def test_the_device_choice_is_remembered(desk_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = desk_app(probe=cuda_probe)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.devices.info is not None)
        assert app.devices.effective() == "cuda"
        await pilot.press("f4")
        await pilot.pause()
        assert app.grader.device == "cpu"
        await pilot.press("ctrl+q")
    assert saved(data_dir)["device"] == "cpu"
    again = desk_app(probe=cuda_probe)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: again.devices.info is not None)
        assert again.grader.device == "cpu"  # not auto → cuda
        assert again.status_bar.device == "device: cpu"
        await pilot.press("f4")
        await pilot.pause()
        assert again.grader.device == "cuda"
    assert saved(data_dir)["device"] == "cuda"
    # An explicit --device (or config) wins over the remembered choice.
    pinned = desk_app(probe=cuda_probe, device="cuda")
    (data_dir / "progress.json").write_text(
        (data_dir / "progress.json").read_text().replace('"cuda"', '"cpu"')
    )
    async with pinned.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert pinned.grader.device == "cuda"


def test_resume_and_device_are_optional_and_never_fatal(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    path.write_text(
        '{"version": 1, "last": "a/b", "device": "tpu", "resume": {"exercise": "a/b", '
        '"cursor": "here"}, "exercises": {}}'
    )
    progress = Progress.load(tmp_path)
    assert progress.messages == [] and progress.last == "a/b"  # kept, not moved aside
    assert progress.device is None and progress.resume is None
    path.write_text('{"version": 1, "last": null, "exercises": {}}')  # an older file
    progress = Progress.load(tmp_path)
    assert progress.device is None and progress.resume is None
    progress.device = "cpu"
    progress.save()
    assert Progress.load(tmp_path).device == "cpu"
