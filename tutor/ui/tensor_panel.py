"""The failure panel of a tensor check, inside the results pane: a checklist of what matched,
then the values (small tensors: yours and the expected side by side, differing elements
highlighted; large ones: how many differ, by how much and where).

Pure functions over `tutor.tensor_report.TensorReport`, appending to a `rich.text.Text`.
"""

from __future__ import annotations

from rich.text import Text

from ..tensor_report import Grid, TensorReport, mismatch_lines

SIDE_BY_SIDE_WIDTH = 60  # wider than this, the two sides are shown one above the other
ITEM_MARK = {True: ("✓", "green"), False: ("✗", "red"), None: ("-", "dim")}
DIFFERS_STYLE = "bold red reverse"


def render_tensor_report(text: Text, report: TensorReport, indent: str = "     ") -> None:
    width = max(len(item.name) for item in report.checklist)
    for item in report.checklist:
        mark, style = ITEM_MARK[item.passed]
        text.append(f"{indent}{mark} ", style=style)
        text.append(f"{item.name:<{width}}  ", style="bold" if item.passed is False else "")
        text.append(f"{item.detail}\n", style="" if item.passed is not False else style)
    if report.expected is not None and report.got is not None:
        _values(text, report.got, report.expected, report.differs, indent)
    if report.mismatches is not None:
        # The count is in the checklist; with the values on screen, the rest is a footnote.
        small = report.got is not None
        for line in mismatch_lines(report.mismatches)[1:]:
            text.append(f"{indent}{line}\n", style="dim" if small else "")
    if report.grad is not None:
        text.append(f"{indent}.grad, element by element:\n", style="bold")
        render_tensor_report(text, report.grad, indent + "  ")


def _cell_width(*grids: Grid) -> int:
    return max((len(cell) for grid in grids for row in grid.rows for cell in row), default=1)


def _label_width(*grids: Grid) -> int:
    return max((len(label) for grid in grids for label in grid.labels), default=0)


def _row(
    text: Text, grid: Grid, i: int, cell: int, label: int, differs: tuple[bool, ...] | None
) -> int:
    """Append row `i` of `grid`; returns how many columns it took."""
    used = 0
    if label:
        text.append(f"{grid.labels[i]:<{label}} ", style="dim")
        used += label + 1
    for j, value in enumerate(grid.rows[i]):
        if j:
            text.append(" ")
            used += 1
        marked = differs is not None and j < len(differs) and differs[j]
        text.append(f"{value:>{cell}}", style=DIFFERS_STYLE if marked else "")
        used += cell
    return used


def _values(
    text: Text,
    got: Grid,
    expected: Grid,
    differs: tuple[tuple[bool, ...], ...] | None,
    indent: str,
) -> None:
    cell = _cell_width(got, expected)
    label = _label_width(got, expected)
    columns = max((len(row) for grid in (got, expected) for row in grid.rows), default=1)
    side = max((label + 1 if label else 0) + columns * (cell + 1) - 1, len("yours"))
    same_layout = differs is not None and len(got.rows) == len(expected.rows)
    if same_layout and len(indent) + 2 * side + 5 <= SIDE_BY_SIDE_WIDTH:
        text.append(f"{indent}{'yours':<{side}}  │  expected\n", style="bold")
        for i in range(len(got.rows)):
            marks = differs[i] if differs is not None else None
            text.append(indent)
            used = _row(text, got, i, cell, label, marks)
            text.append(" " * (side - used))
            text.append("  │  ", style="dim")
            _row(text, expected, i, cell, label, marks)
            text.append("\n")
        return
    for title, grid in (("yours", got), ("expected", expected)):
        text.append(f"{indent}{title}\n", style="bold")
        for i in range(len(grid.rows)):
            marks = differs[i] if differs is not None and i < len(differs) else None
            text.append(indent + "  ")
            _row(text, grid, i, cell, label, marks)
            text.append("\n")
