"""Predict-first items: read the learner's prediction without running it, and compare it with
what the lesson's snippet really produced.

The editor of a predict-first item holds a prediction, never code: `prediction = 8.0`,
`prediction = (2, 3)`, `prediction = "torch.float32"` or `prediction = raises("RuntimeError")`.
It is read here with `ast` and never executed, so the snippet cannot be run from the editor to
look the answer up. The truth comes from the snippet, run in the sandbox like any reference
solution; `judge` puts the two side by side in the learner's terms: "you predicted 4.0 · it is
tensor(8.)". Pure functions: no torch, no processes (numpy is imported only to compare tensors).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .compare import PYTHON_FLOAT_TOLERANCE, Tolerance, describe, short
from .parsing import parse_module
from .value_text import DEFAULT_DTYPES, value_text
from .values import (
    ArrayValue,
    DeviceValue,
    DtypeValue,
    ObjectValue,
    SizeValue,
    TensorValue,
)

if TYPE_CHECKING:
    from .sandbox.runner import ExceptionInfo

NAME = "prediction"
"""The variable the editor assigns."""
MAX_PREDICTION_CHARS = 20_000
MAX_DEPTH = 32  # nesting of lists in a prediction
PRINT_TOLERANCE = 5e-5  # torch prints 4 decimals: a value written as torch printed it counts
MAX_SHOWN_ELEMENTS = 64
FORMS = '8.0, [1.0, 2.0], (2, 3), "torch.float32", None or raises("RuntimeError")'

# torch's dtype names, and the aliases torch defines for some of them (torch.float is float32).
DTYPE_NAMES = frozenset(
    {
        "bool",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "complex32",
        "complex64",
        "complex128",
    }
)
DTYPE_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
    "chalf": "complex32",
}
_SPECIAL_FLOATS = {
    "math.nan": math.nan,
    "math.inf": math.inf,
    "torch.nan": math.nan,
    "torch.inf": math.inf,
    "np.nan": math.nan,
    "np.inf": math.inf,
    "numpy.nan": math.nan,
    "numpy.inf": math.inf,
}
_FLOAT_WORDS = frozenset({"nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"})


@dataclass(frozen=True)
class Raises:
    """`raises("RuntimeError")`: the snippet (or the question) fails with this exception."""

    name: str  # the class name without any module: "RuntimeError"


@dataclass(frozen=True)
class DtypeName:
    """`torch.float32` written as a name rather than a string."""

    name: str  # torch's own name, aliases resolved: "float32"


@dataclass(frozen=True)
class Prediction:
    value: Any  # a Python literal (numbers, bools, None, strings, lists, tuples, dicts),
    # a `Raises` or a `DtypeName`
    text: str  # what the learner wrote, as it is shown back to them


@dataclass(frozen=True)
class Unreadable:
    """The editor does not hold a prediction that can be read: why, in the learner's terms."""

    message: str
    line: int | None = None
    placeholder: bool = False  # nothing predicted yet (the starter's `...`)


@dataclass(frozen=True)
class Truth:
    """What the snippet produced: the value of the question, or the exception on the way."""

    value: Any = None
    raised: ExceptionInfo | None = None


@dataclass(frozen=True)
class PredictionResult:
    """A prediction beside the truth, shown whether it was right or wrong."""

    ask: str
    predicted: str
    truth: str
    matched: bool
    detail: str | None  # what differs, where the two texts do not make it plain
    explain: str | None  # the lesson's explanation, Markdown
    raised: bool = False  # the truth is an exception (`truth` reads "raises ...")

    def side_by_side(self) -> str:
        """One line: `you predicted 4.0 · it is tensor(8.)`, or `... · it raises ...`."""
        truth = f"it {self.truth}" if self.raised else f"it is {self.truth}"
        return f"you predicted {self.predicted} · {truth}"

    def to_json(self) -> dict[str, Any]:
        return {
            "ask": self.ask,
            "predicted": self.predicted,
            "truth": self.truth,
            "matched": self.matched,
            "raised": self.raised,
            "detail": self.detail,
            "explain": self.explain,
        }


# ------------------------------------------------------------------------------- reading


class _NotLiteral(Exception):
    def __init__(self, node: ast.AST, why: str = "") -> None:
        super().__init__(why)
        self.node = node
        self.why = why


class _Placeholder(Exception):
    pass


