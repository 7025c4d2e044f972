"""Confinement the child applies to itself before learner code runs: rlimits and Landlock.

Plain ctypes syscalls, so the child stays standalone whatever interpreter runs it. Best effort:
whatever the kernel lacks is reported, never fatal.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from typing import Any


def apply_limits(limits: dict[str, Any]) -> None:
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
    }
    for name, soft in wanted.items():
        if soft is None or not hasattr(resource, name):
            continue
        which = getattr(resource, name)
        hard = soft + 1 if name == "RLIMIT_CPU" else soft
        try:
            _, old_hard = resource.getrlimit(which)
            if old_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, old_hard), min(hard, old_hard)
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass


_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # same on all arches
_PR_SET_NO_NEW_PRIVS = 38
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1_ALL = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2
_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR


def _libc() -> Any:
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


def read_only_paths() -> list[str]:
    """What the interpreter, torch and numpy may still read: their install and system libs."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    for name in ("torch", "numpy"):
        location = getattr(sys.modules.get(name), "__file__", None)
        if location:
            paths.add(os.path.dirname(os.path.dirname(location)))
    paths.update(("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc", "/opt", "/sys", "/nix"))
    paths.update(os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep))
    return sorted(p for p in paths if p and os.path.exists(p))


def confine(writable: str, cuda: bool) -> dict[str, Any]:
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

    def allow(path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):
                rights &= _FS_FILE_ONLY
            rule = ctypes.create_string_buffer(struct.pack("=Qi", rights & fs_rights, fd), 12)
            libc.syscall(_SYS_ADD_RULE, ruleset, 1, rule, 0)  # LANDLOCK_RULE_PATH_BENEATH
        finally:
            os.close(fd)

    try:
        for path in read_only_paths():
            allow(path, _READ)
        allow(writable, fs_rights)
        allow("/proc", _READ | _FS_WRITE_FILE)  # CUDA needs /proc writes (platform facts)
        for dev in ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full"):
            allow(dev, _FS_READ_FILE | _FS_WRITE_FILE)
        allow("/dev/shm", fs_rights)
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
    if not report.get("filesystem"):
        return "none"
    return "full" if report.get("network") and report.get("signals") else "partial"


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
