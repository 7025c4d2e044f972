"""The parent's side of the sandbox wire, fed hostile bytes: every malformed frame, message or
value is an invalid result (never a pass, never an exception), and the parent's memory stays
bounded. Most tests need no sandbox: a thread plays the child on a real pipe."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import tracemalloc
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pytest

from tutor.checker import Status, check_run
from tutor.compare import compare
from tutor.grader import Grader
from tutor.grading import grade_submissions, grade_summary
from tutor.inspect_model import decode_inspect
from tutor.loader import load_pack
from tutor.sandbox.runner import (
    ExceptionInfo,
    Outcome,
    RunCollector,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
)
from tutor.sandbox.wire import (
    FRAME_HEADER,
    MAX_JSON_DEPTH,
    DecodeError,
    FrameSource,
    FrameTooLarge,
    parse_message,
)
from tutor.schema import Exercise
from tutor.values import Blobs, TensorValue, decode, read_npy

from .conftest import MINI_LESSON

MiB = 2**20


def frame(data: bytes) -> bytes:
    return FRAME_HEADER.pack(len(data)) + data


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_with_header(descr: Any, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    """An .npy file whose header says whatever the test wants, followed by `data`."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def tensor_node(**overrides: Any) -> dict[str, Any]:
    node = {
        "kind": "tensor",
        "dtype": "float32",
        "shape": [2],
        "device": "cpu",
        "requires_grad": False,
        "is_leaf": True,
        "grad_fn": None,
        "is_parameter": False,
        "grad": None,
        "blob": 0,
    }
    node.update(overrides)
    return node


TWO_FLOATS = npy(np.array([1.0, 2.0], dtype=np.float32))


def result_message(checks: dict[str, Any], blobs: Iterable[bytes] = (), **extra: Any) -> bytes:
    """A result frame as the child writes it (`extra` adds or replaces fields), then the blobs."""
    blobs = list(blobs)
    message = {
        "event": "result",
        "torch": "2.13.0+cpu",
        "device": "cpu",
        "values": checks,
        "blobs": [len(b) for b in blobs],
    }
    message.update(extra)
    return frame(json.dumps(message).encode()) + b"".join(frame(b) for b in blobs)


class ScriptedRun(RunCollector):
    """A run whose "child" is a thread writing the given bytes on a real result pipe."""

    def __init__(
        self,
        wire: bytes | Iterator[bytes],
        *,
        stdout: bytes = b"printed by the snippet\n",
        exprs: tuple[str, ...] = ("y",),
    ) -> None:
        super().__init__(RunRequest(code="", exprs=exprs, timeout=30), startup_timeout=30)
        self.written = 0
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        result_r, self._result_w = os.pipe()
        os.write(out_w, stdout)
        os.write(err_w, b"a warning\n")
        os.close(out_w)
        os.close(err_w)
        self._attach(os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"), result_r)
        chunks = iter([wire]) if isinstance(wire, bytes) else wire
        self.writer = threading.Thread(target=self._write, args=(chunks,), daemon=True)
        self.writer.start()

    def _write(self, chunks: Iterator[bytes]) -> None:
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    count = os.write(self._result_w, view)
                    self.written += count
                    view = view[count:]
        except BrokenPipeError:  # the parent stopped reading: what a real child would see
            pass
        finally:
            os.close(self._result_w)

    def _dispatch(self, deadline: float) -> RunResult | None:
        return None  # like a warm spare: no `ready` event, the result comes first

    def _kill(self) -> None:
        pass

    def _exit_code(self, timeout: float) -> int | None:
        return 0


def run_wire(wire: bytes | Iterator[bytes], **kwargs: Any) -> RunResult:
    return ScriptedRun(wire, **kwargs).result()


def assert_invalid(result: RunResult, why: str = "") -> None:
    assert result.outcome is Outcome.INVALID_RESULT, (result.outcome, result.detail)
    assert result.detail.startswith("the sandbox sent an invalid result: ")
    assert why in result.detail
    assert "\n" not in result.detail
    assert result.values == {} and result.exception is None and result.structure is None
    assert result.stdout == "printed by the snippet\n" and result.stderr == "a warning\n"


# -- the baseline: what a real child sends is read ---------------------------------------------


def test_a_well_formed_result_is_read():
    result = run_wire(result_message({"y": {"value": tensor_node()}}, [TWO_FLOATS]))
    assert result.outcome is Outcome.COMPLETED, result.detail
    y = result.values["y"]
    assert isinstance(y, TensorValue) and y.shape == (2,) and y.dtype == "float32"
    assert y.array is not None and y.array.tolist() == [1.0, 2.0]
    assert result.stdout == "printed by the snippet\n"


def test_widened_dtypes_fortran_order_and_zero_sized_arrays_are_read():
    blobs = Blobs(
        [
            npy(np.array([1.5], dtype=np.float32)),
            npy(np.array([7], dtype=np.int64)),
            npy(np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))),
            npy(np.zeros((0, 3), dtype=np.float64)),
        ]
    )
    bf16 = decode(tensor_node(dtype="bfloat16", shape=[1], blob=0), blobs)
    assert bf16.dtype == "bfloat16" and bf16.array.dtype == np.float32
    assert decode(tensor_node(dtype="uint32", shape=[1], blob=1), blobs).array.tolist() == [7]
    fortran = decode({"kind": "ndarray", "dtype": "int16", "shape": [2, 3], "blob": 2}, blobs)
    assert fortran.array.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert not fortran.array.flags.writeable  # values from the sandbox are read-only
    empty = decode(tensor_node(dtype="float64", shape=[0, 3], blob=3), blobs)
    assert empty.array.shape == (0, 3)


