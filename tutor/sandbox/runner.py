"""Run a snippet in a sandboxed child process and collect what it produced.

Callers use `Runner.start(request) -> RunHandle` and `handle.result()`; `handle.cancel()` stops a
run from another thread. `ColdRunner` starts a fresh interpreter per run; a warm pool can
implement the same interface without touching callers.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..inspect_model import AutogradGraph, Structure, decode_inspect
from ..values import Blobs, decode
from .wire import (
    MAX_MESSAGE,
    MAX_NAME,
    DecodeError,
    Fields,
    FrameSource,
    FrameTooLarge,
    blob_sizes,
    expect_text,
    one_line,
    parse_message,
    run_byte_limit,
)

CHILD_SCRIPT = Path(__file__).with_name("child")  # a directory run as a script
OUTPUT_KEEP = 64 * 1024  # bytes of stdout/stderr kept for display and stdout checks
OUTPUT_KILL = 4 * 2**20  # a run printing more than this is stopped: "output limit"
RESULT_BUDGET = 64 * 2**20
STARTUP_TIMEOUT = 120.0  # importing torch cold can take many seconds on a busy machine
MEMORY_LIMIT = 3 * 2**30  # bytes of data segment a run may use
MAX_RUN_PROCESSES = 64  # as the child's _ptt_zygote.MAX_RUN_PROCESSES
PROCESS_LIMIT_EXIT = 125  # a spare's exit code when its run went over that (_ptt_zygote)
GPU_MEMORY_FRACTION = 0.5  # of the GPU's memory a CUDA run may allocate


class Outcome(enum.Enum):
    """How a run ended, before any checking."""

    COMPLETED = "completed"  # the child reported results (the learner's code may have raised)
    TIMEOUT = "timeout"
    CPU_LIMIT = "cpu_limit"
    OUTPUT_LIMIT = "output_limit"
    RESULT_TOO_LARGE = "result_too_large"
    CRASHED = "crashed"
    CANCELLED = "cancelled"
    DEVICE_UNAVAILABLE = "device_unavailable"
    SETUP_ERROR = "setup_error"  # the exercise's hidden setup failed: a lesson bug
    INVALID_RESULT = "invalid_result"  # the child sent something malformed: nothing is trusted
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class RunRequest:
    code: str
    setup: str = ""
    exprs: tuple[str, ...] = ()
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    seed: int = 0
    timeout: float = 10.0  # seconds for setup + code + checks, after torch is imported
    threads: int | None = 1  # one intra-op thread: fast start, same numbers every run
    # What the structure and autograd views show (see tutor/inspect_model.py): the modules to
    # list (default: every nn.Module left in the namespace), an input to run them on for output
    # shapes, and the tensor whose graph to walk (default: `loss`, `out` or the last scalar).
    inspect: tuple[str, ...] = ()
    sample_input: str | None = None
    graph: str | None = None
    # Hidden trials: one seed each, drawn per run by the parent (trial 0 uses `seed`).
    trial_seeds: tuple[int, ...] = ()
    lib: str = ""  # the pack's shared helpers, run before setup and again for the checks
    # A function under test: its name, and the inputs to call it on (each argument a base64
    # `.npy` string or a Python int).
    function: str | None = None
    call_inputs: tuple[tuple[str | int, ...], ...] = ()

    def trials_job(self) -> list[dict[str, int]]:
        """The job's `trials`: trial 0 (the visible setup) and the hidden ones."""
        seeds = (self.seed, *self.trial_seeds)
        return [{"index": i, "seed": s} for i, s in enumerate(seeds)]

    def inspect_job(self) -> dict[str, Any]:
        """The job's `inspect` entry for the child."""
        return {
            "names": list(self.inspect),
            "sample_input": self.sample_input,
            "graph": self.graph,
            "timeout": self.timeout,
        }


@dataclass(frozen=True)
class Frame:
    line: int
    function: str
    text: str
    column: int | None = None


