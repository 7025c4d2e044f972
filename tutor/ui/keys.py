"""The app's keys: one list of bindings (with ids, for keymaps) that the footer, the help
screen and every message that names a key are generated from.

Most are priority bindings: the focused editor swallows many keys (ctrl+a/e/k/d/w/u/x/c/v/z/y,
f6, f7), so the app's keys must be seen before it. None of those swallowed keys is used here.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding, BindingType

from ..solution import FAILED_RUNS_TO_UNLOCK

APP_BINDINGS: list[BindingType] = [
    Binding(
        "ctrl+r,f5",
        "run",
        "Run",
        id="run",
        tooltip="Save, run your code in the sandbox and check it",
        priority=True,
    ),
    Binding(
        "escape",
        "cancel_run",
        "Cancel run",
        id="cancel-run",
        tooltip="Stop the code that is running",
        show=False,  # the result pane says it while a run is on; the footer is full at 80
        priority=True,
    ),
    Binding("f2", "hint", "Hint", id="hint", tooltip="Show the next hint", priority=True),
    Binding(
        "f8",
        "solution",
        "Solution",
        id="solution",
        tooltip="Show the reference solution and how your code differs "
        f"(after a pass, or after {FAILED_RUNS_TO_UNLOCK} failed runs)",
        show=False,  # the result pane names it when it is available; the footer is full at 80
        priority=True,
    ),
    Binding(
        "ctrl+t",
        "toggle_reading",
        "Lesson",
        id="reading",
        tooltip="Read the lesson wide (beside the editor from 140 columns, else full size); "
        "again to come back",
        priority=True,
    ),
    Binding(
        "ctrl+o",
        "toggle_output",
        "Output",
        id="output",
        tooltip="Switch the results pane between the result and everything your code printed",
        priority=True,
    ),
    Binding(
        "ctrl+g",
        "follow_link",
        "Go to lesson",
        id="follow-link",
        tooltip="Open the lesson that teaches the fix of your error; again to come back",
        show=False,  # the result pane names it when there is a lesson to go to
        priority=True,
    ),
    Binding(
        "ctrl+n",
        "next",
        "Next",
        id="next",
        tooltip="Next exercise (your code is saved)",
        priority=True,
    ),
    Binding(
        "ctrl+b",
        "previous",
        "Prev",
        id="previous",
        tooltip="Previous exercise (your code is saved)",
        show=False,  # the footer is full at 80 columns
        priority=True,
    ),
    Binding(
        "f4",
        "switch_device",
        "Device",
        id="device",
        tooltip="Switch where your code runs: CPU or CUDA",
        priority=True,
    ),
    Binding(
        "f3",
        "toggle_lessons",
        "List",
        id="toggle-lessons",
        tooltip="Show or hide the lesson list",
        priority=True,
    ),
    Binding(
        "ctrl+l",
        "focus_lessons",
        "Lesson list",
        id="focus-lessons",
        tooltip="Go to the lesson list (enter opens an exercise, space folds a lesson)",
        show=False,
        priority=True,
    ),
    Binding(
        "ctrl+s",
        "save",
        "Save",
        id="save",
        tooltip="Save your code now (runs, switches, quitting and a pause in typing save too)",
        show=False,  # saving happens by itself
        priority=True,
    ),
    Binding(
        "f9",
        "show_structure",
        "Model",
        id="structure",
        tooltip="Show the structure of the models your last run built: layers, parameters, hooks",
        show=False,  # the result pane names it after a run that built a model
        priority=True,
    ),
    Binding(
        "f10",
        "show_graph",
        "Graph",
        id="autograd-graph",
        tooltip="Show the autograd graph of your last run's loss (or last scalar result)",
        show=False,  # the result pane names it after a run that built a graph
        priority=True,
    ),
    Binding("f1", "help", "Help", id="help", tooltip="This list of keys"),
    Binding("ctrl+q", "quit", "Quit", id="quit", tooltip="Save and quit", priority=True),
]

# Actions that only make sense on the main screen (not under the help or the command palette).
MAIN_SCREEN_ACTIONS = frozenset(
    {
        "run",
        "cancel_run",
        "hint",
        "solution",
        "next",
        "previous",
        "switch_device",
        "toggle_lessons",
        "focus_lessons",
        "save",
        "help",
        "show_structure",
        "show_graph",
        "toggle_reading",
        "toggle_output",
        "follow_link",
    }
)


def key_for(action: str, bindings: Iterable[BindingType] = APP_BINDINGS) -> str:
    """The first key bound to `action`, as the learner would type it (`ctrl+r`)."""
    for binding in Binding.make_bindings(bindings):
        if binding.action == action:
            return binding.key
    return action