# -- frames ------------------------------------------------------------------------------------


def test_a_frame_over_its_limit_is_refused_after_reading_only_its_header():
    stream = io.BytesIO(frame(b"x" * 1000))
    source = FrameSource(stream.readinto, total=10_000)
    with pytest.raises(FrameTooLarge):
        source.next_frame(limit=999)
    assert stream.tell() == FRAME_HEADER.size


def test_a_runs_frames_together_stay_within_the_total():
    stream = io.BytesIO(frame(b"a" * 100) * 3)
    source = FrameSource(stream.readinto, total=250)
    assert source.next_frame(100) == b"a" * 100
    assert source.next_frame(100) == b"a" * 100
    with pytest.raises(DecodeError):
        source.next_frame(100)  # 3 x 108 bytes: over the 250 this run may send
    assert stream.tell() == 2 * 108 + FRAME_HEADER.size


def test_a_stream_ending_inside_a_frame_is_the_end_not_an_error():
    source = FrameSource(io.BytesIO(FRAME_HEADER.pack(10) + b"abc").readinto, total=100)
    assert source.next_frame(100) is None


def test_a_bogus_length_prefix_is_an_invalid_result():
    assert_invalid(run_wire(b"\xff" * 8), "frame of 18446744073709551615 bytes")


def test_a_result_message_over_the_message_limit_is_too_large_not_a_crash():
    wire = FRAME_HEADER.pack(20 * MiB) + b"{"  # the body is never read
    result = run_wire(wire)
    assert result.outcome is Outcome.RESULT_TOO_LARGE
    assert "20.0 MiB" in result.detail and result.stdout == "printed by the snippet\n"


def test_24_announced_blobs_of_64_mib_are_refused_before_reading_any():
    chunk = b"\0" * MiB
    blob_frame_head = FRAME_HEADER.pack(64 * MiB)

    def child() -> Iterator[bytes]:
        message = {"event": "result", "values": {}, "blobs": [64 * MiB] * 24}
        yield frame(json.dumps(message).encode())
        for _ in range(24):
            yield blob_frame_head
            for _ in range(64):
                yield chunk

    tracemalloc.start()
    try:
        run = ScriptedRun(child())
        result = run.result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_invalid(result, "over the 67108864-byte result budget")
    assert peak < 4 * MiB  # not one blob was read into memory
    run.writer.join(timeout=30)
    assert not run.writer.is_alive()  # the reader let go of the pipe: the writer saw EPIPE
    assert run.written < 2 * MiB  # what a pipe buffers, not the 1.5 GiB announced


def test_a_blob_shorter_than_announced_is_invalid():
    message = {"event": "result", "values": {}, "blobs": [len(TWO_FLOATS)]}
    wire = frame(json.dumps(message).encode()) + frame(TWO_FLOATS[:-4])
    assert_invalid(run_wire(wire), "where 136 were announced")


