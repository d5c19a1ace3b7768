"""Checkpoints: written atomically, read safely, resumed only into what they fit.

A checkpoint holds all it takes to continue exactly: the weights, the optimizer's state (and
the scaler's and scheduler's), the history, the carried state of truncated BPTT, the position
in the epoch, every process's random generator states, and early stopping's best epoch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlib.train import device as devices
from rnnlib.train import distributed, seeding

FORMAT = "rnnlib.train/2"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used (corrupt, truncated, or from another model)."""


def save_checkpoint(path: str | os.PathLike, contents: Mapping[str, Any]) -> None:
    """Write ``contents`` to ``path`` atomically: all of it, or (after a crash) not at all.

    It goes to a temporary file in the same folder, is flushed to the disk, and is then renamed
    over ``path``. A rename within one file system is atomic, so a run killed while writing
    (a Binder session culled, a laptop closed) leaves the previous checkpoint as it was.
    """
    path = _checked_path(path, "save_checkpoint")
    if not isinstance(contents, Mapping):
        raise TypeError(f"save_checkpoint: contents should be a mapping (a dict), got "
                        f"{type(contents).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            torch.save(dict(contents), f)
            f.flush()
            os.fsync(f.fileno())  # on the disk, not just in the OS's cache, before the rename
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only still there if writing failed
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX only)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers of ``path`` killed mid-write left behind
    (SIGKILL allows no clean-up). Files of processes still running are left alone."""
    path = Path(path)
    removed = []
    for temporary in path.parent.glob(f".{path.name}.*.tmp"):
        pid = temporary.name[len(path.name) + 2:-len(".tmp")]
        if pid.isdigit() and not _running(int(pid)):
            temporary.unlink(missing_ok=True)
            removed.append(temporary)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours, but not being written now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``fit``, safely (``weights_only=True``: tensors and plain
    Python values only, never arbitrary code), onto the CPU.

    Returns a dict with ``"model"`` (the last weights: ``model.load_state_dict(ckpt["model"])``;
    with early stopping the best epoch's are in ``ckpt["early_stopping"]["model"]``),
    ``"optimizer"``, ``"history"`` (``History.from_dict`` it), and what resuming needs.
    """
    path = _checked_path(path, "load_checkpoint")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read the checkpoint {path} ({type(error).__name__}: {error}). It is "
            f"truncated or corrupt: copied while being written, or the disk was full. Delete "
            f"it to start afresh, or resume from another copy with checkpoint=...") from error
    if not isinstance(contents, dict) or contents.get("format") != FORMAT:
        found = contents.get("format") if isinstance(contents, dict) else None
        what = f"its format is {found!r}" if found else "it has no 'format' entry"
        raise CheckpointError(f"{path} is not a checkpoint this version of rnnlib.train.fit can "
                              f"resume ({what}, expected {FORMAT!r}); delete it or use another "
                              f"checkpoint path")
    return contents


def _checked_path(path: Any, caller: str) -> Path:
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        raise TypeError(f"{caller}: path should be a str or a pathlib.Path, got "
                        f"{type(path).__name__}")
    path = Path(path)
    if str(path) in ("", ".") or path.is_dir():
        raise ValueError(f"{caller}: path should name a file, got {str(path)!r}, which is a "
                         f"folder")
    return path


def contents(*, epoch: int, batch: int, model: nn.Module, optimizer: Any, scaler: Any,
             scheduler: Any, history: Any, state: Any, rng: list, early_stopping: dict,
             world: int) -> dict[str, Any]:
    """What a checkpoint holds (``rng``: one entry per process, in rank order)."""
    return {"format": FORMAT, "epoch": epoch, "batch": batch, "world": world,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "optimizer_type": type(optimizer).__name__,
            "scaler": scaler.state_dict() if scaler else None,
            "scheduler": scheduler.state_dict() if scheduler else None,
            "scheduler_type": type(scheduler).__name__ if scheduler else None,
            "history": history.to_dict(), "state": state, "rng": rng,
            "early_stopping": early_stopping}


