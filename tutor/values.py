"""Values that came back from the sandbox, decoded in the UI process with numpy only.

The child sends a JSON tree plus `.npy` blobs; `decode` turns that into these plain objects (and
plain Python scalars, strings, lists, tuples and dicts), which the checker compares. The child
runs the learner's code, so decoding is strict: every node's fields must have their types, every
blob is used once, and a tensor's shape and dtype are those of the array that was decoded.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .parsing import one_parser
from .sandbox.wire import MAX_NAME, DecodeError, Fields, expect_int, quote

if TYPE_CHECKING:  # numpy is imported where values are compared, not at start-up
    import numpy as np


@dataclass(frozen=True)
class TensorValue:
    dtype: str  # torch's name without the prefix: "float32", "bfloat16", "int64"…
    shape: tuple[int, ...]
    device: str  # device *type*: "cpu", "cuda"
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None
    is_parameter: bool
    array: np.ndarray | None  # None for meta tensors
    grad: TensorValue | None
    note: str | None = None

    def describe(self) -> str:
        kind = "Parameter" if self.is_parameter else "tensor"
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"{kind} of shape {list(self.shape)}, {self.dtype} on {self.device}{extra}"


@dataclass(frozen=True)
class ArrayValue:
    dtype: str
    shape: tuple[int, ...]
    array: np.ndarray | None
    repr: str | None = None

    def describe(self) -> str:
        return f"numpy array of shape {list(self.shape)}, {self.dtype}"


@dataclass(frozen=True)
class SizeValue:
    dims: tuple[int, ...]

    def __str__(self) -> str:
        return f"torch.Size({list(self.dims)})"


@dataclass(frozen=True)
class DtypeValue:
    name: str  # "torch.float32"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DeviceValue:
    type: str
    index: int | None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


@dataclass(frozen=True)
class ObjectValue:
    """Anything else: compared by type name and repr."""

    kind: str  # "module" or "object"
    type: str
    repr: str

    def __str__(self) -> str:
        return self.repr


@dataclass(frozen=True)
class SetValue:
    items: tuple[Any, ...]


# The .npy dtypes a blob may hold: plain numbers and booleans, in this machine's byte order.
NPY_DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)
# A tensor's dtype (torch's name) and the dtype of the blob that holds its values: numpy has no
# bfloat16, float8, complex32 or wide unsigned types, so the child widens those exactly.
TENSOR_BLOB_DTYPES = {
    **{name: name for name in NPY_DTYPES if name not in ("uint16", "uint32", "uint64")},
    "bfloat16": "float32",
    "complex32": "complex64",
    "uint16": "int64",
    "uint32": "int64",
    "uint64": "int64",
    # quantized tensors arrive dequantized
    "qint8": "float32",
    "quint8": "float32",
    "qint32": "float32",
    "quint4x2": "float32",
    "quint2x4": "float32",
}
_FLOAT8 = re.compile(r"float8_e[0-9a-z]{1,16}")
_DEVICE_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_VALUE_DEPTH = 32  # the child stops at 20 levels
MAX_ITEMS = 10_000  # items of a list, tuple, set or dict (the child keeps that many)
MAX_VALUE_TEXT = 8192  # characters of a string or repr (the child keeps 4000)
MAX_DIMS = 64
MAX_NPY_HEADER = 10_000  # numpy's own default limit on a header's size


class Blobs:
    """The `.npy` blobs of one result: each may back one value only, found by its index."""

    def __init__(self, blobs: Sequence[bytes | bytearray]) -> None:
        self._blobs = blobs
        self._used: set[int] = set()

    def take(self, index: Any) -> bytes | bytearray:
        index = expect_int(index, "a blob index")
        if not 0 <= index < len(self._blobs):
            raise DecodeError(f"blob {index} does not exist (there are {len(self._blobs)})")
        if index in self._used:
            raise DecodeError(f"blob {index} backs two values")
        self._used.add(index)
        return self._blobs[index]


def read_npy(data: bytes | bytearray) -> np.ndarray:
    """A read-only array over `data`, or DecodeError: the header is parsed and checked (dtype
    allowed, shape times item size equal to the bytes present) before anything is allocated."""
    import numpy as np

    shape, fortran, dtype, offset = _npy_header(bytes(memoryview(data)[: _header_end(data)]))
    count = math.prod(shape)
    if count * dtype.itemsize != len(data) - offset:
        raise DecodeError(
            f"an .npy blob of shape {list(shape)} and dtype {dtype} needs "
            f"{count * dtype.itemsize} bytes but holds {len(data) - offset}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    array = array.reshape(shape, order="F" if fortran else "C")
    array.flags.writeable = False
    return array


def _header_end(data: bytes | bytearray) -> int:
    """Where an .npy header ends, from its length field; DecodeError if that is past the cap."""
    if len(data) < 12 or bytes(data[:6]) != b"\x93NUMPY":
        raise DecodeError("an .npy blob without the .npy magic")
    if data[6] == 1:
        length, start = int.from_bytes(data[8:10], "little"), 10
    elif data[6] in (2, 3):
        length, start = int.from_bytes(data[8:12], "little"), 12
    else:
        raise DecodeError(f"an .npy blob of format version {quote((data[6], data[7]))}")
    if length > MAX_NPY_HEADER:
        raise DecodeError("an .npy blob with an oversized header")
    return start + length


@functools.lru_cache(maxsize=512)
def _npy_header(header: bytes) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """(shape, fortran order, canonical dtype, data offset) of one header, checked; cached,
    because a run's blobs repeat a few headers and numpy parses each with literal_eval."""
    from numpy.lib import format as npy

    head = io.BytesIO(header)
    try:
        version = npy.read_magic(head)
        if version not in ((1, 0), (2, 0)):
            raise DecodeError(f"an .npy blob of format version {quote(version)}")
        with one_parser():  # literal_eval: not beside another thread's ast.parse
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(head, MAX_NPY_HEADER)
            else:
                shape, fortran, dtype = npy.read_array_header_2_0(head, MAX_NPY_HEADER)
    except DecodeError:
        raise
    except Exception as exc:  # numpy's header parser may raise anything on a hostile header
        raise DecodeError(f"an .npy blob with a malformed header ({type(exc).__name__})") from None
    allowed = _npy_dtypes()
    if dtype.fields is not None or dtype.subdtype is not None or dtype.str not in allowed:
        raise DecodeError(f"an .npy blob of dtype {quote(str(dtype))}, which is not allowed")
    if len(shape) > MAX_DIMS or any(type(d) is not int or d < 0 for d in shape):
        raise DecodeError(f"an .npy blob of shape {quote(shape)}")
    return tuple(shape), bool(fortran), allowed[dtype.str], head.tell()


