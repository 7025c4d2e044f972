"""The warm pool's side in the sandbox interpreter: a zygote that forks ready-to-run spares.

The zygote imports torch (and what torch imports lazily), then makes a spare per request. It
talks to the parent over an inherited SOCK_SEQPACKET socket that nothing else can reach; each
request carries the spare's own end of a fresh socketpair (SCM_RIGHTS) and the work directory the
parent made for it. The zygote reports each spare's id and how its run ended: the parent learns
them from here, never from a spare. The fork rules it follows: no CUDA context, no autograd and
one intra-op thread in the zygote; warm-up happens in the spare.

Where the kernel allows it, runs are isolated in namespaces at two levels. A host is made once
and serves one run after another: its first process (S) unshares user, PID, network, IPC and
mount namespaces and only waits; the first process inside (L, PID 1 of the host) mounts the
host's /proc, keeps no secrets a run could read (not dumpable) and forks each run's process
(R). R enters its own user, IPC and mount namespaces (a fresh /tmp and /dev/shm, /proc read-only),
confines itself, warms up and runs the job. When R ends, L kills every other process of the host
and reaps it before it tells the zygote how R ended and takes the next request; so a spare costs
one fork of a torch process, not three. Hosts made before the zygote finished its warm imports or
its huge pages are retired when it does (their runs would fork from the older memory).
Elsewhere the spare runs the job itself and the zygote, a subreaper, sweeps what escaped.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import select
import selectors
import signal
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from _ptt_boot import import_torch, warm_imports, warm_up
from _ptt_confine import (
    HOST_NAMESPACES,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_PDEATHSIG,
    RUN_NAMESPACES,
    _prctl,
    apply_limits,
    confine,
    drop_capabilities,
    enter_namespaces,
    host_mounts,
    process_count,
    read_plan,
    run_mounts,
)
from _ptt_hugepages import HugePages
from _ptt_job import _run_and_report, resolve_device
from _ptt_slips import prepare as prepare_slips
from _ptt_wire import FrameWriter, _read_frame

MAX_RUN_PROCESSES = 64  # processes one run may have at once (PID 1 included)
PROCESS_LIMIT_EXIT = 125  # a spare's exit code when its run went over MAX_RUN_PROCESSES
HOST_START_TIMEOUT = 10.0  # seconds a new host may take to say it is ready
RUN_IDS_FROM = 1 << 32  # ids of runs in hosts: above any pid, so never mistaken for one
END_GRACE = 3.0  # seconds a host may take to end a run it was asked to end
MAX_IDLE_HOSTS = 8  # hosts kept waiting for work beyond this are ended
PR_SET_DUMPABLE = 4
_END_TIMEOUT = 2.0  # seconds L waits for the processes it killed; after that the host ends


# -- a spare without a host ------------------------------------------------------------------


def spare_main(
    fd: int,
    wanted: str,
    workdir: str,
    torch: Any,
    np: Any,
    forked: bool,
    missing: list[str],
    warm: bool = True,
) -> None:
    """Where there are no namespaces: confine, warm up (unless told not to: a batch's runs
    come back to back, so the warm-up would only add to them), say so, run one job, exit."""
    gc.enable()  # off in the zygote while it imports: a run collects as any program does
    if forked:
        os.setsid()  # its own session and process group: the zygote kills the group
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the zygote
    isolation: dict[str, Any] = {"namespaces": False, "missing": list(missing)}
    _serve(socket.socket(fileno=fd), wanted, workdir, torch, np, isolation, warm)


# -- a host: namespaces made once, a run at a time ----------------------------------------------


def _host_main(sock: socket.socket, torch: Any, np: Any) -> None:
    """S: make the host's namespaces and its PID 1, then wait; or say why there are none."""
    os.setsid()  # the zygote ends a host by killing this process group
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    problem = enter_namespaces(HOST_NAMESPACES)
    if problem is not None:
        _tell(sock, {"event": "refused", "problem": problem})
        os._exit(0)
    init = os.fork()
    if init:  # S: outside the namespaces, runs nothing
        sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(init, 0)
        os._exit(0)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    missing = host_mounts()
    # No run may read or write this process's memory (/proc/1/mem, ptrace), whatever else it
    # manages: L outlives runs, so it must keep nothing of one for the next.
    _prctl(PR_SET_DUMPABLE, 0)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    _tell(sock, {"event": "host", "missing": missing})
    _host_loop(sock, torch, np, missing)


