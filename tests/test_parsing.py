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


def test_numpy_headers_are_read_beside_parses_without_a_clash() -> None:
    # numpy reads an .npy header with ast.literal_eval: that parse shares the same counter, so
    # decoding a run's tensors while another thread parses learner code failed the same way.
    import io

    import numpy as np

    from tutor.values import _npy_header

    headers = []
    for n in range(1, 600):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.zeros((n, 1), dtype=np.float32))
        headers.append(buf.getvalue()[:128])
    errors: list[BaseException] = []
    old = gc.get_threshold()
    gc.set_threshold(50)

    reading = threading.Event()
    reading.set()

    def parse() -> None:
        while reading.is_set():
            _Cycle()
            try:
                parse_module(SOURCE)
            except SystemError as exc:
                errors.append(exc)

    def read_headers() -> None:
        for header in headers:  # each shape its own: the header cache does not hide a parse
            _Cycle()
            try:
                _npy_header(header)
            except Exception as exc:  # the clash surfaces as a DecodeError here
                errors.append(exc)

    try:
        _npy_header.cache_clear()
        # Daemons, joined with a timeout: a clash can leave the parser's state broken for good.
        threads = [threading.Thread(target=parse, daemon=True) for _ in range(2)]
        threads += [threading.Thread(target=read_headers, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads[2:]:
            thread.join(timeout=60)
        reading.clear()
        for thread in threads[:2]:
            thread.join(timeout=60)
    finally:
        reading.clear()
        gc.set_threshold(*old)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
