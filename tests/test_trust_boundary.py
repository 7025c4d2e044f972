"""The sandbox's trust boundary, through the real pool: a snippet that wants more than its own
run cannot reach the pool, name what the parent deletes or kills, write outside its run, reach
the network, copy the reference, or leave anything behind.

Cases that need namespaces skip where the kernel refuses them (they then hold by the fallback's
own tests: Landlock, rlimits and the sweep)."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tutor
from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import Outcome, RunRequest, RunResult

pytestmark = pytest.mark.slow

SECRET = f"pttutor-secret-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def pool() -> Iterator[WarmRunner]:
    os.environ["PTTUTOR_TEST_SECRET"] = SECRET  # in the parent's environ, never the child's
    made = WarmRunner(spares=1)
    yield made
    made.close()
    os.environ.pop("PTTUTOR_TEST_SECRET", None)


@pytest.fixture(scope="module")
def namespaced(pool: WarmRunner) -> bool:
    result = pool.run(RunRequest(code="y = 1", exprs=("y",)))
    return bool(result.sandbox and result.sandbox.get("namespaces"))


def run(pool: WarmRunner, code: str, *exprs: str, timeout: float = 10.0) -> RunResult:
    result = pool.run(RunRequest(code=code, exprs=exprs, timeout=timeout))
    follow_up = pool.run(RunRequest(code="y = 1", exprs=("y",)))
    assert follow_up.values == {"y": 1}, f"the run after it broke: {follow_up.detail}"
    return result


def test_the_pool_has_no_endpoint_a_snippet_could_name(pool: WarmRunner) -> None:
    pool.run(RunRequest(code="y = 1"))
    assert pool._dir is not None
    sockets = [p for p in Path(pool._dir).rglob("*") if p.is_socket()]
    assert sockets == []
    with open("/proc/net/unix", encoding="ascii") as f:
        assert pool._dir not in f.read()
    zygote = pool.info(timeout=60)
    assert zygote is not None
    with open(f"/proc/{zygote['pid']}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    named = [a.decode() for a in argv if a.startswith(b"/")]
    assert not any(a.startswith(pool._dir) for a in named)
    assert not any(os.path.exists(a) and stat.S_ISSOCK(os.stat(a).st_mode) for a in named)


FORGED_HELLO = """\
import json, os, socket, stat, struct
hello = json.dumps({{"event": "spare", "pid": {pid}, "wanted": "cpu", "device": "cpu",
                    "workdir": {workdir!r}, "sandbox": {{}}}}).encode()
frame = struct.pack(">Q", len(hello)) + hello
sent = 0
for fd in range(3, 256):  # every socket this process holds
    try:
        if stat.S_ISSOCK(os.fstat(fd).st_mode):
            socket.socket(fileno=os.dup(fd)).sendall(frame)
            sent += 1
    except OSError:
        pass
for pid in os.listdir("/proc"):  # every socket path named on a command line it can see
    try:
        with open(f"/proc/{{pid}}/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\\0")
    except OSError:
        continue
    for arg in args:
        if arg.startswith("/") and os.path.basename(arg) == "s":
            try:
                c = socket.socket(socket.AF_UNIX)
                c.connect(arg)
                c.sendall(frame)
                sent += 1
            except OSError:
                pass
"""


def test_a_forged_spare_names_nothing_the_parent_kills_or_deletes(tmp_path: Path) -> None:
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "keep.txt").write_text("mine")
    victim = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    pool = WarmRunner(spares=1)
    try:
        code = FORGED_HELLO.format(pid=victim.pid, workdir=str(victim_dir))
        for _ in range(3):  # the impostor would be handed later runs, then killed and removed
            pool.run(RunRequest(code=code, exprs=("sent",)))
        pool.close()
        time.sleep(0.5)  # any kill or delete the parent would do has been done by now
        assert victim.poll() is None, "the parent signalled a process group the snippet named"
        assert (victim_dir / "keep.txt").read_text() == "mine", "the parent deleted a named dir"
    finally:
        pool.close()
        victim.kill()
        victim.wait()


def test_proc_is_read_only(pool: WarmRunner) -> None:
    code = """\
import contextlib
import os
blocked = []
for path in ("/proc/self/oom_score_adj", "/proc/sys/kernel/core_pattern",
             "/proc/1/oom_score_adj"):
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)
    except OSError:
        blocked.append(path)
"""
    with open("/proc/sys/kernel/core_pattern") as f:
        before = f.read()
    result = run(pool, code, "blocked")
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert len(result.values["blocked"]) == 3
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read() == before


def test_dev_shm_and_tmp_files_do_not_outlive_the_run(pool: WarmRunner) -> None:
    name = f"pttutor-leftover-{uuid.uuid4().hex}"
    code = f"""\
