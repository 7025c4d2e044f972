"""Confinement the child applies to itself before learner code runs: rlimits and Landlock.

Plain ctypes syscalls, so the child stays standalone whatever interpreter runs it. Best effort:
whatever the kernel lacks is reported, never fatal.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import sys
from typing import Any


def apply_limits(limits: dict[str, Any]) -> None:
    """rlimits for the run. `address` caps the address space on CPU runs, so shared mappings
    (which RLIMIT_DATA does not count) count too; `nproc` caps processes, per run where the
    kernel counts them per user namespace."""
    try:
        import resource
    except ImportError:  # not on POSIX: the parent's wall clock is the only limit
        return
    wanted = {
        "RLIMIT_CORE": limits.get("core", 0),
        "RLIMIT_FSIZE": limits.get("fsize"),
        "RLIMIT_CPU": limits.get("cpu"),
        "RLIMIT_DATA": limits.get("data"),
        "RLIMIT_NOFILE": limits.get("nofile"),
        "RLIMIT_NPROC": limits.get("nproc"),
    }
    address = limits.get("address")
    if address:
        wanted["RLIMIT_AS"] = int(address) + _mapped_bytes()
    for name, soft in wanted.items():
        if soft is None or not hasattr(resource, name):
            continue
        which = getattr(resource, name)
        soft = int(soft)
        hard = soft + 1 if name == "RLIMIT_CPU" else soft
        try:
            _, old_hard = resource.getrlimit(which)
            if old_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, old_hard), min(hard, old_hard)
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass


def _mapped_bytes() -> int:
    """The address space already mapped (torch's libraries): the run's budget comes on top."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


# ---------------------------------------------------------------------------------------------
# Namespaces: where the kernel lets an unprivileged process create them, runs are isolated at two
# levels. A host (made once, used for one run after another) has its own user, PID, network, IPC
# and mount namespaces: no network, its own /proc showing only its processes, and a PID 1 that
# ends every process of a run before the next one starts. Each run then gets its own user, IPC
# and mount namespaces inside the host's: a fresh /tmp and /dev/shm (small tmpfs) and no SysV
# objects, keys or mounts of a run before it.
# ---------------------------------------------------------------------------------------------

_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
_CLONE_NEWNET, _CLONE_NEWIPC = 0x40000000, 0x08000000
HOST_NAMESPACES = _CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWNS
RUN_NAMESPACES = _CLONE_NEWUSER | _CLONE_NEWIPC | _CLONE_NEWNS
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
TMP_SIZE = 256 * 2**20  # the private /tmp: the run's files (torch.save) live here
SHM_SIZE = 64 * 2**20  # the private /dev/shm: DataLoader workers' shared memory


def enter_namespaces(flags: int = HOST_NAMESPACES) -> str | None:
    """Unshare `flags` (a new user namespace among them, mapping only our own ids); None on
    success, else why not. Must run in a single-threaded process. With a new PID namespace,
    the next fork is its PID 1."""
    if not sys.platform.startswith("linux"):
        return "namespaces need Linux"
    import ctypes

    uid, gid = os.getuid(), os.getgid()
    libc = _libc()
    if libc.unshare(flags) != 0:
        return f"unprivileged namespaces refused ({os.strerror(ctypes.get_errno())})"
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1")):
            with open(f"/proc/self/{name}", "w", encoding="ascii") as f:
                f.write(text)
        with open("/proc/self/gid_map", "w", encoding="ascii") as f:
            f.write(f"{gid} {gid} 1")
    except OSError as exc:
        return f"cannot map the user namespace ({exc})"
    return None


def _mounter(missing: list[str]) -> Any:
    import ctypes

    mount = _libc().mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong]
    mount.argtypes += [ctypes.c_char_p]

    def do(
        source: bytes | None, target: str, fs: bytes | None, flags: int, data: bytes | None
    ) -> bool:
        if mount(source, target.encode(), fs, flags, data) != 0:
            missing.append(f"private {target} ({os.strerror(ctypes.get_errno())})")
            return False
        return True

    return do


