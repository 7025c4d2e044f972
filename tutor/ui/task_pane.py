"""The reading pane: the lesson's intro, the exercise's task, and the hints revealed so far.

The intro sits in a collapsible block above the task: open for a lesson the learner has not begun,
folded (one line, enter opens it) afterwards, so the task is what they see when they come back.
Markdown links never open a browser.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Markdown

from .keys import key_for
from .session import Position

INTRO_TITLE = "Lesson intro"


def task_markdown(position: Position) -> str:
    lesson, exercise = position.lesson, position.exercise
    total = len(lesson.exercises)
    return f"## Exercise {position.number} of {total}: {exercise.title}\n\n{exercise.task}"


def hints_markdown(position: Position, shown: int) -> str:
    hints = position.exercise.hints
    if not hints:
        return ""
    parts = [
        f"**Hint {n} of {len(hints)}.** {hint}" for n, hint in enumerate(hints[:shown], start=1)
    ]
    left = len(hints) - shown
    if left:
        parts.append(f"*{left} more hint{'s' if left > 1 else ''}: press {key_for('hint')}.*")
    return "\n\n".join(parts)


class TaskPane(VerticalScroll):
    """Intro (collapsible), task and hints for the current exercise."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lesson_id: str | None = None
        self.border_title = "Lesson"

    def compose(self) -> ComposeResult:
        with Collapsible(title=INTRO_TITLE, id="intro"):
            yield Markdown("", id="intro-md", open_links=False)
        yield Markdown("", id="task-md", open_links=False)
        yield Markdown("", id="hints-md", open_links=False)

    async def show(self, position: Position, hints_shown: int, *, intro_open: bool) -> None:
        """Show `position`; the intro is unfolded only when `intro_open`."""
        if position.lesson.id != self._lesson_id:
            # A long intro is hundreds of widgets: draw the task first, the intro right after.
            intro = self.query_one("#intro-md", Markdown)
            intro.update("")
            self.call_after_refresh(intro.update, position.lesson.intro)
        self._lesson_id = position.lesson.id
        self.border_title = Text(position.lesson.title)  # a str would be parsed as markup
        self.query_one("#intro", Collapsible).collapsed = not intro_open
        await self.query_one("#task-md", Markdown).update(task_markdown(position))
        await self.show_hints(position, hints_shown, scroll=False)
        self.scroll_home(animate=False)

    async def show_hints(self, position: Position, shown: int, *, scroll: bool = True) -> None:
        hints = self.query_one("#hints-md", Markdown)
        hints.display = bool(position.exercise.hints)
        await hints.update(hints_markdown(position, shown))
        if scroll:  # the newest hint is the last one: show the end of the pane
            self.call_after_refresh(self.scroll_end, animate=False)

    @property
    def intro_open(self) -> bool:
        return not self.query_one("#intro", Collapsible).collapsed
