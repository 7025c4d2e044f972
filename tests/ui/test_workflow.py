"""Pilot tests of the learner's workflow: pass and move on, the solution (after a pass; before
one only after 2 failed runs and a "y"), reset + undo, reset a lesson, reset everything (with a
backup), the theme, and resuming after a restart with unsaved edits."""

from __future__ import annotations

import json
from pathlib import Path

from textual.command import CommandList, CommandPalette

from tutor.progress import FILE_NAME
from tutor.ui.app import TutorApp
from tutor.ui.confirm import ConfirmScreen
from tutor.ui.help_screen import HelpScreen
from tutor.ui.lesson_list import progress_bar
from tutor.ui.solution_screen import SolutionScreen

from .conftest import wait_for
from .test_app import run_and_wait, saved, set_code, type_code

SIZE = (120, 40)


async def palette(
    pilot, app: TutorApp, query: str, title: str | None = None, *, exact: bool = False
) -> None:  # type: ignore[no-untyped-def]
    """Run a command palette command by typing `query` until `title` (default: the query) is
    in (or, `exact`, is) the top hit, then enter: as the learner would."""
    wanted = (title or query).lower()
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*query)

    def top_hit() -> str:
        options = app.screen.query_one(CommandList)
        if options.option_count == 0 or options.highlighted is None:
            return ""
        return str(options.get_option_at_index(options.highlighted).prompt).lower()

    def found() -> bool:
        hit = top_hit()
        return hit.split("\n")[0].strip() == wanted if exact else wanted in hit

    await wait_for(pilot, found)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))


def backups(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob(f"{FILE_NAME}.*.bak"))


async def fail_twice(pilot, app: TutorApp) -> None:  # type: ignore[no-untyped-def]
    for wrong in ("x = 1\n", "x = 2\n"):
        set_code(app, wrong)
        await run_and_wait(pilot, app)


# ----------------------------------------------------------- run, pass, next


async def test_run_pass_next_updates_marks_and_the_bar(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.lessons.progress_label.endswith(" 0/4 done")
        await type_code(pilot, app, "x = 3\n")
        await run_and_wait(pilot, app)
        plain = app.results.plain
        assert "Passed" in plain and "Next: Add two; press ctrl+n." in plain
        assert "f8 compares your code with the reference solution." in plain
        bar = app.lessons.progress_label
        assert bar == "██░░░░░░░░ 1/4 done"
        assert app.lessons.label_of("basics").startswith("◐ Basics 1/3")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.position is not None and app.position.key == "basics/add"
        assert app.focused is app.editor
        assert "No result yet" in app.results.plain


# -------------------------------------------------------------- the solution


async def test_solution_after_a_pass_shows_a_diff_and_is_recorded(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 1 + 2\n")
        await run_and_wait(pilot, app)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen))
        text = app.screen.plain  # type: ignore[attr-defined]
        assert "Your code passed." in text
        assert "Reference solution: Make three" in text
        assert "-x = 1 + 2" in text and "+x = 3" in text
        assert saved(data_dir)["exercises"]["basics/three"]["solution_seen"] is True
        before = len(app.grader.runner.requests)  # type: ignore[attr-defined]
        await pilot.press("ctrl+r")  # app keys are off under the modal: nothing runs
        await pilot.pause(0.2)
        await app.workers.wait_for_complete()
        assert app.active_run is None
        assert len(app.grader.runner.requests) == before  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SolutionScreen)
        assert app.focused is app.editor


async def test_solution_key_closes_the_solution_and_same_code_says_so(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 3\n")
        await run_and_wait(pilot, app)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen))
        assert "Your code is the same as the reference solution." in app.screen.plain  # type: ignore[attr-defined]
        await pilot.press("f8")
        await pilot.pause()
        assert not isinstance(app.screen, SolutionScreen)


async def test_solution_before_a_pass_needs_two_failures_and_a_yes(
    make_app, data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f8")
        await pilot.pause()
        assert not isinstance(app.screen, (SolutionScreen, ConfirmScreen))
        assert "after 2 failed runs (2 more to go)" in app.said[-1]

        set_code(app, "x = 1\n")
        await run_and_wait(pilot, app)
        assert "f8" not in app.results.plain
        await pilot.press("f8")
        await pilot.pause()
        assert "(1 more to go)" in app.said[-1]
        assert not isinstance(app.screen, (SolutionScreen, ConfirmScreen))

        set_code(app, "x = 2\n")
        await run_and_wait(pilot, app)
        assert "Stuck? f8 shows the reference solution (it asks first)." in app.results.plain
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Show the solution?" in app.screen.plain  # type: ignore[attr-defined]
        assert "2 hints (f2)" in app.screen.plain  # type: ignore[attr-defined]
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, (SolutionScreen, ConfirmScreen))
        assert "solution_seen" not in saved(data_dir)["exercises"].get("basics/three", {}) or (
            saved(data_dir)["exercises"]["basics/three"]["solution_seen"] is False
        )

        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # escape is no too
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)

        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen))
        text = app.screen.plain  # type: ignore[attr-defined]
        assert "Your code passed" not in text
        assert "-x = 2" in text and "+x = 3" in text
        assert saved(data_dir)["exercises"]["basics/three"]["solution_seen"] is True
        await pilot.press("escape")
        await pilot.pause()
        # Once seen, it opens without asking again.
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen))


