"""The course's training loop: ``fit`` trains a model on batches, on any device.

Every training notebook calls it, and notebook 08 (the char LM) reads it with you. Read ``fit``
top to bottom: it is one loop, and each helper below it does one job. What it does, and why:

- **Device**: CUDA, then Apple's MPS, then the CPU, and one line saying which, with the number
  of CPU threads and the precision. CPU threads are chosen on purpose: a small RNN runs many
  times slower with more threads than free cores (``rnnlib.course.choose_threads``).
- **No waiting for the GPU**: ``loss.item()`` makes the CPU wait until the GPU has finished
  everything queued so far. Once per step, that stalls the GPU between steps, so the loss and
  gradient norm of each step stay on the device and are read back together every
  ``log_every`` steps. Batches are copied with ``non_blocking=True`` from pinned memory.
- **Mixed precision** (``amp``): bf16 autocast on GPUs that have bf16, fp16 with a gradient
  scaler on older ones; float32 on the CPU unless asked (see ``_mixed_precision``).
- **Safety**: gradient-norm clipping with the norm of every step recorded; NaN/inf detection
  that stops with advice; a clear error when the model's output, the targets and the loss
  don't fit together.
- **Checkpoints** written atomically (temp file, then rename) and loaded with
  ``weights_only=True``; ``resume=True`` continues a killed run where its last checkpoint left
  it, data order and random numbers included, so it ends as if it had never stopped.
- **Reproducible**: each epoch seeds every generator from ``(seed, epoch)``; on a CPU two
  runs with the same seed end with bit-identical weights.
- **torchrun**: the same call trains with DistributedDataParallel (gloo on CPU, NCCL on GPU).

Batches are ``(inputs, targets)`` pairs from a DataLoader or any re-iterable (a list works).
``inputs`` is a tensor or a tuple of them, passed to the model as ``model(*inputs)``: e.g.
``(padded, lengths)`` for packed sequences (lengths stay on the CPU, where packing wants them).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from rnnlib import course

__all__ = ["fit", "evaluate", "accuracy", "History", "TrainingDiverged", "CheckpointError",
           "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "rnnlib.train/1"
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TrainingDiverged(FloatingPointError):
    """The loss or the gradients became NaN or infinite; the message says what to try."""


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used (corrupt, truncated, or from another model)."""