def _host_loop(sock: socket.socket, torch: Any, np: Any, missing: list[str]) -> None:
    """L, PID 1 of the host: for each request fork a run, watch it, end everything it left."""
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 65536, 1)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)  # the zygote is gone
        try:
            request = json.loads(data)
        except ValueError:
            request = {}
        if len(fds) != 1 or not isinstance(request, dict):
            for fd in fds:
                os.close(fd)
            continue
        run = os.fork()
        if run == 0:
            sock.close()
            _run_main(fds[0], request, torch, np, missing)
        os.close(fds[0])
        ended = _watch_run(run, sock)
        if not _end_run_processes():
            os._exit(0)  # something would not die: end the host, the kernel ends the rest
        _tell(sock, {"event": "exit", "status": ended})


def _watch_run(run: int, sock: socket.socket) -> int | str:
    """Reap what the run leaves to PID 1 and watch the process count; the run's wait status
    once it ends, or "nproc" when it had too many processes at once. A message from the
    zygote meanwhile means: end the run now (everything of it dies; its status says so)."""
    try:
        exited: int | None = os.pidfd_open(run)  # readable once the run ends
    except (AttributeError, OSError):
        exited = None  # an older kernel: look every 50 ms
    try:
        while True:
            if exited is None:
                signal.sigtimedwait([signal.SIGCHLD], 0.05)
                asked = bool(select.select([sock], [], [], 0)[0])
            else:
                asked = sock.fileno() in select.select([sock.fileno(), exited], [], [], 0.05)[0]
            if asked:
                try:
                    message = sock.recv(65536)
                except OSError:
                    message = b""
                if not message:
                    os._exit(0)  # the zygote is gone
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    return 0
                if pid == 0:
                    break
                if pid == run:
                    return status
            if process_count() > MAX_RUN_PROCESSES:
                return "nproc"
    finally:
        if exited is not None:
            os.close(exited)


def _end_run_processes() -> bool:
    """Kill every process of the host but this one and reap them; False if some would not go."""
    deadline = time.monotonic() + _END_TIMEOUT
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # from PID 1: all of this namespace but itself
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True  # nothing left
            if pid == 0:
                break
        if time.monotonic() > deadline:
            return False
        signal.sigtimedwait([signal.SIGCHLD], 0.01)


