"""Reading what the sandbox child sends, as untrusted input: bounded frames, bounded JSON, and
typed access to its fields.

The child runs the learner's code, and that code holds the result channel: it can write frames
of its own. So every frame is read within a size the parent chose before reading it, a message
is parsed only after a linear scan has bounded its nesting and its number of arrays and objects,
and every field is read with the type it must have. Anything else raises `DecodeError`, which
the runner reports as an "invalid result": never a pass, never a traceback, never an exhausted
stack or memory.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from itertools import accumulate
from typing import Any

FRAME_HEADER = struct.Struct(">Q")  # every frame: an 8-byte big-endian length, then the bytes
MAX_MESSAGE = 16 * 2**20  # bytes of one JSON message (the ready and result events)
MAX_BLOBS = 32_768  # .npy blobs after one result message
MAX_JSON_DEPTH = 200  # nested arrays and objects (the autograd graph nests ~130 deep at most)
MAX_CONTAINERS = 1_000_000  # arrays and objects in one message
MAX_TEXT = 2**20  # characters of a string field, unless the field says less
MAX_NAME = 8192  # characters of a name: a type, a module, a function, a dtype


class DecodeError(ValueError):
    """What the sandbox sent is malformed or over a limit: the run's result is invalid."""


class FrameTooLarge(DecodeError):
    """A frame announced more bytes than the reader would take; its body was not read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size} bytes, over the {limit}-byte limit")
        self.size = size
        self.limit = limit


def run_byte_limit(result_budget: int) -> int:
    """Bytes one run may send in all: a ready and a result message, and the blobs' budget."""
    return result_budget + 2 * (MAX_MESSAGE + FRAME_HEADER.size) + MAX_BLOBS * FRAME_HEADER.size


class FrameSource:
    """Reads length-prefixed frames, each within a limit given per frame, all within `total`.

    A frame over its limit, or over what is left of the total, raises FrameTooLarge or
    DecodeError after reading only its 8-byte header. A stream that ends, even inside a frame
    (a child killed while writing), reads as None: why it ended is the exit status's to say.
    """

    def __init__(self, readinto: Callable[[memoryview], int | None], total: int) -> None:
        self._readinto = readinto
        self.left = total  # bytes this run may still send, frame headers included

    def next_frame(self, limit: int) -> bytearray | None:
        head = self._read(FRAME_HEADER.size)
        if head is None:
            return None
        (size,) = FRAME_HEADER.unpack(head)
        if size > limit:
            raise FrameTooLarge(size, limit)
        if FRAME_HEADER.size + size > self.left:
            raise DecodeError(f"a frame of {size} bytes, past the limit on a run's result")
        self.left -= FRAME_HEADER.size + size
        return self._read(size)

    def _read(self, n: int) -> bytearray | None:
        buffer = bytearray(n)  # at most the limit the caller chose: allocated once, no copies
        with memoryview(buffer) as view:
            got = 0
            while got < n:
                count = self._readinto(view[got:])
                if not count:
                    return None
                got += count
        return buffer


# Escape pairs go first, so that what remains of every string is `"…"` without a `"` inside:
# both patterns then scan in linear time, even over a malformed message.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def check_nesting(data: bytes | bytearray) -> None:
    """Refuse a message that nests deeper than MAX_JSON_DEPTH or holds more than MAX_CONTAINERS
    arrays and objects, before any parser recurses into it or builds it. Exact for valid JSON."""
    skeleton = _STRING.sub(b"", _ESCAPE.sub(b"", data)).translate(None, _NOT_BRACKETS)
    containers = skeleton.count(b"[") + skeleton.count(b"{")
    if containers > MAX_CONTAINERS:
        raise DecodeError(
            f"a message of {containers} arrays and objects (the limit is {MAX_CONTAINERS})"
        )
    depth = max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)
    if depth > MAX_JSON_DEPTH:
        raise DecodeError(f"a message nested {depth} deep (the limit is {MAX_JSON_DEPTH})")


