"""The warm pool: a zygote that imported torch forks ready-to-run spares, one per run.

A cold interpreter spends ~2 s importing torch before the learner's three lines run. Here a
long-lived zygote (`child.py --zygote`) imports torch once and forks a *spare* per request; the
spare warms up on its device (a tiny forward and backward), connects to this process's Unix
socket and waits. A run takes a ready spare, hands it the job plus the write ends of fresh
stdout/stderr pipes (SCM_RIGHTS), and a new spare is forked at once for the next run.

Where fork after importing torch is unsafe (macOS) or missing, spares are fresh interpreters
(`child.py --spare`) started ahead of time instead: slower to refill, same protocol.
If the zygote dies, the next run restarts it. The zygote and every spare die with this process.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .probe import InterpreterInfo
from .runner import (
    CHILD_SCRIPT,
    RESULT_BUDGET,
    STARTUP_TIMEOUT,
    Outcome,
    RunCollector,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
    child_environment,
    child_limits,
)

HELLO_TIMEOUT = 60.0  # a connected spare must introduce itself within this


@dataclass
class _Spare:
    sock: socket.socket
    pid: int
    wanted: str
    device: str | None
    workdir: str | None = None  # the spare's private directory: the run's cwd and HOME
    popen: subprocess.Popen[bytes] | None = None  # set for spawned (not forked) spares


@dataclass
class _PoolState:
    ready: dict[str, collections.deque[_Spare]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    pending: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: dict[str, str] = field(default_factory=dict)  # device -> why spares cannot start
    exit_codes: dict[int, int] = field(default_factory=dict)


def _send_frame(sock: socket.socket, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode("utf-8")
    sock.sendall(struct.pack(">Q", len(data)) + data)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def _recv_frame(sock: socket.socket) -> dict[str, Any]:
    (size,) = struct.unpack(">Q", _recv_exactly(sock, 8))
    if size > 2**20:
        raise ValueError("oversized hello")
    message = json.loads(_recv_exactly(sock, size))
    if not isinstance(message, dict):
        raise ValueError("malformed hello")
    return message


class WarmRunner(Runner):
    """Runs snippets in pre-forked, pre-warmed children: a verdict in milliseconds."""

    def __init__(
        self,
        python: str | None = None,
        *,
        spares: int = 2,
        startup_timeout: float = STARTUP_TIMEOUT,
        fork: bool | None = None,
    ) -> None:
        self.python = python or sys.executable
        self.spares = max(1, spares)
        self.startup_timeout = startup_timeout
        self.fork = sys.platform.startswith("linux") if fork is None else fork
        self._cond = threading.Condition()
        self._state = _PoolState()
        self._dir: str | None = None
        self._listener: socket.socket | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._zygote_stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._ctl: socket.socket | None = None
        self._info: dict[str, Any] | None = None
        self._closed = False
        self._generation = 0
        self._devices: set[str] = set()  # every device asked for: kept topped up
        self._spawned: dict[int, subprocess.Popen[bytes]] = {}  # spawn mode: pid -> process
        self._stderr_done = False

    # -- public ----------------------------------------------------------------------------

    def warm_up(self, device: str = "cpu") -> None:
        """Start the zygote and a spare for `device` in the background; returns at once."""
        threading.Thread(target=self._warm, args=(device,), daemon=True).start()

    def start(self, request: RunRequest) -> RunHandle:
        return _SpareRun(self, request)

    def info(self, timeout: float = 0.0) -> dict[str, Any] | None:
        """What the zygote reported (torch version, CUDA), once it is up."""
        with self._cond:
            self._cond.wait_for(lambda: self._info is not None or self._closed, timeout=timeout)
            return self._info

    def interpreter_info(self, timeout: float = STARTUP_TIMEOUT) -> InterpreterInfo:
        """What the sandbox interpreter has, from the zygote (no extra torch import)."""
        with self._cond, contextlib.suppress(OSError, RuntimeError):
            self._ensure_started()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.info(timeout=0.2)
            if info is not None:
                return InterpreterInfo(
                    python=self.python,
                    python_version=info.get("python"),
                    torch_version=info.get("torch"),
                    cuda_build=info.get("cuda_build"),
                    cuda_available=bool(info.get("cuda")),
                    device_name=info.get("device_name"),
                )
            zygote = self._zygote
            if zygote is not None and zygote.poll() is not None and self._stderr_done:
                last = self._zygote_stderr[-1] if self._zygote_stderr else "no output"
                return InterpreterInfo(
                    self.python,
                    error=f"{self.python} cannot start PyTorch ({last}); "
                    "install torch there or pass --python",
                )
        return InterpreterInfo(self.python, error=f"{self.python} did not start PyTorch in time")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            spares = [s for q in self._state.ready.values() for s in q]
            self._state = _PoolState()
            self._cond.notify_all()
        for spare in spares:
            _kill_spare(spare)
        self._stop_zygote()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    # -- starting ---------------------------------------------------------------------------

    def _concrete(self, device: str) -> str:
        """'auto' becomes cuda or cpu once the zygote has said whether it sees a GPU, so that
        'auto' runs and runs on the resolved device share one supply of spares."""
        if device == "auto" and self._info is not None:
            return "cuda" if self._info.get("cuda") else "cpu"
        return device

    def _warm(self, device: str) -> None:
        with contextlib.suppress(Exception), self._cond:
            device = self._concrete(device)
            self._devices.add(device)
            self._ensure_started()
            self._top_up(device)

    def _ensure_started(self) -> None:
        """Under the lock: the listener exists and, in fork mode, a zygote is (re)starting."""
        if self._closed:
            raise RuntimeError("the runner is closed")
        if self._listener is None:
            self._dir = tempfile.mkdtemp(prefix="pttutor-pool-")
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(os.path.join(self._dir, "s"))
            self._listener.listen(64)
            threading.Thread(target=self._accept_loop, daemon=True).start()
        if self.fork and (self._zygote is None or self._zygote.poll() is not None):
            self._start_zygote()

    @property
    def _sock_path(self) -> str:
        assert self._dir is not None
        return os.path.join(self._dir, "s")

    def _start_zygote(self) -> None:
        self._generation += 1
        self._ctl = None
        self._info = None
        self._state.pending.clear()
        self._state.failed.clear()
        self._zygote_stderr.clear()
        self._stderr_done = False
        assert self._dir is not None
        self._zygote = self._start_child(["--zygote", self._sock_path], stderr=subprocess.PIPE)
        threading.Thread(target=self._drain_stderr, args=(self._zygote,), daemon=True).start()

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._zygote_stderr.append(raw.decode("utf-8", "replace").rstrip())
        with self._cond:
            if proc is self._zygote:
                self._stderr_done = True
            self._cond.notify_all()

    def _stop_zygote(self) -> None:
        proc = self._zygote
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.close()

    def _top_up(self, device: str) -> None:
        """Under the lock: ask for spares until `self.spares` are ready or coming."""
        state = self._state
        if device in state.failed:
            return
        while len(state.ready[device]) + state.pending[device] < self.spares:
            if self.fork:
                if self._ctl is None:
                    return  # asked for as soon as the zygote connects
                try:
                    _send_frame(self._ctl, {"cmd": "spare", "device": device})
                except OSError:
                    return
            else:
                self._spawn_spare(device)
            state.pending[device] += 1

    def _start_child(self, args: list[str], stderr: int) -> subprocess.Popen[bytes]:
        """`child.py` in the sandbox interpreter, in its own session, in the pool's directory."""
        assert self._dir is not None
        return subprocess.Popen(
            [self.python, "-I", "-u", str(CHILD_SCRIPT), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=self._dir,
            env=child_environment(self._dir),
            start_new_session=True,
        )

    def _spawn_spare(self, device: str) -> None:
        proc = self._start_child(["--spare", self._sock_path, device], stderr=subprocess.DEVNULL)
        self._spawned[proc.pid] = proc

    # -- connections ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._closed:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._greet, args=(conn,), daemon=True).start()

    def _greet(self, conn: socket.socket) -> None:
        conn.settimeout(HELLO_TIMEOUT)
        try:
            hello = _recv_frame(conn)
        except (OSError, EOFError, ValueError):
            conn.close()
            return
        conn.settimeout(None)
        if hello.get("event") == "zygote":
            self._zygote_connected(conn, hello)
        elif hello.get("event") == "spare":
            self._spare_connected(conn, hello)
        else:
            conn.close()

    def _zygote_connected(self, conn: socket.socket, info: dict[str, Any]) -> None:
        with self._cond:
            if self._zygote is None or info.get("pid") != self._zygote.pid:
                conn.close()  # a stale or impostor zygote
                return
            self._ctl = conn
            self._info = info
            generation = self._generation
            self._devices = {self._concrete(d) for d in self._devices}
            for device in self._devices:
                self._top_up(device)
            self._cond.notify_all()
        threading.Thread(target=self._control_loop, args=(conn, generation), daemon=True).start()

    def _control_loop(self, conn: socket.socket, generation: int) -> None:
        """Exit statuses from the zygote; EOF means it died and the next run restarts it."""
        while True:
            try:
                event = _recv_frame(conn)
            except (OSError, EOFError, ValueError):
                break
            if event.get("event") == "exit":
                with self._cond:
                    self._state.exit_codes[int(event["pid"])] = int(event["code"])
                    if len(self._state.exit_codes) > 1000:
                        self._state.exit_codes.pop(next(iter(self._state.exit_codes)))
                    self._cond.notify_all()
        with self._cond:
            if generation == self._generation:
                # Its spares die with it (PDEATHSIG): forget them; the next run restarts it.
                self._ctl = None
                self._state.pending.clear()
                for queue in self._state.ready.values():
                    while queue:
                        _kill_spare(queue.popleft())
            self._cond.notify_all()

    def _spare_connected(self, conn: socket.socket, hello: dict[str, Any]) -> None:
        wanted = str(hello.get("wanted", "cpu"))
        spare = _Spare(
            conn, int(hello.get("pid", 0)), wanted, hello.get("device"), hello.get("workdir")
        )
        with self._cond:
            spare.popen = self._spawned.pop(spare.pid, None)
            if self._state.pending[wanted] > 0:
                self._state.pending[wanted] -= 1
            if "error" in hello:
                self._state.failed[wanted] = str(hello["error"])
                conn.close()
            elif self._closed:
                _kill_spare(spare)
            else:
                self._state.ready[wanted].append(spare)
            self._cond.notify_all()

    # -- taking a spare ---------------------------------------------------------------------

    def take(self, device: str, deadline: float, stopped: Any) -> _Spare | RunResult:
        """A ready spare for `device`, or a RunResult saying why there is none."""
        with self._cond:
            if device == "auto" and self._info is None:  # learn what auto means first
                self._ensure_started()
                self._cond.wait_for(
                    lambda: self._info is not None or self._closed or self._zygote_gone(),
                    timeout=max(0.0, deadline - time.monotonic()),
                )
            device = self._concrete(device)
            self._devices.add(device)
            return self._take_locked(device, deadline, stopped)

    def _zygote_gone(self) -> bool:
        return not self.fork or self._zygote is None or self._zygote.poll() is not None

    def _take_locked(self, device: str, deadline: float, stopped: Any) -> _Spare | RunResult:
        state = self._state
        while True:
            if stopped():
                return RunResult(Outcome.CANCELLED, detail="the run was cancelled")
            if self._closed:
                return RunResult(Outcome.INTERNAL_ERROR, detail="the runner was closed")
            if device in state.failed:
                return RunResult(Outcome.DEVICE_UNAVAILABLE, detail=state.failed.pop(device))
            queue = state.ready[device]
            if self.fork and self._zygote is not None and self._zygote.poll() is not None:
                while queue:  # its spares are dying with it (PDEATHSIG)
                    _kill_spare(queue.popleft())
            while queue:
                spare = queue.popleft()
                if _alive(spare):
                    return spare  # the replacement is forked once this run is over
                _kill_spare(spare)
            zygote = self._zygote
            zygote_died = self.fork and zygote is not None and zygote.poll() is not None
            if zygote_died and self._info is None:  # it died before connecting: no torch
                assert zygote is not None
                if not self._stderr_done:
                    self._cond.wait(timeout=0.2)  # let its last words arrive
                    continue
                last = self._zygote_stderr[-1] if self._zygote_stderr else ""
                self._zygote = None  # the next run tries again
                return RunResult(
                    Outcome.INTERNAL_ERROR,
                    detail=f"the sandbox interpreter {self.python} could not start PyTorch: "
                    f"{last or f'exit code {zygote.returncode}'}",
                )
            # A zygote that died after starting (killed, crashed) is restarted just below.
            try:
                self._ensure_started()
            except (OSError, RuntimeError) as exc:
                return RunResult(
                    Outcome.INTERNAL_ERROR,
                    detail=f"cannot start the sandbox interpreter {self.python}: {exc}",
                )
            self._top_up(device)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return RunResult(
                    Outcome.INTERNAL_ERROR,
                    detail=f"the sandbox interpreter did not start PyTorch within "
                    f"{self.startup_timeout:.0f} s",
                )
            self._cond.wait(timeout=min(remaining, 0.2))

    def replenish(self, device: str) -> None:
        """Fork the next spare for `device` (after a run, so it does not compete with it)."""
        with self._cond:
            if not self._closed:
                self._top_up(self._concrete(device))

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        """The exit status the zygote reported for `pid` (None if unknown or the zygote died)."""
        with self._cond:
            self._cond.wait_for(
                lambda: pid in self._state.exit_codes or self._ctl is None, timeout=timeout
            )
            return self._state.exit_codes.get(pid)


def _alive(spare: _Spare) -> bool:
    try:
        os.kill(spare.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return spare.popen is None or spare.popen.poll() is None


def _kill_spare(spare: _Spare) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(spare.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        spare.sock.close()
    if spare.workdir:
        shutil.rmtree(spare.workdir, ignore_errors=True)
    if spare.popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spare.popen.wait(timeout=5)


class _SpareRun(RunCollector):
    """One run in a warm spare: the job goes over the socket, results come back on it."""

    completion_wait = 0.0  # report as soon as the result is read; the zygote reaps later

    def __init__(self, pool: WarmRunner, request: RunRequest) -> None:
        super().__init__(request, pool.startup_timeout)
        self.pool = pool
        self.spare: _Spare | None = None
        self.tmpdir: str | None = None
        self._zygote_pid: int | None = None

    def _collect(self) -> RunResult:
        result = super()._collect()
        if result.outcome is Outcome.CRASHED and not self.stopped and self._zygote_died():
            # The spare died with its zygote, not because of the job: run it once more.
            self._kill()
            self._release()
            self.spare = self.tmpdir = None
            self.stdout = self.stderr = self.frames = None
            result = super()._collect()
        return result

    def _zygote_died(self) -> bool:
        zygote = self.pool._zygote
        return self.pool.fork and (
            zygote is None or zygote.poll() is not None or zygote.pid != self._zygote_pid
        )

    def _dispatch(self, deadline: float) -> RunResult | None:
        taken = self.pool.take(self.request.device, deadline, lambda: self.stopped)
        if isinstance(taken, RunResult):
            return taken
        zygote = self.pool._zygote
        self._zygote_pid = zygote.pid if zygote is not None else None
        self.spare = taken
        if self.stopped:  # cancelled between taking and sending
            return self._stopped_result()
        self.tmpdir = taken.workdir
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        job = {
            "code": self.request.code,
            "setup": self.request.setup,
            "exprs": list(dict.fromkeys(self.request.exprs)),
            "device": self.request.device,
            "seed": self.request.seed,
            "threads": self.request.threads,
            "result_budget": RESULT_BUDGET,
            "limits": child_limits(self.request, startup=0),
            "inspect": self.request.inspect_job(),
        }
        try:
            socket.send_fds(taken.sock, [b"J"], [out_w, err_w])
            data = json.dumps(job).encode("utf-8")
            taken.sock.sendall(struct.pack(">Q", len(data)) + data)
        except OSError as exc:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            return RunResult(Outcome.CRASHED, detail=f"the sandbox process went away ({exc})")
        finally:
            with contextlib.suppress(OSError):
                os.close(out_w)
                os.close(err_w)
        self._attach(os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"), taken.sock.detach())
        return None

    def _kill(self) -> None:
        if self.spare is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.spare.pid, signal.SIGKILL)

    def _exit_code(self, timeout: float) -> int | None:
        spare = self.spare
        if spare is None:
            return None
        if spare.popen is not None:
            try:
                return spare.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        return self.pool.wait_exit(spare.pid, timeout)

    def _release(self) -> None:
        self.pool.replenish(self.request.device)
        if self.spare is not None and self.spare.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.spare.popen.wait(timeout=5)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