@dataclass(frozen=True)
class ExceptionInfo:
    type: str
    module: str
    bases: tuple[str, ...]  # the class and its ancestors, for subclass matching
    message: str
    frames: tuple[Frame, ...] = ()
    # "raise" when the child saw the learner's own raise statement throw it, else "library"
    origin: str = "library"
    # For a shape or dtype mismatch: what each tensor on the failing line was.
    operands: tuple[Operand, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> ExceptionInfo:
        """An exception as the child sends it; DecodeError unless every field has its type."""
        fields = Fields(data, "an exception")
        name = fields.text("type", cap=MAX_NAME)
        return cls(
            type=name,
            module=fields.text("module", default="", cap=MAX_NAME),
            bases=fields.texts("mro", cap=MAX_MRO, cap_each=MAX_NAME, default=(name,)),
            message=fields.text("message", default="", cap=MAX_MESSAGE_TEXT),
            frames=tuple(_frame(f) for f in fields.items("frames", MAX_FRAMES, default=[])),
            origin=_origin(fields),
            operands=tuple(_operand(o) for o in fields.items("operands", MAX_OPERANDS, default=[])),
        )

    def is_a(self, type_name: str) -> bool:
        """True when this exception is `type_name` or a subclass (`torch.OutOfMemoryError` ok)."""
        return type_name.rsplit(".", 1)[-1] in self.bases

    @property
    def line(self) -> int | None:
        return self.frames[-1].line if self.frames else None

    def headline(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


MAX_MRO = 10_000  # classes in an exception's MRO
MAX_FRAMES = 100_000  # traceback frames in the learner's code (deep recursion makes many)
MAX_MESSAGE_TEXT = 65_536  # characters of an exception's message (the child keeps 4000)


def _frame(data: Any) -> Frame:
    fields = Fields(data, "a traceback frame")
    return Frame(
        line=fields.integer("line"),
        function=fields.text("function", cap=MAX_NAME),
        text=fields.text("text"),  # the learner's line of code: as long as they wrote it
        column=fields.optional_integer("column"),
    )


@dataclass(frozen=True)
class Operand:
    """One tensor on a line that failed: `h @ W`: h is float32[64, 100]."""

    expr: str
    dtype: str
    shape: tuple[int, ...]
    device: str

    def describe(self) -> str:
        where = "" if self.device == "cpu" else f" on {self.device}"
        return f"`{self.expr}` is {self.dtype}{list(self.shape)}{where}"


MAX_OPERANDS = 8


def _operand(data: Any) -> Operand:
    fields = Fields(data, "an operand")
    return Operand(
        expr=fields.text("expr", cap=200),
        dtype=fields.text("dtype", cap=40),
        shape=tuple(fields.integers("shape", cap=64, minimum=0)),
        device=fields.text("device", cap=40),
    )


def _origin(fields: Fields) -> str:
    origin = fields.text("origin", default="library", cap=16)
    if origin not in ("raise", "library"):
        raise DecodeError(f"an exception's origin {origin!r}")
    return origin


@dataclass(frozen=True)
class EvalError:
    """A check expression that could not be evaluated (e.g. NameError: the code defined no x)."""

    error: ExceptionInfo


@dataclass(frozen=True)
class TooLarge:
    message: str


@dataclass
class TrialResult:
    """One hidden trial: the code run again after a setup with another seed."""

    index: int
    seed: int
    exception: ExceptionInfo | None = None
    values: dict[str, Any] = field(default_factory=dict)  # as RunResult.values
    stdout: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)  # setup's variables: a value or Shown


@dataclass(frozen=True)
class Shown:
    """A setup variable too big (or too odd) to send: what it is, in a few words."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class RunResult:
    outcome: Outcome
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    exception: ExceptionInfo | None = None
    values: dict[str, Any] = field(default_factory=dict)  # expr -> value | EvalError | TooLarge
    device: str | None = None
    device_name: str | None = None
    torch_version: str | None = None
    detail: str = ""  # why a non-completed run ended, in words
    code_seconds: float | None = None
    # The child's own time from taking the job to its last step (setup, code, checks, hidden
    # trials), as it says: for benchmarks that split a run's time from the tutor's; never for
    # a verdict.
    job_seconds: float | None = None
    wall_seconds: float = 0.0
    returncode: int | None = None
    sandbox: dict[str, Any] | None = None  # what confinement the child managed (Landlock…)
    structure: Structure | None = None  # the nn.Modules the code left behind
    graph: AutogradGraph | None = None  # the autograd graph of its loss (or chosen tensor)
    trials: list[TrialResult] = field(default_factory=list)  # the hidden trials, 1 to N-1
    # The function under test's result on each input: a value, an EvalError or a TooLarge
    calls: list[Any] | None = None
    slips: tuple[Slip, ...] = ()  # attributes the code set that torch never reads

    @property
    def sandbox_level(self) -> str | None:
        """'full', 'partial' or 'none'; None when the child did not say."""
        return self.sandbox.get("level") if self.sandbox else None


class RunHandle(ABC):
    phase = "starting"  # "starting" (waiting for PyTorch), "running" (your code), "done"

    @abstractmethod
    def result(self) -> RunResult:
        """Block until the run ends; safe to call once from any thread."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the run; `result()` then returns an Outcome.CANCELLED result."""


class Runner(ABC):
    @abstractmethod
    def start(self, request: RunRequest) -> RunHandle: ...

    def run(self, request: RunRequest) -> RunResult:
        return self.start(request).result()

    def warm_up(self, device: str = "cpu") -> None:  # noqa: B027 - a no-op when cold
        """Prepare in the background so the first run on `device` is fast; returns at once."""

    def close(self) -> None:  # noqa: B027
        """Release processes and files."""


def child_limits(request: RunRequest, startup: float) -> dict[str, float]:
    """rlimits the child sets on itself before running the learner's code."""
    return {
        "core": 0,
        "fsize": 32 * 2**20,
        "nofile": 1024,
        "cpu": int(startup + request.timeout * 2) + 1,
        # RLIMIT_DATA, not RLIMIT_AS: CUDA maps far more address space than it uses.
        "data": MEMORY_LIMIT,
        "gpu_memory_fraction": GPU_MEMORY_FRACTION,
    }


def job_for(request: RunRequest, startup: float) -> dict[str, Any]:
    """The job the child runs, as JSON: everything it needs, and nothing the checks keep secret
    (the reference solution travels only in the reference's own job, `expect` literals never)."""
    return {
        "code": request.code,
        "setup": request.setup,
        "exprs": list(dict.fromkeys(request.exprs)),
        "device": request.device,
        "seed": request.seed,
        "threads": request.threads,
        "result_budget": RESULT_BUDGET,
        "limits": child_limits(request, startup=startup),
        "inspect": request.inspect_job(),
        "trials": request.trials_job(),
        "lib": request.lib,
        "calls": None
        if request.function is None
        else {"name": request.function, "inputs": [list(a) for a in request.call_inputs]},
    }


def child_environment(tmpdir: str) -> dict[str, str]:
    """A small, predictable environment: no learner secrets, HOME and TMPDIR inside the run dir."""
    keep = (
        "PATH",
        "LANG",
        "LC_ALL",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
        "CUDA_HOME",
        "SYSTEMROOT",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "CONDA_PREFIX",
    )
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        HOME=tmpdir,
        TMPDIR=tmpdir,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONIOENCODING="utf-8:backslashreplace",
        PYTORCH_NVML_BASED_CUDA_CHECK="1",
        MPLBACKEND="Agg",
        # numpy's BLAS would start a thread per core at import, before the zygote forks, and
        # spin them; one thread is what torch uses here too (the same numbers every run).
        OPENBLAS_NUM_THREADS="1",
    )
    return env