def parse_message(data: bytes | bytearray) -> dict[str, Any]:
    """One JSON message: a dict, or DecodeError. UTF-8 only; NaN and Infinity allowed."""
    check_nesting(data)
    try:
        message = json.loads(data.decode("utf-8"))
    except RecursionError:  # unreachable after check_nesting; kept as the last line of defence
        raise DecodeError("a message nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int of 5000 digits
        raise DecodeError(f"a message that is not JSON ({one_line(str(exc))})") from None
    if not isinstance(message, dict):
        raise DecodeError("a message that is not a JSON object")
    return message


def one_line(text: str, limit: int = 200) -> str:
    """`text` on one line and short: for a detail that names what was wrong."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def quote(value: Any) -> str:
    """A short repr of a value from the wire, for an error message."""
    return one_line(repr(value), 40)


# ------------------------------------------------------------------------------ typed fields

_REQUIRED: Any = object()


def expect_text(value: Any, what: str, cap: int = MAX_TEXT) -> str:
    if type(value) is not str:
        raise DecodeError(f"{what} is {_kind(value)}, not a string")
    if len(value) > cap:
        raise DecodeError(f"{what} has {len(value)} characters (the limit is {cap})")
    return value


def expect_int(value: Any, what: str, minimum: int | None = None) -> int:
    if type(value) is not int:  # bool is an int subclass, and not a number here
        raise DecodeError(f"{what} is {_kind(value)}, not an integer")
    if minimum is not None and value < minimum:
        raise DecodeError(f"{what} is {value}, below {minimum}")
    return value


def expect_float(value: Any, what: str) -> float:
    if type(value) is not float:
        raise DecodeError(f"{what} is {_kind(value)}, not a float")
    return value


def expect_number(value: Any, what: str) -> float:
    """An int or a float (not a bool), as a float."""
    if type(value) is not float and type(value) is not int:
        raise DecodeError(f"{what} is {_kind(value)}, not a number")
    try:
        return float(value)
    except OverflowError:
        raise DecodeError(f"{what} is an integer too large for a float") from None


def expect_bool(value: Any, what: str) -> bool:
    if type(value) is not bool:
        raise DecodeError(f"{what} is {_kind(value)}, not true or false")
    return value


def expect_list(value: Any, what: str, cap: int) -> list[Any]:
    if type(value) is not list:
        raise DecodeError(f"{what} is {_kind(value)}, not a list")
    if len(value) > cap:
        raise DecodeError(f"{what} has {len(value)} items (the limit is {cap})")
    return value


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names.update({list: "a list", dict: "an object", type(None): "null"})
    return names.get(type(value), type(value).__name__)


class Fields:
    """One JSON object from the sandbox, read field by field with the type each must have.

    A missing field raises DecodeError unless a default is given; a field present with the wrong
    type always does (null counts as present: it is a value, not an absence).
    """

    __slots__ = ("data", "what")

    def __init__(self, data: Any, what: str) -> None:
        if type(data) is not dict:
            raise DecodeError(f"{what} is {_kind(data)}, not an object")
        self.data: dict[str, Any] = data
        self.what = what

    def has(self, key: str) -> bool:
        return key in self.data

    def _field(self, key: str) -> str:
        return f"{self.what}'s {key!r}"

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise DecodeError(f"{self.what} has no {key!r}")
        return self.data[key]

    def text(self, key: str, default: Any = _REQUIRED, cap: int = MAX_TEXT) -> str:
        if key not in self.data and default is not _REQUIRED:
            return default
        return expect_text(self._get(key), self._field(key), cap)

    def optional_text(self, key: str, cap: int = MAX_TEXT) -> str | None:
        """A string, or None where the field is null or absent."""
        value = self.data.get(key)
        return None if value is None else expect_text(value, self._field(key), cap)

    def flag(self, key: str, default: Any = _REQUIRED) -> bool:
        if key not in self.data and default is not _REQUIRED:
            return default
        return expect_bool(self._get(key), self._field(key))

    def integer(self, key: str, default: Any = _REQUIRED, minimum: int | None = None) -> int:
        if key not in self.data and default is not _REQUIRED:
            return default
        return expect_int(self._get(key), self._field(key), minimum)

    def optional_integer(self, key: str, minimum: int | None = None) -> int | None:
        value = self.data.get(key)
        return None if value is None else expect_int(value, self._field(key), minimum)

    def real(self, key: str) -> float:
        """A JSON float (NaN and infinities included): what the child sends for a float."""
        return expect_float(self._get(key), self._field(key))

    def optional_number(self, key: str) -> float | None:
        value = self.data.get(key)
        return None if value is None else expect_number(value, self._field(key))

    def items(self, key: str, cap: int, default: Any = _REQUIRED) -> list[Any]:
        if key not in self.data and default is not _REQUIRED:
            return default
        return expect_list(self._get(key), self._field(key), cap)

    def integers(
        self, key: str, cap: int, minimum: int | None = None, default: Any = _REQUIRED
    ) -> tuple[int, ...]:
        if key not in self.data and default is not _REQUIRED:
            return default
        what = self._field(key)
        return tuple(expect_int(v, what, minimum) for v in expect_list(self._get(key), what, cap))

    def texts(
        self, key: str, cap: int, cap_each: int = MAX_TEXT, default: Any = _REQUIRED
    ) -> tuple[str, ...]:
        if key not in self.data and default is not _REQUIRED:
            return default
        what = self._field(key)
        items = expect_list(self._get(key), what, cap)
        return tuple(expect_text(v, what, cap_each) for v in items)

    def object(self, key: str) -> Fields | None:
        """A nested object, or None where the field is null or absent."""
        value = self.data.get(key)
        return None if value is None else Fields(value, self._field(key))


def blob_sizes(message: Fields, budget: int) -> tuple[int, ...]:
    """The blob sizes a result message announces, checked against the result budget before a
    single blob is read: at most MAX_BLOBS, each a non-negative int, together within `budget`."""
    sizes = message.integers("blobs", cap=MAX_BLOBS, minimum=0, default=())
    total = sum(sizes)
    if total > budget:
        raise DecodeError(
            f"{len(sizes)} blobs of {total} bytes announced, over the {budget}-byte result budget"
        )
    return sizes