def restore(saved: Mapping[str, Any], path: Any, model: nn.Module, optimizer: Any,
            scaler: Any, scheduler: Any, world: int, stateful: bool) -> None:
    """Load weights and optimizer (scaler, scheduler) state, or say why they do not fit.

    Every check runs before anything is loaded, so a refused checkpoint changes nothing.
    """
    def refuse(why: str) -> CheckpointError:
        return CheckpointError(f"the checkpoint {path} cannot be resumed here: {why}.\nUse "
                               f"another checkpoint path for this run, or delete the file to "
                               f"start afresh.")

    mine = model.state_dict()
    theirs = saved["model"]
    missing, unexpected = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
    if missing or unexpected:
        raise refuse(f"it was written for a different model (parameters missing from it: "
                     f"{missing[:4]}, not in this model: {unexpected[:4]})")
    for name, value in mine.items():
        if theirs[name].shape != value.shape:
            raise refuse(f"it was written for a different model ({name} has shape "
                         f"{tuple(theirs[name].shape)} there, {tuple(value.shape)} here)")
    if saved["optimizer_type"] != type(optimizer).__name__:
        raise refuse(f"it was written with the optimizer {saved['optimizer_type']}, and this "
                     f"run uses {type(optimizer).__name__}")
    groups = [len(group["params"]) for group in saved["optimizer"]["param_groups"]]
    if groups != [len(group["params"]) for group in optimizer.param_groups]:
        raise refuse(f"its optimizer has parameter groups of sizes {groups}, this one "
                     f"{[len(group['params']) for group in optimizer.param_groups]}")
    if (saved["scheduler_type"] is None) != (scheduler is None) or \
            scheduler is not None and saved["scheduler_type"] != type(scheduler).__name__:
        raise refuse(f"it was written with scheduler={saved['scheduler_type']}, and this run "
                     f"has scheduler={type(scheduler).__name__ if scheduler else None}")
    if saved["batch"] and saved["world"] != world:
        raise refuse(f"it stopped mid-epoch in a run of {saved['world']} process(es), and this "
                     f"run has {world}: resume it with torchrun --nproc_per_node="
                     f"{saved['world']}")
    if stateful != (saved["history"]["settings"].get("stateful", stateful)):
        raise refuse(f"it was written with stateful={not stateful}")
    try:
        model.load_state_dict(theirs)
        optimizer.load_state_dict(saved["optimizer"])
        if scaler is not None and saved["scaler"] is not None:
            scaler.load_state_dict(saved["scaler"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise refuse(f"it was written for a different model or optimizer ({error})") from error


# -- What fit calls: where to start, and saving as it goes ----------------------------------

@dataclass
class Start:
    """Where ``fit`` starts: the epoch and the batch within it, with what a checkpoint carried
    (the history so far, truncated BPTT's state, this process's random generators)."""

    epoch: int
    batch_in_epoch: int
    history: Any
    state: Any = None
    rng: Mapping[str, Any] | None = None
    resumed: bool = False

    def nothing_left(self, steps: int | None) -> bool:
        """A resumed run that had already stopped early, or used up ``steps``."""
        at_cap = steps is not None and len(self.history.loss) >= steps
        return self.resumed and (self.history.stopped == "early stopping" or at_cap)


class Checkpointing:
    """``fit``'s checkpoint: one file, written at the end of every epoch (and mid-epoch when
    asked), resumed from with ``resume=True``. Without a path it does nothing."""

    def __init__(self, path: str | os.PathLike | None, *, model: nn.Module, optimizer: Any,
                 scaler: Any, scheduler: Any, early: Any, device: torch.device, rank: int,
                 world: int, stateful: bool) -> None:
        self.path = None if path is None else Path(path)
        self.model, self.optimizer, self.scaler, self.scheduler = model, optimizer, scaler, scheduler
        self.early, self.device, self.rank, self.world = early, device, rank, world
        self.stateful = stateful
        if self.path is not None:
            remove_stale_temporaries(self.path)

    def start(self, history: Any, resume: bool, say: Callable[[str], None]) -> Start:
        """The beginning, or, with ``resume`` and a checkpoint on disk, exactly where it stopped:
        weights, optimizer, history and early stopping restored."""
        if self.path is None or not self.path.exists():
            return Start(0, 0, history)
        if not resume:
            say(f"starting afresh: {self.path.name} will be overwritten (resume=True "
                f"continues it)")
            return Start(0, 0, history)
        saved = load_checkpoint(self.path)
        restore(saved, self.path, self.model, self.optimizer, self.scaler, self.scheduler,
                self.world, self.stateful)
        self.early.best = saved["early_stopping"]
        start = Start(saved["epoch"], saved["batch"], type(history).from_dict(saved["history"]),
                      devices.to_device(saved["state"], self.device),
                      saved["rng"][self.rank] if saved["batch"] else None, resumed=True)
        say(f"resumed from {self.path.name} at epoch {start.epoch + 1}, after step "
            f"{len(start.history.loss)}")
        return start

    def save(self, epoch: int, batch_in_epoch: int, history: Any, state: Any) -> None:
        """All it takes to continue exactly from here; only the first process writes."""
        if self.path is None:
            return
        rng = distributed.gather(seeding.rng_state(self.device), self.world)
        if self.rank == 0:
            save_checkpoint(self.path, contents(
                epoch=epoch, batch=batch_in_epoch, model=self.model, optimizer=self.optimizer,
                scaler=self.scaler, scheduler=self.scheduler, history=history, state=state,
                rng=rng, early_stopping=self.early.best, world=self.world))
