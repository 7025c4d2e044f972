"""The zygote's memory in huge pages: which regions it collapses, and that it does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.sandbox.runner import CHILD_SCRIPT

sys.path.insert(0, str(Path(CHILD_SCRIPT)))
from _ptt_hugepages import CHUNK, HUGE_PAGE, collapsible_regions

MIB = 2**20

MAPS = """\
55d0a0000000-55d0a0400000 r-xp 00000000 08:01 1234     /usr/bin/python3.11
55d0a1000000-55d0a1a00000 rw-p 00000000 00:00 0        [heap]
7f0000100000-7f0000d00000 rw-p 00000000 00:00 0
7f0001000000-7f0001200000 rw-p 00001000 08:01 99       /usr/lib/libtorch_cpu.so
7f0002000000-7f0002100000 rw-p 00000000 00:00 0
7f0003000000-7f0003600000 r--p 00000000 00:00 0
7ffc00000000-7ffc00800000 rw-p 00000000 00:00 0        [stack]
"""


def test_only_private_writable_anonymous_memory_and_the_heap_are_collapsed() -> None:
    pieces = collapsible_regions(MAPS)
    heap = [p for p in pieces if 0x55D0A1000000 <= p[0] < 0x55D0A1A00000]
    anon = [p for p in pieces if 0x7F0000100000 <= p[0] < 0x7F0000D00000]
    assert sum(n for _, n in heap) == 10 * MIB  # 2 MiB-aligned already
    # 1 MiB in, 13 MiB long: the aligned part is 2 MiB..12 MiB
    assert anon[0][0] == 0x7F0000200000 and sum(n for _, n in anon) == 10 * MIB
    assert len(pieces) == len(heap) + len(anon)  # no file, stack, read-only or too-small region
    assert all(start % HUGE_PAGE == 0 and 0 < n <= CHUNK for start, n in pieces)


COLLAPSE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from _ptt_hugepages import HugePages, huge_page_bytes
block = bytearray(64 * 2**20)  # 64 MiB of private anonymous memory, touched
for i in range(0, len(block), 4096):
    block[i] = 1
before = huge_page_bytes()
pages = HugePages()
steps = 0
while pages.pending:
    pages.step()
    steps += 1
print(json.dumps({"before": before, "after": huge_page_bytes(), "steps": steps}))
"""


def _collapse_supported() -> bool:
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return sys.platform.startswith("linux") and mode.exists() and "[never]" not in mode.read_text()


@pytest.mark.skipif(not _collapse_supported(), reason="needs Linux transparent huge pages")
def test_a_process_that_collapses_its_memory_gets_huge_pages() -> None:
    out = subprocess.run(
        [sys.executable, "-c", COLLAPSE, str(CHILD_SCRIPT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout)
    if result["after"] == 0 and result["steps"] <= 1:
        pytest.skip("this kernel has no MADV_COLLAPSE (Linux 6.1+)")
    assert result["after"] >= result["before"] + 32 * MIB
