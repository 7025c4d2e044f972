"""Shape context for a failed line, in the style of TensorSensor: when the learner's line fails
with a shape, size or dtype mismatch, what each tensor on that line was.

Only values that already exist are read: plain names from the failing frame, and attribute
chains through nn.Module parameters, buffers and submodules (read from the module's own
dictionaries, so no learner `__getattr__` or property runs). Nothing on the line is called or
evaluated again: the learner's code never runs twice.
"""

from __future__ import annotations

import ast
import re
from typing import Any

USER_FILENAME = "<your code>"
MAX_OPERANDS = 8
_SHAPE_WORDS = re.compile(
    r"shape|size|dimension|mat1 and mat2|cannot be multiplied|broadcast|expected scalar type|"
    r"dtype|same device|expected .* to have|channels",
    re.IGNORECASE,
)


def operand_context(exc: BaseException, code: str, torch: Any) -> list[dict[str, Any]]:
    """[{"expr", "dtype", "shape", "device"}] for the tensors on the failing line, or []."""
    try:
        message = str(exc)
    except Exception:
        return []
    if not isinstance(exc, (RuntimeError, ValueError, TypeError, IndexError)):
        return []
    if not _SHAPE_WORDS.search(message):
        return []
    frame, line = _innermost_user_frame(exc)
    if frame is None:
        return []
    lines = code.splitlines()
    if not 0 < line <= len(lines):
        return []
    try:
        tree = ast.parse(lines[line - 1].strip(), mode="exec")
    except SyntaxError:
        return []
    scopes = (frame.f_locals, frame.f_globals)
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for expr in _chains(tree):
        if expr in seen or len(found) >= MAX_OPERANDS:
            continue
        seen.add(expr)
        value = _lookup(expr, scopes, torch)
        if isinstance(value, torch.Tensor):
            found.append(
                {
                    "expr": expr,
                    "dtype": str(value.dtype).removeprefix("torch."),
                    "shape": [int(d) for d in value.shape],
                    "device": value.device.type,
                }
            )
    return found


def _innermost_user_frame(exc: BaseException) -> tuple[Any, int]:
    tb = exc.__traceback__
    frame, line = None, 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == USER_FILENAME:
            frame, line = tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
    return frame, line


def _chains(tree: ast.AST) -> list[str]:
    """Names and dotted attribute chains on the line, outermost chains first, in order."""
    chains: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        text = _dotted(node)
        if text is not None:
            chains.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), text))
    chains.sort()
    return [text for _, _, text in chains]


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base is not None else None
    return None


def _lookup(expr: str, scopes: tuple[dict[str, Any], ...], torch: Any) -> Any:
    first, *rest = expr.split(".")
    value = next((scope[first] for scope in scopes if first in scope), None)
    for name in rest:
        if not isinstance(value, torch.nn.Module):
            return None  # only a module's own dictionaries are read: nothing is called
        own = value.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in own.get(store, {}):
                value = own[store][name]
                break
        else:
            return None
    return value
