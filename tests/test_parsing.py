"""Parsing learner code from several threads at once (the grader's workers do)."""

from __future__ import annotations

import gc
import threading
import time

from tutor.parsing import parse_expression, parse_module

SOURCE = "\n".join(
    f"def f{i}(a, b=[1, 2, {{3: (4, 5)}}]):\n    return [x * a for x in b if x]" for i in range(40)
)


class _Cycle:
    """Garbage whose finalizer lets another thread run in the middle of a collection."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def test_parsing_from_four_threads_while_finalizers_switch_threads() -> None:
    # On CPython 3.11 a bare ast.parse fails here about once a run with "SystemError: AST
    # constructor recursion depth mismatch": a collection inside one thread's parse runs a
    # finalizer, which hands the interpreter to another thread's parse.
    errors: list[BaseException] = []
    old = gc.get_threshold()
    gc.set_threshold(50)

    def work() -> None:
        for _ in range(60):
            _Cycle()
            try:
                parse_module(SOURCE)
            except SystemError as exc:
                errors.append(exc)

    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.set_threshold(*old)
    assert errors == []


def test_parse_expression_reads_an_expression() -> None:
    tree = parse_expression("a + 1")
    assert type(tree.body).__name__ == "BinOp"
