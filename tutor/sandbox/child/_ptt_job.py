"""One job: run the exercise setup and the learner's code, evaluate the checks, send the result."""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import opcode
import os
import random
import sys
import time
import traceback
import types
from typing import Any

from _ptt_confine import sandbox_level
from _ptt_inspect import INSPECT_SECONDS, _short_error, inspect_run
from _ptt_operands import operand_context
from _ptt_slips import find_slips
from _ptt_wire import MAX_TEXT, Encoder, FrameWriter, ResultTooLarge

USER_FILENAME = "<your code>"
SETUP_FILENAME = "<setup>"
CHECK_FILENAME = "<check>"
LIB_FILENAME = "<lib>"
TRIAL_OUTPUT_KEEP = 64 * 1024  # characters of a hidden trial's printed output kept
INPUT_NAMES = 32  # setup variables reported for a hidden trial
INPUT_ELEMENTS = 64  # tensors up to this size are reported with their values
_RAISING = {opcode.opmap["RAISE_VARARGS"], opcode.opmap["RERAISE"]}


def exception_info(exc: BaseException, code: str) -> dict[str, Any]:
    """The learner's exception as data, with line numbers that match their editor."""
    lines = code.splitlines()
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == USER_FILENAME and frame.lineno is not None:
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            frames.append({"line": frame.lineno, "function": frame.name, "text": text})
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILENAME and exc.lineno:
        frames.append(
            {
                "line": exc.lineno,
                "function": "<module>",
                "text": (exc.text or "").strip(),
                "column": exc.offset,
            }
        )
    kind = type(exc)
    try:
        message = str(exc)
    except Exception:
        message = "<message could not be read>"
    if isinstance(exc, SyntaxError):
        message = exc.msg
    return {
        "type": kind.__name__,
        "module": kind.__module__,
        "mro": [c.__name__ for c in kind.__mro__],
        "message": message[:MAX_TEXT],
        "frames": frames,
        "origin": _origin(exc),
        "operands": _operands(exc, code),
    }


def _operands(exc: BaseException, code: str) -> list[dict[str, Any]]:
    """The tensors on a line that failed with a shape or dtype mismatch (never fails)."""
    torch = sys.modules.get("torch")
    if torch is None or not code:
        return []
    try:
        return operand_context(exc, code, torch)
    except Exception:
        return []


def _origin(exc: BaseException) -> str:
    """'raise' when the innermost frame is the learner's own `raise` statement, else 'library'.
    (The parent also reads the source; this catches what the source hides.)"""
    tb = exc.__traceback__
    if tb is None:
        return "library"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if code.co_filename != USER_FILENAME:
        return "library"
    try:
        return "raise" if code.co_code[tb.tb_lasti] in _RAISING else "library"
    except IndexError:
        return "library"


def seed_everything(torch: Any, np: Any, seed: int, cuda: bool = False) -> None:
    """Seed random, numpy and torch (CUDA too on a CUDA run). Not `torch.manual_seed`: before
    CUDA starts, it queues a lazy CUDA seeding with a formatted stack, about 1 ms a call,
    and every trial seeds twice."""
    random.seed(seed)
    np.random.seed(seed)
    torch.random.default_generator.manual_seed(seed)
    if cuda:
        torch.cuda.manual_seed_all(seed)


def code_seed(seed: int) -> int:
    """The seed the code (learner's or reference) starts from: derived from, never equal to,
    the seed setup started from."""
    return (seed * 1_000_003 + 12_345) % 2**31


def resolve_device(torch: Any, wanted: str) -> tuple[Any, str | None]:
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        reason = (
            "this PyTorch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA device is visible to this interpreter"
        )
        return (
            None,
            f"CUDA was asked for, but {reason} ({sys.executable}, torch {torch.__version__})",
        )
    return torch.device(wanted), None


def _fresh_main(device: Any) -> dict[str, Any]:
    """A new module registered as `__main__`, as `python script.py` gives: classes and functions
    the learner defines pickle by reference (torch.save of a whole model), and
    `if __name__ == "__main__":` runs. The harness's own modules stay out of its reach by name."""
    module = types.ModuleType("__main__")
    module.__dict__.update(__builtins__=builtins, device=device)
    sys.modules["__main__"] = module
    return module.__dict__


