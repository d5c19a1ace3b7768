"""What a run records: the ``History``, the step log that fills it, and early stopping.

``loss.item()`` makes the CPU wait until the GPU has finished everything queued so far. Once
per step, that stalls the GPU between steps. So ``StepLog`` keeps each step's loss and
gradient norm on the device and reads them back together every ``log_every`` steps, and
checks them there for NaN/inf.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnlib.train import distributed


class TrainingDiverged(FloatingPointError):
    """The loss or the gradients became NaN or infinite; the message says what to try."""


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

    def end_epoch(self, seconds: float, validation: Mapping[str, float] | None) -> None:
        """Record an epoch (or the part of one a step budget allowed)."""
        first = self.epoch_steps[-1] if self.epoch_steps else 0
        self.train_loss.append(float(np.mean(self.loss[first:])))
        self.epoch_steps.append(len(self.loss))
        if validation is not None:
            validation = dict(validation)
            self.val_loss.append(validation.pop("loss"))
            for name, value in validation.items():
                self.val_metrics.setdefault(name, []).append(value)
        self.epoch_time.append(seconds)

    def epoch_line(self, n_epochs: int) -> str:
        """One line for the epoch just recorded."""
        of = f"/{n_epochs}" if n_epochs != sys.maxsize else ""
        parts = [f"epoch {len(self.train_loss)}{of}", f"train loss {self.train_loss[-1]:.4f}"]
        if self.val_loss:
            parts.append(f"val loss {self.val_loss[-1]:.4f}")
        parts += [f"{name} {values[-1]:.4f}" for name, values in self.val_metrics.items()]
        parts.append(f"{self.epoch_time[-1]:.3g} s")
        if self.stopped == "early stopping":
            parts.append(f"early stop: best epoch {self.best_epoch} restored")
        return " | ".join(parts)

    def __repr__(self) -> str:
        last = f", val_loss={self.val_loss[-1]:.4g}" if self.val_loss else ""
        train = f", train_loss={self.train_loss[-1]:.4g}" if self.train_loss else ""
        return (f"History(epochs={len(self.train_loss)}, steps={len(self.loss)}{train}{last}, "
                f"stopped={self.stopped!r})")


class StepLog:
    """Each step's loss and gradient norm, kept on the device until ``read_back``."""

    def __init__(self, history: History, world: int, advice: Mapping[str, Any]):
        self.history, self.world, self.advice = history, world, advice
        self.losses: list[torch.Tensor] = []
        self.norms: list[torch.Tensor] = []

    def add(self, loss: torch.Tensor, norm: torch.Tensor) -> None:
        self.losses.append(loss.detach())
        self.norms.append(norm)

    def read_back(self) -> float | None:
        """The one wait for the device: pending losses and norms to Python. Returns the last
        loss (None if nothing was pending); raises ``TrainingDiverged`` at a NaN/inf."""
        if not self.losses:
            return None
        values = torch.stack([torch.stack(self.losses).float(), torch.stack(self.norms).float()])
        self.losses.clear()
        self.norms.clear()
        # every process reads the same means, so all of them stop at the same step
        losses, norms = distributed.mean_across(values, self.world).tolist()
        self.history.loss += losses
        self.history.grad_norm += norms
        stop_if_diverged(self.history, len(losses), **self.advice)
        return losses[-1]


def stop_if_diverged(history: History, new: int, scaled: bool, optimizer: Any,
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


class EarlyStopping:
    """With ``patience``: remember the best epoch's weights; stop after ``patience`` epochs
    without a lower validation loss. Without: never stop, remember nothing."""

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best = {"val_loss": math.inf, "epoch": None, "bad_epochs": 0, "model": None}

    def update(self, history: History, model: nn.Module) -> bool:
        """Look at the epoch just recorded; True when it is time to stop."""
        if self.patience is None:
            return False
        if history.val_loss[-1] < self.best["val_loss"]:
            self.best = {"val_loss": history.val_loss[-1], "epoch": len(history.val_loss),
                         "bad_epochs": 0, "model": {name: value.detach().clone()
                                                    for name, value in model.state_dict().items()}}
        else:
            self.best["bad_epochs"] += 1
        history.best_epoch = self.best["epoch"]
        return self.best["bad_epochs"] >= self.patience

    def restore_best(self, model: nn.Module, history: History) -> None:
        """End with the best epoch's weights, however training ended."""
        if self.best["model"] is not None and self.best["epoch"] != len(history.val_loss):
            model.load_state_dict(self.best["model"])
