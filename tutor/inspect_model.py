"""What the learner's code built, as plain data: the model structure and the autograd graph.

The sandbox child (`tutor/sandbox/child/_ptt_inspect.py`, `inspect_run`) walks the learner's
namespace after the checks and sends an `inspect` section of JSON with the result; this module
decodes it into frozen dataclasses (no torch, no Textual), turns them back into the documented
JSON of `pttutor check --json`, and words the structure as a torchinfo-like text summary.

Decoding never fails a run: a malformed section (the child runs the learner's code, so it may
send anything) becomes a `Structure` or `AutogradGraph` whose `error` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .sandbox.wire import MAX_NAME, DecodeError, Fields, expect_list, expect_text, quote

HOOK_WORDS = {
    "forward_pre": "forward pre-hook",
    "forward": "forward hook",
    "backward_pre": "backward pre-hook",
    "backward": "backward hook",
    "tensor": "tensor hook",
}


# ------------------------------------------------------------------------------------ structure


@dataclass(frozen=True)
class ParamInfo:
    name: str
    shape: tuple[int, ...] | None  # None: a lazy module's parameter, not materialised yet
    count: int
    trainable: bool  # requires_grad
    dtype: str


@dataclass(frozen=True)
class BufferInfo:
    name: str
    shape: tuple[int, ...] | None
    dtype: str


@dataclass(frozen=True)
class ModuleNode:
    name: str  # the attribute name ("0", "flatten"), or the variable name for a root
    path: str  # "model.linear_relu_stack.0"
    type: str  # the class name
    params: tuple[ParamInfo, ...] = ()  # its own parameters (the first 16)
    params_more: int = 0  # own parameters not listed
    buffers: tuple[BufferInfo, ...] = ()
    own_params: int = 0  # elements in its own parameters
    total_params: int = 0  # elements in its parameters and its children's (each counted once)
    trainable_params: int = 0
    device: str | None = None  # of its own parameters and buffers; None when it has none
    hooks: tuple[tuple[str, int], ...] = ()  # ("forward", 1): hooks registered on it
    training: bool = True
    output_shape: Any = None  # from the sample input: [3, 10], a list of those, or a type name
    children: tuple[ModuleNode, ...] = ()
    children_more: int = 0  # children left out by the size caps
    same_as: str | None = None  # a module listed already under this path (shared)

    @property
    def frozen(self) -> bool:
        """Every parameter frozen (requires_grad False); False for modules without any."""
        return self.total_params > 0 and self.trainable_params == 0

    @property
    def partly_frozen(self) -> bool:
        return 0 < self.trainable_params < self.total_params

    @property
    def hook_count(self) -> int:
        return sum(n for _, n in self.hooks)

    def walk(self) -> list[ModuleNode]:
        """This node and every descendant, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found

    def devices(self) -> list[str]:
        """The devices of this module's parameters and buffers, children included."""
        seen: dict[str, None] = {}
        for node in self.walk():
            for device in (node.device or "").split(", "):
                if device:
                    seen[device] = None
        return list(seen)

    def find(self, path: str) -> ModuleNode | None:
        return next((n for n in self.walk() if n.path == path), None)


@dataclass(frozen=True)
class Structure:
    """Every nn.Module the code left in its namespace (or the ones the exercise names)."""

    modules: tuple[ModuleNode, ...] = ()
    total_params: int = 0  # over all the models, each parameter counted once
    trainable_params: int = 0
    truncated: bool = False  # some modules were left out (see children_more, roots_more)
    roots_more: int = 0
    problems: tuple[str, ...] = ()  # names from the exercise's `inspect` that were not modules
    sample_input: str | None = None  # the exercise's sample input expression, if any
    sample_errors: tuple[str, ...] = ()  # why a model could not run on it
    error: str | None = None  # the inspection itself failed

    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    def find(self, path: str) -> ModuleNode | None:
        for root in self.modules:
            found = root.find(path)
            if found is not None:
                return found
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for root in data["modules"]:
            _hooks_as_dict(root)
        return data


def _hooks_as_dict(node: dict[str, Any]) -> None:
    node["hooks"] = dict(node["hooks"])
    for child in node["children"]:
        _hooks_as_dict(child)


# -------------------------------------------------------------------------------------- graph


@dataclass(frozen=True)
class LeafInfo:
    """The tensor an AccumulateGrad node writes `.grad` into."""

    name: str | None  # "x", "model.fc.weight"; None when nothing in the namespace holds it
    shape: tuple[int, ...] | None
    dtype: str
    device: str
    requires_grad: bool
    is_parameter: bool
    has_grad: bool  # .grad was filled in (backward ran)