@dataclass
class History:
    """What ``fit`` recorded, as plain lists and numbers (JSON-ready, stored in checkpoints).

    Per optimizer step (index ``i`` is step ``i + 1``): ``loss``, ``grad_norm`` (the L2 norm of
    all gradients *before* clipping) and ``lr``. Per epoch: ``train_loss`` (mean of its steps),
    ``val_loss`` and ``val_metrics[name]`` (with ``val_data``), ``epoch_steps`` (the step at
    which it ended) and ``epoch_time`` (seconds). ``stopped`` says why training ended.
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metrics: dict[str, list[float]] = field(default_factory=dict)
    epoch_steps: list[int] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int | None = None  # 1-based, with early stopping
    stopped: str | None = None  # "epochs", "steps" or "early stopping"
    settings: dict[str, Any] = field(default_factory=dict)  # device, amp, clip_norm, ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        return cls(**d)

    def __repr__(self) -> str:
        last = f", val_loss={self.val_loss[-1]:.4g}" if self.val_loss else ""
        train = f", train_loss={self.train_loss[-1]:.4g}" if self.train_loss else ""
        return (f"History(epochs={len(self.train_loss)}, steps={len(self.loss)}{train}{last}, "
                f"stopped={self.stopped!r})")


def fit(
    model: nn.Module,
    train_data: Iterable,
    *,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    epochs: int | None = None,
    steps: int | None = None,
    val_data: Iterable | None = None,
    metrics: Mapping[str, LossFn] | None = None,
    clip_norm: float | None = None,
    amp: str | None = "auto",
    scheduler: Any = None,
    patience: int | None = None,
    stateful: bool = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    log_every: int = 50,
    seed: int | None = None,
    device: str | torch.device | None = None,
    threads: int | None = None,
    quiet: bool | None = None,
) -> History:
    """Train ``model`` on ``train_data`` and return the ``History`` of the run.

    Args:
        model: returns the output for ``model(*inputs)``; with ``stateful=True`` it takes the
            carried state as its last argument and returns ``(output, state)``.
        train_data: ``(inputs, targets)`` batches: a DataLoader, a list, any re-iterable.
        loss_fn: ``loss_fn(output, targets)`` -> scalar tensor, e.g. ``nn.CrossEntropyLoss()``.
        optimizer: defaults to ``Adam(model.parameters(), lr=lr)``.
        epochs, steps: passes over the data, and/or a cap on optimizer steps (the first reached
            ends training). Default: one epoch.
        val_data, metrics: evaluated after every epoch: the loss and each
            ``metric(output, targets)``, averaged over target elements (e.g. ``accuracy``).
        clip_norm: clip the gradients' total L2 norm to this (recorded before clipping).
        amp: ``"auto"``, ``"bf16"``, ``"fp16"`` or None (float32); see ``_mixed_precision``.
        scheduler: a ``torch.optim.lr_scheduler``, stepped after every optimizer step.
        patience: stop after this many epochs without a lower ``val_loss``, and end with the
            best epoch's weights.
        stateful: truncated backpropagation through time. The model's state is carried from
            one batch to the next (detached: gradients stop at the batch boundary) and reset to
            None at the start of each epoch and of validation. Batches must continue each
            other: row ``b`` of a batch continues row ``b`` of the one before.
        checkpoint, checkpoint_every, resume: write a checkpoint to this file at the end of
            every epoch (and every ``checkpoint_every`` steps); with ``resume=True``, continue
            from it if it exists.
        log_every: read the loss back from the device every this many steps.
        seed: seeds data order and dropout per epoch (default: ``rnnlib.setup``'s seed or 0).
        device: "auto", "cpu", "cuda", "mps" or a torch.device (default: ``rnnlib.setup``'s).
        threads: torch CPU threads (default: as ``rnnlib.setup`` or the environment set them).
        quiet: no progress bar, live plot or printed lines (default: in smoke mode, and outside
            notebooks).

    Raises:
        TrainingDiverged: the loss or the gradients became NaN/inf.
        CheckpointError: ``resume=True`` found a checkpoint it cannot use.
        ValueError: the batches, the model's output and the loss don't fit together.
    """
    # -- 1. Where and how to run ---------------------------------------------------------
    _check_arguments(train_data, val_data, epochs, steps, patience, log_every, stateful)
    session = course.current()
    rank, local_rank, world = _torchrun_env()
    device = _pick_device(device, session, local_rank, world)
    with _process_group(device, world):  # under torchrun: join the others, leave at the end
        n_threads = _set_threads(threads, session, world)
        amp_dtype, scaler = _mixed_precision(amp, device)
        seed = seed if seed is not None else (session.seed if session else 0)
        if quiet is None:
            quiet = session.quiet if session else course.smoke_mode() or not _in_notebook()
        say = (lambda *_: None) if quiet or rank != 0 else tqdm.write  # one process speaks
        say(f"fit: {course.describe_device(device)} | {n_threads} CPU thread(s) | "
            f"{_precision_line(device, amp_dtype, scaler)}"
            + (f" | {world} processes (DDP, {dist.get_backend()})" if world > 1 else ""))

        model.to(device)
        if optimizer is None:
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        net = _wrap_ddp(model, device) if world > 1 else model  # `net` trains, `model` is saved
        params = [p for p in model.parameters() if p.requires_grad]
        train_batches = _this_process_share(train_data, device, rank, world, seed, train=True)
        val_batches = _this_process_share(val_data, device, rank, world, seed, train=False)
        autocast = _autocast(device, amp_dtype)
        n_epochs = epochs if epochs is not None else (1 if steps is None else sys.maxsize)
        history = History(settings={"device": str(device), "amp": _amp_name(amp_dtype),
                                    "clip_norm": clip_norm, "seed": seed, "threads": n_threads,
                                    "processes": world, "log_every": log_every})

        # -- 2. Resume from the checkpoint, if asked and there is one -------------------------
        start_epoch, skip_batches, state, saved_rng = 0, 0, None, {}
        best = {"val_loss": math.inf, "epoch": None, "bad_epochs": 0, "model": None}
        if checkpoint is not None and resume and Path(checkpoint).exists():
            saved = load_checkpoint(checkpoint)
            _restore(saved, checkpoint, model, optimizer, scaler, scheduler)
            history = History.from_dict(saved["history"])
            start_epoch, skip_batches, saved_rng = saved["epoch"], saved["batch"], saved["rng"]
            state, best = _to_device(saved["state"], device), saved["early_stopping"]
            say(f"resumed from {Path(checkpoint).name} at epoch {start_epoch + 1}, "
                f"after step {len(history.loss)}")
            done_already = steps is not None and len(history.loss) >= steps
            if history.stopped == "early stopping" or done_already:
                return history  # nothing left to do
        elif checkpoint is not None and Path(checkpoint).exists():
            say(f"starting afresh: {Path(checkpoint).name} will be overwritten (resume=True continues it)")

        def save(epoch: int, batch: int) -> None:
            """All it takes to continue exactly from here; only the first process writes."""
            if checkpoint is not None and rank == 0:
                save_checkpoint(checkpoint, {
                    "format": CHECKPOINT_FORMAT, "epoch": epoch, "batch": batch,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict() if scaler else None,
                    "scheduler": scheduler.state_dict() if scheduler else None,
                    "history": history.to_dict(), "state": state, "rng": _rng_state(device),
                    "early_stopping": best})

        # -- 3. The loop -------------------------------------------------------------------------
        step = len(history.loss)  # optimizer steps so far
        pending_loss: list[torch.Tensor] = []  # each step's loss and gradient norm, still on
        pending_norm: list[torch.Tensor] = []  # the device until the next read_back()
        per_epoch = _length(train_batches)
        total = steps or (per_epoch * n_epochs if per_epoch and epochs else None)
        bar = tqdm(total=total, initial=step, disable=quiet or rank != 0, unit="step",
                   dynamic_ncols=True)
        live = _live_plot() if not quiet and rank == 0 and _in_notebook() else None
        last_drawn = time.perf_counter()

        def read_back() -> None:
            """The one wait for the device every ``log_every`` steps: losses and norms to Python."""
            nonlocal last_drawn
            if not pending_loss:
                return
            values = torch.stack([torch.stack(pending_loss).float(),
                                  torch.stack(pending_norm).float()])
            pending_loss.clear()
            pending_norm.clear()
            if world > 1:  # every process reads the same means, so all stop at the same step
                dist.all_reduce(values)
                values /= world
            losses, norms = values.tolist()
            history.loss += losses
            history.grad_norm += norms
            _stop_if_diverged(history, len(losses), scaler is not None, optimizer, clip_norm,
                              checkpoint)
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
            if live and time.perf_counter() - last_drawn > 2:
                live.update(history)
                last_drawn = time.perf_counter()

        stopped = None
        checked = False  # the first batch gets the bad-input checks
        for epoch in range(start_epoch, n_epochs):
            started = time.perf_counter()
            first_step = history.epoch_steps[-1] if history.epoch_steps else 0
            _seed_epoch(seed, epoch)
            if isinstance(getattr(train_batches, "sampler", None), DistributedSampler):
                train_batches.sampler.set_epoch(epoch)
            batches = iter(train_batches)
            done = 0  # batches of this epoch done
            if skip_batches:  # resuming mid-epoch: the same order, so skip what was done,
                done = sum(1 for _ in itertools.islice(batches, skip_batches))
                _set_rng_state(saved_rng, device)  # and go on with the same random numbers
                skip_batches = 0
            else:
                state = None  # a new epoch starts from a fresh state
            net.train()
            for batch in batches:
                inputs, targets = batch if checked else _as_pair(batch)
                inputs = _to_device(inputs, device, keep_lengths=True)
                targets = _to_device(targets, device)
                with autocast:
                    output, state = _forward(net, inputs, state, stateful)
                    loss = _loss(loss_fn, output, targets, check=not checked)
                checked = True
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:  # fp16: scale the loss up so small gradients survive
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)  # true gradients again, to measure and clip
                else:
                    loss.backward()
                if clip_norm is not None:
                    norm = nn.utils.clip_grad_norm_(params, clip_norm)  # the norm before
                else:
                    norm = _grad_norm(params)
                if scaler is not None:
                    scaler.step(optimizer)  # skipped when a gradient is inf/NaN
                    scaler.update()
                else:
                    optimizer.step()
                history.lr.append(optimizer.param_groups[0]["lr"])  # the rate this step used
                if scheduler is not None:
                    scheduler.step()
                if stateful:
                    state = _detach(state)  # truncated BPTT: stop gradients at the boundary
                pending_loss.append(loss.detach())
                pending_norm.append(norm)
                step += 1
                done += 1
                bar.update()
                if step % log_every == 0:
                    read_back()
                if checkpoint_every and step % checkpoint_every == 0:
                    read_back()
                    save(epoch, done)
                if steps is not None and step >= steps:
                    stopped = "steps"
                    break
            read_back()
            if done == 0:
                raise ValueError("train_data gave no batches: is it empty, or smaller than "
                                 "one batch with drop_last=True?")

            # End of the epoch (or of the step budget): validate, record, maybe stop, save.
            history.train_loss.append(float(np.mean(history.loss[first_step:step])))
            history.epoch_steps.append(step)
            if val_batches is not None:
                results = _evaluate(model, val_batches, loss_fn, metrics or {}, device,
                                    amp_dtype, stateful, world)
                history.val_loss.append(results.pop("loss"))
                for name, value in results.items():
                    history.val_metrics.setdefault(name, []).append(value)
            history.epoch_time.append(time.perf_counter() - started)
            if patience is not None:
                if history.val_loss[-1] < best["val_loss"]:
                    best = {"val_loss": history.val_loss[-1], "epoch": len(history.val_loss),
                            "bad_epochs": 0, "model": _copy_state(model)}
                else:
                    best["bad_epochs"] += 1
                history.best_epoch = best["epoch"]
                if best["bad_epochs"] >= patience:
                    stopped = "early stopping"
                    model.load_state_dict(best["model"])  # end with the best weights
            if stopped is None and epoch + 1 == n_epochs:
                stopped = "epochs"
            history.stopped = stopped
            say(_epoch_line(history, epoch, n_epochs, stopped))
            if live:
                live.update(history)
            if stopped == "steps" and done != per_epoch:
                save(epoch, done)  # mid-epoch: a later call with more steps continues here
            else:
                save(epoch + 1, 0)
            if stopped:
                break
        if stopped == "epochs" and best["model"] is not None and best["epoch"] != len(history.val_loss):
            model.load_state_dict(best["model"])  # patience left but a better epoch seen: end with it
        bar.close()
        del net  # under torchrun: let DDP go while the process group it uses still exists
        return history



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

@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, *, loss_fn: LossFn,
             metrics: Mapping[str, LossFn] | None = None, device: str | torch.device | None = None,
             amp: str | None = None, stateful: bool = False) -> dict[str, float]:
    """The mean loss and metrics of ``model`` over ``data``, weighted by target elements.

    Returns ``{"loss": ..., name: ...}`` for each of ``metrics``. The model is put in eval mode
    (no dropout) and back in the mode it was in. ``device`` defaults to where the model is.
    """
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    device = _named_device(device) if isinstance(device, str) else torch.device(device)
    amp_dtype, _ = _mixed_precision(amp, device)
    return _evaluate(model, data, loss_fn, metrics or {}, device, amp_dtype, stateful, world=1)


def accuracy(output: torch.Tensor, targets: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """The fraction of right answers, as a 0-d tensor (a ``metrics`` entry for ``fit``).

    - Classes: ``output`` of scores ``(..., C)`` and integer ``targets`` of shape ``(...)``:
      right where the highest score is the target class.
    - Binary: ``output`` and float ``targets`` of the same shape: right where
      ``output > threshold`` agrees with ``targets > 0.5``. The default threshold 0 is for
      logits (``BCEWithLogitsLoss``); use 0.5 for a model that ends in a sigmoid.
    """
    if output.dim() == targets.dim() + 1 and not targets.is_floating_point():
        return (output.argmax(dim=-1) == targets).float().mean()
    if output.shape == targets.shape:
        return ((output > threshold) == (targets > 0.5)).float().mean()
    raise ValueError(f"accuracy: expected scores (..., C) with class targets (...), or binary "
                     f"outputs with targets of the same shape; got output {_shape(output)} "
                     f"and targets {_shape(targets)} ({targets.dtype})")


# -- Checkpoints --------------------------------------------------------------------------------

def save_checkpoint(path: str | os.PathLike, contents: Mapping[str, Any]) -> None:
    """Write ``contents`` to ``path`` atomically: all of it, or (after a crash) not at all.

    It goes to a temporary file in the same folder, is flushed to the disk, and is then renamed
    over ``path``. A rename within one file system is atomic, so a run killed while writing
    (a Binder session culled, a laptop closed) leaves the previous checkpoint as it was.
    """
    path = Path(path)
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


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``fit``, safely (``weights_only=True``: tensors and plain
    Python values only, never arbitrary code), onto the CPU.

    Returns a dict with ``"model"`` (a state dict: ``model.load_state_dict(ckpt["model"])``),
    ``"optimizer"``, ``"history"`` (``History.from_dict`` it), and what resuming needs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read the checkpoint {path} ({type(error).__name__}: {error}). It is "
            f"truncated or corrupt: copied while being written, or the disk was full. Delete "
            f"it to start afresh, or resume from another copy with checkpoint=...") from error
    if not isinstance(contents, dict) or contents.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint written by rnnlib.train.fit (it has "
                              f"no 'format': {CHECKPOINT_FORMAT!r} entry); delete it or use "
                              f"another checkpoint path")
    return contents


def _restore(saved: Mapping[str, Any], path: Any, model: nn.Module, optimizer: Any,
             scaler: Any, scheduler: Any) -> None:
    """Load weights and optimizer (and scaler, scheduler) state from a checkpoint."""
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"the checkpoint {path} was written for a different model or "
                              f"optimizer: {error}\nUse another checkpoint path for this model, "
                              f"or delete the file to start afresh.") from error
    if scaler is not None and saved["scaler"] is not None:
        scaler.load_state_dict(saved["scaler"])
    if scheduler is not None and saved["scheduler"] is not None:
        scheduler.load_state_dict(saved["scheduler"])


# -- Random numbers: one seed per epoch, states saved and restored -------------------------------

def _seed_epoch(seed: int, epoch: int) -> None:
    """Seed Python, NumPy and torch from ``(seed, epoch)``: an epoch's data order and dropout
    masks then depend on nothing else, so a resumed run replays them exactly."""
    course.seed_everything(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def _rng_state(device: torch.device) -> dict[str, Any]:
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached]}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# -- Device, threads, precision, processes -------------------------------------------------------

def _named_device(name: str) -> torch.device:
    """"auto"/"cpu"/"cuda"/"mps" go through choose_device (a clear error if missing)."""
    return course.choose_device(name) if name in course.DEVICES else torch.device(name)


def _torchrun_env() -> tuple[int, int, int]:
    """(rank, local rank, world size): torchrun sets RANK, LOCAL_RANK and WORLD_SIZE."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)))


def _pick_device(device: Any, session: Any, local_rank: int, world: int) -> torch.device:
    if device is None:
        device = session.device if session else "auto"
    device = _named_device(device) if isinstance(device, str) else torch.device(device)
    if device.type == "cuda" and world > 1:  # one GPU per process
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def _process_group(device: torch.device, world: int):
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


def _wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel: the same weights in every process (copied from the first at
    the start), and after each backward the gradients averaged across processes."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def _set_threads(requested: int | None, session: Any, world: int) -> int:
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


def _mixed_precision(amp: str | None, device: torch.device) -> tuple[torch.dtype | None, Any]:
    """The autocast dtype (or None: float32) and, for fp16, a gradient scaler.

    ``"auto"``: on a GPU with bf16 (NVIDIA compute capability 8.0, Ampere, and newer) bf16,
    which has float32's range, so no scaler is needed; on older NVIDIA GPUs fp16 with a scaler
    (fp16's small range flushes small gradients to zero unless the loss is scaled up first).
    On the CPU and MPS float32: bf16 is faster only on CPUs with bf16 instructions
    (AVX512-BF16, AMX) and slower where it is emulated, and float32 keeps learners' results
    comparable. Ask for ``amp="bf16"`` to try it. (fp16's scaler checks every step whether a
    gradient overflowed, which reads one flag back from the GPU: bf16 has no such wait.)
    """
    if amp == "auto":
        if device.type == "cuda":
            amp = "bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp16"
        else:
            amp = None
    if amp is None:
        return None, None
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"amp should be 'auto', 'bf16', 'fp16' or None, got {amp!r}")
    if amp == "bf16":
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler(device.type)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast runs matrix products in ``dtype`` and keeps sums (losses, norms) in float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _amp_name(dtype: torch.dtype | None) -> str | None:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype)


