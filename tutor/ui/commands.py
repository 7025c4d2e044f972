"""Command palette (ctrl+p): jump to any lesson or exercise by typing part of its name.

The provider only lists targets; opening goes through the app's `open_position`, which saves the
editor first like every other way of switching. A lesson opens at its first unfinished exercise.
The palette's other commands (solution, resets, device, theme) are the app's system commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import TutorApp
    from .session import Position


class JumpProvider(Provider):
    """Every lesson (`Lesson ›`) and exercise (`Lesson › Exercise`), marked ✓ when done."""

    def _targets(self) -> Iterator[tuple[str, str, str, Position]]:
        """(title, help, id to match, position) for each lesson, then its exercises."""
        app: TutorApp = self.app  # type: ignore[assignment]
        session = app.session
        for lesson in session.pack.lessons:
            opening = session.find(lesson.id)
            if opening is None:
                continue
            done = session.progress.lesson_state(lesson) == "done"
            title = f"{'✓ ' if done else ''}{lesson.title} ›"
            yield title, f"Open lesson {lesson.id} where you left off", lesson.id, opening
            for position in session.positions:
                if position.lesson is lesson:
                    mark = "✓ " if session.is_done(position) else ""
                    title = f"{mark}{lesson.title} › {position.exercise.title}"
                    yield title, f"Open exercise {position.key}", position.key, position

    def _open(self, position: Position):  # type: ignore[no-untyped-def]
        app: TutorApp = self.app  # type: ignore[assignment]
        return partial(app.open_position, position, focus_editor=True)

    async def discover(self) -> Hits:
        for title, help_text, _, position in self._targets():
            yield DiscoveryHit(Text(title), self._open(position), text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, ident, position in self._targets():
            score = max(matcher.match(title), matcher.match(ident))
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    self._open(position),
                    text=title,
                    help=help_text,
                )