@dataclass(frozen=True)
class GraphNode:
    id: int  # the same id where the same node is reached again
    name: str  # "MulBackward0", "AccumulateGrad"
    var: str | None = None  # the namespace variable this node made (y for y = x + 2)
    leaf: LeafInfo | None = None
    children: tuple[GraphNode, ...] = ()  # grad_fn.next_functions, inputs without grad left out
    more: int = 0  # children left out by the size caps
    repeat: bool = False  # reached again: shown in full under the same id already

    def walk(self) -> list[GraphNode]:
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


@dataclass(frozen=True)
class CutTensor:
    """A floating-point tensor in the namespace that autograd does not track."""

    name: str
    shape: tuple[int, ...] | None
    detached_from: str | None = None  # shares memory with this tensor, which is in the graph


@dataclass(frozen=True)
class AutogradGraph:
    target: str | None  # the expression or variable whose graph this is
    shape: tuple[int, ...] | None = None
    requires_grad: bool = False
    grad_fn: str | None = None
    root: GraphNode | None = None  # None: the target has no grad_fn (see `note`)
    nodes: int = 0
    truncated: bool = False
    cut: tuple[CutTensor, ...] = ()
    cut_more: int = 0
    note: str | None = None
    error: str | None = None

    def leaves(self) -> list[LeafInfo]:
        if self.root is None:
            return []
        return [n.leaf for n in self.root.walk() if n.leaf is not None and not n.repeat]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------ decoding


MAX_DECODED_MODULES = 2000  # module nodes in a structure (the child sends at most 250)
MAX_DECODED_GRAPH_NODES = 2000  # nodes in a graph (the child sends at most 200)
MAX_LISTED = 1000  # parameters, buffers, problems, cut tensors… in one list
MAX_DIMS = 64


def decode_inspect(section: Any) -> tuple[Structure | None, AutogradGraph | None]:
    """The child's `inspect` section as (structure, graph); either may be None.

    Every field is checked for its type (a string shown in a view is a string), and the number
    of nodes is capped; a malformed section becomes an `error` the views show instead."""
    if section is None:
        return None, None
    try:
        fields = Fields(section, "the inspect section")
        if fields.has("error") and not fields.has("structure"):
            error = fields.text("error", cap=MAX_NAME)
            return Structure(error=error), AutogradGraph(None, error=error)
        raw_structure, raw_graph = fields.object("structure"), fields.object("graph")
    except DecodeError as exc:
        error = f"malformed inspection from the sandbox: {exc}"
        return Structure(error=error), AutogradGraph(None, error=error)
    structure = graph = None
    if raw_structure is not None:
        try:
            structure = _structure(raw_structure)
        except DecodeError as exc:
            structure = Structure(error=f"malformed structure from the sandbox: {exc}")
    if raw_graph is not None:
        try:
            graph = _graph(raw_graph)
        except DecodeError as exc:
            graph = AutogradGraph(None, error=f"malformed graph from the sandbox: {exc}")
    return structure, graph


def _shape(fields: Fields, key: str) -> tuple[int, ...] | None:
    if fields.data.get(key) is None:
        return None
    return fields.integers(key, cap=MAX_DIMS, minimum=0)


def _count(value: Fields, key: str) -> int:
    return value.integer(key, default=0, minimum=0)


def _output_shape(value: Any, depth: int = 0) -> Any:
    """[3, 10], a type name, or up to two levels of lists and dicts of those (see format_shape)."""
    if value is None or (type(value) is str and len(value) <= MAX_NAME):
        return value
    if type(value) is list:
        items = expect_list(value, "an output shape", MAX_LISTED)
        if len(items) <= MAX_DIMS and all(type(d) is int for d in items):
            return items
        if depth < 3:
            return [_output_shape(v, depth + 1) for v in items]
    if type(value) is dict and depth < 3 and len(value) <= MAX_LISTED:
        return {
            expect_text(k, "an output's name", MAX_NAME): _output_shape(v, depth + 1)
            for k, v in value.items()
        }
    raise DecodeError(f"an output shape {quote(value)}")


