"""F9: the models the last run built, as a tree (like torchinfo's summary, inside the app).

Every nn.Module the code left in its namespace (or the ones the exercise names): its class, its
parameters with their shapes and counts, trainable or frozen, its device and hooks, and, when the
exercise gives a sample input, each module's output shape. The data comes from the sandbox child
(`tutor.inspect_model.Structure`); this screen only draws it.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ..inspect_model import (
    ModuleNode,
    ParamInfo,
    Structure,
    format_count,
    format_shape,
    hooks_text,
)
from ..textsafe import inert
from .inside_screen import InsideScreen

EMPTY = (
    "Your last run left no nn.Module behind. Build a model (for example "
    "`model = NeuralNetwork()`), run it, and this view shows its layers and parameters."
)


def header_text(structure: Structure | None, ran: str) -> Text:
    text = Text()
    if structure is None or structure.error:
        why = (structure.error if structure is not None else None) or "no structure came back"
        text.append(f"The model structure could not be read: {inert(why)}", style="yellow")
        return text
    if not structure.modules:
        text.append(EMPTY)
        for problem in structure.problems:
            text.append(f"\n• {inert(problem)}", style="yellow")
        return text
    text.append("Total params: ", style="bold")
    text.append(format_count(structure.total_params))
    text.append("  ·  trainable: ", style="bold")
    text.append(format_count(structure.trainable_params), style="green")
    text.append("  ·  frozen: ", style="bold")
    frozen = structure.frozen_params
    text.append(format_count(frozen), style="cyan" if frozen else "")
    text.append(f"\n{ran}", style="dim")
    if structure.sample_input:
        text.append(f" · output shapes for the sample input {inert(structure.sample_input)}")
    if structure.truncated:
        text.append(
            "\nA large model: some modules are not listed (the totals count them all).",
            style="yellow",
        )
    for line in (*structure.problems, *structure.sample_errors):
        text.append(f"\n• {inert(line)}", style="yellow")
    return text


def module_label(node: ModuleNode, *, root: bool = False) -> Text:
    text = Text()
    text.append(inert(node.name), style="bold")
    text.append(f" {inert(node.type)}", style="cyan")
    if node.same_as:
        text.append(f"  (the same module as {inert(node.same_as)})", style="dim")
        return text
    if node.output_shape is not None:
        text.append(f"  → {inert(format_shape(node.output_shape))}", style="green")
    count = node.total_params if (root or node.children) else node.own_params
    if count:
        text.append(f"  {format_count(count)} params", style="")
    if node.frozen:
        text.append("  frozen", style="bold cyan")
    elif node.partly_frozen:
        frozen = node.total_params - node.trainable_params
        text.append(f"  {format_count(frozen)} frozen", style="cyan")
    hooks = hooks_text(node)
    if hooks:
        text.append(f"  ⚓ {hooks}", style="magenta")
    if not node.training:
        text.append("  eval mode", style="yellow")
    devices = node.devices() if root else []
    if devices:
        text.append(f"  on {inert(', '.join(devices))}", style="dim")
    return text


def param_label(param: ParamInfo) -> Text:
    text = Text()
    text.append(inert(param.name), style="italic")
    shape = format_shape(list(param.shape)) if param.shape is not None else "(uninitialised)"
    text.append(f" {shape}", style="bold")
    text.append(f"  {format_count(param.count)}", style="dim")
    if param.trainable:
        text.append("  trainable", style="green")
    else:
        text.append("  frozen", style="bold cyan")
    if param.dtype and param.dtype != "float32":
        text.append(f"  {inert(param.dtype)}", style="yellow")
    return text


def _add_module(parent: TreeNode[None], node: ModuleNode, *, root: bool = False) -> None:
    has_rows = bool(node.params or node.buffers or node.children or node.children_more)
    if not has_rows:
        parent.add_leaf(module_label(node, root=root))
        return
    branch = parent.add(module_label(node, root=root), expand=True)
    for param in node.params:
        branch.add_leaf(param_label(param))
    if node.params_more:
        branch.add_leaf(Text(f"… {node.params_more} more parameters", style="dim"))
    for buffer in node.buffers:
        shape = format_shape(list(buffer.shape)) if buffer.shape is not None else "?"
        branch.add_leaf(Text(f"{inert(buffer.name)} {shape}  buffer", style="dim"))
    for child in node.children:
        _add_module(branch, child)
    if node.children_more:
        branch.add_leaf(Text(f"… {node.children_more} more modules (not listed)", style="dim"))


def build_tree(tree: Tree[None], structure: Structure | None) -> None:
    tree.clear()
    if structure is None:
        return
    for root in structure.modules:
        _add_module(tree.root, root, root=True)
    tree.root.expand()


class StructureScreen(InsideScreen):
    """The structure view; escape (or F9 again) closes it, F10 switches to the graph."""

    VIEW_TITLE = "Model structure"
    NAME = "structure"
    OTHER_KEY = "f10"
    OTHER_TITLE = "Autograd graph"
    OTHER_ACTION = "action_show_graph"

    BINDINGS = [
        Binding("escape,f9,q", "dismiss", "Close", id="structure.close"),
        Binding("f10", "switch", "Autograd graph", id="structure.graph"),
    ]

    def __init__(self, structure: Structure | None, ran: str = "from your last run") -> None:
        super().__init__(header_text(structure, ran))
        self.structure = structure

    def fill(self, tree: Tree[None]) -> None:
        build_tree(tree, self.structure)