@pytest.mark.parametrize(
    "blobs", [[-1], ["8"], [True], [1.5], [0] * 40_000, "x"], ids=lambda b: repr(b)[:20]
)
def test_malformed_blob_announcements_are_invalid(blobs):
    message = {"event": "result", "values": {}, "blobs": blobs}
    assert_invalid(run_wire(frame(json.dumps(message).encode())))


# -- messages ----------------------------------------------------------------------------------


def test_deep_json_is_invalid_without_a_recursion_error():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(DecodeError, match="nested 100000 deep"):
        parse_message(deep)
    assert_invalid(run_wire(frame(deep)), "nested 100000 deep")


def test_brackets_and_escapes_inside_strings_do_not_count_as_nesting():
    text = '[{"' + "[" * (MAX_JSON_DEPTH + 5) + '\\"[\\\\' + '": "]]]{{{"}]'
    assert parse_message(json.dumps({"event": "result", "s": json.loads(text)}).encode())


def test_nesting_just_within_the_limit_parses():
    depth = MAX_JSON_DEPTH - 1
    parse_message(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    with pytest.raises(DecodeError):
        parse_message(b'{"a":' + b"[" * (depth + 1) + b"]" * (depth + 1) + b"}")


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1, 2]", b'"result"', b"\xff\xfe{}", b'{"event": "result"', b"1" * 5000],
    ids=["garbage", "a list", "a string", "not utf-8", "cut short", "a 5000-digit int"],
)
def test_messages_that_are_not_json_objects_are_invalid(data):
    assert_invalid(run_wire(frame(data)))


def test_a_message_of_the_wrong_event_is_invalid():
    assert_invalid(run_wire(frame(b'{"event": "ready"}')), "no 'result' message")


def test_values_the_parent_did_not_ask_for_are_invalid():
    wire = result_message({"y": {"value": {"kind": "int", "value": 1}}, "z": {"value": 1}})
    assert_invalid(run_wire(wire), "not asked for")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("torch", ["2.13"]),
        ("torch", "2.13\x1b[31m"),
        ("device", 1),
        ("device_name", {"a": 1}),
        ("code_seconds", "fast"),
        ("timings", "fast"),
        ("timings", {"checks_done": "12"}),
        ("sandbox", {"level": ["full"]}),
        ("sandbox", {"missing": [1]}),
        ("sandbox", "full"),
        ("exception", {"type": 1}),
        ("exception", {"type": "E", "frames": [{"line": "3", "function": "f", "text": ""}]}),
        ("exception", {"type": "E", "mro": "E"}),
        ("internal_error", 7),
        ("setup_error", {"type": "E", "traceback": 1}),
        ("values", []),
    ],
)
def test_top_level_fields_of_the_wrong_type_are_invalid(field, value):
    assert_invalid(run_wire(result_message({}, **{field: value})))


def test_the_jobs_own_time_is_its_latest_step_and_only_a_figure():
    timings = {"start": 0.1, "setup_done": 3.0, "checks_done": 9.5, "trials_done": 20.0}
    result = run_wire(result_message({}, timings=timings))
    assert result.job_seconds == pytest.approx(0.02)
    odd = {"setup_done": 3.0, "trials_done": float("nan"), "inspect_done": -5.0}
    assert run_wire(result_message({}, timings=odd)).job_seconds == pytest.approx(0.003)
    assert run_wire(result_message({})).job_seconds is None


def test_an_exception_is_read_only_with_the_right_types():
    good = {"type": "E", "mro": ["E", "Exception"], "message": "m", "frames": []}
    assert ExceptionInfo.from_json(good).is_a("Exception")
    for bad in ({**good, "message": None}, {**good, "frames": [{"line": 1}]}, "E", None):
        with pytest.raises(DecodeError):
            ExceptionInfo.from_json(bad)


# -- value nodes -------------------------------------------------------------------------------

