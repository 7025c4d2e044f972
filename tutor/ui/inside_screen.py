"""The frame both "see inside" views share: a full-screen box with a header and a tree, escape
to close, and a key that switches to the other view. Subclasses say what goes in the tree."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode


def tree_plain(tree: Tree[None]) -> str:
    """Every label of the tree (folded ones too), one per line, indented: for tests."""
    lines: list[str] = []

    def walk(node: TreeNode[None], depth: int) -> None:
        for child in node.children:
            label = child.label
            plain = label.plain if isinstance(label, Text) else str(label)
            lines.append("  " * depth + plain)
            walk(child, depth + 1)

    walk(tree.root, 0)
    return "\n".join(lines)


class InsideScreen(ModalScreen[None]):
    """A tree view of the last run; subclasses set the names and fill the tree."""

    DEFAULT_CSS = """
    InsideScreen {
        align: center middle;
    }
    InsideScreen .inside-box {
        width: 100%;  /* all of the terminal: the tree needs the room */
        height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    InsideScreen .inside-header {
        height: auto;
        max-height: 8;
        margin-bottom: 1;
    }
    InsideScreen .inside-tree {
        height: 1fr;
        background: $surface;
    }
    """

    VIEW_TITLE: ClassVar[str]
    NAME: ClassVar[str]  # used for widget ids: "structure", "graph"
    OTHER_KEY: ClassVar[str]
    OTHER_TITLE: ClassVar[str]
    OTHER_ACTION: ClassVar[str]  # the app action that opens the other view

    def __init__(self, header: Text) -> None:
        super().__init__()
        self.header = header

    def compose(self) -> ComposeResult:
        with Vertical(id=f"{self.NAME}-box", classes="inside-box") as box:
            box.border_title = self.VIEW_TITLE
            box.border_subtitle = f"esc closes · {self.OTHER_KEY} {self.OTHER_TITLE.lower()}"
            yield Static(self.header, id=f"{self.NAME}-header", classes="inside-header")
            tree: Tree[None] = Tree(self.NAME, id=f"{self.NAME}-tree", classes="inside-tree")
            tree.show_root = False
            tree.guide_depth = 3
            yield tree

    def fill(self, tree: Tree[None]) -> None:
        raise NotImplementedError

    def on_mount(self) -> None:
        tree = self.query_one(f"#{self.NAME}-tree", Tree)
        self.fill(tree)
        tree.focus()

    @property
    def plain(self) -> str:
        tree = self.query_one(f"#{self.NAME}-tree", Tree)
        return self.header.plain + "\n" + tree_plain(tree)

    def action_switch(self) -> None:
        self.dismiss()
        other = getattr(self.app, self.OTHER_ACTION, None)
        if other is not None:
            self.app.call_later(other)
