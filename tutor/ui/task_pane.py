"""The reading pane: the lesson's intro above the exercise's task and the hints revealed so far.

The task and hints sit in their own scroll area at the bottom of the pane, right above the
editor, so they are on screen however long the intro is. The intro is unfolded for a lesson the
learner has not begun and folds once it has been read to its end (the app decides when: on a
run, or when leaving the wide lesson view); enter on its title line, or the wide view, opens it
again. The title line is not inside the intro's scroll area, so focusing it (tab) never scrolls
the intro back to the top. Scroll positions are kept per lesson (intro) and per exercise
(task), across switches. Markdown links never open a browser.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Markdown, Static

from .keys import key_for
from .session import Position

INTRO_TITLE = "Lesson intro"


def task_markdown(position: Position) -> str:
    lesson, exercise = position.lesson, position.exercise
    total = len(lesson.exercises)
    return f"## Exercise {position.number} of {total}: {exercise.title}\n\n{exercise.task_text}"


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


def intro_title(open_: bool, reading: bool = False) -> Text:
    text = Text()
    text.append("▼ " if open_ else "▶ ", style="bold")
    text.append(INTRO_TITLE, style="bold")
    how = "enter folds it" if open_ else "enter unfolds it"
    wide = "back to the code" if reading else "reads the lesson wide"
    text.append(f"  ({how}; {key_for('toggle_reading')} {wide})")
    return text


class IntroToggle(Static, can_focus=True):
    """The intro's one-line title: enter, space or a click folds or unfolds the intro."""

    BINDINGS = [Binding("enter,space", "fold", "Fold or unfold the lesson intro", show=False)]

    class Toggle(Message):
        """The learner asked to fold or unfold the intro."""

    def action_fold(self) -> None:
        self.post_message(self.Toggle())

    def on_click(self) -> None:
        self.post_message(self.Toggle())


class TaskPane(Vertical):
    """Intro (folds, scrolls on its own) over the task and hints (scroll on their own)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lesson_id: str | None = None
        self._key: str | None = None
        self._intro_open = False
        self._intro_scroll: dict[str, float] = {}  # lesson id -> scroll_y of the intro
        self._task_scroll: dict[str, float] = {}  # exercise key -> scroll_y of the task
        self.intro_read = False  # the learner scrolled the open intro to its end
        self._reading = False  # the app's wide lesson view is on
        self.border_title = "Lesson"

    def compose(self) -> ComposeResult:
        yield IntroToggle(intro_title(False), id="intro-toggle")
        with VerticalScroll(id="intro-scroll"):
            yield Markdown("", id="intro-md", open_links=False)
        with VerticalScroll(id="task-scroll"):
            yield Markdown("", id="task-md", open_links=False)
            yield Markdown("", id="hints-md", open_links=False)

    def on_mount(self) -> None:
        self.watch(self.intro_scroll, "scroll_y", self._intro_scrolled, init=False)

    @property
    def intro_scroll(self) -> VerticalScroll:
        return self.query_one("#intro-scroll", VerticalScroll)

    @property
    def task_scroll(self) -> VerticalScroll:
        return self.query_one("#task-scroll", VerticalScroll)

    async def show(
        self,
        position: Position,
        hints_shown: int,
        *,
        intro_open: bool,
        intro_scroll: float | None = None,
    ) -> None:
        """Show `position`; the intro is unfolded only when `intro_open`. The scroll positions
        the learner left this lesson's intro and this exercise's task at come back (or
        `intro_scroll`, from a saved session)."""
        self.remember_scroll()
        if intro_scroll is not None:
            self._intro_scroll[position.lesson.id] = intro_scroll
        if position.lesson.id != self._lesson_id:
            # A long intro is hundreds of widgets: draw the task first, the intro right after.
            self.query_one("#intro-md", Markdown).update("")
            self.call_after_refresh(self._load_intro, position.lesson.intro)
            self.intro_read = False
        self._lesson_id = position.lesson.id
        self._key = position.key
        self.border_title = Text(position.lesson.title)  # a str would be parsed as markup
        self.set_intro_open(intro_open)
        await self.query_one("#task-md", Markdown).update(task_markdown(position))
        await self.show_hints(position, hints_shown, scroll=False)
        task_y = self._task_scroll.get(position.key, 0.0)
        self.task_scroll.scroll_to(y=task_y, animate=False, immediate=True)
        self.call_after_refresh(self.task_scroll.scroll_to, y=task_y, animate=False)

    async def _load_intro(self, source: str) -> None:
        await self.query_one("#intro-md", Markdown).update(source)
        self.call_after_refresh(self._restore_intro_scroll)

    def _restore_intro_scroll(self) -> None:
        if self.intro_open:
            y = self._intro_scroll.get(self._lesson_id or "", 0.0)
            self.intro_scroll.scroll_to(y=y, animate=False, immediate=True)

    def remember_scroll(self) -> None:
        """Note where the learner is in the intro and the task (before they change)."""
        if self._lesson_id is not None and self.intro_open:
            self._intro_scroll[self._lesson_id] = self.intro_scroll.scroll_y
        if self._key is not None:
            self._task_scroll[self._key] = self.task_scroll.scroll_y

    @property
    def saved_intro_scroll(self) -> int:
        """Where the learner is in the intro of the lesson shown, for saving the session."""
        self.remember_scroll()
        return round(self._intro_scroll.get(self._lesson_id or "", 0.0))

    async def show_hints(self, position: Position, shown: int, *, scroll: bool = True) -> None:
        hints = self.query_one("#hints-md", Markdown)
        hints.display = bool(position.exercise.hints)
        await hints.update(hints_markdown(position, shown))
        if scroll:  # the newest hint is the last one: show the end of the task
            self.call_after_refresh(self.task_scroll.scroll_end, animate=False)

    # ----------------------------------------------------------------- folding

    @property
    def intro_open(self) -> bool:
        return self._intro_open

    def set_intro_open(self, open_: bool) -> None:
        if open_ == self._intro_open:
            return
        if not open_ and self._lesson_id is not None:
            self._intro_scroll[self._lesson_id] = self.intro_scroll.scroll_y
        self._intro_open = open_
        self.set_class(open_, "-intro-open")
        self._retitle()
        if open_:
            self.call_after_refresh(self._restore_intro_scroll)

    def set_reading(self, reading: bool) -> None:
        """The wide lesson view is on (or off): the intro's title says how to leave it."""
        self._reading = reading
        self._retitle()

    def _retitle(self) -> None:
        toggle = self.query_one("#intro-toggle", IntroToggle)
        toggle.update(intro_title(self._intro_open, self._reading))

    def on_intro_toggle_toggle(self, event: IntroToggle.Toggle) -> None:
        event.stop()
        self.set_intro_open(not self.intro_open)

    def _intro_scrolled(self) -> None:
        """Scrolled to the end of the open intro: it counts as read."""
        scroll = self.intro_scroll
        if self.intro_open and 0 < scroll.max_scroll_y <= scroll.scroll_y:
            self.intro_read = True

    def _intro_fits(self) -> bool:
        """The whole open intro is on screen (nothing to scroll): it could all be read."""
        intro = self.query_one("#intro-md", Markdown)
        scroll = self.intro_scroll
        return (
            self.intro_open
            and bool(intro.children)
            and scroll.region.height > 0
            and scroll.max_scroll_y == 0
        )

    def fold_if_read(self) -> bool:
        """Fold the intro if it was read to its end (or fits on screen); True when it folded."""
        if self.intro_open and (self.intro_read or self._intro_fits()):
            self.set_intro_open(False)
            return True
        return False