class ColdRunner(Runner):
    """One fresh interpreter per run: slow (imports torch every time) but simple and robust."""

    def __init__(self, python: str | None = None, *, startup_timeout: float = STARTUP_TIMEOUT):
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout

    def start(self, request: RunRequest) -> RunHandle:
        tmpdir = tempfile.mkdtemp(prefix="pttutor-run-")
        job = job_for(request, startup=self.startup_timeout)
        job_path = os.path.join(tmpdir, ".pttutor-job.json")
        with open(job_path, "w", encoding="utf-8") as f:
            json.dump(job, f)
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                # -u: the learner sees what they printed even if the run then crashes or times out.
                [self.python, "-I", "-u", str(CHILD_SCRIPT), job_path, str(write_fd)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=tmpdir,
                env=child_environment(tmpdir),
                start_new_session=True,
                pass_fds=(write_fd,),
            )
        except OSError as exc:
            os.close(read_fd)
            shutil.rmtree(tmpdir, ignore_errors=True)
            return _FailedRun(f"cannot start the sandbox interpreter {self.python}: {exc}")
        finally:
            os.close(write_fd)
        return _ProcessRun(proc, read_fd, tmpdir, request, self.startup_timeout)


class _FailedRun(RunHandle):
    def __init__(self, detail: str) -> None:
        self._detail = detail

    def result(self) -> RunResult:
        return RunResult(Outcome.INTERNAL_ERROR, detail=self._detail)

    def cancel(self) -> None:
        pass


