"""The lesson list: a tree of lessons and their exercises, marked with the learner's progress.

Labels are `rich.text.Text` (a `str` label would be parsed as markup and cut at its first line).
Choosing an exercise, or a lesson (its first unfinished exercise), posts `ExerciseChosen`; the
app decides what opening means.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from .session import Position, Session

NodeData = tuple[str, str | None]  # (lesson id, exercise id or None for the lesson itself)

_COUNT = re.compile(r" \d+/\d+$")
LESSON_MARKS = {"done": ("✓", "green"), "started": ("◐", "yellow"), "new": ("○", "dim")}


def lesson_label(title: str, state: str, done: int, total: int) -> Text:
    mark, style = LESSON_MARKS[state]
    label = Text()
    label.append(f"{mark} ", style=style)
    label.append(title, style="bold" if state != "done" else "")
    label.append(f" {done}/{total}", style="dim")
    return label


def progress_bar(done: int, total: int, width: int = 10) -> Content:
    """`███░░░░░░░ 5/14 done`: the overall progress, in the list's bottom border. Block
    characters never blend into the border line; theme colours keep it readable in light and
    dark themes: in a border, a Rich "dim" or an unstyled label takes the blurred border's colour,
    which is nearly the background's."""
    filled = round(width * done / total) if total else 0
    if done and not filled:
        filled = 1  # one exercise done shows, even in a big pack
    if done < total and filled == width:
        filled = width - 1  # and a full bar means everything
    return Content.assemble(
        ("█" * filled, "$success"),
        ("░" * (width - filled), "$foreground-muted"),
        (f" {done}/{total} done", "$foreground bold" if done == total and total else "$foreground"),
    )


def exercise_label(title: str, done: bool, current: bool) -> Text:
    label = Text()
    label.append("✓ " if done else "· ", style="green" if done else "dim")
    label.append(title, style="bold underline" if current else "")
    return label


class LessonList(Tree[NodeData]):
    """Lessons (expandable) with exercise leaves; `enter` opens, `space` folds."""

    class ExerciseChosen(Message):
        """The learner picked an exercise (or a lesson) in the list."""

        def __init__(self, lesson_id: str, exercise_id: str | None) -> None:
            super().__init__()
            self.lesson_id = lesson_id
            self.exercise_id = exercise_id

    def __init__(self, session: Session, **kwargs: object) -> None:
        super().__init__("Lessons", **kwargs)  # type: ignore[arg-type]
        self.session = session
        self.show_root = False
        self.auto_expand = False
        self.guide_depth = 2
        self.border_title = "Lessons"
        self._by_data: dict[NodeData, TreeNode[NodeData]] = {}
        self._current: Position | None = None
        for lesson in session.pack.lessons:
            node = self.root.add(Text(lesson.title), data=(lesson.id, None))
            self._by_data[(lesson.id, None)] = node
            for exercise in lesson.exercises:
                leaf = node.add_leaf(Text(exercise.title), data=(lesson.id, exercise.id))
                self._by_data[(lesson.id, exercise.id)] = leaf
        self.refresh_marks()

    def refresh_marks(self) -> None:
        """Relabel every node from the progress: call after a result or a switch."""
        progress = self.session.progress
        for lesson in self.session.pack.lessons:
            done = sum(progress.is_done(lesson, e) for e in lesson.exercises)
            self._by_data[(lesson.id, None)].set_label(
                lesson_label(
                    lesson.title, progress.lesson_state(lesson), done, len(lesson.exercises)
                )
            )
            for exercise in lesson.exercises:
                current = self._current is not None and self._current.exercise is exercise
                self._by_data[(lesson.id, exercise.id)].set_label(
                    exercise_label(exercise.title, progress.is_done(lesson, exercise), current)
                )
        done, total = self.session.counts()
        bar = progress_bar(done, total)
        self.progress_label = bar.plain  # what the learner reads, for tests
        self.border_subtitle = bar

    def render_label(self, node: TreeNode[NodeData], base_style: Style, style: Style) -> Text:
        """A label too long for the list ends with "…" instead of being cut mid-word."""
        label = super().render_label(node, base_style, style)
        depth, parent = 0, node.parent
        while parent is not None:
            depth, parent = depth + 1, parent.parent
        room = self.scrollable_content_region.width - (depth - 1) * self.guide_depth
        if room <= 1 or label.cell_len <= room:
            return label
        count = _COUNT.search(label.plain)  # a lesson's " 2/5" stays: only its title is cut
        keep = label[count.start() :] if count else Text()
        head = label[: count.start()] if count else label
        if room - keep.cell_len > 4:
            head.truncate(room - keep.cell_len, overflow="ellipsis")
            return Text.assemble(head, keep)
        label.truncate(room, overflow="ellipsis")
        return label

    def on_resize(self) -> None:
        self._invalidate()  # labels are cut to the width: cut them again

    def show_current(self, position: Position) -> None:
        """Mark `position` as the open exercise, unfold its lesson and put the cursor on it."""
        self._current = position
        self._by_data[(position.lesson.id, None)].expand()
        self.refresh_marks()
        leaf = self._by_data[(position.lesson.id, position.exercise.id)]
        self.call_after_refresh(self.move_cursor, leaf)

    def label_of(self, lesson_id: str, exercise_id: str | None = None) -> str:
        """The plain text of a node's label (what the learner reads), e.g. `✓ Make three`."""
        label = self._by_data[(lesson_id, exercise_id)].label
        return label.plain if isinstance(label, Text) else str(label)

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        event.stop()
        if event.node.data is None:
            return
        lesson_id, exercise_id = event.node.data
        if exercise_id is None:
            event.node.expand()
        self.post_message(self.ExerciseChosen(lesson_id, exercise_id))
