"""F10: the autograd graph of the last run's loss (or the tensor the exercise names), as a tree.

Each node is a `grad_fn` (MulBackward0, AccumulateGrad…) and its children are its
`next_functions`: the operations its inputs came from, down to the leaf tensors whose `.grad`
backward() fills in. A node reached twice (y used in y * y) is shown once in full and then
marked as a repeat. Tensors autograd does not track (detached, made under no_grad, plain data)
are listed apart. The data comes from the sandbox child (`tutor.inspect_model.AutogradGraph`).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ..inspect_model import AutogradGraph, GraphNode, LeafInfo, format_shape
from ..textsafe import inert
from .inside_screen import InsideScreen

EMPTY = (
    "Your last run left no tensor with autograd history. Compute something from a tensor "
    "that requires grad (say `loss = (w * x).sum()` with `w.requires_grad_()`), run it, and "
    "this view shows the graph that backward() walks."
)
CUT_TITLE = "Not tracked by autograd (data, .detach(), or made under torch.no_grad())"


def _shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    return "scalar" if shape == () else format_shape(list(shape))


def header_text(graph: AutogradGraph | None, ran: str) -> Text:
    text = Text()
    if graph is None:
        text.append(EMPTY)
        return text
    if graph.error:
        what = f" of {inert(graph.target)}" if graph.target else ""
        text.append(f"The autograd graph{what} could not be read: {inert(graph.error)}", "yellow")
        return text
    text.append("Graph of ", style="bold")
    text.append(inert(graph.target or "?"), style="bold cyan")
    text.append(f": {_shape(graph.shape)}")
    if graph.grad_fn:
        text.append(f", grad_fn={inert(graph.grad_fn)}")
    text.append(f", requires_grad={graph.requires_grad}")
    if graph.root is not None:
        leaves = graph.leaves()
        count = len(leaves)
        text.append(
            f"\n{graph.nodes} nodes, {count} leaf tensor{'' if count == 1 else 's'}", style="dim"
        )
        text.append(f" · {ran}", style="dim")
    if graph.truncated:
        text.append("\nA large graph: only its first nodes are shown.", style="yellow")
    if graph.note:
        text.append(f"\n{inert(graph.note)}", style="yellow")
    return text


def leaf_text(leaf: LeafInfo) -> Text:
    text = Text()
    name = leaf.name or "an unnamed leaf"
    text.append(inert(name), style="bold green")
    text.append(f" {_shape(leaf.shape)}")
    if leaf.is_parameter:
        text.append("  Parameter", style="cyan")
    text.append(f"  requires_grad={leaf.requires_grad}", style="dim")
    text.append("  .grad filled" if leaf.has_grad else "  .grad None", style="dim")
    if leaf.dtype and leaf.dtype != "float32":
        text.append(f"  {inert(leaf.dtype)}", style="yellow")
    return text


def node_label(node: GraphNode) -> Text:
    text = Text()
    if node.var:
        text.append(f"{inert(node.var)} = ", style="bold")
    text.append(inert(node.name), style="magenta" if node.leaf is not None else "cyan")
    if node.repeat:
        text.append("  ↑ the same node as above (used again)", style="dim")
        return text
    if node.leaf is not None:
        text.append(" → ", style="dim")
        text.append_text(leaf_text(node.leaf))
    return text


def _add_node(parent: TreeNode[None], node: GraphNode) -> None:
    if not node.children and not node.more:
        parent.add_leaf(node_label(node))
        return
    branch = parent.add(node_label(node), expand=True)
    for child in node.children:
        _add_node(branch, child)
    if node.more:
        branch.add_leaf(Text(f"… {node.more} more inputs (not shown)", style="dim"))


def build_tree(tree: Tree[None], graph: AutogradGraph | None) -> None:
    tree.clear()
    if graph is None:
        return
    if graph.root is not None:
        _add_node(tree.root, graph.root)
    if graph.cut:
        cut = tree.root.add(Text(CUT_TITLE, style="bold yellow"), expand=True)
        for tensor in graph.cut:
            label = Text()
            label.append(inert(tensor.name), style="bold")
            label.append(f" {_shape(tensor.shape)}")
            if tensor.detached_from:
                label.append(f"  detached from {inert(tensor.detached_from)}", style="yellow")
                label.append(" (shares its memory, no history)", style="dim")
            cut.add_leaf(label)
        if graph.cut_more:
            cut.add_leaf(Text(f"… {graph.cut_more} more", style="dim"))
    tree.root.expand()


class GraphScreen(InsideScreen):
    """The autograd view; escape (or F10 again) closes it, F9 switches to the structure."""

    VIEW_TITLE = "Autograd graph"
    NAME = "graph"
    OTHER_KEY = "f9"
    OTHER_TITLE = "Model structure"
    OTHER_ACTION = "action_show_structure"

    BINDINGS = [
        Binding("escape,f10,q", "dismiss", "Close", id="graph.close"),
        Binding("f9", "switch", "Model structure", id="graph.structure"),
    ]

    def __init__(self, graph: AutogradGraph | None, ran: str = "from your last run") -> None:
        super().__init__(header_text(graph, ran))
        self.graph = graph

    def fill(self, tree: Tree[None]) -> None:
        build_tree(tree, self.graph)
