"""The pttutor app: a thin layer that wires the panes to the domain API.

`Session` decides where to open, what comes next and when to save; `Grader` runs and judges;
`render_verdict` words the result. The app only routes keys and messages between them. Runs and
the interpreter probe happen off the UI thread, so the screen never freezes, and the learner's
code is written to disk before every run, on every switch, on ctrl+s, on quit and shortly after
typing stops.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, TextArea

from ..checker import Status, Verdict
from ..grader import Grader
from ..loader import LessonPack
from ..paths import data_dir as default_data_dir
from ..progress import Progress
from ..sandbox.pool import WarmRunner
from ..sandbox.probe import InterpreterInfo, probe_interpreter
from ..sandbox.runner import Runner
from .commands import JumpProvider
from .devices import DeviceChoice, Notice
from .help_screen import HelpScreen, binding_sections
from .inside import InsideViews
from .keys import APP_BINDINGS, MAIN_SCREEN_ACTIONS, key_for
from .lesson_list import LessonList
from .results import ResultsPane, render_placeholder, render_verdict
from .runs import ActiveRun, ProbeFinished, RunFinished, grade_safely
from .session import Position, Session
from .status import StatusBar, running_text
from .task_pane import TaskPane
from .workflow import WorkflowActions

Probe = Callable[[str], InterpreterInfo]

AUTOSAVE_DELAY = 2.0  # seconds after the last keystroke
MAX_PROBLEM_TOASTS = 3


class TutorApp(InsideViews, WorkflowActions, App[None]):
    """Lesson list, reading pane, editor and results; see the module docstring. Solution,
    resets and theme come from `WorkflowActions` (workflow.py)."""

    TITLE = "pttutor"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    COMMANDS = App.COMMANDS | {JumpProvider}
    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        pack: LessonPack,
        python: str,
        device: str = "auto",
        start_at: tuple[str, str | None] | None = None,
        *,
        runner: Runner | None = None,
        data_dir: Path | None = None,
        probe: Probe | None = None,
    ) -> None:
        super().__init__()
        self.pack = pack
        self.python = python
        self.start_at = start_at
        self.grader = Grader(runner or WarmRunner(python), device)
        # A warm pool already knows what the interpreter has: no second torch import to ask.
        describe = getattr(self.grader.runner, "interpreter_info", None)
        self._probe: Probe = probe or (
            (lambda _python: describe()) if describe is not None else probe_interpreter
        )
        self.devices = DeviceChoice(self.grader, python, key_for("switch_device"))
        self.session = Session(pack, Progress.load(data_dir or default_data_dir()))
        self.position: Position | None = None
        self.active_run: ActiveRun | None = None
        self._run_counter = 0
        self._verdicts: dict[str, Verdict] = {}  # this session's last verdict per exercise
        self._lessons_pref: bool | None = None  # None: shown when wide, hidden when narrow
        self._main_screen: Screen | None = None
        self._ticker: Timer | None = None
        self._autosave: Timer | None = None
        self._stopped = False
        self.said: list[str] = []  # every notification, for tests and debugging

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            yield LessonList(self.session, id="lessons")
            with Vertical(id="main"):
                yield TaskPane(id="task")
                with Horizontal(id="work"):
                    # Highlighting is switched on after the first frame (see on_mount).
                    editor = TextArea.code_editor(language=None, id="editor")
                    editor.border_title = "Your code"
                    editor.border_subtitle = f"{self.key_for('run')} runs"
                    yield editor
                    yield ResultsPane(id="results")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def editor(self) -> TextArea:
        return self.query_one("#editor", TextArea)

    @property
    def lessons(self) -> LessonList:
        return self.query_one("#lessons", LessonList)

    @property
    def results(self) -> ResultsPane:
        return self.query_one("#results", ResultsPane)

    @property
    def task_pane(self) -> TaskPane:
        return self.query_one("#task", TaskPane)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def key_for(self, action: str) -> str:
        return key_for(action, self.BINDINGS)

    async def on_mount(self) -> None:
        self._main_screen = self.screen
        self._ticker = self.set_interval(0.1, self._tick, pause=True)
        self.restore_theme()
        for message in self.session.progress.messages:
            self.say(message, severity="warning", timeout=20)
        self._report_problems()
        # Start PyTorch in the background once the first frame is on screen, not before.
        self.call_after_refresh(self._warm_up)
        # Each tree-sitter document compiles its highlight query (~40 ms here): build the
        # first frame's document without it, then switch Python highlighting on once drawn.
        self.call_after_refresh(self._enable_highlighting)
        self.call_after_refresh(self._start_probe)
        self._show_device()
        self.status_bar.set_run_state("ready")
        position = self.session.opening(self.start_at)
        if position is None:
            self.say("This lesson pack has no exercises.", severity="error")
            return
        await self.open_position(position, focus_editor=True)

    def _report_problems(self) -> None:
        problems = self.pack.problems
        for problem in problems[:MAX_PROBLEM_TOASTS]:
            self.say(str(problem), title="Lesson file problem", severity="warning", timeout=20)
        if len(problems) > MAX_PROBLEM_TOASTS:
            self.say(
                f"…and {len(problems) - MAX_PROBLEM_TOASTS} more; "
                f"`pttutor verify --lessons {self.pack.root}` lists them all.",
                severity="warning",
                timeout=20,
            )

    def say(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
    ) -> None:
        """Notify without markup: messages quote code, paths and lesson text."""
        self.said.append(message)
        self.notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def tell(self, notice: Notice) -> None:
        self.say(
            notice.message, title=notice.title, severity=notice.severity, timeout=notice.timeout
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        main = self._main_screen
        if action in MAIN_SCREEN_ACTIONS and main is not None and self.screen is not main:
            return False
        if action == "cancel_run":
            return self.active_run is not None
        return True

    # --------------------------------------------------------------- opening

    async def open_position(self, position: Position, *, focus_editor: bool = False) -> None:
        """Show an exercise with the learner's code; the one being left is saved first."""
        self.save_code()  # the text being left (even when reopening the same exercise)
        self.position = position
        self.editor.load_text(self.session.code(position))
        self.editor.border_title = Text(f"Your code: {position.exercise.title}")
        await self.task_pane.show(
            position,
            self.session.hints_shown(position),
            intro_open=position.number == 1 and self.session.lesson_is_new(position),
        )
        self._show_result(position)
        self.lessons.show_current(position)
        self.status_bar.set_crumbs(
            position.lesson.title,
            position.exercise.title,
            position.number,
            len(position.lesson.exercises),
        )
        self.save_code()  # records `last`: the app reopens here
        if self.session.starter_changed(position):
            self.say(
                "The starter code of this exercise changed since you saved your code. Your code "
                "is kept; 'Reset code to the starter' in the command palette (ctrl+p) brings the "
                "new starter (ctrl+z undoes it).",
                title="Starter changed",
                severity="warning",
                timeout=15,
            )
        if focus_editor:
            if self._lessons_pref:
                self._set_lessons_pref(None)
            self.editor.focus()

    def _show_result(self, position: Position) -> None:
        run = self.active_run
        if run is not None and run.position.key == position.key:
            self.results.show(Text(f"Running your code…  ({self.key_for('cancel_run')} cancels)"))
            return
        verdict = self._verdicts.get(position.key)
        if verdict is None:
            self.results.show(render_placeholder(self.key_for("run")))
        else:
            self.results.show(
                render_verdict(
                    verdict, next_step=self._next_step(position), tip=self.solution_tip(position)
                )
            )

    def _next_step(self, position: Position) -> str:
        following = self.session.step(position, 1)
        if following is None:
            done, total = self.session.counts()
            return f"That was the last exercise of the pack ({done} of {total} done)."
        return f"Next: {following.exercise.title}; press {self.key_for('next')}."

    async def on_lesson_list_exercise_chosen(self, message: LessonList.ExerciseChosen) -> None:
        position = self.session.find(message.lesson_id, message.exercise_id)
        if position is not None:
            await self.open_position(position, focus_editor=True)

    async def _step(self, delta: int) -> None:
        if self.position is None:
            return
        target = self.session.step(self.position, delta)
        if target is None:
            where = "last" if delta > 0 else "first"
            self.say(f"This is the {where} exercise.")
            return
        await self.open_position(target, focus_editor=self.editor.has_focus)

    async def action_next(self) -> None:
        await self._step(1)

    async def action_previous(self) -> None:
        await self._step(-1)

    def _enable_highlighting(self) -> None:
        """Switch the editor to Python, keeping the cursor where the learner already is (a new
        document would put it back at the start, under keys typed in the first instants)."""
        editor = self.editor
        selection = editor.selection
        editor.language = "python"
        editor.selection = selection

    # ---------------------------------------------------------------- saving

    def save_code(self, *, force: bool = False) -> bool:
        """Write the editor's text for the open exercise; False (and a warning) if it failed."""
        if self.position is None:
            return True
        try:
            text = self.editor.text
        except NoMatches:  # the app is shutting down: exit() already saved
            return True
        error = self.session.save_code(self.position, text, force=force)
        if error:
            self.say(error, title="Not saved", severity="error", timeout=20)
        return error is None

    def action_save(self) -> None:
        if self.save_code(force=True):
            self.say(f"Saved to {self.session.progress.path}", timeout=3)

    @on(TextArea.Changed, "#editor")
    def _schedule_autosave(self) -> None:
        if self._autosave is not None:
            self._autosave.stop()
        self._autosave = self.set_timer(AUTOSAVE_DELAY, self.save_code)

    def exit(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        """Every way out saves first, cancels a run in flight and stops the sandbox."""
        self._save_and_stop()
        super().exit(*args, **kwargs)  # type: ignore[arg-type]

    def _save_and_stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._autosave is not None:
            self._autosave.stop()
        with contextlib.suppress(NoMatches):  # exit before the editor was ever mounted
            self.save_code()
        if self.active_run is not None:
            self.active_run.grading.cancel()
            self.active_run = None
        self.grader.close()

    # ------------------------------------------------------------------ runs

    def action_run(self) -> None:
        """Run once the editor has handled every key typed before ctrl+r (a paste followed
        at once by ctrl+r must run all of it: priority keys overtake the editor's queue)."""
        with contextlib.suppress(NoMatches):
            self.editor.call_later(self._start_run)
            return
        self._start_run()

    async def action_quit(self) -> None:
        """Quit once the editor has handled every key typed before ctrl+q, so it is saved."""
        with contextlib.suppress(NoMatches):
            self.editor.call_later(self.exit)
            return
        self.exit()

    def _start_run(self) -> None:
        """Save, then grade in a thread; a run already in flight is cancelled and replaced."""
        position = self.position
        if position is None:
            return
        code = self.editor.text
        self.save_code()
        if self.active_run is not None:
            self.active_run.grading.cancel()
        self._run_counter += 1
        grading = self.grader.start(position.exercise, code)
        run = ActiveRun(self._run_counter, position, grading)
        self.active_run = run
        self.run_worker(
            partial(self._grade_in_thread, run),
            name=f"run {position.key}",
            group="run",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )
        self._show_result(position)
        self._tick()
        if self._ticker is not None:
            self._ticker.resume()
        self.refresh_bindings()

    def _grade_in_thread(self, run: ActiveRun) -> None:
        verdict = grade_safely(run.grading)
        self.post_message(RunFinished(run.run_id, run.position, verdict))

    def action_cancel_run(self) -> None:
        run = self.active_run
        if run is None:
            return
        run.cancelling = True
        run.grading.cancel()
        self._tick()

    def _tick(self) -> None:
        run = self.active_run
        if run is None:
            return
        self.status_bar.set_run_state(
            running_text(
                run.elapsed, starting=run.grading.phase == "starting", cancelling=run.cancelling
            ),
            "bold",
        )

    def on_run_finished(self, message: RunFinished) -> None:
        run = self.active_run
        if run is None or run.run_id != message.run_id:
            return  # superseded by a newer run, whose own result is on its way
        self.active_run = None
        if self._ticker is not None:
            self._ticker.pause()
        self.refresh_bindings()
        position, verdict = message.position, message.verdict
        error = self.session.record(position, verdict)
        if error:
            self.say(error, title="Not saved", severity="error", timeout=20)
        self._verdicts[position.key] = verdict
        self.lessons.refresh_marks()
        self._show_device()
        seconds = f" ({verdict.run.wall_seconds:.1f} s)" if verdict.run else ""
        style = "green" if verdict.passed else "red"
        if verdict.status in (Status.CANCELLED, Status.SKIPPED):
            style = "yellow"
        label = verdict.status.value.replace("_", " ")
        self.status_bar.set_run_state(f"last run: {label}{seconds}", style)
        current = self.position is not None and self.position.key == position.key
        if current:
            self._show_result(position)
        if verdict.passed:
            self.say(f"{position.exercise.title}: passed! {self._next_step(position)}")
        elif not current:
            self.say(f"{position.exercise.title}: {verdict.status.title}")
        if verdict.status is Status.DEVICE_UNAVAILABLE:
            self.say(
                f"{verdict.summary}. Press {self.key_for('switch_device')} to switch device.",
                severity="warning",
                timeout=15,
            )

    # ----------------------------------------------------------------- hints

    async def action_hint(self) -> None:
        position = self.position
        if position is None:
            return
        hints = position.exercise.hints
        if not hints:
            self.say("This exercise has no hints.")
            return
        before = self.session.hints_shown(position)
        shown, error = self.session.reveal_hint(position)
        if error:
            self.say(error, title="Not saved", severity="error", timeout=20)
        if shown == before:
            self.say(f"That was the last hint ({shown} of {len(hints)}).")
            return
        await self.task_pane.show_hints(position, shown)

    # ---------------------------------------------------------------- device

    def _start_probe(self) -> None:
        """Ask the sandbox interpreter about torch and CUDA in a daemon thread: the first frame
        never waits for it, and quitting never waits for a slow `import torch` either."""

        def work() -> None:
            try:
                info = self._probe(self.python)
            except Exception as exc:  # a broken probe must not take the app down
                info = InterpreterInfo(self.python, error=f"probing {self.python} failed: {exc}")
            self.post_message(ProbeFinished(info))

        threading.Thread(target=work, name="pttutor-probe", daemon=True).start()

    def _warm_up(self) -> None:
        """Let a runner that can (a warm pool) get ready now; it returns at once."""
        try:
            self.grader.runner.warm_up(self.grader.device)
        except Exception as exc:  # a runner that cannot warm up still runs, only slower
            self.say(f"Could not prepare the sandbox in advance: {exc}", severity="warning")

    def on_probe_finished(self, message: ProbeFinished) -> None:
        for notice in self.devices.probed(message.info):
            self.tell(notice)
        self._show_device()

    def action_switch_device(self) -> None:
        self.tell(self.devices.toggle())
        self._show_device()

    def _show_device(self) -> None:
        self.status_bar.set_device(self.devices.badge())

    # ---------------------------------------------------------- lesson list

    def lessons_visible(self) -> bool:
        if self._lessons_pref is not None:
            return self._lessons_pref
        screen = self._main_screen or self.screen
        return not screen.has_class("-narrow")

    def _set_lessons_pref(self, pref: bool | None) -> None:
        self._lessons_pref = pref
        screen = self._main_screen or self.screen
        screen.set_class(pref is True, "-show-lessons")
        screen.set_class(pref is False, "-hide-lessons")

    def action_toggle_lessons(self) -> None:
        if self.lessons_visible():
            if self.lessons.has_focus:
                self.editor.focus()
            self._set_lessons_pref(False)
        else:
            self._set_lessons_pref(True)

    def action_focus_lessons(self) -> None:
        if not self.lessons_visible():
            self._set_lessons_pref(True)
        self.call_after_refresh(self.lessons.focus)

    # ---------------------------------------------------------- help, palette

    def action_help(self) -> None:
        sections = binding_sections(self.screen, self.BINDINGS)
        self.push_screen(HelpScreen(sections))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from self.workflow_commands()
