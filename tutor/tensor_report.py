"""Why a tensor check failed, as data for the failure panel and `check --json`.

A checklist (shape, dtype, device, requires_grad, values, grad: which passed and which did not);
for small tensors, both sides' values as rows of text with the differing elements marked; for
any size, how many elements differ and the largest absolute and relative differences, and
where. numpy only, no torch, no Textual: the results pane and `pttutor check` render it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .compare import Tolerance, abs_difference, mismatch_mask
from .values import TensorValue

if TYPE_CHECKING:
    import numpy as np

SMALL_TENSOR = 64  # elements: up to this, both sides are shown value by value
ROW_CELLS = 8  # values per row before a long last dimension wraps


@dataclass(frozen=True)
class Item:
    """One line of the checklist."""

    name: str  # "shape", "dtype", "device", "requires_grad", "parameter", "values", "grad"
    passed: bool | None  # None: not compared (values when shapes differ; dtype vs a literal)
    detail: str  # "[2, 2]", "False, expected True", "3 of 4 elements differ (75%)"


@dataclass(frozen=True)
class Grid:
    """A small tensor as rows of formatted values; `labels` says where each row starts."""

    labels: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Mismatches:
    count: int
    total: int
    max_abs: float  # inf where one side is NaN or infinite and the other is not
    max_abs_at: tuple[int, ...]
    max_abs_expected: str
    max_abs_got: str
    max_rel: float  # |got - expected| / |expected|; inf where expected is 0
    max_rel_at: tuple[int, ...]
    first_at: tuple[int, ...]

    @property
    def percent(self) -> float:
        return 100 * self.count / self.total if self.total else 0.0


@dataclass(frozen=True)
class TensorReport:
    checklist: tuple[Item, ...]
    expected: Grid | None = None  # both sides small enough to show
    got: Grid | None = None
    differs: tuple[tuple[bool, ...], ...] | None = None  # per cell of `got`; None: shapes differ
    mismatches: Mismatches | None = None  # values compared and some differ
    grad: TensorReport | None = None  # .grad compared and differs

    @property
    def failed(self) -> list[Item]:
        return [i for i in self.checklist if i.passed is False]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("max_abs", "max_rel"):  # JSON has no inf
            if data["mismatches"] and math.isinf(data["mismatches"][key]):
                data["mismatches"][key] = None
        if self.grad is not None:
            data["grad"] = self.grad.to_json()
        return data


def tensor_report(expected: TensorValue, got: TensorValue, tol: Tolerance) -> TensorReport:
    """Compare two tensors property by property, as `compare` does, and keep the details."""
    items = [
        _item("shape", got.shape == expected.shape, _dims(got.shape), _dims(expected.shape)),
        _item("dtype", got.dtype == expected.dtype, got.dtype, expected.dtype),
        _item("device", got.device == expected.device, got.device, expected.device),
        _item(
            "requires_grad",
            got.requires_grad == expected.requires_grad,
            str(got.requires_grad),
            str(expected.requires_grad),
        ),
    ]
    if got.is_parameter != expected.is_parameter:
        kinds = {True: "an nn.Parameter", False: "a plain tensor"}
        items.append(
            _item("parameter", False, kinds[got.is_parameter], kinds[expected.is_parameter])
        )
    values, grids, differs, mismatches = _values(expected.array, got.array, tol, expected, got)
    items.append(values)
    grad_item, grad_report = _grad(expected, got, tol)
    items.append(grad_item)
    return TensorReport(tuple(items), *grids, differs, mismatches, grad_report)


def literal_report(expected: Any, got: TensorValue, tol: Tolerance) -> TensorReport | None:
    """Compare a tensor with an `expect:` literal (values and shape only)."""
    import numpy as np

    if got.array is None or isinstance(expected, (dict, str)):
        return None
    try:
        exp = np.asarray(expected)
    except (ValueError, TypeError):
        return None
    if exp.dtype.kind not in "biufc":
        return None
    if exp.dtype.kind == "b" and got.array.dtype.kind != "b":
        exp = exp.astype(got.array.dtype)
    shape = tuple(int(d) for d in exp.shape)
    items = [
        _item("shape", got.shape == shape, _dims(got.shape), _dims(shape)),
        Item("dtype", None, f"{got.dtype} (not checked)"),
        Item("device", None, f"{got.device} (not checked)"),
        Item("requires_grad", None, f"{got.requires_grad} (not checked)"),
    ]
    values, grids, differs, mismatches = _values(exp, got.array, tol, None, got)
    items.append(values)
    return TensorReport(tuple(items), *grids, differs, mismatches)


def _item(name: str, passed: bool, got: str, expected: str) -> Item:
    return Item(name, passed, got if passed else f"{got}, expected {expected}")


def _dims(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _values(
    expected: np.ndarray | None,
    got: np.ndarray | None,
    tol: Tolerance,
    expected_tensor: TensorValue | None,
    got_tensor: TensorValue,
) -> tuple[
    Item,
    tuple[Grid | None, Grid | None],
    tuple[tuple[bool, ...], ...] | None,
    Mismatches | None,
]:
    if expected is None or got is None:
        return (
            Item("values", None, "not compared (a meta tensor has no values)"),
            (None, None),
            None,
            None,
        )
    grids: tuple[Grid | None, Grid | None] = (None, None)
    if expected.size <= SMALL_TENSOR and got.size <= SMALL_TENSOR:
        grids = (_grid(expected), _grid(got))
    if expected.shape != got.shape:
        return Item("values", None, "not compared: the shapes differ"), grids, None, None
    if expected.size == 0:
        return Item("values", True, "empty on both sides"), grids, None, None
    dtypes = (expected_tensor.dtype,) if expected_tensor is not None else ()
    rtol, atol = tol.for_dtype(*dtypes, got_tensor.dtype)
    mismatch = mismatch_mask(expected, got, rtol, atol)
    differs = _cells(mismatch) if grids[1] is not None else None
    count = int(mismatch.sum())
    if count == 0:
        return Item("values", True, f"all {got.size} match"), grids, differs, None
    found = _mismatches(expected, got, mismatch, count)
    detail = f"{count} of {got.size} elements differ ({found.percent:.3g}%)"
    return Item("values", False, detail), grids, differs, found


def _grad(
    expected: TensorValue, got: TensorValue, tol: Tolerance
) -> tuple[Item, TensorReport | None]:
    if expected.grad is None and got.grad is None:
        return Item("grad", True, "None on both sides"), None
    if expected.grad is None:
        return Item("grad", False, "holds a gradient, expected None"), None
    if got.grad is None:
        return Item("grad", False, "None: no gradient reached it (did backward() run?)"), None
    report = tensor_report(expected.grad, got.grad, tol)
    failed = [i.name for i in report.failed if i.name != "grad"]
    if not failed:
        return Item("grad", True, "matches"), None
    return Item("grad", False, f"differs: {', '.join(failed)}"), report


def _rows(array: np.ndarray) -> tuple[list[str], list[list[Any]], list[list[tuple[int, ...]]]]:
    """Row labels, the values of each row, and each value's index, wrapping long rows."""
    import numpy as np

    if array.ndim == 0:
        return [""], [[array.reshape(-1)[0]]], [[()]]
    labels, rows, where = [], [], []
    last = array.shape[-1]
    for prefix in np.ndindex(*array.shape[:-1]):
        for start in range(0, max(last, 1), ROW_CELLS):
            stop = min(start + ROW_CELLS, last)
            head = [str(i) for i in prefix]
            span = f"{start}:{stop}" if last > ROW_CELLS else ""
            label = ", ".join(head + ([span] if span else []))
            labels.append(f"[{label}]" if label else "")
            rows.append([array[(*prefix, j)] for j in range(start, stop)])
            where.append([(*prefix, j) for j in range(start, stop)])
    return labels, rows, where


