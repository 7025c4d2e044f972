"""The code editor: Textual's TextArea taught Python indentation (rules in `indent.py`).

Enter keeps or changes the indentation, Tab and shift+Tab indent or dedent every selected line,
Backspace in leading spaces removes one level, ctrl+Home and ctrl+End go to the start and end.
Each of these is one edit, so ctrl+z undoes it in one step.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from .indent import INDENT, continuation_indent, dedent_width, indent_after


class CodeEditor(TextArea):
    """A Python editor; build it with `CodeEditor.code_editor(...)` like a TextArea."""

    BINDINGS = [
        Binding("shift+tab", "dedent", "Dedent the selected lines", show=False),
        Binding("ctrl+home", "document_start", "Go to the start", show=False),
        Binding("ctrl+end", "document_end", "Go to the end", show=False),
        Binding("ctrl+shift+home", "document_start(True)", "Select to the start", show=False),
        Binding("ctrl+shift+end", "document_end(True)", "Select to the end", show=False),
    ]

    async def _on_key(self, event: events.Key) -> None:
        if self.read_only:
            return
        if event.key == "enter":
            self._stop(event)
            self._newline()
        elif event.key == "tab" and self._spans_lines():
            self._stop(event)
            self._shift_lines(INDENT)
        elif event.character == ":" and self.selection.is_empty:
            self._stop(event)
            start, end = self.selection
            self._replace_via_keyboard(":", start, end)
            self._place_continuation()
        # Anything else: TextArea's own handler (it runs after this one).

    @staticmethod
    def _stop(event: events.Key) -> None:
        event.stop()
        event.prevent_default()

    # --------------------------------------------------------------- Enter

    def _newline(self) -> None:
        start, end = self.selection
        top, bottom = sorted((start, end))
        row, column = top
        line = self.document[row]
        indent = indent_after(line[:column])
        after = self.document[bottom[0]][bottom[1] :]
        # The text moved to the new line starts at the new indentation, not after old blanks.
        skip = len(after) - len(after.lstrip(" "))
        self._replace_via_keyboard("\n" + " " * indent, top, (bottom[0], bottom[1] + skip))

    def _place_continuation(self) -> None:
        """After the `:` of `else:` and the like, move the line under its statement."""
        row, column = self.cursor_location
        lines = self.text.split("\n")
        target = continuation_indent(lines, row)
        if target is None:
            return
        current = len(lines[row]) - len(lines[row].lstrip(" "))
        if target >= current:
            return
        self.replace(" " * target, (row, 0), (row, current), maintain_selection_offset=False)
        self.selection = Selection.cursor((row, column - (current - target)))

    # ------------------------------------------------------ Tab, shift+Tab

    def _spans_lines(self) -> bool:
        start, end = self.selection
        return start[0] != end[0]

    def _selected_rows(self) -> tuple[int, int]:
        start, end = sorted(self.selection)
        first, last = start[0], end[0]
        if last > first and end[1] == 0:
            last -= 1  # a selection ending at a line's start does not take that line
        return first, last

    def _shift_lines(self, delta: int) -> None:
        """Indent (delta > 0) or dedent every selected line by one level, as one edit."""
        first, last = self._selected_rows()
        old = [self.document[row] for row in range(first, last + 1)]
        new = []
        changes = []
        for line in old:
            if delta > 0:
                change = delta if line.strip() else 0
                new.append(" " * change + line)
            else:
                change = -min(-delta, len(line) - len(line.lstrip(" ")))
                new.append(line[-change:])
            changes.append(change)
        if new == old:
            return
        selection = self.selection
        self.replace("\n".join(new), (first, 0), (last, len(old[-1])))

        def moved(location: tuple[int, int]) -> tuple[int, int]:
            row, column = location
            if first <= row <= last:
                return row, max(0, column + changes[row - first])
            return row, column

        self.selection = Selection(moved(selection.start), moved(selection.end))

    def action_dedent(self) -> None:
        if self.read_only:
            return
        self._shift_lines(-INDENT)

    # ------------------------------------------------------------ Backspace

    def action_delete_left(self) -> None:
        """In leading spaces, Backspace goes back one indentation level."""
        if not self.read_only and self.selection.is_empty:
            row, column = self.cursor_location
            width = dedent_width(self.document[row], column)
            if width > 1:
                self._delete_via_keyboard((row, column - width), (row, column))
                return
        super().action_delete_left()

    # ------------------------------------------------------- ctrl+Home/End

    def action_document_start(self, select: bool = False) -> None:
        self.move_cursor((0, 0), select=select)

    def action_document_end(self, select: bool = False) -> None:
        self.move_cursor(self.document.end, select=select)
