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
import shutil
import signal
import struct
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
from ..values import DecodeError, decode

CHILD_SCRIPT = Path(__file__).with_name("child")  # a directory run as a script
OUTPUT_KEEP = 64 * 1024  # bytes of stdout/stderr kept for display and stdout checks
OUTPUT_KILL = 4 * 2**20  # a run printing more than this is stopped: "output limit"
RESULT_BUDGET = 64 * 2**20
MAX_FRAME = RESULT_BUDGET + 2**20
STARTUP_TIMEOUT = 120.0  # importing torch cold can take many seconds on a busy machine
MEMORY_LIMIT = 3 * 2**30  # bytes of data segment a run may use
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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExceptionInfo:
        return cls(
            type=data["type"],
            module=data.get("module", ""),
            bases=tuple(data.get("mro", (data["type"],))),
            message=data.get("message", ""),
            frames=tuple(Frame(**f) for f in data.get("frames", [])),
        )

    def is_a(self, type_name: str) -> bool:
        """True when this exception is `type_name` or a subclass (`torch.OutOfMemoryError` ok)."""
        return type_name.rsplit(".", 1)[-1] in self.bases

    @property
    def line(self) -> int | None:
        return self.frames[-1].line if self.frames else None

    def headline(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@dataclass(frozen=True)
class EvalError:
    """A check expression that could not be evaluated (e.g. NameError: the code defined no x)."""

    error: ExceptionInfo


@dataclass(frozen=True)
class TooLarge:
    message: str


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
    wall_seconds: float = 0.0
    returncode: int | None = None
    sandbox: dict[str, Any] | None = None  # what confinement the child managed (Landlock…)
    structure: Structure | None = None  # the nn.Modules the code left behind
    graph: AutogradGraph | None = None  # the autograd graph of its loss (or chosen tensor)

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
    )
    return env


class ColdRunner(Runner):
    """One fresh interpreter per run: slow (imports torch every time) but simple and robust."""

    def __init__(self, python: str | None = None, *, startup_timeout: float = STARTUP_TIMEOUT):
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout

    def start(self, request: RunRequest) -> RunHandle:
        tmpdir = tempfile.mkdtemp(prefix="pttutor-run-")
        job = {
            "code": request.code,
            "setup": request.setup,
            "exprs": list(dict.fromkeys(request.exprs)),
            "device": request.device,
            "seed": request.seed,
            "threads": request.threads,
            "result_budget": RESULT_BUDGET,
            "limits": child_limits(request, startup=self.startup_timeout),
            "inspect": request.inspect_job(),
        }
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
    """Reads length-prefixed frames from the result pipe into a queue; None marks the end."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.file = os.fdopen(fd, "rb", buffering=0)
        self.frames: queue.Queue[bytes | None] = queue.Queue()

    def _read_exactly(self, n: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = self.file.read(min(n - len(chunks), 1 << 20))
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)

    def run(self) -> None:
        try:
            while (head := self._read_exactly(8)) is not None:
                (size,) = struct.unpack(">Q", head)
                if size > MAX_FRAME:
                    break
                body = self._read_exactly(size)
                if body is None:
                    break
                self.frames.put(body)
        except OSError:
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

    def _next_frame(self, deadline: float) -> bytes | None:
        """The next frame, or None at the end of the pipe; raises queue.Empty at the deadline."""
        assert self.frames is not None
        return self.frames.frames.get(timeout=max(0.0, deadline - time.monotonic()))

    def _collect(self) -> RunResult:
        self.phase = "starting"
        failed = self._dispatch(time.monotonic() + self.startup_timeout)
        if failed is not None:
            return failed
        self.phase = "running"
        message = self._message(time.monotonic() + self.request.timeout, "result")
        if isinstance(message, RunResult):
            return message
        blobs: list[bytes] = []
        for _size in message.get("blobs", []):
            try:
                blob = self._next_frame(time.monotonic() + 30)
            except queue.Empty:
                blob = None
            if blob is None:
                return self._ended_early("result")
            blobs.append(blob)
        return self._completed(message, blobs)

    def _message(self, deadline: float, event: str) -> dict[str, Any] | RunResult:
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
        try:
            message = json.loads(frame)
        except ValueError:
            return self._finish(Outcome.INTERNAL_ERROR, "the sandbox sent malformed data")
        if not isinstance(message, dict) or message.get("event") != event:
            return self._finish(Outcome.INTERNAL_ERROR, f"the sandbox sent no {event!r} message")
        return message

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

    def _completed(self, message: dict[str, Any], blobs: list[bytes]) -> RunResult:
        # The child closes its stdout/stderr before the last frame, so output is complete.
        result = self._finish(Outcome.COMPLETED, "", self._exit_code(self.completion_wait))
        result.torch_version = message.get("torch")
        result.device = message.get("device")
        result.device_name = message.get("device_name")
        result.code_seconds = message.get("code_seconds")
        result.sandbox = message.get("sandbox")
        if "internal_error" in message:
            result.outcome = Outcome.INTERNAL_ERROR
            result.detail = message["internal_error"]
            return result
        if "device_error" in message:
            result.outcome = Outcome.DEVICE_UNAVAILABLE
            result.detail = message["device_error"]
            return result
        if "setup_error" in message:
            result.outcome = Outcome.SETUP_ERROR
            error = ExceptionInfo.from_json(message["setup_error"])
            result.detail = (
                f"the exercise's setup code failed ({error.headline()}); this is a bug in the "
                f"lesson, not in your code\n{message['setup_error'].get('traceback', '')}"
            )
            return result
        if message.get("exception"):
            result.exception = ExceptionInfo.from_json(message["exception"])
        result.structure, result.graph = decode_inspect(message.get("inspect"))
        try:
            result.values = {
                expr: _decode_entry(entry, blobs)
                for expr, entry in message.get("values", {}).items()
            }
        except DecodeError as exc:
            result.outcome = Outcome.INTERNAL_ERROR
            result.detail = str(exc)
            return result
        too_large = [v for v in result.values.values() if isinstance(v, TooLarge)]
        if too_large:
            result.outcome = Outcome.RESULT_TOO_LARGE
            result.detail = too_large[0].message
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


def _decode_entry(entry: dict[str, Any], blobs: list[bytes]) -> Any:
    if "error" in entry:
        return EvalError(ExceptionInfo.from_json(entry["error"]))
    if "too_large" in entry:
        return TooLarge(entry["too_large"])
    return decode(entry["value"], blobs)


def _signal_name(sig: int) -> str:
    try:
        return f"{signal.Signals(sig).name} (signal {sig})"
    except ValueError:
        return f"signal {sig}"
