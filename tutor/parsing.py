"""`ast.parse`, one thread at a time.

CPython 3.11 keeps the AST constructor's recursion counter in state that every thread shares, so
two threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). The grader parses learner code in worker threads (the app's and the
CLI's several checks at once), so every parse in pttutor's own process goes through this lock.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse_module(source: str) -> ast.Module:
    with _LOCK:
        return ast.parse(source)


def parse_expression(source: str) -> ast.Expression:
    with _LOCK:
        return ast.parse(source, mode="eval")