async def test_solution_from_the_palette(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await fail_twice(pilot, app)
        await palette(pilot, app, "solution", "Show the solution")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen))


async def test_solution_and_confirm_fit_80x24(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await fail_twice(pilot, app)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        box = app.screen.query_one("#confirm-box")
        assert box.region.width <= 80 and box.region.height <= 24
        assert app.screen.query_one("#confirm-keys").region.bottom <= 24
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen))
        scroll = app.screen.query_one("#solution-box")
        assert scroll.region.width <= 80 and scroll.region.height <= 24
        assert app.screen.focused is scroll  # arrows scroll it


# ---------------------------------------------------------------- resets


async def test_reset_code_then_ctrl_z_and_undo_from_the_palette(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await type_code(pilot, app, "x = 'mine'\n")
        await palette(pilot, app, "reset code", "Reset code to the starter")
        assert app.editor.text == "x = 0\n"
        assert app.focused is app.editor
        await pilot.press("ctrl+z")  # one edit: the editor's own undo brings the code back
        await pilot.pause()
        assert app.editor.text == "x = 'mine'\n"

        await palette(pilot, app, "reset code", "Reset code to the starter")
        assert app.editor.text == "x = 0\n"
        assert "code" not in saved(data_dir)["exercises"].get("basics/three", {}) or (
            saved(data_dir)["exercises"]["basics/three"]["code"] is None
        )
        # Leaving the exercise clears the editor's history; the palette still undoes the reset.
        await pilot.press("ctrl+n", "ctrl+b")
        await pilot.pause()
        await pilot.press("ctrl+z")
        assert app.editor.text == "x = 0\n"
        await palette(pilot, app, "undo", "Undo reset")
        assert app.editor.text == "x = 'mine'\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert saved(data_dir)["exercises"]["basics/three"]["code"] == "x = 'mine'\n"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Undo reset: bring back your code" not in titles  # used up


async def test_reset_lesson_asks_then_forgets_only_that_lesson(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("errors", "raise"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "int('x')\n")
        await run_and_wait(pilot, app)
        await pilot.press("ctrl+b")  # to basics/greet
        await pilot.pause()
        set_code(app, "print('hello')\n")
        await run_and_wait(pilot, app)
        await pilot.press("ctrl+b")  # basics/add: unsaved typing, then reset the lesson
        await pilot.pause()
        set_code(app, "y = 'typed'\n")
        await pilot.press("f2")  # no hints here: nothing changes

        await palette(pilot, app, "reset this", "Reset this lesson")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = app.screen.plain  # type: ignore[attr-defined]
        assert "Reset the lesson Basics?" in text
        assert "1 done, your code in 2 exercises" in text
        await pilot.press("n")
        await pilot.pause()
        assert app.editor.text == "y = 'typed'\n" and not backups(data_dir)

        await palette(pilot, app, "reset this", "Reset this lesson")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.editor.text == "y = 0\n")
        assert set(saved(data_dir)["exercises"]) == {"errors/raise"}
        (backup,) = backups(data_dir)
        old = json.loads(backup.read_text(encoding="utf-8"))
        assert old["exercises"]["basics/add"]["code"] == "y = 'typed'\n"  # the typing too
        assert app.lessons.label_of("basics").startswith("○ Basics 0/3")
        assert app.lessons.label_of("errors").startswith("✓ Errors 1/1")
        assert any(str(backup) in s for s in app.said)
        assert app.focused is app.editor


async def test_reset_everything_keeps_a_backup(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "x = 3\n")
        await run_and_wait(pilot, app)
        await pilot.press("f2")
        await pilot.pause()
        before = (data_dir / FILE_NAME).read_text(encoding="utf-8")

        await palette(pilot, app, "reset every", "Reset everything")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "1 done, your code in 1 exercise, 1 hint shown" in app.screen.plain  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(backups(data_dir)))
        await pilot.pause()
        (backup,) = backups(data_dir)
        assert backup.read_text(encoding="utf-8") == before
        assert saved(data_dir)["exercises"] == {}
        assert app.editor.text == "x = 0\n"
        assert "No result yet" in app.results.plain  # the old verdict is gone
        hints = app.task_pane.query_one("#hints-md")
        assert "The answer is a small number." not in hints.source  # type: ignore[attr-defined]
        assert app.lessons.progress_label.endswith(" 0/4 done")


