"""Where the learner is and what they have saved: navigation and saving, without any widget.

Kept free of Textual so the rules (where to open, what comes next, when to write the progress
file) are plain code that the app only calls. Save errors come back as messages, never raise:
a full disk must not take the learner's editor down with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import reset
from ..checker import Verdict
from ..loader import LessonPack
from ..progress import Progress, Resume, exercise_key
from ..schema import Exercise, Lesson
from ..solution import SolutionAccess, counts_as_attempt, solution_access


@dataclass(frozen=True)
class Position:
    """One exercise of one lesson: what the editor is showing."""

    lesson: Lesson
    exercise: Exercise

    @property
    def key(self) -> str:
        return exercise_key(self.lesson, self.exercise)

    @property
    def number(self) -> int:
        """1-based index of the exercise within its lesson."""
        return self.lesson.exercises.index(self.exercise) + 1


class Session:
    """The pack, the learner's progress and the rules that connect them."""

    def __init__(self, pack: LessonPack, progress: Progress) -> None:
        self.pack = pack
        self.progress = progress
        self._order = [Position(lesson, ex) for lesson, ex in pack.exercises()]

    @property
    def positions(self) -> list[Position]:
        return list(self._order)

    def find(self, lesson_id: str, exercise_id: str | None = None) -> Position | None:
        """The named exercise; for a lesson alone, its first unfinished (else first) exercise."""
        lesson = self.pack.lesson(lesson_id)
        if lesson is None:
            return None
        if exercise_id is not None:
            exercise = lesson.exercise(exercise_id)
            if exercise is not None:
                return Position(lesson, exercise)
        for exercise in lesson.exercises:
            if not self.progress.is_done(lesson, exercise):
                return Position(lesson, exercise)
        return Position(lesson, lesson.exercises[0])

    def find_key(self, key: str | None) -> Position | None:
        if not key:
            return None
        lesson_id, _, exercise_id = key.partition("/")
        return self.find(lesson_id, exercise_id or None)

    def opening(self, start_at: tuple[str, str | None] | None) -> Position | None:
        """Where the app opens: `start_at`, else the exercise the learner last worked on (done
        or not: they may have been comparing with the solution), else the first unfinished
        exercise, else the very first one."""
        if start_at is not None:
            found = self.find(*start_at)
            if found is not None:
                return found
        last = self.progress.last
        if last and "/" in last:
            lesson_id, _, exercise_id = last.partition("/")
            lesson = self.pack.lesson(lesson_id)
            exercise = lesson.exercise(exercise_id) if lesson is not None else None
            if lesson is not None and exercise is not None:
                return Position(lesson, exercise)
        first = self.progress.first_unfinished(self.pack)
        if first is not None:
            return Position(*first)
        return self._order[0] if self._order else None

    def step(self, position: Position, delta: int) -> Position | None:
        """The exercise `delta` places away in teaching order, across lessons; None past an end."""
        index = self._order.index(position) + delta
        return self._order[index] if 0 <= index < len(self._order) else None

    def is_done(self, position: Position) -> bool:
        return self.progress.is_done(position.lesson, position.exercise)

    def lesson_is_new(self, position: Position) -> bool:
        return self.progress.lesson_state(position.lesson) == "new"

    def code(self, position: Position) -> str:
        return self.progress.code_for(position.lesson, position.exercise)

    def starter_changed(self, position: Position) -> bool:
        return self.progress.starter_changed(position.lesson, position.exercise)

    def save_code(
        self,
        position: Position,
        code: str,
        *,
        force: bool = False,
        where: Resume | None = None,
    ) -> str | None:
        """Remember the editor's text and where the learner is (the exercise, and `where` in
        it: cursor and scroll positions); write the file if anything changed (or `force`).
        Returns an error message when the file could not be written."""
        changed = self.progress.remember_code(position.lesson, position.exercise, code)
        if self.progress.last != position.key:
            self.progress.last = position.key
            changed = True
        if where is not None and where != self.progress.resume:
            self.progress.resume = where
            changed = True
        return self._write() if changed or force else None

    def resume(self, position: Position) -> Resume | None:
        """The saved cursor and scroll positions, if they are for `position`."""
        resume = self.progress.resume
        return resume if resume is not None and resume.exercise == position.key else None

    def record(self, position: Position, verdict: Verdict) -> str | None:
        """Count a finished run; runs that judged nothing (cancelled, broken, a limit reached,
        blocked by the sandbox) do not count towards opening the solution."""
        if not counts_as_attempt(verdict.status):
            return None
        self.progress.record_result(position.lesson, position.exercise, verdict.passed)
        return self._write()

    def hints_shown(self, position: Position) -> int:
        state = self.progress.peek(position.key)
        count = state.hints_shown if state else 0
        return max(0, min(count, len(position.exercise.hints)))

    def reveal_hint(self, position: Position) -> tuple[int, str | None]:
        """Show one more hint: (how many are now shown, save error). Stops at the last one."""
        shown = self.hints_shown(position)
        if shown >= len(position.exercise.hints):
            return shown, None
        self.progress.state(position.key).hints_shown = shown + 1
        return shown + 1, self._write()

    def counts(self) -> tuple[int, int]:
        return self.progress.counts(self.pack)

    def solution_access(self, position: Position) -> SolutionAccess:
        return solution_access(self.progress.peek(position.key))

    def mark_solution_seen(self, position: Position) -> str | None:
        state = self.progress.state(position.key)
        if state.solution_seen:
            return None
        state.solution_seen = True
        return self._write()

    def set_device(self, device: str) -> str | None:
        """Remember the device the learner switched to, for the next start."""
        if self.progress.device == device:
            return None
        self.progress.device = device
        return self._write()

    def set_theme(self, theme: str) -> str | None:
        """Remember the learner's theme for the next start."""
        if self.progress.theme == theme:
            return None
        self.progress.theme = theme
        return self._write()

    def lesson_scope(self, position: Position) -> reset.ResetScope:
        return reset.scope_lesson(self.progress, position.lesson)

    def everything_scope(self) -> reset.ResetScope:
        return reset.scope_everything(self.progress)

    def describe(self, scope: reset.ResetScope) -> str:
        return reset.describe(self.progress, scope)

    def reset(self, scope: reset.ResetScope) -> tuple[Path | None, str | None]:
        """Forget `scope` after backing up the file: (the backup, an error message)."""
        try:
            return reset.reset(self.progress, scope), None
        except OSError as exc:
            return None, f"Could not reset {scope.title}: {exc}"

    def _write(self) -> str | None:
        try:
            self.progress.save()
        except OSError as exc:
            return f"Could not save your progress to {self.progress.path}: {exc}"
        return None