class _CappedReader(threading.Thread):
    """Drains one output pipe, keeping the first OUTPUT_KEEP bytes and counting the rest."""

    def __init__(self, stream: IO[bytes], on_flood: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.kept = bytearray()
        self.total = 0
        self.on_flood = on_flood

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := self.stream.read1(65536):  # type: ignore[attr-defined]
                self.total += len(chunk)
                if len(self.kept) < OUTPUT_KEEP:
                    self.kept += chunk[: OUTPUT_KEEP - len(self.kept)]
                if self.total > OUTPUT_KILL:
                    self.on_flood()
                    break

    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        return self.total > len(self.kept)


class _FrameReader(threading.Thread):
    """Reads frames from the result channel, only as many as asked for and each within the size
    asked for (see wire.FrameSource), onto `frames`: the frame, a DecodeError for a refused
    frame, or None at the end. Unasked bytes stay in the pipe: a child cannot make the parent
    hold more than it asked for. `stop` ends the thread once its current read returns."""

    def __init__(self, fd: int, total: int | None = None) -> None:
        super().__init__(daemon=True)
        self.file = os.fdopen(fd, "rb", buffering=0)
        self.source = FrameSource(self.file.readinto, total or run_byte_limit(RESULT_BUDGET))
        self.frames: queue.Queue[bytearray | DecodeError | None] = queue.Queue()
        self._asks: queue.Queue[tuple[int, ...] | None] = queue.Queue()

    def ask(self, *limits: int) -> None:
        """Read one frame per limit, in order, each at most that many bytes."""
        self._asks.put(limits)

    def stop(self) -> None:
        self._asks.put(None)

    def run(self) -> None:
        try:
            while (limits := self._asks.get()) is not None:
                for limit in limits:
                    frame = self.source.next_frame(limit)
                    self.frames.put(frame)
                    if frame is None:
                        return
        except DecodeError as exc:
            self.frames.put(exc)
        except (OSError, ValueError):
            pass
        finally:
            self.frames.put(None)
            self.file.close()


class RunCollector(RunHandle):
    """Collects one run's output and result frames, whatever kind of process runs it.

    Subclasses say how the job reaches a ready process (`_dispatch`), how to kill it and how to
    learn its exit status; timeouts, output caps, decoding and statuses live here, once.
    """

    def __init__(self, request: RunRequest, startup_timeout: float) -> None:
        self.request = request
        self.startup_timeout = startup_timeout
        self.started = time.monotonic()
        self._stop_reason: Outcome | None = None
        self._lock = threading.Lock()
        self.stdout: _CappedReader | None = None
        self.stderr: _CappedReader | None = None
        self.frames: _FrameReader | None = None

    # -- for subclasses ---------------------------------------------------------------------

    def _attach(self, stdout: IO[bytes], stderr: IO[bytes], result_fd: int) -> None:
        self.stdout = _CappedReader(stdout, lambda: self._stop(Outcome.OUTPUT_LIMIT))
        self.stderr = _CappedReader(stderr, lambda: self._stop(Outcome.OUTPUT_LIMIT))
        self.frames = _FrameReader(result_fd)
        for thread in (self.stdout, self.stderr, self.frames):
            thread.start()

    @abstractmethod
    def _dispatch(self, deadline: float) -> RunResult | None:
        """Get the job to a process that has torch imported; a RunResult if that failed."""

    @abstractmethod
    def _kill(self) -> None:
        """Kill the run's process and everything in its session."""

    @abstractmethod
    def _exit_code(self, timeout: float) -> int | None:
        """The process's exit status (negative: killed by that signal), None if unknown."""

    def _release(self) -> None:
        """Free what the run used (temporary files, fds)."""

    # -- RunHandle ---------------------------------------------------------------------------

    def cancel(self) -> None:
        self._stop(Outcome.CANCELLED)

    @property
    def stopped(self) -> bool:
        return self._stop_reason is not None

    def _stop(self, reason: Outcome) -> None:
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
        self._kill()

    def result(self) -> RunResult:
        try:
            return self._collect()
        finally:
            self.phase = "done"
            self._kill()
            self._release()

    # -- collecting --------------------------------------------------------------------------

    def _next_frame(self, deadline: float) -> bytearray | DecodeError | None:
        """The next frame asked for, a refused frame's DecodeError, or None at the end of the
        channel; raises queue.Empty at the deadline."""
        assert self.frames is not None
        return self.frames.frames.get(timeout=max(0.0, deadline - time.monotonic()))

    def _collect(self) -> RunResult:
        try:
            self.phase = "starting"
            failed = self._dispatch(time.monotonic() + self.startup_timeout)
            if failed is not None:
                return failed
            self.phase = "running"
            message = self._message(time.monotonic() + self.request.timeout, "result")
            if isinstance(message, RunResult):
                return message
            try:
                sizes = blob_sizes(Fields(message, "the result"), RESULT_BUDGET)
            except DecodeError as exc:
                return self._invalid(exc)
            blobs = self._blobs(sizes)
            if isinstance(blobs, RunResult):
                return blobs
            return self._completed(message, blobs)
        finally:
            if self.frames is not None:
                self.frames.stop()

    def _blobs(self, sizes: tuple[int, ...]) -> list[bytearray] | RunResult:
        """The blobs a valid result message announced, each exactly its announced size."""
        assert self.frames is not None
        self.frames.ask(*sizes)
        blobs: list[bytearray] = []
        for size in sizes:
            try:
                blob = self._next_frame(time.monotonic() + 30)
            except queue.Empty:
                blob = None
            if blob is None:
                return self._ended_early("result")
            if isinstance(blob, DecodeError):
                return self._invalid(blob)
            if len(blob) != size:
                return self._invalid(f"a blob of {len(blob)} bytes where {size} were announced")
            blobs.append(blob)
        return blobs

    def _message(self, deadline: float, event: str) -> dict[str, Any] | RunResult:
        assert self.frames is not None
        self.frames.ask(MAX_MESSAGE)
        try:
            frame = self._next_frame(deadline)
        except queue.Empty:
            if event == "ready":
                self._stop(Outcome.INTERNAL_ERROR)
                return self._finish(
                    Outcome.INTERNAL_ERROR,
                    f"the sandbox interpreter did not start PyTorch within "
                    f"{self.startup_timeout:.0f} s",
                )
            self._stop(Outcome.TIMEOUT)
            return self._finish(
                Outcome.TIMEOUT, f"your code ran longer than {self.request.timeout:g} s"
            )
        if frame is None:
            return self._ended_early(event)
        if event == "result" and isinstance(frame, FrameTooLarge) and frame.size <= RESULT_BUDGET:
            # A message a real child could write (check values holding many long strings); a
            # longer one is not a result at all, and so invalid.
            return self._finish(
                Outcome.RESULT_TOO_LARGE,
                f"the values to check make a result of {frame.size / 2**20:.1f} MiB, over the "
                f"{frame.limit / 2**20:.0f} MiB limit",
            )
        try:
            if isinstance(frame, DecodeError):
                raise frame
            message = parse_message(frame)
            if message.get("event") != event:
                raise DecodeError(f"no {event!r} message")
        except DecodeError as exc:
            if event == "result":  # the learner's code ran, and may have written it
                return self._invalid(exc)
            # Nothing of the learner's has run yet: a broken interpreter, not a hostile one.
            return self._finish(
                Outcome.INTERNAL_ERROR, f"the sandbox sent malformed data: {one_line(str(exc))}"
            )
        return message

    def _invalid(self, reason: DecodeError | str) -> RunResult:
        """An invalid result: nothing of what the child sent is kept but the output."""
        return self._finish(Outcome.INVALID_RESULT, invalid_detail(reason))

    def _stopped_result(self, returncode: int | None = None) -> RunResult:
        details = {
            Outcome.CANCELLED: "the run was cancelled",
            Outcome.OUTPUT_LIMIT: f"your code printed more than {OUTPUT_KILL // 2**20} MiB",
        }
        reason = self._stop_reason or Outcome.CANCELLED
        return self._finish(reason, details.get(reason, reason.value), returncode)

    def _ended_early(self, waiting_for: str) -> RunResult:
        """The pipe closed before the child reported: work out why from the exit status."""
        returncode = self._exit_code(timeout=5)
        if self._stop_reason is not None:
            return self._stopped_result(returncode)
        if returncode is not None and returncode < 0:
            sig = -returncode
            if sig == getattr(signal, "SIGXCPU", None):
                return self._finish(
                    Outcome.CPU_LIMIT, "your code used too much CPU time", returncode
                )
            name = _signal_name(sig)
            return self._finish(Outcome.CRASHED, f"the process was killed by {name}", returncode)
        if returncode == PROCESS_LIMIT_EXIT:
            return self._finish(
                Outcome.CRASHED,
                f"your code started more than {MAX_RUN_PROCESSES} processes at once, the "
                "sandbox's limit: the run was ended",
                returncode,
            )
        if waiting_for == "ready":
            lines = self.stderr.text().strip().splitlines() if self.stderr else []
            last = lines[-1] if lines else f"exit code {returncode}"
            return self._finish(
                Outcome.INTERNAL_ERROR,
                f"the sandbox interpreter could not start PyTorch: {last}",
                returncode,
            )
        code = "unknown" if returncode is None else returncode
        return self._finish(
            Outcome.CRASHED,
            f"the process exited (code {code}) before reporting results",
            returncode,
        )

    def _finish(self, outcome: Outcome, detail: str, returncode: int | None = None) -> RunResult:
        self._kill()
        for reader in (self.stdout, self.stderr):
            if reader is not None:
                reader.join(timeout=2)
        return RunResult(
            outcome=outcome,
            stdout=self.stdout.text() if self.stdout else "",
            stderr=self.stderr.text() if self.stderr else "",
            output_truncated=any(r is not None and r.truncated for r in (self.stdout, self.stderr)),
            detail=detail,
            wall_seconds=time.monotonic() - self.started,
            returncode=returncode,
        )

    completion_wait = 5.0  # seconds to wait for the exit status once results are in

    def _completed(self, message: dict[str, Any], blobs: list[bytearray]) -> RunResult:
        # The child closes its stdout/stderr before the last frame, so output is complete.
        result = self._finish(Outcome.COMPLETED, "", self._exit_code(self.completion_wait))
        try:
            fields, unpacked = Fields(message, "the result"), Blobs(blobs)
            read_result(result, fields, unpacked, self.request.exprs)
            read_trials(result, fields, unpacked, self.request)
        except DecodeError as exc:
            return RunResult(
                outcome=Outcome.INVALID_RESULT,
                stdout=result.stdout,
                stderr=result.stderr,
                output_truncated=result.output_truncated,
                detail=invalid_detail(exc),
                wall_seconds=result.wall_seconds,
                returncode=result.returncode,
            )
        return result


class _ProcessRun(RunCollector):
    """A cold run: a fresh interpreter that reports `ready` once torch is imported."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        result_fd: int,
        tmpdir: str,
        request: RunRequest,
        startup_timeout: float,
    ) -> None:
        super().__init__(request, startup_timeout)
        self.proc = proc
        self.tmpdir = tmpdir
        assert proc.stdout is not None and proc.stderr is not None
        self._attach(proc.stdout, proc.stderr, result_fd)

    def _dispatch(self, deadline: float) -> RunResult | None:
        ready = self._message(deadline, "ready")
        return ready if isinstance(ready, RunResult) else None

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def _exit_code(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            return self.proc.wait()

    def _release(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def invalid_detail(reason: DecodeError | str) -> str:
    return f"the sandbox sent an invalid result: {one_line(str(reason))}"


_VERSION = re.compile(r"[0-9A-Za-z.+_-]{1,64}")
_WORD = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_SANDBOX_FIELDS = 64


_JOB_STEPS = ("setup_done", "code_done", "checks_done", "calls_done", "inspect_done", "trials_done")


def _job_seconds(timings: Fields | None) -> float | None:
    """The latest step the child reports (milliseconds after it took the job), in seconds."""
    if timings is None:
        return None
    steps = [timings.optional_number(step) for step in _JOB_STEPS]
    done = [ms for ms in steps if ms is not None and 0 <= ms < 1e7]  # finite, under 3 hours
    return max(done) / 1000 if done else None


def read_result(result: RunResult, message: Fields, blobs: Blobs, exprs: tuple[str, ...]) -> None:
    """Fill `result` from a `result` message, checking every field; DecodeError on the first
    field that is missing, of the wrong type, over a limit, or not asked for."""
    result.torch_version = _matching(message, "torch", _VERSION)
    result.device = _matching(message, "device", _WORD)
    result.device_name = message.optional_text("device_name", cap=256)
    result.code_seconds = message.optional_number("code_seconds")
    result.job_seconds = _job_seconds(message.object("timings"))
    result.sandbox = _sandbox_report(message.object("sandbox"))
    if message.has("internal_error"):
        result.outcome = Outcome.INTERNAL_ERROR
        result.detail = message.text("internal_error")
        return
    if message.has("device_error"):
        result.outcome = Outcome.DEVICE_UNAVAILABLE
        result.detail = message.text("device_error")
        return
    setup_error = message.object("setup_error")
    if setup_error is not None:
        error = ExceptionInfo.from_json(setup_error.data)
        result.outcome = Outcome.SETUP_ERROR
        result.detail = (
            f"the exercise's setup code failed ({error.headline()}); this is a bug in the "
            f"lesson, not in your code\n{setup_error.text('traceback', default='')}"
        )
        return
    exception = message.data.get("exception")
    if exception is not None:
        result.exception = ExceptionInfo.from_json(exception)
    values = message.object("values")
    if values is not None:
        unknown = set(values.data) - set(exprs)
        if unknown:
            raise DecodeError(f"values for {len(unknown)} expressions that were not asked for")
        result.values = {expr: _decode_entry(entry, blobs) for expr, entry in values.data.items()}
    result.structure, result.graph = decode_inspect(message.data.get("inspect"))
    result.slips = tuple(_slip(s) for s in message.items("slips", cap=MAX_SLIPS, default=[]))
    too_large = [v for v in result.values.values() if isinstance(v, TooLarge)]
    if too_large:
        result.outcome = Outcome.RESULT_TOO_LARGE
        result.detail = too_large[0].message


@dataclass(frozen=True)
class Slip:
    """An attribute the learner's code set by mistake: `w.requires_gradn = True` does nothing."""

    owner: str  # the name it was reached by: `w`, `model.fc.weight`
    kind: str  # tensor, module or optimizer
    attr: str
    suggest: str  # the attribute (or expression) that was probably meant

    def describe(self) -> str:
        article = "an" if self.kind[0] in "aeiou" else "a"
        return (
            f"you set `{self.owner}.{self.attr}`; did you mean `{self.suggest}`? "
            f"{self.kind.capitalize()}s accept any attribute, so setting it did nothing "
            f"({self.owner} is {article} {self.kind})"
        )


MAX_SLIPS = 10
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_][\w.]*")
_SUGGESTION = re.compile(r"[\w.()\[\]'\"]+")


