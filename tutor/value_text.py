"""Values as short Python-like text, for messages that show a learner an input or an output:
`tensor([1, 3, 6])`, `3`, `a tensor of shape [100, 3], float32`. numpy only, no torch.
"""

from __future__ import annotations

from typing import Any

from .compare import describe, short

MAX_SHOWN_ELEMENTS = 64  # bigger tensors are described by shape and dtype
DEFAULT_DTYPES = ("float32", "int64", "bool")  # what torch.tensor([...]) makes without dtype=


def value_text(value: Any, limit: int = 400) -> str:
    """A tensor's values when it is small, else what `describe` says; plain values as repr."""
    from .values import ArrayValue, TensorValue

    if isinstance(value, TensorValue) and value.array is not None:
        if value.array.size > MAX_SHOWN_ELEMENTS:
            return f"a {value.describe()}"
        extra = "" if value.dtype in DEFAULT_DTYPES else f", dtype=torch.{value.dtype}"
        return short(f"tensor({_numbers(value.array)}{extra})", limit)
    if isinstance(value, ArrayValue) and value.array is not None:
        if value.array.size > MAX_SHOWN_ELEMENTS:
            return f"a {value.describe()}"
        return short(f"array({_numbers(value.array)}, dtype={value.dtype})", limit)
    if value is None or isinstance(value, bool | int | float | str):
        return short(repr(value), limit)
    if isinstance(value, list | tuple) and len(value) <= 16:
        inner = ", ".join(value_text(v, 60) for v in value)
        text = (
            f"[{inner}]"
            if isinstance(value, list)
            else f"({inner}{',' if len(value) == 1 else ''})"
        )
        return short(text, limit)
    from .sandbox.runner import Shown

    return short(str(value) if isinstance(value, Shown) else describe(value), limit)


def _numbers(array: Any) -> str:
    import numpy as np

    if array.ndim == 0:
        return _float(array.item()) if array.dtype.kind == "f" else str(array.item())
    return np.array2string(
        array,
        separator=", ",
        threshold=MAX_SHOWN_ELEMENTS,
        max_line_width=10_000,
        formatter={"float_kind": _float, "int_kind": lambda i: str(int(i)), "bool": str},
    ).replace("\n", "")


def _float(value: Any) -> str:
    return f"{float(value):.4g}"


def assignments(values: dict[str, Any], limit: int = 12) -> list[str]:
    """`name = value` lines for a trial's setup variables (the first `limit`, then a count)."""
    lines = [f"{name} = {value_text(value, 200)}" for name, value in list(values.items())[:limit]]
    if len(values) > limit:
        lines.append(f"and {len(values) - limit} more")
    return lines