def read_prediction(source: str) -> Prediction | Unreadable:
    """The prediction in the editor's text, read with `ast`, never run."""
    if len(source) > MAX_PREDICTION_CHARS:
        return Unreadable(
            f"your prediction is {len(source):,} characters long; write one value, like {FORMS}"
        )
    try:
        tree = parse_module(source)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return Unreadable(f"{where}Python cannot read this: {exc.msg}", exc.lineno)
    except (RecursionError, MemoryError, ValueError) as exc:  # ValueError: a NUL character
        return Unreadable(f"Python cannot read this ({type(exc).__name__})")
    assigned: list[ast.Assign] = []
    for statement in tree.body:
        if _is_assignment(statement):
            assert isinstance(statement, ast.Assign)
            assigned.append(statement)
        elif not _is_note(statement):
            return Unreadable(
                f"line {statement.lineno}: only `{NAME} = ...` is read here. Nothing in this "
                "editor runs: the snippet in the task is what runs",
                statement.lineno,
            )
    if not assigned:
        return Unreadable(
            f"write your prediction as `{NAME} = ...`, for example {NAME} = 8.0", placeholder=True
        )
    if len(assigned) > 1:
        lines = " and ".join(str(a.lineno) for a in assigned[:2])
        return Unreadable(
            f"`{NAME}` is set on lines {lines}: keep the one you mean", assigned[1].lineno
        )
    node = assigned[0].value
    try:
        value = _prediction_value(node)
    except _Placeholder:
        return Unreadable(
            f"replace the `...` with what you expect: {FORMS}",
            node.lineno,
            placeholder=True,
        )
    except _NotLiteral as exc:
        return _not_literal(source, exc)
    except RecursionError:
        return Unreadable("your prediction is nested too deeply", node.lineno)
    text = " ".join((ast.get_source_segment(source, node) or "").split())
    return Prediction(value, short(text, 120))


def _is_assignment(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and statement.targets[0].id == NAME
    )


def _is_note(statement: ast.stmt) -> bool:
    """A bare string on its own line: a note to oneself, not code."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _not_literal(source: str, exc: _NotLiteral) -> Unreadable:
    line = getattr(exc.node, "lineno", None)
    segment = " ".join((ast.get_source_segment(source, exc.node) or "").split())
    what = f"`{short(segment, 60)}`" if segment else "this"
    why = exc.why or (
        f"is not a value written out. Nothing in this editor runs, so write what you expect: "
        f"{FORMS}"
    )
    return Unreadable(f"line {line}: {what} {why}" if line else f"{what} {why}", line)


def _dotted(node: ast.AST) -> str | None:
    """`torch.float32` -> "torch.float32"; None for anything but names joined by dots."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _prediction_value(node: ast.expr) -> Any:
    """The forms a whole prediction may take, besides a plain literal."""
    if isinstance(node, ast.Call):
        func = _dotted(node.func)
        if func == "raises":
            return Raises(_exception_name(node))
        if func == "torch.Size":
            return _shape(node)
        if func == "torch.tensor":
            if len(node.args) != 1 or node.keywords:
                raise _NotLiteral(
                    node,
                    "is read for its values only: write torch.tensor([...]) with nothing "
                    "but the values (the dtype is a question of its own)",
                )
            return _literal(node.args[0], 0)
    dotted = _dotted(node)
    if dotted is not None and dotted.startswith("torch.") and dotted not in _SPECIAL_FLOATS:
        name = dotted.removeprefix("torch.")
        canonical = canonical_dtype(name)
        if canonical is None:
            raise _NotLiteral(node, "is not a torch dtype, like torch.float32 or torch.int64")
        return DtypeName(canonical)
    return _literal(node, 0)


def _exception_name(call: ast.Call) -> str:
    if len(call.args) != 1 or call.keywords:
        raise _NotLiteral(call, 'takes one exception name: raises("RuntimeError")')
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        name = arg.value.strip()
    else:
        name = _dotted(arg) or ""
    parts = name.split(".")
    if not name or not all(part.isidentifier() for part in parts):
        raise _NotLiteral(call, 'takes an exception class name: raises("RuntimeError")')
    return parts[-1]


def _shape(call: ast.Call) -> tuple[int, ...]:
    if len(call.args) != 1 or call.keywords:
        raise _NotLiteral(call, "takes one list of sizes: torch.Size([2, 3])")
    dims = _literal(call.args[0], 0)
    if not isinstance(dims, list | tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims
    ):
        raise _NotLiteral(call, "takes one list of sizes: torch.Size([2, 3])")
    return tuple(dims)


