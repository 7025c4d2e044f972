"""F9 and F10: see inside the last run, the model structure and the autograd graph.

A mixin of `TutorApp` (like `WorkflowActions`), so the app stays a router: it opens
`StructureScreen` or `GraphScreen` over the last verdict of the open exercise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .graph_view import GraphScreen
from .structure_view import StructureScreen

if TYPE_CHECKING:
    from ..sandbox.runner import RunResult


class InsideViews:
    """Mixed into TutorApp; uses its `position`, `_verdicts`, `say` and `key_for`."""

    def _last_run(self: Any, what: str) -> RunResult | None:
        position = self.position
        verdict = self._verdicts.get(position.key) if position is not None else None
        run = verdict.run if verdict is not None else None
        if run is None:
            self.say(
                f"Run your code first ({self.key_for('run')}): the {what} shows what your last "
                "run built."
            )
        elif run.structure is None and run.graph is None and run.outcome.value != "completed":
            self.say(
                f"Your last run did not finish ({run.outcome.value.replace('_', ' ')}), so the "
                f"{what} has nothing to show."
            )
            return None
        return run

    def _ran(self: Any) -> str:
        title = self.position.exercise.title if self.position is not None else "this exercise"
        return f"from your last run of “{title}”"

    def action_show_structure(self: Any) -> None:
        run = self._last_run("model structure view")
        if run is not None:
            self.push_screen(StructureScreen(run.structure, self._ran()))

    def action_show_graph(self: Any) -> None:
        run = self._last_run("autograd graph view")
        if run is not None:
            self.push_screen(GraphScreen(run.graph, self._ran()))