def _slip(data: Any) -> Slip:
    """A slip as the child reports it: names only, each checked to be a plain identifier path."""
    fields = Fields(data, "a slip")
    kind = fields.text("kind", cap=16)
    if kind not in ("tensor", "module", "optimizer"):
        raise DecodeError(f"a slip on a {kind!r}")
    parts = {k: fields.text(k, cap=200) for k in ("owner", "attr", "suggest")}
    for key in ("owner", "attr"):
        if not _IDENTIFIER_PATH.fullmatch(parts[key]):
            raise DecodeError(f"a slip's {key} that is not a name")
    if not _SUGGESTION.fullmatch(parts["suggest"]):
        raise DecodeError("a slip's suggestion that is not an attribute")
    return Slip(parts["owner"], kind, parts["attr"], parts["suggest"])


MAX_INPUT_NAMES = 64  # setup variables a hidden trial reports (the child sends 32)


def read_trials(result: RunResult, message: Fields, blobs: Blobs, request: RunRequest) -> None:
    """The hidden trials and the function-under-test results a completed run reports: exactly
    those the request asked for, with the seeds it chose; DecodeError otherwise."""
    if result.outcome not in (Outcome.COMPLETED, Outcome.RESULT_TOO_LARGE):
        return
    asked = request.trials_job()[1:]
    entries = message.items("trials", cap=len(asked), default=[])
    if len(entries) != len(asked):
        raise DecodeError(f"{len(entries)} hidden trials where {len(asked)} were asked for")
    result.trials = [
        _trial(Fields(entry, "a trial"), want, blobs, request.exprs)
        for entry, want in zip(entries, asked, strict=True)
    ]
    if request.function is None:
        if message.has("calls"):
            raise DecodeError("function results that were not asked for")
    else:
        calls = message.items("calls", cap=len(request.call_inputs))
        if len(calls) != len(request.call_inputs):
            raise DecodeError(
                f"{len(calls)} function results where {len(request.call_inputs)} were asked for"
            )
        result.calls = [_call(entry, blobs) for entry in calls]
    if result.outcome is Outcome.COMPLETED:
        for values in [*(t.values.values() for t in result.trials), result.calls or ()]:
            too_large = [v for v in values if isinstance(v, TooLarge)]
            if too_large:
                result.outcome = Outcome.RESULT_TOO_LARGE
                result.detail = too_large[0].message
                return