def _literal(node: ast.AST, depth: int) -> Any:
    """A value written out: what `ast.literal_eval` reads, plus nan and inf spelt as Python
    and PyTorch spell them. `...` anywhere means "not predicted yet"."""
    if depth > MAX_DEPTH:
        raise _NotLiteral(node, f"is nested more than {MAX_DEPTH} deep")
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise _Placeholder
        return node.value
    if isinstance(node, ast.List):
        return [_literal(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(item, depth + 1) for item in node.elts)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _NotLiteral(node)
        pairs = [
            (_literal(k, depth + 1), _literal(v, depth + 1))
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        ]
        try:
            return dict(pairs)
        except TypeError:  # an unhashable key, such as a list
            raise _NotLiteral(node) from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _literal(node.operand, depth + 1)
        if isinstance(operand, bool) or not isinstance(operand, int | float | complex):
            raise _NotLiteral(node)
        return -operand if isinstance(node.op, ast.USub) else operand
    dotted = _dotted(node)
    if dotted in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[dotted]
    if (
        isinstance(node, ast.Call)
        and _dotted(node.func) == "float"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and node.args[0].value.strip().lower() in _FLOAT_WORDS
    ):
        return float(node.args[0].value)
    raise _NotLiteral(node)


def canonical_dtype(name: str) -> str | None:
    """torch's name for a dtype written as `float32`, `torch.float32` or an alias (`float`)."""
    bare = name.strip().removeprefix("torch.")
    bare = DTYPE_ALIASES.get(bare, bare)
    return bare if bare in DTYPE_NAMES else None


# ------------------------------------------------------------------------------ judging


def judge(
    prediction: Prediction, truth: Truth, *, ask: str, explain: str | None
) -> PredictionResult:
    """The prediction beside the truth, and whether they agree."""
    difference = difference_from(prediction.value, truth)
    return PredictionResult(
        ask=ask,
        predicted=prediction.text,
        truth=truth_text(truth),
        matched=difference is None,
        detail=difference or None,
        explain=explain,
        raised=truth.raised is not None,
    )


def difference_from(predicted: Any, truth: Truth) -> str | None:
    """None when the prediction holds; else what differs ("" when showing both says it)."""
    error = truth.raised
    if error is not None:
        if not isinstance(predicted, Raises):
            return ""
        if error.is_a(predicted.name):
            return None
        return f"{error.type} is not a {predicted.name} (nor a subclass of one)"
    if isinstance(predicted, Raises):
        return "it runs without an error"
    return _difference(predicted, truth.value)


def _difference(predicted: Any, got: Any) -> str | None:
    if isinstance(got, TensorValue | ArrayValue):
        return _tensor_difference(predicted, got)
    if isinstance(got, SizeValue):
        if _is_dims(predicted):
            return None if tuple(predicted) == got.dims else ""
        return "it is a torch.Size: predict it as a tuple, like (2, 3)"
    if isinstance(got, DtypeValue):
        wanted = canonical_dtype(got.name)
        name = _dtype_name(predicted)
        if name is None:
            return 'it is a dtype: predict it by name, like "torch.float32"'
        return None if name == wanted else ""
    if isinstance(got, DeviceValue):
        return None if isinstance(predicted, str) and predicted in (got.type, str(got)) else ""
    if isinstance(got, ObjectValue):
        ok = isinstance(predicted, str) and predicted.strip() in (got.type, got.repr)
        return None if ok else ""
    if got is None or isinstance(got, bool | str):
        same = type(predicted) is type(got) and predicted == got
        return None if same else ""
    if isinstance(got, int | float | complex):
        return None if _number_close(predicted, got) else ""
    if isinstance(got, Sequence):
        return _sequence_difference(predicted, got)
    if isinstance(got, Mapping):
        return _mapping_difference(predicted, got)
    return f"a {describe(got)} cannot be compared with a prediction"


def _is_dims(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in value
    )


def _dtype_name(value: Any) -> str | None:
    if isinstance(value, DtypeName):
        return value.name
    if isinstance(value, str):
        return canonical_dtype(value)
    return None


def _number_close(predicted: Any, got: int | float | complex) -> bool:
    if isinstance(predicted, bool) or not isinstance(predicted, int | float | complex):
        return False
    if isinstance(got, int) and isinstance(predicted, int):
        return predicted == got
    rtol, atol = (max(t, PRINT_TOLERANCE) for t in PYTHON_FLOAT_TOLERANCE)
    try:
        if isinstance(got, complex) or isinstance(predicted, complex):
            return abs(complex(predicted) - complex(got)) <= atol + rtol * abs(complex(got))
        a, b = float(predicted), float(got)
    except OverflowError:  # an integer written with hundreds of digits
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def _sequence_difference(predicted: Any, got: Sequence[Any]) -> str | None:
    if not isinstance(predicted, list | tuple):
        return ""
    if len(predicted) != len(got):
        return f"it has {len(got)} items; your prediction has {len(predicted)}"
    for i, (mine, theirs) in enumerate(zip(predicted, got, strict=True)):
        difference = _difference(mine, theirs)
        if difference is not None:
            return f"item {i} differs" + (f": {difference}" if difference else "")
    return None


def _mapping_difference(predicted: Any, got: Mapping[Any, Any]) -> str | None:
    if not isinstance(predicted, dict):
        return ""
    if set(predicted) != set(got):
        return f"its keys are {sorted(map(str, got))}"
    for key, theirs in got.items():
        difference = _difference(predicted[key], theirs)
        if difference is not None:
            return f"{key!r} differs" + (f": {difference}" if difference else "")
    return None


def _tensor_difference(predicted: Any, got: TensorValue | ArrayValue) -> str | None:
    import numpy as np

    kind = "tensor" if isinstance(got, TensorValue) else "numpy array"
    if isinstance(predicted, bool | int | float | complex) or _is_numeric_nest(predicted):
        try:
            mine = np.asarray(predicted)
        except ValueError:
            return "your nested lists are not rectangular"
    else:
        return f"it is a {kind}: predict its values, like 2.0 or [[1.0, 2.0], [3.0, 4.0]]"
    if mine.dtype == object:  # ragged lists, or integers too big for any dtype
        return "your values do not make a tensor (rows of different lengths, or huge integers)"
    if mine.shape != got.shape:
        return f"its shape is {list(got.shape)}; your prediction has shape {list(mine.shape)}"
    if got.array is None:
        return f"it has no values to compare ({got.describe()})"
    rtol, atol = (max(t, PRINT_TOLERANCE) for t in Tolerance().for_dtype(got.dtype))
    complex_ = got.array.dtype.kind == "c" or mine.dtype.kind == "c"
    as_type = np.complex128 if complex_ else np.float64
    theirs, ours = got.array.astype(as_type), mine.astype(as_type)
    close = np.isclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True)
    if bool(close.all()):
        return None
    wrong = int((~close).sum())
    return "" if close.size == 1 else f"{wrong} of {close.size} values differ"


