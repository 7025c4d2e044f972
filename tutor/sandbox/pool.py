"""The warm pool: a zygote that imported torch forks ready-to-run spares, one per run.

A cold interpreter spends ~2 s importing torch before the learner's three lines run. Here a
long-lived zygote (`child --zygote FD`) imports torch once and forks a *spare* per request; the
spare isolates and confines itself, warms up on its device (a tiny forward, backward and
optimizer step) and says hello. A run takes a ready spare, hands it the job plus the write ends
of fresh stdout/stderr pipes (SCM_RIGHTS), and a new spare is forked at once for the next run.

Trust: learner code runs in the spares, so nothing a spare says is believed about anything but
its own run. Every channel is created here and inherited, never looked up by name: the zygote
gets one end of a socketpair when it starts, and each spare request carries one end of a fresh
socketpair, so no process can introduce itself as a spare or a zygote. The parent makes each
spare's work directory itself, learns each spare's id only from the zygote (which runs no
learner code; the id is a pid, or a number above any pid for a run in one of its namespace
hosts), and asks the zygote to end spares: it deletes and signals only what it created.

Where fork after importing torch is unsafe (macOS) or missing, spares are fresh interpreters
(`child --spare FD ...`) started ahead of time instead: slower to refill, same protocol.
If the zygote dies, the next run restarts it. The zygote and every spare die with this process.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
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
    STARTUP_TIMEOUT,
    Outcome,
    RunCollector,
    RunHandle,
    Runner,
    RunRequest,
    RunResult,
    child_environment,
    job_for,
)

HELLO_TIMEOUT = 120.0  # a spare must introduce itself within this (warm-up on a busy machine)
MAX_HELLO = 2**20  # bytes of a spare's hello or a zygote event
DISPATCH_TRIES = 3  # spares tried when one is gone before it got the job


@dataclass(eq=False)
class _Spare:
    id: int
    sock: socket.socket  # this process's end of the spare's socketpair
    wanted: str
    workdir: str  # made here; the run's cwd and HOME where there are no namespaces
    # The zygote's id for it (a pid, or a run id in a host) or Popen's pid (spawn); never its own
    pid: int | None = None
    popen: subprocess.Popen[bytes] | None = None  # set for spawned (not forked) spares
    hello: dict[str, Any] | None = None
    generation: int = 0
    warm: bool = True  # forked after the zygote's warm imports (it says so when it forks)


@dataclass
class _PoolState:
    ready: dict[str, collections.deque[_Spare]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    pending: dict[int, _Spare] = field(default_factory=dict)  # asked for, not ready yet
    failed: dict[str, str] = field(default_factory=dict)  # device -> why spares cannot start
    exit_codes: dict[int, int] = field(default_factory=dict)
    dead: set[int] = field(default_factory=set)  # spare pids the zygote saw exit


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def _recv_hello(sock: socket.socket) -> dict[str, Any]:
    (size,) = struct.unpack(">Q", _recv_exactly(sock, 8))
    if size > MAX_HELLO:
        raise ValueError("oversized hello")
    message = json.loads(_recv_exactly(sock, size))
    if not isinstance(message, dict) or message.get("event") != "spare":
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
        namespaces: bool = True,
        batch: bool = False,
    ) -> None:
        self.python = python or sys.executable
        # A learner's pool (batch=False) is ready soon and hides costs in idle time: spares as
        # soon as torch is in (a run in that first second pays the warm imports itself), and
        # each spare warms up before it says ready. A batch (verify, grade) runs back to back
        # and pays every cost: its spares come only after the zygote's warm imports, so that no
        # run pays them, and skip the warm-up, which costs more CPU than it saves the run.
        self.batch = batch
        self.spares = max(1, spares)
        self.startup_timeout = startup_timeout
        self.fork = sys.platform.startswith("linux") if fork is None else fork
        self.namespaces = namespaces  # tried where the kernel allows them; False: never
        self._cond = threading.Condition()
        self._state = _PoolState()
        self._dir: str | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._zygote_stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._ctl: socket.socket | None = None
        self._info: dict[str, Any] | None = None
        self._closed = False
        self._generation = 0
        self._warmed = False  # the zygote finished its warm imports: older spares are replaced
        self._ids = itertools.count(1)
        self._devices: set[str] = set()  # every device asked for: kept topped up
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

    def ready(self, device: str = "cpu", count: int = 1) -> bool:
        """True when `count` runs on `device` would start at once: that many spares wait."""
        with self._cond:
            return len(self._state.ready.get(self._concrete(device), ())) >= count

    def wait_ready(
        self, device: str = "cpu", count: int = 1, timeout: float = STARTUP_TIMEOUT
    ) -> bool:
        """Wait until `ready(device, count)`; False when the pool closed, the device cannot
        start spares, or the time ran out. Used to say "ready" only when a run starts at once."""
        self.warm_up(device)

        def settled() -> bool:
            concrete = self._concrete(device)
            return (
                self._closed
                or concrete in self._state.failed
                or len(self._state.ready.get(concrete, ())) >= count
            )

        with self._cond:
            self._cond.wait_for(settled, timeout=timeout)
            return len(self._state.ready.get(self._concrete(device), ())) >= count

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
            spares += list(self._state.pending.values())
            self._state = _PoolState()
            self._cond.notify_all()
        for spare in spares:
            self.discard(spare)
        self._stop_zygote()
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
        """Under the lock: the pool directory exists and, in fork mode, a zygote is starting."""
        if self._closed:
            raise RuntimeError("the runner is closed")
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="pttutor-pool-")
        if self.fork and (self._zygote is None or self._zygote.poll() is not None):
            self._start_zygote()

    def _start_zygote(self) -> None:
        self._generation += 1
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.close()
        self._ctl = None
        self._info = None
        self._warmed = False
        for spare in self._state.pending.values():
            self._drop_files(spare)
        self._state.pending.clear()
        self._state.failed.clear()
        self._zygote_stderr.clear()
        self._stderr_done = False
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        args = ["--zygote", str(theirs.fileno())]
        if not self.namespaces:
            args.append("--no-namespaces")
        try:
            self._zygote = self._start_child(args, subprocess.PIPE, pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        generation = self._generation
        threading.Thread(target=self._drain_stderr, args=(self._zygote,), daemon=True).start()
        threading.Thread(target=self._control_loop, args=(ours, generation), daemon=True).start()

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._zygote_stderr.append(raw.decode("utf-8", "replace").rstrip())
        with self._cond:
            if proc is self._zygote:
                self._stderr_done = True
            self._cond.notify_all()

    def _stop_zygote(self) -> None:
        """Closing the control socket tells the zygote to kill its spares, sweep and exit."""
        proc = self._zygote
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.close()
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # we started it in its own session
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)

    def _top_up(self, device: str) -> None:
        """Under the lock: ask for spares until `self.spares` are ready or coming."""
        state = self._state
        if device in state.failed:
            return
        coming = sum(1 for s in state.pending.values() if s.wanted == device)
        while len(state.ready[device]) + coming < self.spares:
            if self.fork and self._ctl is None:
                return  # asked for as soon as the zygote connects
            if self.fork and self.batch and not self._warmed:
                return  # asked for when the zygote says its warm imports are done
            if not self._request_spare(device):
                return
            coming += 1

    def _request_spare(self, device: str) -> bool:
        """Under the lock: a fresh socketpair and work directory, handed to a new spare."""
        assert self._dir is not None
        workdir = tempfile.mkdtemp(prefix="run-", dir=self._dir)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spare = _Spare(next(self._ids), ours, device, workdir, generation=self._generation)
        try:
            if self.fork:
                assert self._ctl is not None
                command = {
                    "cmd": "spare",
                    "device": device,
                    "workdir": workdir,
                    "id": spare.id,
                    "warm_up": not self.batch,
                }
                socket.send_fds(self._ctl, [json.dumps(command).encode()], [theirs.fileno()])
            else:
                args = ["--spare", str(theirs.fileno()), device, workdir]
                args += [] if self.batch else ["--warm-up"]
                spare.popen = self._start_child(args, subprocess.DEVNULL, (theirs.fileno(),))
                spare.pid = spare.popen.pid
        except OSError:
            self._drop_files(spare)
            return False
        finally:
            theirs.close()
        self._state.pending[spare.id] = spare
        threading.Thread(target=self._await_hello, args=(spare,), daemon=True).start()
        return True

    def _start_child(
        self, args: list[str], stderr: int, pass_fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        """The child script in the sandbox interpreter, in its own session, in the pool dir."""
        assert self._dir is not None
        return subprocess.Popen(
            [self.python, "-I", "-u", str(CHILD_SCRIPT), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=self._dir,
            env=child_environment(self._dir),
            start_new_session=True,
            pass_fds=pass_fds,
        )

    # -- what the zygote and the spares say -------------------------------------------------

    def _control_loop(self, conn: socket.socket, generation: int) -> None:
        """The zygote's events: its info, each spare's pid, exit statuses. EOF: it died."""
        while True:
            try:
                data = conn.recv(MAX_HELLO)
            except OSError:
                break
            if not data:
                break
            try:
                event = json.loads(data)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._zygote_event(conn, event, generation)
        with self._cond:
            if generation == self._generation:
                # Its spares die with it (PDEATHSIG): forget them; the next run restarts it.
                self._ctl = None
                for spare in list(self._state.pending.values()):
                    self._drop_files(spare)
                self._state.pending.clear()
                for queue in self._state.ready.values():
                    while queue:
                        self._drop_files(queue.popleft())
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            conn.close()

    def _zygote_event(self, conn: socket.socket, event: dict[str, Any], generation: int) -> None:
        kind = event.get("event")
        with self._cond:
            if generation != self._generation:
                return
            if kind == "zygote" and self._info is None:
                assert self._zygote is not None
                self._ctl = conn
                self._info = {**event, "pid": self._zygote.pid}  # the pid we started, not a claim
                self._devices = {self._concrete(d) for d in self._devices}
                for device in self._devices:
                    self._top_up(device)
            elif kind == "forked":
                spare = self._state.pending.get(event.get("id"))  # type: ignore[arg-type]
                pid = event.get("pid")
                if spare is not None and isinstance(pid, int) and pid > 0:
                    spare.pid = pid
                    spare.warm = event.get("warm") is not False
                    self._maybe_ready(spare)
            elif kind == "warmed":
                self._warmed = True
                for device, queue in self._state.ready.items():
                    for spare in [s for s in queue if not s.warm]:
                        queue.remove(spare)
                        self.discard(spare)
                    self._top_up(device)
            elif kind == "exit":
                pid, code = event.get("pid"), event.get("code")
                if isinstance(pid, int) and isinstance(code, int):
                    self._state.exit_codes[pid] = code
                    self._state.dead.add(pid)
                    while len(self._state.exit_codes) > 1000:
                        self._state.exit_codes.pop(next(iter(self._state.exit_codes)))
                    if len(self._state.dead) > 1000:
                        self._state.dead = set(self._state.exit_codes)
            self._cond.notify_all()

    def _await_hello(self, spare: _Spare) -> None:
        try:
            spare.sock.settimeout(HELLO_TIMEOUT)
            hello = _recv_hello(spare.sock)
        except (OSError, EOFError, ValueError, struct.error):
            hello = None
        with contextlib.suppress(OSError):
            spare.sock.settimeout(None)
        with self._cond:
            if self._state.pending.get(spare.id) is not spare:
                self._drop_files(spare)  # forgotten meanwhile (zygote restart, close)
            elif hello is None:
                del self._state.pending[spare.id]
                self.discard(spare)
            elif "error" in hello:
                del self._state.pending[spare.id]
                self._state.failed[spare.wanted] = str(hello["error"])[:2000]
                self.discard(spare)
            else:
                spare.hello = hello
                self._maybe_ready(spare)
            self._cond.notify_all()

    def _maybe_ready(self, spare: _Spare) -> None:
        """Under the lock: a spare is ready once it said hello and its pid is known."""
        if spare.hello is None or spare.pid is None:
            return
        if self._state.pending.pop(spare.id, None) is None:
            return
        if self._closed:
            self.discard(spare)
        elif self._warmed and not spare.warm:  # made before the warm imports: make a new one
            self.discard(spare)
            self._top_up(spare.wanted)
        else:
            self._state.ready[spare.wanted].append(spare)

    # -- taking a spare ---------------------------------------------------------------------

    def take(self, device: str, deadline: float, stopped: Any) -> _Spare | RunResult:
        """A ready spare for `device`, or a RunResult saying why there is none."""
        with self._cond:
            if device == "auto" and self._info is None:  # learn what auto means first
                with contextlib.suppress(OSError, RuntimeError):
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

    def _usable(self, spare: _Spare) -> bool:
        if spare.generation != self._generation or spare.pid in self._state.dead:
            return False
        return spare.popen is None or spare.popen.poll() is None

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
            while queue:
                spare = queue.popleft()
                if self._usable(spare):
                    return spare  # the replacement is forked once this run is over
                self.discard(spare)
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
                with contextlib.suppress(OSError, RuntimeError):
                    self._top_up(self._concrete(device))

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        """The exit status the zygote reported for `pid` (None if unknown or the zygote died)."""
        with self._cond:
            self._cond.wait_for(
                lambda: pid in self._state.exit_codes or self._ctl is None, timeout=timeout
            )
            return self._state.exit_codes.get(pid)

    def kill(self, spare: _Spare) -> None:
        """End a spare and everything its run started: through the zygote, which knows its
        own children, or directly for a spare this process spawned itself."""
        if spare.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(spare.popen.pid, signal.SIGKILL)  # its own session, started here
            return
        ctl = self._ctl
        if ctl is None or spare.pid is None or spare.generation != self._generation:
            return  # its zygote is gone, and it died with it
        with contextlib.suppress(OSError):
            ctl.send(json.dumps({"cmd": "kill", "pid": spare.pid}).encode())

    def discard(self, spare: _Spare) -> None:
        """Kill a spare and remove what was made for it."""
        self.kill(spare)
        self._drop_files(spare)
        if spare.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spare.popen.wait(timeout=5)

    def _drop_files(self, spare: _Spare) -> None:
        with contextlib.suppress(OSError):
            spare.sock.close()
        shutil.rmtree(spare.workdir, ignore_errors=True)


class _SpareRun(RunCollector):
    """One run in a warm spare: the job goes over the socket, results come back on it."""

    completion_wait = 0.0  # report as soon as the result is read; the zygote reaps later

    def __init__(self, pool: WarmRunner, request: RunRequest) -> None:
        super().__init__(request, pool.startup_timeout)
        self.pool = pool
        self.spare: _Spare | None = None
        self._zygote_pid: int | None = None

    def _collect(self) -> RunResult:
        result = super()._collect()
        if result.outcome is Outcome.CRASHED and not self.stopped and self._zygote_died():
            # The spare died with its zygote, not because of the job: run it once more.
            self._kill()
            self._release()
            self.spare = None
            self.stdout = self.stderr = self.frames = None
            result = super()._collect()
        return result

    def _zygote_died(self) -> bool:
        zygote = self.pool._zygote
        return self.pool.fork and (
            zygote is None or zygote.poll() is not None or zygote.pid != self._zygote_pid
        )

    def _dispatch(self, deadline: float) -> RunResult | None:
        job = json.dumps(job_for(self.request, startup=0)).encode("utf-8")
        for _ in range(DISPATCH_TRIES):
            taken = self.pool.take(self.request.device, deadline, lambda: self.stopped)
            if isinstance(taken, RunResult):
                return taken
            zygote = self.pool._zygote
            self._zygote_pid = zygote.pid if zygote is not None else None
            self.spare = taken
            if self.stopped:  # cancelled between taking and sending
                return self._stopped_result()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            try:
                socket.send_fds(taken.sock, [b"J"], [out_w, err_w])
                taken.sock.sendall(struct.pack(">Q", len(job)) + job)
            except OSError:
                # Gone before it got the job (it died with its zygote, or was killed): the
                # learner's code never ran, so another spare may run it.
                for fd in (out_r, err_r):
                    os.close(fd)
                self.pool.discard(taken)
                self.spare = None
                continue
            finally:
                os.close(out_w)
                os.close(err_w)
            self._attach(os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"), taken.sock.detach())
            return None
        return RunResult(Outcome.CRASHED, detail="no sandbox process could take the run")

    def _kill(self) -> None:
        if self.spare is not None:
            self.pool.kill(self.spare)

    def _exit_code(self, timeout: float) -> int | None:
        spare = self.spare
        if spare is None or spare.pid is None:
            return None
        if spare.popen is not None:
            try:
                return spare.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        return self.pool.wait_exit(spare.pid, timeout)

    def _release(self) -> None:
        self.pool.replenish(self.request.device)
        spare = self.spare
        if spare is not None:
            if spare.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    spare.popen.wait(timeout=5)
            shutil.rmtree(spare.workdir, ignore_errors=True)