MALFORMED_NODES = {
    "requires_grad a string": tensor_node(requires_grad="yes"),
    "is_leaf an int": tensor_node(is_leaf=1),
    "shape a string": tensor_node(shape="x"),
    "shape of bools": tensor_node(shape=[True, True]),
    "negative shape": tensor_node(shape=[-2]),
    "blob -1": tensor_node(blob=-1),
    "blob out of range": tensor_node(blob=1),
    "blob a string": tensor_node(blob="0"),
    "unknown kind": {"kind": "pickle", "value": "x"},
    "kind missing": {"value": 1},
    "not an object": ["kind", "tensor"],
    "unknown tensor dtype": tensor_node(dtype="object"),
    "device with an escape": tensor_node(device="cpu\x1b[2J"),
    "a cpu tensor without values": {k: v for k, v in tensor_node().items() if k != "blob"},
    "a meta tensor with values": tensor_node(device="meta"),
    "a grad that is not a tensor": tensor_node(grad={"kind": "int", "value": 1}),
    "a grad of a grad": tensor_node(grad=tensor_node(grad=tensor_node())),
    "bool for an int": {"kind": "int", "value": True},
    "int for a float": {"kind": "float", "value": 1},
    "a long string": {"kind": "str", "value": "x" * 10_000},
    "truncated a string": {"kind": "str", "value": "x", "truncated": "no"},
    "too many items": {"kind": "list", "items": [{"kind": "none"}] * 10_001},
    "items not a list": {"kind": "list", "items": {"kind": "none"}},
    "length below the items": {"kind": "list", "items": [{"kind": "none"}], "length": 0},
    "keys and values differ": {"kind": "dict", "keys": [{"kind": "none"}], "values": []},
    "device index negative": {"kind": "device", "type": "cuda", "index": -1},
    "object without a repr": {"kind": "object", "type": "X"},
    "ndarray dtype disagrees": {"kind": "ndarray", "dtype": "float64", "shape": [2], "blob": 0},
}


@pytest.mark.parametrize("node", MALFORMED_NODES.values(), ids=MALFORMED_NODES.keys())
def test_malformed_value_nodes_are_refused(node):
    with pytest.raises(DecodeError):
        decode(node, [TWO_FLOATS])


def test_a_malformed_value_makes_the_whole_run_invalid():
    wire = result_message({"y": {"value": tensor_node(requires_grad="yes")}}, [TWO_FLOATS])
    assert_invalid(run_wire(wire), "'requires_grad' is a string, not true or false")


def test_values_nested_past_the_limit_are_refused():
    node: dict[str, Any] = {"kind": "none"}
    for _ in range(40):
        node = {"kind": "list", "items": [node]}
    with pytest.raises(DecodeError, match="nested more than"):
        decode(node, [])


def test_a_blob_backing_two_values_is_invalid():
    pair = {"kind": "list", "items": [tensor_node(), tensor_node()]}
    with pytest.raises(DecodeError, match="blob 0 backs two values"):
        decode(pair, [TWO_FLOATS])
    wire = result_message(
        {"y": {"value": tensor_node()}, "z": {"value": tensor_node()}}, [TWO_FLOATS]
    )
    assert_invalid(run_wire(wire, exprs=("y", "z")), "backs two values")


def test_a_check_entry_needs_exactly_one_of_value_error_too_large():
    both = {"value": {"kind": "none"}, "too_large": "big"}
    assert_invalid(run_wire(result_message({"y": both})), "exactly one")
    assert_invalid(run_wire(result_message({"y": {}})), "exactly one")


# -- .npy blobs --------------------------------------------------------------------------------


def test_an_npy_header_claiming_32_tib_is_refused_without_allocating():
    blob = npy_with_header("<f4", (2**43,))
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="needs 35184372088832 bytes but holds 0"):
            read_npy(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MiB


@pytest.mark.parametrize(
    ("header_shape", "data"),
    [((3,), np.zeros(2, np.float32).tobytes()), ((2,), np.zeros(3, np.float32).tobytes())],
    ids=["fewer bytes than the shape", "more bytes than the shape"],
)
def test_npy_shape_and_size_must_agree(header_shape, data):
    with pytest.raises(DecodeError, match="needs"):
        read_npy(npy_with_header("<f4", header_shape, data))


@pytest.mark.parametrize(
    "descr",
    ["|O", [("a", "<f4")], "<U3", "<M8[s]", "<m8[s]", "|V4", ">f4", "|S2", ("<f4", (2,))],
    ids=[
        "object",
        "structured",
        "unicode",
        "datetime",
        "timedelta",
        "void",
        "big-endian",
        "bytes",
        "subarray",
    ],
)
def test_npy_dtypes_outside_the_allow_list_are_refused(descr):
    with pytest.raises(DecodeError, match="which is not allowed"):
        read_npy(npy_with_header(descr, (1,), b"\0" * 8))


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x93NUMPY",
        b"\x93NUMPY\x03\x00" + b"\0" * 60,
        b"not numpy at all" * 8,
        b"\x93NUMPY\x01\x00\x10\x00{'descr': (((((" + b" " * 8,
    ],
    ids=["empty", "magic only", "version 3", "no magic", "broken header"],
)
def test_broken_npy_blobs_are_refused(blob):
    with pytest.raises(DecodeError):
        read_npy(blob)


