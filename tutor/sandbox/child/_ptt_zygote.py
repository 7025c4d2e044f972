"""The warm pool's side in the sandbox interpreter: a zygote that forks ready-to-run spares.

A zygote imports torch and nothing else, then forks "spares" on request. Each spare warms
itself up on its device, connects to the parent, and waits for one job: the parent sends the job
with the write ends of fresh stdout/stderr pipes (SCM_RIGHTS). The fork rules it follows: no
CUDA context, no autograd and one intra-op thread in the zygote; warm-up happens in the spare.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any

from _ptt_confine import PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG, _prctl, apply_limits, confine
from _ptt_job import _import_torch, _run_and_report, resolve_device, warm_up
from _ptt_wire import FrameWriter, _read_frame


def _connect(sock_path: str) -> Any:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sock_path)
    return sock


def spare_main(sock_path: str, wanted: str, torch: Any, np: Any, forked: bool) -> None:
    """Become a ready-to-run child: warm up, say so, wait for one job, run it, exit."""
    if forked:
        os.setsid()  # its own session, so the parent can kill everything it starts
        _prctl(PR_SET_PDEATHSIG, 9)  # die with the zygote
    sock = _connect(sock_path)
    out = FrameWriter(sock.fileno())
    import tempfile

    workdir = tempfile.mkdtemp(prefix="pttutor-run-")
    # Everything that asks for a temporary directory from now on (torch's caches among them)
    # must get the one place this process may write.
    tempfile.tempdir = workdir
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    hello: dict[str, Any] = {
        "event": "spare",
        "pid": os.getpid(),
        "wanted": wanted,
        "workdir": workdir,
    }
    started = time.perf_counter()
    try:
        device, problem = resolve_device(torch, wanted)
        if problem is not None:
            hello["error"] = problem
        else:
            hello["device"] = device.type
            # Confined before warming up, so no thread the warm-up starts escapes the rules.
            hello["sandbox"] = confine(workdir, cuda=device.type == "cuda")
            warm_up(torch, np, device)
    except BaseException as exc:
        hello["error"] = f"warming up on {wanted} failed: {type(exc).__name__}: {exc}"
    hello["warm_seconds"] = time.perf_counter() - started
    out.send_json(hello)
    if "error" in hello:
        os._exit(0)
    import socket

    _, fds, _, _ = socket.recv_fds(sock, 1, 2)
    received = time.perf_counter()
    job = json.loads(_read_frame(sock))
    job["received"] = received
    if len(fds) == 2:
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
    os.chdir(workdir)
    apply_limits(job.get("limits", {}))
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    job["sandbox"] = hello["sandbox"]
    _run_and_report(job, out, torch, np)


def _reap_and_sweep(ctl: Any, spares: set[int]) -> None:
    """Reap exited children, report spares' exit statuses, kill escaped orphans."""
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
            FrameWriter(ctl.fileno()).send_json({"event": "exit", "pid": pid, "code": code})
    if reaped_spare:
        _kill_orphans(spares)


def _kill_orphans(spares: set[int]) -> None:
    """As a subreaper we inherit whatever a run left behind (setsid + fork): kill it."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit() or int(entry) in spares:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            with contextlib.suppress(OSError):
                os.kill(int(entry), 9)


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


def zygote_main(sock_path: str) -> None:
    """Import torch, then fork a spare per request until the parent goes away."""
    import selectors

    # No PDEATHSIG here: it fires when the parent *thread* that started us ends, and the app
    # starts the pool from short-lived threads. The control socket's EOF tells us instead.
    started = time.perf_counter()
    torch, np = _import_torch()
    torch.set_num_threads(1)  # an OpenMP pool would not survive fork; spares set their own
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    ctl = _connect(sock_path)
    info: dict[str, Any] = {
        "event": "zygote",
        "pid": os.getpid(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "cuda_build": torch.version.cuda,
        "cuda": bool(torch.cuda.is_available()),  # NVML-based: no CUDA context here
        "device_name": _nvml_device_name(),
        "import_seconds": time.perf_counter() - started,
    }
    FrameWriter(ctl.fileno()).send_json(info)
    spares: set[int] = set()
    selector = selectors.DefaultSelector()
    selector.register(ctl, selectors.EVENT_READ)
    while True:
        if selector.select(timeout=0.2):
            try:
                command = json.loads(_read_frame(ctl))
            except (EOFError, OSError, ValueError):
                break  # the parent is gone
            if command.get("cmd") == "spare":
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    ctl.close()
                    try:
                        spare_main(sock_path, command.get("device", "cpu"), torch, np, True)
                    finally:
                        os._exit(0)
                spares.add(pid)
        _reap_and_sweep(ctl, spares)
    for pid in spares:
        with contextlib.suppress(OSError):
            os.killpg(pid, 9)
    os._exit(0)
