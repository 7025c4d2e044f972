"""Huge pages for the zygote's memory, so that each fork costs the kernel less.

A fork copies one page-table entry for every 4 KiB page of the parent's private memory, and an
exit drops them again. With torch and what it imports lazily, the zygote holds ~210 MiB of it:
~6 ms of kernel time per process, and a run in namespaces is three processes. Collapsed into
2 MiB pages (`MADV_COLLAPSE`, Linux 6.1+), that memory forks as one entry per 2 MiB; a child that
writes to one of them gets a private copy of that 4 KiB page only, as before.

The zygote collapses when it has nothing else to do, a few MiB at a time, so a request for a
spare never waits long. Best effort: where the kernel cannot, nothing changes.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import sys

HUGE_PAGE = 2 * 2**20
CHUNK = 4 * 2**20  # bytes collapsed per step: a few milliseconds of the zygote's time
MADV_COLLAPSE = 25


def collapsible_regions(maps: str) -> list[tuple[int, int]]:
    """(start, length) of the 2 MiB-aligned parts of private writable anonymous memory (the
    heap included) in a `/proc/PID/maps` text, cut into CHUNK-sized pieces."""
    pieces = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p":
            continue
        name = fields[5] if len(fields) > 5 else ""
        if name not in ("", "[heap]"):
            continue  # files, the stack, vdso and friends
        low, high = (int(x, 16) for x in fields[0].split("-"))
        start = -(-low // HUGE_PAGE) * HUGE_PAGE
        end = high // HUGE_PAGE * HUGE_PAGE
        for at in range(start, end, CHUNK):
            pieces.append((at, min(CHUNK, end - at)))
    return pieces


class HugePages:
    """Collapses this process's private memory into huge pages, one `step()` at a time."""

    def __init__(self) -> None:
        self._pending: collections.deque[tuple[int, int]] = collections.deque()
        self._madvise = None
        if not sys.platform.startswith("linux"):
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
                maps = f.read()
        except OSError:
            return
        self._madvise = libc.madvise
        self._madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self._pending.extend(collapsible_regions(maps))

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def step(self) -> None:
        """Collapse the next piece. A kernel without MADV_COLLAPSE (EINVAL) ends the work;
        a piece that cannot be collapsed now (unmapped since, no free huge page) is skipped."""
        if not self._pending or self._madvise is None:
            return
        start, length = self._pending.popleft()
        failed = self._madvise(start, length, MADV_COLLAPSE) != 0
        if failed and ctypes.get_errno() in (errno.EINVAL, errno.EPERM, errno.ENOSYS):
            self._pending.clear()


def huge_page_bytes() -> int:
    """AnonHugePages of this process, in bytes (0 where the kernel does not say)."""
    try:
        with open(f"/proc/{os.getpid()}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