class _SetupFailed(Exception):
    """The lesson's own code (lib or setup) raised: a bug in the lesson, reported as such."""

    def __init__(self, error: BaseException, trial: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.trial = trial


class _Job:
    """What every trial of one job shares: compiled code, the device, one encoder."""

    def __init__(self, job: dict[str, Any], torch: Any, np: Any, device: Any) -> None:
        self.torch, self.np, self.device = torch, np, device
        self.code = job["code"]
        self.lib = compile(job["lib"], LIB_FILENAME, "exec") if job.get("lib") else None
        self.setup = compile(job.get("setup", ""), SETUP_FILENAME, "exec")
        try:
            self.user: Any = compile(self.code, USER_FILENAME, "exec")
        except BaseException as exc:  # SyntaxError, or a ValueError for a NUL byte
            self.user = exc
        self.exprs = list(job.get("exprs", []))
        self.compiled_exprs: dict[str, Any] = {}
        for expr in self.exprs:
            try:
                self.compiled_exprs[expr] = compile(expr, CHECK_FILENAME, "eval")
            except BaseException as exc:
                self.compiled_exprs[expr] = exc
        self.encoder = Encoder(torch, np, int(job.get("result_budget", 64 * 2**20)))
        self.grad_enabled = torch.is_grad_enabled()
        self.given: types.MappingProxyType[str, Any] = types.MappingProxyType({})
        self.default_dtype = torch.get_default_dtype()

    def prepare(self, namespace: dict[str, Any], seed: int, trial: int) -> set[str]:
        """Seed, run lib and setup (which sees `trial`); the names setup bound."""
        torch = self.torch
        torch.set_grad_enabled(self.grad_enabled)  # what a previous trial's code changed
        torch.set_default_dtype(self.default_dtype)
        seed_everything(torch, self.np, seed, self.device.type == "cuda")
        try:
            if self.lib is not None:
                exec(self.lib, namespace)
            before = set(namespace)
            namespace["trial"] = trial
            exec(self.setup, namespace)
        except BaseException as exc:
            raise _SetupFailed(exc, trial) from exc
        namespace.pop("trial", None)
        made = set(namespace) - before
        # What setup gave, as checks see it under `given`: the learner's code can change these
        # objects in place, but cannot point the names at others.
        self.given = types.MappingProxyType({name: namespace[name] for name in made})
        return made

    def run_code(self, namespace: dict[str, Any], seed: int) -> dict[str, Any] | None:
        """The learner's code, freshly seeded; its exception as data, or None."""
        # So that an extra torch.rand() in the learner's code cannot shift setup data. A seed
        # of its own (the reference's code gets the same): with setup's seed, a model the code
        # builds would start with the very weights of one setup built, and code that should
        # load them would pass without loading anything.
        seed_everything(self.torch, self.np, code_seed(seed), self.device.type == "cuda")
        try:
            if isinstance(self.user, BaseException):
                raise self.user
            exec(self.user, namespace)
            if self.device.type == "cuda":
                self.torch.cuda.synchronize()  # surface asynchronous CUDA errors as the learner's
        except BaseException as exc:
            return exception_info(exc, self.code)
        return None

    def check_scope(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """Where check expressions run: the learner's names, overlaid with a fresh run of the
        pack's lib, so a learner global named like a lib helper is never what a check calls,
        and with `given`, the objects setup bound (a learner global `given` is not it either)."""
        scope = dict(namespace)
        if self.lib is not None:
            helpers: dict[str, Any] = {"__builtins__": builtins, "device": self.device}
            exec(self.lib, helpers)
            scope.update(helpers)
        scope["given"] = self.given
        return scope

    def evaluate(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """Every check expression's value, encoded (call with output silenced)."""
        scope = self.check_scope(namespace)
        values: dict[str, Any] = {}
        for expr in self.exprs:
            try:
                compiled = self.compiled_exprs[expr]
                if isinstance(compiled, BaseException):
                    raise compiled
                value = eval(compiled, dict(scope))
                values[expr] = {"value": self.encoder.encode(value)}
            except ResultTooLarge as exc:
                values[expr] = {"too_large": str(exc)}
            except BaseException as exc:
                values[expr] = {"error": exception_info(exc, "")}
        return values

    def call(self, spec: dict[str, Any], namespace: dict[str, Any]) -> list[dict[str, Any]]:
        """The function under test on every input, with fresh tensors each time; an exception
        on one input is that input's result."""
        name = spec["name"]
        function = namespace.get(name)
        results: list[dict[str, Any]] = []
        for args in spec["inputs"]:
            try:
                if not callable(function):
                    raise NameError(f"your code defines no function {name}()")
                output = function(*[self._argument(a) for a in args])
                if self.device.type == "cuda":
                    self.torch.cuda.synchronize()
                results.append({"output": self.encoder.encode(output)})
            except ResultTooLarge as exc:
                results.append({"too_large": str(exc)})
            except BaseException as exc:
                results.append({"error": exception_info(exc, self.code)})
        return results

    def _argument(self, arg: Any) -> Any:
        if isinstance(arg, int):
            return arg
        array = self.np.lib.format.read_array(io.BytesIO(base64.b64decode(arg)), allow_pickle=False)
        return self.torch.from_numpy(array.copy()).to(self.device)

    def inputs(self, namespace: dict[str, Any], names: set[str]) -> dict[str, Any]:
        """What setup made for a hidden trial, for the learner to see if that trial fails:
        small tensors with values, big ones as shape and dtype, other objects by type."""
        report: dict[str, Any] = {}
        for name in sorted(n for n in names if not n.startswith("_"))[:INPUT_NAMES]:
            value = namespace.get(name)
            if isinstance(value, (types.ModuleType, types.FunctionType, type)):
                continue
            report[name] = self._input(value)
        return report

    def _input(self, value: Any) -> dict[str, Any]:
        torch = self.torch
        try:
            if isinstance(value, torch.Tensor):
                if value.numel() <= INPUT_ELEMENTS and value.device.type != "meta":
                    return {"value": self.encoder.tensor(value, with_grad=False)}
                dtype = str(value.dtype).removeprefix("torch.")
                shape = list(value.shape)
                return {"tensor": {"dtype": dtype, "shape": shape, "device": value.device.type}}
            if value is None or isinstance(value, (bool, int, float)):
                return {"value": self.encoder.encode(value)}
            if isinstance(value, str) and len(value) <= 200:
                return {"value": self.encoder.encode(value)}
            plain = isinstance(value, (list, tuple)) and len(value) <= 16
            if plain and all(v is None or isinstance(v, (bool, int, float)) for v in value):
                return {"value": self.encoder.encode(value)}
        except ResultTooLarge:
            pass
        return {"type": type(value).__name__[:100]}


class _CappedText(io.TextIOBase):
    """Where a hidden trial's prints go: the first `limit` characters are kept."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.size < self.limit:
            kept = text[: self.limit - self.size]
            self.parts.append(kept)
            self.size += len(kept)
        return len(text)

    def text(self) -> str:
        return "".join(self.parts)


@contextlib.contextmanager
def _silenced() -> Any:
    """Checks must not add to the learner's output."""
    with open(os.devnull, "w") as devnull:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


def run_job(job: dict[str, Any], out: FrameWriter, torch: Any, np: Any) -> None:
    """Run setup and the learner's code, evaluate the check expressions, send the result.

    Trial 0 is the visible run; its values, exception, output and views are the result's top
    level. Each further trial in `job["trials"]` runs lib, setup and code again in a fresh
    `__main__`, with its own seed and its output captured, and reports under `trials`."""
    result: dict[str, Any] = {"event": "result", "torch": torch.__version__}
    if "sandbox" in job:
        result["sandbox"] = {**job["sandbox"], "level": sandbox_level(job["sandbox"])}
    device, problem = resolve_device(torch, job.get("device", "cpu"))
    if problem is not None:
        result["device_error"] = problem
        out.send_json(result)
        return
    result["device"] = device.type
    if device.type == "cuda":
        result["device_name"] = torch.cuda.get_device_name(device)
        # An oversize request becomes OutOfMemoryError (a "memory limit" verdict) instead of
        # taking the whole GPU from the learner's other work.
        fraction = float(job.get("limits", {}).get("gpu_memory_fraction", 0.5))
        torch.cuda.set_per_process_memory_fraction(fraction, device)
    clock = time.perf_counter
    timings = result["timings"] = {"received": job.get("received", clock())}
    timings["start"] = clock()
    trials = job.get("trials") or [{"index": 0, "seed": int(job.get("seed", 0))}]
    seed = int(trials[0]["seed"])
    try:
        work = _Job(job, torch, np, device)
        namespace = _fresh_main(device)
        work.prepare(namespace, seed, 0)
    except (_SetupFailed, SyntaxError) as failure:
        _report_setup_error(result, failure)
        out.send_json(result)
        return

    timings["setup_done"] = clock()
    started = time.perf_counter()
    error = work.run_code(namespace, seed)
    if error is not None:
        result["exception"] = error
    result["code_seconds"] = time.perf_counter() - started
    timings["code_done"] = clock()
    _flush_std_streams()

    with _silenced():
        result["values"] = work.evaluate(namespace)
        timings["checks_done"] = clock()
        try:
            result["slips"] = find_slips(namespace, torch)
        except Exception:  # a learner's object may refuse to be looked at: no warning then
            result["slips"] = []
        if job.get("calls"):
            result["calls"] = work.call(job["calls"], namespace)
            timings["calls_done"] = clock()
        spec = job.get("inspect")
        if spec is not None:
            left = float(spec.get("timeout", 10.0)) - (clock() - timings["start"])
            try:
                result["inspect"] = inspect_run(
                    spec, namespace, torch, min(INSPECT_SECONDS, left / 2)
                )
            except BaseException as exc:  # e.g. the time limit, between two sections
                result["inspect"] = {"error": _short_error(exc)}
            timings["inspect_done"] = clock()
    if len(trials) > 1:
        try:
            result["trials"] = [_hidden_trial(work, t) for t in trials[1:]]
        except _SetupFailed as failure:
            _report_setup_error(result, failure)
            out.send_json(result)
            return
        timings["trials_done"] = clock()
    result["blobs"] = [len(b) for b in work.encoder.blobs]
    base = timings["received"]
    result["timings"] = {k: round((v - base) * 1000, 3) for k, v in timings.items()}  # ms
    _detach_std_streams()  # the parent sees end-of-output now, not when we exit
    out.send_json(result)
    for blob in work.encoder.blobs:
        out.send_bytes(blob)


def _hidden_trial(work: _Job, trial: dict[str, Any]) -> dict[str, Any]:
    """One more run of lib, setup and code with another seed, its output kept apart."""
    index, seed = int(trial["index"]), int(trial["seed"])
    namespace = _fresh_main(work.device)
    captured = _CappedText(TRIAL_OUTPUT_KEEP)
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = captured
    try:
        made = work.prepare(namespace, seed, index)
        with _silenced():
            inputs = work.inputs(namespace, made)
        error = work.run_code(namespace, seed)
    finally:
        sys.stdout, sys.stderr = saved
    with _silenced():
        values = work.evaluate(namespace)
    return {
        "index": index,
        "seed": seed,
        "exception": error,
        "values": values,
        "stdout": captured.text(),
        "inputs": inputs,
    }


def _report_setup_error(result: dict[str, Any], failure: BaseException) -> None:
    error = failure.error if isinstance(failure, _SetupFailed) else failure
    info = exception_info(error, "")
    trace = "".join(traceback.format_exception(error))
    if isinstance(failure, _SetupFailed) and failure.trial:
        trace = f"(in trial {failure.trial}, with another seed)\n{trace}"
    info["traceback"] = trace[-MAX_TEXT:]
    result["setup_error"] = info


def _detach_std_streams() -> None:
    _flush_std_streams()
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _run_and_report(job: dict[str, Any], out: FrameWriter, torch: Any, np: Any) -> None:
    try:
        run_job(job, out, torch, np)
    except BaseException as exc:  # a bug of ours, not the learner's: report it as such
        out.send_json(
            {
                "event": "result",
                "internal_error": "".join(traceback.format_exception(exc))[-MAX_TEXT:],
            }
        )
    _flush_std_streams()
    # Skip atexit handlers and non-daemon threads the learner may have left hanging.
    os._exit(0)