def _structure(raw: Fields) -> Structure:
    if raw.data.get("error"):
        return Structure(error=raw.text("error", cap=MAX_NAME))
    budget = [MAX_DECODED_MODULES]
    return Structure(
        modules=tuple(_module(Fields(m, "a module"), budget) for m in raw.items("modules", 256)),
        total_params=_count(raw, "total_params"),
        trainable_params=_count(raw, "trainable_params"),
        truncated=raw.flag("truncated", default=False),
        roots_more=_count(raw, "roots_more"),
        problems=raw.texts("problems", cap=MAX_LISTED, cap_each=MAX_NAME, default=()),
        sample_input=raw.optional_text("sample_input", cap=MAX_NAME),
        sample_errors=raw.texts("sample_errors", cap=MAX_LISTED, cap_each=MAX_NAME, default=()),
    )


def _module(raw: Fields, budget: list[int]) -> ModuleNode:
    budget[0] -= 1
    if budget[0] < 0:
        raise DecodeError(f"more than {MAX_DECODED_MODULES} modules")
    name = raw.text("name", cap=MAX_NAME)
    hooks = raw.object("hooks")
    return ModuleNode(
        name=name,
        path=raw.text("path", default=name, cap=MAX_NAME),
        type=raw.text("type", cap=MAX_NAME),
        params=tuple(_param(Fields(p, "a parameter")) for p in raw.items("params", MAX_LISTED, [])),
        params_more=_count(raw, "params_more"),
        buffers=tuple(
            BufferInfo(b.text("name", cap=MAX_NAME), _shape(b, "shape"), _dtype(b))
            for b in (Fields(item, "a buffer") for item in raw.items("buffers", MAX_LISTED, []))
        ),
        own_params=_count(raw, "own_params"),
        total_params=_count(raw, "total_params"),
        trainable_params=_count(raw, "trainable_params"),
        device=raw.optional_text("device", cap=MAX_NAME),
        hooks=()
        if hooks is None
        else tuple(
            (expect_text(k, "a hook's kind", 64), _count(hooks, k))
            for k in list(hooks.data)[:MAX_LISTED]
        ),
        training=raw.flag("training", default=True),
        output_shape=_output_shape(raw.data.get("output_shape")),
        children=tuple(
            _module(Fields(c, "a module"), budget) for c in raw.items("children", MAX_LISTED, [])
        ),
        children_more=_count(raw, "children_more"),
        same_as=raw.optional_text("same_as", cap=MAX_NAME),
    )


def _param(raw: Fields) -> ParamInfo:
    return ParamInfo(
        raw.text("name", cap=MAX_NAME),
        _shape(raw, "shape"),
        _count(raw, "count"),
        raw.flag("trainable", default=True),
        _dtype(raw),
    )


def _dtype(raw: Fields) -> str:
    return raw.text("dtype", default="", cap=64)


def _graph(raw: Fields) -> AutogradGraph:
    root = raw.object("root")
    return AutogradGraph(
        target=raw.optional_text("target", cap=MAX_NAME),
        shape=_shape(raw, "shape"),
        requires_grad=raw.flag("requires_grad", default=False),
        grad_fn=raw.optional_text("grad_fn", cap=MAX_NAME),
        root=_node(root, [MAX_DECODED_GRAPH_NODES]) if root is not None and root.data else None,
        nodes=_count(raw, "nodes"),
        truncated=raw.flag("truncated", default=False),
        cut=tuple(
            CutTensor(
                c.text("name", cap=MAX_NAME),
                _shape(c, "shape"),
                c.optional_text("detached_from", cap=MAX_NAME),
            )
            for c in (Fields(item, "a cut tensor") for item in raw.items("cut", MAX_LISTED, []))
        ),
        cut_more=_count(raw, "cut_more"),
        note=raw.optional_text("note", cap=MAX_NAME),
        error=raw.optional_text("error", cap=MAX_NAME),
    )


def _node(raw: Fields, budget: list[int]) -> GraphNode:
    budget[0] -= 1
    if budget[0] < 0:
        raise DecodeError(f"more than {MAX_DECODED_GRAPH_NODES} graph nodes")
    leaf = raw.object("leaf")
    return GraphNode(
        id=raw.integer("id", minimum=0),
        name=raw.text("name", cap=MAX_NAME),
        var=raw.optional_text("var", cap=MAX_NAME),
        leaf=None if leaf is None or not leaf.data else _leaf(leaf),
        children=tuple(
            _node(Fields(c, "a graph node"), budget) for c in raw.items("children", MAX_LISTED, [])
        ),
        more=_count(raw, "more"),
        repeat=raw.flag("repeat", default=False),
    )