def _trial(f: Fields, asked: dict[str, int], blobs: Blobs, exprs: tuple[str, ...]) -> TrialResult:
    index, seed = f.integer("index"), f.integer("seed")
    if (index, seed) != (asked["index"], asked["seed"]):
        raise DecodeError(f"trial {index} with seed {seed}, which was not asked for")
    exception = f.object("exception")
    values = f.object("values")
    decoded: dict[str, Any] = {}
    if values is not None:
        if set(values.data) - set(exprs):
            raise DecodeError("a trial's values for expressions that were not asked for")
        decoded = {expr: _decode_entry(entry, blobs) for expr, entry in values.data.items()}
    return TrialResult(
        index=index,
        seed=seed,
        exception=None if exception is None else ExceptionInfo.from_json(exception.data),
        values=decoded,
        stdout=f.text("stdout", default="", cap=OUTPUT_KEEP),
        inputs=_trial_inputs(f.object("inputs"), blobs),
    )


def _trial_inputs(inputs: Fields | None, blobs: Blobs) -> dict[str, Any]:
    if inputs is None:
        return {}
    if len(inputs.data) > MAX_INPUT_NAMES:
        raise DecodeError(f"a trial that reports {len(inputs.data)} setup variables")
    shown: dict[str, Any] = {}
    for name, entry in inputs.data.items():
        if not (name.isidentifier() and len(name) <= 64):
            raise DecodeError(f"a setup variable named {one_line(repr(name), 40)}")
        f = Fields(entry, "a setup variable")
        tensor = f.object("tensor")
        if f.has("value"):
            shown[name] = decode(f.data["value"], blobs)
        elif tensor is not None:
            dims = tensor.integers("shape", cap=64, minimum=0)
            dtype = _matching(tensor, "dtype", _WORD)
            device = _matching(tensor, "device", _WORD)
            shown[name] = Shown(f"a tensor of shape {list(dims)}, {dtype} on {device}")
        else:
            type_name = f.text("type", cap=100)
            if not type_name.isidentifier():
                raise DecodeError("a setup variable of an unnamed type")
            shown[name] = Shown(f"a {type_name} object")
    return shown