def test_a_tensor_header_must_agree_with_its_array():
    as_float64 = npy(np.array([1.0, 2.0]))
    with pytest.raises(DecodeError, match="sent as float64"):
        decode(tensor_node(), [as_float64])  # says float32
    with pytest.raises(DecodeError, match="of shape"):
        decode(tensor_node(shape=[1, 2]), [TWO_FLOATS])
    with pytest.raises(DecodeError):
        decode(tensor_node(dtype="bfloat16"), [as_float64])  # bfloat16 arrives as float32


# -- no values never passes --------------------------------------------------------------------


def meta(shape: tuple[int, ...] = (2,)) -> TensorValue:
    return TensorValue("float32", shape, "meta", False, True, None, False, None, None)


def cpu(values: list[float]) -> TensorValue:
    array = np.asarray(values, dtype=np.float32)
    return TensorValue("float32", array.shape, "cpu", False, True, None, False, array, None)


def test_a_tensor_without_values_never_passes_a_comparison():
    for expected, got in ((meta(), meta()), (cpu([1, 2]), meta()), (meta(), cpu([1, 2]))):
        problems = compare(expected, got)
        assert any("cannot pass" in p for p in problems), problems
    assert "yours has no values (it is on meta)" in compare(cpu([1, 2]), meta())[-1]
    values = cpu([1, 2]).array
    with_grad = TensorValue("float32", (2,), "cpu", True, True, None, False, values, cpu([1, 2]))
    meta_grad = TensorValue("float32", (2,), "cpu", True, True, None, False, values, meta())
    problems = compare(with_grad, meta_grad)
    assert problems and problems[-1].startswith(".grad: the values cannot be compared")


def one_check(check: dict[str, Any]) -> Exercise:
    data = {"id": "e", "title": "E", "task": "T", "starter": "y = 0", "solution": "y = 1"}
    return Exercise.model_validate({**data, "checks": [check]})


def test_a_meta_tensor_check_is_a_failed_verdict():
    exercise = one_check({"expr": "y"})
    learner = RunResult(Outcome.COMPLETED, values={"y": meta()}, device="cpu")
    reference = RunResult(Outcome.COMPLETED, values={"y": meta()}, device="cpu")
    verdict = check_run(exercise, learner, reference, "cpu")
    assert verdict.status is Status.FAILED and not verdict.passed
    [check] = verdict.checks
    assert check.message == (
        "the values cannot be compared: yours has no values (it is on meta) and the expected "
        "one has no values (it is on meta), so this check cannot pass"
    )


def test_an_invalid_result_is_its_own_status_never_a_pass():
    exercise = one_check({"stdout": "printed"})
    result = run_wire(b"\xff" * 8)
    verdict = check_run(exercise, result, None, "cpu")
    assert verdict.status is Status.INVALID_RESULT and not verdict.passed
    assert verdict.status.title == "Invalid result"
    assert verdict.summary == result.detail and verdict.exception is None
    assert verdict.run is not None and verdict.run.stdout == "printed by the snippet\n"


# -- inspection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section",
    [
        {"structure": {"modules": [{"name": "m", "type": "T", "device": ["cpu"]}]}},
        {"structure": {"modules": [{"name": "m", "type": "T", "total_params": float("inf")}]}},
        {"structure": {"modules": [{"name": "m", "type": "T", "output_shape": {"a": {"b": 1}}}]}},
        {"structure": {"sample_input": {"x": 1}, "modules": []}},
        {"structure": {"modules": [{"name": "m", "type": "T"}] * 3000}},
        {"graph": {"target": ["loss"]}},
        {"graph": {"root": {"id": "0", "name": "AddBackward0"}}},
        {"graph": {"root": {"id": 0, "name": "A", "leaf": {"name": 5}}}},
        {"error": ["stopped"]},
        ["structure"],
    ],
)
def test_a_malformed_inspection_is_an_error_the_views_show(section):
    structure, graph = decode_inspect(section)
    shown = [v for v in (structure, graph) if v is not None]
    assert shown and all(isinstance(v.error, str) and "malformed" in v.error for v in shown)