def _leaf(raw: Fields) -> LeafInfo:
    return LeafInfo(
        name=raw.optional_text("name", cap=MAX_NAME),
        shape=_shape(raw, "shape"),
        dtype=_dtype(raw),
        device=raw.text("device", default="", cap=MAX_NAME),
        requires_grad=raw.flag("requires_grad", default=True),
        is_parameter=raw.flag("is_parameter", default=False),
        has_grad=raw.flag("has_grad", default=False),
    )


# ------------------------------------------------------------------------------------- wording


def format_shape(shape: Any) -> str:
    """[3, 10] -> "[3, 10]"; nested outputs (tuples, dicts) and type names as they come."""
    if shape is None:
        return "--"
    if isinstance(shape, str):
        return shape
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {format_shape(v)}" for k, v in shape.items()) + "}"
    if isinstance(shape, (list, tuple)):
        if all(isinstance(d, int) for d in shape):
            return "[" + ", ".join(str(d) for d in shape) + "]"
        return "(" + ", ".join(format_shape(s) for s in shape) + ")"
    return str(shape)


def format_count(n: int) -> str:
    return f"{n:,}"


def param_shapes(node: ModuleNode) -> str:
    """ "weight [512, 784], bias [512]" (frozen ones marked)."""
    parts = []
    for p in node.params:
        shape = format_shape(list(p.shape)) if p.shape is not None else "(uninitialised)"
        parts.append(f"{p.name} {shape}" + ("" if p.trainable else " frozen"))
    if node.params_more:
        parts.append(f"+{node.params_more} more")
    return ", ".join(parts)


def hooks_text(node: ModuleNode) -> str:
    """ "1 forward hook, 2 tensor hooks"; "" when there are none."""
    parts = []
    for key, n in node.hooks:
        word = HOOK_WORDS.get(key, f"{key} hook")
        parts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return ", ".join(parts)


def node_notes(node: ModuleNode) -> list[str]:
    notes = []
    if node.frozen:
        notes.append("frozen")
    elif node.partly_frozen:
        notes.append(f"{format_count(node.total_params - node.trainable_params)} frozen")
    hooks = hooks_text(node)
    if hooks:
        notes.append(hooks)
    if not node.training:
        notes.append("eval mode")
    return notes


def summary_lines(structure: Structure) -> list[str]:
    """The structure as a torchinfo-like table, one string per line."""
    if structure.error:
        return [f"(the model structure could not be read: {structure.error})"]
    lines: list[str] = []
    rows: list[tuple[str, str, str, str]] = []
    for root in structure.modules:
        _rows(root, "", "", rows, is_root=True)
    has_output = any(r[1] != "--" for r in rows)
    width = min(max((len(r[0]) for r in rows), default=10), 56)
    header = f"{'Layer (type)':<{width}}  " + (f"{'Output shape':<14}  " if has_output else "")
    header += f"{'Param #':>11}  Parameters"
    lines.append(header)
    lines.append("=" * min(len(header) + 24, 110))
    for layer, output, count, detail in rows:
        line = f"{layer:<{width}}  " + (f"{output:<14}  " if has_output else "")
        lines.append((line + f"{count:>11}  {detail}").rstrip())
    lines.append("=" * min(len(header) + 24, 110))
    lines.append(f"Total params: {format_count(structure.total_params)}")
    lines.append(f"Trainable params: {format_count(structure.trainable_params)}")
    lines.append(f"Non-trainable params: {format_count(structure.frozen_params)}")
    if structure.truncated:
        lines.append("(large model: some modules are not listed; the totals count them all)")
    for problem in structure.problems:
        lines.append(f"note: {problem}")
    for error in structure.sample_errors:
        lines.append(f"note: no output shapes for {error}")
    return lines


def _rows(
    node: ModuleNode,
    prefix: str,
    branch: str,
    rows: list[tuple[str, str, str, str]],
    *,
    is_root: bool = False,
) -> None:
    layer = f"{prefix}{branch}{node.name} ({node.type})"
    if node.same_as:
        rows.append((layer, "--", "(shared)", f"same module as {node.same_as}"))
        return
    count = node.total_params if (is_root or node.children) else node.own_params
    detail = ", ".join(x for x in [param_shapes(node), *node_notes(node)] if x)
    rows.append(
        (layer, format_shape(node.output_shape), format_count(count) if count else "--", detail)
    )
    child_prefix = prefix + ("" if is_root else ("  " if branch == "└─" else "│ "))
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1 and not node.children_more
        _rows(child, child_prefix, "└─" if last else "├─", rows)
    if node.children_more:
        rows.append((f"{child_prefix}└─… {node.children_more} more", "", "", ""))