def host_mounts() -> list[str]:
    """In a host's PID 1: mounts that leak nowhere, and a /proc of the host's own processes
    (writable here: each run maps its user namespace through it, then makes it read-only for
    itself). Returns what failed."""
    missing: list[str] = []
    do = _mounter(missing)
    if not do(None, "/", None, _MS_REC | _MS_PRIVATE, None):
        return missing  # mounts would leak into the parent's namespace: change nothing
    do(b"proc", "/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    return missing


def run_mounts(cuda: bool) -> list[str]:
    """In a run's own mount namespace: a fresh /tmp and /dev/shm, and /proc read-only (CUDA
    writes to its own entries there; Landlock narrows it further). Returns what failed."""
    missing: list[str] = []
    do = _mounter(missing)
    nodev = _MS_NOSUID | _MS_NODEV
    do(b"tmpfs", "/tmp", b"tmpfs", nodev, f"size={TMP_SIZE},mode=1777".encode())
    if os.path.isdir("/dev/shm"):
        do(b"tmpfs", "/dev/shm", b"tmpfs", nodev, f"size={SHM_SIZE},mode=1777".encode())
    if not cuda:
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | nodev | _MS_NOEXEC
        do(None, "/proc", None, flags, None)
    return missing


def drop_capabilities() -> bool:
    """Give up every capability (root's included): no /proc/sys writes, no raw sockets."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    header = ctypes.create_string_buffer(struct.pack("=Ii", 0x20080522, 0), 8)  # v3, this task
    data = ctypes.create_string_buffer(bytes(24), 24)  # two empty {effective, permitted, inh}
    for cap in range(64):  # the bounding set too, so nothing can come back
        _libc().prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; fails quietly past the last cap
    number = _CAPSET.get(os.uname().machine)
    return number is not None and int(_libc().syscall(number, header, data)) == 0


_CAPSET = {"x86_64": 126, "amd64": 126, "aarch64": 91, "arm64": 91}


def process_count() -> int:
    """Processes visible in /proc: inside a PID namespace, the run's own."""
    try:
        return sum(1 for entry in os.listdir("/proc") if entry.isdigit())
    except OSError:
        return 0


_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # same on all arches
_PR_SET_NO_NEW_PRIVS = 38
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1_ALL = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2
_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """libc, loaded once (per zygote: its spares inherit it; a load costs ~50 us)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    try:
        abi = int(_libc().syscall(_SYS_CREATE_RULESET, None, 0, 1))  # ..._VERSION flag
    except (OSError, AttributeError):
        return 0
    return max(abi, 0)


def _fs_rights(abi: int) -> int:
    rights = _FS_ABI1_ALL
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _harness_root() -> str:
    """The directory that holds the `tutor` package (a checkout or site-packages)."""
    here = os.path.dirname(os.path.abspath(__file__))  # .../tutor/sandbox/child
    return os.path.dirname(os.path.dirname(os.path.dirname(here)))


_PRIVATE_ENTRIES = ("tutor", "lessons", ".git", "tests", "docs")


def _private(entry: str) -> bool:
    """pttutor's own files: the package (with its lessons), its metadata, a checkout's lessons."""
    lowered = entry.lower()
    return entry in _PRIVATE_ENTRIES or "pttutor" in lowered


def read_rules() -> tuple[list[str], list[str]]:
    """What the interpreter, torch and numpy may still read: (whole trees, listable-only dirs).

    Whole trees are the Python installation, torch's and numpy's own, and the system libraries.
    A directory that also holds pttutor (site-packages, or the checkout of an editable install)
    is listable, and only its other entries are readable: the package, its lesson packs and the
    reference solutions in them stay out of reach."""
    trees = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    listable: set[str] = set()
    harness = _harness_root()
    candidates = {p for p in sys.path if p and os.path.isdir(p)}
    for name in ("torch", "numpy"):
        location = getattr(sys.modules.get(name), "__file__", None)
        if location:
            candidates.add(os.path.dirname(os.path.dirname(location)))
    for path in candidates:
        path = os.path.abspath(path)
        if os.path.isdir(os.path.join(path, "tutor")) or path == harness:
            listable.add(path)
        elif not path.startswith(os.path.join(harness, "tutor")):
            trees.add(path)
    trees.update(("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc", "/opt", "/sys", "/nix"))
    trees.update(os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep))
    trees = {os.path.abspath(t) for t in trees if t and os.path.isabs(t)}
    # A tree that contains a listable directory would open it whole: list each directory on
    # the way down instead, so that only the private entries at the bottom stay closed.
    for tree in sorted(trees):
        below = [d for d in listable if d == tree or d.startswith(tree.rstrip("/") + "/")]
        if below:
            trees.discard(tree)
            for directory in below:
                while len(directory) > len(tree):
                    listable.add(directory)
                    directory = os.path.dirname(directory)
            listable.add(tree)
    return sorted(p for p in trees if p and os.path.exists(p)), sorted(listable)


@functools.lru_cache(maxsize=1)
def read_plan() -> tuple[tuple[str, int, bool], ...]:
    """The read rules as (path, rights, is a directory): worked out once, by the zygote before
    it forks (listing site-packages and checking each entry is most of a confinement's cost),
    and inherited by every spare."""
    trees, listable = read_rules()
    plan = [(path, _READ, os.path.isdir(path)) for path in trees]
    for directory in listable:
        plan.append((directory, _FS_READ_DIR, True))
        plan.extend((p, _READ, os.path.isdir(p)) for p in _readable_entries(directory, listable))
    return tuple(plan)


def _readable_entries(directory: str, listable: list[str]) -> list[str]:
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    paths = []
    for entry in entries:
        path = os.path.join(directory, entry)
        if _private(entry) or path in listable:
            continue
        paths.append(path)
    return paths


def confine(writable: list[str], cuda: bool) -> dict[str, Any]:
    """Allow reads of the install, writes only in `writable`; no TCP; no signals out.

    Returns what was enforced, for the sandbox-level badge and `pttutor doctor`.
    """
    import ctypes

    abi = landlock_abi()
    report: dict[str, Any] = {
        "landlock_abi": abi,
        "filesystem": False,
        "network": False,
        "signals": False,
        "missing": [],
    }
    if abi <= 0:
        report["missing"].append("Landlock (needs Linux 5.13+ with Landlock enabled)")
        return report
    libc = _libc()
    fs_rights = _fs_rights(abi)
    net_rights = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs_rights, net_rights, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    buf = ctypes.create_string_buffer(attr[:size], size)
    ruleset = int(libc.syscall(_SYS_CREATE_RULESET, buf, ctypes.c_size_t(size), 0))
    if ruleset < 0:
        report["missing"].append(f"Landlock ruleset (errno {ctypes.get_errno()})")
        return report

    def allow(path: str, rights: int, is_dir: bool | None = None) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not (os.path.isdir(path) if is_dir is None else is_dir):
                rights &= _FS_FILE_ONLY
            rule = ctypes.create_string_buffer(struct.pack("=Qi", rights & fs_rights, fd), 12)
            libc.syscall(_SYS_ADD_RULE, ruleset, 1, rule, 0)  # LANDLOCK_RULE_PATH_BENEATH
        finally:
            os.close(fd)

    try:
        for path, rights, is_dir in read_plan():
            allow(path, rights, is_dir)
        for path in writable:
            allow(path, fs_rights)
        allow("/proc", _READ)
        if cuda:  # CUDA writes to /proc: only this process's own entries
            allow(f"/proc/{os.getpid()}", _READ | _FS_WRITE_FILE)
        for dev in ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full"):
            allow(dev, _FS_READ_FILE | _FS_WRITE_FILE)
        if cuda:
            for entry in sorted(os.listdir("/dev")):
                if entry.startswith("nvidia"):
                    allow(f"/dev/{entry}", _FS_READ_FILE | _FS_WRITE_FILE | _FS_IOCTL_DEV)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if int(libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0)) != 0:
            report["missing"].append(f"Landlock enforcement (errno {ctypes.get_errno()})")
            return report
    finally:
        os.close(ruleset)
    report["filesystem"] = True
    report["network"] = bool(net_rights)
    report["signals"] = bool(scoped)
    if not net_rights:
        report["missing"].append("TCP blocking (needs Landlock ABI 4, Linux 6.7)")
    if not scoped:
        report["missing"].append("signal scoping (needs Landlock ABI 6, Linux 6.12)")
    return report


def sandbox_level(report: dict[str, Any]) -> str:
    """'full': Landlock (files, TCP, signals) inside namespaces; 'partial': some of it; 'none'."""
    if not report.get("filesystem"):
        return "none"
    landlock = report.get("network") and report.get("signals")
    return "full" if landlock and report.get("namespaces") else "partial"


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
