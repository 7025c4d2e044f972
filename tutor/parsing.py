"""`ast.parse`, one thread at a time.

CPython 3.11 keeps the AST constructor's recursion counter in state that every thread shares, so
two threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). The grader parses learner code in worker threads (the app's and the
CLI's several checks at once), so every parse in pttutor's own process goes through this lock,
those inside libraries too (numpy reads an .npy header with `ast.literal_eval`): `one_parser()`.
"""

from __future__ import annotations

import ast
import contextlib
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()


def parse_module(source: str) -> ast.Module:
    with _LOCK:
        return ast.parse(source)


def parse_expression(source: str) -> ast.Expression:
    with _LOCK:
        return ast.parse(source, mode="eval")


@contextlib.contextmanager
def one_parser() -> Iterator[None]:
    """Hold around a library call that parses Python, so that it never parses beside ours."""
    with _LOCK:
        yield
