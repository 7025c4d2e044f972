"""Compare a value the learner produced with the expected one, explaining every difference.

Runs in the UI process with numpy only (no torch). Tensors are compared in this order: shape,
dtype, device type, requires_grad, values (torch's default tolerances per dtype, NaN-aware), then
`.grad`. Each difference is one human sentence that says what differed and by how much.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where values are compared, not at start-up
    import numpy as np


from .values import (
    ArrayValue,
    DeviceValue,
    DtypeValue,
    ObjectValue,
    SetValue,
    SizeValue,
    TensorValue,
)

# torch.testing.assert_close defaults (see shared/platform-facts.md).
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex32": (1e-3, 1e-5),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}
# Python floats usually come from `.item()` on float32 tensors: use float32's tolerance.
PYTHON_FLOAT_TOLERANCE = DEFAULT_TOLERANCES["float32"]
MAX_PROBLEMS = 8
MAX_SCANNED = 200  # differences counted before a long comparison stops looking


@dataclass(frozen=True)
class Tolerance:
    rtol: float | None = None
    atol: float | None = None
    exact: bool = False

    def for_dtype(self, *dtypes: str) -> tuple[float, float]:
        """(rtol, atol) for comparing these dtypes: the looser default, then any override."""
        if self.exact:
            return 0.0, 0.0
        defaults = [DEFAULT_TOLERANCES.get(_torch_name(d), (0.0, 0.0)) for d in dtypes]
        rtol = max(d[0] for d in defaults) if defaults else 0.0
        atol = max(d[1] for d in defaults) if defaults else 0.0
        return (
            self.rtol if self.rtol is not None else rtol,
            self.atol if self.atol is not None else atol,
        )


def _torch_name(dtype: str) -> str:
    return dtype.removeprefix("torch.")


def compare(expected: Any, got: Any, tol: Tolerance = Tolerance(), path: str = "") -> list[str]:
    """Every difference between `expected` and `got` (empty when they match)."""
    problems: list[str] = []
    _compare(expected, got, tol, path, problems)
    return cut(problems, "difference")


def cut(problems: list[str], what: str, limit: int = MAX_PROBLEMS) -> list[str]:
    """The first `limit` problems, then one line that says how many more there are."""
    if len(problems) <= limit:
        return problems
    more = len(problems) - limit
    at_least = "at least " if len(problems) >= MAX_SCANNED else ""
    return [*problems[:limit], f"and {at_least}{more} more {what}{'s' if more > 1 else ''}"]


def describe(value: Any) -> str:
    """A short description of a value for messages: its kind, not its whole content."""
    if isinstance(value, (TensorValue, ArrayValue)):
        return value.describe()
    if isinstance(value, ObjectValue):
        return f"a {value.type}" if value.kind == "module" else f"a {value.type} object"
    if value is None:
        return "None"
    if isinstance(value, (SizeValue, DtypeValue, DeviceValue)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, Mapping):
        return f"a dict of {len(value)} entries"
    if isinstance(value, SetValue):
        return f"the set {short(repr(value.items))}"
    if isinstance(value, str):
        return repr(short(value))
    return f"{type(value).__name__} {short(repr(value))}"


def short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _compare(expected: Any, got: Any, tol: Tolerance, path: str, out: list[str]) -> None:
    if isinstance(expected, TensorValue):
        if isinstance(got, TensorValue):
            _compare_tensors(expected, got, tol, path, out)
        else:
            out.append(f"{_where(path)}expected a {expected.describe()}, got {describe(got)}")
        return
    if isinstance(expected, ArrayValue):
        if isinstance(got, ArrayValue):
            _compare_arrays(expected, got, tol, path, out)
        else:
            out.append(f"{_where(path)}expected a {expected.describe()}, got {describe(got)}")
        return
    if isinstance(expected, Mapping):
        _compare_mappings(expected, got, tol, path, out)
        return
    if isinstance(expected, (list, tuple)):
        _compare_sequences(expected, got, tol, path, out)
        return
    if isinstance(expected, SetValue):
        if not isinstance(got, SetValue) or compare(list(expected.items), list(got.items), tol):
            out.append(f"{_where(path)}expected the set {expected.items}, got {describe(got)}")
        return
    if isinstance(expected, ObjectValue):
        _compare_objects(expected, got, path, out)
        return
    _compare_scalars(expected, got, tol, path, out)


def _type_label(value: Any) -> str:
    return type(value).__name__


def _compare_scalars(expected: Any, got: Any, tol: Tolerance, path: str, out: list[str]) -> None:
    if type(expected) is not type(got) and not _both_numbers(expected, got):
        out.append(f"{_where(path)}expected {describe(expected)}, got {describe(got)}")
        return
    if isinstance(expected, float) or isinstance(got, float):
        if isinstance(expected, bool) or isinstance(got, bool):
            out.append(f"{_where(path)}expected {expected!r}, got {got!r}")
            return
        if type(expected) is not type(got):
            out.append(
                f"{_where(path)}expected a Python {_type_label(expected)} ({expected!r}), "
                f"got {_article(_type_label(got))} {_type_label(got)} ({got!r})"
            )
            return
        rtol, atol = (
            (0.0, 0.0)
            if tol.exact
            else (
                tol.rtol if tol.rtol is not None else PYTHON_FLOAT_TOLERANCE[0],
                tol.atol if tol.atol is not None else PYTHON_FLOAT_TOLERANCE[1],
            )
        )
        if not _close_scalar(float(expected), float(got), rtol, atol):
            out.append(
                f"{_where(path)}expected {expected!r}, got {got!r} "
                f"(off by {abs(float(got) - float(expected)):.3g})"
            )
        return
    if expected != got:
        if isinstance(expected, str) and isinstance(got, str):
            out.append(f"{_where(path)}expected {short(expected)!r}, got {short(got)!r}")
        else:
            out.append(f"{_where(path)}expected {expected}, got {got}")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _both_numbers(a: Any, b: Any) -> bool:
    numbers = (int, float, complex)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    )


def _close_scalar(expected: float, got: float, rtol: float, atol: float) -> bool:
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    if math.isinf(expected) or math.isinf(got):
        return expected == got
    return abs(got - expected) <= atol + rtol * abs(expected)


def _compare_objects(expected: ObjectValue, got: Any, path: str, out: list[str]) -> None:
    if not isinstance(got, ObjectValue) or got.type != expected.type:
        out.append(f"{_where(path)}expected {describe(expected)}, got {describe(got)}")
    elif got.repr != expected.repr:
        out.append(
            f"{_where(path)}the {expected.type} differs: expected {short(expected.repr, 200)!r}, "
            f"got {short(got.repr, 200)!r}"
        )


def _compare_sequences(
    expected: Sequence[Any], got: Any, tol: Tolerance, path: str, out: list[str]
) -> None:
    if not isinstance(got, (list, tuple)) or type(got) is not type(expected):
        out.append(f"{_where(path)}expected {describe(expected)}, got {describe(got)}")
        return
    if len(got) != len(expected):
        message = f"{_where(path)}expected {len(expected)} items, got {len(got)}"
        if _plain_and_short(expected) and _plain_and_short(got):
            message += f": expected {short(repr(expected), 120)}, got {short(repr(got), 120)}"
        out.append(message)
        return
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        _compare(e, g, tol, f"{path}[{i}]", out)
        if len(out) >= MAX_SCANNED:
            return


def _plain_and_short(items: Sequence[Any]) -> bool:
    """Short lists of numbers and strings are worth printing whole in a message."""
    return len(items) <= 12 and all(
        isinstance(i, (int, float, str, bool, type(None))) for i in items
    )


def _compare_mappings(
    expected: Mapping[Any, Any], got: Any, tol: Tolerance, path: str, out: list[str]
) -> None:
    if not isinstance(got, Mapping):
        out.append(f"{_where(path)}expected {describe(expected)}, got {describe(got)}")
        return
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing:
        out.append(f"{_where(path)}missing keys: {_some(missing)}")
    if extra:
        out.append(f"{_where(path)}unexpected keys: {_some(extra)}")
    for key, value in expected.items():
        if key in got:
            _compare(value, got[key], tol, f"{path}[{key!r}]", out)
        if len(out) >= MAX_SCANNED:
            return


def _some(keys: Sequence[Any], limit: int = 8) -> str:
    shown = ", ".join(map(repr, keys[:limit]))
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _compare_tensors(
    expected: TensorValue, got: TensorValue, tol: Tolerance, path: str, out: list[str]
) -> None:
    where = _where(path)
    if got.shape != expected.shape:
        out.append(f"{where}shape is {list(got.shape)}, expected {list(expected.shape)}")
    if got.dtype != expected.dtype:
        out.append(f"{where}dtype is torch.{got.dtype}, expected torch.{expected.dtype}")
    if got.device != expected.device:
        out.append(f"{where}device is {got.device}, expected {expected.device}")
    if got.is_parameter != expected.is_parameter:
        kinds = {True: "an nn.Parameter", False: "a plain tensor"}
        out.append(
            f"{where}it is {kinds[got.is_parameter]}, expected {kinds[expected.is_parameter]}"
        )
    if got.requires_grad != expected.requires_grad:
        out.append(
            f"{where}requires_grad is {got.requires_grad}, expected {expected.requires_grad}"
        )
    if expected.array is None or got.array is None:
        # Fail closed: a check whose values cannot be compared has not shown that they match.
        out.append(f"{where}{_without_values(expected, got)}")
    elif got.shape == expected.shape:
        rtol, atol = tol.for_dtype(expected.dtype, got.dtype)
        message = value_difference(expected.array, got.array, rtol, atol)
        if message:
            out.append(f"{where}{message}")
    if expected.grad is None and got.grad is not None:
        out.append(f"{where}.grad should be None, but it holds a gradient")
    elif expected.grad is not None and got.grad is None:
        out.append(f"{where}.grad is None: no gradient reached this tensor (did backward() run?)")
    elif expected.grad is not None and got.grad is not None:
        _compare_tensors(expected.grad, got.grad, tol, f"{path}.grad" if path else ".grad", out)


def _without_values(expected: TensorValue | ArrayValue, got: TensorValue | ArrayValue) -> str:
    def whose(value: TensorValue | ArrayValue, name: str) -> str:
        device = getattr(value, "device", None)
        return f"{name} has no values" + (f" (it is on {device})" if device else "")

    missing = [
        whose(v, n) for v, n in ((got, "yours"), (expected, "the expected one")) if v.array is None
    ]
    return f"the values cannot be compared: {' and '.join(missing)}, so this check cannot pass"


def _compare_arrays(
    expected: ArrayValue, got: ArrayValue, tol: Tolerance, path: str, out: list[str]
) -> None:
    where = _where(path)
    if got.shape != expected.shape:
        out.append(f"{where}shape is {list(got.shape)}, expected {list(expected.shape)}")
        return
    if got.dtype != expected.dtype:
        out.append(f"{where}dtype is {got.dtype}, expected {expected.dtype}")
    if expected.array is None and got.array is None and expected.repr is not None:
        if got.repr != expected.repr:  # object arrays: the child sends their repr, not values
            out.append(
                f"{where}the array differs: expected {short(expected.repr, 200)!r}, "
                f"got {short(got.repr or '', 200)!r}"
            )
    elif expected.array is None or got.array is None:
        out.append(f"{where}{_without_values(expected, got)}")
    else:
        rtol, atol = tol.for_dtype(expected.dtype, got.dtype)
        message = value_difference(expected.array, got.array, rtol, atol)
        if message:
            out.append(f"{where}{message}")


def _identical(expected: np.ndarray, got: np.ndarray) -> bool:
    """Equal element for element, NaN matching NaN. Without NaNs a plain comparison says so
    (~7x faster than one that looks for NaNs too, which only a False answer needs)."""
    import numpy as np

    if np.array_equal(expected, got):
        return True
    return expected.dtype.kind in "fc" and np.array_equal(expected, got, equal_nan=True)


def value_difference(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> str:
    """'' when the arrays match; else how many elements differ, by how much and where."""
    import numpy as np

    if expected.shape != got.shape:
        return f"shape is {list(got.shape)}, expected {list(expected.shape)}"
    if expected.size == 0:
        return ""
    if expected.dtype == got.dtype and expected.dtype.kind in "biufc" and _identical(expected, got):
        return ""  # identical values (a reference run's twin): the cheap answer, ~10x faster
    mismatch = mismatch_mask(expected, got, rtol, atol)
    count = int(np.count_nonzero(mismatch))
    if count == 0:
        return ""
    first = tuple(int(i) for i in np.argwhere(mismatch)[0]) if mismatch.ndim else ()
    diff = abs_difference(expected, got, mismatch)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    parts = [
        f"values differ at {count} of {mismatch.size} elements "
        f"({100 * count / mismatch.size:.3g}%)",
        f"max abs difference {float(np.max(diff)):.4g} at {_index(worst)} "
        f"(expected {_item(expected, worst)}, got {_item(got, worst)})",
    ]
    if first != worst:
        parts.append(
            f"first mismatch at {_index(first)}: expected {_item(expected, first)}, "
            f"got {_item(got, first)}"
        )
    return "; ".join(parts)


def mismatch_mask(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """True where `got` differs from `expected` (same shapes): exact for integers and bools,
    within rtol/atol otherwise, NaN equal to NaN."""
    import numpy as np

    exp, act = _comparable(expected), _comparable(got)
    if (exp.dtype.kind in "biu" and act.dtype.kind in "biu") or exp.dtype.kind == "b":
        return np.asarray(exp != act)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(~np.isclose(act, exp, rtol=rtol, atol=atol, equal_nan=True))


def abs_difference(expected: np.ndarray, got: np.ndarray, mismatch: np.ndarray) -> np.ndarray:
    """|got - expected| where `mismatch` holds (a NaN on one side counts as inf), else 0."""
    import numpy as np

    exp, act = _comparable(expected), _comparable(got)
    wide = np.complex128 if _is_complex(act, exp) else np.float64
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(act.astype(wide) - exp.astype(wide))
    return np.where(mismatch, np.nan_to_num(diff, nan=np.inf, posinf=np.inf), 0)


def _is_complex(*arrays: np.ndarray) -> bool:
    return any(a.dtype.kind == "c" for a in arrays)


def _comparable(array: np.ndarray) -> np.ndarray:
    import numpy as np

    return array.astype(np.int64) if array.dtype.kind == "b" else array


def _index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, index)) + "]" if index else "the only element"


def _item(array: np.ndarray, index: tuple[int, ...]) -> str:
    value = array[index] if array.ndim else array.reshape(-1)[0]
    return f"{value.item():.6g}" if array.dtype.kind in "fc" else str(value.item())


def compare_literal(expected: Any, got: Any, tol: Tolerance = Tolerance()) -> list[str]:
    """Compare against a YAML literal (`expect:`): numbers, lists, strings, booleans, null."""
    import numpy as np

    if isinstance(got, TensorValue | ArrayValue) and not isinstance(expected, (dict, str)):
        if got.array is None:
            return [f"expected values {expected!r}, got {describe(got)} without values"]
        exp = np.asarray(expected)
        if exp.dtype.kind == "b" and got.array.dtype.kind != "b":
            exp = exp.astype(got.array.dtype)
        if exp.shape != got.array.shape:
            return [
                f"shape is {list(got.shape)}, expected {list(exp.shape)} "
                f"(the expected value is {short(repr(expected))})"
            ]
        rtol, atol = tol.for_dtype(got.dtype)
        if exp.dtype.kind == "f" and got.array.dtype.kind in "biu":
            return [
                f"expected floating-point values {short(repr(expected))}, got a {got.describe()}"
            ]
        message = value_difference(exp, got.array, rtol, atol)
        return [message] if message else []
    if isinstance(got, SizeValue) and isinstance(expected, (list, tuple)):
        return (
            []
            if list(got.dims) == list(expected)
            else [f"expected torch.Size({list(expected)}), got {got}"]
        )
    if isinstance(got, DtypeValue) and isinstance(expected, str):
        return (
            []
            if _torch_name(got.name) == _torch_name(expected)
            else [f"expected torch.{_torch_name(expected)}, got {got}"]
        )
    if isinstance(got, DeviceValue) and isinstance(expected, str):
        return [] if expected in (got.type, str(got)) else [f"expected {expected}, got {got}"]
    if isinstance(got, tuple) and isinstance(expected, list):
        expected = tuple(expected)
    if got is None and expected is not None:
        return [f"expected {short(repr(expected))}, got None"]
    return compare(expected, got, tol)
