"""Silent slips: attributes the learner's code set that torch never reads.

Tensors, modules and optimizers accept any attribute, so `w.requires_gradn = True`,
`model.trainning = False` or `optimizer.lr = 0.01` run without a word and change nothing. After
the code ran, the child looks at the objects it left behind and reports each attribute that
torch does not define but that is close to one it does. The report is data the child builds
from attribute names only, never from the learner's reprs.
"""

from __future__ import annotations

import difflib
from typing import Any

MAX_SLIPS = 10
MAX_OBJECTS = 2000  # objects looked at: top-level names plus their modules' parameters

# Names that are a slip whatever they are close to: where the value really lives.
_KNOWN = {
    "optimizer": {
        "lr": "param_groups[0]['lr']",
        "momentum": "param_groups[0]['momentum']",
        "weight_decay": "param_groups[0]['weight_decay']",
    },
    "module": {"requires_grad": "requires_grad_(False)", "grad": "zero_grad()"},
}
_WHY = {
    "tensor": "Tensors accept any attribute, so nothing happened",
    "module": "Modules accept any attribute, so nothing happened",
    "optimizer": "Optimizers accept any attribute, so nothing happened",
}


def find_slips(namespace: dict[str, Any], torch: Any) -> list[dict[str, str]]:
    """[{"owner", "kind", "attr", "suggest", "why"}] for attributes set by mistake."""
    objects = _objects(namespace, torch)
    slips: list[dict[str, str]] = []
    for owner, value, kind in objects:
        for attr in _own_attributes(value):
            suggest = _suggestion(kind, attr, value, torch)
            if suggest is not None:
                slips.append(
                    {
                        "owner": owner,
                        "kind": kind,
                        "attr": attr,
                        "suggest": suggest,
                        "why": _WHY[kind],
                    }
                )
                if len(slips) >= MAX_SLIPS:
                    return slips
    return slips


def _objects(namespace: dict[str, Any], torch: Any) -> list[tuple[str, Any, str]]:
    found: list[tuple[str, Any, str]] = []
    seen: set[int] = set()

    def add(owner: str, value: Any, kind: str) -> None:
        if id(value) not in seen and len(found) < MAX_OBJECTS:
            seen.add(id(value))
            found.append((owner, value, kind))

    for name, value in list(namespace.items()):
        if not isinstance(name, str) or name.startswith("_"):
            continue
        if isinstance(value, torch.Tensor):
            add(name, value, "tensor")
        elif isinstance(value, torch.nn.Module):
            for path, module in value.named_modules(prefix=name):
                add(path, module, "module")
                for pname, param in module.named_parameters(recurse=False):
                    add(f"{path}.{pname}", param, "tensor")
        elif isinstance(value, torch.optim.Optimizer):
            add(name, value, "optimizer")
    return found


def _own_attributes(value: Any) -> list[str]:
    try:
        own = object.__getattribute__(value, "__dict__")
    except AttributeError:
        return []
    return [k for k in list(own) if isinstance(k, str) and not k.startswith("_")]


def _suggestion(kind: str, attr: str, value: Any, torch: Any) -> str | None:
    known = _KNOWN.get(kind, {}).get(attr)
    if known is not None:
        return known
    cls, base = type(value), _base(kind, torch)
    if hasattr(cls, attr) or hasattr(base, attr) or attr in _fresh_attributes(kind, torch):
        return None  # a real attribute (a property set through its setter never lands here)
    # difflib's ratio is at most 2 * shorter / (both lengths): 0.8 needs lengths within 2:3
    low, high = -(-2 * len(attr) // 3), 3 * len(attr) // 2
    names = [
        n for size in range(low, high + 1) for n in _names_by_length(kind, torch).get(size, ())
    ]
    close = difflib.get_close_matches(attr, names, n=1, cutoff=0.8)
    return close[0] if close else None


def _base(kind: str, torch: Any) -> Any:
    """The class whose names a slip is near. For a module, nn.Module itself: a module's own
    attributes (sizes, flags) are legitimate, only near misses like `trainning` are slips."""
    if kind == "module":
        return torch.nn.Module
    return torch.optim.Optimizer if kind == "optimizer" else torch.Tensor


def prepare(torch: Any) -> None:
    """Work out what every run would (the names to match against): the zygote calls this."""
    for kind in _WHY:
        _names_by_length(kind, torch)


_BY_LENGTH: dict[str, dict[int, list[str]]] = {}


def _names_by_length(kind: str, torch: Any) -> dict[int, list[str]]:
    """The public names of the base class (and of a fresh instance), grouped by length."""
    if kind not in _BY_LENGTH:
        names = [n for n in dir(_base(kind, torch)) if not n.startswith("_")]
        names += sorted(_fresh_attributes(kind, torch))
        grouped: dict[int, list[str]] = {}
        for name in names:
            grouped.setdefault(len(name), []).append(name)
        _BY_LENGTH[kind] = grouped
    return _BY_LENGTH[kind]


_FRESH: dict[str, frozenset[str]] = {}


def _fresh_attributes(kind: str, torch: Any) -> frozenset[str]:
    """What a new tensor, module or optimizer keeps in its own __dict__ (`training`, `state`)."""
    if kind not in _FRESH:
        if kind == "module":
            made: Any = torch.nn.Module()
        elif kind == "optimizer":
            made = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        else:
            made = torch.zeros(1)
        _FRESH[kind] = frozenset(_own_attributes(made))
    return _FRESH[kind]