def _run_main(fd: int, request: dict[str, Any], torch: Any, np: Any, host: list[str]) -> None:
    """R: the run's own namespaces inside the host's, then serve the job."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
    _prctl(PR_SET_DUMPABLE, 1)  # its own /proc entries are its own again
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    gc.enable()
    sock = socket.socket(fileno=fd)
    wanted = str(request.get("device", "cpu"))
    iso: dict[str, Any] = {"namespaces": True, "missing": list(host)}
    problem = enter_namespaces(RUN_NAMESPACES)
    if problem is not None:
        # Without them this run would share /tmp and /dev/shm with the host's next runs.
        _refuse(sock, wanted, f"cannot isolate the run: {problem}")
    cuda = wanted == "cuda" or (wanted == "auto" and bool(torch.cuda.is_available()))
    iso["missing"].extend(run_mounts(cuda))
    try:
        _serve(sock, wanted, "/tmp", torch, np, iso, request.get("warm_up") is not False)
    finally:
        os._exit(0)


def _refuse(sock: socket.socket, wanted: str, why: str) -> None:
    FrameWriter(sock.fileno()).send_json({"event": "spare", "wanted": wanted, "error": why})
    os._exit(0)


def _serve(
    sock: socket.socket,
    wanted: str,
    workdir: str,
    torch: Any,
    np: Any,
    iso: dict[str, Any],
    warm: bool,
) -> None:
    import tempfile

    # Everything that asks for a temporary directory from now on (torch's caches among them)
    # must get the one place this process may write.
    os.chdir(workdir)
    tempfile.tempdir = workdir
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    out = FrameWriter(sock.fileno())
    hello: dict[str, Any] = {"event": "spare", "wanted": wanted}
    started = time.perf_counter()
    try:
        device, problem = resolve_device(torch, wanted)
        if problem is not None:
            hello["error"] = problem
        else:
            hello["device"] = device.type
            writable = [workdir, "/dev/shm"] if iso["namespaces"] else [workdir]
            # Confined before warming up, so no thread the warm-up starts escapes the rules.
            report = confine(writable, cuda=device.type == "cuda")
            report["namespaces"] = iso["namespaces"]
            report["missing"] = [*iso["missing"], *report["missing"]]
            report["capabilities"] = "dropped" if drop_capabilities() else "kept"
            hello["sandbox"] = report
            if warm:
                warm_up(torch, np, device)
            hello["warmed_up"] = warm
    except BaseException as exc:
        hello["error"] = f"warming up on {wanted} failed: {type(exc).__name__}: {exc}"
    hello["warm_seconds"] = time.perf_counter() - started
    out.send_json(hello)
    if "error" in hello:
        os._exit(0)
    _, fds, _, _ = socket.recv_fds(sock, 1, 2)
    received = time.perf_counter()
    job = json.loads(_read_frame(sock))
    job["received"] = received
    if len(fds) == 2:
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
    for fd in fds:
        os.close(fd)
    limits = dict(job.get("limits", {}))
    limits.setdefault("nproc", MAX_RUN_PROCESSES)
    if hello.get("device") == "cpu":
        # Shared mappings escape RLIMIT_DATA; the address space counts them. (CUDA maps far
        # more address space than it uses, so CUDA runs keep the data limit only.)
        limits.setdefault("address", limits.get("data"))
    apply_limits(limits)
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    job["sandbox"] = hello["sandbox"]
    _run_and_report(job, out, torch, np)


# -- the zygote ------------------------------------------------------------------------------


def zygote_main(ctl_fd: int, isolate: bool) -> None:
    """Import torch, then make a spare per request until the parent goes away."""
    # No PDEATHSIG here: it fires when the parent *thread* that started us ends, and the app
    # starts the pool from short-lived threads. The control socket's EOF tells us instead.
    started = time.perf_counter()
    gc.disable()  # imports make objects that all live on: collecting them finds nothing
    torch, np = import_torch(warm=False)  # the rest of the imports follow, between requests
    torch.set_num_threads(1)  # an OpenMP pool would not survive fork; spares set their own
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    read_plan()  # worked out once here, not in every spare
    ctl = socket.socket(fileno=ctl_fd)
    info: dict[str, Any] = {
        "event": "zygote",
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "cuda_build": torch.version.cuda,
        "cuda": bool(torch.cuda.is_available()),  # NVML-based: no CUDA context here
        "device_name": _nvml_device_name(),
        "import_seconds": time.perf_counter() - started,
        "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 0,
    }
    _tell(ctl, info)
    _Zygote(ctl, torch, np, isolate).serve()


class _Host:
    """The zygote's view of a host: S's pid (the process group it kills) and L's socket."""

    def __init__(self, pid: int, sock: socket.socket, epoch: int, warm: bool) -> None:
        self.pid = pid
        self.sock = sock
        self.epoch = epoch  # hosts of an older epoch fork from older memory: retired
        self.warm = warm  # made after the warm imports
        self.run: int | None = None  # the run it serves now (its spare, then its job)
        self.ending_since: float | None = None  # when the zygote asked it to end the run


