"""``fit``: the course's training loop. Read it top to bottom.

At its heart are notebook 02's five lines: forward, loss, zero the gradients, backward,
update. Around them, each need of a real run is one named call into a module of its own:
``arguments`` (bad input), ``device``, ``precision``, ``seeding``, ``history``,
``checkpoint``, ``distributed`` (torchrun), ``evaluation`` and ``progress``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from rnnlib import course
from rnnlib.train import arguments, distributed, evaluation, seeding
from rnnlib.train import checkpoint as checkpoints
from rnnlib.train import device as devices
from rnnlib.train import precision as amp_choice
from rnnlib.train.history import EarlyStopping, History, StepLog
from rnnlib.train.progress import Progress, in_notebook
from rnnlib.train.steps import LossFn, backward_and_update, compute_loss, detach, forward


def fit(model: nn.Module, train_data: Iterable, *, loss_fn: LossFn,
        optimizer: torch.optim.Optimizer | None = None, lr: float | None = None,
        epochs: int | None = None, steps: int | None = None, val_data: Iterable | None = None,
        metrics: Mapping[str, LossFn] | None = None, clip_norm: float | None = None,
        amp: str | None = "auto", scheduler: Any = None, patience: int | None = None,
        stateful: bool = False, checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None, resume: bool = False, log_every: int = 50,
        seed: int | None = None, device: str | torch.device | None = None,
        threads: int | None = None, quiet: bool | None = None) -> History:
    """Train ``model`` on ``train_data`` and return the ``History`` of the run.

    Args:
        model: returns the output for ``model(*inputs)``; with ``stateful=True`` it takes the
            carried state as its last argument and returns ``(output, state)``.
        train_data: ``(inputs, targets)`` batches: a DataLoader, a list, any re-iterable.
            ``inputs`` is a tensor or a tuple, e.g. ``(padded, lengths)`` (lengths stay on the
            CPU, where packing wants them).
        loss_fn: ``loss_fn(output, targets)`` -> 0-d tensor, e.g. ``nn.CrossEntropyLoss()``.
        optimizer, lr: the optimizer, or ``Adam(model.parameters(), lr=lr or 1e-3)``.
        epochs, steps: passes over the data, and/or a cap on optimizer steps (the first reached
            ends training). Default: one epoch.
        val_data, metrics: evaluated after every epoch: the loss and each
            ``metric(output, targets)``, averaged over target elements (e.g. ``accuracy``);
            without ``val_data`` no metric is measured.
        clip_norm: clip the gradients' total L2 norm to this (recorded before clipping).
        amp: ``"auto"``, ``"bf16"``, ``"fp16"`` or None (float32): see ``precision.choose``.
            A precision asked for by name that cannot run here falls back to float32, with a
            warning; ``"auto"`` never picks one that cannot run.
        scheduler: a ``torch.optim.lr_scheduler`` made for ``optimizer``, stepped after every
            optimizer step.
        patience: stop after this many epochs without a lower ``val_loss``; with it, however
            training ends, the model ends with the best epoch's weights (without it, the last).
        stateful: truncated backpropagation through time. The model's state is carried from
            one batch to the next (detached: gradients stop at the batch boundary) and reset to
            None at the start of each epoch and of validation. Batches must continue each
            other: row ``b`` of a batch continues row ``b`` of the one before.
        checkpoint, checkpoint_every, resume: write a checkpoint to this file at the end of
            every epoch (and every ``checkpoint_every`` steps); with ``resume=True``, continue
            from it if it exists, data order and random numbers included, so that the run
            ends as if it had never stopped.
        log_every: read the loss back from the device every this many steps.
        seed: seeds the data order (per epoch) and dropout (per epoch and process); default
            ``rnnlib.setup``'s seed or 0. On a CPU two runs with one seed end bit-identical.
        device: "auto", "cpu", "cuda", "mps" or a torch.device (default: ``rnnlib.setup``'s).
        threads: torch CPU threads (default: as ``rnnlib.setup`` or the environment set them).
        quiet: no progress bar, live plot or printed lines (default: in smoke mode, and outside
            notebooks).

    Under torchrun the same call trains with DistributedDataParallel (gloo on CPU, NCCL on
    GPU), each process on its share of the batches.

    Raises:
        TypeError, ValueError: an argument, or the first batch through the model and the loss,
            is not what ``fit`` expects (found before anything is trained or written); or a
            later batch does not fit the model (ValueError, naming its shapes).
        CheckpointError: ``resume=True`` found a checkpoint it cannot use.
        TrainingDiverged: the loss or the gradients became NaN/inf.
    """
    # -- 1. Check everything, then decide where and how to run ------------------------------
    arguments.check_fit(**locals())
    session = course.current()
    rank, local_rank, world = distributed.torchrun_env()
    device = devices.pick(device, session, local_rank, world)
    with distributed.process_group(device, world):  # under torchrun: join the others
        threads = devices.set_threads(threads, session, world)
        seed = seed if seed is not None else (session.seed if session else 0)
        show = Progress(quiet=_quiet(quiet, session) or rank != 0)  # one process speaks
        model.to(device)
        precision = amp_choice.choose(amp, model, device, describe_cpu=not show.quiet)
        scaler = precision.make_scaler(device)
        show.say(f"fit: {course.describe_device(device)} | {threads} CPU thread(s) | "
                 f"{precision.line()}" + (f" | {world} processes (DDP)" if world > 1 else ""))
        optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr or 1e-3)
        train_batches = distributed.this_process_share(train_data, device, rank, world, seed,
                                                       train=True)
        val_batches = distributed.this_process_share(val_data, device, rank, world, seed,
                                                     train=False)
        arguments.preflight(model, train_batches, val_batches, loss_fn=loss_fn,
                            metrics=metrics or {}, device=device, stateful=stateful,
                            autocast=precision.autocast(device))

        # -- 2. Where to start: the beginning, or where the checkpoint stopped ---------------
        history = History(settings={"device": str(device), "amp": precision.name,
                                    "amp_asked": amp, "clip_norm": clip_norm, "seed": seed,
                                    "threads": threads, "processes": world,
                                    "log_every": log_every, "stateful": stateful})
        early = EarlyStopping(patience)
        saver = checkpoints.Checkpointing(
            checkpoint, model=model, optimizer=optimizer, scaler=scaler, scheduler=scheduler,
            early=early, device=device, rank=rank, world=world, stateful=stateful)
        start = saver.start(history, resume, show.say)
        history, state = start.history, start.state
        if start.nothing_left(steps):
            early.restore_best(model, history)
            return history

        # -- 3. The loop ------------------------------------------------------------------------
        net = distributed.wrap(model, device, world)  # `net` trains, `model` is saved
        params = [p for p in model.parameters() if p.requires_grad]
        log = StepLog(history, world, advice={"scaled": scaler is not None, "optimizer":
                                              optimizer, "clip_norm": clip_norm,
                                              "checkpoint": checkpoint})
        n_epochs = epochs or (1 if steps is None else sys.maxsize)
        per_epoch = _length(train_batches)
        step = len(history.loss)  # optimizer steps so far
        show.start(total=steps or (per_epoch * n_epochs if per_epoch and epochs else None),
                   done=step)
        stopped = None
        for epoch in range(start.epoch, n_epochs):
            started = time.perf_counter()
            skip = start.batch_in_epoch if epoch == start.epoch else 0  # resumed mid-epoch
            batches, batch_in_epoch = seeding.epoch_batches(train_batches, seed, epoch, rank,
                                                            skip, start.rng)
            if not skip:
                state = None  # a new epoch starts from a fresh state
            net.train()
            for inputs, targets in batches:
                inputs, targets = devices.batch_to_device(inputs, targets, device)
                with precision.autocast(device):
                    output, state = forward(net, inputs, state, stateful)
                    loss = compute_loss(loss_fn, output, targets)
                optimizer.zero_grad(set_to_none=True)
                norm = backward_and_update(loss, optimizer, scaler, params, clip_norm)
                history.lr.append(optimizer.param_groups[0]["lr"])  # the rate this step used
                if scheduler is not None:
                    scheduler.step()
                if stateful:
                    state = detach(state)  # truncated BPTT: stop gradients at the boundary
                log.add(loss, norm)  # stays on the device: no waiting for the GPU
                step, batch_in_epoch = step + 1, batch_in_epoch + 1
                show.step()
                if step % log_every == 0:
                    show.loss(log.read_back(), history)
                if checkpoint_every and step % checkpoint_every == 0:
                    log.read_back()
                    saver.save(epoch, batch_in_epoch, history, state)
                if steps is not None and step >= steps:
                    stopped = "steps"
                    break
            show.loss(log.read_back(), history)
            if batch_in_epoch == 0:
                raise ValueError("train_data gave no batches this epoch: is it empty, or "
                                 "smaller than one batch with drop_last=True?")

            # End of the epoch (or of the step budget): validate, record, maybe stop, save.
            validation = None if val_batches is None else evaluation.run(
                model, val_batches, loss_fn, metrics or {}, device, precision, stateful, world)
            history.end_epoch(time.perf_counter() - started, validation)
            if early.update(history, model):
                stopped = "early stopping"
            elif stopped is None and epoch + 1 == n_epochs:
                stopped = "epochs"
            history.stopped = stopped
            show.epoch(history, n_epochs)
            if stopped == "steps" and batch_in_epoch != per_epoch:
                saver.save(epoch, batch_in_epoch, history, state)  # a later call continues here
            else:
                saver.save(epoch + 1, 0, history, state)
            if stopped:
                break
        early.restore_best(model, history)  # with patience: end with the best epoch's weights
        show.close()
        del net  # under torchrun: let DDP go while the process group it uses still exists
        return history


def _quiet(quiet: bool | None, session: course.Session | None) -> bool:
    """Quiet when asked; by default in smoke runs (tests) and outside notebooks (scripts)."""
    if quiet is not None:
        return quiet
    return session.quiet if session else course.smoke_mode() or not in_notebook()


def _length(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None
