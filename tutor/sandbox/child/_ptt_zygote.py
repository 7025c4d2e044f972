"""The warm pool's side in the sandbox interpreter: a zygote that forks ready-to-run spares.

The zygote imports torch (and what torch imports lazily), then forks a spare per request. It talks
to the parent over an inherited SOCK_SEQPACKET socket that nothing else can reach; each request
carries the spare's own end of a fresh socketpair (SCM_RIGHTS) and the work directory the parent
made for it. The zygote reports each spare's pid and exit status: the parent learns pids from
here, never from a spare. The fork rules it follows: no CUDA context, no autograd and one
intra-op thread in the zygote; warm-up happens in the spare.

Where the kernel allows it, a spare isolates its run in new namespaces: the spare (S) unshares
them and only waits; the first process inside (L, PID 1) mounts a private /tmp, /dev/shm and
/proc, caps the number of processes and reaps; the run's process (R, PID 2) confines itself,
warms up and runs the job. When R ends, L ends, and the kernel kills whatever else the run left.
Elsewhere the spare runs the job itself and the zygote, a subreaper, sweeps what escaped.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from _ptt_boot import import_torch, warm_imports, warm_up
from _ptt_confine import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_PDEATHSIG,
    _prctl,
    apply_limits,
    confine,
    drop_capabilities,
    enter_namespaces,
    private_mounts,
    process_count,
    read_plan,
)
from _ptt_hugepages import HugePages
from _ptt_job import _run_and_report, resolve_device
from _ptt_slips import prepare as prepare_slips
from _ptt_wire import FrameWriter, _read_frame

MAX_RUN_PROCESSES = 64  # processes one run may have at once (PID 1 included)
PROCESS_LIMIT_EXIT = 125  # a spare's exit code when its run went over MAX_RUN_PROCESSES
_STATUS_BYTES = 16


# -- the spare -------------------------------------------------------------------------------


def spare_main(
    fd: int,
    wanted: str,
    workdir: str,
    torch: Any,
    np: Any,
    forked: bool,
    isolate: bool,
    warm: bool = True,
) -> None:
    """Become a ready-to-run child: isolate, confine, warm up (unless told not to: a batch's
    runs come back to back, so the warm-up would only add to them), say so, run one job, exit."""
    gc.enable()  # off in the zygote while it imports: a run collects as any program does
    if forked:
        os.setsid()  # its own session and process group: the zygote kills the group
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the zygote
    sock = socket.socket(fileno=fd)
    isolation: dict[str, Any] = {"namespaces": False, "missing": []}
    if isolate and forked:  # unshare needs a single-threaded process: a fresh fork is one
        problem = enter_namespaces()
        if problem is None:
            _run_in_namespaces(sock, wanted, torch, np, isolation, warm)
            return
        isolation["missing"].append(problem)
    _serve(sock, wanted, workdir, torch, np, isolation, warm)


def _run_in_namespaces(
    sock: socket.socket, wanted: str, torch: Any, np: Any, iso: dict, warm: bool
) -> None:
    status_r, status_w = os.pipe()
    init = os.fork()
    if init:  # S: outside the namespaces, runs nothing; mirrors how the run ended
        sock.close()
        os.close(status_w)
        _mirror_exit(init, status_r)
    os.close(status_r)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    cuda = wanted == "cuda" or (wanted == "auto" and bool(torch.cuda.is_available()))
    iso["namespaces"] = True
    iso["missing"].extend(private_mounts(cuda))
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    run = os.fork()
    if run == 0:  # R: the run itself
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        os.close(status_w)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _serve(sock, wanted, "/tmp", torch, np, iso, warm)
        os._exit(0)
    sock.close()
    _init_loop(run, status_w)


def _init_loop(run: int, status_w: int) -> None:
    """PID 1 of the run: reap, watch the process count, end with the run's process."""
    while True:
        signal.sigtimedwait([signal.SIGCHLD], 0.05)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, status = run, 0
            if pid == 0:
                break
            if pid == run:
                os.write(status_w, str(status).encode())
                os._exit(0)  # PID 1 ends: the kernel kills everything else of the run
        if process_count() > MAX_RUN_PROCESSES:
            os.write(status_w, b"nproc")
            os._exit(0)


def _mirror_exit(init: int, status_r: int) -> None:
    """S: wait for the run's PID 1 and end the way the run's process ended."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(init, 0)
    with os.fdopen(status_r, "rb") as f:
        report = f.read(_STATUS_BYTES).decode("ascii", "replace")
    if report == "nproc":
        os._exit(PROCESS_LIMIT_EXIT)
    try:
        status = int(report)
    except ValueError:
        os._exit(PROCESS_LIMIT_EXIT if not report else 1)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


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
    """Import torch, then fork a spare per request until the parent goes away."""
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
    # Work for idle moments, a step at a time so that a request never waits long: first the
    # imports spares should inherit, then huge pages (forks get cheaper as memory collapses).
    warming: Iterator[str] | None = warm_imports()
    huge: HugePages | None = None
    spares: set[int] = set()
    selector = selectors.DefaultSelector()
    selector.register(ctl, selectors.EVENT_READ)
    while True:
        idle_work = warming is not None or (huge is not None and huge.pending)
        if not selector.select(timeout=0 if idle_work else 0.2):
            if warming is not None:
                if next(warming, None) is None:
                    warming = None
                    prepare_slips(torch)  # what every run's typo search would work out
                    # What is here now stays: no collection (here or in a spare) walks it again,
                    # and a spare's collections write to none of the pages it shares with us.
                    gc.freeze()
                    gc.enable()
                    _tell(ctl, {"event": "warmed"})
                    huge = HugePages()
            elif huge is not None:
                huge.step()
        else:
            try:
                data, fds, _, _ = socket.recv_fds(ctl, 65536, 1)
            except OSError:
                break
            if not data:
                break  # the parent is gone
            try:
                command = json.loads(data)
            except ValueError:
                command = {}
            if command.get("cmd") == "spare" and len(fds) == 1:
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    ctl.close()
                    try:
                        spare_main(
                            fds[0],
                            str(command.get("device", "cpu")),
                            str(command.get("workdir")),
                            torch,
                            np,
                            True,
                            isolate,
                            command.get("warm_up") is not False,
                        )
                    finally:
                        os._exit(0)
                spares.add(pid)
                warm = warming is None
                _tell(ctl, {"event": "forked", "id": command.get("id"), "pid": pid, "warm": warm})
            elif command.get("cmd") == "kill" and command.get("pid") in spares:
                with contextlib.suppress(OSError):
                    os.killpg(command["pid"], signal.SIGKILL)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        _reap(ctl, spares)
    for pid in spares:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    _reap_killed(spares)
    _sweep(spares=set())
    os._exit(0)


def _tell(ctl: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        ctl.send(json.dumps(message).encode("utf-8"))


def _reap(ctl: socket.socket, spares: set[int]) -> None:
    """Reap exited children, report spares' exit statuses, kill what escaped a run."""
    reaped_spare = False
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in spares:
            spares.discard(pid)
            reaped_spare = True
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _tell(ctl, {"event": "exit", "pid": pid, "code": code})
    if reaped_spare:
        _sweep(spares)


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
