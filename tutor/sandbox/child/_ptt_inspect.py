"""Inspection: after the checks, what the learner built, for the structure and autograd views.

Plain JSON, capped in size; it never fails a run (any exception becomes that section's `error`),
and it runs after the check values are taken, so a forward pass over a sample input (which runs
the learner's hooks) cannot change what is checked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

MAX_MODULE_NODES = 250  # modules reported, all roots together
MAX_MODULE_DEPTH = 12
MAX_ROOT_MODULES = 16
MAX_PARAMS_SHOWN = 16  # parameters listed per module (the counts cover them all)
MAX_NAMED_PARAMS = 4000  # parameters named for the graph's leaves (model.fc.weight)
MAX_GRAPH_NODES = 200
MAX_GRAPH_DEPTH = 64
MAX_CUT_TENSORS = 20
INSPECT_SECONDS = 1.0  # at most this long, and at most half the time the run has left
INSPECT_FILENAME = "<inspect>"
_HOOK_ATTRIBUTES = (
    ("forward_pre", "_forward_pre_hooks"),
    ("forward", "_forward_hooks"),
    ("backward_pre", "_backward_pre_hooks"),
    ("backward", "_backward_hooks"),
)


class _InspectTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Any:
    """Raise _InspectTimeout in the main thread after `seconds` (where SIGALRM exists)."""
    import signal

    if not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _InspectTimeout(f"inspection stopped after {seconds:.2f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short_error(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        text = type(exc).__name__
    return text[:300]


def _eval_in(expr: str, namespace: dict[str, Any]) -> Any:
    return eval(compile(expr, INSPECT_FILENAME, "eval"), dict(namespace))


def _learner_items(namespace: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (k, v)
        for k, v in list(namespace.items())
        if isinstance(k, str) and not k.startswith("_") and k != "device"
    ]


def inspect_run(
    spec: dict[str, Any], namespace: dict[str, Any], torch: Any, seconds: float
) -> dict[str, Any]:
    """The `inspect` section of a result: {"structure": ..., "graph": ...}."""
    report: dict[str, Any] = {}
    if seconds < 0.01:
        note = "skipped: the run used nearly all of its time"
        return {"structure": {"error": note}, "graph": {"error": note}}
    with _time_limit(seconds):
        for key, build in (("structure", _structure), ("graph", _graph)):
            try:
                report[key] = build(spec, namespace, torch)
            except BaseException as exc:  # the learner's modules may raise anything
                report[key] = {"error": _short_error(exc)}
    return report


def _structure(spec: dict[str, Any], namespace: dict[str, Any], torch: Any) -> dict[str, Any]:
    import itertools

    Module = torch.nn.Module
    problems: list[str] = []
    candidates: list[tuple[str, Any]] = []
    names = [n for n in spec.get("names") or [] if isinstance(n, str)]
    if names:
        for expr in names:
            try:
                value = _eval_in(expr, namespace)
            except Exception as exc:
                problems.append(f"{expr}: {_short_error(exc)}")
                continue
            if isinstance(value, Module):
                candidates.append((expr, value))
            else:
                problems.append(f"{expr} is a {type(value).__name__}, not an nn.Module")
    else:
        candidates = [(k, v) for k, v in _learner_items(namespace) if isinstance(v, Module)]
    unique: list[tuple[str, Any]] = []
    seen: set[int] = set()
    inside: set[int] = set()
    for name, module in candidates:
        if id(module) in seen:
            continue  # another name for a module already listed
        seen.add(id(module))
        unique.append((name, module))
        if not names:
            descendants = itertools.islice(module.modules(), 1, 20_000)
            inside.update(id(m) for m in descendants)
    roots = [(n, m) for n, m in unique if id(m) not in inside]
    state: dict[str, Any] = {"nodes": 0, "truncated": False, "where": {}, "torch": torch}
    nodes = [_module_node(n, n, m, 0, state) for n, m in roots[:MAX_ROOT_MODULES]]
    total = trainable = 0
    counted: set[int] = set()
    for _, module in roots:
        for p in module.parameters():
            if id(p) not in counted:
                counted.add(id(p))
                count = _numel(p)
                total += count
                trainable += count if p.requires_grad else 0
    report: dict[str, Any] = {
        "modules": nodes,
        "total_params": total,
        "trainable_params": trainable,
        "truncated": state["truncated"] or len(roots) > MAX_ROOT_MODULES,
        "roots_more": max(0, len(roots) - MAX_ROOT_MODULES),
        "problems": problems,
    }
    sample = spec.get("sample_input")
    if isinstance(sample, str) and sample and roots:
        report["sample_input"] = sample
        report["sample_errors"] = _output_shapes(sample, namespace, roots, state, torch)
    return report


def _numel(t: Any) -> int:
    try:
        return int(t.numel())
    except Exception:  # a lazy module's UninitializedParameter has no size yet
        return 0


def _shape(t: Any) -> list[int] | None:
    try:
        return [int(d) for d in t.shape]
    except Exception:
        return None


def _module_node(name: str, path: str, module: Any, depth: int, state: dict[str, Any]) -> Any:
    state["nodes"] += 1
    where = state["where"]
    node: dict[str, Any] = {"name": name, "path": path, "type": type(module).__name__}
    if id(module) in where:
        node["same_as"] = where[id(module)]["path"]  # shared: listed once, counted once
        return node
    where[id(module)] = node
    params = []
    own = 0
    devices: set[str] = set()
    tensor_hooks = 0
    for pname, p in module.named_parameters(recurse=False):
        count = _numel(p)
        own += count
        devices.add(str(p.device))
        tensor_hooks += len(getattr(p, "_backward_hooks", None) or ())
        tensor_hooks += len(getattr(p, "_post_accumulate_grad_hooks", None) or ())
        params.append(
            {
                "name": pname,
                "shape": _shape(p),
                "count": count,
                "trainable": bool(p.requires_grad),
                "dtype": str(p.dtype).removeprefix("torch."),
            }
        )
    buffers = []
    for bname, b in module.named_buffers(recurse=False):
        devices.add(str(b.device))
        buffers.append(
            {"name": bname, "shape": _shape(b), "dtype": str(b.dtype).removeprefix("torch.")}
        )
    total = trainable = 0
    for p in module.parameters():
        count = _numel(p)
        total += count
        trainable += count if p.requires_grad else 0
    hooks = {}
    for key, attribute in _HOOK_ATTRIBUTES:
        count = len(module.__dict__.get(attribute) or ())
        if count:
            hooks[key] = count
    if tensor_hooks:
        hooks["tensor"] = tensor_hooks
    node.update(
        params=params[:MAX_PARAMS_SHOWN],
        params_more=max(0, len(params) - MAX_PARAMS_SHOWN),
        buffers=buffers[:MAX_PARAMS_SHOWN],
        own_params=own,
        total_params=total,
        trainable_params=trainable,
        device=", ".join(sorted(devices)) if devices else None,
        hooks=hooks,
        training=bool(module.training),
        children=[],
        children_more=0,
    )
    for child_name, child in module.named_children():
        if depth + 1 > MAX_MODULE_DEPTH or state["nodes"] >= MAX_MODULE_NODES:
            node["children_more"] += 1
            state["truncated"] = True
            continue
        child_path = f"{path}.{child_name}"
        node["children"].append(_module_node(child_name, child_path, child, depth + 1, state))
    return node


def _output_shapes(
    expr: str,
    namespace: dict[str, Any],
    roots: list[tuple[str, Any]],
    state: dict[str, Any],
    torch: Any,
) -> list[str]:
    """Run each root model on the sample input with forward hooks; note every output shape."""
    try:
        value = _eval_in(expr, namespace)
    except Exception as exc:
        return [f"{expr}: {_short_error(exc)}"]
    args = value if isinstance(value, tuple) else (value,)
    nodes = state["where"]
    seen: dict[int, Any] = {}
    handles = []
    errors = []

    def hook_for(key: int) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if key not in seen:
                seen[key] = _output_shape(output, torch, 0)

        return hook

    try:
        for _name, root in roots[:MAX_ROOT_MODULES]:
            for module in root.modules():
                if id(module) in nodes and id(module) not in seen:
                    handles.append(module.register_forward_hook(hook_for(id(module))))
        with torch.no_grad():
            for name, root in roots[:MAX_ROOT_MODULES]:
                try:
                    root(*args)
                except _InspectTimeout:
                    raise
                except Exception as exc:
                    errors.append(f"{name}({expr}): {_short_error(exc)}")
    finally:
        for handle in handles:
            handle.remove()
    for key, shape in seen.items():
        nodes[key]["output_shape"] = shape
    return errors


def _output_shape(value: Any, torch: Any, depth: int) -> Any:
    if isinstance(value, torch.Tensor):
        return _shape(value)
    if depth < 2 and isinstance(value, (tuple, list)):
        return [_output_shape(v, torch, depth + 1) for v in value[:8]]
    if depth < 2 and isinstance(value, Mapping):
        return {str(k): _output_shape(v, torch, depth + 1) for k, v in list(value.items())[:8]}
    return type(value).__name__


def _graph(spec: dict[str, Any], namespace: dict[str, Any], torch: Any) -> dict[str, Any] | None:
    """The grad_fn graph of one tensor, as a tree; where nodes repeat, a reference."""
    import itertools

    tensors = [(k, v) for k, v in _learner_items(namespace) if isinstance(v, torch.Tensor)]
    expr = spec.get("graph")
    label: str | None
    if isinstance(expr, str) and expr:
        label, target = expr, _eval_in(expr, namespace)
        if not isinstance(target, torch.Tensor):
            return {"target": expr, "error": f"{expr} is a {type(target).__name__}, not a tensor"}
    else:
        label, target = _default_graph_target(tensors)
        if target is None:
            return None
    names: dict[int, str] = {}
    for k, v in tensors:
        names.setdefault(id(v), k)
    modules = [(k, v) for k, v in _learner_items(namespace) if isinstance(v, torch.nn.Module)]
    named = itertools.chain.from_iterable(
        ((f"{k}.{n}", p) for n, p in m.named_parameters()) for k, m in modules
    )
    for pname, p in itertools.islice(named, MAX_NAMED_PARAMS):
        names.setdefault(id(p), pname)
    keep: list[Any] = []  # grad_fn wrappers stay alive, so their ids stay unique
    variables: dict[int, str] = {}
    for k, v in tensors:
        fn = v.grad_fn
        if fn is not None:
            keep.append(fn)
            variables.setdefault(id(fn), k)
    state: dict[str, Any] = {"ids": {}, "truncated": False, "leaves": {}, "torch": torch}
    report: dict[str, Any] = {
        "target": label,
        "shape": _shape(target),
        "requires_grad": bool(target.requires_grad),
        "grad_fn": type(target.grad_fn).__name__ if target.grad_fn is not None else None,
        "root": None,
    }
    if target.grad_fn is not None:
        report["root"] = _graph_node(target.grad_fn, 0, state, names, variables, keep)
    elif target.requires_grad:
        report["note"] = f"{label} is a leaf: it has no grad_fn, gradients stop in it"
    else:
        report["note"] = (
            f"{label} has no grad_fn: autograd recorded nothing (no tensor it came from "
            "required grad, or it was computed under torch.no_grad() or detached)"
        )
    report["nodes"] = len(state["ids"])
    report["truncated"] = state["truncated"]
    in_graph: dict[int, str] = {}
    for k, v in tensors:
        if v.requires_grad:
            in_graph.setdefault(_storage(v), k)
    for ptr, name in state["leaves"].items():
        in_graph.setdefault(ptr, name)
    in_graph.pop(0, None)
    cut = []
    for k, v in tensors:
        if v is target or v.requires_grad or not (v.is_floating_point() or v.is_complex()):
            continue  # the target's own note says whether it is tracked
        entry: dict[str, Any] = {"name": k, "shape": _shape(v)}
        source = in_graph.get(_storage(v))
        if source is not None and source != k:
            entry["detached_from"] = source
        cut.append(entry)
    report["cut"] = cut[:MAX_CUT_TENSORS]
    report["cut_more"] = max(0, len(cut) - MAX_CUT_TENSORS)
    return report


def _default_graph_target(tensors: list[tuple[str, Any]]) -> tuple[str | None, Any]:
    """`loss` or `out` when the code made one, else the last scalar with a grad_fn, else the
    last tensor with a grad_fn."""
    by_name = dict(tensors)
    for name in ("loss", "out"):
        if name in by_name:
            return name, by_name[name]
    with_history = [(k, v) for k, v in tensors if v.grad_fn is not None]
    scalars = [(k, v) for k, v in with_history if _numel(v) == 1]
    for choice in (scalars, with_history):
        if choice:
            return choice[-1]
    return None, None


def _storage(t: Any) -> int:
    try:
        return int(t.untyped_storage().data_ptr())
    except Exception:  # sparse and other storage-less tensors
        return 0


def _graph_node(
    fn: Any,
    depth: int,
    state: dict[str, Any],
    names: dict[int, str],
    variables: dict[int, str],
    keep: list[Any],
) -> dict[str, Any] | None:
    ids = state["ids"]
    node: dict[str, Any] = {"name": type(fn).__name__}
    if id(fn) in variables:
        node["var"] = variables[id(fn)]
    if id(fn) in ids:
        node.update(id=ids[id(fn)], repeat=True)
        return node
    if len(ids) >= MAX_GRAPH_NODES:
        state["truncated"] = True
        return None
    keep.append(fn)
    node["id"] = ids[id(fn)] = len(ids)
    variable = getattr(fn, "variable", None) if node["name"] == "AccumulateGrad" else None
    if variable is not None:
        leaf_name = names.get(id(variable))
        node["leaf"] = {
            "name": leaf_name,
            "shape": _shape(variable),
            "dtype": str(variable.dtype).removeprefix("torch."),
            "device": str(variable.device),
            "requires_grad": bool(variable.requires_grad),
            "is_parameter": isinstance(variable, state["torch"].nn.Parameter),
            "has_grad": variable.grad is not None,
        }
        state["leaves"].setdefault(_storage(variable), leaf_name or "a leaf")
    children: list[dict[str, Any]] = []
    more = 0
    for child, _ in getattr(fn, "next_functions", ()) or ():
        if child is None:
            continue  # an input that needs no gradient (a constant, or data)
        built = (
            _graph_node(child, depth + 1, state, names, variables, keep)
            if depth + 1 < MAX_GRAPH_DEPTH
            else None
        )
        if built is None:
            more += 1
            state["truncated"] = True
        else:
            children.append(built)
    node["children"] = children
    node["more"] = more
    return node
