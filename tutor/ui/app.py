"""The pttutor app: a thin layer that wires the panes to the domain API.

`Session` decides where to open, what comes next and when to save; `Grader` runs and judges;
`render_verdict` words the result. The app only routes keys and messages between them. Runs and
the interpreter probe happen off the UI thread, so the screen never freezes, and the learner's
code is written to disk before every run, on every switch, on ctrl+s, on quit and shortly after
typing stops, with where the learner was in it (cursor, scroll), so a restart reopens there.

The header says what is true now: "starting PyTorch…" until the sandbox can take runs, then the
open exercise's own last result. Toasts sit at the top right, over the lesson text, never over
the verdict; what the result pane already says is not repeated in a toast.
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
from textual.widgets.text_area import Selection

from ..checker import Status, Verdict
from ..grader import Grader
from ..loader import LessonPack
from ..paths import data_dir as default_data_dir
from ..progress import Progress, Resume
from ..sandbox.pool import WarmRunner
from ..sandbox.probe import InterpreterInfo, probe_interpreter
from ..sandbox.runner import Runner
from .commands import JumpProvider
from .devices import DeviceChoice, Notice
from .editor import CodeEditor
from .help_screen import HelpScreen, binding_sections
from .inside import InsideViews
from .keys import APP_BINDINGS, MAIN_SCREEN_ACTIONS, key_for
from .lesson_list import LessonList
from .results import (
    RESULT_TAB,
    STATUS_MARK,
    ResultsPane,
    output_matters,
    render_placeholder,
    render_verdict,
)
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
        progress = Progress.load(data_dir or default_data_dir())
        self.grader = Grader(runner or WarmRunner(python), device)
        self._probe: Probe = probe or self._pool_probe() or probe_interpreter
        self.devices = DeviceChoice(self.grader, python, key_for("switch_device"))
        if progress.device:
            self.devices.restore(progress.device)
        self.session = Session(pack, progress)
        self.position: Position | None = None
        self.active_run: ActiveRun | None = None
        self._run_counter = 0
        self._verdicts: dict[str, Verdict] = {}  # this session's last verdict per exercise
        self._lessons_pref: bool | None = None  # None: shown when wide, hidden when narrow
        self._main_screen: Screen | None = None
        self._ticker: Timer | None = None
        self._autosave: Timer | None = None
        self._stopped = False
        self.sandbox = "starting"  # "ready" once runs can start, "broken" if they never will
        self._places: dict[str, tuple[tuple[int, int], float]] = {}  # key -> (cursor, scroll)
        self._link_trail: list[Position] = []  # where ctrl+g came from, to go back
        self.reading = False  # the wide lesson view is on
        self._intro_before_reading = False
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
                    editor = CodeEditor.code_editor(language=None, id="editor")
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
        self.show_run_state()
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

    async def open_position(
        self, position: Position, *, focus_editor: bool = False, intro_open: bool | None = None
    ) -> None:
        """Show an exercise with the learner's code, cursor and scroll positions as they left
        them; the one being left is saved first. The intro is unfolded for a lesson not yet
        begun (or as `intro_open` says)."""
        self.save_code()  # the text being left (even when reopening the same exercise)
        leaving = self.position
        if leaving is not None:
            self._places[leaving.key] = (self.editor.cursor_location, self.editor.scroll_y)
        resume = self.session.resume(position) if leaving is None else None
        self.position = position
        self.editor.load_text(self.session.code(position))
        self._restore_place(position, resume)
        self.editor.border_title = Text(f"Your code: {position.exercise.title}")
        if intro_open is None:
            intro_open = position.number == 1 and self.session.lesson_is_new(position)
        await self.task_pane.show(
            position,
            self.session.hints_shown(position),
            intro_open=intro_open or (self.reading and self.task_pane.intro_open),
            intro_scroll=resume.lesson_scroll if resume is not None else None,
        )
        if leaving is None or leaving.key != position.key:
            self.results.show_tab(RESULT_TAB)
        self._show_result(position)
        self.lessons.show_current(position)
        self.status_bar.set_crumbs(
            position.lesson.title,
            position.exercise.title,
            position.number,
            len(position.lesson.exercises),
        )
        self.show_run_state()
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

    def _restore_place(self, position: Position, resume: Resume | None) -> None:
        """Put the cursor and the editor's scroll where the learner left this exercise."""
        editor = self.editor
        if resume is not None:
            cursor, scroll = resume.cursor, float(resume.editor_scroll)
        elif position.key in self._places:
            cursor, scroll = self._places[position.key]
        else:
            return
        editor.selection = Selection.cursor(cursor)  # clamped to the text by the editor
        editor.scroll_to(y=scroll, animate=False, immediate=True)
        self.call_after_refresh(editor.scroll_to, y=scroll, animate=False)

    def _where(self) -> Resume | None:
        """Where the learner is in the open exercise: saved with the code."""
        if self.position is None:
            return None
        row, column = self.editor.cursor_location
        return Resume(
            self.position.key,
            (row, column),
            round(self.editor.scroll_y),
            self.task_pane.saved_intro_scroll,
        )

    def _show_result(self, position: Position) -> None:
        run = self.active_run
        if run is not None and run.position.key == position.key:
            self.results.show(Text(f"Running your code…  ({self.key_for('cancel_run')} cancels)"))
            return
        verdict = self._verdicts.get(position.key)
        back = self._back_text(position)
        key = self.key_for("follow_link")
        if verdict is None:
            note = back
            if note is None and self.session.is_done(position):
                note = f"You passed this exercise earlier. {self._next_step(position)}"
            self.results.show(
                render_placeholder(self.key_for("run"), note=note),
                also=f"{key} goes back" if back else "",
            )
            return
        target = self._link_target(position, verdict)
        if target is not None and target.key != position.key:
            also = f"{key} opens {target.key}"
        else:
            also = f"{key} goes back" if back else ""
        self.results.show(
            render_verdict(
                verdict,
                next_step=self._next_step(position),
                tip=self.solution_tip(position),
                about_output=output_matters(position.exercise),
                link=self._link_text(position, verdict),
                back=back,
            ),
            verdict.run,
            STATUS_MARK.get(verdict.status, "✗"),
            also,
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
        """Write the editor's text for the open exercise, with the cursor and scroll positions;
        False (and a warning) if it failed."""
        if self.position is None:
            return True
        try:
            text = self.editor.text
            where = self._where()
        except NoMatches:  # the app is shutting down: exit() already saved
            return True
        error = self.session.save_code(self.position, text, force=force, where=where)
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

    def exit(self, *args: object, **kwargs: object) -> None:
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
        self.task_pane.fold_if_read()  # the learner has moved on to coding
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
        self.show_run_state()

    def show_run_state(self) -> None:
        """The header's run state, always about the exercise on screen: a run in flight, the
        sandbox still starting, this exercise's last result this session, or ready."""
        run = self.active_run
        position = self.position
        if run is not None:
            state = running_text(
                run.elapsed, starting=run.grading.phase == "starting", cancelling=run.cancelling
            )
            if position is not None and run.position.key != position.key:
                state = f"{run.position.exercise.title}: {state}"
            self.status_bar.set_run_state(state, "bold")
            return
        if self.sandbox == "broken":
            self.status_bar.set_run_state("cannot run code", "bold red")
            return
        verdict = self._verdicts.get(position.key) if position is not None else None
        if verdict is not None:
            seconds = f" ({verdict.run.wall_seconds:.1f} s)" if verdict.run else ""
            style = "green" if verdict.passed else "red"
            if verdict.status in (Status.CANCELLED, Status.SKIPPED):
                style = "yellow"
            label = verdict.status.value.replace("_", " ")
            self.status_bar.set_run_state(f"last run: {label}{seconds}", style)
        elif self.sandbox == "starting":
            self.status_bar.set_run_state("starting PyTorch…", "yellow")
        elif position is not None and self.session.is_done(position):
            self.status_bar.set_run_state("✓ done", "green")
        else:
            self.status_bar.set_run_state("ready")

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
        if verdict.status is not Status.CANCELLED:
            self.sandbox = "ready"  # it answered
        self.lessons.refresh_marks()
        self._show_device()
        self.show_run_state()
        current = self.position is not None and self.position.key == position.key
        if current:
            self._show_result(position)  # the verdict is on screen: no toast repeats it
        else:
            passed = f"passed! {self._next_step(position)}" if verdict.passed else ""
            self.say(f"{position.exercise.title}: {passed or verdict.status.title}", timeout=5)
        if verdict.status is Status.DEVICE_UNAVAILABLE:
            self.say(
                f"{verdict.summary}. Press {self.key_for('switch_device')} to switch device.",
                severity="warning",
                timeout=8,
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

    def _pool_probe(self) -> Probe | None:
        """A warm pool already knows what the interpreter has (no second torch import to ask),
        and the header says "ready" only once a run would start at once: the learner's code
        and the reference each have a spare waiting."""
        runner = self.grader.runner
        if not isinstance(runner, WarmRunner):
            return None

        def probe(_python: str) -> InterpreterInfo:
            info = runner.interpreter_info()
            if info.usable:
                runner.wait_ready(self.grader.device, count=min(2, runner.spares))
            return info

        return probe

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
        """The sandbox answered (for the warm pool: PyTorch is imported, runs can start)."""
        before = self.grader.device
        for notice in self.devices.probed(message.info):
            self.tell(notice)
        if self.grader.device != before:  # a switch asked for before the probe finished
            self._remember_device()
        self.sandbox = "ready" if message.info.usable else "broken"
        self._show_device()
        self.show_run_state()

    def action_switch_device(self) -> None:
        self.tell(self.devices.toggle())
        self._remember_device()
        self._show_device()

    def _remember_device(self) -> None:
        if self.grader.device in ("cpu", "cuda"):
            error = self.session.set_device(self.grader.device)
            if error:
                self.say(error, title="Not saved", severity="error", timeout=20)

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

    # ------------------------------------------------------ reading, output

    def action_toggle_reading(self) -> None:
        """The wide lesson view: beside the editor from 140 columns, else the whole body.
        It unfolds the intro; coming back folds it again if it was folded before, or once it
        has been read to its end."""
        screen = self._main_screen or self.screen
        pane = self.task_pane
        self.reading = not self.reading
        screen.set_class(self.reading, "-reading")
        pane.set_reading(self.reading)
        if self.reading:
            self._intro_before_reading = pane.intro_open
            pane.set_intro_open(True)
            if not screen.has_class("-wide"):  # the editor is hidden: read with the keys
                self.call_after_refresh(pane.intro_scroll.focus)
            return
        if not self._intro_before_reading:
            pane.set_intro_open(False)
        else:
            pane.fold_if_read()
        self.call_after_refresh(self.editor.focus)

    def action_toggle_output(self) -> None:
        self.results.toggle_tab()

    # ------------------------------------------------ the explainer's link

    def _link_target(self, position: Position, verdict: Verdict) -> Position | None:
        explanation = verdict.explanation
        if explanation is None:
            return None
        return self.session.find_key(explanation.lesson)

    def _link_text(self, position: Position, verdict: Verdict) -> str | None:
        """How to reach the lesson that teaches the fix of the learner's error."""
        explanation = verdict.explanation
        if explanation is None or explanation.lesson is None:
            return None
        target = self._link_target(position, verdict)
        if target is None:
            return f"the lesson {explanation.lesson} (not in this lesson pack)"
        if target.key == position.key:
            return "this exercise teaches it: read its lesson text above."
        key = self.key_for("follow_link")
        return f"press {key} to open {explanation.lesson} ({target.lesson.title})"

    def _back_text(self, position: Position) -> str | None:
        trail = self._link_trail
        if not trail:
            return None
        return f"{self.key_for('follow_link')} takes you back to {trail[-1].exercise.title}."

    async def action_follow_link(self) -> None:
        """Open the lesson the explainer points to; pressed again there, come back."""
        position = self.position
        if position is None:
            return
        verdict = self._verdicts.get(position.key)
        target = self._link_target(position, verdict) if verdict is not None else None
        if target is not None and target.key != position.key:
            self._link_trail.append(position)
            lesson_only = "/" not in (
                (verdict.explanation.lesson or "") if verdict and verdict.explanation else ""
            )
            await self.open_position(target, focus_editor=True, intro_open=lesson_only or None)
            return
        if self._link_trail:
            back = self._link_trail.pop()
            await self.open_position(back, focus_editor=True)
            return
        self.say(
            "Nothing to open: after an error that a lesson explains, "
            f"{self.key_for('follow_link')} opens that lesson."
        )

    # ---------------------------------------------------------- help, palette

    def action_help(self) -> None:
        sections = binding_sections(self.screen, self.BINDINGS)
        self.push_screen(HelpScreen(sections))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from self.workflow_commands()
