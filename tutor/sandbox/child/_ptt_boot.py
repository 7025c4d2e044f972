"""Starting PyTorch in the sandbox interpreter: the imports a zygote pays once, and warm-up.

Some of torch imports itself lazily on first use: the first optimizer in a process imports
torch._dynamo, sympy and mpmath (~800 modules, over a second). Whatever the curriculum and
typical learner code reach is imported here, in the zygote, so that no spare pays it again.
Each of these imports starts no thread and creates no CUDA context (fork rules); a test checks it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from typing import Any

WARM_IMPORTS = (
    "numpy.random",  # numpy 2 imports it on the first np.random call
    "torch.optim",
    "torch._dynamo",  # the first optimizer's step/constructor pulls it in
    "torch.distributions",
    "torch.nn.functional",
    "torch.utils.data",
    "torch.autograd.graph",
    "torch.testing",
    # Found by `benchmarks/warm_imports.py profile`: still imported by a run's first use.
    "torch.profiler._cupti_monitor",  # record_function, in every optimizer step
    "torch._subclasses.schema_check_mode",  # the first print() of a tensor
    "torch.utils.serialization",  # torch.save / torch.load
)


def import_torch(warm: bool = True) -> tuple[Any, Any]:
    """Import numpy and torch (and, for a zygote, what learner code would import lazily)."""
    # NVML-based availability checks never initialise CUDA, so a forking zygote stays safe.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import numpy as np
    import torch

    if warm:
        for name in WARM_IMPORTS:
            # An older torch may lack one: then a spare pays for it if it is used.
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    return torch, np


def warm_up(torch: Any, np: Any, device: Any) -> None:
    """A tiny forward, backward and optimizer step, so the job pays no first-use costs."""
    import random

    random.seed(0)
    np.random.seed(0)  # numpy.random and torch's generators initialise lazily
    torch.manual_seed(0)
    w = torch.ones(4, 4, device=device, requires_grad=True)
    (w @ w).sum().backward()
    layer = torch.nn.Linear(4, 2).to(device)
    torch.nn.functional.relu(layer(w)).sum().backward()
    for make in (torch.optim.SGD, torch.optim.Adam):
        optimizer = make(layer.parameters(), lr=0.1)
        optimizer.step()
        optimizer.zero_grad()
    if device.type == "cuda":
        torch.cuda.synchronize()
