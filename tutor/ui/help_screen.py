"""F1: every key of the app and of the focused widget, generated from the live bindings.

Built from `Screen.active_bindings` (so a user keymap or a new binding shows up by itself) plus
the app's own bindings that are switched off right now (escape only cancels while a run is on).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static, TextArea

APP_SECTION = "pttutor"
UNAVAILABLE = "not available right now"
WIDGET_TITLES = {
    "editor": "Editor",
    "lessons": "Lesson list",
    "task": "Lesson text",
    "intro-toggle": "Lesson intro (its title line)",
    "intro-scroll": "Lesson intro",
    "task-scroll": "Task and hints",
    "results": "Result",
    "verdict-scroll": "Result",
    "output-scroll": "Output",
}


@dataclass
class Section:
    title: str
    rows: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (action, desc) -> keys
    notes: list[str] = field(default_factory=list)

    def add(self, action: str, description: str, key: str) -> None:
        keys = self.rows.setdefault((action, description), [])
        if key not in keys:
            keys.append(key)


def describe(binding: Binding) -> str:
    """The tooltip or description, else the action in words (`cursor_word_left(True)`)."""
    if binding.tooltip or binding.description:
        text = binding.tooltip or binding.description
        return text[:1].upper() + text[1:]
    name, _, args = binding.action.partition("(")
    words = name.rpartition(".")[2].replace("_", " ").capitalize()
    return words + (" (extending the selection)" if args.startswith("True") else "")


def section_title(node: DOMNode) -> str:
    if isinstance(node, App):
        return APP_SECTION
    if isinstance(node, Screen):
        return "Moving around"
    title = WIDGET_TITLES.get(node.id or "", node.id or type(node).__name__)
    return f"{title} (focused)" if getattr(node, "has_focus", False) else title


def binding_sections(screen: Screen, app_bindings: Iterable[BindingType] = ()) -> list[Section]:
    """Group the screen's active bindings by the widget that owns them, app first."""
    app = screen.app
    sections: dict[DOMNode, Section] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system and not binding.description:
            continue
        section = sections.setdefault(active.node, Section(section_title(active.node)))
        description = describe(binding)
        if not active.enabled:
            description += f" ({UNAVAILABLE})"
        section.add(binding.action, description, app.get_key_display(binding))
        if isinstance(active.node, TextArea) and not section.notes:
            section.notes.append(
                "enter keeps the indentation (one more after a ':'); tab and shift+tab indent "
                "and dedent the selected lines; esc leaves the editor (then tab moves between "
                "panes)"
            )
    app_section = sections.setdefault(app, Section(APP_SECTION))
    shown = {action for action, _ in app_section.rows}
    for binding in Binding.make_bindings(app_bindings):
        if binding.action not in shown:
            key = app.get_key_display(binding)
            app_section.add(binding.action, f"{describe(binding)} ({UNAVAILABLE})", key)
    ordered = [app_section] + [s for node, s in sections.items() if node is not app]
    return [s for s in ordered if s.rows]


def render_sections(sections: list[Section]) -> Text:
    text = Text()
    width = max((len(" / ".join(k)) for s in sections for k in s.rows.values()), default=8)
    width = min(width, 24)
    for section in sections:
        text.append(f"{section.title}\n", style="bold underline")
        for (_action, description), keys in section.rows.items():
            text.append(f"  {' / '.join(keys):<{width}}  ", style="bold cyan")
            text.append(f"{description}\n", style="dim" if UNAVAILABLE in description else "")
        for note in section.notes:
            text.append(f"  {note}\n", style="italic dim")
        text.append("\n")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; escape, F1 or q closes it."""

    BINDINGS = [
        Binding("escape,f1,q", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections
        self.text = render_sections(sections)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc closes"
            yield Static(self.text, id="help-text")

    @property
    def plain(self) -> str:
        return self.text.plain