written = []
for d in ("/dev/shm", "/tmp"):
    try:
        with open(d + "/{name}", "w") as f:
            f.write("x" * 100)
        written.append(d)
    except OSError:
        pass
"""
    result = run(pool, code, "written")
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert not os.path.exists(f"/dev/shm/{name}")
    assert not os.path.exists(f"/tmp/{name}")


def test_shared_memory_counts_against_the_memory_limit(pool: WarmRunner) -> None:
    code = """\
import mmap
m = mmap.mmap(-1, 4 * 2**30, flags=mmap.MAP_SHARED)
for offset in range(0, len(m), 2**20):
    m[offset] = 1
touched = True
"""
    result = run(pool, code, "touched", timeout=30)
    assert result.outcome is not Outcome.COMPLETED or result.exception is not None, (
        "4 GiB of shared memory was touched under a 3 GiB limit"
    )


def test_udp_reaches_nothing(pool: WarmRunner, namespaced: bool) -> None:
    if not namespaced:
        pytest.skip("UDP is only cut off inside a network namespace")
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    code = f"""\
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"leak", ("127.0.0.1", {port}))
    sent = True
except OSError:
    sent = False
"""
    result = run(pool, code, "sent")
    assert result.outcome is Outcome.COMPLETED, result.detail
    with pytest.raises(TimeoutError):
        server.recvfrom(16)
    server.close()


def test_other_processes_and_sockets_are_invisible(pool: WarmRunner, namespaced: bool) -> None:
    if not namespaced:
        pytest.skip("needs a PID and network namespace")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = f"/tmp/pttutor-visible-{uuid.uuid4().hex[:8]}"
    listener.bind(path)
    listener.listen(1)
    code = f"""\
import contextlib
import os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
me = os.getpid()
with open("/proc/net/unix") as f:
    sockets = f.read()
seen_socket = {path!r} in sockets
found_secret = False
for p in pids:
    try:
        with open(f"/proc/{{p}}/environ", "rb") as f:
            found_secret = found_secret or {SECRET!r}.encode() in f.read()
    except OSError:
        pass
"""
    try:
        result = run(pool, code, "pids", "me", "seen_socket", "found_secret")
    finally:
        listener.close()
        os.unlink(path)
    assert result.outcome is Outcome.COMPLETED, result.detail
    # Its host's PID 1 and itself (a host serves runs one after another: its pid grows).
    assert result.values["pids"] == [1, result.values["me"]], "it sees processes not its own"
    assert result.values["seen_socket"] is False
    assert result.values["found_secret"] is False


def test_a_run_holds_no_channel_but_its_own() -> None:
    """A host serves one run after another, and the zygote starts one while it holds the
    socket of the request that needs it: no run may inherit that (or any other) channel, or it
    could keep another run's connection open or write into it; nor the Landlock ruleset it
    confined itself with (whoever holds one can add rules to it)."""
    code = """\
import os, stat
sockets = 0
rulesets = 0
for fd in os.listdir("/proc/self/fd"):
    try:
        sockets += stat.S_ISSOCK(os.fstat(int(fd)).st_mode)
        rulesets += "landlock" in os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
"""
    runner = WarmRunner(spares=1)  # a new host for each spare at first, then reused ones
    try:
        counts = [
            runner.run(RunRequest(code=code, exprs=("sockets", "rulesets"))) for _ in range(6)
        ]
    finally:
        runner.close()
    for result in counts:
        assert result.outcome is Outcome.COMPLETED, result.detail
    assert [r.values["sockets"] for r in counts] == [1] * 6
    assert [r.values["rulesets"] for r in counts] == [0] * 6


LEAVES_AND_LOOKS = """\
import ctypes, os, platform, socket, subprocess, sys
tag = "{tag}"
me = os.getpid()
libc = ctypes.CDLL(None, use_errno=True)
keys = platform.machine() == "x86_64"  # add_key 248, request_key 249
# What a run before this one, in the same host, may have left:
seen = []
if [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]:
    seen.append("a process")
seen += [d for d in ("/tmp", "/dev/shm") if os.path.exists(os.path.join(d, tag))]
if libc.shmget({shm_key}, 0, 0) >= 0:
    seen.append("a SysV segment")
probe = socket.socket(socket.AF_UNIX)
try:
    probe.connect("\\0" + tag)
    seen.append("an abstract socket")
except OSError:
    pass
if keys and libc.syscall(249, b"user", tag.encode(), None, 0) >= 0:
    seen.append("a key")
