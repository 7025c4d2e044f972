"""Pilot tests of the app with a fake runner: keys, runs, results, hints, saving, devices."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from textual.widgets import TextArea

from tutor.loader import load_pack
from tutor.ui.app import TutorApp
from tutor.ui.help_screen import HelpScreen

from .conftest import PACK, FakeRunner, cuda_probe, wait_for, write_pack

SIZE = (120, 40)


async def type_code(pilot, app: TutorApp, code: str) -> None:  # type: ignore[no-untyped-def]
    """Replace the editor's text by typing `code` key by key, with the editor focused."""
    app.editor.focus()
    app.editor.select_all()
    await pilot.press("backspace")
    keys = ["enter" if c == "\n" else "space" if c == " " else c for c in code]
    await pilot.press(*keys)


def set_code(app: TutorApp, code: str) -> None:
    """Replace the editor's text as one edit (faster than typing; undoable like typing)."""
    app.editor.focus()
    app.editor.replace(code, (0, 0), app.editor.document.end)


async def run_and_wait(pilot, app: TutorApp) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: app.active_run is None)


def saved(data_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((data_dir / "progress.json").read_text(encoding="utf-8"))


async def test_opens_first_unfinished_exercise_with_starter(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.position is not None and app.position.key == "basics/three"
        assert app.editor.text == "x = 0\n"
        assert app.focused is app.editor
        assert "No result yet" in app.results.plain
        # A lesson the learner has not begun opens with its intro unfolded.
        assert app.task_pane.intro_open


async def test_opens_at_start_at(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("basics", "add"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.position is not None and app.position.key == "basics/add"
        assert app.editor.text == "y = 0\n"
        assert not app.task_pane.intro_open  # exercise 2: the task comes first


async def test_start_at_lesson_only_opens_its_first_exercise(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("errors", None))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.position is not None and app.position.key == "errors/raise"


async def test_editor_is_a_python_code_editor(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        editor = app.query_one("#editor", TextArea)
        assert editor.is_syntax_aware
        assert editor.language == "python"
        assert editor.show_line_numbers


async def test_ctrl_r_in_the_editor_runs_and_passes(make_app) -> None:  # type: ignore[no-untyped-def]
    runner = FakeRunner()
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await type_code(pilot, app, "x = 3\n")
        assert app.focused is app.editor
        await run_and_wait(pilot, app)
        assert app.editor.text == "x = 3\n"  # ctrl+r did not reach the editor
        assert "x = 3\n" in {r.code for r in runner.requests}
        plain = app.results.plain
        assert "Passed" in plain
        assert "Next: Add two" in plain
        assert "last run: passed" in app.status_bar.run_state
        assert not any("passed" in s for s in app.said)  # on screen already: no toast
        assert app.session.is_done(app.position)  # type: ignore[arg-type]


async def test_f5_runs_too(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.active_run is None)
        assert "Not yet" in app.results.plain


async def test_failing_check_shows_message_and_explain(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 5\n")
        await run_and_wait(pilot, app)
        plain = app.results.plain
        assert plain.startswith("✗ Not yet: 1 of 1 check failed\n✗ x: expected 3, got 5")
        assert "✗ x: expected 3, got 5" in plain
        assert "Three is 1 + 2." in plain  # the author's explain
        assert "last run: failed" in app.status_bar.run_state


async def test_exception_shows_its_line(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "a = 1\nx = a + nope\n")
        await run_and_wait(pilot, app)
        plain = app.results.plain
        assert "Error in your code" in plain
        assert "line 2: x = a + nope" in plain
        assert "NameError: name 'nope' is not defined" in plain


async def test_output_is_shown_and_made_inert(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("basics", "greet"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.editor.load_text('print("hello \\x1b[31m[bold]x[/bold]")\n')
        await run_and_wait(pilot, app)
        plain = app.results.plain
        assert "Passed" in plain
        assert "Output" in plain
        assert "hello \\x1b[31m[bold]x[/bold]" in plain  # escape made visible, no markup


async def test_f2_reveals_hints_one_at_a_time(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        hints = app.task_pane.query_one("#hints-md")
        assert "2 more hints: press f2" in hints.source  # type: ignore[attr-defined]
        await pilot.press("f2")
        await pilot.pause()
        assert "The answer is a small number." in hints.source  # type: ignore[attr-defined]
        assert "It is `3`." not in hints.source  # type: ignore[attr-defined]
        await pilot.press("f2")
        await pilot.pause()
        assert "It is `3`." in hints.source  # type: ignore[attr-defined]
        await pilot.press("f2")
        await pilot.pause()
        assert any("last hint" in s for s in app.said)
    assert saved(data_dir)["exercises"]["basics/three"]["hints_shown"] == 2


async def test_next_and_previous_move_and_save_code(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 42\n")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.position is not None and app.position.key == "basics/add"
        assert app.editor.text == "y = 0\n"
        assert saved(data_dir)["exercises"]["basics/three"]["code"] == "x = 42\n"
        assert saved(data_dir)["last"] == "basics/add"
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert app.position.key == "basics/three"
        assert app.editor.text == "x = 42\n"
        assert app.focused is app.editor


async def test_reopening_the_same_exercise_keeps_unsaved_typing(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 'just typed'\n")
        await pilot.press("ctrl+l", "enter")  # cursor is on the open exercise
        await pilot.pause()
        assert app.position is not None and app.position.key == "basics/three"
        assert app.editor.text == "x = 'just typed'\n"


async def test_next_crosses_lessons_and_stops_at_the_end(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("basics", "greet"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.position is not None and app.position.key == "errors/raise"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.position.key == "errors/raise"
        assert any("last exercise" in s for s in app.said)


async def test_code_is_restored_after_a_restart(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_code(pilot, app, "x = 7\n")
        await pilot.press("ctrl+q")
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.position is not None and again.position.key == "basics/three"
        assert again.editor.text == "x = 7\n"


async def test_quit_saves_and_closes_the_runner(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    runner = FakeRunner()
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 'typed'\n")
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert saved(data_dir)["exercises"]["basics/three"]["code"] == "x = 'typed'\n"
    assert runner.closed


async def test_ctrl_s_saves(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 1\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert saved(data_dir)["exercises"]["basics/three"]["code"] == "x = 1\n"
        assert any(s.startswith("Saved") for s in app.said)


async def test_running_saves_first(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 2\n")
        await pilot.press("ctrl+r")
        assert saved(data_dir)["exercises"]["basics/three"]["code"] == "x = 2\n"
        await wait_for(pilot, lambda: app.active_run is None)


async def test_f1_help_lists_keys_from_the_bindings(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        text = screen.plain
        for key in ("^r", "f5", "f2", "^n", "^b", "f4", "^l", "^s", "^q", "esc", "^p", "^t", "^o"):
            assert key in text, key
        assert "Open the lesson that teaches the fix of your error" in text  # ctrl+g
        assert "ctrl+home" in text or "^home" in text  # the editor's own keys
        assert "tab and shift+tab indent and dedent the selected lines" in text
        assert "Save, run your code in the sandbox and check it" in text
        assert "Editor (focused)" in text  # the focused widget's own keys
        assert "Undo" in text
        # ctrl+r does nothing under the help screen (no run reaches the runner); escape
        # closes it.
        runner = app.grader.runner
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        assert app.active_run is None and runner.requests == []  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_f4_to_cuda_without_cuda_stays_on_cpu(make_app) -> None:  # type: ignore[no-untyped-def]
    runner = FakeRunner()
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.devices.info is not None)
        assert app.status_bar.device == "device: auto → cpu"
        await pilot.press("f4")
        await pilot.pause()
        assert app.grader.device == "cpu"
        assert app.status_bar.device == "device: cpu"
        assert any("CPU-only" in s and "keeps running on the CPU" in s for s in app.said)
        await run_and_wait(pilot, app)
        assert {r.device for r in runner.requests} == {"cpu"}


async def test_f4_switches_to_cuda_and_back_when_there_is_a_gpu(make_app) -> None:  # type: ignore[no-untyped-def]
    runner = FakeRunner()
    app = make_app(runner=runner, probe=cuda_probe, device="cpu")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.devices.info is not None)
        await pilot.press("f4")
        await pilot.pause()
        assert app.grader.device == "cuda"
        assert app.status_bar.device == "device: cuda (Fake GPU)"
        await run_and_wait(pilot, app)
        assert runner.requests[-1].device == "cuda"
        await pilot.press("f4")
        await pilot.pause()
        assert app.grader.device == "cpu"


async def test_f4_before_the_probe_answers_switches_when_it_does(make_app) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def slow_probe(python: str):  # type: ignore[no-untyped-def]
        release.wait(10)
        return cuda_probe(python)

    app = make_app(probe=slow_probe)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.status_bar.device == "device: auto"  # the first frame did not wait
        await pilot.press("f4")
        assert any("Checking whether" in s for s in app.said)
        release.set()
        await wait_for(pilot, lambda: app.grader.device == "cuda")
        assert app.status_bar.device == "device: cuda (Fake GPU)"


async def test_escape_cancels_a_slow_run(make_app) -> None:  # type: ignore[no-untyped-def]
    runner = FakeRunner()
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.editor.load_text("SLOW = 1\n")
        await pilot.press("ctrl+r")
        await wait_for(pilot, runner.slow_started.is_set)
        assert app.active_run is not None
        assert "running" in app.status_bar.run_state
        assert "Running your code" in app.results.plain
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.active_run is None)
        assert "Cancelled" in app.results.plain
        assert app.focused is app.editor  # escape went to the run, not the editor
        # A cancelled run is not a failed attempt.
        assert app.session.progress.exercises["basics/three"].failed_runs == 0


async def test_escape_without_a_run_leaves_the_editor(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is app.editor
        await pilot.press("escape")
        assert app.focused is not app.editor


async def test_a_second_run_replaces_the_first(make_app) -> None:  # type: ignore[no-untyped-def]
    runner = FakeRunner()
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.editor.load_text("SLOW = 1\n")
        await pilot.press("ctrl+r")
        await wait_for(pilot, runner.slow_started.is_set)
        app.editor.load_text("x = 3\n")
        await run_and_wait(pilot, app)
        await pilot.pause(0.1)
        assert "Passed" in app.results.plain


async def test_lesson_list_marks_and_enter_opens(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 3\n")
        await run_and_wait(pilot, app)
        tree = app.lessons
        assert tree.label_of("basics", "three").startswith("✓ Make three")
        assert tree.label_of("basics", "add").startswith("· Add two")
        assert tree.label_of("basics").startswith("◐ Basics 1/3")
        assert tree.label_of("errors").startswith("○ Errors 0/1")
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.focused is tree
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.position is not None and app.position.key == "basics/add"
        assert app.focused is app.editor


async def test_narrow_terminal_hides_the_list_until_asked(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.lessons.display or app.lessons.region.width == 0
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.lessons.region.width > 0
        assert app.focused is app.lessons
        await pilot.press("enter")  # opens basics (its first unfinished exercise)
        await pilot.pause()
        assert app.focused is app.editor
        assert app.lessons.region.width == 0  # folds away again
        await pilot.press("f3")
        await pilot.pause()
        assert app.lessons.region.width > 0


async def test_problems_and_progress_messages_are_notified(tmp_path: Path, data_dir: Path) -> None:
    files = dict(PACK)
    files["broken.yaml"] = "id: broken\ntitle: [unclosed\n"
    pack = load_pack(write_pack(tmp_path / "pack2", files))
    assert pack.problems
    (data_dir / "progress.json").write_text("{not json", encoding="utf-8")
    app = TutorApp(pack, python="py", runner=FakeRunner(), data_dir=data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("broken.yaml" in s for s in app.said)
        assert any("progress file was moved" in s for s in app.said)
        assert app.position is not None


async def test_starter_change_is_notified(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (data_dir / "progress.json").write_text(
        json.dumps(
            {
                "version": 1,
                "last": "basics/three",
                "exercises": {"basics/three": {"code": "x = 9\n", "starter": "0" * 16}},
            }
        ),
        encoding="utf-8",
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.editor.text == "x = 9\n"
        assert any("starter code of this exercise changed" in s for s in app.said)


async def test_jump_command_opens_an_exercise(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"raise one")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: app.position is not None and app.position.key == "errors/raise"
        )


async def test_intro_folds_and_unfolds(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("basics", "add"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.task_pane.intro_open
        assert not app.task_pane.intro_scroll.display
        app.query_one("#intro-toggle").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.task_pane.intro_open and app.task_pane.intro_scroll.display
        await pilot.press("enter")
        await pilot.pause()
        assert not app.task_pane.intro_open


def test_the_ui_never_imports_torch() -> None:
    code = (
        "import sys, tutor.ui.app, tutor.cli; "
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


async def test_a_burst_of_typing_then_ctrl_r_runs_everything_typed(make_app) -> None:  # type: ignore[no-untyped-def]
    """Priority keys overtake the editor's queue: a paste followed at once by ctrl+r must
    still run (and save) every character, not the text as it was a few keys earlier."""
    runner = FakeRunner()
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.editor.load_text("")
        app.editor.focus()
        from textual import events

        for char in "x = 7":  # posted at once, as a terminal delivers a paste
            app.post_message(events.Key(char, char))
        app.post_message(events.Key("ctrl+r", None))
        await wait_for(pilot, lambda: app.active_run is None and bool(runner.requests))
        assert any(r.code == "x = 7" for r in runner.requests)


async def test_highlighting_switched_on_late_keeps_text_and_cursor(make_app) -> None:  # type: ignore[no-untyped-def]
    """The editor starts plain (faster first frame) and turns to Python right after; keys
    typed in between must stay where they were typed."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.editor.language = None
        app.editor.load_text("a = 1\nb = 2\n")
        app.editor.cursor_location = (1, 5)
        app._enable_highlighting()
        await pilot.pause()
        assert app.editor.is_syntax_aware
        assert app.editor.text == "a = 1\nb = 2\n"
        assert app.editor.cursor_location == (1, 5)