@functools.cache
def _npy_dtypes() -> dict[str, np.dtype[Any]]:
    import numpy as np

    return {np.dtype(name).str: np.dtype(name) for name in NPY_DTYPES}


def decode(node: Any, blobs: Blobs | Sequence[bytes | bytearray]) -> Any:
    """Decode one encoded value; raises DecodeError on anything malformed or over a limit.

    Pass one `Blobs` for every value of a result, so that no blob backs two values."""
    return _decode(node, blobs if isinstance(blobs, Blobs) else Blobs(blobs), 0)


def _decode(node: Any, blobs: Blobs, depth: int) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise DecodeError(f"a value nested more than {MAX_VALUE_DEPTH} deep")
    f = Fields(node, "a value")
    kind = f.text("kind", cap=16)
    if kind == "none":
        return None
    if kind == "bool":
        return f.flag("value")
    if kind == "int":
        return f.integer("value")
    if kind == "float":
        return f.real("value")
    if kind == "complex":
        return complex(f.real("real"), f.real("imag"))
    if kind == "str":
        f.flag("truncated", default=False)
        return f.text("value", cap=MAX_VALUE_TEXT)
    if kind == "tensor":
        return _tensor(f, blobs, with_grad=True)
    if kind == "ndarray":
        return _ndarray(f, blobs)
    if kind == "size":
        return SizeValue(f.integers("value", cap=MAX_DIMS))
    if kind == "dtype":
        return DtypeValue(f.text("value", cap=64))
    if kind == "device":
        return DeviceValue(_device_type(f, "type"), f.optional_integer("index", minimum=0))
    if kind in ("module", "object"):
        return ObjectValue(kind, f.text("type", cap=MAX_NAME), f.text("repr", cap=MAX_VALUE_TEXT))
    if kind in ("list", "tuple", "set"):
        items = [_decode(item, blobs, depth + 1) for item in f.items("items", MAX_ITEMS)]
        f.optional_integer("length", minimum=len(items))
        if kind == "list":
            return items
        return tuple(items) if kind == "tuple" else SetValue(tuple(items))
    if kind == "dict":
        keys = f.items("keys", MAX_ITEMS)
        values = f.items("values", MAX_ITEMS)
        if len(keys) != len(values):
            raise DecodeError(f"a dict of {len(keys)} keys and {len(values)} values")
        f.optional_integer("length", minimum=len(keys))
        return {
            _hashable(_decode(k, blobs, depth + 1)): _decode(v, blobs, depth + 1)
            for k, v in zip(keys, values, strict=True)
        }
    raise DecodeError(f"a value of unknown kind {quote(kind)}")