async def test_reset_with_nothing_saved_says_so(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await palette(pilot, app, "reset every", "Reset everything")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("Nothing to reset" in s for s in app.said)
        assert not backups(data_dir)


async def test_reset_during_a_run_drops_its_result(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from .conftest import FakeRunner

    runner = FakeRunner()
    app = make_app(runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "SLOW = 1\nx = 3\n")
        await pilot.press("ctrl+r")
        await wait_for(pilot, runner.slow_started.is_set)
        await palette(pilot, app, "reset every", "Reset everything")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.active_run is None)
        await pilot.pause(0.2)
        assert saved(data_dir)["exercises"] == {}
        assert app.status_bar.run_state == "ready"


# ------------------------------------------------------- palette, theme, help


async def test_palette_lists_the_workflow_commands(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in (
            "Show the solution",
            "Show the next hint",
            "Reset code to the starter",
            "Reset this lesson…",
            "Reset everything…",
            "Switch device (CPU / CUDA)",
            "Toggle light/dark theme",
        ):
            assert title in titles, title
        await palette(pilot, app, "next hint", "Show the next hint")
        await pilot.pause()
        assert "The answer is a small number." in app.task_pane.query_one("#hints-md").source  # type: ignore[attr-defined]
        await palette(pilot, app, "device", "Switch device")
        await pilot.pause()
        assert app.grader.device == "cpu"


async def test_theme_toggles_and_is_remembered(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_theme.dark
        await palette(pilot, app, "toggle", "Toggle light/dark theme")
        await pilot.pause()
        assert app.theme == "textual-light" and not app.current_theme.dark
        assert saved(data_dir)["theme"] == "textual-light"
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "textual-light"
        await palette(pilot, again, "toggle", "Toggle light/dark theme")
        await pilot.pause()
        assert again.theme == "textual-dark"


async def test_help_lists_the_solution_key(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "f8" in app.screen.plain
        assert "Show the reference solution and how your code differs" in app.screen.plain


# ------------------------------------------------------------------ resume


async def test_solve_two_quit_with_unsaved_edits_and_resume(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """The issue's 'done when': two solved, unsaved typing in the third, quit, restart."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await type_code(pilot, app, "x = 3\n")
        await run_and_wait(pilot, app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_code(pilot, app, "y = x + 2\n")
        await run_and_wait(pilot, app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_code(pilot, app, "print('hel")  # no save, no pause: quit at once
        await pilot.press("ctrl+q")
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.position is not None and again.position.key == "basics/greet"
        assert again.editor.text == "print('hel"
        assert again.focused is again.editor
        assert again.lessons.label_of("basics", "three").startswith("✓")
        assert again.lessons.label_of("basics", "add").startswith("✓")
        assert again.lessons.progress_label.endswith(" 2/4 done")


async def test_resume_reopens_a_finished_last_exercise_with_the_way_on(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("basics", "add"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        set_code(app, "y = x + 2\n")
        await run_and_wait(pilot, app)
        await pilot.press("ctrl+q")
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # The one last worked on, though done (and an earlier one is not): and the way on.
        assert again.position is not None and again.position.key == "basics/add"
        assert again.editor.text == "y = x + 2\n"
        assert "You passed this exercise earlier. Next: Say hello; press ctrl+n." in (
            again.results.plain
        )
        # the probe answers from a thread: until it has, the header says PyTorch is starting
        await wait_for(pilot, lambda: again.sandbox != "starting")
        assert again.status_bar.run_state == "✓ done"


def test_progress_bar_shows_any_progress_and_only_full_when_all_done() -> None:
    assert progress_bar(0, 4).plain == "░░░░░░░░░░ 0/4 done"
    assert progress_bar(1, 83).plain == "█░░░░░░░░░ 1/83 done"  # one done still shows
    assert progress_bar(82, 83).plain == "█████████░ 82/83 done"  # full means all
    assert progress_bar(83, 83).plain == "██████████ 83/83 done"
    assert progress_bar(0, 0).plain == "░░░░░░░░░░ 0/0 done"


async def test_palette_jumps_to_a_lesson_where_the_learner_left_off(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("errors", "raise"))
    progress = app.session.progress
    progress.state("basics/three").done = True
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await palette(pilot, app, "basics", "Basics ›", exact=True)
        await wait_for(pilot, lambda: app.position is not None and app.position.key == "basics/add")
        assert app.focused is app.editor