class _Zygote:
    def __init__(self, ctl: socket.socket, torch: Any, np: Any, isolate: bool) -> None:
        self.ctl, self.torch, self.np = ctl, torch, np
        self.no_hosts: str | None = None if isolate else ""  # why runs have no host
        self.spares: set[int] = set()  # pids of spares without a host
        self.hosts: dict[int, _Host] = {}  # by S's pid
        self.runs: dict[int, _Host] = {}  # by run id
        self.ids = itertools.count(RUN_IDS_FROM)
        self.epoch = 0
        self.warmed = False
        self.selector = selectors.DefaultSelector()
        self.selector.register(ctl, selectors.EVENT_READ)

    def serve(self) -> None:
        # Work for idle moments, a step at a time so that a request never waits long: first
        # the imports spares should inherit, then huge pages (forks get cheaper as memory
        # collapses). Hosts made before either is done are retired when it is.
        warming: Iterator[str] | None = warm_imports()
        huge: HugePages | None = None
        while True:
            idle_work = warming is not None or (huge is not None and huge.pending)
            events = self.selector.select(timeout=0 if idle_work else 0.2)
            if not events:
                if warming is not None:
                    if next(warming, None) is None:
                        warming = None
                        prepare_slips(self.torch)  # what every run's typo search works out
                        # What is here now stays: no collection (here or in a spare) walks it
                        # again, and a spare's collections write to none of our pages.
                        gc.freeze()
                        gc.enable()
                        self.warmed = True
                        self._new_epoch()
                        _tell(self.ctl, {"event": "warmed"})
                        huge = HugePages()
                elif huge is not None:
                    huge.step()
                    if not huge.pending:
                        huge = None  # done: hosts made from now on fork from collapsed memory
                        self._new_epoch()
            for key, _ in events:
                if key.fileobj is self.ctl:
                    if not self._command():
                        self._stop()
                        return
                else:
                    self._host_said(key.data)
            self._end_stuck_hosts()
            self._reap()

    # -- requests from the parent --------------------------------------------------------

    def _command(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.ctl, 65536, 1)
        except OSError:
            return False
        if not data:
            return False  # the parent is gone
        try:
            command = json.loads(data)
        except ValueError:
            command = {}
        if not isinstance(command, dict):
            command = {}
        if command.get("cmd") == "spare" and len(fds) == 1:
            run, warm = self._spare(command, fds[0])
            _tell(self.ctl, {"event": "forked", "id": command.get("id"), "pid": run, "warm": warm})
        elif command.get("cmd") == "kill":
            self._kill(command.get("pid"))
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        return True

    def _spare(self, command: dict[str, Any], fd: int) -> tuple[int, bool]:
        """A spare for the request: a run in a host, or (no namespaces) a forked spare."""
        wanted = str(command.get("device", "cpu"))
        warm_up = command.get("warm_up") is not False
        missing = [self.no_hosts] if self.no_hosts else []
        for _ in range(2):
            if self.no_hosts is not None:
                break
            host = self._idle_host() or self._start_host()
            if host is None:  # this spare goes without: it says so, as the run's sandbox level
                missing = [self.no_hosts or "a namespace host that did not start in time"]
                break
            try:
                socket.send_fds(
                    host.sock, [json.dumps({"device": wanted, "warm_up": warm_up}).encode()], [fd]
                )
            except OSError:
                self._end_host(host)
                continue
            run = next(self.ids)
            host.run = run
            self.runs[run] = host
            return run, host.warm
        pid = os.fork()
        if pid == 0:
            self._close_inherited()
            _close_all_but(fd)
            workdir = str(command.get("workdir"))
            try:
                spare_main(fd, wanted, workdir, self.torch, self.np, True, missing, warm_up)
            finally:
                os._exit(0)
        self.spares.add(pid)
        return pid, self.warmed

    def _kill(self, run: Any) -> None:
        """End a run: in a host, its PID 1 kills every process of it and the host serves on
        (the parent asks this after every run, to be sure); a spare without one, its group."""
        if not isinstance(run, int):
            return
        if run in self.runs:
            host = self.runs[run]
            if host.ending_since is None:
                host.ending_since = time.monotonic()
                try:
                    host.sock.send(b'{"cmd": "end"}')
                except OSError:
                    self._end_host(host)
        elif run in self.spares:
            with contextlib.suppress(OSError):
                os.killpg(run, signal.SIGKILL)

    # -- hosts -----------------------------------------------------------------------------

    def _idle_host(self) -> _Host | None:
        for host in self.hosts.values():
            if host.run is None and host.epoch == self.epoch and self._alive(host):
                return host
        return None

    @staticmethod
    def _alive(host: _Host) -> bool:
        return host.sock.fileno() >= 0  # closed once the zygote ends it

    def _start_host(self) -> _Host | None:
        """Fork S and wait (a few ms) for its PID 1 to say the host is ready."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._close_inherited()
            # Among what is left: the socket of the request that made us start this host.
            # The host outlives that run, and its later runs must not hold another's channel.
            _close_all_but(theirs.fileno())
            try:
                _host_main(theirs, self.torch, self.np)
            finally:
                os._exit(0)
        theirs.close()
        ours.settimeout(HOST_START_TIMEOUT)
        try:
            hello = json.loads(ours.recv(65536) or b"{}")
        except (OSError, ValueError):
            hello = {}
        if not isinstance(hello, dict) or hello.get("event") != "host":
            if isinstance(hello, dict) and hello.get("event") == "refused":
                self.no_hosts = str(hello.get("problem"))[:500]
            ours.close()
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            _reap_killed([pid])
            return None
        ours.settimeout(None)
        host = _Host(pid, ours, self.epoch, self.warmed)
        self.hosts[pid] = host
        self.selector.register(ours, selectors.EVENT_READ, host)
        return host

    def _host_said(self, host: _Host) -> None:
        """L reports how a run ended (or the host is gone): tell the parent, reuse or retire."""
        try:
            data = host.sock.recv(65536)
            report = json.loads(data) if data else None
        except (OSError, ValueError):
            report = None
        if not isinstance(report, dict) or report.get("event") != "exit":
            self._end_host(host)
            return
        status = report.get("status")
        if status == "nproc":
            code = PROCESS_LIMIT_EXIT
        elif isinstance(status, int):
            code = _exit_code(status)
        else:
            code = 1
        self._run_ended(host, code)
        idle = sum(1 for h in self.hosts.values() if h.run is None and self._alive(h))
        if host.epoch != self.epoch or idle > MAX_IDLE_HOSTS:
            self._end_host(host)

    def _run_ended(self, host: _Host, code: int) -> None:
        host.ending_since = None
        if host.run is not None:
            self.runs.pop(host.run, None)
            _tell(self.ctl, {"event": "exit", "pid": host.run, "code": code})
            host.run = None

    def _forget(self, host: _Host) -> None:
        """Stop listening to a host: no spare goes to it any more."""
        if self._alive(host):
            self.selector.unregister(host.sock)
            host.sock.close()

    def _end_host(self, host: _Host) -> None:
        """Kill a host (S's group; L dies with S, and every run process with L)."""
        self._forget(host)
        with contextlib.suppress(OSError):
            os.killpg(host.pid, signal.SIGKILL)
        self._run_ended(host, -signal.SIGKILL)

    def _end_stuck_hosts(self) -> None:
        """A host asked to end its run that has not said it did: end the host itself."""
        now = time.monotonic()
        for host in list(self.hosts.values()):
            if host.ending_since is not None and now - host.ending_since > END_GRACE:
                self._end_host(host)

    def _new_epoch(self) -> None:
        self.epoch += 1
        for host in list(self.hosts.values()):
            if host.run is None:
                self._end_host(host)

    def _close_inherited(self) -> None:
        """In a forked child: nothing of the zygote's channels stays open."""
        self.selector.close()
        self.ctl.close()
        for host in self.hosts.values():
            host.sock.close()

    # -- children --------------------------------------------------------------------------

    def _reap(self) -> None:
        """Reap exited children, report spares' exit statuses, kill what escaped a run."""
        reaped_spare = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.spares:
                self.spares.discard(pid)
                reaped_spare = True
                _tell(self.ctl, {"event": "exit", "pid": pid, "code": _exit_code(status)})
            elif pid in self.hosts:  # reaped: its pid may be reused now, so no kill
                host = self.hosts.pop(pid)
                self._forget(host)
                self._run_ended(host, -signal.SIGKILL)
        if reaped_spare:
            _sweep(self.spares | set(self.hosts))

    def _stop(self) -> None:
        for host in list(self.hosts.values()):
            self._end_host(host)
        for pid in self.spares:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        _reap_killed([*self.spares, *self.hosts])
        _sweep(spares=set())
        os._exit(0)


def _close_all_but(keep: int) -> None:
    """In a forked child: close every descriptor above stderr but `keep`."""
    top = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536
    os.closerange(3, keep)
    os.closerange(keep + 1, max(top, keep + 2))


def _tell(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.send(json.dumps(message).encode("utf-8"))


def _exit_code(status: int) -> int:
    """A wait status as the parent reads it: -N for signal N, else the exit code."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _sweep(spares: set[int]) -> None:
    """As a subreaper we inherit whatever a run left behind (setsid + fork): kill it all.

    A killed process's children become ours when it exits, before it can be reaped; so each
    pass reaps what it killed before the next one looks, and a pass that finds nothing means
    nothing is left. (Nothing escapes a run in namespaces: there one pass finds nothing.)"""
    for _ in range(1000):
        killed = _kill_orphans(spares)
        if not killed:
            return
        _reap_killed(killed)


def _reap_killed(pids: Iterable[int], timeout: float = 2.0) -> None:
    """Reap killed children (SIGKILL is quick, but a process stuck in the kernel is not)."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                pending.discard(pid)
        if not pending or time.monotonic() > deadline:
            return
        time.sleep(0.0005)


def _kill_orphans(spares: set[int]) -> list[int]:
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    killed = []
    for entry in entries:
        if not entry.isdigit() or int(entry) in spares:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
    return killed


def _nvml_device_name() -> str | None:
    """The first GPU's name without creating a CUDA context (which would break fork)."""
    import ctypes

    for name in ("libnvidia-ml.so.1", "libnvidia-ml.so"):
        try:
            nvml = ctypes.CDLL(name)
        except OSError:
            continue
        handle = ctypes.c_void_p()
        buf = ctypes.create_string_buffer(96)
        if nvml.nvmlInit_v2() != 0:
            return None
        try:
            if nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(handle)) != 0:
                return None
            if nvml.nvmlDeviceGetName(handle, buf, 96) != 0:
                return None
            return buf.value.decode("utf-8", "replace")
        finally:
            nvml.nvmlShutdown()
    return None
