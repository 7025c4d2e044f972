"""Values that came back from the sandbox, decoded in the UI process with numpy only.

The child sends a JSON tree plus `.npy` blobs; `decode` turns that into these plain objects (and
plain Python scalars, strings, lists, tuples and dicts), which the checker compares.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


class DecodeError(ValueError):
    pass


def read_npy(data: bytes) -> np.ndarray:
    import numpy as np

    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def decode(node: dict[str, Any], blobs: Sequence[bytes]) -> Any:
    """Decode one encoded value; raises DecodeError on a malformed tree."""
    try:
        return _decode(node, blobs)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise DecodeError(f"malformed value from the sandbox: {exc!r}") from exc


def _decode(node: dict[str, Any], blobs: Sequence[bytes]) -> Any:
    kind = node["kind"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "float", "str"):
        return node["value"]
    if kind == "complex":
        return complex(node["real"], node["imag"])
    if kind == "tensor":
        return _tensor(node, blobs)
    if kind == "ndarray":
        array = read_npy(blobs[node["blob"]]) if "blob" in node else None
        return ArrayValue(node["dtype"], tuple(node["shape"]), array, node.get("repr"))
    if kind == "size":
        return SizeValue(tuple(node["value"]))
    if kind == "dtype":
        return DtypeValue(node["value"])
    if kind == "device":
        return DeviceValue(node["type"], node["index"])
    if kind in ("module", "object"):
        return ObjectValue(kind, node["type"], node["repr"])
    if kind == "list":
        return [_decode(item, blobs) for item in node["items"]]
    if kind == "tuple":
        return tuple(_decode(item, blobs) for item in node["items"])
    if kind == "set":
        return SetValue(tuple(_decode(item, blobs) for item in node["items"]))
    if kind == "dict":
        keys = [_hashable(_decode(k, blobs)) for k in node["keys"]]
        return dict(zip(keys, (_decode(v, blobs) for v in node["values"]), strict=True))
    raise DecodeError(f"unknown value kind {kind!r}")


def _hashable(key: Any) -> Any:
    return key if isinstance(key, (str, int, float, bool, tuple, type(None))) else repr(key)


def _tensor(node: dict[str, Any], blobs: Sequence[bytes]) -> TensorValue:
    grad = node.get("grad")
    return TensorValue(
        dtype=node["dtype"],
        shape=tuple(node["shape"]),
        device=node["device"],
        requires_grad=node["requires_grad"],
        is_leaf=node["is_leaf"],
        grad_fn=node["grad_fn"],
        is_parameter=node.get("is_parameter", False),
        array=read_npy(blobs[node["blob"]]) if "blob" in node else None,
        grad=_tensor(grad, blobs) if grad else None,
        note=node.get("note"),
    )
