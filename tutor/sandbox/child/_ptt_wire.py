"""Frames and the encoder: how the child sends results without pickle.

Results are length-prefixed frames on the result channel: a JSON `result` event listing blob
sizes, then the blobs (`.npy` bytes). Standalone: the standard library, torch and numpy only.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
from collections.abc import Mapping
from typing import Any

MAX_TEXT = 4000  # characters of a string or repr kept in a result
MAX_ITEMS = 10_000  # elements of a list, tuple or dict kept in a result
MAX_DEPTH = 20


class FrameWriter:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send_bytes(self, data: bytes) -> None:
        view = memoryview(struct.pack(">Q", len(data)) + data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_bytes(json.dumps(message, allow_nan=True).encode("utf-8"))


class ResultTooLarge(Exception):
    pass


class Encoder:
    """Turns Python and torch values into JSON-able trees plus `.npy` blobs."""

    def __init__(self, torch: Any, np: Any, budget: int) -> None:
        self.torch = torch
        self.np = np
        self.budget = budget
        self.blobs: list[bytes] = []

    def _blob(self, array: Any) -> int:
        buf = io.BytesIO()
        # np.ascontiguousarray would turn a 0-d array into 1-d; require() keeps the shape.
        array = self.np.require(array, requirements="C")
        self.np.lib.format.write_array(buf, array, allow_pickle=False)
        data = buf.getvalue()
        self.budget -= len(data)
        if self.budget < 0:
            raise ResultTooLarge("the values to check are larger than the result limit")
        self.blobs.append(data)
        return len(self.blobs) - 1

    def encode(self, value: Any, depth: int = 0) -> dict[str, Any]:
        torch, np = self.torch, self.np
        if depth > MAX_DEPTH:
            return {"kind": "object", "type": type(value).__name__, "repr": "<nested too deep>"}
        if value is None:
            return {"kind": "none"}
        if isinstance(value, bool):
            return {"kind": "bool", "value": value}
        if isinstance(value, int):
            return {"kind": "int", "value": value}
        if isinstance(value, float):
            return {"kind": "float", "value": value}
        if isinstance(value, complex):
            return {"kind": "complex", "real": value.real, "imag": value.imag}
        if isinstance(value, str):
            return {"kind": "str", "value": value[:MAX_TEXT], "truncated": len(value) > MAX_TEXT}
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, torch.Size):
            return {"kind": "size", "value": list(value)}
        if isinstance(value, torch.dtype):
            return {"kind": "dtype", "value": str(value)}
        if isinstance(value, torch.device):
            return {"kind": "device", "type": value.type, "index": value.index}
        if isinstance(value, torch.nn.Module):
            return {"kind": "module", "type": type(value).__name__, "repr": safe_repr(value)}
        if isinstance(value, np.ndarray):
            return self.ndarray(value)
        if isinstance(value, np.generic):
            return self.encode(value.item(), depth)
        if isinstance(value, Mapping):
            items = list(value.items())[:MAX_ITEMS]
            return {
                "kind": "dict",
                "keys": [self.encode(k, depth + 1) for k, _ in items],
                "values": [self.encode(v, depth + 1) for _, v in items],
                "length": len(value),
            }
        if isinstance(value, (list, tuple)):
            return {
                "kind": "tuple" if isinstance(value, tuple) else "list",
                "items": [self.encode(v, depth + 1) for v in value[:MAX_ITEMS]],
                "length": len(value),
            }
        if isinstance(value, (set, frozenset)):
            items = sorted(value, key=repr)[:MAX_ITEMS]
            return {"kind": "set", "items": [self.encode(v, depth + 1) for v in items]}
        return {"kind": "object", "type": type(value).__name__, "repr": safe_repr(value)}

    def ndarray(self, array: Any) -> dict[str, Any]:
        header: dict[str, Any] = {
            "kind": "ndarray",
            "dtype": str(array.dtype),
            "shape": list(array.shape),
        }
        dtype = array.dtype
        if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
            header["repr"] = safe_repr(array)  # strings, dates, records, objects: by repr
            return header
        if not dtype.isnative:
            array = array.astype(dtype.newbyteorder("="))  # the parent reads native order only
            header["dtype"] = str(array.dtype)
        self._check_size(array.size * array.dtype.itemsize)
        header["blob"] = self._blob(array)
        return header

    def _check_size(self, nbytes: int) -> None:
        if nbytes > self.budget:
            raise ResultTooLarge(
                f"a value to check holds {nbytes / 2**20:.1f} MiB, over the "
                f"{self.budget / 2**20:.1f} MiB left for results"
            )

    def tensor(self, t: Any, with_grad: bool = True) -> dict[str, Any]:
        torch = self.torch
        header: dict[str, Any] = {
            "kind": "tensor",
            "dtype": str(t.dtype).removeprefix("torch."),
            "shape": list(t.shape),
            "device": t.device.type,
            "requires_grad": bool(t.requires_grad),
            "is_leaf": bool(t.is_leaf),
            "grad_fn": type(t.grad_fn).__name__ if t.grad_fn is not None else None,
            "is_parameter": isinstance(t, torch.nn.Parameter),
        }
        if with_grad:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # .grad of a non-leaf warns; None is the answer
                grad = t.grad
            header["grad"] = self.tensor(grad, with_grad=False) if grad is not None else None
        if t.device.type == "meta":
            header["note"] = "a meta tensor has no values"
            return header
        self._check_size(t.numel() * t.element_size())
        data = t.detach()
        if data.layout != torch.strided:
            data = data.to_dense()
        if data.is_quantized:
            data = data.dequantize()
        if data.dtype in (torch.bfloat16,) or "float8" in str(data.dtype):
            data = data.float()  # exact widening; the header keeps the original dtype
        elif data.dtype == getattr(torch, "complex32", None):
            data = data.to(torch.complex64)
        elif data.dtype in _unsigned_wide(torch):
            data = data.to(torch.int64)
        data = data.cpu().resolve_conj().resolve_neg()
        header["blob"] = self._blob(data.numpy())
        return header


def _unsigned_wide(torch: Any) -> tuple[Any, ...]:
    return tuple(getattr(torch, n) for n in ("uint16", "uint32", "uint64") if hasattr(torch, n))


def safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a learner's __repr__ may raise anything
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _read_exactly(sock: Any, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the parent closed the connection")
        data += chunk
    return bytes(data)


def _read_frame(sock: Any) -> bytes:
    (size,) = struct.unpack(">Q", _read_exactly(sock, 8))
    return _read_exactly(sock, size)
