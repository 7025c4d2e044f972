"""Command palette (ctrl+p): jump to any lesson or exercise by typing part of its name.

The provider only lists targets; opening goes through the app's `open_position`, which saves the
editor first like every other way of switching.
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
    """Every exercise as `Lesson › Exercise`, marked ✓ when done."""

    def _targets(self) -> Iterator[tuple[str, str, Position]]:
        app: TutorApp = self.app  # type: ignore[assignment]
        for position in app.session.positions:
            mark = "✓ " if app.session.is_done(position) else ""
            title = f"{mark}{position.lesson.title} › {position.exercise.title}"
            yield title, f"Open exercise {position.key}", position

    def _open(self, position: Position):  # type: ignore[no-untyped-def]
        app: TutorApp = self.app  # type: ignore[assignment]
        return partial(app.open_position, position, focus_editor=True)

    async def discover(self) -> Hits:
        for title, help_text, position in self._targets():
            yield DiscoveryHit(Text(title), self._open(position), text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, position in self._targets():
            score = max(matcher.match(title), matcher.match(position.key))
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    self._open(position),
                    text=title,
                    help=help_text,
                )
