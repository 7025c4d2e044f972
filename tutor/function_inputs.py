"""Inputs for a function under test, drawn in the trusted parent and shipped to the sandbox.

The learner cannot know them in advance: each run draws them from a fresh seed. They are made
with numpy (no torch here), ordered from the smallest sizes up, so the first input a function
gets wrong is also the smallest one, and sent as base64 `.npy` (allow_pickle=False).
"""

from __future__ import annotations

import ast
import base64
import io
import itertools
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .parsing import parse_module
from .schema import FunctionArg, FunctionSpec

if TYPE_CHECKING:
    import numpy as np

INT_RANGE = (-9, 10)  # integers in [low, high) by default
FLOAT_RANGE = (-5.0, 5.0)


@dataclass(frozen=True)
class GeneratedInputs:
    """`count` argument lists for one function, with the names its parameters have."""

    function: str
    names: tuple[str, ...]
    args: tuple[tuple[np.ndarray | int, ...], ...]

    def encoded(self) -> tuple[tuple[str | int, ...], ...]:
        """The job's form: each array as base64 `.npy`, each size as a Python int."""
        return tuple(tuple(_encoded(a) for a in one) for one in self.args)

    def describe(self, index: int) -> str:
        """`a = tensor([3, -1]), n = 2`: one input, as the learner would write it."""
        from .value_text import value_text
        from .values import TensorValue

        parts = []
        for name, arg in zip(self.names, self.args[index], strict=True):
            if isinstance(arg, int):
                parts.append(f"{name} = {arg}")
            else:
                tensor = TensorValue(
                    str(arg.dtype), arg.shape, "cpu", False, True, None, False, arg, None
                )
                parts.append(f"{name} = {value_text(tensor)}")
        return ", ".join(parts)

    def call(self) -> str:
        """`cumsum(a, n)`: how the tutor calls the function."""
        return f"{self.function}({', '.join(self.names)})"


def generate(spec: FunctionSpec, seed: int, names: tuple[str, ...] = ()) -> GeneratedInputs:
    """`spec.count` inputs from `seed`, smallest sizes first."""
    import numpy as np

    rng = np.random.default_rng(seed)
    symbols = list(spec.sizes)
    combos = sorted(
        itertools.product(*(spec.sizes[s] for s in symbols)), key=lambda c: (sum(c), c)
    ) or [()]
    inputs = []
    for k in range(spec.count):
        combo = combos[min(len(combos) - 1, k * len(combos) // spec.count)]
        sizes = dict(zip(symbols, combo, strict=True))
        inputs.append(tuple(_argument(arg, sizes, rng) for arg in spec.args))
    labels = names if len(names) == len(spec.args) else _default_names(len(spec.args))
    return GeneratedInputs(spec.name, labels, tuple(inputs))


def parameter_names(code: str, function: str) -> tuple[str, ...]:
    """The positional parameter names of `def function(...)` in `code` (empty if not found)."""
    try:
        tree = parse_module(code)
    except (SyntaxError, ValueError):
        return ()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return tuple(a.arg for a in [*node.args.posonlyargs, *node.args.args])
    return ()


def _default_names(count: int) -> tuple[str, ...]:
    return tuple(string.ascii_lowercase[i % 26] for i in range(count))


def _argument(arg: FunctionArg, sizes: dict[str, int], rng: Any) -> np.ndarray | int:
    import numpy as np

    if arg.size is not None:
        return sizes[arg.size]
    assert arg.dtype is not None
    shape = tuple(sizes[d] if isinstance(d, str) else d for d in arg.shape)
    dtype = np.dtype(arg.dtype)
    if dtype.kind == "b":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.kind in "iu":
        default_low = 0 if dtype.kind == "u" else INT_RANGE[0]
        low = int(_bound(arg.low, sizes, default_low))
        high = max(int(_bound(arg.high, sizes, INT_RANGE[1])), low + 1)
        return np.asarray(rng.integers(low, high, size=shape, dtype=np.int64).astype(dtype))
    low_f = float(_bound(arg.low, sizes, FLOAT_RANGE[0]))
    high_f = float(_bound(arg.high, sizes, FLOAT_RANGE[1]))
    return np.asarray(rng.uniform(low_f, max(high_f, low_f), size=shape).astype(dtype))


def _bound(value: float | str | None, sizes: dict[str, int], default: float) -> float:
    if value is None:
        return default
    return float(sizes[value]) if isinstance(value, str) else value


def _encoded(arg: np.ndarray | int) -> str | int:
    if isinstance(arg, int):
        return arg
    import numpy as np

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.require(arg, requirements="C"), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