# -- grade goes on -----------------------------------------------------------------------------


class _Done(RunHandle):
    def __init__(self, result: RunResult | Exception) -> None:
        self._result = result

    def result(self) -> RunResult:
        if isinstance(self._result, Exception):
            raise self._result
        return self._result

    def cancel(self) -> None:
        pass


class ScriptedRunner(Runner):
    """Answers each run by its code: the canned result, or the exception to raise."""

    def __init__(self, answers: dict[str, RunResult | Exception]) -> None:
        self.answers = answers

    def start(self, request: RunRequest) -> RunHandle:
        return _Done(self.answers[request.code])


def test_grade_goes_on_after_an_invalid_result_and_after_a_failure_of_ours(write_pack, tmp_path):
    pack = load_pack(write_pack({"mini.yaml": MINI_LESSON}))
    selected = pack.exercises()
    [(_, double), (_, boom)] = selected
    raised = ExceptionInfo(
        "RuntimeError",
        "builtins",
        ("RuntimeError", "Exception", "BaseException", "object"),
        "grad can be implicitly created only for scalar outputs",
    )
    answers: dict[str, RunResult | Exception] = {
        double.solution: RunResult(Outcome.COMPLETED, values={"y": cpu([0, 2, 4, 6])}),
        boom.solution: RunResult(Outcome.COMPLETED, device="cpu"),
        "forges a frame": run_wire(b"\xff" * 8),
        "meets a bug of ours": ValueError("a bug of ours"),
        "solves it": RunResult(Outcome.COMPLETED, device="cpu", exception=raised),
    }
    files = {"mini/double": tmp_path / "mini__double.py", "mini/boom": tmp_path / "mini__boom.py"}
    files["mini/boom"].write_text("solves it", encoding="utf-8")
    outcomes = {
        "forges a frame": ("invalid_result", "the sandbox sent an invalid result: a frame of "),
        "meets a bug of ours": ("internal_error", "the check itself failed: ValueError: a bug"),
    }
    for first, (status, summary) in outcomes.items():
        files["mini/double"].write_text(first, encoding="utf-8")
        grader = Grader(ScriptedRunner(answers), device="cpu")
        rows = grade_submissions(grader, selected, files)
        assert [r.status for r in rows] == [status, "passed"]  # the next one is still graded
        assert rows[0].summary.startswith(summary)
        assert grade_summary(rows)["failed"] == 1 and grade_summary(rows)["passed"] == 1


# -- through the real sandbox ------------------------------------------------------------------

BOGUS_FRAME = """\
import os
print("before the forgery")
for fd in map(int, os.listdir("/proc/self/fd")):
    if fd > 2:  # the result channel, whichever it is: a pipe (cold) or a socket (warm)
        try:
            os.write(fd, b"\\xff" * 8)
        except OSError:
            pass
os._exit(0)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists fds in /proc")
def test_a_snippet_writing_a_bogus_frame_gets_an_invalid_result(runner):
    result = runner.run(RunRequest(code=BOGUS_FRAME, exprs=("1",)))
    assert result.outcome is Outcome.INVALID_RESULT, (result.outcome, result.detail)
    assert result.stdout == "before the forgery\n"
    assert result.values == {}


DEVICE_LIAR = """\
import torch
class Liar(torch.Tensor):
    seen = 0
    @property
    def device(self):  # "cpu" when the encoder writes the header, "meta" when it takes values
        Liar.seen += 1
        return torch.device("cpu") if Liar.seen % 2 else torch.device("meta")
y = torch.ones(2).as_subclass(Liar)
"""


def test_a_tensor_lying_about_its_device_never_passes(runner):
    learner = runner.run(RunRequest(code=DEVICE_LIAR, exprs=("y",)))
    reference = runner.run(RunRequest(code="import torch\ny = torch.zeros(2)", exprs=("y",)))
    verdict = check_run(one_check({"expr": "y"}), learner, reference, "cpu")
    assert not verdict.passed
    # Refused when decoded (a cpu tensor without values), or failed closed when compared.
    reasons = [verdict.summary, *(check.message for check in verdict.checks)]
    assert any("a tensor on cpu without values" in r or "cannot pass" in r for r in reasons)