def _precision_line(device: torch.device, dtype: torch.dtype | None, scaler: Any) -> str:
    if dtype is None:
        return "float32" + (" (amp='bf16' may be faster on CPUs with bf16 instructions)"
                            if device.type == "cpu" else "")
    return f"{_amp_name(dtype)} autocast" + (" + gradient scaler" if scaler else "")


# -- Data -----------------------------------------------------------------------------------

def _check_arguments(train_data: Any, val_data: Any, epochs: Any, steps: Any, patience: Any,
                     log_every: int, stateful: bool) -> None:
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if isinstance(data, Iterator):
            raise TypeError(f"{name} is an iterator (e.g. a generator), which can be read only "
                            f"once; pass something that can be read every epoch: a list of "
                            f"batches or a DataLoader")
    if epochs is not None and epochs < 1 or steps is not None and steps < 1 or log_every < 1:
        raise ValueError(f"epochs, steps and log_every should be >= 1, got epochs={epochs}, "
                         f"steps={steps}, log_every={log_every}")
    if patience is not None and val_data is None:
        raise ValueError("early stopping (patience=...) watches the validation loss: "
                         "pass val_data too")
    if stateful and int(os.environ.get("WORLD_SIZE", 1)) > 1:
        raise ValueError("stateful=True (truncated BPTT) is not supported under torchrun: "
                         "sharding the batches between processes would break the carried state")


