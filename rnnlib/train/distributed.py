"""torchrun: the same ``fit`` call trains with DistributedDataParallel in every process.

torchrun starts one process per GPU (or several on a CPU) and tells each its ``RANK`` and the
``WORLD_SIZE``. Each process trains a copy of the model on its own share of every epoch; after
each backward pass DDP averages the gradients across processes, so the copies stay equal.
Outside torchrun every function here does nothing, or hands back what it was given.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler


def torchrun_env() -> tuple[int, int, int]:
    """(rank, local rank, world size): torchrun sets RANK, LOCAL_RANK and WORLD_SIZE."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)))


@contextlib.contextmanager
def process_group(device: torch.device, world: int):
    """Under torchrun, join the other processes (NCCL between GPUs, gloo between CPUs) for
    the run, and leave at the end. Outside torchrun, or when the script joined already: nothing.
    """
    if world <= 1 or dist.is_initialized():
        yield
        return
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield
        dist.barrier()  # leave together: a process leaving while others still talk can hang
    finally:
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """DistributedDataParallel under torchrun: the same weights in every process (copied from
    the first at the start), and after each backward the gradients averaged across processes.
    Alone: the model itself."""
    if world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def gather(value: Any, world: int) -> list[Any]:
    """``value`` from every process, in rank order (a list of one outside torchrun)."""
    if world <= 1:
        return [value]
    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return values


def mean_across(values: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of ``values`` over the processes: all of them then read the same numbers."""
    if world > 1:
        dist.all_reduce(values)
        values /= world
    return values


def this_process_share(data: Iterable | None, device: torch.device, rank: int, world: int,
                       seed: int, train: bool) -> Iterable | None:
    """The batches this process trains on: all of them, or its share under torchrun.

    A DataLoader over a dataset gets a DistributedSampler (each process a different slice of
    each epoch's order) and, on CUDA, pinned memory (page-locked, so the copy to the GPU can run
    while the GPU computes). Any other iterable is dealt out batch by batch.
    """
    if data is None:
        return None
    loader_over_dataset = isinstance(data, DataLoader) and data.batch_size is not None and \
        not isinstance(data.dataset, torch.utils.data.IterableDataset)
    if loader_over_dataset and train:
        pin = device.type == "cuda" and not data.pin_memory
        if world > 1 or pin:
            sampler = data.sampler
            if world > 1:
                sampler = DistributedSampler(data.dataset, num_replicas=world, rank=rank,
                                             shuffle=isinstance(data.sampler, RandomSampler),
                                             seed=seed, drop_last=data.drop_last)
            return DataLoader(data.dataset, batch_size=data.batch_size, sampler=sampler,
                              num_workers=data.num_workers, collate_fn=data.collate_fn,
                              pin_memory=data.pin_memory or device.type == "cuda",
                              drop_last=data.drop_last, worker_init_fn=data.worker_init_fn,
                              generator=data.generator, prefetch_factor=data.prefetch_factor,
                              persistent_workers=data.persistent_workers)
    if world > 1:
        return DealtOut(data, rank, world, whole_rounds=train)
    return data


class DealtOut:
    """Batches dealt out like cards: process ``rank`` gets batches rank, rank + world, ...

    For training, only whole rounds are dealt, so every process takes the same number of
    steps (DDP waits at every step for all of them).
    """

    def __init__(self, batches: Iterable, rank: int, world: int, whole_rounds: bool):
        self.batches, self.rank, self.world, self.whole_rounds = batches, rank, world, whole_rounds

    def __iter__(self):
        hand = []
        for batch in self.batches:
            hand.append(batch)
            if len(hand) == self.world:
                yield hand[self.rank]
                hand = []
        if hand and not self.whole_rounds and self.rank < len(hand):
            yield hand[self.rank]

    def __len__(self) -> int:
        return len(self.batches) // self.world  # type: ignore[arg-type]


def end_torchrun_worker() -> None:
    """End a torchrun worker process at once, skipping Python's interpreter shutdown.

    Call it last in a script that ran ``fit`` under torchrun. With gloo (torch 2.13) a worker
    sometimes aborts ("terminate called without an active exception") or hangs while Python
    tears down: gloo's threads can still hold tensors then (pytorch/pytorch#179291). By this
    point everything is written and the process group destroyed. Outside torchrun: nothing.
    """
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
