"""The sandbox child: runs one exercise snippet and reports what the checks need to see.

STANDALONE (principle 3): this file runs inside the sandbox interpreter, which may be another
Python (a conda env with CUDA) that does not have pttutor installed. It imports only the standard
library, torch and numpy, and never imports the `tutor` package.

Protocol (principle 4, no pickle): the parent passes a job file and the number of a pipe's write
end. The child writes length-prefixed frames to that pipe: a JSON `ready` event once torch is
imported, then a JSON `result` event listing blob sizes, then the blobs (`.npy` bytes). The
learner's stdout and stderr are the process's own, read by the parent.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import random
import struct
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from typing import Any

USER_FILENAME = "<your code>"
SETUP_FILENAME = "<setup>"
CHECK_FILENAME = "<check>"
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
        if array.dtype.hasobject:
            header["repr"] = safe_repr(array)
            return header
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


def exception_info(exc: BaseException, code: str) -> dict[str, Any]:
    """The learner's exception as data, with line numbers that match their editor."""
    lines = code.splitlines()
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == USER_FILENAME and frame.lineno is not None:
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            frames.append({"line": frame.lineno, "function": frame.name, "text": text})
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILENAME and exc.lineno:
        frames.append(
            {
                "line": exc.lineno,
                "function": "<module>",
                "text": (exc.text or "").strip(),
                "column": exc.offset,
            }
        )
    kind = type(exc)
    try:
        message = str(exc)
    except Exception:
        message = "<message could not be read>"
    if isinstance(exc, SyntaxError):
        message = exc.msg
    return {
        "type": kind.__name__,
        "module": kind.__module__,
        "mro": [c.__name__ for c in kind.__mro__],
        "message": message[:MAX_TEXT],
        "frames": frames,
    }


def seed_everything(torch: Any, np: Any, seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too


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


def resolve_device(torch: Any, wanted: str) -> tuple[Any, str | None]:
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        reason = (
            "this PyTorch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA device is visible to this interpreter"
        )
        return (
            None,
            f"CUDA was asked for, but {reason} ({sys.executable}, torch {torch.__version__})",
        )
    return torch.device(wanted), None


def run_job(job: dict[str, Any], out: FrameWriter, torch: Any, np: Any) -> None:
    """Run setup and the learner's code, evaluate the check expressions, send the result."""
    result: dict[str, Any] = {"event": "result", "torch": torch.__version__}
    device, problem = resolve_device(torch, job.get("device", "cpu"))
    if problem is not None:
        result["device_error"] = problem
        out.send_json(result)
        return
    result["device"] = device.type
    if device.type == "cuda":
        result["device_name"] = torch.cuda.get_device_name(device)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "device": device}
    seed = int(job.get("seed", 0))

    seed_everything(torch, np, seed)
    try:
        exec(compile(job.get("setup", ""), SETUP_FILENAME, "exec"), namespace)
    except BaseException as exc:
        result["setup_error"] = exception_info(exc, "")
        result["setup_error"]["traceback"] = "".join(traceback.format_exception(exc))[-MAX_TEXT:]
        out.send_json(result)
        return

    code = job["code"]
    seed_everything(torch, np, seed)  # so a learner's extra torch.rand() cannot shift setup data
    started = time.perf_counter()
    try:
        exec(compile(code, USER_FILENAME, "exec"), namespace)
        if device.type == "cuda":
            torch.cuda.synchronize()  # surface asynchronous CUDA errors as the learner's
    except BaseException as exc:
        result["exception"] = exception_info(exc, code)
    result["code_seconds"] = time.perf_counter() - started
    _flush_std_streams()

    encoder = Encoder(torch, np, int(job.get("result_budget", 64 * 2**20)))
    values: dict[str, Any] = {}
    with open(os.devnull, "w") as devnull:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull  # checks must not add to the learner's output
        try:
            for expr in job.get("exprs", []):
                try:
                    value = eval(compile(expr, CHECK_FILENAME, "eval"), dict(namespace))
                    values[expr] = {"value": encoder.encode(value)}
                except ResultTooLarge as exc:
                    values[expr] = {"too_large": str(exc)}
                except BaseException as exc:
                    values[expr] = {"error": exception_info(exc, "")}
        finally:
            sys.stdout, sys.stderr = saved
    result["values"] = values
    result["blobs"] = [len(b) for b in encoder.blobs]
    out.send_json(result)
    for blob in encoder.blobs:
        out.send_bytes(blob)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def main(argv: list[str]) -> int:
    job_path, fd = argv[1], int(argv[2])
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    out = FrameWriter(fd)
    apply_limits(job.get("limits", {}))
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    started = time.perf_counter()
    import numpy as np
    import torch

    threads = job.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    out.send_json({"event": "ready", "import_seconds": time.perf_counter() - started})
    try:
        run_job(job, out, torch, np)
    except BaseException as exc:  # a bug of ours, not the learner's: report it as such
        out.send_json(
            {
                "event": "result",
                "internal_error": "".join(traceback.format_exception(exc))[-MAX_TEXT:],
            }
        )
    _flush_std_streams()
    # Skip atexit handlers and non-daemon threads the learner may have left hanging.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