def _this_process_share(data: Iterable | None, device: torch.device, rank: int, world: int,
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
        return _DealtOut(data, rank, world, whole_rounds=train)
    return data


class _DealtOut:
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


def _length(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _to_device(x: Any, device: torch.device, keep_lengths: bool = False) -> Any:
    """Move tensors (also inside tuples, lists, dicts) to ``device``, without waiting.

    ``non_blocking=True`` lets the copy to a GPU overlap with computing; from pinned memory
    it is truly asynchronous. With ``keep_lengths`` (for inputs), a 1-d integer CPU tensor
    after the first item of a tuple, as in ``(padded, lengths)``, stays on the CPU:
    ``pack_padded_sequence`` wants the lengths there.
    """
    if isinstance(x, torch.Tensor | PackedSequence):
        return x.to(device, non_blocking=True)
    if isinstance(x, tuple | list):
        return type(x)(item if keep_lengths and i > 0 and _is_lengths(item)
                       else _to_device(item, device) for i, item in enumerate(x))
    if isinstance(x, Mapping):
        return {key: _to_device(value, device) for key, value in x.items()}
    return x


def _is_lengths(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.dim() == 1 and x.device.type == "cpu" \
        and not x.is_floating_point()


def _detach(state: Any) -> Any:
    """Cut the carried state loose from the graph of the batch that made it."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(_detach(s) for s in state)
    return state


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


# -- One step's pieces, with errors that say what was expected ----------------------------------

ELEMENTWISE_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss,
                      nn.BCEWithLogitsLoss)
ELEMENTWISE_FUNCTIONS = (nn.functional.mse_loss, nn.functional.l1_loss,
                         nn.functional.smooth_l1_loss, nn.functional.huber_loss,
                         nn.functional.binary_cross_entropy,
                         nn.functional.binary_cross_entropy_with_logits)


def _shape(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return str(tuple(x.shape))
    if isinstance(x, tuple | list):
        return "(" + ", ".join(_shape(item) for item in x) + ")"
    return type(x).__name__


def _as_pair(batch: Any) -> tuple[Any, Any]:
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        what = f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, tuple | list) \
            else f"a {type(batch).__name__}"
        raise ValueError(f"each batch should be a pair (inputs, targets), got {what}: "
                         f"{_shape(batch)}. A Dataset's __getitem__ should return (x, y).")
    return batch[0], batch[1]


def _forward(net: nn.Module, inputs: Any, state: Any, stateful: bool) -> tuple[Any, Any]:
    unpack = isinstance(inputs, tuple | list) and not isinstance(inputs, PackedSequence)
    args = tuple(inputs) if unpack else (inputs,)
    try:
        result = net(*args, state) if stateful else net(*args)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        carried = f" and carried state {_shape(state)}" if stateful else ""
        hint = (" (with stateful=True the batch size must not change between batches: "
                "use drop_last=True)" if stateful and state is not None else "")
        raise ValueError(f"the model failed on inputs of shape {_shape(inputs)}{carried}: "
                         f"{error}{hint}") from error
    if stateful:
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise ValueError(f"with stateful=True the model should return (output, state), "
                             f"got {_shape(result)}")
        return result[0], result[1]
    if not isinstance(result, torch.Tensor):
        raise ValueError(f"the model returned {_shape(result)}, not a tensor: if it returns "
                         f"(output, state), pass stateful=True or return only the output")
    return result, None


def _loss(loss_fn: LossFn, output: torch.Tensor, targets: Any, check: bool) -> torch.Tensor:
    def where() -> str:  # built only for an error: formatting it every step would cost time
        return (f"model output of shape {_shape(output)}, targets of shape {_shape(targets)}, "
                f"loss {_loss_name(loss_fn)}")

    if check and _is_elementwise(loss_fn) and output.shape != getattr(targets, "shape", None):
        raise ValueError(f"{where()}: this loss compares output and targets element by "
                         f"element, so their shapes must be equal (PyTorch would broadcast "
                         f"them and train on the wrong thing). E.g. output.squeeze(-1) in the "
                         f"model, or targets.unsqueeze(-1) in the data.")
    try:
        loss = loss_fn(output, targets)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ValueError(f"{where()}: the loss failed ({error}). For CrossEntropyLoss the "
                         f"output is (N, C) scores and the targets (N,) class indices; for "
                         f"sequences, flatten: output.reshape(-1, C), targets.reshape(-1).") \
            from error
    if check and (not isinstance(loss, torch.Tensor) or loss.dim() != 0):
        raise ValueError(f"{where()}: the loss should be one number (a 0-d tensor), got "
                         f"{_shape(loss)}; use reduction='mean'")
    return loss


def _loss_name(loss_fn: Any) -> str:
    return repr(loss_fn) if isinstance(loss_fn, nn.Module) else getattr(
        loss_fn, "__name__", type(loss_fn).__name__)


def _is_elementwise(loss_fn: Any) -> bool:
    return isinstance(loss_fn, ELEMENTWISE_LOSSES) or loss_fn in ELEMENTWISE_FUNCTIONS


def _grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all gradients together, as ``clip_grad_norm_`` measures it."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:  # the loss did not depend on any parameter
        return torch.zeros((), device=params[0].device)
    if hasattr(nn.utils, "get_total_norm"):  # torch >= 2.6: one fused kernel for all
        return nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def _stop_if_diverged(history: History, new: int, scaled: bool, optimizer: Any,
                      clip_norm: float | None, checkpoint: Any) -> None:
    """Raise TrainingDiverged at the first non-finite loss (or gradient norm) among the ``new``
    steps just read back.

    With fp16's scaler an inf gradient norm is routine (that step is skipped and the scale
    lowered), so only the loss counts there.
    """
    for i in range(len(history.loss) - new, len(history.loss)):
        bad_norm = not scaled and not math.isfinite(history.grad_norm[i])
        if math.isfinite(history.loss[i]) and not bad_norm:
            continue
        what = f"loss was {history.loss[i]}" if not math.isfinite(history.loss[i]) \
            else f"gradient norm was {history.grad_norm[i]}"
        before = [n for n in history.grad_norm[max(0, i - 50):i] if math.isfinite(n)]
        largest = f" (the largest gradient norm in the 50 steps before: {max(before):.3g})" \
            if before else ""
        lr = optimizer.param_groups[0]["lr"]
        clip = ("gradient clipping, e.g. clip_norm=1.0" if clip_norm is None
                else f"a smaller clip_norm (now {clip_norm:g})")
        resume = (f"\nThe last checkpoint, {checkpoint}, was written before it happened."
                  if checkpoint is not None else "")
        raise TrainingDiverged(
            f"training diverged: the {what} at step {i + 1}{largest}. Try:\n"
            f"  - a smaller learning rate (now {lr:g}; try {lr / 10:g}),\n"
            f"  - {clip},\n"
            f"  - checking the data: torch.isfinite(x).all() for inputs and targets, and "
            f"targets within the range the loss expects (class indices < C, 0/1 for BCE).{resume}")


@torch.no_grad()
def _evaluate(model: nn.Module, batches: Iterable, loss_fn: LossFn,
              metrics: Mapping[str, LossFn], device: torch.device,
              amp_dtype: torch.dtype | None, stateful: bool, world: int) -> dict[str, float]:
    """Sums stay on the device; one read-back at the end (all-reduced under torchrun)."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(len(metrics) + 2, device=device, dtype=torch.float64)
    state = None
    for batch in batches:
        inputs, targets = _as_pair(batch)
        inputs = _to_device(inputs, device, keep_lengths=True)
        targets = _to_device(targets, device)
        with _autocast(device, amp_dtype):
            output, state = _forward(model, inputs, state, stateful)
            loss = _loss(loss_fn, output, targets, check=True)
        n = targets.numel() if isinstance(targets, torch.Tensor) else 1
        values = [loss] + [metric(output, targets) for metric in metrics.values()]
        totals[:-1] += torch.stack([torch.as_tensor(v, device=device).double() for v in values]) * n
        totals[-1] += n
    model.train(was_training)
    if world > 1:
        dist.all_reduce(totals)
    *sums, count = totals.tolist()
    if count == 0:
        raise ValueError("the validation data gave no batches")
    return dict(zip(["loss", *metrics], [s / count for s in sums], strict=True))


def _in_notebook() -> bool:
    if "IPython" not in sys.modules:  # a notebook's kernel imported it long before this
        return False
    from rnnlib.plots import in_notebook

    return in_notebook()


def _live_plot() -> Any:
    from rnnlib.plots import LiveLossPlot  # matplotlib is imported only to draw

    return LiveLossPlot()


def _epoch_line(history: History, epoch: int, n_epochs: int, stopped: str | None) -> str:
    of = f"/{n_epochs}" if n_epochs != sys.maxsize else ""
    parts = [f"epoch {epoch + 1}{of}", f"train loss {history.train_loss[-1]:.4f}"]
    if history.val_loss:
        parts.append(f"val loss {history.val_loss[-1]:.4f}")
    parts += [f"{name} {values[-1]:.4f}" for name, values in history.val_metrics.items()]
    parts.append(f"{history.epoch_time[-1]:.3g} s")
    if stopped == "early stopping":
        parts.append(f"early stop: best epoch {history.best_epoch} restored")
    return " | ".join(parts)
