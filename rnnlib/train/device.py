"""Where ``fit`` runs: the device, and how many CPU threads.

CUDA, then Apple's MPS, then the CPU (``rnnlib.course.choose_device``), one GPU per process
under torchrun. CPU threads are chosen on purpose: a small RNN runs many times slower with
more threads than free cores (``rnnlib.course.choose_threads``).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from rnnlib import course


def named_device(device: str | torch.device) -> torch.device:
    """"auto"/"cpu"/"cuda"/"mps" go through choose_device (a clear error if missing)."""
    if isinstance(device, str) and device.strip().lower() in course.DEVICES:
        return course.choose_device(device.strip().lower())
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={str(device)!r} was asked for, but torch sees no CUDA GPU "
                           f"here; use device='auto' or 'cpu'")
    if device.type == "cuda" and device.index is not None and \
            device.index >= torch.cuda.device_count():
        raise RuntimeError(f"device={str(device)!r} was asked for, but torch sees "
                           f"{torch.cuda.device_count()} GPU(s) here (cuda:0 ...)")
    return device


def pick(device: Any, session: Any, local_rank: int, world: int) -> torch.device:
    """The device to train on: as asked, else ``rnnlib.setup``'s, else the best there is."""
    if device is None:
        device = session.device if session else "auto"
    device = named_device(device)
    if device.type == "cuda" and world > 1:  # one GPU per process
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def set_threads(requested: int | None, session: Any, world: int) -> int:
    """Set torch's CPU threads on purpose, unless that was already done.

    ``rnnlib.setup`` has chosen them in a notebook; ``OMP_NUM_THREADS`` in the environment
    (torchrun sets it to 1) is someone's choice too. Otherwise ``course.choose_threads``
    decides (``RNNLIB_THREADS`` wins), shared between the processes of a torchrun run.
    """
    explicit = requested is not None or bool(os.environ.get("RNNLIB_THREADS"))
    if not explicit and (session is not None or os.environ.get("OMP_NUM_THREADS")):
        return torch.get_num_threads()
    n = course.choose_threads(requested)
    if not explicit:
        n = max(1, n // world)
    torch.set_num_threads(n)
    return n


def batch_to_device(inputs: Any, targets: Any, device: torch.device) -> tuple[Any, Any]:
    """One ``(inputs, targets)`` batch on ``device``, packing lengths left on the CPU."""
    return to_device(inputs, device, keep_lengths=True), to_device(targets, device)


def to_device(x: Any, device: torch.device, keep_lengths: bool = False) -> Any:
    """Move tensors (also inside tuples, lists, dicts) to ``device``, without waiting.

    ``non_blocking=True`` lets the copy to a GPU overlap with computing; from pinned memory
    it is truly asynchronous. With ``keep_lengths`` (for inputs), a 1-d integer CPU tensor
    after the first item of a tuple, as in ``(padded, lengths)``, stays on the CPU:
    ``pack_padded_sequence`` wants the lengths there.
    """
    if isinstance(x, torch.Tensor | torch.nn.utils.rnn.PackedSequence):
        return x.to(device, non_blocking=True)
    if isinstance(x, tuple | list):
        return type(x)(item if keep_lengths and i > 0 and _is_lengths(item)
                       else to_device(item, device) for i, item in enumerate(x))
    if isinstance(x, dict):
        return {key: to_device(value, device) for key, value in x.items()}
    return x


def _is_lengths(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.dim() == 1 and x.device.type == "cpu" \
        and not x.is_floating_point()
