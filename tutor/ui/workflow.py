"""The learner's workflow actions of the app: the solution, resets, undo, and the theme.

A mixin of `TutorApp`, kept out of app.py so the app stays a router. The rules live in the domain
(`tutor/solution.py`, `tutor/reset.py`, through `Session`); this only asks, shows and tells:
  - the solution: after a pass freely, before one only after enough failed runs and a "y";
  - "Reset code to the starter" is one editor edit, so ctrl+z undoes it, and the code it replaced
    is kept for this session ("Undo reset" in the palette, even after leaving the exercise);
  - resetting a lesson or everything asks first and keeps the old progress file as a backup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.theme import Theme

from ..reset import ResetScope, nothing_to_reset
from ..solution import Access
from .confirm import ConfirmScreen
from .solution_screen import SolutionScreen, render_solution

if TYPE_CHECKING:
    from .runs import ActiveRun
    from .session import Position

LIGHT_THEME = "textual-light"
DARK_THEME = "textual-dark"
EDITOR_THEMES = {True: "monokai", False: "github_light"}  # by `Theme.dark`


class WorkflowActions:
    """Mixed into TutorApp; uses its session, editor, panes, `say` and `open_position`."""

    active_run: ActiveRun | None  # the app's run in flight, which a reset drops

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._code_before_reset: dict[str, str] = {}  # exercise key -> code a reset replaced

    # ------------------------------------------------------------- palette

    def workflow_commands(self: Any) -> Iterator[SystemCommand]:
        position = self.position
        if position is not None:
            title = position.lesson.title
            yield SystemCommand(
                "Show the solution",
                f"The reference solution and a diff with your code ({self.key_for('solution')})",
                self.action_solution,
            )
            yield SystemCommand(
                "Show the next hint",
                f"Reveal one more hint ({self.key_for('hint')})",
                self.action_hint,
            )
            yield SystemCommand(
                "Reset code to the starter",
                "Replace your code in this exercise with its starter (ctrl+z undoes)",
                self.action_reset_code,
            )
            if position.key in self._code_before_reset:
                yield SystemCommand(
                    "Undo reset: bring back your code",
                    "Put back the code that 'Reset code to the starter' replaced",
                    self.action_undo_reset,
                )
            yield SystemCommand(
                "Reset this lesson…",
                f"Forget your code, hints and done marks in {title} (asks first; keeps a backup)",
                self.action_reset_lesson,
            )
        yield SystemCommand(
            "Reset everything…",
            "Forget all your progress and code (asks first; keeps a backup file)",
            self.action_reset_all,
        )
        yield SystemCommand(
            "Switch device (CPU / CUDA)",
            f"Where your code runs ({self.key_for('switch_device')})",
            self.action_switch_device,
        )
        yield SystemCommand(
            "Toggle light/dark theme",
            "Switch between the light and the dark theme (remembered)",
            self.action_toggle_theme,
        )

    # ------------------------------------------------------------ solution

    def solution_tip(self: Any, position: Position) -> str | None:
        """The line under a verdict that says the solution key works now, if it does."""
        key = self.key_for("solution")
        if self.session.is_done(position):
            return f"{key} compares your code with the reference solution."
        access = self.session.solution_access(position).access
        if access is Access.OPEN:
            return f"{key} shows the reference solution again."
        if access is Access.CONFIRM:
            return f"Stuck? {key} shows the reference solution (it asks first)."
        return None

    def action_solution(self: Any) -> None:
        position = self.position
        if position is None:
            return
        access = self.session.solution_access(position)
        if access.access is Access.LOCKED:
            self.say(
                access.locked_message(self.key_for("hint")),
                title="Solution not yet",
                timeout=10,
            )
            return
        if access.access is Access.OPEN:
            self._show_solution(position)
            return
        hints_left = len(position.exercise.hints) - self.session.hints_shown(position)
        detail = (
            f"Your code has not passed yet ({access.failed_runs} failed runs). Reading the answer "
            "now ends the puzzle for this exercise."
        )
        if hints_left > 0:
            detail += f" There {'is' if hints_left == 1 else 'are'} still {hints_left} "
            detail += f"hint{'s' if hints_left != 1 else ''} ({self.key_for('hint')})."
        self.push_screen(
            ConfirmScreen("Show the solution?", detail),
            partial(self._solution_confirmed, position),
        )

    def _solution_confirmed(self: Any, position: Position, yes: bool | None) -> None:
        if yes:
            self._show_solution(position)

    def _show_solution(self: Any, position: Position) -> None:
        if self.position != position:
            return  # the learner moved on while the question was open
        error = self.session.mark_solution_seen(position)
        if error:
            self.say(error, title="Not saved", severity="error", timeout=20)
        text = render_solution(
            position.exercise.title,
            self.editor.text,
            position.exercise.solution,
            passed=self.session.is_done(position),
            dark=self.current_theme.dark,
        )
        self.push_screen(SolutionScreen(text))
        self.lessons.refresh_marks()

    # -------------------------------------------------------- reset + undo

    def action_reset_code(self: Any) -> None:
        position = self.position
        if position is None:
            return
        editor = self.editor
        starter = position.exercise.starter
        if editor.text == starter:
            self.say("The editor already holds the starter code.")
            return
        self._code_before_reset[position.key] = editor.text
        editor.replace(starter, (0, 0), editor.document.end)
        self.save_code()
        self.say(
            "The editor holds the starter code again. ctrl+z undoes that; so does "
            f"'Undo reset' in the command palette ({self.COMMAND_PALETTE_BINDING}), "
            "until you quit."
        )

    def action_undo_reset(self: Any) -> None:
        position = self.position
        if position is None:
            return
        code = self._code_before_reset.pop(position.key, None)
        if code is None:
            self.say("There is no reset of this exercise to undo.")
            return
        editor = self.editor
        editor.replace(code, (0, 0), editor.document.end)
        self.save_code()
        editor.focus()
        self.say("Your code is back.")

    def action_reset_lesson(self: Any) -> None:
        position = self.position
        if position is None:
            return
        self._confirm_reset(
            partial(self.session.lesson_scope, position),
            f"Reset the lesson {position.lesson.title}?",
        )

    def action_reset_all(self: Any) -> None:
        self._confirm_reset(self.session.everything_scope, "Reset everything?")

    def _confirm_reset(self: Any, make_scope: Callable[[], ResetScope], question: str) -> None:
        self.save_code()  # what the editor holds is part of what would be lost (and backed up)
        scope = make_scope()
        if not scope.keys:
            self.say(nothing_to_reset(scope))
            return
        detail = (
            f"This forgets {self.session.describe(scope)}. A copy of your progress file is kept "
            "next to it, so nothing is lost for good."
        )

        async def confirmed(yes: bool | None) -> None:
            if yes:
                await self._reset(make_scope)

        self.push_screen(ConfirmScreen(question, detail), confirmed)

    async def _reset(self: Any, make_scope: Callable[[], ResetScope]) -> None:
        self._drop_active_run()
        self.save_code()
        scope = make_scope()
        backup, error = self.session.reset(scope)
        if error:
            self.say(error, title="Not reset", severity="error", timeout=20)
            return
        if scope.everything:
            self._verdicts.clear()
            self._code_before_reset.clear()
        for key in scope.keys:
            self._verdicts.pop(key, None)
            self._code_before_reset.pop(key, None)
        position = self.position
        if position is not None and (scope.everything or position.key in scope.keys):
            self.editor.load_text(self.session.code(position))
            await self.open_position(position, focus_editor=True)
        self.lessons.refresh_marks()
        kept = f" Your previous progress is kept in {backup}." if backup else ""
        self.say(f"Reset {scope.title}.{kept}", title="Reset", timeout=15)

    def _drop_active_run(self: Any) -> None:
        """Stop a run in flight and ignore its result: it must not mark a reset exercise."""
        run = self.active_run
        if run is None:
            return
        run.grading.cancel()
        self.active_run = None
        if self._ticker is not None:
            self._ticker.pause()
        self.show_run_state()
        self.refresh_bindings()

    # --------------------------------------------------------------- theme

    def action_toggle_theme(self: Any) -> None:
        self.theme = LIGHT_THEME if self.current_theme.dark else DARK_THEME

    def restore_theme(self: Any) -> None:
        """Use the theme the learner picked last time; remember every later change."""
        saved = self.session.progress.theme
        if saved and saved in self.available_themes:
            self.theme = saved
        self._match_editor_theme(self.current_theme)
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _match_editor_theme(self: Any, theme: Theme) -> None:
        """A dark editor in a dark app, a light one in a light app: its title and border stay
        readable on its own background."""
        self.editor.theme = EDITOR_THEMES[theme.dark]

    def _remember_theme(self: Any, theme: Theme) -> None:
        self._match_editor_theme(theme)
        error = self.session.set_theme(theme.name)
        if error:
            self.say(error, title="Not saved", severity="error", timeout=20)