def _call(entry: Any, blobs: Blobs) -> Any:
    fields = Fields(entry, "a function result")
    present = [key for key in ("output", "error", "too_large") if fields.has(key)]
    if len(present) != 1:
        raise DecodeError("a function result without exactly one of output, error, too_large")
    if present == ["error"]:
        return EvalError(ExceptionInfo.from_json(entry["error"]))
    if present == ["too_large"]:
        return TooLarge(fields.text("too_large", cap=MAX_MESSAGE_TEXT))
    return decode(entry["output"], blobs)


def _matching(message: Fields, key: str, pattern: re.Pattern[str]) -> str | None:
    value = message.optional_text(key, cap=64)
    if value is not None and not pattern.fullmatch(value):
        raise DecodeError(f"the result's {key!r} is not a name")
    return value


def _sandbox_report(report: Fields | None) -> dict[str, Any] | None:
    """What confinement the child managed: flat, named fields of plain JSON types, `level` a
    word and `missing` a list of strings (shown as they are, so typed strictly here)."""
    if report is None:
        return None
    if len(report.data) > MAX_SANDBOX_FIELDS:
        raise DecodeError(f"a sandbox report of {len(report.data)} fields")
    checked: dict[str, Any] = {}
    for key, value in report.data.items():
        expect_text(key, "a sandbox report's field name", 64)
        if isinstance(value, list):
            checked[key] = list(report.texts(key, cap=64, cap_each=1024))
        elif value is None or isinstance(value, (bool, int, float)):
            checked[key] = value
        else:
            checked[key] = report.text(key, cap=1024)
    _matching(report, "level", _WORD)
    return checked


def _decode_entry(entry: Any, blobs: Blobs) -> Any:
    fields = Fields(entry, "a check's value")
    present = [key for key in ("value", "error", "too_large") if fields.has(key)]
    if len(present) != 1:
        raise DecodeError("a check's value without exactly one of value, error, too_large")
    if present == ["error"]:
        return EvalError(ExceptionInfo.from_json(entry["error"]))
    if present == ["too_large"]:
        return TooLarge(fields.text("too_large", cap=MAX_MESSAGE_TEXT))
    return decode(entry["value"], blobs)


def _signal_name(sig: int) -> str:
    try:
        return f"{signal.Signals(sig).name} (signal {sig})"
    except ValueError:
        return f"signal {sig}"
