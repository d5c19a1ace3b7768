"""Random numbers: seeded per epoch, saved in checkpoints, restored on resume.

Two kinds of randomness, seeded apart:

- the **data order** (a shuffling DataLoader, its own ``generator=`` included) comes from
  ``(seed, epoch)``: the same in every process of a torchrun run, which must agree on it;
- the **model's** random numbers (dropout masks) come from ``(seed, epoch, rank)``: different
  in every process, or each would drop the same units and DDP would average one mask.

An epoch's random numbers then depend on nothing but its number, so a resumed run replays
them: at an epoch boundary by seeding again, mid-epoch by restoring the saved states.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from rnnlib import course


def epoch_seed(*key: int) -> int:
    """One 32-bit seed from ``(seed, epoch)`` or ``(seed, epoch, rank)``, well mixed."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def loader_generators(data: Any) -> list[torch.Generator]:
    """The generators a DataLoader shuffles with when it was given one (``generator=``)."""
    found = []
    for owner in (data, getattr(data, "sampler", None),
                  getattr(getattr(data, "batch_sampler", None), "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def epoch_batches(data: Iterable, seed: int, epoch: int, rank: int,
                  skip: int = 0, saved: Mapping[str, Any] | None = None) -> tuple[Iterator, int]:
    """This epoch's batches, with every generator seeded for it; and how many were skipped.

    Resuming mid-epoch (``skip`` batches done already), the same order is replayed, the
    batches done are skipped, and the random generators are set to ``saved``, as they were
    when the checkpoint was written.
    """
    order_seed = epoch_seed(seed, epoch)
    course.seed_everything(order_seed)
    for generator in loader_generators(data):
        generator.manual_seed(order_seed)
    if isinstance(getattr(data, "sampler", None), DistributedSampler):
        data.sampler.set_epoch(epoch)
    batches = iter(data)
    first = next(batches, _END)  # a DataLoader draws its order's random numbers here
    course.seed_everything(epoch_seed(seed, epoch, rank))
    batches = iter(()) if first is _END else itertools.chain([first], batches)
    skipped = sum(1 for _ in itertools.islice(batches, skip))
    if skip:
        set_rng_state(saved)
    return batches, skipped


_END = object()


def rng_state(device: torch.device) -> dict[str, Any]:
    """Python's, NumPy's and torch's generator states (and CUDA's), as checkpoint-safe values."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached]}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, Any] | None) -> None:
    if state is None:
        return
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