# What this run leaves, for the next one:
subprocess.Popen(
    [sys.executable, "-c",
     "import socket, sys, time; s = socket.socket(socket.AF_UNIX); "
     "s.bind(chr(0) + sys.argv[1]); s.listen(); time.sleep(60)", tag],
    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for d in ("/tmp", "/dev/shm"):
    with open(os.path.join(d, tag), "w") as f:
        f.write("left behind")
left_shm = libc.shmget({shm_key}, 4096, 0o1000 | 0o600) >= 0
left_key = keys and libc.syscall(248, b"user", tag.encode(), b"x", 1, -4) >= 0
"""


def test_a_host_keeps_nothing_of_one_run_for_the_next(namespaced: bool) -> None:
    if not namespaced:
        pytest.skip("needs namespaces")
    tag = f"pttutor-left-{uuid.uuid4().hex[:12]}"
    code = LEAVES_AND_LOOKS.format(tag=tag, shm_key=0x7074_7574)
    runner = WarmRunner(spares=1)
    try:
        results = [
            runner.run(RunRequest(code=code, exprs=("me", "seen", "left_shm", "left_key")))
            for _ in range(8)
        ]
    finally:
        runner.close()
    for result in results:
        assert result.outcome is Outcome.COMPLETED, result.detail
        assert result.values["seen"] == [], f"run {result.values['me']} found what one left"
    assert results[0].values["left_shm"] is True
    # Some runs came after another in the same host (a host's first run is its pid 2).
    assert any(r.values["me"] > 2 for r in results)


def test_the_lesson_files_cannot_be_read(pool: WarmRunner) -> None:
    package = Path(tutor.__file__).parent
    targets = [str(p) for p in (package.parent / "lessons").glob("*.yaml")][:2]
    installed = Path(sysconfig.get_paths()["purelib"]) / "tutor" / "_lessons"
    for where in (package / "_lessons", installed):  # an installed pack, or an editable one
        targets += [str(p) for p in where.glob("*.yaml")][:2]
    targets.append(str(package / "schema.py"))
    code = f"""\
readable = []
for path in {targets!r}:
    try:
        with open(path) as f:
            f.read(10)
        readable.append(path)
    except OSError:
        pass
"""
    result = run(pool, code, "readable")
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.values["readable"] == []


def test_a_fork_bomb_is_capped_per_run(pool: WarmRunner) -> None:
    code = """\
import os, time
made = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
except OSError:
    pass
"""
    result = run(pool, code, "made", timeout=20)
    if result.outcome is Outcome.COMPLETED:
        assert result.values["made"] < 500
    else:
        assert "processes" in result.detail


def test_without_namespaces_the_run_falls_back_and_says_so() -> None:
    runner = WarmRunner(spares=1, namespaces=False)
    try:
        result = runner.run(RunRequest(code="import os\ncwd = os.getcwd()", exprs=("cwd",)))
    finally:
        runner.close()
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.sandbox is not None and result.sandbox["namespaces"] is False
    assert result.sandbox_level == "partial"
    assert result.values["cwd"].startswith(tempfile.gettempdir())  # a directory made for it


LEAVER = """\
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{tag}"],
                 start_new_session=True)
for d in ("/dev/shm", "/tmp", "."):
    try:
        with open(os.path.join(d, "{tag}"), "w") as f:
            f.write("left behind")
    except OSError:
        pass
y = x * 2
"""


def test_after_pttutor_check_exits_nothing_of_the_run_is_left(write_pack, tmp_path: Path) -> None:
    from tests.conftest import MINI_LESSON

    pack = write_pack({"mini.yaml": MINI_LESSON})
    tag = f"pttutor-leftover-{uuid.uuid4().hex}"
    answer = tmp_path / "answer.py"
    answer.write_text(LEAVER.format(tag=tag))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tutor",
            "check",
            "mini/double",
            "--file",
            str(answer),
            "--lessons",
            str(pack),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
                assert tag.encode() not in f.read(), "a process of the run outlived the check"
    leftovers = [p for p in (Path("/dev/shm"), Path(tempfile.gettempdir())) if (p / tag).exists()]
    leftovers += list(Path(tempfile.gettempdir()).glob(f"pttutor-*/**/{tag}"))
    assert leftovers == []


@pytest.mark.cuda
def test_cuda_runs_inside_the_namespaces() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    runner = WarmRunner(spares=1)
    try:
        code = "import torch\ny = (torch.ones(3, device='cuda') * 2).sum().item()"
        result = runner.run(RunRequest(code=code, exprs=("y",), device="cuda", timeout=60))
    finally:
        runner.close()
    assert result.outcome is Outcome.COMPLETED, result.detail
    assert result.exception is None, result.exception
    assert result.values == {"y": 6.0} and result.device == "cuda"
    assert result.sandbox is not None
    print("sandbox on cuda:", result.sandbox)