def _hashable(key: Any) -> Any:
    if isinstance(key, (str, int, float, bool, type(None))):
        return key
    if isinstance(key, tuple):
        try:
            hash(key)
        except TypeError:
            return repr(key)
        return key
    return repr(key)


def _device_type(f: Fields, key: str) -> str:
    name = f.text(key, cap=32)
    if not _DEVICE_TYPE.fullmatch(name):
        raise DecodeError(f"a device type {quote(name)}")
    return name


def _tensor(f: Fields, blobs: Blobs, *, with_grad: bool) -> TensorValue:
    dtype = f.text("dtype", cap=32)
    blob_dtype = TENSOR_BLOB_DTYPES.get(dtype) or ("float32" if _FLOAT8.fullmatch(dtype) else None)
    if blob_dtype is None:
        raise DecodeError(f"a tensor of unknown dtype {quote(dtype)}")
    shape = f.integers("shape", cap=MAX_DIMS, minimum=0)
    device = _device_type(f, "device")
    grad = None
    grad_node = f.object("grad")
    if grad_node is not None:
        if not with_grad:
            raise DecodeError("a gradient that has a gradient")
        if grad_node.text("kind", cap=16) != "tensor":
            raise DecodeError("a tensor's .grad that is not a tensor")
        grad = _tensor(grad_node, blobs, with_grad=False)
    array = None
    if f.has("blob"):
        array = read_npy(blobs.take(f.data["blob"]))
        if str(array.dtype) != blob_dtype or array.shape != shape:
            raise DecodeError(
                f"a {dtype} tensor of shape {list(shape)} sent as {array.dtype} values of shape "
                f"{list(array.shape)}"
            )
    if (array is None) != (device == "meta"):
        raise DecodeError(f"a tensor on {device} {'without' if array is None else 'with'} values")
    return TensorValue(
        dtype=dtype,
        shape=shape,
        device=device,
        requires_grad=f.flag("requires_grad"),
        is_leaf=f.flag("is_leaf"),
        grad_fn=f.optional_text("grad_fn", cap=MAX_NAME),
        is_parameter=f.flag("is_parameter", default=False),
        array=array,
        grad=grad,
        note=f.optional_text("note", cap=MAX_VALUE_TEXT),
    )


def _ndarray(f: Fields, blobs: Blobs) -> ArrayValue:
    dtype = f.text("dtype", cap=MAX_NAME)
    shape = f.integers("shape", cap=MAX_DIMS, minimum=0)
    if not f.has("blob"):  # an object array: the child sends its repr instead of values
        return ArrayValue(dtype, shape, None, f.text("repr", cap=MAX_VALUE_TEXT))
    if f.has("repr"):
        raise DecodeError("a numpy array with both values and a repr")
    array = read_npy(blobs.take(f.data["blob"]))
    if str(array.dtype) != dtype or array.shape != shape:
        raise DecodeError(
            f"a numpy array of dtype {quote(dtype)} and shape {list(shape)} sent as "
            f"{array.dtype} values of shape {list(array.shape)}"
        )
    return ArrayValue(dtype, shape, array)