def _grid(array: np.ndarray) -> Grid:
    labels, rows, _ = _rows(array)
    return Grid(tuple(labels), tuple(tuple(_format(v, array) for v in row) for row in rows))


def _cells(mismatch: np.ndarray) -> tuple[tuple[bool, ...], ...]:
    _, rows, _ = _rows(mismatch)
    return tuple(tuple(bool(v) for v in row) for row in rows)


def _format(value: Any, array: np.ndarray) -> str:
    kind = array.dtype.kind
    item = value.item() if hasattr(value, "item") else value
    if kind == "f":
        return f"{item:.4g}"
    if kind == "c":
        return f"{item:.3g}"
    return str(item)


def _mismatches(
    expected: np.ndarray, got: np.ndarray, mismatch: np.ndarray, count: int
) -> Mismatches:
    import numpy as np

    diff = abs_difference(expected, got, mismatch)
    scale = np.abs(expected.astype(np.complex128 if expected.dtype.kind == "c" else np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mismatch, diff / scale, 0)
    rel = np.nan_to_num(rel, nan=np.inf, posinf=np.inf)

    def at(index: int) -> tuple[int, ...]:
        return tuple(int(i) for i in np.unravel_index(index, mismatch.shape))

    worst = at(int(np.argmax(diff)))
    worst_rel = at(int(np.argmax(rel)))
    first = tuple(int(i) for i in np.argwhere(mismatch)[0]) if mismatch.ndim else ()
    return Mismatches(
        count=count,
        total=int(mismatch.size),
        max_abs=float(diff[worst]),
        max_abs_at=worst,
        max_abs_expected=_format(expected[worst], expected),
        max_abs_got=_format(got[worst], got),
        max_rel=float(rel[worst_rel]),
        max_rel_at=worst_rel,
        first_at=first,
    )


def index_text(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]" if index else "the only element"


def mismatch_lines(found: Mismatches) -> list[str]:
    """How many elements differ, by how much and where, in words."""
    lines = [
        f"{found.count} of {found.total} elements differ ({found.percent:.3g}%)",
        f"max abs difference {found.max_abs:.4g} at {index_text(found.max_abs_at)} "
        f"(expected {found.max_abs_expected}, got {found.max_abs_got})",
    ]
    rel = "inf (expected 0 there)" if math.isinf(found.max_rel) else f"{found.max_rel:.4g}"
    lines.append(f"max rel difference {rel} at {index_text(found.max_rel_at)}")
    if found.first_at != found.max_abs_at:
        lines.append(f"first difference at {index_text(found.first_at)}")
    return lines