def _is_numeric_nest(value: Any, depth: int = 0) -> bool:
    if isinstance(value, bool | int | float | complex):
        return True
    if isinstance(value, list | tuple) and depth < MAX_DEPTH:
        return all(_is_numeric_nest(item, depth + 1) for item in value)
    return False


# ------------------------------------------------------------------------------ showing


def truth_text(truth: Truth) -> str:
    """What really happened, in one line, as the learner would see it in Python."""
    if truth.raised is not None:
        error = truth.raised
        message = error.message.strip().splitlines()[0] if error.message.strip() else ""
        return f"raises {error.type}" + (f": {short(message, 160)}" if message else "")
    value = truth.value
    if isinstance(value, TensorValue):
        return tensor_text(value)
    if isinstance(value, SizeValue | DtypeValue):
        return str(value)
    return value_text(value, 200)


def tensor_text(tensor: TensorValue) -> str:
    """A small tensor as torch prints it (`tensor([2., 2.], requires_grad=True)`); a big one
    by shape and dtype."""
    array = tensor.array
    if array is None or array.size > MAX_SHOWN_ELEMENTS:
        return f"a {tensor.describe()}"
    extras = []
    if tensor.dtype not in DEFAULT_DTYPES:
        extras.append(f"dtype=torch.{tensor.dtype}")
    if tensor.device != "cpu":
        extras.append(f"device='{tensor.device}'")
    if tensor.grad_fn:
        extras.append(f"grad_fn=<{tensor.grad_fn}>")
    elif tensor.requires_grad:
        extras.append("requires_grad=True")
    tail = "".join(f", {extra}" for extra in extras)
    return short(f"tensor({_numbers(array)}{tail})", 400)


def _numbers(array: Any) -> str:
    import numpy as np

    kind = array.dtype.kind
    if kind == "f":
        finite = array[np.isfinite(array)]
        integral = bool(np.all(finite == np.round(finite)))
        big = finite.size > 0 and (
            float(np.abs(finite).max()) >= 1e8
            or (bool((finite != 0).any()) and float(np.abs(finite[finite != 0]).min()) < 1e-4)
        )

        def number(value: Any) -> str:
            v = float(value)
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            if big:
                return f"{v:.4e}"
            return f"{v:.0f}." if integral else f"{v:.4f}"

        formatter: Any = {"float_kind": number}
    elif kind == "c":
        formatter = {"complex_kind": lambda v: f"{v.real:.4f}{v.imag:+.4f}j"}
    elif kind == "b":
        formatter = {"bool": str}
    else:
        formatter = {"int_kind": lambda v: str(int(v))}
    if array.ndim == 0:
        key = next(iter(formatter))
        return str(formatter[key](array.item()))
    return np.array2string(
        array,
        separator=", ",
        threshold=MAX_SHOWN_ELEMENTS,
        max_line_width=10_000,
        formatter=formatter,
    ).replace("\n", "")
