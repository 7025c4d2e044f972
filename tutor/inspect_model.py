"""What the learner's code built, as plain data: the model structure and the autograd graph.

The sandbox child (`tutor/sandbox/child.py`, `inspect_run`) walks the learner's namespace after
the checks and sends an `inspect` section of JSON with the result; this module decodes it into
frozen dataclasses (no torch, no Textual), turns them back into the documented JSON of
`pttutor check --json`, and words the structure as a torchinfo-like text summary.

Decoding never fails a run: a malformed section becomes a `Structure` or `AutogradGraph` whose
`error` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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


def decode_inspect(section: Any) -> tuple[Structure | None, AutogradGraph | None]:
    """The child's `inspect` section as (structure, graph); either may be None."""
    if not isinstance(section, dict):
        return None, None
    if "error" in section and "structure" not in section:
        error = str(section["error"])
        return Structure(error=error), AutogradGraph(None, error=error)
    structure = graph = None
    raw = section.get("structure")
    if isinstance(raw, dict):
        try:
            structure = _structure(raw)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            structure = Structure(error=f"malformed structure from the sandbox: {exc!r}")
    raw = section.get("graph")
    if isinstance(raw, dict):
        try:
            graph = _graph(raw)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            graph = AutogradGraph(None, error=f"malformed graph from the sandbox: {exc!r}")
    return structure, graph


def _shape(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(d) for d in value)


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _structure(raw: dict[str, Any]) -> Structure:
    if raw.get("error"):
        return Structure(error=str(raw["error"]))
    return Structure(
        modules=tuple(_module(m) for m in raw.get("modules", ())),
        total_params=int(raw.get("total_params", 0)),
        trainable_params=int(raw.get("trainable_params", 0)),
        truncated=bool(raw.get("truncated", False)),
        roots_more=int(raw.get("roots_more", 0)),
        problems=_strings(raw.get("problems")),
        sample_input=raw.get("sample_input"),
        sample_errors=_strings(raw.get("sample_errors")),
    )


def _module(raw: dict[str, Any]) -> ModuleNode:
    hooks = raw.get("hooks") or {}
    return ModuleNode(
        name=str(raw["name"]),
        path=str(raw.get("path", raw["name"])),
        type=str(raw["type"]),
        params=tuple(
            ParamInfo(
                str(p["name"]),
                _shape(p.get("shape")),
                int(p.get("count", 0)),
                bool(p.get("trainable", True)),
                str(p.get("dtype", "")),
            )
            for p in raw.get("params", ())
        ),
        params_more=int(raw.get("params_more", 0)),
        buffers=tuple(
            BufferInfo(str(b["name"]), _shape(b.get("shape")), str(b.get("dtype", "")))
            for b in raw.get("buffers", ())
        ),
        own_params=int(raw.get("own_params", 0)),
        total_params=int(raw.get("total_params", 0)),
        trainable_params=int(raw.get("trainable_params", 0)),
        device=raw.get("device"),
        hooks=tuple((str(k), int(v)) for k, v in dict(hooks).items()),
        training=bool(raw.get("training", True)),
        output_shape=raw.get("output_shape"),
        children=tuple(_module(c) for c in raw.get("children", ())),
        children_more=int(raw.get("children_more", 0)),
        same_as=raw.get("same_as"),
    )


def _graph(raw: dict[str, Any]) -> AutogradGraph:
    return AutogradGraph(
        target=raw.get("target"),
        shape=_shape(raw.get("shape")),
        requires_grad=bool(raw.get("requires_grad", False)),
        grad_fn=raw.get("grad_fn"),
        root=_node(raw["root"]) if raw.get("root") else None,
        nodes=int(raw.get("nodes", 0)),
        truncated=bool(raw.get("truncated", False)),
        cut=tuple(
            CutTensor(str(c["name"]), _shape(c.get("shape")), c.get("detached_from"))
            for c in raw.get("cut", ())
        ),
        cut_more=int(raw.get("cut_more", 0)),
        note=raw.get("note"),
        error=raw.get("error"),
    )


def _node(raw: dict[str, Any]) -> GraphNode:
    leaf = raw.get("leaf")
    return GraphNode(
        id=int(raw["id"]),
        name=str(raw["name"]),
        var=raw.get("var"),
        leaf=None
        if not leaf
        else LeafInfo(
            name=leaf.get("name"),
            shape=_shape(leaf.get("shape")),
            dtype=str(leaf.get("dtype", "")),
            device=str(leaf.get("device", "")),
            requires_grad=bool(leaf.get("requires_grad", True)),
            is_parameter=bool(leaf.get("is_parameter", False)),
            has_grad=bool(leaf.get("has_grad", False)),
        ),
        children=tuple(_node(c) for c in raw.get("children", ())),
        more=int(raw.get("more", 0)),
        repeat=bool(raw.get("repeat", False)),
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
